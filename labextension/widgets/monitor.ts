// nbml training monitor: live loss/metric curves (uPlot), progress, Stop and Retrain.
// The kernel sends only new points ("tick" messages); a view asks for the whole bounded
// history once ("sync") when it is created. A NaN or infinite value arrives as null: the charts
// leave it out and say so (./charts); a request the kernel refuses shows in `notice`; an error
// while drawing or applying a message shows as text in the widget instead of blanking it.
// Once the run's inspector flags layers, "N layers flagged" shows; a click dispatches the DOM
// event `nbml:inspect` ({detail: {name}}, bubbling), on which nbml's JupyterLab extension opens
// the Models panel's inspector of that model.
import "uplot/dist/uPlot.min.css";
import "./shared.css";
import "./monitor.css";

import { finite, formatDuration, formatNumber, percent } from "../src/format";
import { MonitorCharts, RunState } from "./monitor_charts";
import { MAX_POINTS, Model, Point, addPoints, el, guarded, safeRender } from "./shared";

interface Header {
  run?: string;
  status?: string;
  epoch?: number;
  epochs?: number;
  progress?: number | null;
  samples_per_s?: number | null;
  eta?: number | null;
  message?: string;
}

interface Msg {
  type: string;
  header?: Header;
  run?: string;
  label?: string;
  batch?: Record<string, Point[]>;
  epoch?: Record<string, Point[]>;
  runs?: RunState[];
  message?: string;
}

/** What a view shows: every run's curves and the latest header. */
interface State {
  runs: RunState[];
  header: Header;
}

/** One Retrain field as the kernel describes it (from nbml.core.options.TrainOptions; `choices`:
 * the values to pick from, as the optimizer's, nbml/views/widgets/messages.py). */
interface Field {
  name: string;
  label: string;
  type: string;
  help?: string;
  choices?: string[];
}

interface Form {
  details: HTMLDetailsElement;
  form: HTMLElement;
  inputs: Map<string, HTMLInputElement | HTMLSelectElement>;
  go: HTMLButtonElement;
  /** A small sweep around the panel's settings (the kernel's monitor_sweep). */
  sweep: HTMLButtonElement;
}

/** The Retrain panel: its fields come from the kernel (``fields``), then its button. */
function buildForm(): Form {
  const details = el("details", "nbml-retrain");
  const form = el("div", "nbml-form");
  const go = el("button", "nbml-button nbml-primary", "Retrain");
  go.dataset.testid = "nbml-retrain";
  const sweep = el("button", "nbml-button", "Sweep");
  sweep.dataset.testid = "nbml-sweep-around";
  sweep.title =
    "8 trials in the background around these settings: learning rate 1/10 to 10x (log), " +
    "batch size 1/2, 1 and 2x; the best trial's model becomes the model";
  details.append(el("summary", "", "Retrain"), form);
  return { details, form, inputs: new Map(), go, sweep };
}

/** An input for one field: a list where it has choices, whole numbers a number box, else text. */
function input(field: Field): HTMLInputElement | HTMLSelectElement {
  if (Array.isArray(field.choices)) {
    const select = el("select");
    for (const name of field.choices) select.append(new Option(String(name), String(name)));
    return select;
  }
  const box = el("input");
  box.type = field.type === "int" ? "number" : "text";
  if (field.type === "int") box.min = "1";
  if (field.type !== "int") box.placeholder = "default";
  return box;
}

/** (Re)build the panel's inputs from the kernel's field list, keeping the button last. */
function setFields(form: Form, fields: unknown): void {
  const list = Array.isArray(fields) ? (fields as Field[]) : [];
  form.inputs.clear();
  form.form.replaceChildren();
  for (const field of list) {
    if (!field || typeof field.name !== "string") continue;
    const box = input(field);
    box.dataset.testid = `nbml-retrain-${field.name.replace(/_/g, "-")}`;
    if (field.help) box.title = field.help;
    const wrap = el("label", "", String(field.label ?? field.name).replace(/-/g, " "));
    wrap.append(box);
    form.inputs.set(field.name, box);
    form.form.append(wrap);
  }
  form.form.append(form.go, form.sweep);
}

/** The Retrain message for what was typed: numbers where they are numbers, else the text, so
 * that the kernel (which checks every field) can say what is wrong. */
function retrainRequest(form: Form): Record<string, unknown> {
  const msg: Record<string, unknown> = { type: "retrain" };
  for (const [name, box] of form.inputs) {
    const text = box.value.trim();
    const n = Number(text);
    const picked = box.tagName === "SELECT"; // a choice is sent as it is named
    msg[name] = text === "" ? null : Number.isFinite(n) && !picked ? n : text;
  }
  return msg;
}

function setDefaults(form: Form, defaults: unknown): void {
  const d = (defaults ?? {}) as Record<string, unknown>;
  for (const [name, box] of form.inputs) box.value = d[name] == null ? "" : String(d[name]);
}

interface View {
  box: HTMLElement;
  status: HTMLElement;
  info: HTMLElement;
  fill: HTMLElement;
  message: HTMLElement;
  notice: HTMLElement;
  stop: HTMLButtonElement;
  hint: HTMLElement;
  summaryToggle: HTMLButtonElement;
  summary: HTMLElement;
  chartBox: HTMLElement;
  form: Form;
  /** "N layers flagged": opens the panel's inspector. */
  flagged: HTMLButtonElement;
}

function buildView(name: string): View {
  const box = el("div", "nbml-monitor nbml-widget");
  box.dataset.testid = "nbml-monitor";
  const head = el("div", "nbml-head nbml-widget-head");
  const status = el("span", "nbml-status");
  const info = el("span", "nbml-info");
  const flagged = el("button", "nbml-flagged");
  flagged.dataset.testid = "nbml-flagged";
  flagged.title = "Open the inspector in the Models panel";
  flagged.hidden = true;
  flagged.style.cssText =
    "border:0;background:none;padding:0 4px;color:#d62728;text-decoration:underline;cursor:pointer";
  head.append(el("b", "", name), status, info, flagged);
  const bar = el("div", "nbml-bar");
  const fill = el("div", "nbml-fill");
  bar.append(fill);
  const message = el("div", "nbml-message");
  const notice = el("div", "nbml-message nbml-notice");
  notice.dataset.testid = "nbml-notice";
  const actions = el("div", "nbml-actions");
  const stop = el("button", "nbml-button", "Stop");
  stop.dataset.testid = "nbml-stop";
  const hint = el("span", "nbml-hint", "Foreground training: interrupt the kernel (■) to stop.");
  const summaryToggle = el("button", "nbml-button", "Model summary");
  actions.append(stop, hint, summaryToggle);
  const form = buildForm();
  const summary = el("pre", "nbml-summary");
  summary.hidden = true;
  const chartBox = el("div", "nbml-charts");
  box.append(head, bar, message, notice, actions, form.details, summary, chartBox);
  return {
    box,
    status,
    info,
    fill,
    message,
    notice,
    stop,
    hint,
    summaryToggle,
    summary,
    chartBox,
    form,
    flagged,
  };
}

function drawHeader(v: View, header: Header, model: Model): void {
  const st = header.status ?? String(model.get("status") ?? "");
  const epochs = finite(header.epochs) ?? finite(model.get("epochs")) ?? 0;
  const epoch = finite(header.epoch) ?? 0;
  const running = st === "running";
  v.status.textContent = st;
  v.status.dataset.status = st;
  v.box.dataset.status = st;
  const parts = [`epoch ${Math.min(epoch + (running ? 1 : 0), epochs)}/${epochs}`];
  if (running && header.samples_per_s)
    parts.push(`${formatNumber(header.samples_per_s)} samples/s`);
  const eta = finite(header.eta);
  if (running && eta !== null && eta >= 0) parts.push(`ETA ${formatDuration(eta)}`);
  v.info.textContent = parts.join(" · ");
  v.fill.style.width = percent(header.progress);
  v.message.textContent = header.message ?? "";
  v.notice.textContent = String(model.get("notice") ?? "");
  v.notice.hidden = !v.notice.textContent;
  const foreground = Boolean(model.get("foreground"));
  v.stop.hidden = !running || foreground;
  v.hint.hidden = !running || !foreground;
  // a sweep started here trains one trial after another: Retrain and Sweep wait for its end
  const sweeping = Boolean(model.get("sweeping"));
  v.box.dataset.sweeping = String(sweeping);
  const busy = running || sweeping;
  v.form.go.disabled = busy;
  v.form.sweep.disabled = busy;
  v.summary.textContent = String(model.get("summary") ?? "");
  const n = finite(model.get("flagged")) ?? 0;
  v.flagged.hidden = n <= 0;
  v.flagged.textContent = n > 0 ? `${n} layer${n === 1 ? "" : "s"} flagged` : "";
}

/** Apply one message from the kernel: a full snapshot, new points, or an error. */
function apply(state: State, msg: Msg): void {
  if (msg.type === "snapshot") {
    state.runs.length = 0;
    for (const r of msg.runs ?? []) state.runs.push({ id: r.id, label: r.label, curves: r.curves });
    state.header = msg.header ?? {};
  } else if (msg.type === "tick") {
    if (msg.header) state.header = { ...state.header, ...msg.header };
    if (!msg.run) return;
    let run = state.runs.find((r) => r.id === msg.run);
    if (!run) {
      run = { id: msg.run, label: msg.label ?? msg.run, curves: {} };
      state.runs.push(run);
    }
    for (const kind of ["batch", "epoch"] as const) {
      for (const [name, pts] of Object.entries(msg[kind] ?? {})) {
        run.curves[name] ??= { batch: [], epoch: [] };
        addPoints(run.curves[name][kind], pts, MAX_POINTS);
      }
    }
  } else if (msg.type === "error") {
    state.header = { ...state.header, message: msg.message ?? "" };
  }
}

// The state at the end of the latest run, synced as a trait: a view created then (the output is
// re-rendered at the end of every run) draws it at once, before its sync request is answered.
// A copy, since ticks extend the curves in place.
function restore(state: State, saved: { header?: Header; runs?: RunState[] } | null): void {
  if (!saved?.runs?.length) return;
  state.runs.length = 0;
  for (const r of saved.runs)
    state.runs.push({ id: r.id, label: r.label, curves: structuredClone(r.curves) });
  state.header = { ...(saved.header ?? {}) };
}

const TRAITS = ["status", "metrics", "summary", "foreground", "notice", "sweeping", "flagged"];

function render({ model, el: root }: { model: Model; el: HTMLElement }): () => void {
  const state: State = { runs: [], header: {} };
  const v = buildView(String(model.get("name") ?? ""));
  root.append(v.box);
  const charts = new MonitorCharts(v.chartBox);
  const defaults = guarded(root, "show the Retrain panel", () => {
    setFields(v.form, model.get("fields"));
    setDefaults(v.form, model.get("defaults"));
  });
  const header = guarded(root, "draw the monitor's header", () =>
    drawHeader(v, state.header, model),
  );
  const curves = guarded(root, "draw the monitor's charts", () => {
    v.box.dataset.points = String(charts.draw(model.get("metrics"), state.runs));
    v.box.dataset.runs = String(state.runs.length);
  });
  let pending = 0;
  const schedule = (): void => {
    if (pending) return;
    pending = requestAnimationFrame(() => {
      pending = 0;
      header();
      curves();
    });
  };
  const onMessage = guarded(root, "apply a message from the kernel", (...args: unknown[]) => {
    apply(state, args[0] as Msg);
    schedule();
  });
  defaults();
  guarded(root, "restore the monitor's curves", () =>
    restore(state, model.get("history") as null),
  )();
  v.stop.addEventListener("click", () => model.send({ type: "stop" }));
  v.flagged.addEventListener("click", () => {
    const detail = { name: String(model.get("name") ?? "") };
    v.flagged.dispatchEvent(new CustomEvent("nbml:inspect", { bubbles: true, detail }));
  });
  v.summaryToggle.addEventListener("click", () => {
    v.summary.hidden = !v.summary.hidden;
  });
  v.form.go.addEventListener("click", () => {
    model.send(retrainRequest(v.form));
    v.form.go.disabled = true;
  });
  v.form.sweep.addEventListener("click", () => {
    model.send({ ...retrainRequest(v.form), type: "sweep" });
    v.form.sweep.disabled = true;
  });
  model.on("msg:custom", onMessage);
  for (const t of TRAITS) model.on(`change:${t}`, schedule);
  model.on("change:defaults", defaults);
  model.on("change:fields", defaults);
  model.send({ type: "sync" });
  schedule();
  return () => {
    model.off("msg:custom", onMessage);
    for (const t of TRAITS) model.off(`change:${t}`, schedule);
    model.off("change:defaults", defaults);
    model.off("change:fields", defaults);
    if (pending) cancelAnimationFrame(pending);
    charts.destroy();
  };
}

export default { render: safeRender("training monitor", render) };
