// Helpers shared by nbml's widgets (numbers, durations and progress: ../src/format, shared with
// the "Models" panel).

/** An (x, y) point: x in epochs (fractional for batch points). */
export type Point = [number, number | null];

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

/** What a view shows: anywidget's render function. */
export type Render = (props: { model: Model; el: HTMLElement }) => (() => void) | void;

const errors = new WeakMap<HTMLElement, Map<string, string>>();

/** Show (or, with ``error`` undefined, clear) what failed, as short text at the top of ``root``. */
export function showError(root: HTMLElement, what: string, error?: unknown): void {
  const list = errors.get(root) ?? new Map<string, string>();
  errors.set(root, list);
  if (error === undefined) {
    if (!list.delete(what)) return;
  } else {
    const text = error instanceof Error ? error.message : String(error);
    list.set(what, `nbml: could not ${what}: ${text}`.slice(0, 300));
    console.error(`nbml widget: could not ${what}`, error);
  }
  let box = root.querySelector<HTMLElement>(":scope > .nbml-widget-error");
  if (!box) {
    box = el("div", "nbml-widget-error");
    box.dataset.testid = "nbml-widget-error";
    box.setAttribute("role", "alert");
    box.style.cssText = "color:#d62728;font:12px sans-serif;white-space:pre-wrap;margin:2px 0";
    root.prepend(box);
  }
  box.textContent = [...list.values()].join("\n");
  box.hidden = list.size === 0;
}

/** ``fn``, but an exception shows in the widget (``could not <what>``) instead of breaking it. */
export function guarded<A extends unknown[]>(
  root: HTMLElement,
  what: string,
  fn: (...args: A) => void,
): (...args: A) => void {
  return (...args: A): void => {
    try {
      fn(...args);
      showError(root, what);
    } catch (e) {
      showError(root, what, e);
    }
  };
}

/** A render function whose failure shows in the widget as text instead of a blank output. */
export function safeRender(name: string, render: Render): Render {
  return (props) => {
    try {
      return render(props);
    } catch (e) {
      showError(props.el, `show the ${name}`, e);
      return undefined;
    }
  };
}
