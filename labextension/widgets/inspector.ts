// nbml model inspector: the layer table with a sparkline per layer (weight norm; gradient norm
// on a log scale; dead fraction) and the flagged layers marked with their reason. The kernel
// syncs the whole state as a trait (at the widget's creation and at the run's end) and sends new
// records as "tick" messages while the model trains; a view asks for a "snapshot" once
// ("sync") when it is created. A NaN or infinite statistic arrives as null: the sparkline leaves
// a gap with a red dot and the number shows as "nan"; a statistic that does not apply to a layer
// (no weights, no known activations) arrives as "n/a" and leaves the cell empty. An error while
// drawing shows as text in the widget instead of blanking it.
import "./shared.css";
import "./inspector.css";

import { finite, formatNumber } from "../src/format";
import { Model, el, guarded, safeRender } from "./shared";

/** A statistic: a number, null (NaN or infinite in the kernel) or "n/a" (does not apply). */
export type Stat = number | null | string;

/** One record: its epoch and, per layer (in the table's order), the statistics of ``columns``. */
export type Rec = [number, Stat[][]];

export interface LayerRow {
  layer: string;
  class: string;
  output_shape: string;
  trainable: number;
  non_trainable: number;
  activation: string | null;
}

export interface FlagRow {
  layer: string;
  kind: string;
  epoch: number;
  reason: string;
}

export interface State {
  run: string;
  status: string;
  epochs: number | null;
  layers: LayerRow[];
  records: Rec[];
  flags: FlagRow[];
  notes: Record<string, string>;
}

/** The sparklines: statistic, title, log scale, fixed range. */
export const SPARKS: { key: string; title: string; log: boolean; range?: [number, number] }[] = [
  { key: "weight_norm", title: "weight norm", log: false },
  { key: "grad_norm", title: "gradient norm (log)", log: true },
  { key: "dead_fraction", title: "dead fraction", log: false, range: [0, 1] }, // a share
];

export const WIDTH = 90;
export const HEIGHT = 22;

/** Every other record, the latest kept (as the kernel halves them). */
export function halve<T>(records: T[]): T[] {
  return records.filter((_, i) => (records.length - 1 - i) % 2 === 0);
}

/** A state from whatever the kernel sent (missing parts empty). */
export function stateOf(raw: unknown): State {
  const s = (raw ?? {}) as Partial<State>;
  return {
    run: String(s.run ?? ""),
    status: String(s.status ?? ""),
    epochs: finite(s.epochs),
    layers: Array.isArray(s.layers) ? s.layers : [],
    records: Array.isArray(s.records) ? s.records : [],
    flags: Array.isArray(s.flags) ? s.flags : [],
    notes: s.notes && typeof s.notes === "object" ? s.notes : {},
  };
}

interface Msg {
  type: string;
  run?: string;
  status?: string;
  records?: Rec[];
  flags?: FlagRow[];
}

/** Apply one message from the kernel to ``state``: a snapshot replaces it, a tick adds the
 * records after the latest one held (a tick of another run starts afresh). */
export function apply(state: State, msg: Msg, maxRecords: number): State {
  if (msg.type === "snapshot") return stateOf(msg);
  if (msg.type !== "tick") return state;
  if (msg.run !== undefined && msg.run !== state.run) {
    state = { ...state, run: msg.run, records: [] };
  }
  let records = [...state.records];
  for (const r of msg.records ?? []) {
    const last = records.length ? records[records.length - 1][0] : -Infinity;
    if (Array.isArray(r) && r[0] > last) records.push(r);
  }
  while (records.length > maxRecords && maxRecords > 1) records = halve(records);
  return {
    ...state,
    records,
    flags: Array.isArray(msg.flags) ? msg.flags : state.flags,
    status: msg.status ?? state.status,
  };
}

/** A sparkline's geometry: polylines of the drawable points (x by epoch), a gap at each
 * missing value, and where the non-finite ones (null) sit. */
export function sparkGeometry(
  epochs: number[],
  values: Stat[],
  log: boolean,
  range?: [number, number],
): { lines: [number, number][][]; bad: number[]; points: number } {
  const ys = values.map((v) => {
    const n = finite(v);
    if (n === null || (log && n <= 0)) return null;
    return log ? Math.log10(n) : n;
  });
  const shown = ys.filter((y): y is number => y !== null);
  let [lo, hi] = range ?? [Math.min(...shown), Math.max(...shown)];
  if (!shown.length && !range) [lo, hi] = [0, 1];
  const span = hi - lo || 1;
  const x0 = epochs[0] ?? 0;
  const xSpan = (epochs[epochs.length - 1] ?? 0) - x0 || 1;
  const xOf = (i: number): number =>
    epochs.length > 1 ? 2 + ((epochs[i] - x0) / xSpan) * (WIDTH - 4) : WIDTH / 2;
  const yOf = (y: number): number => HEIGHT - 3 - ((y - lo) / span) * (HEIGHT - 6);
  const lines: [number, number][][] = [[]];
  const bad: number[] = [];
  ys.forEach((y, i) => {
    if (y === null) {
      if (values[i] === null) bad.push(xOf(i));
      if (lines[lines.length - 1].length) lines.push([]);
    } else {
      lines[lines.length - 1].push([xOf(i), yOf(y)]);
    }
  });
  return { lines: lines.filter((l) => l.length), bad, points: shown.length };
}

const SVG = "http://www.w3.org/2000/svg";

function svgEl(tag: string, attrs: Record<string, string | number>): SVGElement {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

/** An inline SVG sparkline of ``values`` (by ``epochs``). */
function sparkline(
  epochs: number[],
  values: Stat[],
  spark: (typeof SPARKS)[number],
  label: string,
): SVGElement {
  const g = sparkGeometry(epochs, values, spark.log, spark.range);
  const svg = svgEl("svg", { width: WIDTH, height: HEIGHT, class: "nbml-spark", role: "img" });
  svg.setAttribute("aria-label", label);
  svg.dataset.points = String(g.points);
  const title = svgEl("title", {});
  title.textContent = label;
  svg.append(title);
  for (const line of g.lines) {
    if (line.length === 1) {
      svg.append(svgEl("circle", { cx: line[0][0], cy: line[0][1], r: 1.5, fill: "#1f77b4" }));
    } else {
      const points = line.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(" ");
      svg.append(
        svgEl("polyline", { points, fill: "none", stroke: "#1f77b4", "stroke-width": 1.5 }),
      );
    }
  }
  for (const x of g.bad) {
    svg.append(svgEl("circle", { cx: x.toFixed(1), cy: HEIGHT / 2, r: 2, fill: "#d62728" }));
  }
  return svg;
}

function params(r: LayerRow): string {
  const fixed = r.non_trainable ? ` (+${formatNumber(r.non_trainable)} fixed)` : "";
  return formatNumber(r.trainable) + fixed;
}

/** The header line: run, records, parameters and how many layers are flagged. */
export function summaryText(s: State): string {
  const parts = [s.run ? `run ${s.run}` : "not trained by nbml"];
  if (s.records.length) {
    const first = s.records[0][0];
    const last = s.records[s.records.length - 1][0];
    const of = s.epochs ? `/${s.epochs}` : "";
    parts.push(first === last ? `epoch ${last}${of}` : `epochs ${first}-${last}${of}`);
  }
  const total = s.layers.reduce((n, r) => n + (r.trainable || 0) + (r.non_trainable || 0), 0);
  parts.push(`${formatNumber(total)} parameters`);
  const flagged = new Set(s.flags.map((f) => f.layer)).size;
  parts.push(flagged ? `${flagged} layer${flagged === 1 ? "" : "s"} flagged` : "no flags");
  return parts.join(" · ");
}

const HEAD = ["layer", "class", "output shape", "parameters", "activation"];

/** The layer table of ``s``; ``columns`` names the statistics of a record's rows. */
function layerTable(s: State, columns: string[]): HTMLTableElement {
  const table = el("table");
  const head = el("tr");
  for (const h of [...HEAD, ...SPARKS.map((p) => p.title), "flags"]) head.append(el("th", "", h));
  table.append(head);
  const epochs = s.records.map((r) => r[0]);
  const reasons = new Map<string, string[]>();
  for (const f of s.flags) {
    const list = reasons.get(f.layer) ?? [];
    list.push(`${f.kind} at epoch ${f.epoch}: ${f.reason}`);
    reasons.set(f.layer, list);
  }
  s.layers.forEach((row, i) => {
    const tr = el("tr");
    tr.dataset.layer = row.layer;
    const cells = [row.layer, row.class, row.output_shape, params(row), row.activation ?? ""];
    for (const c of cells) tr.append(el("td", "", String(c)));
    for (const spark of SPARKS) {
      const col = columns.indexOf(spark.key);
      const values = s.records.map((r): Stat => {
        const v: Stat = col >= 0 ? (r[1]?.[i]?.[col] ?? "n/a") : "n/a";
        // a share: float32 rounding may leave it a hair outside [0, 1]
        return spark.range && typeof v === "number" ? Math.min(Math.max(v, 0), 1) : v;
      });
      const td = el("td", "nbml-spark-cell");
      td.dataset.stat = spark.key;
      if (values.some((v) => typeof v !== "string")) {
        td.append(sparkline(epochs, values, spark, `${row.layer} ${spark.title}`));
        const last = values[values.length - 1];
        td.append(
          el("span", "nbml-spark-value", typeof last === "string" ? "" : formatNumber(last)),
        );
      }
      tr.append(td);
    }
    const why = reasons.get(row.layer) ?? [];
    const flags = el("td", "nbml-inspector-flags");
    for (const w of why) {
      const line = el("div", "", w);
      line.dataset.testid = "nbml-flag";
      flags.append(line);
    }
    if (why.length) {
      tr.classList.add("nbml-flagged");
      tr.dataset.flagged = "true";
    }
    tr.append(flags);
    table.append(tr);
  });
  return table;
}

interface View {
  box: HTMLElement;
  status: HTMLElement;
  summary: HTMLElement;
  notice: HTMLElement;
  table: HTMLElement;
  notes: HTMLElement;
}

function buildView(name: string): View {
  const box = el("div", "nbml-inspector nbml-widget");
  box.dataset.testid = "nbml-inspector";
  const head = el("div", "nbml-widget-head");
  const status = el("span", "nbml-inspector-status");
  const summary = el("span", "nbml-inspector-summary");
  head.append(el("b", "", `inspect ${name}`), status, summary);
  const notice = el("div", "nbml-inspector-notice");
  notice.dataset.testid = "nbml-notice";
  const table = el("div", "nbml-inspector-table");
  const notes = el("ul", "nbml-inspector-notes");
  box.append(head, notice, table, notes);
  return { box, status, summary, notice, table, notes };
}

function draw(v: View, s: State, columns: string[], notice: string): void {
  v.status.textContent = s.status;
  v.status.dataset.status = s.status;
  v.status.hidden = !s.status;
  v.summary.textContent = summaryText(s);
  v.notice.textContent = notice;
  v.notice.hidden = !notice;
  v.table.replaceChildren(layerTable(s, columns));
  v.notes.replaceChildren(
    ...Object.entries(s.notes)
      .sort()
      .map(([k, text]) => el("li", "", `${k}: ${text}`)),
  );
  v.box.dataset.status = s.status;
  v.box.dataset.records = String(s.records.length);
  v.box.dataset.flagged = String(new Set(s.flags.map((f) => f.layer)).size);
}

function render({ model, el: root }: { model: Model; el: HTMLElement }): () => void {
  const v = buildView(String(model.get("name") ?? ""));
  root.append(v.box);
  let state = stateOf(model.get("state"));
  const max = (): number => Number(model.get("max_records")) || 500;
  const redraw = guarded(root, "draw the inspector's table", () => {
    const columns = (model.get("columns") ?? []) as string[];
    draw(v, state, columns, String(model.get("notice") ?? ""));
  });
  let pending = 0;
  const schedule = (): void => {
    if (pending) return;
    pending = requestAnimationFrame(() => {
      pending = 0;
      redraw();
    });
  };
  const onMessage = guarded(root, "apply a message from the kernel", (...args: unknown[]) => {
    state = apply(state, args[0] as Msg, max());
    schedule();
  });
  const onState = guarded(root, "take the inspector's state", () => {
    state = stateOf(model.get("state"));
    schedule();
  });
  model.on("msg:custom", onMessage);
  model.on("change:state", onState);
  model.on("change:notice", schedule);
  model.send({ type: "sync" });
  redraw();
  return () => {
    model.off("msg:custom", onMessage);
    model.off("change:state", onState);
    model.off("change:notice", schedule);
    if (pending) cancelAnimationFrame(pending);
  };
}

export default { render: safeRender("model inspector", render) };
