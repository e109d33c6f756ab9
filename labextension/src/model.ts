// The sidebar's state: one entry per open notebook or console, and a Signal for the view.
import { ISignal, Signal } from "@lumino/signaling";

import type { Device, Host, KernelMsg, Layer, ModelInfo } from "./protocol";

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
  models: ModelInfo[];
  summaries: Record<string, { layers: Layer[]; total: number }>;
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

export class SidebarModel {
  private readonly _docs = new Map<string, DocEntry>();
  private readonly _changed = new Signal<this, void>(this);

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
        summaries: {},
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
    this._update(id, (d) => {
      d.nbml = state;
      d.models = [];
      d.summaries = {};
      d.devices = null;
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
          d.eventTime = msg.time;
          break;
        case "summary":
          d.summaries = { ...d.summaries, [msg.model]: { layers: msg.layers, total: msg.total } };
          break;
        case "ack":
          d.notice = msg.message;
          d.noticeModel = msg.request === "stop" ? msg.model : null;
          break;
        case "error":
          d.notice = msg.error;
          d.noticeModel = null;
          break;
      }
    });
  }

  private _update(id: string, fn: (d: DocEntry) => void): void {
    const d = this._docs.get(id);
    if (!d) return;
    fn(d);
    this._docs.set(id, { ...d });
    this._changed.emit();
  }
}
