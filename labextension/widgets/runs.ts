// nbml runs table: click a header to sort, tick runs to overlay their curves (uPlot).
// A value that was NaN or infinite in the kernel arrives as null and shows as "nan" (sorted
// last); the chart leaves such points out and says so (./charts); an error while drawing shows
// as text in the widget.
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import "./runs.css";
import { mainMetric } from "../src/format";
import { RawPoint, chartOptions, plot, setNote } from "./charts";
import { Model, el, guarded, safeRender } from "./shared";

type Cell = string | number | null;

interface Curves {
  [run: string]: { label: string; history: Record<string, RawPoint[]> };
}

/** Numbers before text before nan (null), each in its own order. */
function compare(x: Cell, y: Cell): number {
  const rank = (v: Cell): number => (v === null ? 2 : typeof v === "number" ? 0 : 1);
  if (rank(x) !== rank(y)) return rank(x) - rank(y);
  if (typeof x === "number" && typeof y === "number") return x - y;
  return String(x ?? "").localeCompare(String(y ?? ""));
}

function cellText(v: Cell): string {
  if (v === null || (typeof v === "number" && !Number.isFinite(v))) return "nan";
  return typeof v === "number" ? String(Number(v.toPrecision(5))) : String(v);
}

const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"];

interface Sort {
  column: number;
  ascending: boolean;
}

/** The rows sorted by ``sort`` (a copy). */
function sorted(rows: Cell[][], sort: Sort): Cell[][] {
  const out = [...rows];
  if (sort.column >= 0) {
    out.sort((a, b) => {
      const cmp = compare(a[sort.column], b[sort.column]);
      return sort.ascending ? cmp : -cmp;
    });
  }
  return out;
}

/** The runs table; a header click calls ``resort(i)``, a tick ``toggle(run id, ticked)``. */
function runsTable(
  headers: string[],
  rows: Cell[][],
  selected: Set<string>,
  sort: Sort,
  resort: (column: number) => void,
  toggle: (id: string, on: boolean) => void,
): HTMLTableElement {
  const table = el("table");
  const head = el("tr");
  head.append(el("th", "", ""));
  headers.forEach((h, i) => {
    const arrow = i === sort.column ? (sort.ascending ? " ▲" : " ▼") : "";
    const th = el("th", "nbml-sortable", h + arrow);
    th.addEventListener("click", () => resort(i));
    head.append(th);
  });
  table.append(head);
  for (const row of sorted(rows, sort)) {
    const id = String(row[0]);
    const tr = el("tr");
    tr.dataset.run = id;
    const tick = el("input");
    tick.type = "checkbox";
    tick.checked = selected.has(id);
    tick.addEventListener("change", () => toggle(id, tick.checked));
    const first = el("td");
    first.append(tick);
    tr.append(first);
    for (const v of row) tr.append(el("td", "", cellText(v)));
    table.append(tr);
  }
  return table;
}

/** The metric to draw: the one chosen if it is still there, else the runs' main metric (the
 * one the table's "best" column shows). */
function chooseMetric(metrics: string[], current: string): string {
  if (metrics.includes(current)) return current;
  return mainMetric(metrics) ?? "";
}

/** The chart of the ticked runs' ``metric`` in ``box`` (null when no run has that metric). */
function runsChart(box: HTMLElement, curves: Curves, metric: string): uPlot | null {
  const p = plot(
    Object.keys(curves).map((id, i) => ({
      points: curves[id].history?.[metric] ?? [],
      series: {
        label: curves[id].label,
        stroke: COLORS[i % COLORS.length],
        width: 2,
        spanGaps: true,
      },
    })),
  );
  box.dataset.curves = String(p.series.length - 1);
  if (p.series.length < 2) return null;
  const width = Math.max(320, Math.min(box.clientWidth || 640, 720));
  const chart = new uPlot(chartOptions(metric, width, 240, p, true), p.data, box);
  setNote(box, p);
  return chart;
}

function render({ model, el: root }: { model: Model; el: HTMLElement }): () => void {
  const box = el("div", "nbml-runs");
  box.dataset.testid = "nbml-runs";
  const tableBox = el("div", "nbml-runs-table");
  const controls = el("div", "nbml-runs-controls");
  const metricSelect = el("select");
  controls.append(el("span", "", "curves of the ticked runs: "), metricSelect);
  const chartBox = el("div", "nbml-runs-chart");
  const note = el("div", "nbml-runs-note");
  box.append(tableBox, note, controls, chartBox);
  root.append(box);
  const sort: Sort = { column: -1, ascending: true };
  let chart: uPlot | null = null;
  const selected = (): Set<string> => new Set((model.get("selected") ?? []) as string[]);
  const toggle = (id: string, on: boolean): void => {
    const now = selected();
    if (on) now.add(id);
    else now.delete(id);
    model.set("selected", [...now]);
    model.save_changes();
  };
  const drawTable = guarded(root, "draw the runs table", (): void => {
    const resort = (i: number): void => {
      sort.ascending = sort.column === i ? !sort.ascending : true;
      sort.column = i;
      drawTable();
    };
    const headers = (model.get("headers") ?? []) as string[];
    const rows = (model.get("rows") ?? []) as Cell[][];
    tableBox.replaceChildren(runsTable(headers, rows, selected(), sort, resort, toggle));
    note.textContent = String(model.get("note") ?? "");
  });
  const drawChart = guarded(root, "draw the runs' curves", (): void => {
    const curves = (model.get("curves") ?? {}) as Curves;
    const ids = Object.keys(curves);
    // in the runs' own order (Keras's), as the kernel's table picks its "best" column
    const names = [...new Set(ids.flatMap((id) => Object.keys(curves[id].history)))];
    const metric = chooseMetric(names, metricSelect.value);
    const metrics = [...names].sort();
    metricSelect.replaceChildren(...metrics.map((m) => new Option(m, m)));
    metricSelect.value = metric;
    controls.hidden = ids.length === 0;
    chart?.destroy();
    chartBox.replaceChildren();
    chart = runsChart(chartBox, curves, metric);
  });
  metricSelect.addEventListener("change", drawChart);
  model.on("change:rows", drawTable);
  model.on("change:selected", drawTable);
  model.on("change:curves", drawChart);
  drawTable();
  drawChart();
  return () => {
    model.off("change:rows", drawTable);
    model.off("change:selected", drawTable);
    model.off("change:curves", drawChart);
    chart?.destroy();
  };
}

export default { render: safeRender("runs table", render) };
