import { SidebarModel } from "../model";
import type { KernelListing, ServerKernel, Snapshot } from "../protocol";
import { REMOTE, remoteEntries } from "../remote";

function snapshot(extra: Partial<Snapshot> = {}): Snapshot {
  return {
    version: 1,
    kernel: "k",
    pid: 42,
    nbml: "0.1.0",
    host: { cpus: 2, memory: 1024 },
    backend: "jax",
    keras: "3.15.1",
    devices: [{ kind: "cpu", id: 0, memory: null }],
    models: [
      {
        name: "far",
        status: "training",
        run_status: "running",
        epoch: 3,
        epochs: 3000,
        progress: 0.001,
        metrics: { loss: 0.4 },
        elapsed: 2.5,
        params: 2410,
        device: "",
        cell: 2,
        foreground: true,
        run: "r1",
        started: 1764336000,
      },
    ],
    answers: [],
    updated: 1764336001.5,
    time: 1764336001.6,
    ...extra,
  };
}

function kernel(id: string, path: string | null, nbml: Snapshot | null): ServerKernel {
  return {
    id,
    name: "python3",
    execution_state: "busy",
    last_activity: null,
    sessions: path === null ? [] : [{ id: `s-${id}`, path, name: path, type: "notebook" }],
    nbml,
  };
}

const none = { kernels: new Set<string>(), paths: new Set<string>() };

describe("remoteEntries", () => {
  it("lists kernels with nbml loaded under their notebook's name, marked remote", () => {
    const listing: KernelListing = {
      version: 1,
      kernels: [
        kernel("k1", "work/b.ipynb", snapshot()),
        kernel("k2", "c.ipynb", null), // nbml not loaded: not listed
        kernel("k3abcdef99", null, snapshot({ models: [] })), // no session: named by its id
      ],
    };
    const entries = remoteEntries(listing, none);
    expect(entries.map((e) => [e.id, e.name, e.kernelStatus])).toEqual([
      [`${REMOTE}k1`, "b.ipynb", "busy"],
      [`${REMOTE}k3abcdef99`, "kernel k3abcdef", "busy"],
    ]);
    const b = entries[0];
    expect(b.remote).toEqual({ kernel: "k1", path: "work/b.ipynb" });
    expect(b.nbml).toBe("loaded");
    expect(b.models[0].name).toBe("far");
    expect(b.devices).toEqual([{ kind: "cpu", id: 0, memory: null }]);
    expect(b.host).toEqual({ cpus: 2, memory: 1024 });
    expect(b.eventTime).toBe(1764336001.5);
  });

  it("leaves out kernels shown through a document here, by kernel id or by path", () => {
    const listing: KernelListing = {
      version: 1,
      kernels: [
        kernel("k1", "a.ipynb", snapshot()),
        kernel("k2", "b.ipynb", snapshot()),
        kernel("k3", "c.ipynb", snapshot()),
      ],
    };
    const local = { kernels: new Set(["k1"]), paths: new Set(["b.ipynb"]) };
    expect(remoteEntries(listing, local).map((e) => e.name)).toEqual(["c.ipynb"]);
  });

  it("shows the answer to this panel's own stop request while the model still trains", () => {
    const answers = [
      { token: "other", model: "far", message: "Stopping far (someone else)", time: 1 },
      { token: "mine", model: "far", message: "Stopping far at the next batch boundary", time: 2 },
    ];
    const training = { version: 1, kernels: [kernel("k1", "b.ipynb", snapshot({ answers }))] };
    expect(remoteEntries(training, none, new Set(["mine"]))[0].notice).toBe(
      "Stopping far at the next batch boundary",
    );
    expect(remoteEntries(training, none, new Set())[0].notice).toBe("");
    const stopped = snapshot({ answers });
    stopped.models[0].status = "stopped";
    const after = { version: 1, kernels: [kernel("k1", "b.ipynb", stopped)] };
    expect(remoteEntries(after, none, new Set(["mine"]))[0].notice).toBe("");
    const refused = snapshot({
      answers: [{ token: "mine", model: "x", error: "no model named 'x' in this kernel", time: 3 }],
    });
    const err = { version: 1, kernels: [kernel("k1", "b.ipynb", refused)] };
    expect(remoteEntries(err, none, new Set(["mine"]))[0].notice).toBe(
      "no model named 'x' in this kernel",
    );
  });

  it("survives a malformed listing", () => {
    const junk = [null, {}, { kernels: "x" }, { kernels: [null, { id: 3 }, { id: "k", nbml: 1 }] }];
    for (const listing of junk) {
      expect(remoteEntries(listing as unknown as KernelListing, none)).toEqual([]);
    }
  });
});

describe("SidebarModel.setRemote", () => {
  it("replaces the remote entries, keeps documents first, and signals only on change", () => {
    const model = new SidebarModel();
    model.add("w1", "z.ipynb", "notebook");
    let changes = 0;
    model.changed.connect(() => changes++);
    const listing = { version: 1, kernels: [kernel("k1", "a.ipynb", snapshot())] };
    model.setRemote(remoteEntries(listing, none));
    expect(model.docs.map((d) => d.name)).toEqual(["z.ipynb", "a.ipynb"]);
    expect(changes).toBe(1);
    model.setRemote(remoteEntries(listing, none)); // the same poll again: no redraw
    expect(changes).toBe(1);
    model.setRemote([]);
    expect(model.docs.map((d) => d.name)).toEqual(["z.ipynb"]);
    expect(changes).toBe(2);
  });
});
