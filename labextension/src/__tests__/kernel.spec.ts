import type { ISessionContext } from "@jupyterlab/apputils";
import { Signal } from "@lumino/signaling";

import { SidebarModel } from "../model";
import { KernelLink, tabId } from "../kernel";

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
  closeFromKernel(data: unknown = {}): void {
    this.isDisposed = true;
    this.onClose?.({ content: { comm_id: "x", data } });
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
    expect(kernel.comms[0].opened).toEqual([
      { type: "snapshot", version: 1, client: expect.stringMatching(/\/a$/) },
    ]);
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

  it("asks for a model's inspector on its own comm and applies the pushed records", () => {
    const { model, kernel, link } = setUp();
    kernel.comms[0].onMsg!({ content: { data: hello } });
    link.inspect("m");
    expect(kernel.comms[0].sent).toEqual([{ type: "inspect", version: 1, model: "m" }]);
    const layer = { name: "d", type: "Dense", shape: "(None, 3)", trainable: 9, non_trainable: 0, activation: null }; // prettier-ignore
    const row = { layer: "d", weight_norm: 1, update_ratio: null, grad_norm: null, act_mean: null, act_std: null, dead_fraction: null }; // prettier-ignore
    const push = { type: "inspect", version: 1, model: "m", run: "r", layers: [layer], flags: [], notes: {}, time: 2 }; // prettier-ignore
    kernel.comms[0].onMsg!({ content: { data: { ...push, record: { epoch: 1, rows: [row] } } } });
    kernel.comms[0].onMsg!({ content: { data: { ...push, record: { epoch: 2, rows: [row] } } } });
    expect(model.inspection("a", "m")?.records.map((r) => r.epoch)).toEqual([1, 2]);
  });

  it("listens to the announcement only until its own comm says hello", () => {
    const { model, kernel, ctx } = setUp();
    kernel.comms[0].closeFromKernel(); // nbml not loaded yet
    ctx.status("idle");
    const announced = new FakeComm();
    kernel.announce!(announced, { content: { data: hello } });
    expect(model.get("a")!.nbml).toBe("loaded");
    expect(kernel.comms).toHaveLength(2); // its own comm, keyed by client
    const own = kernel.comms[1];
    expect(own.opened).toEqual([{ type: "snapshot", version: 1, client: expect.any(String) }]);
    const push = (name: string) => ({
      content: { data: { type: "models", version: 1, time: 2, models: [{ name }] } },
    });
    announced.onMsg!(push("early")); // while the kernel is busy, pushes come this way
    expect(model.get("a")!.models.map((m) => m.name)).toEqual(["early"]);
    own.onMsg!({ content: { data: hello } });
    announced.onMsg!(push("twice")); // heard on its own comm from now on
    expect(model.get("a")!.models).toEqual([]);
    own.onMsg!(push("late"));
    expect(model.get("a")!.models.map((m) => m.name)).toEqual(["late"]);
    // requests go on its own comm, never on the shared announcement
    own.onMsg!({ content: { data: hello } });
    ctx.status("busy");
    ctx.status("idle");
    expect(kernel.comms).toHaveLength(2);
    expect(announced.sent).toEqual([]);
  });

  it("closes its own comm on pagehide, reopens, and takes a new key when replaced", () => {
    const { kernel, link } = setUp();
    const first = kernel.comms[0];
    first.onMsg!({ content: { data: hello } });
    const key = link.client;
    link.close();
    expect(first.isDisposed).toBe(true);
    link.reopen();
    expect(kernel.comms).toHaveLength(2);
    expect((kernel.comms[1].opened[0] as { client: string }).client).toBe(key);
    // another live page with the same key (a duplicated tab) replaced this comm
    kernel.comms[1].closeFromKernel({ type: "closed", version: 1, reason: "replaced" });
    expect(kernel.comms).toHaveLength(3);
    const renewed = (kernel.comms[2].opened[0] as { client: string }).client;
    expect(renewed).not.toBe(key);
    expect(renewed.endsWith("/a")).toBe(true);
  });

  it("keeps a tab id over reloads in sessionStorage", () => {
    const data = new Map<string, string>();
    const store = {
      getItem: (k: string) => data.get(k) ?? null,
      setItem: (k: string, v: string) => void data.set(k, v),
    };
    const id = tabId(store);
    expect(tabId(store)).toBe(id);
    const renewed = tabId(store, true);
    expect(renewed).not.toBe(id);
    expect(tabId(store)).toBe(renewed);
  });
});
