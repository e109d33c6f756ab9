// The sidebar's side of nbml's kernel protocol (docs/protocol.md): comm target "nbml" over the
// document's own kernel connection.
import type { ISessionContext } from "@jupyterlab/apputils";
import type { Kernel, KernelMessage } from "@jupyterlab/services";
import type { IDisposable } from "@lumino/disposable";

import type { SidebarModel } from "./model";

export const TARGET = "nbml";
export const VERSION = 1;

export interface Device {
  kind: string;
  id: number;
  memory: number | null;
  name?: string;
}

export interface Host {
  cpus: number;
  memory: number | null;
}

export interface ModelInfo {
  name: string;
  status: string;
  epoch: number;
  epochs: number;
  progress: number;
  metrics: Record<string, number>;
  elapsed: number;
  params: number;
  device: string;
  cell: number | null;
  foreground: boolean;
  run: string | null;
  message?: string;
}

export interface Layer {
  name: string;
  type: string;
  shape: string;
  params: number;
}

/** Messages the kernel sends. */
export type KernelMsg =
  | {
      type: "hello";
      version: number;
      nbml: string;
      backend?: string | null;
      keras?: string | null;
      devices?: Device[] | null;
      host?: Host;
      models: ModelInfo[];
      time: number;
    }
  | {
      type: "models";
      version: number;
      models: ModelInfo[];
      time: number;
      backend?: string | null;
      devices?: Device[] | null;
    }
  | { type: "summary"; version: number; model: string; layers: Layer[]; total: number }
  | { type: "ack"; version: number; request: string; model: string; message: string }
  | { type: "error"; version: number; error: string; request?: string };

/** Requests the sidebar sends. */
export type Request =
  | { type: "snapshot"; version: number }
  | { type: "stop"; version: number; model: string }
  | { type: "summary"; version: number; model: string };

/**
 * One document's kernel as the sidebar sees it: keeps an `nbml` comm open, feeds the model,
 * and follows kernel changes, restarts and shutdowns.
 */
export class KernelLink implements IDisposable {
  private _comm: Kernel.IComm | null = null;
  private _kernel: Kernel.IKernelConnection | null = null;
  private _disposed = false;
  private _hello = false;
  /** The kernel closed our snapshot request: nbml is not loaded there (until it announces). */
  private _absent = false;

  constructor(
    private readonly model: SidebarModel,
    readonly id: string,
    private readonly context: ISessionContext,
  ) {
    context.kernelChanged.connect(this._onKernelChanged, this);
    context.statusChanged.connect(this._onStatus, this);
    this._attach(context.session?.kernel ?? null);
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  /** Stop a training: a comm request in the background, a kernel interrupt in the foreground. */
  stop(info: ModelInfo): void {
    if (info.foreground) {
      void this._kernel?.interrupt();
    } else {
      this.send({ type: "stop", version: VERSION, model: info.name });
    }
  }

  summary(name: string): void {
    this.send({ type: "summary", version: VERSION, model: name });
  }

  send(request: Request): void {
    if (this._comm && !this._comm.isDisposed) {
      this._comm.send(request as unknown as KernelMessage.ICommMsgMsg["content"]["data"]);
    } else {
      this._openComm(request);
    }
  }

  dispose(): void {
    if (this._disposed) return;
    this._disposed = true;
    this.context.kernelChanged.disconnect(this._onKernelChanged, this);
    this.context.statusChanged.disconnect(this._onStatus, this);
    this._detach();
    this.model.remove(this.id);
  }

  private _onKernelChanged(
    _: ISessionContext,
    change: { newValue: Kernel.IKernelConnection | null },
  ): void {
    this._detach();
    this._attach(change.newValue);
  }

  private _onStatus(_: ISessionContext, status: Kernel.Status): void {
    this.model.setKernelStatus(this.id, status);
    if (status === "restarting" || status === "autorestarting" || status === "dead") {
      this._comm = null;
      this._hello = false;
      this._absent = false;
      this.model.reset(this.id, status === "dead" ? "absent" : "unknown");
    } else if (status === "idle" && !this._hello && !this._absent && !this._comm && this._kernel) {
      // ask once per kernel life: a kernel without nbml closes the comm, and asking again at
      // every idle would keep it busy answering (each comm_open makes it busy, then idle)
      this._openComm({ type: "snapshot", version: VERSION });
    }
  }

  private _attach(kernel: Kernel.IKernelConnection | null): void {
    this._kernel = kernel;
    this.model.setKernelStatus(this.id, kernel ? kernel.status : "no kernel");
    if (!kernel) {
      this.model.reset(this.id, "absent");
      return;
    }
    kernel.registerCommTarget(TARGET, this._onAnnounce);
    this._openComm({ type: "snapshot", version: VERSION });
  }

  private _detach(): void {
    if (this._kernel && !this._kernel.isDisposed) {
      this._kernel.removeCommTarget(TARGET, this._onAnnounce);
    }
    if (this._comm && !this._comm.isDisposed) {
      try {
        this._comm.close();
      } catch {
        // the kernel is gone
      }
    }
    this._comm = null;
    this._kernel = null;
    this._hello = false;
    this._absent = false;
  }

  /** The kernel opened a comm to us: nbml was just loaded there. */
  private readonly _onAnnounce = (comm: Kernel.IComm, msg: KernelMessage.ICommOpenMsg): void => {
    this._use(comm);
    this._handle(msg.content.data as unknown as KernelMsg);
  };

  private _openComm(first: Request): void {
    const kernel = this._kernel;
    if (!kernel || kernel.isDisposed || !kernel.handleComms) return;
    let comm: Kernel.IComm;
    try {
      comm = kernel.createComm(TARGET);
    } catch {
      return;
    }
    this._use(comm);
    comm.open(first as unknown as KernelMessage.ICommOpenMsg["content"]["data"]);
  }

  private _use(comm: Kernel.IComm): void {
    this._comm = comm;
    comm.onMsg = (msg) => this._handle(msg.content.data as unknown as KernelMsg);
    comm.onClose = () => {
      if (this._comm === comm) {
        this._comm = null;
        // the kernel closed a comm to an unknown target: nbml is not loaded there
        if (!this._hello) {
          this._absent = true;
          this.model.setNbml(this.id, "absent");
        }
      }
    };
  }

  private _handle(msg: KernelMsg): void {
    if (!msg || typeof msg !== "object" || msg.version !== VERSION) return;
    if (msg.type === "hello") this._hello = true;
    this.model.apply(this.id, msg);
  }
}
