// The wire types of nbml's sidebar protocol (docs/protocol.md): the messages the kernel sends on
// the comm target "nbml" and the requests the sidebar sends. Types only: the connection that
// carries them is ./kernel. Numbers from the kernel may be null: a NaN or an infinity travels as
// null.
export interface Device {
  kind: string;
  id: number;
  memory: number | null;
  name?: string;
}

/** A metric, a progress or a duration: null when the kernel's value was NaN or infinite. */
export type Num = number | null;

export interface Host {
  cpus: number;
  memory: number | null;
}

export interface ModelInfo {
  name: string;
  status: string;
  epoch: number;
  epochs: number;
  progress: Num;
  metrics: Record<string, Num>;
  elapsed: Num;
  params: number;
  device: string;
  cell: number | null;
  foreground: boolean;
  run: string | null;
  /** The status of the model's latest run (running, finished, stopped, failed); null for a
   * model without runs, whose `status` is the model's own word. */
  run_status?: string | null;
  message?: string;
  /** The %%sweep the latest run is a trial of (docs/protocol.md), or null. */
  sweep?: SweepInfo | null;
}

/** A sweep as the panel shows it: its trials' progress and the best so far. */
export interface SweepInfo {
  study: string;
  status: string;
  total: Num;
  done: Num;
  running: Num;
  complete: Num;
  pruned: Num;
  failed: Num;
  objective: string;
  best: Num;
  best_trial: Num;
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
  | { type: "snapshot"; version: number; client?: string }
  | { type: "stop"; version: number; model: string }
  | { type: "summary"; version: number; model: string };

// ------------------------------------------------------------ the Jupyter server's kernel list
// GET /nbml/kernels (nbml's server extension, docs/notebook7.md): every kernel alive in the
// server, with what nbml reports from it; the panel lists those that no document here holds.

/** The answer to a stop request sent through the server (POST /nbml/kernels/<id>/stop). */
export interface StopAnswer {
  token: string;
  model?: string;
  message?: string;
  error?: string;
  time: number;
}

/** What a kernel with nbml loaded reports to the server. */
export interface Snapshot {
  version: number;
  kernel: string;
  pid: number;
  nbml: string;
  host?: Host | null;
  backend?: string | null;
  keras?: string | null;
  devices?: Device[] | null;
  models: (ModelInfo & { started?: number | null })[];
  answers: StopAnswer[];
  /** Kernel time (seconds) of the newest event. */
  updated: number;
  time: number;
}

export interface ServerSession {
  id: string;
  path: string | null;
  name: string | null;
  type: string | null;
}

export interface ServerKernel {
  id: string;
  name: string | null;
  execution_state: string | null;
  last_activity: string | null;
  sessions: ServerSession[];
  /** null: nbml is not loaded in that kernel. */
  nbml: Snapshot | null;
}

export interface KernelListing {
  version: number;
  kernels: ServerKernel[];
}
