// nbml runs table: click a header to sort, tick runs to overlay their curves (uPlot).
// A value that was NaN or infinite in the kernel arrives as null and shows as "nan" (sorted
// last); the chart leaves such points out and says so (./charts); an error while drawing shows
// as text in the widget.
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import "./runs.css";
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
  let sortColumn = -1;
  let ascending = true;
  let chart: uPlot | null = null;

  const drawTable = guarded(root, "draw the runs table", (): void => {
    const headers = (model.get("headers") ?? []) as string[];
    const rows = [...((model.get("rows") ?? []) as Cell[][])];
    const selected = new Set((model.get("selected") ?? []) as string[]);
    if (sortColumn >= 0) {
      rows.sort((a, b) => {
        const cmp = compare(a[sortColumn], b[sortColumn]);
        return ascending ? cmp : -cmp;
      });
    }
    const table = el("table");
    const head = el("tr");
    head.append(el("th", "", ""));
    headers.forEach((h, i) => {
      const th = el("th", "nbml-sortable", h + (i === sortColumn ? (ascending ? " ▲" : " ▼") : ""));
      th.addEventListener("click", () => {
        ascending = sortColumn === i ? !ascending : true;
        sortColumn = i;
        drawTable();
      });
      head.append(th);
    });
    table.append(head);
    for (const row of rows) {
      const id = String(row[0]);
      const tr = el("tr");
      tr.dataset.run = id;
      const tick = el("input");
      tick.type = "checkbox";
      tick.checked = selected.has(id);
      tick.addEventListener("change", () => {
        const now = new Set((model.get("selected") ?? []) as string[]);
        if (tick.checked) now.add(id);
        else now.delete(id);
        model.set("selected", [...now]);
        model.save_changes();
      });
      const first = el("td");
      first.append(tick);
      tr.append(first);
      for (const v of row) tr.append(el("td", "", cellText(v)));
      table.append(tr);
    }
    tableBox.replaceChildren(table);
    note.textContent = String(model.get("note") ?? "");
  });

  const drawChart = guarded(root, "draw the runs' curves", (): void => {
    const curves = (model.get("curves") ?? {}) as Curves;
    const ids = Object.keys(curves);
    const metrics = [...new Set(ids.flatMap((id) => Object.keys(curves[id].history)))].sort();
    const current = metricSelect.value;
    metricSelect.replaceChildren(...metrics.map((m) => new Option(m, m)));
    const metric = metrics.includes(current)
      ? current
      : metrics.includes("val_loss")
        ? "val_loss"
        : (metrics[0] ?? "");
    metricSelect.value = metric;
    controls.hidden = ids.length === 0;
    chart?.destroy();
    chart = null;
    chartBox.replaceChildren();
    const p = plot(
      ids.map((id, i) => ({
        points: curves[id].history[metric] ?? [],
        series: {
          label: curves[id].label,
          stroke: COLORS[i % COLORS.length],
          width: 2,
          spanGaps: true,
        },
      })),
    );
    box.dataset.curves = String(p.series.length - 1);
    if (p.series.length < 2) return;
    const width = Math.max(320, Math.min(chartBox.clientWidth || 640, 720));
    chart = new uPlot(chartOptions(metric, width, 240, p, true), p.data, chartBox);
    setNote(chartBox, p);
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
