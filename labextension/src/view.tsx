// The "Models" panel's React view: documents, their kernels' devices and models; a click on a
// model opens its inspector (./inspector) in place of the list.
// Everything a kernel sends is rendered as text (React escapes it). A kernel's values are not
// trusted to be well formed: a number may be null (a NaN or an infinity travels as null and shows
// as "nan") or anything else, and each document and each model row sits in an error boundary, so
// whatever a kernel sends, the panel stays up and says what could not be shown.
import React from "react";

import {
  finite,
  formatDuration,
  formatNumber,
  mainMetric,
  orderedMetrics,
  percent,
  progressFraction,
} from "./format";
import { flaggedText } from "./inspection";
import { InspectorView } from "./inspector";
import type { DocEntry, SidebarModel } from "./model";
import type { Device, ModelInfo, SweepInfo } from "./protocol";

export interface Actions {
  stop(docId: string, model: ModelInfo): void;
  /** Open the model's inspector (in place of the list) and ask for its records. */
  inspect(docId: string, model: ModelInfo): void;
  reveal(docId: string, model: ModelInfo): void;
}

/** A whole number with thousands separators, or "?" when it is not a finite number. */
export function count(v: unknown): string {
  const n = finite(v);
  return n === null ? "?" : n.toLocaleString("en-US");
}

/** A number as is ("?" when it is not a finite number). */
export function plain(v: unknown): string {
  const n = finite(v);
  return n === null ? "?" : String(n);
}

export function bytes(v: unknown): string {
  let n = finite(v);
  if (n === null) return "?";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

/** The first four metrics in reading order (loss, metrics, val_ twins: ``loss 0.3 · val_loss
 * nan``), the main metric always among them. */
export function metricText(m: unknown): string {
  if (!m || typeof m !== "object") return "";
  const metrics = m as Record<string, unknown>;
  const keys = orderedMetrics(Object.keys(metrics));
  const shown = keys.slice(0, 4);
  const main = mainMetric(keys);
  if (main !== null && !shown.includes(main)) shown[3] = main;
  return shown.map((k) => `${k} ${formatNumber(metrics[k])}`).join(" · ");
}

function text(v: unknown): string {
  return v == null ? "" : String(v);
}

/** The word a row shows: its latest run's status (running, finished, stopped, failed: what the
 * monitor and %runs say for that run), or the model's own status for a model without runs. */
export function statusWord(model: ModelInfo): string {
  return text(model.run_status ?? model.status);
}

interface BoundaryProps {
  /** What the boundary holds, for the message ("model fg", "notebook a.ipynb"). */
  what: string;
  /** A new value (the next kernel message's data) clears a caught error and renders again. */
  data: unknown;
  children?: React.ReactNode;
}

/** Shows what failed to render instead of a blank panel, and tries again on new data. */
export class Boundary extends React.Component<BoundaryProps, { error: string | null }> {
  state = { error: null as string | null };

  static getDerivedStateFromError(error: unknown): { error: string } {
    return { error: error instanceof Error ? error.message : String(error) };
  }

  componentDidCatch(error: unknown): void {
    console.error(`nbml sidebar: could not show ${this.props.what}`, error);
  }

  componentDidUpdate(prev: BoundaryProps): void {
    if (this.state.error !== null && prev.data !== this.props.data) this.setState({ error: null });
  }

  render(): React.ReactNode {
    if (this.state.error === null) return this.props.children;
    return (
      <div className="nbml-sb-error" role="alert" style={{ color: "var(--jp-error-color1, red)" }}>
        {`Could not show ${this.props.what}: ${this.state.error}`}
      </div>
    );
  }
}

/** One line for a sweep: trials done of the study's total, by state, and the best so far. */
export function sweepText(s: SweepInfo): string {
  const parts = [`sweep ${text(s.study)}: ${plain(s.done)}/${plain(s.total)} trials`];
  for (const k of ["running", "complete", "pruned", "failed"] as const) {
    if (finite(s[k])) parts.push(`${plain(s[k])} ${k}`);
  }
  if (s.best_trial != null) {
    parts.push(`best #${plain(s.best_trial)} ${text(s.objective)} ${formatNumber(s.best)}`);
  }
  return parts.join(" · ");
}

/** A model that is sweeping shows as one sweep entry: the sweep's progress over its trials. */
function SweepLine(props: { sweep: SweepInfo }): JSX.Element {
  const s = props.sweep;
  const total = finite(s.total) ?? 0;
  const done = total > 0 ? Math.min((finite(s.done) ?? 0) / total, 1) : 0;
  return (
    <div className="nbml-sb-sweep" data-sweep={text(s.study)} data-sweep-status={text(s.status)}>
      <div className="nbml-sb-sweep-text">{sweepText(s)}</div>
      <div className="nbml-sb-progress" title={`${Math.round(done * 100)}% of the trials`}>
        <div style={{ width: percent(done) }} />
      </div>
    </div>
  );
}

export function ModelRow(props: {
  doc: DocEntry;
  model: ModelInfo;
  actions: Actions;
}): JSX.Element {
  const { doc, model, actions } = props;
  const name = text(model.name);
  const status = statusWord(model);
  const progress = progressFraction(model.progress);
  const flagged = flaggedText(Array.isArray(model.flags) ? model.flags : []);
  return (
    <li className="nbml-sb-model" data-model={name} data-status={status}>
      <div className="nbml-sb-line">
        <button
          className="nbml-sb-name"
          title="Open the inspector: layers and their statistics over training"
          onClick={() => actions.inspect(doc.id, model)}
        >
          {name}
        </button>
        <span className={`nbml-sb-status nbml-sb-${status}`}>{status}</span>
        {flagged ? <span className="nbml-sb-flagged">{flagged}</span> : null}
        <span className="nbml-sb-epoch">
          {plain(model.epoch)}/{plain(model.epochs)}
        </span>
      </div>
      {model.sweep ? <SweepLine sweep={model.sweep} /> : null}
      <div className="nbml-sb-progress" title={`${Math.round(progress * 100)}%`}>
        <div style={{ width: percent(progress) }} />
      </div>
      <div className="nbml-sb-metrics">{metricText(model.metrics)}</div>
      <div className="nbml-sb-meta">
        {formatDuration(model.elapsed)}
        {model.device ? ` · ${text(model.device)}` : ""} · {count(model.params)} params
      </div>
      {model.message ? <div className="nbml-sb-message">{text(model.message)}</div> : null}
      <div className="nbml-sb-actions">
        {status === "running" || status === "training" ? (
          <button
            className="jp-mod-styled"
            title={model.foreground ? "Interrupts the kernel: nbml stops at the next batch" : ""}
            onClick={() => actions.stop(doc.id, model)}
          >
            Stop
          </button>
        ) : null}
        {/* a kernel read through the server: the inspector reads its run store; Reveal needs
            the notebook open here (docs/notebook7.md) */}
        <button className="jp-mod-styled" onClick={() => actions.inspect(doc.id, model)}>
          Inspect
        </button>
        {model.cell != null && !doc.remote ? (
          <button className="jp-mod-styled" onClick={() => actions.reveal(doc.id, model)}>
            Reveal
          </button>
        ) : null}
      </div>
    </li>
  );
}

/** One device: its memory, and what is in use and the peak where the backend reports them
 * (accelerators; a CPU device says nothing of them). */
export function deviceText(d: Device | null | undefined): string {
  const memory = [bytes(d?.memory)];
  if (finite(d?.memory_used) !== null) memory.unshift(`${bytes(d?.memory_used)} in use`);
  if (finite(d?.memory_peak) !== null) memory.splice(1, 0, `peak ${bytes(d?.memory_peak)}`);
  const of =
    memory.length > 1
      ? `${memory.slice(0, -1).join(", ")} of ${memory[memory.length - 1]}`
      : memory[0];
  return `${text(d?.kind)}:${text(d?.id)} (${of})`;
}

/** The kernel's resident memory ("kernel 512 MiB resident, peak 800 MiB"), or "". */
export function processText(p: DocEntry["process"]): string {
  if (!p || finite(p.rss) === null) return "";
  return (
    `kernel ${bytes(p.rss)} resident` +
    (finite(p.rss_peak) !== null ? `, peak ${bytes(p.rss_peak)}` : "")
  );
}

export function devicesText(doc: DocEntry): string {
  const list = Array.isArray(doc.devices) ? doc.devices : [];
  const devices = list.map(deviceText);
  const host = doc.host ? ` · host ${count(doc.host.cpus)} CPUs, ${bytes(doc.host.memory)}` : "";
  const kernel = processText(doc.process);
  return (
    (devices.length
      ? `devices: ${devices.join(", ")}`
      : "devices: listed after the first training") +
    host +
    (kernel ? ` · ${kernel}` : "")
  );
}

export function DocView(props: { doc: DocEntry; actions: Actions }): JSX.Element {
  const { doc, actions } = props;
  const models = Array.isArray(doc.models) ? doc.models : [];
  return (
    <section
      className="nbml-sb-doc"
      data-doc={doc.name}
      data-nbml={doc.nbml}
      data-event-time={doc.eventTime || undefined}
      data-remote={doc.remote ? "true" : undefined}
    >
      <header>
        <span className="nbml-sb-docname">{doc.name}</span>
        <span className="nbml-sb-kernel">{doc.kernelStatus}</span>
      </header>
      {doc.nbml === "absent" ? (
        <div className="nbml-sb-note">nbml not loaded in this kernel</div>
      ) : null}
      {doc.nbml === "unknown" ? <div className="nbml-sb-note">waiting for the kernel…</div> : null}
      {doc.remote ? (
        <div
          className="nbml-sb-remote"
          title="Read through the Jupyter server: Stop and Inspect work; Reveal needs the notebook open here"
        >
          not open in this tab (another tab, or closed; its kernel still runs)
        </div>
      ) : null}
      {doc.nbml === "loaded" ? <div className="nbml-sb-devices">{devicesText(doc)}</div> : null}
      {doc.notice ? <div className="nbml-sb-note">{text(doc.notice)}</div> : null}
      <ul>
        {models.map((m, i) => (
          <Boundary key={text(m?.name) || `#${i}`} what={`model ${text(m?.name)}`} data={m}>
            <ModelRow doc={doc} model={m} actions={actions} />
          </Boundary>
        ))}
      </ul>
    </section>
  );
}

/** The whole panel for the model's current state: the open inspector, or every entry. */
export function SidebarView(props: { model: SidebarModel; actions: Actions }): JSX.Element {
  const docs = props.model.docs;
  const target = props.model.inspector;
  const doc = target ? props.model.get(target.doc) : undefined;
  if (target && doc) {
    const info = (Array.isArray(doc.models) ? doc.models : []).find(
      (m) => m?.name === target.model,
    );
    const ins = props.model.inspection(target.doc, target.model);
    return (
      <div className="nbml-sb">
        <Boundary what={`the inspector of ${target.model}`} data={[info, ins]}>
          <InspectorView
            docName={doc.name}
            name={target.model}
            model={info}
            inspection={ins}
            close={() => props.model.closeInspector()}
          />
        </Boundary>
      </div>
    );
  }
  return (
    <div className="nbml-sb">
      <h2 className="nbml-sb-title">Models</h2>
      {docs.length === 0 ? (
        <div className="nbml-sb-note">Open a notebook and run %load_ext nbml.</div>
      ) : null}
      {docs.map((d) => (
        <Boundary key={d.id} what={`${d.kind} ${d.name}`} data={d}>
          <DocView doc={d} actions={props.actions} />
        </Boundary>
      ))}
    </div>
  );
}
