// nbml sweep widget: the live trials table, the objective by trial (with the best so far) and
// against each hyperparameter (uPlot), a trial's curves on click, and Stop. The kernel syncs the
// trials as one list (at most once per update interval); a click sends {type: "select", trial},
// Stop {type: "stop"}. A NaN or infinite value arrives as null and shows as "nan"; an error while
// drawing shows as text in the widget instead of blanking it.
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import "./shared.css";
import "./sweep.css";

import { formatNumber } from "../src/format";
import { RawPoint, chartOptions, plot, setNote } from "./charts";
import { Model, el, guarded, safeRender } from "./shared";
import { STATE_COLORS, Scatter, TrialRow, byParam, byTrial } from "./sweep_charts";

interface View {
  box: HTMLElement;
  status: HTMLElement;
  summary: HTMLElement;
  message: HTMLElement;
  notice: HTMLElement;
  stop: HTMLButtonElement;
  charts: HTMLElement;
  table: HTMLElement;
  curves: HTMLElement;
}

function buildView(name: string): View {
  const box = el("div", "nbml-sweep nbml-widget");
  box.dataset.testid = "nbml-sweep";
  const head = el("div", "nbml-sweep-head nbml-widget-head");
  const status = el("span", "nbml-sweep-status");
  const summary = el("span", "nbml-sweep-summary");
  const stop = el("button", "nbml-button", "Stop");
  stop.dataset.testid = "nbml-sweep-stop";
  stop.title = "End the sweep after the running trial (finished trials are kept)";
  head.append(el("b", "", `sweep ${name}`), status, summary, stop);
  const message = el("div", "nbml-sweep-message");
  const notice = el("div", "nbml-sweep-message nbml-sweep-notice");
  notice.dataset.testid = "nbml-sweep-notice";
  const charts = el("div", "nbml-sweep-charts");
  charts.dataset.testid = "nbml-sweep-charts";
  const table = el("div", "nbml-sweep-table");
  const curves = el("div", "nbml-sweep-curves");
  curves.dataset.testid = "nbml-sweep-curves";
  box.append(head, message, notice, charts, table, curves);
  return { box, status, summary, message, notice, stop, charts, table, curves };
}

function cellText(v: unknown): string {
  if (v === null || v === undefined) return "";
  return typeof v === "number" ? formatNumber(v) : String(v);
}

/** The trials table; clicking a row calls ``select(number)``. */
function trialsTable(
  trials: TrialRow[],
  params: string[],
  objective: string,
  selected: number | null,
  select: (n: number) => void,
): HTMLTableElement {
  const table = el("table");
  const head = el("tr");
  const workers = trials.some((t) => t.worker);
  const headers = [
    "trial",
    "state",
    ...params,
    objective,
    "epochs",
    ...(workers ? ["worker"] : []),
  ];
  for (const h of headers) head.append(el("th", "", h));
  table.append(head);
  for (const t of trials) {
    const tr = el("tr", t.number === selected ? "nbml-selected" : "");
    tr.dataset.trial = String(t.number);
    tr.dataset.state = t.state;
    tr.dataset.epochs = String((t.values ?? []).length);
    tr.title = "Click to see this trial's curves";
    const state = el("td", "nbml-sweep-state", t.reason ? `${t.state} (${t.reason})` : t.state);
    state.style.color = STATE_COLORS[t.state] ?? "";
    const value = t.value === null && t.state === "failed" ? "" : cellText(t.value ?? null);
    tr.append(el("td", "", String(t.number)), state);
    for (const p of params) tr.append(el("td", "", cellText(t.params?.[p])));
    tr.append(el("td", "", value), el("td", "", String((t.values ?? []).length)));
    if (workers) {
      const w = el("td", "nbml-sweep-worker", (t.worker ?? "").replace(/^[a-z]+:\/\//, ""));
      tr.dataset.worker = t.worker ?? "";
      tr.append(w);
    }
    tr.addEventListener("click", () => select(t.number));
    table.append(tr);
  }
  return table;
}

const CURVE_COLORS = { train: "#1f77b4", val: "#ff7f0e" };

/** The clicked trial's curves: one chart per metric, training and validation lines. */
function drawCurves(box: HTMLElement, curves: unknown, width: number): uPlot[] {
  const c = (curves ?? {}) as { trial?: number; history?: Record<string, RawPoint[]> };
  box.replaceChildren();
  const history = c.history ?? {};
  const keys = Object.keys(history).sort((a, b) => Number(b === "loss") - Number(a === "loss"));
  const bases = keys.filter((k) => !k.startsWith("val_"));
  const metrics = bases.length ? bases : keys;
  box.dataset.trial = c.trial === undefined ? "" : String(c.trial);
  box.dataset.curves = String(metrics.length);
  if (c.trial === undefined) return [];
  box.append(el("div", "nbml-sweep-caption", `trial ${c.trial}`));
  const out: uPlot[] = [];
  for (const m of metrics) {
    const lines = [m, `val_${m}`]
      .filter((k) => k in history)
      .map((k) => ({
        points: history[k],
        series: {
          label: k,
          stroke: k.startsWith("val_") ? CURVE_COLORS.val : CURVE_COLORS.train,
          width: 2,
          spanGaps: true,
        },
      }));
    const p = plot(lines);
    if (p.series.length < 2) continue;
    const holder = el("div", "nbml-sweep-curve");
    box.append(holder);
    out.push(new uPlot(chartOptions(m, width, 200, p, true), p.data, holder));
    setNote(holder, p);
  }
  return out;
}

const TRAITS = ["trials", "params", "status", "summary", "message", "notice", "curves"];

function render({ model, el: root }: { model: Model; el: HTMLElement }): () => void {
  const v = buildView(String(model.get("name") ?? ""));
  root.append(v.box);
  let scatters: Scatter[] = [];
  let curveCharts: uPlot[] = [];
  let selected: number | null = null;
  const width = (): number => Math.max(280, Math.min((v.box.clientWidth || 900) / 2 - 12, 420));
  const select = (n: number): void => {
    selected = n;
    model.send({ type: "select", trial: n });
    schedule();
  };
  const draw = guarded(root, "draw the sweep", () => {
    const trials = (model.get("trials") ?? []) as TrialRow[];
    const params = (model.get("params") ?? []) as string[];
    const objective = String(model.get("objective") ?? "objective");
    const status = String(model.get("status") ?? "");
    v.status.textContent = status;
    v.status.dataset.status = status;
    v.box.dataset.status = status;
    v.box.dataset.trials = String(trials.length);
    v.summary.textContent = String(model.get("summary") ?? "");
    v.message.textContent = String(model.get("message") ?? "");
    v.notice.textContent = String(model.get("notice") ?? "");
    v.notice.hidden = !v.notice.textContent;
    v.stop.hidden = status !== "running";
    v.table.replaceChildren(trialsTable(trials, params, objective, selected, select));
    for (const s of scatters) s.chart.destroy();
    v.charts.replaceChildren();
    const minimize = model.get("direction") !== "maximize";
    const made = [byTrial(v.charts, trials, objective, minimize, width())];
    for (const p of params) made.push(byParam(v.charts, trials, p, objective, width()));
    scatters = made.filter((s): s is Scatter => s !== null);
    v.box.dataset.points = String(scatters.length ? scatters[0].points : 0);
    v.box.dataset.charts = String(scatters.length);
  });
  const curves = guarded(root, "draw the trial's curves", () => {
    for (const c of curveCharts) c.destroy();
    curveCharts = drawCurves(v.curves, model.get("curves"), width());
  });
  let pending = 0;
  let lastCurves: unknown = null;
  function schedule(): void {
    if (pending) return;
    pending = requestAnimationFrame(() => {
      pending = 0;
      draw();
      const c = model.get("curves");
      if (c !== lastCurves) {
        lastCurves = c;
        curves();
      }
    });
  }
  v.stop.addEventListener("click", () => {
    model.send({ type: "stop" });
    v.stop.disabled = true;
  });
  for (const t of TRAITS) model.on(`change:${t}`, schedule);
  schedule();
  return () => {
    for (const t of TRAITS) model.off(`change:${t}`, schedule);
    if (pending) cancelAnimationFrame(pending);
    for (const s of scatters) s.chart.destroy();
    for (const c of curveCharts) c.destroy();
  };
}

export default { render: safeRender("sweep", render) };
