// The Models panel's inspector: the state built from the kernel's `inspection` reply and
// `inspect` pushes (and from the run store, for a kernel read through the server), its
// rendering (every layer with its output shape and parameters, a sparkline per statistic,
// flagged layers with their reason as text, notes, "nan" for what was not finite), and the
// devices' memory in the list.
import { ServerConnection } from "@jupyterlab/services";
import React from "react";
import { renderToStaticMarkup } from "react-dom/server";

import { fromPush, fromReply, fromStore, mergeRecords, series } from "../inspection";
import { lastValue, sparkPoints } from "../inspector";
import { SidebarModel } from "../model";
import type {
  InspectMsg,
  InspectRecord,
  InspectionMsg,
  KernelMsg,
  ModelInfo,
  StoredInspection,
} from "../protocol";
import { REMOTE, RemoteKernels } from "../remote";
import { Actions, SidebarView, deviceText, devicesText } from "../view";

const EVIL = "<img src=x onerror=alert(1)>";

const LAYERS = [
  { name: "conv2d", type: "Conv2D", shape: "(None, 6, 6, 8)", trainable: 80, non_trainable: 0, activation: "relu" },
  { name: "max_pooling2d", type: "MaxPooling2D", shape: "(None, 3, 3, 8)", trainable: 0, non_trainable: 0, activation: null },
  { name: "flatten", type: "Flatten", shape: "(None, 72)", trainable: 0, non_trainable: 0, activation: null },
  { name: EVIL, type: "Dense", shape: "(None, 10)", trainable: 730, non_trainable: 2, activation: "relu" },
]; // prettier-ignore

function record(epoch: number, dense: Partial<Record<string, unknown>> = {}): InspectRecord {
  const row = (layer: string, w: number | null) => ({
    layer,
    weight_norm: w,
    update_ratio: null,
    grad_norm: w === null ? null : w / 100,
    act_mean: 0.1,
    act_std: 0.2,
    dead_fraction: 0.1 * epoch,
  });
  return {
    epoch,
    rows: [
      row("conv2d", epoch),
      row("max_pooling2d", null),
      row("flatten", null),
      { ...row(EVIL, 2 * epoch), ...dense },
    ],
  } as InspectRecord;
}

const FLAG = { layer: EVIL, kind: "dead_units", epoch: 2, reason: "100% of 10 units dead" };

function reply(records: InspectRecord[], extra: Partial<InspectionMsg> = {}): InspectionMsg {
  return {
    type: "inspection",
    version: 1,
    model: "cnn",
    run: "r1",
    status: "running",
    layers: LAYERS,
    records,
    flags: [],
    notes: {},
    total: 812,
    ...extra,
  };
}

function push(epoch: number, extra: Partial<InspectMsg> = {}): InspectMsg {
  return {
    type: "inspect",
    version: 1,
    model: "cnn",
    run: "r1",
    layers: LAYERS,
    record: record(epoch),
    flags: epoch >= 2 ? [FLAG] : [],
    notes: {},
    time: epoch,
    ...extra,
  };
}

function info(extra: Partial<ModelInfo> = {}): ModelInfo {
  return {
    name: "cnn",
    status: "training",
    run_status: "running",
    epoch: 2,
    epochs: 6,
    progress: 0.3,
    metrics: { loss: 0.5 },
    elapsed: 1,
    params: 812,
    device: "",
    cell: 3,
    foreground: false,
    run: "r1",
    inspected: "r1",
    flags: [],
    ...extra,
  };
}

const noop: Actions = { stop: () => undefined, inspect: () => undefined, reveal: () => undefined };

function rendered(model: SidebarModel): string {
  return renderToStaticMarkup(React.createElement(SidebarView, { model, actions: noop }));
}

function setUp(): SidebarModel {
  const model = new SidebarModel();
  model.add("a", "a.ipynb", "notebook");
  model.apply("a", { type: "models", version: 1, models: [info()], time: 1 });
  return model;
}

describe("the inspector's state", () => {
  it("grows by one record per push, and a new run starts afresh", () => {
    let ins = fromPush(undefined, push(1));
    ins = fromPush(ins, push(2));
    ins = fromPush(ins, push(2)); // the same record twice: kept once
    expect(ins.records.map((r) => r.epoch)).toEqual([1, 2]);
    expect(ins.flags).toEqual([FLAG]);
    expect(ins.complete).toBe(false);
    const next = fromPush(ins, push(1, { run: "r2", flags: [] }));
    expect([next.run, next.records.length, next.flags.length]).toEqual(["r2", 1, 0]);
  });

  it("takes a reply whole and keeps the records pushed after it was made", () => {
    const pushed = fromPush(fromPush(undefined, push(3)), push(4));
    const ins = fromReply(pushed, reply([record(1), record(2), record(3)], { flags: [FLAG] }));
    expect(ins.records.map((r) => r.epoch)).toEqual([1, 2, 3, 4]);
    expect(ins.complete).toBe(true);
    expect(ins.flags).toEqual([FLAG]);
    // a reply about another run replaces what was pushed
    expect(fromReply(pushed, reply([record(1)], { run: "r0" })).records.length).toBe(1);
    expect(mergeRecords([record(2)], [record(1)]).map((r) => r.epoch)).toEqual([1, 2]);
  });

  it("reads a layer's series, null where not available, marked where not finite", () => {
    const bad = record(3, { weight_norm: null, nonfinite: ["weight_norm"] });
    const s = series([record(1), record(2), bad], EVIL, "weight_norm");
    expect(s.values).toEqual([2, 4, null]);
    expect(s.nonfinite).toEqual([false, false, true]);
    expect(lastValue(s)).toBe("nan");
    const pool = series([record(1)], "max_pooling2d", "weight_norm");
    expect([pool.values, lastValue(pool)]).toEqual([[null], ""]);
  });

  it("draws a sparkline with gaps, log scale and marks for non-finite values", () => {
    const s = { values: [1, 10, null, 1000], nonfinite: [false, false, true, false] };
    const lin = sparkPoints(s, false, 94, 22);
    expect(lin.runs.map((r) => r.length)).toEqual([2, 1]);
    expect(lin.bad).toEqual([2 + 2 * 30]);
    expect(lin.drawn).toBe(3);
    const log = sparkPoints(s, true, 94, 22);
    // on a log scale 10 lies halfway between 1 and 1000's third: y of 1, 10 and 1000
    const ys = [log.runs[0][0][1], log.runs[0][1][1], log.runs[1][0][1]];
    expect(ys[0] - ys[1]).toBeCloseTo((ys[0] - ys[2]) / 3, 5);
    // a gradient norm of 0 (vanished) sits at the bottom, a decade below the smallest one
    const zero = sparkPoints({ values: [0, 10, 100], nonfinite: [false, false, false] }, true);
    expect(zero.drawn).toBe(3);
    const [y0, y10, y100] = zero.runs[0].map((p) => p[1]);
    expect(y0 - y10).toBeCloseTo(y10 - y100, 5);
    expect(sparkPoints({ values: [0, 0], nonfinite: [false, false] }, true).drawn).toBe(2);
  });

  it("builds the state of a stored run with the listing's flags", () => {
    const stored: StoredInspection = {
      version: 1,
      kernel: "k",
      run: "r1",
      model: "cnn",
      status: "running",
      layers: LAYERS,
      records: [record(2), record(1)],
      notes: { gradients: "not available (x)" },
    };
    const ins = fromStore(stored, [FLAG]);
    expect(ins.records.map((r) => r.epoch)).toEqual([1, 2]);
    expect([ins.flags, ins.notes, ins.complete]).toEqual([[FLAG], stored.notes, true]);
  });
});

describe("the panel's inspector", () => {
  it("lists every layer with its output shape, parameters and sparklines, flags as text", () => {
    const model = setUp();
    model.apply("a", push(1) as KernelMsg);
    model.apply("a", push(2) as KernelMsg);
    model.apply("a", {
      ...push(3),
      record: record(3, { grad_norm: null, nonfinite: ["grad_norm"] }),
      notes: { activations: "not available for a subclassed model" },
    } as KernelMsg);
    expect(rendered(model)).not.toContain("nbml-sb-inspector"); // the list, until a click
    model.openInspector("a", "cnn");
    const html = rendered(model);
    expect(html).toContain('data-records="3"');
    for (const l of LAYERS.slice(0, 3)) {
      expect(html).toContain(`<span class="nbml-sb-layer">${l.name}</span>`);
      expect(html).toContain(`<span class="nbml-sb-type">${l.type}</span>`);
      expect(html).toContain(`<span class="nbml-sb-shape">${l.shape}</span>`);
    }
    // the injected name is text, not markup; its parameters say the fixed ones
    expect(html).not.toContain("<img");
    expect(html).toContain("&lt;img src=x onerror=alert(1)&gt;");
    expect(html).toContain('<span class="nbml-sb-params">730 (+2 fixed) params</span>');
    expect(html).toContain('<span class="nbml-sb-activation">relu</span>');
    expect(html).toContain("812 parameters");
    expect(html).toContain("records at epochs 1-3");
    expect(html).toContain("1 layer flagged");
    expect(html).toContain("⚠ dead_units at epoch 2: 100% of 10 units dead");
    expect(html).toContain("activations: not available for a subclassed model");
    // conv2d: three points of each statistic; the pooling layer has no weights to draw
    expect(html).toMatch(/data-stat="weight_norm" data-points="3" data-nonfinite="0"/);
    expect(html).toMatch(/data-stat="grad_norm" data-points="2" data-nonfinite="1"/);
    expect(html).toContain('<span class="nbml-sb-last" data-stat="grad_norm">nan</span>');
    const sparks = html.match(/<svg class="nbml-sb-spark"/g) ?? [];
    // conv2d and the dense layer: 3 sparklines; pooling and flatten: the dead fraction only
    expect(sparks.length).toBe(3 + 3 + 1 + 1);
  });

  it("says what went wrong: an unknown model, garbage from a kernel", () => {
    const model = setUp();
    model.openInspector("a", "gone");
    expect(rendered(model)).toContain("reading the inspector…");
    model.apply("a", {
      type: "error",
      version: 1,
      request: "inspect",
      error: "no model named 'gone' in this kernel",
    });
    expect(rendered(model)).toContain("no model named &#x27;gone&#x27; in this kernel");
    const junk = {
      ...reply([{ epoch: 1, rows: "x" }, null] as unknown as InspectRecord[]),
      model: "gone",
      layers: [null, { name: 3, trainable: "many" }],
      flags: [null],
      notes: null,
    };
    model.apply("a", junk as unknown as KernelMsg);
    const html = rendered(model);
    expect(html).toContain('data-model="gone"');
    expect(html).not.toContain("Could not show");
  });

  it("goes back to the list, and forgets a restarted kernel's inspections", () => {
    const model = setUp();
    model.apply("a", push(1) as KernelMsg);
    model.openInspector("a", "cnn");
    model.closeInspector();
    expect(rendered(model)).toContain('data-model="cnn"');
    expect(model.inspection("a", "cnn")?.records.length).toBe(1);
    model.reset("a", "unknown");
    expect(model.inspection("a", "cnn")).toBeUndefined();
    model.openInspector("a", "cnn");
    model.remove("a");
    expect(model.inspector).toBeNull();
  });

  it("marks a row whose model has flagged layers", () => {
    const model = new SidebarModel();
    model.add("a", "a.ipynb", "notebook");
    model.apply("a", {
      type: "models",
      version: 1,
      models: [info({ flags: [FLAG, { ...FLAG, kind: "vanishing_gradient" }] })],
      time: 1,
    });
    expect(rendered(model)).toContain('<span class="nbml-sb-flagged">1 layer flagged</span>');
  });
});

describe("a kernel read through the server", () => {
  const settings = ServerConnection.makeSettings({ baseUrl: "http://h/" });
  const answer = (status: number, body: unknown): Response =>
    ({
      ok: status < 300,
      status,
      json: async () => body,
      text: async () => JSON.stringify(body),
    }) as unknown as Response;

  it("reads the run's stored records, and says why it cannot", async () => {
    const model = new SidebarModel();
    const remote = new RemoteKernels(model, settings, () => ({ kernels: new Set(), paths: new Set() }), () => false); // prettier-ignore
    remote.dispose();
    const entry = { id: `${REMOTE}k1`, name: "b.ipynb", kind: "notebook" as const };
    model.setRemote([
      {
        ...entry,
        kernelStatus: "busy",
        nbml: "loaded",
        backend: "jax",
        devices: null,
        host: null,
        models: [info({ flags: [FLAG] })],
        notice: "",
        noticeModel: null,
        eventTime: 1,
        remote: { kernel: "k1", path: "b.ipynb" },
      },
    ]);
    const urls: string[] = [];
    const spy = jest.spyOn(ServerConnection, "makeRequest").mockImplementation(async (url) => {
      urls.push(url);
      if (url.includes("/r1")) {
        const since = Number(new URL(url).searchParams.get("since") ?? 0);
        return answer(200, {
          version: 1,
          kernel: "k1",
          run: "r1",
          model: "cnn",
          status: "running",
          layers: LAYERS,
          records: [record(1), record(2), record(3)].filter((r) => r.epoch > since),
          notes: {},
        });
      }
      return answer(404, { message: "run r9 has no inspector records in the store" });
    });
    try {
      model.openInspector(`${REMOTE}k1`, "cnn");
      await remote.inspect(`${REMOTE}k1`, info({ flags: [FLAG] }));
      expect(urls).toEqual(["http://h/nbml/kernels/k1/inspect/r1"]);
      const html = rendered(model);
      expect(html).toContain('data-records="3"');
      expect(html).toContain("⚠ dead_units at epoch 2");
      // read again as the run advances: only the records after those it has
      await remote.inspect(`${REMOTE}k1`, info({ flags: [FLAG], epoch: 4 }));
      expect(urls[1]).toBe("http://h/nbml/kernels/k1/inspect/r1?since=3");
      expect(model.inspection(`${REMOTE}k1`, "cnn")!.records.map((r) => r.epoch)).toEqual([
        1, 2, 3,
      ]);
      await remote.inspect(`${REMOTE}k1`, info({ inspected: "r9" }));
      expect(rendered(model)).toContain(
        "could not read the records (404: run r9 has no inspector records in the store)",
      );
      await remote.inspect(`${REMOTE}k1`, info({ inspected: null }));
      expect(rendered(model)).toContain("no run of this model was inspected yet");
    } finally {
      spy.mockRestore();
    }
  });
});

describe("the devices' memory", () => {
  it("shows memory in use and peak where the backend reports them, and the kernel's", () => {
    expect(deviceText({ kind: "cpu", id: 0, memory: 1024 ** 3, memory_used: null })).toBe(
      "cpu:0 (1.0 GiB)",
    );
    const gpu = { kind: "gpu", id: 0, memory: 80 * 1024 ** 3, memory_used: 3 * 1024 ** 2, memory_peak: 2 * 1024 ** 3 }; // prettier-ignore
    expect(deviceText(gpu)).toBe("gpu:0 (3.0 MiB in use, peak 2.0 GiB of 80.0 GiB)");
    const model = new SidebarModel();
    model.add("a", "a.ipynb", "notebook");
    model.apply("a", {
      type: "hello",
      version: 1,
      nbml: "0.1.0",
      devices: [gpu],
      process: { pid: 4, rss: 512 * 1024 ** 2, rss_peak: 800 * 1024 ** 2 },
      models: [],
      time: 1,
    });
    expect(devicesText(model.get("a")!)).toBe(
      "devices: gpu:0 (3.0 MiB in use, peak 2.0 GiB of 80.0 GiB) · " +
        "kernel 512.0 MiB resident, peak 800.0 MiB",
    );
    // a push with the devices updates the kernel's memory too; garbage shows nothing
    model.apply("a", {
      type: "models",
      version: 1,
      models: [],
      devices: [gpu],
      process: { pid: 4, rss: "lots", rss_peak: null },
      time: 2,
    } as unknown as KernelMsg);
    expect(devicesText(model.get("a")!)).not.toContain("kernel");
  });
});
