// nbml runs table: click a header to sort, tick runs to overlay their curves (uPlot).
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import "./runs.css";
import { Model, el } from "./shared";

type Cell = string | number;

interface Curves {
  [run: string]: { label: string; history: Record<string, [number, number][]> };
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

  const drawTable = (): void => {
    const headers = (model.get("headers") ?? []) as string[];
    const rows = [...((model.get("rows") ?? []) as Cell[][])];
    const selected = new Set((model.get("selected") ?? []) as string[]);
    if (sortColumn >= 0) {
      rows.sort((a, b) => {
        const x = a[sortColumn];
        const y = b[sortColumn];
        const cmp =
          typeof x === "number" && typeof y === "number"
            ? x - y
            : String(x).localeCompare(String(y));
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
      for (const v of row)
        tr.append(el("td", "", typeof v === "number" ? String(Number(v.toPrecision(5))) : v));
      table.append(tr);
    }
    tableBox.replaceChildren(table);
    note.textContent = String(model.get("note") ?? "");
  };

  const drawChart = (): void => {
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
    const tables: uPlot.AlignedData[] = [];
    const series: uPlot.Series[] = [{}];
    ids.forEach((id, i) => {
      const pts = curves[id].history[metric] ?? [];
      if (!pts.length) return;
      tables.push([pts.map((p) => p[0]), pts.map((p) => p[1])]);
      series.push({
        label: curves[id].label,
        stroke: COLORS[i % COLORS.length],
        width: 2,
        spanGaps: true,
      });
    });
    box.dataset.curves = String(tables.length);
    if (!tables.length) return;
    chart = new uPlot(
      {
        title: metric,
        width: Math.max(320, Math.min(chartBox.clientWidth || 640, 720)),
        height: 240,
        series,
        scales: { x: { time: false } },
        axes: [{ label: "epoch" }, {}],
      },
      uPlot.join(tables),
      chartBox,
    );
  };

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

export default { render };
