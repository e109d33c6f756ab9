// The Models panel's inspector state of one model, and how the kernel's messages build it: the
// `inspection` reply to an `inspect` request (the whole run so far), the `inspect` pushes (one
// new record each, sent on every comm at the end of its epoch) and, for a kernel read through the
// server (./remote), the run store's records (docs/protocol.md). Pure functions, no React.
import type {
  InspectFlag,
  InspectLayer,
  InspectMsg,
  InspectRecord,
  InspectionMsg,
  StoredInspection,
} from "./protocol";

export interface Inspection {
  /** The inspected run, or null for a model whose runs were not inspected. */
  run: string | null;
  layers: InspectLayer[];
  /** In epoch order, one per epoch. */
  records: InspectRecord[];
  flags: InspectFlag[];
  notes: Record<string, string>;
  /** Whether the whole run has arrived (a reply or the store), not only pushed records. */
  complete: boolean;
  /** Why the inspection could not be read. */
  error?: string;
}

function list<T>(v: unknown): T[] {
  return Array.isArray(v) ? (v as T[]) : [];
}

function notesOf(v: unknown): Record<string, string> {
  if (!v || typeof v !== "object") return {};
  const out: Record<string, string> = {};
  for (const [k, text] of Object.entries(v as Record<string, unknown>)) out[k] = String(text);
  return out;
}

/** `old` and `add` as one list, one record per epoch (`add`'s where both have one), in order. */
export function mergeRecords(old: InspectRecord[], add: InspectRecord[]): InspectRecord[] {
  const byEpoch = new Map<number, InspectRecord>();
  for (const r of [...old, ...add]) {
    if (r && typeof r.epoch === "number") byEpoch.set(r.epoch, r);
  }
  return [...byEpoch.values()].sort((a, b) => a.epoch - b.epoch);
}

/** Both lists of flags, one per layer and kind (a flag is found once, at its first record). */
export function mergeFlags(old: InspectFlag[], add: InspectFlag[]): InspectFlag[] {
  const seen = new Map<string, InspectFlag>();
  for (const f of [...old, ...add]) {
    const key = `${f?.layer}\u0000${f?.kind}`;
    if (f && !seen.has(key)) seen.set(key, f);
  }
  return [...seen.values()];
}

/** The state after an `inspection` reply: the reply, plus records pushed after it was made. */
export function fromReply(old: Inspection | undefined, msg: InspectionMsg): Inspection {
  const same = old !== undefined && old.run === msg.run;
  return {
    run: msg.run ?? null,
    layers: list(msg.layers),
    records: mergeRecords(same ? old.records : [], list(msg.records)),
    flags: mergeFlags(list(msg.flags), same ? old.flags : []),
    notes: { ...(same ? old.notes : {}), ...notesOf(msg.notes) },
    complete: true,
  };
}

/** The state after an `inspect` push: its record added to the same run's, or a new run. */
export function fromPush(old: Inspection | undefined, msg: InspectMsg): Inspection {
  const same = old !== undefined && old.run === msg.run;
  return {
    run: msg.run,
    layers: list(msg.layers),
    records: mergeRecords(same ? old.records : [], msg.record ? [msg.record] : []),
    flags: mergeFlags(same ? old.flags : [], list(msg.flags)),
    notes: { ...(same ? old.notes : {}), ...notesOf(msg.notes) },
    complete: same ? old.complete : false,
  };
}

/** The state read from the run store (the flags come with the kernel's listing). */
export function fromStore(stored: StoredInspection, flags: InspectFlag[]): Inspection {
  return {
    run: String(stored.run),
    layers: list(stored.layers),
    records: mergeRecords([], list(stored.records)),
    flags: mergeFlags([], list(flags)),
    notes: notesOf(stored.notes),
    complete: true,
  };
}

/** One statistic of one layer over the records: its values (null: none, or not finite) and
 * which of them were NaN or infinite in the kernel. */
export interface Series {
  values: (number | null)[];
  nonfinite: boolean[];
}

/** The layer's series of `stat` over `records` (a record without the layer counts as null). */
export function series(records: InspectRecord[], layer: string, stat: string): Series {
  const values: (number | null)[] = [];
  const nonfinite: boolean[] = [];
  for (const r of records) {
    const row = list<Record<string, unknown>>(r?.rows).find((x) => x?.layer === layer);
    const v = row?.[stat];
    values.push(typeof v === "number" && Number.isFinite(v) ? v : null);
    nonfinite.push(list(row?.nonfinite).includes(stat));
  }
  return { values, nonfinite };
}

/** The flags of each layer, by layer name. */
export function flagsByLayer(flags: InspectFlag[]): Map<string, InspectFlag[]> {
  const out = new Map<string, InspectFlag[]>();
  for (const f of flags) {
    if (!f) continue;
    const key = String(f.layer);
    out.set(key, [...(out.get(key) ?? []), f]);
  }
  return out;
}

/** "N layers flagged" (1 layer), or "" when none is. */
export function flaggedText(flags: InspectFlag[] | undefined): string {
  const n = new Set(list<InspectFlag>(flags).map((f) => f?.layer)).size;
  return n ? `${n} layer${n === 1 ? "" : "s"} flagged` : "";
}
