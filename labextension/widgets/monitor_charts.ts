// The training monitor's charts: one uPlot chart per base metric (loss first), each with the
// batch and epoch curves of every run and the val_ twin, the latest run in full colour.
import uPlot from "uplot";

import { Line, chartOptions, plot, setNote } from "./charts";
import { Curves, el } from "./shared";

export interface RunState {
  id: string;
  label: string;
  curves: Curves;
}

const COLORS = ["#1f77b4", "#ff7f0e"];

function fade(color: string, alpha: number): string {
  const n = parseInt(color.slice(1), 16);
  return `rgba(${(n >> 16) & 255},${(n >> 8) & 255},${n & 255},${alpha})`;
}

/** The chart groups: one per base metric (loss first), each with its val_ twin. */
export function groups(metrics: unknown): string[] {
  const names = Array.isArray(metrics) ? metrics.map(String) : [];
  const base = names.filter((m) => !m.startsWith("val_"));
  return base.length ? base : ["loss"];
}

/** The lines of one chart: each run's batch and epoch curves of ``metric`` and its val_ twin. */
export function linesOf(runs: RunState[], metric: string): Line[] {
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
      const suffix = `${kind === "batch" ? " (batch)" : ""}${runs.length > 1 ? ` · ${run.label}` : ""}`;
      lines.push({
        points: curve,
        series: {
          label: name + suffix,
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
}

/** The charts of one monitor view, kept across redraws (new data is set, not re-created). */
export class MonitorCharts {
  private readonly charts = new Map<string, { chart: uPlot; log: boolean }>();

  constructor(private readonly box: HTMLElement) {}

  /** Draw the charts of ``metrics`` for ``runs``; returns the number of points drawn. */
  draw(metrics: unknown, runs: RunState[]): number {
    const names = groups(metrics);
    for (const key of [...this.charts.keys()]) if (!names.includes(key)) this.remove(key);
    const width = Math.max(
      240,
      Math.floor((this.box.clientWidth || 640) / Math.min(names.length, 2)) - 12,
    );
    let points = 0;
    for (const metric of names) points += this.drawOne(metric, runs, width);
    return points;
  }

  destroy(): void {
    for (const key of [...this.charts.keys()]) this.remove(key);
  }

  private drawOne(metric: string, runs: RunState[], width: number): number {
    const lines = linesOf(runs, metric);
    const p = plot(lines);
    const held = this.charts.get(metric);
    if (held && (held.chart.series.length !== p.series.length || held.log !== p.log)) {
      this.remove(metric); // a new series or a new scale: uPlot draws them on a new chart
    }
    let chart = this.charts.get(metric)?.chart;
    if (!chart) {
      const holder = el("div", "nbml-chart");
      holder.dataset.testid = "nbml-chart";
      holder.dataset.metric = metric;
      this.box.append(holder);
      chart = new uPlot(chartOptions(metric, width, 220, p), p.data, holder);
      this.charts.set(metric, { chart, log: p.log });
    } else {
      chart.setData(p.data);
    }
    if (chart.root.parentElement) setNote(chart.root.parentElement, p);
    return lines.reduce((n, l) => n + l.points.length, 0);
  }

  private remove(metric: string): void {
    const held = this.charts.get(metric);
    if (!held) return;
    held.chart.root.parentElement?.remove();
    held.chart.destroy();
    this.charts.delete(metric);
  }
}
