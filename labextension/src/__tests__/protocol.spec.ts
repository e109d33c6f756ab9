import type { ISessionContext } from "@jupyterlab/apputils";
import { Signal } from "@lumino/signaling";

import { SidebarModel } from "../model";
import { KernelLink } from "../protocol";

// Just enough of a kernel connection and session context for KernelLink.
class FakeComm {
  isDisposed = false;
  opened: unknown[] = [];
  sent: unknown[] = [];
  onMsg: ((msg: unknown) => void) | null = null;
  onClose: ((msg: unknown) => void) | null = null;
  open(data: unknown): void {
    this.opened.push(data);
  }
  send(data: unknown): void {
    this.sent.push(data);
  }
  close(): void {
    this.isDisposed = true;
  }
  /** The kernel closes the comm (what it does for a target it does not know). */
  closeFromKernel(): void {
    this.isDisposed = true;
    this.onClose?.({});
  }
}

class FakeKernel {
  status = "idle";
  isDisposed = false;
  handleComms = true;
  comms: FakeComm[] = [];
  announce: ((comm: FakeComm, msg: unknown) => void) | null = null;
  interrupts = 0;
  registerCommTarget(_: string, cb: (comm: FakeComm, msg: unknown) => void): void {
    this.announce = cb;
  }
  removeCommTarget(): void {
    this.announce = null;
  }
  createComm(): FakeComm {
    const comm = new FakeComm();
    this.comms.push(comm);
    return comm;
  }
  async interrupt(): Promise<void> {
    this.interrupts++;
  }
}

class FakeContext {
  readonly kernelChanged = new Signal<this, { newValue: FakeKernel | null }>(this);
  readonly statusChanged = new Signal<this, string>(this);
  constructor(readonly session: { kernel: FakeKernel | null }) {}
  status(s: string): void {
    this.statusChanged.emit(s);
  }
}

function setUp(): { model: SidebarModel; kernel: FakeKernel; ctx: FakeContext; link: KernelLink } {
  const model = new SidebarModel();
  model.add("a", "a.ipynb", "notebook");
  const kernel = new FakeKernel();
  const ctx = new FakeContext({ kernel });
  const link = new KernelLink(model, "a", ctx as unknown as ISessionContext);
  return { model, kernel, ctx, link };
}

const hello = {
  type: "hello",
  version: 1,
  nbml: "0.1.0",
  host: { cpus: 2, memory: 1024 },
  models: [],
  time: 1,
};

describe("KernelLink", () => {
  it("asks a kernel without nbml once per kernel life, not at every idle", () => {
    const { model, kernel, ctx } = setUp();
    expect(kernel.comms).toHaveLength(1);
    expect(kernel.comms[0].opened).toEqual([{ type: "snapshot", version: 1 }]);
    kernel.comms[0].closeFromKernel(); // no nbml target there
    expect(model.get("a")!.nbml).toBe("absent");
    for (let i = 0; i < 5; i++) {
      ctx.status("busy");
      ctx.status("idle");
    }
    expect(kernel.comms).toHaveLength(1);
    // a restart forgets the kernel and asks again, once
    ctx.status("restarting");
    expect(model.get("a")!.nbml).toBe("unknown");
    ctx.status("starting");
    ctx.status("idle");
    expect(kernel.comms).toHaveLength(2);
    kernel.comms[1].closeFromKernel();
    ctx.status("busy");
    ctx.status("idle");
    expect(kernel.comms).toHaveLength(2);
    expect(model.get("a")!.nbml).toBe("absent");
    // %load_ext nbml: the kernel announces itself
    const announced = new FakeComm();
    kernel.announce!(announced, { content: { data: hello } });
    expect(model.get("a")!.nbml).toBe("loaded");
  });

  it("asks again at idle when the first request is still unanswered after a restart", () => {
    const { kernel, ctx } = setUp();
    ctx.status("restarting"); // the open comm belonged to the old kernel process
    ctx.status("idle");
    expect(kernel.comms).toHaveLength(2);
    ctx.status("busy");
    ctx.status("idle"); // the request is open: no second one
    expect(kernel.comms).toHaveLength(2);
  });

  it("stops a foreground training by interrupt and a background one by message", () => {
    const { kernel, link } = setUp();
    kernel.comms[0].onMsg!({ content: { data: hello } });
    const base = {
      name: "m",
      status: "training",
      epoch: 1,
      epochs: 5,
      progress: 0.2,
      metrics: {},
      elapsed: 1,
      params: 10,
      device: "",
      cell: 2,
      run: "r",
    };
    link.stop({ ...base, foreground: true });
    expect(kernel.interrupts).toBe(1);
    expect(kernel.comms[0].sent).toEqual([]);
    link.stop({ ...base, foreground: false });
    expect(kernel.comms[0].sent).toEqual([{ type: "stop", version: 1, model: "m" }]);
  });
});
