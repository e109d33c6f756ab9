// The sidebar's kernel connection: comm target "nbml" over the document's own kernel connection
// (the wire types are ./protocol). Each link opens its own comm, named by a `client` key that
// stays the same over a page reload (a per-tab id kept in sessionStorage, plus the document), so
// the kernel replaces the comm the page had before the reload; the link also closes its comm on
// dispose and when the page goes away (`pagehide`, wired in ./index).
import type { ISessionContext } from "@jupyterlab/apputils";
import type { Kernel, KernelMessage } from "@jupyterlab/services";
import type { IDisposable } from "@lumino/disposable";

import type { SidebarModel } from "./model";
import type { ClosedMsg, KernelMsg, ModelInfo, Request } from "./protocol";

/** The comm target and the protocol version (docs/protocol.md). */
export const TARGET = "nbml";
export const VERSION = 1;

const TAB_KEY = "nbml:tab";

function randomId(): string {
  return Math.random().toString(36).slice(2, 10) + Date.now().toString(36).slice(-4);
}

function sessionStore(): Pick<Storage, "getItem" | "setItem"> | null {
  try {
    return typeof sessionStorage === "undefined" ? null : sessionStorage;
  } catch {
    return null; // storage disabled
  }
}

/**
 * An id for this browser tab that survives a page reload (sessionStorage is per tab and kept
 * over reloads); `renew` makes a new one (a duplicated tab starts with a copy of the old tab's).
 */
export function tabId(store = sessionStore(), renew = false): string {
  let id = renew ? null : (store?.getItem(TAB_KEY) ?? null);
  if (!id) {
    id = randomId();
    try {
      store?.setItem(TAB_KEY, id);
    } catch {
      // storage full or disabled: the id lasts as long as the page
    }
  }
  return id;
}

/** The data of the kernel's comm_close, when it closes a comm itself. */
/**
 * One document's kernel as the sidebar sees it: keeps an `nbml` comm open, feeds the model,
 * and follows kernel changes, restarts and shutdowns.
 */
export class KernelLink implements IDisposable {
  private _comm: Kernel.IComm | null = null;
  /** The kernel's announcement comm (shared by every frontend), heard until ours answers. */
  private _announce: Kernel.IComm | null = null;
  private _kernel: Kernel.IKernelConnection | null = null;
  private _disposed = false;
  private _hello = false;
  /** Our own comm has answered with a hello: the announcement comm is no longer needed. */
  private _ownHello = false;
  /** The kernel closed our snapshot request: nbml is not loaded there (until it announces). */
  private _absent = false;
  private _client: string;
  private _renewals = 0;

  /**
   * @param slot names the document in this tab (its path and an ordinal); with the tab's id it
   *   makes the `client` key the kernel keeps one comm for.
   */
  constructor(
    private readonly model: SidebarModel,
    readonly id: string,
    private readonly context: ISessionContext,
    private readonly slot: string = id,
  ) {
    this._client = `${tabId()}/${slot}`;
    context.kernelChanged.connect(this._onKernelChanged, this);
    context.statusChanged.connect(this._onStatus, this);
    this._attach(context.session?.kernel ?? null);
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  /** The key the kernel keeps one comm for: this tab and this document. */
  get client(): string {
    return this._client;
  }

  /** Stop a training: a comm request in the background, a kernel interrupt in the foreground. */
  stop(info: ModelInfo): void {
    if (info.foreground) {
      void this._kernel?.interrupt();
    } else {
      this.send({ type: "stop", version: VERSION, model: info.name });
    }
  }

  /** Ask for a model's inspector (answered with an `inspection`; new records are pushed). */
  inspect(name: string): void {
    this.send({ type: "inspect", version: VERSION, model: name });
  }

  send(request: Request): void {
    if (!this._comm || this._comm.isDisposed) this._openComm();
    if (request.type !== "snapshot" && this._comm && !this._comm.isDisposed) {
      this._comm.send(request as unknown as KernelMessage.ICommMsgMsg["content"]["data"]);
    }
  }

  /** Close our comm (the page is going away); `reopen` opens a new one. */
  close(): void {
    const comm = this._comm;
    this._comm = null;
    if (comm && !comm.isDisposed) {
      try {
        comm.close();
      } catch {
        // the kernel is gone
      }
    }
  }

  /** Open a comm again after `close` (the page came back from the back/forward cache). */
  reopen(): void {
    if (!this._comm && this._kernel && !this._absent) this._openComm();
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
      this._announce = null;
      this._hello = false;
      this._ownHello = false;
      this._absent = false;
      this.model.reset(this.id, status === "dead" ? "absent" : "unknown");
    } else if (status === "idle" && !this._hello && !this._absent && !this._comm && this._kernel) {
      // ask once per kernel life: a kernel without nbml closes the comm, and asking again at
      // every idle would keep it busy answering (each comm_open makes it busy, then idle)
      this._openComm();
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
    this._openComm();
  }

  private _detach(): void {
    if (this._kernel && !this._kernel.isDisposed) {
      this._kernel.removeCommTarget(TARGET, this._onAnnounce);
    }
    this.close(); // never the announcement comm: other frontends share it
    this._announce = null;
    this._kernel = null;
    this._hello = false;
    this._ownHello = false;
    this._absent = false;
  }

  /**
   * The kernel opened a comm to us: nbml was just loaded there. Its hello shows at once; its
   * pushes are heard until our own comm (opened now, answered once the kernel is free) says
   * hello, and then the kernel closes it.
   */
  private readonly _onAnnounce = (comm: Kernel.IComm, msg: KernelMessage.ICommOpenMsg): void => {
    this._announce = comm;
    comm.onMsg = (m) => {
      if (!this._ownHello && this._announce === comm) this._handle(m.content.data);
    };
    comm.onClose = () => {
      if (this._announce === comm) this._announce = null;
    };
    this._handle(msg.content.data);
    this._absent = false;
    if (!this._comm || this._comm.isDisposed) this._openComm();
  };

  /** Open our own comm with a snapshot request naming this client. */
  private _openComm(): void {
    const kernel = this._kernel;
    if (!kernel || kernel.isDisposed || !kernel.handleComms) return;
    let comm: Kernel.IComm;
    try {
      comm = kernel.createComm(TARGET);
    } catch {
      return;
    }
    this._use(comm);
    this._ownHello = false;
    const first: Request = { type: "snapshot", version: VERSION, client: this._client };
    comm.open(first as unknown as KernelMessage.ICommOpenMsg["content"]["data"]);
  }

  private _use(comm: Kernel.IComm): void {
    this._comm = comm;
    comm.onMsg = (msg) => {
      const data = msg.content.data as { type?: string };
      if (data?.type === "hello" && this._comm === comm) this._ownHello = true;
      this._handle(msg.content.data);
    };
    comm.onClose = (msg) => {
      if (this._comm !== comm) return;
      this._comm = null;
      const why = (msg?.content?.data ?? {}) as Partial<ClosedMsg>;
      if (why.type === "closed" && why.reason === "replaced" && this._renewals < 3) {
        // another live page uses our key (a duplicated tab copies sessionStorage): take a
        // new tab id and a new comm
        this._renewals++;
        this._client = `${tabId(undefined, true)}/${this.slot}`;
        this._openComm();
      } else if (!this._hello) {
        // the kernel closed a comm to an unknown target: nbml is not loaded there
        this._absent = true;
        this.model.setNbml(this.id, "absent");
      }
    };
  }

  private _handle(data: unknown): void {
    const msg = data as KernelMsg;
    if (!msg || typeof msg !== "object" || msg.version !== VERSION) return;
    if (msg.type === "hello") this._hello = true;
    this.model.apply(this.id, msg);
  }
}
