// nbml learning-rate finder: the smoothed loss against the learning rate (uPlot, log x axis)
// with the suggestions marked. Clicking a marker (or its chip under the chart) or any point of
// the curve fills the rate of the Train button, which asks the kernel to train the model in the
// background at that rate; the kernel validates the request and reports the run's progress in
// traits (`status`, `progress`) or why it refused (`notice`).
import "uplot/dist/uPlot.min.css";
import "./shared.css";
import "./lr_find.css";

import uPlot from "uplot";

import { axisLabel } from "./charts";
import { Model, el, guarded, safeRender } from "./shared";

export interface Marker {
  name: string;
  /** The suggested rate. */
  value: number;
  /** Where the marker sits on the curve. */
  x: number;
  y: number | null;
  color: string;
}

/** A rate as people write it: 3 significant digits, exponent for small ones (2.78e-3). */
export function rateLabel(v: number): string {
  if (!Number.isFinite(v)) return "";
  return v < 1e-3 || v >= 1e4
    ? v.toExponential(2).replace(/\.?0+e/, "e")
    : String(Number(v.toPrecision(3)));
}

/** The powers of ten from ``min`` to ``max``: the rate axis's ticks and grid lines. */
export function decades(min: number, max: number): number[] {
  if (!(min > 0) || !(max > min)) return [];
  const out: number[] = [];
  for (let d = Math.ceil(Math.log10(min) - 1e-9); d <= Math.floor(Math.log10(max) + 1e-9); d++) {
    out.push(10 ** d);
  }
  return out;
}

/** ``v`` if it is a finite number, else null (NaN and infinities arrive as null). */
function num(v: unknown): number | null {
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

/** The markers the kernel sent, those that can be drawn. */
export function markersOf(raw: unknown): Marker[] {
  const list = Array.isArray(raw) ? raw : [];
  const out: Marker[] = [];
  for (const m of list) {
    const value = num(m?.value);
    const x = num(m?.x);
    if (value === null || x === null || x <= 0 || typeof m.name !== "string") continue;
    out.push({ name: m.name, value, x, y: num(m.y), color: String(m.color ?? "#000") });
  }
  return out;
}

/** The curve as uPlot data: rates (positive, finite) and losses (null where not finite). */
export function curveOf(lrs: unknown, losses: unknown): [number[], (number | null)[]] {
  const xs: number[] = [];
  const ys: (number | null)[] = [];
  const a = Array.isArray(lrs) ? lrs : [];
  const b = Array.isArray(losses) ? losses : [];
  for (let i = 0; i < a.length; i++) {
    const x = num(a[i]);
    if (x === null || x <= 0) continue;
    xs.push(x);
    ys.push(num(b[i]));
  }
  return [xs, ys];
}

interface View {
  box: HTMLElement;
  info: HTMLElement;
  chartBox: HTMLElement;
  chips: HTMLElement;
  message: HTMLElement;
  train: HTMLButtonElement;
  epochs: HTMLInputElement;
  status: HTMLElement;
  notice: HTMLElement;
}

function buildView(name: string): View {
  const box = el("div", "nbml-lrf nbml-widget");
  box.dataset.testid = "nbml-lr-find";
  const head = el("div", "nbml-lrf-head nbml-widget-head");
  const info = el("span", "nbml-lrf-info");
  head.append(el("b", "", name), el("span", "", "learning-rate finder"), info);
  const chartBox = el("div", "nbml-lrf-chart");
  chartBox.dataset.testid = "nbml-lr-chart";
  const chips = el("div", "nbml-lrf-chips");
  const message = el("div", "nbml-lrf-message");
  const actions = el("div", "nbml-lrf-actions");
  const train = el("button", "nbml-button nbml-primary", "Train");
  train.dataset.testid = "nbml-lr-train";
  const epochs = el("input");
  epochs.type = "number";
  epochs.min = "1";
  epochs.dataset.testid = "nbml-lr-epochs";
  const label = el("label", "", "epochs ");
  label.append(epochs);
  actions.append(train, label);
  const status = el("div", "nbml-lrf-status");
  status.dataset.testid = "nbml-lr-status";
  const notice = el("div", "nbml-lrf-message");
  notice.dataset.testid = "nbml-notice";
  box.append(head, chartBox, chips, message, actions, status, notice);
  return { box, info, chartBox, chips, message, train, epochs, status, notice };
}

/** The rate chosen for Train, and where it came from (a marker's name, or "point"). */
interface Choice {
  lr: number | null;
  from: string;
}

function chartOptions(
  width: number,
  yRange: unknown,
  markers: Marker[],
  choice: Choice,
  choose: (lr: number, from: string) => void,
): uPlot.Options {
  const range = Array.isArray(yRange) && yRange.length === 2 ? yRange.map(num) : [null, null];
  const fixed = range[0] !== null && range[1] !== null;
  return {
    width,
    height: 280,
    series: [
      { value: (_u, v) => (v == null ? "–" : rateLabel(v)), label: "lr" },
      {
        label: "loss (smoothed)",
        stroke: "#1f77b4",
        width: 2,
        spanGaps: false,
        points: { show: false },
      },
    ],
    scales: {
      x: { time: false, distr: 3, log: 10 },
      y: fixed ? { range: () => [range[0] as number, range[1] as number] } : {},
    },
    axes: [
      {
        label: "learning rate (log scale)",
        splits: (_u, _i, min, max) => decades(min, max),
        values: (_u, s) => s.map((v) => axisLabel(v)),
      },
      { label: "loss (smoothed)", size: 60, values: (_u, s) => s.map((v) => axisLabel(v)) },
    ],
    legend: { live: true },
    hooks: {
      draw: [(u) => placeMarkers(u, markers, choice, choose)],
      init: [
        (u) => {
          u.over.addEventListener("click", () => {
            const i = u.cursor.idx;
            const x = i == null ? null : num(u.data[0][i]);
            if (x !== null) choose(x, "point");
          });
        },
      ],
    },
  };
}

/** The markers as DOM dots over the plot (clickable), and a line at the chosen rate. */
function placeMarkers(
  u: uPlot,
  markers: Marker[],
  choice: Choice,
  choose: (lr: number, from: string) => void,
): void {
  let layer = u.over.querySelector<HTMLElement>(".nbml-lrf-markers");
  if (!layer) {
    layer = el("div", "nbml-lrf-markers");
    u.over.append(layer);
  }
  layer.replaceChildren();
  const [lo, hi] = [u.scales.y.min ?? 0, u.scales.y.max ?? 1];
  for (const m of markers) {
    if (m.y === null) continue;
    const dot = el("div", "nbml-lrf-marker");
    dot.dataset.testid = `nbml-lr-marker-${m.name}`;
    dot.dataset.name = m.name;
    dot.dataset.value = String(m.value);
    dot.title = `${m.name}: ${rateLabel(m.value)}`;
    dot.style.left = `${u.valToPos(m.x, "x")}px`;
    dot.style.top = `${u.valToPos(Math.min(Math.max(m.y, lo), hi), "y")}px`;
    dot.style.background = m.color;
    dot.classList.toggle("nbml-lrf-chosen", choice.from === m.name);
    dot.addEventListener("click", (ev) => {
      ev.stopPropagation();
      choose(m.value, m.name);
    });
    layer.append(dot);
  }
  if (choice.lr !== null && choice.lr > 0) {
    const line = el("div", "nbml-lrf-line");
    line.style.left = `${u.valToPos(choice.lr, "x")}px`;
    layer.append(line);
  }
}

function render({ model, el: root }: { model: Model; el: HTMLElement }): () => void {
  const name = String(model.get("name") ?? "");
  const v = buildView(name);
  root.append(v.box);
  const markers = markersOf(model.get("markers"));
  const suggestion = num(model.get("suggestion"));
  const choice: Choice = {
    lr: suggestion,
    from: suggestion === null ? "" : (markers[0]?.name ?? ""),
  };
  if (suggestion !== null) {
    const at = markers.find((m) => m.value === suggestion);
    choice.from = at ? at.name : "suggestion";
  }
  v.epochs.value = String(num(model.get("epochs")) ?? 10);
  let chart: uPlot | null = null;
  let waiting = false;

  const head = guarded(root, "draw the finder's header", () => {
    const lrs = Array.isArray(model.get("lrs")) ? (model.get("lrs") as unknown[]) : [];
    const parts = [`${lrs.length} batches`, `batch ${model.get("batch_size")}`];
    const opt = String(model.get("optimizer") ?? "");
    if (opt) parts.push(opt);
    v.info.textContent = parts.join(" · ");
    v.message.textContent = String(model.get("message") ?? "");
    const status = String(model.get("status") ?? "");
    const running = status === "running";
    v.box.dataset.status = status;
    v.status.dataset.status = status;
    v.status.textContent = String(model.get("progress") ?? "");
    v.notice.textContent = String(model.get("notice") ?? "");
    v.notice.hidden = !v.notice.textContent;
    v.train.dataset.lr = choice.lr === null ? "" : String(choice.lr);
    v.train.dataset.from = choice.from;
    v.train.textContent =
      choice.lr === null
        ? "Train (choose a rate on the chart)"
        : `Train ${name} at lr ${rateLabel(choice.lr)}`;
    v.train.disabled = choice.lr === null || running || waiting;
    for (const chip of v.chips.querySelectorAll<HTMLElement>("button")) {
      chip.classList.toggle("nbml-lrf-chosen", chip.dataset.name === choice.from);
    }
  });

  const choose = (lr: number, from: string): void => {
    choice.lr = lr;
    choice.from = from;
    chart?.redraw(false, false);
    head();
  };

  const draw = guarded(root, "draw the finder's chart", () => {
    const [xs, ys] = curveOf(model.get("lrs"), model.get("losses"));
    v.box.dataset.points = String(ys.filter((y) => y !== null).length);
    v.box.dataset.markers = String(markers.length);
    chart?.destroy();
    chart = null;
    v.chartBox.replaceChildren();
    if (!xs.length) {
      v.chartBox.append(el("div", "nbml-lrf-message", "No loss to draw: no batch ran."));
      return;
    }
    const width = Math.min(Math.max(320, (v.box.clientWidth || 640) - 8), 760);
    const opts = chartOptions(width, model.get("y_range"), markers, choice, choose);
    chart = new uPlot(opts, [xs, ys] as uPlot.AlignedData, v.chartBox);
  });

  v.chips.replaceChildren(
    ...markers.map((m) => {
      const chip = el("button", "nbml-button nbml-lrf-chip", `${m.name} ${rateLabel(m.value)}`);
      chip.dataset.testid = `nbml-lr-suggestion-${m.name}`;
      chip.dataset.name = m.name;
      chip.style.borderColor = m.color;
      chip.addEventListener("click", () => choose(m.value, m.name));
      return chip;
    }),
  );
  v.train.addEventListener("click", () => {
    if (choice.lr === null) return;
    waiting = true;
    model.send({ type: "train", lr: choice.lr, epochs: Number(v.epochs.value) });
    head();
  });
  const changed = (): void => {
    waiting = false;
    head();
  };
  const traits = ["status", "progress", "notice", "message"];
  for (const t of traits) model.on(`change:${t}`, changed);
  draw();
  head();
  return () => {
    for (const t of traits) model.off(`change:${t}`, changed);
    chart?.destroy();
  };
}

export default { render: safeRender("learning-rate finder", render) };
