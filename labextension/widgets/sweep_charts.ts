// The sweep widget's scatter charts (uPlot): the objective by trial with the best-so-far line, and
// the objective against each hyperparameter. Points are coloured by the trial's state; a value
// that was NaN or infinite in the kernel arrives as null and is not drawn.
import uPlot from "uplot";

import { finite } from "../src/format";
import { axisLabel } from "./charts";

export interface TrialRow {
  number: number;
  state: string;
  params: Record<string, unknown>;
  value: number | null;
  values: (number | null)[];
  run: string;
  mine: boolean;
  /** The Dask worker that runs or ran it (a sweep on a cluster), else "". */
  worker?: string;
  /** Why a failed trial failed, when not its training ("worker lost"). */
  reason?: string;
}

export const STATE_COLORS: Record<string, string> = {
  running: "#1f77b4",
  complete: "#2ca02c",
  pruned: "#ff7f0e",
  failed: "#d62728",
  waiting: "#999999",
};

/** The objective a chart shows for a trial: its final value, or the last one it reported. */
export function shownValue(t: TrialRow): number | null {
  const v = finite(t.value);
  if (v !== null) return v;
  const values = Array.isArray(t.values) ? t.values : [];
  for (let i = values.length - 1; i >= 0; i--) {
    const last = finite(values[i]);
    if (last !== null) return last;
  }
  return null;
}

/** The best complete objective up to each trial (null before the first complete one). */
export function bestSoFar(trials: TrialRow[], minimize: boolean): (number | null)[] {
  let best: number | null = null;
  return trials.map((t) => {
    const v = t.state === "complete" ? finite(t.value) : null;
    if (v !== null) best = best === null ? v : minimize ? Math.min(best, v) : Math.max(best, v);
    return best;
  });
}

interface Point {
  x: number;
  y: number;
  state: string;
}

/** Aligned data for uPlot: one series of points per state (x sorted; equal x nudged apart). */
function byState(points: Point[], states: string[]): { xs: number[]; ys: (number | null)[][] } {
  const sorted = [...points].sort((a, b) => a.x - b.x);
  const span = sorted.length ? Math.abs(sorted[sorted.length - 1].x - sorted[0].x) || 1 : 1;
  const xs: number[] = [];
  for (const p of sorted) {
    const prev = xs.length ? xs[xs.length - 1] : -Infinity;
    xs.push(p.x <= prev ? prev + span * 1e-6 : p.x);
  }
  const ys = states.map((s) => sorted.map((p) => (p.state === s ? p.y : null)));
  return { xs, ys };
}

function pointSeries(state: string): uPlot.Series {
  const color = STATE_COLORS[state] ?? "#777";
  return {
    label: state,
    stroke: color,
    fill: color,
    paths: () => null,
    points: { show: true, size: 7, fill: color },
  };
}

/** An x range with a margin, so that points at the ends are not cut by the frame. */
function padded(_u: uPlot, min: number | null, max: number | null): uPlot.Range.MinMax {
  if (min == null || max == null || !Number.isFinite(min) || !Number.isFinite(max)) return [0, 1];
  const pad = max > min ? (max - min) * 0.06 : 0.5;
  return [min - pad, max + pad];
}

/** Numeric values with this many distinct values or fewer (a list such as 32,64,128) are drawn
 * as categories, evenly spaced. */
const FEW = 6;

export interface Scatter {
  chart: uPlot;
  points: number;
}

/** A scatter chart in ``box``; ``xLabels`` names the x positions of a categorical axis, and
 * ``logX`` means x values are log10 of the parameter. */
function scatter(
  box: HTMLElement,
  title: string,
  xLabel: string,
  points: Point[],
  extra: { ys: (number | null)[]; series: uPlot.Series } | null,
  opts: { xLabels?: string[]; logX?: boolean; width: number },
): Scatter {
  const states = Object.keys(STATE_COLORS).filter((s) => points.some((p) => p.state === s));
  const { xs, ys } = byState(points, states);
  const data = [xs, ...ys] as uPlot.AlignedData;
  const series: uPlot.Series[] = [{}, ...states.map(pointSeries)];
  if (extra) {
    (data as unknown as (number | null)[][]).push(extra.ys);
    series.push(extra.series);
  }
  const xValues = (_u: uPlot, splits: number[]): string[] =>
    splits.map((v) =>
      opts.xLabels
        ? Number.isInteger(v)
          ? (opts.xLabels[v] ?? "")
          : ""
        : axisLabel(opts.logX ? 10 ** v : v),
    );
  const chart = new uPlot(
    {
      title,
      width: opts.width,
      height: 220,
      series,
      scales: { x: { time: false, range: padded } },
      axes: [
        { label: xLabel, values: xValues },
        { size: 60, values: (_u: uPlot, s: number[]) => s.map(axisLabel) },
      ],
      legend: { live: false },
    },
    data,
    box,
  );
  return { chart, points: points.length };
}

/** The objective of each trial, coloured by state, and the best complete one so far. */
export function byTrial(
  box: HTMLElement,
  trials: TrialRow[],
  objective: string,
  minimize: boolean,
  width: number,
): Scatter | null {
  const points: Point[] = [];
  for (const t of trials) {
    const y = shownValue(t);
    if (y !== null) points.push({ x: t.number, y, state: t.state });
  }
  if (!points.length) return null;
  const best = bestSoFar(trials, minimize);
  const at = new Map(trials.map((t, i) => [t.number, best[i]]));
  const bestYs = [...points].sort((a, b) => a.x - b.x).map((p) => at.get(p.x) ?? null);
  const line: uPlot.Series = {
    label: "best so far",
    stroke: "#333",
    width: 1.5,
    dash: [5, 3],
    paths: uPlot.paths.stepped?.({ align: 1 }),
    points: { show: false },
  };
  return scatter(
    box,
    `${objective} by trial`,
    "trial",
    points,
    { ys: bestYs, series: line },
    { width },
  );
}

/** The objective against hyperparameter ``name`` (categories at 0, 1, 2, ...; a parameter
 * spanning more than 50x drawn on a log axis). */
export function byParam(
  box: HTMLElement,
  trials: TrialRow[],
  name: string,
  objective: string,
  width: number,
): Scatter | null {
  const raw = trials
    .filter((t) => name in (t.params ?? {}) && shownValue(t) !== null)
    .map((t) => ({ v: t.params[name], y: shownValue(t) as number, state: t.state }));
  if (!raw.length) return null;
  const numeric = raw.every((p) => typeof p.v === "number" && Number.isFinite(p.v));
  const distinct = [...new Set(raw.map((p) => p.v))];
  let xLabels: string[] | undefined;
  let logX = false;
  let points: Point[];
  if (numeric && distinct.length > FEW) {
    const vs = raw.map((p) => p.v as number);
    logX = Math.min(...vs) > 0 && Math.max(...vs) / Math.min(...vs) > 50;
    points = raw.map((p) => ({ x: logX ? Math.log10(p.v as number) : (p.v as number), ...p }));
  } else {
    if (numeric) distinct.sort((a, b) => (a as number) - (b as number));
    xLabels = distinct.map((v) => String(v));
    points = raw.map((p) => ({ x: xLabels!.indexOf(String(p.v)), ...p }));
  }
  const label = logX ? `${name} (log scale)` : name;
  return scatter(box, `${objective} vs ${name}`, label, points, null, { xLabels, logX, width });
}
