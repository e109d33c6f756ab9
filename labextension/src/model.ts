// The sidebar's state: one entry per open notebook or console, and a Signal for the view.
import { ISignal, Signal } from "@lumino/signaling";

import { type Inspection, fromPush, fromReply } from "./inspection";
import type { Device, Host, KernelMsg, ModelInfo, Process } from "./protocol";

export type NbmlState = "unknown" | "absent" | "loaded";

export interface DocEntry {
  id: string;
  name: string;
  kind: "notebook" | "console";
  kernelStatus: string;
  nbml: NbmlState;
  backend: string | null;
  devices: Device[] | null;
  host: Host | null;
  /** The kernel's process and its resident memory. */
  process?: Process | null;
  models: ModelInfo[];
  notice: string;
  /** The model a stop acknowledgement in `notice` is about: cleared once it no longer trains. */
  noticeModel: string | null;
  /** Kernel time (seconds) of the newest event this entry shows. */
  eventTime: number;
  /** Set for a kernel no document here holds, read through the Jupyter server (./remote). */
  remote?: { kernel: string; path: string | null };
}

/** Whether a stop acknowledgement about `m` ("Stopping m at the next batch boundary") still
 * says something new: only while m trains (a model no longer listed has stopped too). */
export function stopPending(m: ModelInfo | undefined): boolean {
  return m !== undefined && m.status === "training";
}

/** The model whose inspector the panel shows, and the entry it belongs to. */
export interface InspectorTarget {
  doc: string;
  model: string;
}

export class SidebarModel {
  private readonly _docs = new Map<string, DocEntry>();
  private readonly _changed = new Signal<this, void>(this);
  /** Each entry's models' inspector state, by entry id and model name. */
  private readonly _inspections = new Map<string, Map<string, Inspection>>();
  private _inspector: InspectorTarget | null = null;

  /** Emitted after every change. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** The entries: this application's documents, then kernels read through the server, each
   * sorted by name. */
  get docs(): DocEntry[] {
    return [...this._docs.values()].sort(
      (a, b) => Number(!!a.remote) - Number(!!b.remote) || a.name.localeCompare(b.name),
    );
  }

  /** Replace the entries read through the server (./remote) with `entries`. */
  setRemote(entries: DocEntry[]): void {
    let changed = false;
    const ids = new Set(entries.map((e) => e.id));
    for (const [id, d] of this._docs) {
      if (d.remote && !ids.has(id)) changed = this._docs.delete(id) || changed;
    }
    for (const e of entries) {
      const old = this._docs.get(e.id);
      if (!old || JSON.stringify(old) !== JSON.stringify(e)) {
        this._docs.set(e.id, e);
        changed = true;
      }
    }
    if (changed) this._changed.emit();
  }

  /** The model whose inspector is open, or null (the list of models is shown). */
  get inspector(): InspectorTarget | null {
    return this._inspector;
  }

  openInspector(doc: string, model: string): void {
    this._inspector = { doc, model };
    this._changed.emit();
  }

  closeInspector(): void {
    this._inspector = null;
    this._changed.emit();
  }

  /** What the panel knows of a model's inspector (pushed records, a reply, the store). */
  inspection(doc: string, model: string): Inspection | undefined {
    return this._inspections.get(doc)?.get(model);
  }

  /** Replace a model's inspector state (read through the server, or an error). */
  setInspection(doc: string, model: string, value: Inspection): void {
    if (!this._docs.has(doc)) return;
    if (!this._inspections.has(doc)) this._inspections.set(doc, new Map());
    this._inspections.get(doc)!.set(model, value);
    this._changed.emit();
  }

  setNotice(id: string, notice: string): void {
    this._update(id, (d) => {
      d.notice = notice;
      d.noticeModel = null;
    });
  }

  get(id: string): DocEntry | undefined {
    return this._docs.get(id);
  }

  add(id: string, name: string, kind: "notebook" | "console"): void {
    if (!this._docs.has(id)) {
      this._docs.set(id, {
        id,
        name,
        kind,
        kernelStatus: "unknown",
        nbml: "unknown",
        backend: null,
        devices: null,
        host: null,
        models: [],
        notice: "",
        noticeModel: null,
        eventTime: 0,
      });
    } else {
      this._docs.get(id)!.name = name;
    }
    this._changed.emit();
  }

  rename(id: string, name: string): void {
    this._update(id, (d) => (d.name = name));
  }

  remove(id: string): void {
    this._inspections.delete(id);
    if (this._inspector?.doc === id) this._inspector = null;
    if (this._docs.delete(id)) this._changed.emit();
  }

  setKernelStatus(id: string, status: string): void {
    this._update(id, (d) => (d.kernelStatus = status));
  }

  setNbml(id: string, state: NbmlState): void {
    this._update(id, (d) => (d.nbml = state));
  }

  /** Forget a kernel's models (restart, shutdown). */
  reset(id: string, state: NbmlState): void {
    this._inspections.delete(id);
    this._update(id, (d) => {
      d.nbml = state;
      d.models = [];
      d.devices = null;
      d.process = null;
      d.backend = null;
      d.notice = "";
      d.noticeModel = null;
    });
  }

  /** Apply one kernel message. */
  apply(id: string, msg: KernelMsg): void {
    this._update(id, (d) => {
      switch (msg.type) {
        case "hello":
          d.nbml = "loaded";
          d.models = [...msg.models];
          d.host = msg.host ?? null;
          if (msg.process !== undefined) d.process = msg.process ?? d.process;
          if (msg.devices !== undefined) d.devices = msg.devices ?? d.devices;
          if (msg.backend !== undefined) d.backend = msg.backend ?? d.backend;
          d.eventTime = msg.time;
          break;
        case "models":
          d.nbml = "loaded";
          for (const m of msg.models) {
            const i = d.models.findIndex((x) => x.name === m.name);
            if (i >= 0) d.models[i] = m;
            else d.models.push(m);
          }
          d.models = [...d.models];
          // a push lists the models that changed: one not in it keeps its notice
          if (d.noticeModel !== null) {
            const m = msg.models.find((x) => x.name === d.noticeModel);
            if (m && !stopPending(m)) {
              d.notice = "";
              d.noticeModel = null;
            }
          }
          if (msg.devices) d.devices = msg.devices;
          if (msg.backend) d.backend = msg.backend;
          if (msg.process) d.process = msg.process;
          d.eventTime = msg.time;
          break;
        case "inspection":
          this._inspect(id, String(msg.model), (old) => fromReply(old, msg));
          break;
        case "inspect":
          this._inspect(id, String(msg.model), (old) => fromPush(old, msg));
          break;
        case "ack":
          d.notice = msg.message;
          d.noticeModel = msg.request === "stop" ? msg.model : null;
          break;
        case "error":
          d.notice = msg.error;
          d.noticeModel = null;
          if (msg.request === "inspect" && this._inspector?.doc === id) {
            const name = this._inspector.model;
            this._inspect(id, name, (old) => ({ ...(old ?? empty()), error: msg.error }));
          }
          break;
      }
    });
  }

  private _inspect(id: string, name: string, fn: (old?: Inspection) => Inspection): void {
    if (!this._inspections.has(id)) this._inspections.set(id, new Map());
    const byModel = this._inspections.get(id)!;
    byModel.set(name, fn(byModel.get(name)));
  }

  private _update(id: string, fn: (d: DocEntry) => void): void {
    const d = this._docs.get(id);
    if (!d) return;
    fn(d);
    this._docs.set(id, { ...d });
    this._changed.emit();
  }
}

function empty(): Inspection {
  return { run: null, layers: [], records: [], flags: [], notes: {}, complete: false };
}
