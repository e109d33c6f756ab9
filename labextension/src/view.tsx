// The "Models" panel's React view: documents, their kernels' devices and models.
// Everything a kernel sends is rendered as text (React escapes it). A kernel's values are not
// trusted to be well formed: a number may be null (a NaN or an infinity travels as null and shows
// as "nan") or anything else, and each document and each model row sits in an error boundary, so
// whatever a kernel sends, the panel stays up and says what could not be shown.
import React, { useEffect, useState } from "react";

import type { DocEntry, SidebarModel } from "./model";
import type { ModelInfo } from "./protocol";

export interface Actions {
  stop(docId: string, model: ModelInfo): void;
  summary(docId: string, name: string): void;
  reveal(docId: string, model: ModelInfo): void;
}

/** ``v`` if it is a finite number, else null. */
export function finite(v: unknown): number | null {
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

/** A number with 4 significant digits; null, NaN, infinities and non-numbers show as "nan". */
export function num(v: unknown): string {
  const n = finite(v);
  return n === null ? "nan" : String(Number(n.toPrecision(4)));
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

export function seconds(v: unknown): string {
  const s = finite(v);
  if (s === null) return "?";
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  return m < 60
    ? `${m}m${String(Math.floor(s % 60)).padStart(2, "0")}s`
    : `${Math.floor(m / 60)}h${m % 60}m`;
}

/** The first four metrics, losses first: ``loss 0.3 · val_loss nan``. */
export function metricText(m: unknown): string {
  if (!m || typeof m !== "object") return "";
  const metrics = m as Record<string, unknown>;
  const keys = Object.keys(metrics).sort((a, b) => {
    const rank = (k: string): number =>
      (k.startsWith("val_") ? 2 : 0) + (k.endsWith("loss") ? 0 : 1);
    return rank(a) - rank(b) || a.localeCompare(b);
  });
  return keys
    .slice(0, 4)
    .map((k) => `${k} ${num(metrics[k])}`)
    .join(" · ");
}

/** A fraction in 0..1 for a progress bar (0 for anything else). */
function fraction(v: unknown): number {
  const n = finite(v);
  return n === null ? 0 : Math.min(Math.max(n, 0), 1);
}

function text(v: unknown): string {
  return v == null ? "" : String(v);
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

function SummaryTable(props: { summary: DocEntry["summaries"][string] }): JSX.Element {
  const layers = Array.isArray(props.summary.layers) ? props.summary.layers : [];
  return (
    <table className="nbml-sb-summary">
      <thead>
        <tr>
          <th>layer</th>
          <th>type</th>
          <th>output</th>
          <th>params</th>
        </tr>
      </thead>
      <tbody>
        {layers.map((l, i) => (
          <tr key={i}>
            <td>{text(l?.name)}</td>
            <td>{text(l?.type)}</td>
            <td>{text(l?.shape)}</td>
            <td>{count(l?.params)}</td>
          </tr>
        ))}
        <tr>
          <td colSpan={3}>total</td>
          <td>{count(props.summary.total)}</td>
        </tr>
      </tbody>
    </table>
  );
}

export function ModelRow(props: {
  doc: DocEntry;
  model: ModelInfo;
  actions: Actions;
}): JSX.Element {
  const { doc, model, actions } = props;
  const [open, setOpen] = useState(false);
  const name = text(model.name);
  const status = text(model.status);
  const summary = doc.summaries[name];
  const progress = fraction(model.progress);
  return (
    <li className="nbml-sb-model" data-model={name} data-status={status}>
      <div className="nbml-sb-line">
        <span className="nbml-sb-name">{name}</span>
        <span className={`nbml-sb-status nbml-sb-${status}`}>{status}</span>
        <span className="nbml-sb-epoch">
          {plain(model.epoch)}/{plain(model.epochs)}
        </span>
      </div>
      <div className="nbml-sb-progress" title={`${Math.round(progress * 100)}%`}>
        <div style={{ width: `${progress * 100}%` }} />
      </div>
      <div className="nbml-sb-metrics">{metricText(model.metrics)}</div>
      <div className="nbml-sb-meta">
        {seconds(model.elapsed)}
        {model.device ? ` · ${text(model.device)}` : ""} · {count(model.params)} params
      </div>
      {model.message ? <div className="nbml-sb-message">{text(model.message)}</div> : null}
      <div className="nbml-sb-actions">
        {status === "training" ? (
          <button
            className="jp-mod-styled"
            title={model.foreground ? "Interrupts the kernel: nbml stops at the next batch" : ""}
            onClick={() => actions.stop(doc.id, model)}
          >
            Stop
          </button>
        ) : null}
        <button
          className="jp-mod-styled"
          onClick={() => {
            if (!open) actions.summary(doc.id, name);
            setOpen(!open);
          }}
        >
          Summary
        </button>
        {model.cell != null ? (
          <button className="jp-mod-styled" onClick={() => actions.reveal(doc.id, model)}>
            Reveal
          </button>
        ) : null}
      </div>
      {open && summary ? <SummaryTable summary={summary} /> : null}
    </li>
  );
}

function devicesText(doc: DocEntry): string {
  const list = Array.isArray(doc.devices) ? doc.devices : [];
  const devices = list.map((d) => `${text(d?.kind)}:${text(d?.id)} (${bytes(d?.memory)})`);
  const host = doc.host ? ` · host ${count(doc.host.cpus)} CPUs, ${bytes(doc.host.memory)}` : "";
  return (
    (devices.length
      ? `devices: ${devices.join(", ")}`
      : "devices: listed after the first training") + host
  );
}

export function DocView(props: { doc: DocEntry; actions: Actions }): JSX.Element {
  const { doc, actions } = props;
  useEffect(() => {
    // lag from the kernel event to this render, for the benchmark in the browser test: all
    // documents in `nbmlLags`, and per document name in `nbmlLagsByDoc`
    if (doc.eventTime && typeof window !== "undefined") {
      const w = window as unknown as {
        nbmlLags?: number[];
        nbmlLagsByDoc?: Record<string, number[]>;
      };
      const lag = Date.now() / 1000 - doc.eventTime;
      (w.nbmlLags ??= []).push(lag);
      ((w.nbmlLagsByDoc ??= {})[doc.name] ??= []).push(lag);
    }
  }, [doc.eventTime]);
  const models = Array.isArray(doc.models) ? doc.models : [];
  return (
    <section className="nbml-sb-doc" data-doc={doc.name} data-nbml={doc.nbml}>
      <header>
        <span className="nbml-sb-docname">{doc.name}</span>
        <span className="nbml-sb-kernel">{doc.kernelStatus}</span>
      </header>
      {doc.nbml === "absent" ? (
        <div className="nbml-sb-note">nbml not loaded in this kernel</div>
      ) : null}
      {doc.nbml === "unknown" ? <div className="nbml-sb-note">waiting for the kernel…</div> : null}
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

/** The whole panel for the model's current state. */
export function SidebarView(props: { model: SidebarModel; actions: Actions }): JSX.Element {
  const docs = props.model.docs;
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
