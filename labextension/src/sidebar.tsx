// The "Models" panel: every open notebook/console, its kernel's devices and models.
// Everything a kernel sends is rendered as text (React escapes it).
import { ReactWidget, UseSignal } from "@jupyterlab/ui-components";
import { LabIcon } from "@jupyterlab/ui-components";
import React, { useEffect, useState } from "react";

import type { DocEntry, SidebarModel } from "./model";
import type { ModelInfo } from "./protocol";

export interface Actions {
  stop(docId: string, model: ModelInfo): void;
  summary(docId: string, name: string): void;
  reveal(docId: string, model: ModelInfo): void;
}

export const modelsIcon = new LabIcon({
  name: "nbml:models",
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="16"><path class="jp-icon3" ' +
    'fill="#616161" d="M3 20h18v2H3zM5 12h3v6H5zm5-6h3v12h-3zm5 3h3v9h-3z"/></svg>',
});

function bytes(n: number | null | undefined): string {
  if (n == null) return "?";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

function seconds(s: number): string {
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  return m < 60
    ? `${m}m${String(Math.floor(s % 60)).padStart(2, "0")}s`
    : `${Math.floor(m / 60)}h${m % 60}m`;
}

function metricText(m: Record<string, number>): string {
  const keys = Object.keys(m).sort((a, b) => {
    const rank = (k: string): number =>
      (k.startsWith("val_") ? 2 : 0) + (k.endsWith("loss") ? 0 : 1);
    return rank(a) - rank(b) || a.localeCompare(b);
  });
  return keys
    .slice(0, 4)
    .map((k) => `${k} ${Number(m[k].toPrecision(4))}`)
    .join(" · ");
}

function ModelRow(props: { doc: DocEntry; model: ModelInfo; actions: Actions }): JSX.Element {
  const { doc, model, actions } = props;
  const [open, setOpen] = useState(false);
  const summary = doc.summaries[model.name];
  const training = model.status === "training";
  return (
    <li className="nbml-sb-model" data-model={model.name} data-status={model.status}>
      <div className="nbml-sb-line">
        <span className="nbml-sb-name">{model.name}</span>
        <span className={`nbml-sb-status nbml-sb-${model.status}`}>{model.status}</span>
        <span className="nbml-sb-epoch">
          {model.epoch}/{model.epochs}
        </span>
      </div>
      <div className="nbml-sb-progress" title={`${Math.round(model.progress * 100)}%`}>
        <div style={{ width: `${Math.min(model.progress, 1) * 100}%` }} />
      </div>
      <div className="nbml-sb-metrics">{metricText(model.metrics)}</div>
      <div className="nbml-sb-meta">
        {seconds(model.elapsed)}
        {model.device ? ` · ${model.device}` : ""} · {model.params.toLocaleString("en-US")} params
      </div>
      {model.message ? <div className="nbml-sb-message">{model.message}</div> : null}
      <div className="nbml-sb-actions">
        {training ? (
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
            if (!open) actions.summary(doc.id, model.name);
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
      {open && summary ? (
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
            {summary.layers.map((l) => (
              <tr key={l.name}>
                <td>{l.name}</td>
                <td>{l.type}</td>
                <td>{l.shape}</td>
                <td>{l.params.toLocaleString("en-US")}</td>
              </tr>
            ))}
            <tr>
              <td colSpan={3}>total</td>
              <td>{summary.total.toLocaleString("en-US")}</td>
            </tr>
          </tbody>
        </table>
      ) : null}
    </li>
  );
}

function DocView(props: { doc: DocEntry; actions: Actions }): JSX.Element {
  const { doc, actions } = props;
  useEffect(() => {
    // lag from the kernel event to this render, for the benchmark in the browser test: all
    // documents in `nbmlLags`, and per document name in `nbmlLagsByDoc`
    if (doc.eventTime) {
      const w = window as unknown as {
        nbmlLags?: number[];
        nbmlLagsByDoc?: Record<string, number[]>;
      };
      const lag = Date.now() / 1000 - doc.eventTime;
      (w.nbmlLags ??= []).push(lag);
      ((w.nbmlLagsByDoc ??= {})[doc.name] ??= []).push(lag);
    }
  }, [doc.eventTime]);
  const devices = doc.devices?.map((d) => `${d.kind}:${d.id} (${bytes(d.memory)})`).join(", ");
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
      {doc.nbml === "loaded" ? (
        <div className="nbml-sb-devices">
          {devices ? `devices: ${devices}` : "devices: listed after the first training"}
          {doc.host ? ` · host ${doc.host.cpus} CPUs, ${bytes(doc.host.memory)}` : ""}
        </div>
      ) : null}
      {doc.notice ? <div className="nbml-sb-note">{doc.notice}</div> : null}
      <ul>
        {doc.models.map((m) => (
          <ModelRow key={m.name} doc={doc} model={m} actions={actions} />
        ))}
      </ul>
    </section>
  );
}

export class SidebarPanel extends ReactWidget {
  constructor(
    private readonly model: SidebarModel,
    private readonly actions: Actions,
  ) {
    super();
    this.id = "nbml-sidebar";
    this.addClass("nbml-sidebar");
    this.title.icon = modelsIcon;
    this.title.caption = "Models";
    this.title.label = "";
  }

  render(): JSX.Element {
    return (
      <UseSignal signal={this.model.changed}>
        {() => (
          <div className="nbml-sb">
            <h2 className="nbml-sb-title">Models</h2>
            {this.model.docs.length === 0 ? (
              <div className="nbml-sb-note">Open a notebook and run %load_ext nbml.</div>
            ) : null}
            {this.model.docs.map((d) => (
              <DocView key={d.id} doc={d} actions={this.actions} />
            ))}
          </div>
        )}
      </UseSignal>
    );
  }
}
