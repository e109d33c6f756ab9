// Kernels that no document of this application holds — another Notebook 7 tab's notebook, or a
// closed notebook whose kernel still runs — as the Jupyter server lists them (nbml's server
// extension, GET /nbml/kernels; docs/notebook7.md). Polled every second while the panel is
// visible; comms stay on each document's own connection, so these kernels are only read, and
// Stop goes through POST /nbml/kernels/<id>/stop. Their models' inspector reads the run's records
// from the kernel's run store (GET /nbml/kernels/<id>/inspect/<run id>), again while the run
// advances and the inspector is open.
import { ServerConnection } from "@jupyterlab/services";
import type { IDisposable } from "@lumino/disposable";

import { type Inspection, fromStore, mergeRecords } from "./inspection";
import { type DocEntry, type SidebarModel, stopPending } from "./model";
import type {
  KernelListing,
  ModelInfo,
  ServerKernel,
  StopAnswer,
  StoredInspection,
} from "./protocol";

export const POLL_MS = 1000;
/** Where nbml's server extension answers, under the server's base URL. */
export const KERNELS_PATH = "nbml/kernels";
/** The id prefix of the panel's entries for kernels read through the server. */
export const REMOTE = "remote:";

/** What this application holds itself: its documents' kernels and paths. */
export interface Local {
  kernels: Set<string>;
  paths: Set<string>;
}

function baseName(path: string): string {
  return path.split("/").pop() || path;
}

/** The stop answer this panel asked for last, while it still says something new. */
function notice(k: ServerKernel, asked: Set<string>): { notice: string; model: string | null } {
  const answers: StopAnswer[] = Array.isArray(k.nbml?.answers) ? k.nbml!.answers : [];
  const mine = answers.filter((a) => a && asked.has(String(a.token))).pop();
  if (!mine) return { notice: "", model: null };
  if (mine.error) return { notice: String(mine.error), model: null };
  const model = (k.nbml?.models ?? []).find((m) => m?.name === mine.model);
  if (!stopPending(model)) return { notice: "", model: null };
  return { notice: String(mine.message ?? ""), model: String(mine.model) };
}

/** The panel's entries for the listed kernels that have nbml loaded and no document here. */
export function remoteEntries(
  listing: KernelListing,
  local: Local,
  asked: Set<string> = new Set(),
): DocEntry[] {
  const kernels = Array.isArray(listing?.kernels) ? listing.kernels : [];
  const out: DocEntry[] = [];
  for (const k of kernels) {
    if (!k || typeof k.id !== "string" || !k.nbml || typeof k.nbml !== "object") continue;
    const sessions = Array.isArray(k.sessions) ? k.sessions : [];
    if (local.kernels.has(k.id) || sessions.some((s) => local.paths.has(String(s?.path)))) {
      continue; // shown through its document's own connection
    }
    const session = sessions[0];
    const snap = k.nbml;
    const said = notice(k, asked);
    out.push({
      id: REMOTE + k.id,
      name: session?.path ? baseName(String(session.path)) : `kernel ${k.id.slice(0, 8)}`,
      kind: session?.type === "console" ? "console" : "notebook",
      kernelStatus: String(k.execution_state ?? "unknown"),
      nbml: "loaded",
      backend: snap.backend ?? null,
      devices: snap.devices ?? null,
      host: snap.host ?? null,
      process: snap.process ?? null,
      models: Array.isArray(snap.models) ? snap.models : [],
      notice: said.notice,
      noticeModel: said.model,
      eventTime: typeof snap.updated === "number" ? snap.updated : 0,
      remote: { kernel: k.id, path: session?.path ? String(session.path) : null },
    });
  }
  return out;
}

/** Polls the server's kernel list into the model's remote entries; stops models there. */
export class RemoteKernels implements IDisposable {
  private _timer: ReturnType<typeof setTimeout> | null = null;
  private _disposed = false;
  private _missing = false;
  private readonly _asked = new Set<string>();
  /** A stop request the server refused, by kernel id, shown until the next request there. */
  private readonly _refused = new Map<string, string>();
  private _last: KernelListing | null = null;
  /** What the open inspector's records were read for (model, run, epoch, flags). */
  private _inspected = "";

  constructor(
    private readonly model: SidebarModel,
    private readonly settings: ServerConnection.ISettings,
    private readonly local: () => Local,
    private readonly visible: () => boolean,
  ) {
    this._schedule(0);
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  dispose(): void {
    this._disposed = true;
    if (this._timer !== null) clearTimeout(this._timer);
    this.model.setRemote([]);
  }

  /** Ask the server for the kernels now and update the model. */
  async poll(): Promise<void> {
    const url = this.settings.baseUrl + KERNELS_PATH;
    const res = await ServerConnection.makeRequest(url, { cache: "no-store" }, this.settings);
    if (res.status === 404) {
      // a server without nbml's server extension: only this application's documents are shown
      this._missing = true;
      console.warn("nbml: the Jupyter server has no /nbml/kernels (nbml's server extension)");
      return;
    }
    if (!res.ok) return;
    this._last = (await res.json()) as KernelListing;
    this._apply();
  }

  /** Ask the kernel behind entry `docId` to stop `info` (as %stop NAME). */
  async stop(docId: string, info: ModelInfo): Promise<void> {
    const kernel = docId.slice(REMOTE.length);
    const url = `${this.settings.baseUrl}${KERNELS_PATH}/${encodeURIComponent(kernel)}/stop`;
    const init = { method: "POST", body: JSON.stringify({ model: info.name }) };
    const res = await ServerConnection.makeRequest(url, init, this.settings);
    this._refused.delete(kernel);
    if (res.ok) {
      const reply = (await res.json()) as { request?: string };
      if (reply.request) this._asked.add(reply.request);
    } else {
      this._refused.set(kernel, `Could not ask for a stop (${res.status}): ${await res.text()}`);
    }
    await this.poll();
  }

  /** Read the inspector's records of `info` (its latest inspected run) from the run store of
   * the kernel behind entry `docId`: all of them, or those after the ones read before. */
  async inspect(docId: string, info: ModelInfo): Promise<void> {
    const name = String(info.name);
    this._inspected = inspectedKey(docId, info);
    const run = info.inspected ?? null;
    if (!run) {
      this.model.setInspection(docId, name, failed("no run of this model was inspected yet"));
      return;
    }
    const kernel = encodeURIComponent(docId.slice(REMOTE.length));
    const old = this.model.inspection(docId, name);
    const known = old && old.run === run && old.complete && !old.error ? old.records : [];
    const since = known.length ? known[known.length - 1].epoch : 0;
    const url =
      `${this.settings.baseUrl}${KERNELS_PATH}/${kernel}/inspect/${encodeURIComponent(run)}` +
      (since ? `?since=${since}` : "");
    const res = await ServerConnection.makeRequest(url, { cache: "no-store" }, this.settings);
    if (!res.ok) {
      const why = await reason(res);
      this.model.setInspection(docId, name, failed(`could not read the records (${why})`));
      return;
    }
    const stored = fromStore((await res.json()) as StoredInspection, info.flags ?? []);
    stored.records = mergeRecords(known, stored.records);
    this.model.setInspection(docId, name, stored);
  }

  /** Read the open inspector's records again when its run has advanced (a remote model). */
  private async _followInspector(): Promise<void> {
    const target = this.model.inspector;
    if (!target || !target.doc.startsWith(REMOTE)) return;
    const info = this.model.get(target.doc)?.models.find((m) => m?.name === target.model);
    if (info && inspectedKey(target.doc, info) !== this._inspected) {
      await this.inspect(target.doc, info);
    }
  }

  /** Re-derive the entries, e.g. when a document opened or closed here. */
  refresh(): void {
    this._apply();
  }

  private _apply(): void {
    if (this._last === null) return;
    const entries = remoteEntries(this._last, this.local(), this._asked);
    for (const e of entries) {
      const refused = this._refused.get(e.remote!.kernel);
      if (refused) e.notice = refused;
    }
    this.model.setRemote(entries);
  }

  private _schedule(delay: number): void {
    if (this._disposed || this._missing) return;
    this._timer = setTimeout(async () => {
      try {
        if (this.visible()) {
          await this.poll();
          await this._followInspector();
        }
      } catch (e) {
        console.debug("nbml: could not list the server's kernels", e);
      } finally {
        this._schedule(POLL_MS);
      }
    }, delay);
  }
}

/** What a remote model's stored records depend on: a new record, flag or run changes it. */
function inspectedKey(docId: string, info: ModelInfo): string {
  const flags = Array.isArray(info.flags) ? info.flags.length : 0;
  return JSON.stringify([docId, info.name, info.inspected, info.epoch, info.run_status, flags]);
}

function failed(error: string): Inspection {
  return { run: null, layers: [], records: [], flags: [], notes: {}, complete: false, error };
}

/** The server's reason for a refused request ({"message": ...} from Jupyter's API handlers). */
async function reason(res: Response): Promise<string> {
  const text = await res.text();
  try {
    const body = JSON.parse(text) as { message?: unknown };
    if (body && typeof body.message === "string") return `${res.status}: ${body.message}`;
  } catch {
    // not JSON
  }
  return `${res.status}: ${text.slice(0, 200)}`;
}
