// Helpers shared by nbml's widgets.

/** An (x, y) point: x in epochs (fractional for batch points). */
export type Point = [number, number];

export type Curves = Record<string, { batch: Point[]; epoch: Point[] }>;

/** The most points a curve holds; beyond it every other point is dropped. */
export const MAX_POINTS = 1000;

/** Append ``pts`` to ``curve`` in place, halving it whenever it grows past ``max``. */
export function addPoints(curve: Point[], pts: Point[], max: number): void {
  for (const p of pts) curve.push(p);
  while (curve.length > max) {
    let j = 0;
    for (let i = 0; i < curve.length; i += 2) curve[j++] = curve[i];
    curve.length = j;
  }
}

export function formatNumber(v: number): string {
  if (!isFinite(v)) return String(v);
  if (Math.abs(v) >= 1000) return Math.round(v).toLocaleString("en-US");
  return Number(v.toPrecision(4)).toString();
}

export function formatSeconds(s: number): string {
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(Math.floor(s % 60)).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}m`;
}

/** A new element with an optional class and text (text, never HTML). */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  cls = "",
  text = "",
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text) node.textContent = text;
  return node;
}

/** The part of anywidget's model a view uses. */
export interface Model {
  get(name: string): unknown;
  set(name: string, value: unknown): void;
  save_changes(): void;
  send(msg: unknown): void;
  on(event: string, cb: (...args: unknown[]) => void): void;
  off(event: string, cb: (...args: unknown[]) => void): void;
}
