// nbml training monitor: live loss/metric curves (uPlot), progress, Stop and Retrain.
// The kernel sends only new points ("tick" messages); a view asks for the whole bounded
// history once ("sync") when it is created. A NaN or infinite value arrives as null: the charts
// leave it out and say so (./charts); a request the kernel refuses shows in `notice`; an error
// while drawing or applying a message shows as text in the widget instead of blanking it.
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import "./monitor.css";

import { Line, chartOptions, plot, setNote } from "./charts";
import {
  Curves,
  MAX_POINTS,
  Model,
  Point,
  addPoints,
  el,
  finite,
  formatNumber,
  formatSeconds,
  guarded,
  safeRender,
} from "./shared";

interface Header {
  run?: string;
  status?: string;
  epoch?: number;
  epochs?: number;
  progress?: number | null;
  samples_per_s?: number | null;
  eta?: number | null;
  message?: string;
}

interface RunState {
  id: string;
  label: string;
  curves: Curves;
}

interface Msg {
  type: string;
  header?: Header;
  run?: string;
  label?: string;
  batch?: Record<string, Point[]>;
  epoch?: Record<string, Point[]>;
  runs?: RunState[];
  message?: string;
}

const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"];
const OPTIMIZERS = ["adam", "adamw", "sgd", "rmsprop", "nadam", "adagrad", "adamax", "lion"];

function fade(color: string, alpha: number): string {
  const n = parseInt(color.slice(1), 16);
  return `rgba(${(n >> 16) & 255},${(n >> 8) & 255},${n & 255},${alpha})`;
}

/** The chart groups: one per base metric (loss first), each with its val_ twin. */
function groups(metrics: string[]): string[] {
  const base = metrics.filter((m) => !m.startsWith("val_"));
  return base.length ? base : ["loss"];
}

function render({ model, el: root }: { model: Model; el: HTMLElement }): () => void {
  const runs: RunState[] = [];
  let header: Header = {};
  const charts = new Map<string, uPlot>();

  const box = el("div", "nbml-monitor");
  box.dataset.testid = "nbml-monitor";
  const head = el("div", "nbml-head");
  const title = el("b", "", String(model.get("name") ?? ""));
  const status = el("span", "nbml-status");
  const info = el("span", "nbml-info");
  head.append(title, status, info);
  const bar = el("div", "nbml-bar");
  const fill = el("div", "nbml-fill");
  bar.append(fill);
  const message = el("div", "nbml-message");
  const notice = el("div", "nbml-message nbml-notice");
  notice.dataset.testid = "nbml-notice";

  const actions = el("div", "nbml-actions");
  const stop = el("button", "nbml-button", "Stop");
  stop.dataset.testid = "nbml-stop";
  const hint = el("span", "nbml-hint", "Foreground training: interrupt the kernel (■) to stop.");
  const summaryToggle = el("button", "nbml-button", "Model summary");
  actions.append(stop, hint, summaryToggle);

  const retrain = el("details", "nbml-retrain");
  const retrainSummary = el("summary", "", "Retrain");
  const form = el("div", "nbml-form");
  const field = (label: string, input: HTMLElement): HTMLElement => {
    const wrap = el("label", "", label);
    wrap.append(input);
    return wrap;
  };
  const epochsIn = el("input");
  epochsIn.type = "number";
  epochsIn.min = "1";
  const lrIn = el("input");
  lrIn.type = "text";
  lrIn.dataset.testid = "nbml-retrain-lr";
  const batchIn = el("input");
  batchIn.type = "number";
  batchIn.min = "1";
  const optIn = el("select");
  for (const name of OPTIMIZERS) optIn.append(new Option(name, name));
  const go = el("button", "nbml-button nbml-primary", "Retrain");
  go.dataset.testid = "nbml-retrain";
  form.append(
    field("epochs", epochsIn),
    field("learning rate", lrIn),
    field("batch size", batchIn),
    field("optimizer", optIn),
    go,
  );
  retrain.append(retrainSummary, form);

  const summary = el("pre", "nbml-summary");
  summary.hidden = true;
  const chartBox = el("div", "nbml-charts");
  box.append(head, bar, message, notice, actions, retrain, summary, chartBox);
  root.append(box);

  const setDefaults = guarded(root, "show the Retrain defaults", (): void => {
    const d = (model.get("defaults") ?? {}) as Record<string, unknown>;
    epochsIn.value = String(d.epochs ?? 5);
    lrIn.value = d.lr == null ? "" : String(d.lr);
    batchIn.value = String(d.batch_size ?? 32);
    optIn.value = String(d.optimizer ?? "adam");
  });
  setDefaults();

  const drawHeader = (): void => {
    const st = header.status ?? String(model.get("status") ?? "");
    const epochs = header.epochs ?? Number(model.get("epochs") ?? 0);
    const epoch = header.epoch ?? 0;
    status.textContent = st;
    status.dataset.status = st;
    box.dataset.status = st;
    const parts = [`epoch ${Math.min(epoch + (st === "running" ? 1 : 0), epochs)}/${epochs}`];
    if (st === "running" && header.samples_per_s)
      parts.push(`${formatNumber(header.samples_per_s)} samples/s`);
    if (st === "running" && header.eta != null && header.eta >= 0)
      parts.push(`ETA ${formatSeconds(header.eta)}`);
    info.textContent = parts.join(" · ");
    fill.style.width = `${Math.round(Math.min(Math.max(finite(header.progress) ?? 0, 0), 1) * 1000) / 10}%`;
    message.textContent = header.message ?? "";
    notice.textContent = String(model.get("notice") ?? "");
    notice.hidden = !notice.textContent;
    const running = st === "running";
    const foreground = Boolean(model.get("foreground"));
    stop.hidden = !running || foreground;
    hint.hidden = !running || !foreground;
    go.disabled = running;
    summary.textContent = String(model.get("summary") ?? "");
  };

  const chartScale = new Map<string, boolean>(); // metric -> drawn on a log scale

  /** The lines of one chart: each run's batch and epoch curves of ``metric`` and its val_ twin. */
  const linesOf = (metric: string): Line[] => {
    const lines: Line[] = [];
    runs.forEach((run, i) => {
      const alpha = i === runs.length - 1 ? 1 : 0.25;
      const variants: [string, "batch" | "epoch", number][] = [
        [metric, "batch", 0],
        [metric, "epoch", 0],
        [`val_${metric}`, "epoch", 1],
      ];
      for (const [name, kind, v] of variants) {
        const curve = run.curves[name]?.[kind] ?? [];
        if (!curve.length) continue;
        const color = fade(COLORS[v], kind === "batch" ? alpha * 0.45 : alpha);
        lines.push({
          points: curve,
          series: {
            label: `${name}${kind === "batch" ? " (batch)" : ""}${runs.length > 1 ? ` · ${run.label}` : ""}`,
            stroke: color,
            width: kind === "batch" ? 1 : 2,
            dash: v === 1 ? [5, 4] : undefined,
            spanGaps: true,
            // a lone point has no line to show it
            points: { show: kind === "epoch" || curve.length === 1, size: 5, fill: color },
          },
        });
      }
    });
    return lines;
  };

  const drawChart = (metric: string, width: number): number => {
    const lines = linesOf(metric);
    const p = plot(lines);
    let chart = charts.get(metric);
    if (chart && (chart.series.length !== p.series.length || chartScale.get(metric) !== p.log)) {
      chart.root.parentElement?.remove();
      chart.destroy();
      charts.delete(metric);
      chart = undefined;
    }
    if (!chart) {
      const holder = el("div", "nbml-chart");
      holder.dataset.testid = "nbml-chart";
      holder.dataset.metric = metric;
      chartBox.append(holder);
      chart = new uPlot(chartOptions(metric, width, 220, p), p.data, holder);
      charts.set(metric, chart);
      chartScale.set(metric, p.log);
    } else {
      chart.setData(p.data);
    }
    if (chart.root.parentElement) setNote(chart.root.parentElement, p);
    return lines.reduce((n, l) => n + l.points.length, 0);
  };

  const drawCharts = (): void => {
    const names = groups((model.get("metrics") ?? []) as string[]);
    for (const [key, chart] of charts) {
      if (!names.includes(key)) {
        chart.root.parentElement?.remove();
        chart.destroy();
        charts.delete(key);
      }
    }
    const width = Math.max(
      240,
      Math.floor((chartBox.clientWidth || 640) / Math.min(names.length, 2)) - 12,
    );
    let points = 0;
    for (const metric of names) points += drawChart(metric, width);
    box.dataset.points = String(points);
    box.dataset.runs = String(runs.length);
  };

  const drawHeaderSafe = guarded(root, "draw the monitor's header", drawHeader);
  const drawChartsSafe = guarded(root, "draw the monitor's charts", drawCharts);
  let pending = 0;
  const schedule = (): void => {
    if (pending) return;
    pending = requestAnimationFrame(() => {
      pending = 0;
      drawHeaderSafe();
      drawChartsSafe();
    });
  };

  const runFor = (id: string, label: string): RunState => {
    let run = runs.find((r) => r.id === id);
    if (!run) {
      run = { id, label, curves: {} };
      runs.push(run);
    }
    return run;
  };

  // The state at the end of the latest run, synced as a trait: a view created then (the output is
  // re-rendered at the end of every run) draws it at once, before its sync request is answered.
  // A copy, since ticks extend the curves in place.
  const restore = guarded(root, "restore the monitor's curves", (): void => {
    const saved = model.get("history") as { header?: Header; runs?: RunState[] } | null;
    if (!saved?.runs?.length) return;
    runs.length = 0;
    for (const r of saved.runs)
      runs.push({ id: r.id, label: r.label, curves: structuredClone(r.curves) });
    header = { ...(saved.header ?? {}) };
  });
  restore();

  const onMessage = guarded(root, "apply a message from the kernel", (...args: unknown[]): void => {
    const msg = args[0] as Msg;
    if (msg.type === "snapshot") {
      runs.length = 0;
      for (const r of msg.runs ?? []) runs.push({ id: r.id, label: r.label, curves: r.curves });
      header = msg.header ?? {};
    } else if (msg.type === "tick") {
      if (msg.header) header = { ...header, ...msg.header };
      if (msg.run) {
        const run = runFor(msg.run, msg.label ?? msg.run);
        for (const kind of ["batch", "epoch"] as const) {
          for (const [name, pts] of Object.entries(msg[kind] ?? {})) {
            run.curves[name] ??= { batch: [], epoch: [] };
            addPoints(run.curves[name][kind], pts, MAX_POINTS);
          }
        }
      }
    } else if (msg.type === "error") {
      header = { ...header, message: msg.message ?? "" };
    }
    schedule();
  });

  stop.addEventListener("click", () => model.send({ type: "stop" }));
  summaryToggle.addEventListener("click", () => {
    summary.hidden = !summary.hidden;
  });
  go.addEventListener("click", () => {
    // what was typed, as a number when it is one: the kernel checks it and says what is wrong
    const value = (input: HTMLInputElement): number | string | null => {
      const text = input.value.trim();
      const n = Number(text);
      return text === "" ? null : Number.isFinite(n) ? n : text;
    };
    model.send({
      type: "retrain",
      epochs: value(epochsIn),
      lr: value(lrIn),
      batch_size: value(batchIn),
      optimizer: optIn.value,
    });
    go.disabled = true;
  });
  const onChange = (): void => schedule();
  model.on("msg:custom", onMessage);
  model.on("change:status", onChange);
  model.on("change:metrics", onChange);
  model.on("change:summary", onChange);
  model.on("change:foreground", onChange);
  model.on("change:notice", onChange);
  model.on("change:defaults", setDefaults);
  model.send({ type: "sync" });
  schedule();

  return () => {
    model.off("msg:custom", onMessage);
    model.off("change:status", onChange);
    model.off("change:metrics", onChange);
    model.off("change:summary", onChange);
    model.off("change:foreground", onChange);
    model.off("change:notice", onChange);
    model.off("change:defaults", setDefaults);
    if (pending) cancelAnimationFrame(pending);
    charts.forEach((c) => c.destroy());
  };
}

export default { render: safeRender("training monitor", render) };
