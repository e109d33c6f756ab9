// Small rules shared by the "Models" panel (./view) and the widgets (../widgets): numbers,
// durations, the progress fraction, the order of metrics and the metric a run is judged by. The
// duration, order and main metric follow the kernel's text views (nbml/views/text.py
// `seconds` and `ordered`, nbml/views/comparison.py `main_metric`), so text and widgets agree.
// Every function takes anything: a value from a kernel may be null (a NaN or an infinity travels
// as null) or not a number at all.

/** ``v`` if it is a finite number, else null. */
export function finite(v: unknown): number | null {
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

/** A number for display: 4 significant digits, whole and grouped from 1,000; "nan" for null
 * (NaN or infinite in the kernel) and anything that is not a number. */
export function formatNumber(v: unknown): string {
  const n = finite(v);
  if (n === null) return "nan";
  if (Math.abs(n) >= 1000) return Math.round(n).toLocaleString("en-US");
  return String(Number(n.toPrecision(4)));
}

/** ``s`` with one decimal, rounding a tie to even as Python's ``f"{s:.1f}"`` does (``toFixed``
 * rounds 0.25 up; a tie is a value exactly halfway, x.25 or x.75, since others are inexact). */
function oneDecimal(s: number): string {
  const quarters = s * 4; // exact in binary floating point
  if (Number.isInteger(quarters) && quarters % 2 === 1) {
    const tenths = Math.floor(s * 10); // s * 10 is exact for a multiple of 0.25
    return ((tenths % 2 === 0 ? tenths : tenths + 1) / 10).toFixed(1);
  }
  return s.toFixed(1);
}

/** A duration as the kernel's text shows it: "4.2s", "1m05s", "1h05m"; "?" when not a number. */
export function formatDuration(v: unknown): string {
  const n = finite(v);
  if (n === null) return "?";
  const s = Math.max(0, n);
  if (s < 60) return `${oneDecimal(s)}s`;
  const whole = Math.floor(s);
  const m = Math.floor(whole / 60);
  const rest = String(whole % 60).padStart(2, "0");
  return m < 60 ? `${m}m${rest}s` : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}m`;
}

/** A progress as a fraction in 0..1 for a bar (0 for anything that is not a finite number). */
export function progressFraction(v: unknown): number {
  const n = finite(v);
  return n === null ? 0 : Math.min(Math.max(n, 0), 1);
}

/** A progress fraction as a percentage with one decimal, for a bar's width ("42.5%"). */
export function percent(v: unknown): string {
  return `${Math.round(progressFraction(v) * 1000) / 10}%`;
}

/** Metric names in reading order: loss, the other metrics, then their val_ twins in that order. */
export function orderedMetrics(keys: readonly string[]): string[] {
  const key = (k: string): [number, number, string] => {
    const val = k.startsWith("val_");
    const base = val ? k.slice(4) : k;
    return [val ? 1 : 0, base === "loss" ? 0 : 1, base];
  };
  return [...keys].sort((a, b) => {
    const [x, y] = [key(a), key(b)];
    return x[0] - y[0] || x[1] - y[1] || (x[2] < y[2] ? -1 : x[2] > y[2] ? 1 : 0);
  });
}

/** The metric a run is judged by: the first validation metric other than the loss, else
 * val_loss, else the first training metric other than the loss, else loss (null if none). */
export function mainMetric(keys: readonly string[]): string | null {
  const vals = keys.filter((k) => k.startsWith("val_"));
  const pools = [vals.filter((k) => k !== "val_loss"), vals, keys.filter((k) => k !== "loss")];
  for (const pool of pools) if (pool.length) return pool[0];
  return keys.includes("loss") ? "loss" : null;
}
