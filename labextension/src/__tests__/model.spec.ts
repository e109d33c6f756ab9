import { SidebarModel } from "../model";
import type { ModelInfo } from "../protocol";

function info(name: string, extra: Partial<ModelInfo> = {}): ModelInfo {
  return {
    name,
    status: "training",
    epoch: 1,
    epochs: 10,
    progress: 0.15,
    metrics: { loss: 0.5 },
    elapsed: 1.2,
    params: 100,
    device: "cpu:0",
    cell: 3,
    foreground: true,
    run: "r1",
    ...extra,
  };
}

describe("SidebarModel", () => {
  it("lists documents by name and signals changes", () => {
    const model = new SidebarModel();
    let changes = 0;
    model.changed.connect(() => changes++);
    model.add("b", "b.ipynb", "notebook");
    model.add("a", "a.ipynb", "notebook");
    expect(model.docs.map((d) => d.name)).toEqual(["a.ipynb", "b.ipynb"]);
    expect(model.get("a")?.nbml).toBe("unknown");
    expect(changes).toBe(2);
  });

  it("takes a hello as the full state and models messages as changes", () => {
    const model = new SidebarModel();
    model.add("a", "a.ipynb", "notebook");
    model.apply("a", {
      type: "hello",
      version: 1,
      nbml: "0.1.0",
      host: { cpus: 2, memory: 1024 },
      devices: [{ kind: "cpu", id: 0, memory: 1024 }],
      models: [info("m1"), info("m2", { status: "idle" })],
      time: 10,
    });
    const doc = model.get("a")!;
    expect(doc.nbml).toBe("loaded");
    expect(doc.models.map((m) => m.name)).toEqual(["m1", "m2"]);
    model.apply("a", {
      type: "models",
      version: 1,
      models: [info("m1", { epoch: 5 }), info("m3")],
      time: 11,
    });
    const after = model.get("a")!;
    expect(after.models.map((m) => [m.name, m.epoch])).toEqual([
      ["m1", 5],
      ["m2", 1],
      ["m3", 1],
    ]);
    expect(after.eventTime).toBe(11);
    expect(after.devices).toEqual([{ kind: "cpu", id: 0, memory: 1024 }]);
  });

  it("forgets a kernel's models on restart and marks kernels without nbml", () => {
    const model = new SidebarModel();
    model.add("a", "a.ipynb", "notebook");
    model.apply("a", { type: "models", version: 1, models: [info("m1")], time: 1 });
    model.reset("a", "unknown");
    expect(model.get("a")!.models).toEqual([]);
    model.setNbml("a", "absent");
    expect(model.get("a")!.nbml).toBe("absent");
    model.remove("a");
    expect(model.docs).toEqual([]);
  });

  it("keeps notices, and ignores messages for unknown documents", () => {
    const model = new SidebarModel();
    model.add("a", "a.ipynb", "notebook");
    model.apply("a", { type: "error", version: 1, error: "no model named 'x'" });
    expect(model.get("a")!.notice).toBe("no model named 'x'");
    model.apply("zzz", { type: "error", version: 1, error: "ignored" });
    expect(model.get("zzz")).toBeUndefined();
  });

  it("drops a stop acknowledgement once the model no longer trains", () => {
    const model = new SidebarModel();
    model.add("a", "a.ipynb", "notebook");
    model.apply("a", { type: "models", version: 1, models: [info("m1"), info("m2")], time: 1 });
    model.apply("a", {
      type: "ack",
      version: 1,
      request: "stop",
      model: "m1",
      message: "Stopping m1 at the next batch boundary; weights and history are kept.",
    });
    expect(model.get("a")!.notice).toMatch(/^Stopping m1/);
    // still training (the stop applies at the next batch), or another model changed: kept
    model.apply("a", { type: "models", version: 1, models: [info("m1"), info("m2")], time: 2 });
    model.apply("a", {
      type: "models",
      version: 1,
      models: [info("m2", { status: "idle" })],
      time: 3,
    });
    expect(model.get("a")!.notice).toMatch(/^Stopping m1/);
    model.apply("a", {
      type: "models",
      version: 1,
      models: [info("m1", { status: "stopped" })],
      time: 4,
    });
    expect(model.get("a")!.notice).toBe("");
    // an error stays until the next reply
    model.apply("a", { type: "error", version: 1, error: "no model named 'x'" });
    model.apply("a", {
      type: "models",
      version: 1,
      models: [info("m1", { status: "idle" })],
      time: 5,
    });
    expect(model.get("a")!.notice).toBe("no model named 'x'");
  });

  it("keeps an injected model name as data, not markup", () => {
    const model = new SidebarModel();
    model.add("a", "a.ipynb", "notebook");
    const evil = "<img src=x onerror=alert(1)>";
    model.apply("a", { type: "models", version: 1, models: [info(evil)], time: 1 });
    expect(model.get("a")!.models[0].name).toBe(evil);
  });
});
