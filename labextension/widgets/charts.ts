// Line charts (uPlot) that stay readable whatever the values: an exploding loss, NaN, infinity.
//
// - A point whose value is not finite arrives as null (the kernel sends NaN and infinities as
//   null). It is not drawn (a gap), and the chart says how many such points there are.
// - When every finite value is positive and they span more than LOG_RATIO (a loss that goes from
//   1 to 1e30 before it becomes inf), the chart switches to a log scale: values are drawn as their
//   log10 and the axis is labelled with the values themselves (1e3, 1e10, ...). A linear axis
//   would squash every earlier point onto the zero line. Values that are not all positive keep a
//   linear axis.
// - Axis labels are short in every range: 0.012, 3.4, 1.2e+30 (uPlot's default formatting
//   prints long or locale-grouped numbers for tiny and huge values).
import uPlot from "uplot";

import { finite } from "../src/format";
import { el } from "./shared";

/** Beyond this ratio of the largest to the smallest (positive) value, the y axis is log10. */
export const LOG_RATIO = 1e3;

/** A point as the kernel sends it: [x, y], y null when it was NaN or infinite. */
export type RawPoint = [number, number | null];

export interface Line {
  points: RawPoint[];
  series: uPlot.Series;
}

export interface Plot {
  data: uPlot.AlignedData;
  series: uPlot.Series[];
  /** Whether y is drawn as log10(y). */
  log: boolean;
  /** Points whose value is not a finite number (not drawn). */
  nonFinite: number;
  /** Points drawn. */
  finite: number;
}

/** A short tick label for any magnitude: 0, 0.012, 3.4, 1,200, 1.2e+30. */
export function axisLabel(v: number | null | undefined): string {
  if (v == null || !Number.isFinite(v)) return "";
  const a = Math.abs(v);
  if (a === 0) return "0";
  if (a >= 1e6 || a < 1e-3) return v.toExponential(1).replace(".0e", "e");
  if (a >= 1000) return Math.round(v).toLocaleString("en-US");
  return String(Number(v.toPrecision(3)));
}

/** The data and series of ``lines`` (empty lines are left out), on a log scale when it helps. */
export function plot(lines: Line[]): Plot {
  let lo = Infinity;
  let hi = -Infinity;
  let nonFinite = 0;
  let drawn = 0;
  const kept: { xs: number[]; ys: (number | null)[]; series: uPlot.Series }[] = [];
  for (const line of lines) {
    const xs: number[] = [];
    const ys: (number | null)[] = [];
    for (const p of Array.isArray(line.points) ? line.points : []) {
      const x = finite(Array.isArray(p) ? p[0] : null);
      if (x === null) continue;
      const y = finite(p[1]);
      if (y === null) nonFinite++;
      else {
        drawn++;
        lo = Math.min(lo, y);
        hi = Math.max(hi, y);
      }
      xs.push(x);
      ys.push(y);
    }
    if (xs.length) kept.push({ xs, ys, series: line.series });
  }
  const log = drawn > 0 && lo > 0 && hi / lo > LOG_RATIO;
  const tables: uPlot.AlignedData[] = kept.map(({ xs, ys }) => [
    xs,
    log ? ys.map((y) => (y === null ? null : Math.log10(y))) : ys,
  ]);
  const data = tables.length ? uPlot.join(tables) : ([[]] as unknown as uPlot.AlignedData);
  return { data, series: [{}, ...kept.map((k) => k.series)], log, nonFinite, finite: drawn };
}

/** Tick steps of an epoch axis: whole epochs only (batch points sit between them). */
export const EPOCH_STEPS = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000];

/** An epoch axis spans whole epochs: from the epoch the first point is in to the end of the
 * epoch of the last (at least one epoch), so a run's first epoch fills the chart as it goes. */
export function epochRange(
  _u: unknown,
  min: number | null,
  max: number | null,
): uPlot.Range.MinMax {
  if (min == null || max == null || !Number.isFinite(min) || !Number.isFinite(max)) {
    return [0, 1];
  }
  const lo = Math.floor(min);
  return [lo, Math.max(Math.ceil(max), lo + 1)];
}

/** The labels of an epoch axis's ticks (whole numbers); they are also kept in the chart's
 * ``data-xticks`` attribute, since uPlot draws them on a canvas. */
function epochTicks(u: uPlot, splits: number[]): string[] {
  const labels = splits.map((v) => String(Math.round(v)));
  u.root.dataset.xticks = labels.join(" ");
  return labels;
}

/** uPlot options for ``p``: readable y labels, log-scale labels when ``p.log``; an x axis of
 * whole epochs. */
export function chartOptions(
  title: string,
  width: number,
  height: number,
  p: Plot,
  legend = false,
): uPlot.Options {
  const label = (v: number): string => axisLabel(p.log ? 10 ** v : v);
  return {
    title: p.log ? `${title} (log scale)` : title,
    width,
    height,
    // legend values in the data's own units (not log10), "–" for a gap
    series: p.series.map((s, i) =>
      i === 0 ? s : { ...s, value: (_u: uPlot, v: number | null) => (v == null ? "–" : label(v)) },
    ),
    scales: { x: { time: false, range: epochRange } },
    axes: [
      { label: "epoch", incrs: EPOCH_STEPS, values: epochTicks },
      { size: 64, values: (_u: uPlot, splits: number[]) => splits.map(label) },
    ],
    legend: { live: legend },
  };
}

/** The line under a chart saying how many points could not be drawn (hidden when none). */
export function noteText(p: Plot): string {
  if (!p.nonFinite) return "";
  const what = `${p.nonFinite} value${p.nonFinite === 1 ? "" : "s"} not finite (nan or inf)`;
  return p.finite ? `${what}: not drawn` : `${what}: nothing to draw`;
}

/** A chart's note element, made on first use inside ``holder``. */
export function setNote(holder: HTMLElement, p: Plot): void {
  let note = holder.querySelector<HTMLElement>(".nbml-chart-note");
  if (!note) {
    note = el("div", "nbml-chart-note");
    note.style.cssText = "font:11px sans-serif;color:#d62728";
    holder.append(note);
  }
  note.textContent = noteText(p);
  note.hidden = !p.nonFinite;
  holder.dataset.nonfinite = String(p.nonFinite);
  holder.dataset.scale = p.log ? "log" : "linear";
}
