// The sidebar's rendering of what a kernel sends: null (a NaN or an infinity travels as null)
// shows as "nan", and garbage neither throws nor blanks the panel.
import React from "react";
import { renderToStaticMarkup } from "react-dom/server";

import { SidebarModel } from "../model";
import type { KernelMsg, ModelInfo } from "../protocol";
import { formatDuration, formatNumber } from "../format";
import { Actions, Boundary, SidebarView, bytes, metricText, statusWord, sweepText } from "../view";

const actions: Actions = {
  stop: () => undefined,
  inspect: () => undefined,
  reveal: () => undefined,
};

function info(name: string, extra: Record<string, unknown> = {}): ModelInfo {
  return {
    name,
    status: "failed",
    epoch: 1,
    epochs: 5,
    progress: 0.2,
    metrics: { loss: null, mae: null, val_loss: 0.5 },
    elapsed: 1.5,
    params: 17,
    device: "cpu:0",
    cell: 3,
    foreground: false,
    run: "r1",
    message: "Loss became inf at epoch 2",
    ...extra,
  } as ModelInfo;
}

function render(msg: unknown): string {
  const model = new SidebarModel();
  model.add("a", "a.ipynb", "notebook");
  model.apply("a", msg as KernelMsg);
  return renderToStaticMarkup(React.createElement(SidebarView, { model, actions }));
}

describe("the sidebar's view", () => {
  it("shows null metrics as nan", () => {
    expect(metricText({ loss: null, val_loss: null, accuracy: 0.91234 })).toBe(
      "loss nan · accuracy 0.9123 · val_loss nan",
    );
    const html = render({
      type: "hello",
      version: 1,
      nbml: "0.1.0",
      host: { cpus: 2, memory: null },
      models: [info("boom"), info("nanrun", { metrics: { loss: null }, progress: null })],
      time: 1,
    });
    expect(html).toContain("loss nan · mae nan · val_loss 0.5");
    expect(html).toContain('data-model="boom"');
    expect(html).toContain('data-model="nanrun"');
    expect(html).toContain("Loss became inf at epoch 2");
    expect(html).toContain("width:0%"); // a null progress is an empty bar
  });

  it("renders garbage from a kernel as text without throwing", () => {
    expect(formatNumber("nan")).toBe("nan");
    expect(formatNumber(Infinity)).toBe("nan");
    expect(formatNumber({})).toBe("nan");
    expect(formatDuration(null)).toBe("?");
    expect(bytes("x")).toBe("?");
    expect(metricText("garbage")).toBe("");
    const garbage = info("g", {
      metrics: { loss: "nan", acc: { x: 1 }, top: [1], inf: "Infinity" },
      progress: "half",
      elapsed: null,
      params: null,
      epoch: null,
      status: 42,
    });
    const html = render({
      type: "hello",
      version: 1,
      nbml: "0.1.0",
      host: { cpus: "two", memory: -1 },
      devices: [null, { kind: "cpu", id: 0, memory: "lots" }],
      models: [garbage, info("ok")],
      time: 1,
    });
    expect(html).toContain("loss nan");
    expect(html).toContain('data-model="g"');
    expect(html).toContain('data-model="ok"');
    expect(html).toContain("? params");
    expect(html).toContain("cpu:0 (?)");
    const pushed = render({
      type: "models",
      version: 1,
      models: [info("m", { metrics: null, elapsed: "soon" })],
      time: 1,
    });
    expect(pushed).toContain('data-model="m"');
  });

  it("says a run's status in the run's words, the model's only for a model without runs", () => {
    const html = render({
      type: "hello",
      version: 1,
      nbml: "0.1.0",
      models: [
        info("done", { status: "idle", run_status: "finished" }),
        info("live", { status: "training", run_status: "running", progress: 0.5 }),
        info("fresh", { status: "idle", run: null, run_status: null }),
      ],
      time: 1,
    });
    const row = (name: string): string => {
      const start = html.indexOf(`<li class="nbml-sb-model" data-model="${name}"`);
      return html.slice(start, html.indexOf("</li>", start));
    };
    const words = ["done", "live", "fresh"].map((n) => {
      const m = /data-status="([^"]*)".*class="nbml-sb-status [^"]*">([^<]*)</.exec(row(n));
      return [m?.[1], m?.[2]];
    });
    expect(words).toEqual([
      ["finished", "finished"],
      ["running", "running"],
      ["idle", "idle"],
    ]);
    // the running run has a Stop button, the finished one none
    expect(row("live")).toContain(">Stop<");
    expect(row("done")).not.toContain(">Stop<");
    expect(statusWord(info("x", { status: "stopped", run_status: undefined }))).toBe("stopped");
  });

  it("always shows the main metric among the four metrics of a row", () => {
    const metrics = {
      loss: 0.5,
      accuracy: 0.8,
      auc: 0.9,
      precision: 0.7,
      val_loss: 0.6,
      val_accuracy: 0.75,
    };
    expect(metricText(metrics)).toBe("loss 0.5 · accuracy 0.8 · auc 0.9 · val_accuracy 0.75");
  });

  it("marks each document with the kernel time of its newest event", () => {
    const html = render({ type: "hello", version: 1, nbml: "0.1.0", models: [], time: 1234.5 });
    expect(html).toContain('data-event-time="1234.5"');
  });

  it("shows what failed instead of a blank panel", () => {
    const state = Boundary.getDerivedStateFromError(new Error("m.metrics is undefined"));
    const boundary = new Boundary({ what: "model m", data: 1 });
    boundary.state = state;
    expect(renderToStaticMarkup(boundary.render() as React.ReactElement)).toContain(
      "Could not show model m: m.metrics is undefined",
    );
    const healthy = new Boundary({ what: "model m", data: 1, children: "fine" });
    expect(healthy.render()).toBe("fine");
  });
});

describe("a sweep", () => {
  const sweep = {
    study: "mlp",
    status: "running",
    total: 12,
    done: 5,
    running: 1,
    complete: 3,
    pruned: 1,
    failed: 1,
    objective: "val_loss",
    best: 0.1583,
    best_trial: 2,
  };
  const hello = (models: ModelInfo[]): unknown => ({
    type: "hello",
    version: 1,
    nbml: "0.1.0",
    models,
    time: 1,
  });

  it("shows as one entry with its trials' progress and the best so far", () => {
    expect(sweepText(sweep)).toBe(
      "sweep mlp: 5/12 trials · 1 running · 3 complete · 1 pruned · 1 failed · " +
        "best #2 val_loss 0.1583",
    );
    const html = render(hello([info("mlp", { sweep })]));
    expect(html).toContain('data-sweep="mlp"');
    expect(html).toContain("5/12 trials");
    expect(html).toContain("width:41.7%");
  });

  it("survives a sweep entry of nulls and garbage", () => {
    const bad = { ...sweep, done: null, total: null, best: null, best_trial: null };
    expect(sweepText(bad)).toBe(
      "sweep mlp: ?/? trials · 1 running · 3 complete · 1 pruned · 1 failed",
    );
    const html = render(hello([info("a", { sweep: "nonsense" }), info("b", { sweep: bad })]));
    expect(html).toContain('data-model="a"');
    expect(html).toContain('data-model="b"');
  });
});
