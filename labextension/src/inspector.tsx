// The Models panel's inspector of one model: the layer table (path, class, output shape,
// parameters trainable and not, activation) with a sparkline per layer for the weight norm, the
// gradient norm (log scale) and the dead fraction over the records, flagged layers marked with
// their reason, and the notes on what is not available. Each layer takes two rows (what it is;
// its sparklines), so the table fits the panel's width. Everything from the kernel is rendered
// as text; a value that is not a finite number shows as "nan" (it was NaN or infinite in the
// kernel) or not at all (not available).
import React from "react";

import { finite, formatNumber } from "./format";
import { type Inspection, type Series, flaggedText, flagsByLayer, series } from "./inspection";
import type { InspectFlag, InspectLayer, ModelInfo } from "./protocol";

/** Sparkline size in pixels. */
export const SPARK_WIDTH = 64;
export const SPARK_HEIGHT = 20;

/** The statistics drawn as sparklines: key, column title, log scale. */
export const SPARKS: readonly [string, string, boolean][] = [
  ["weight_norm", "weight norm", false],
  ["grad_norm", "gradient (log)", true],
  ["dead_fraction", "dead fraction", false],
];

function text(v: unknown): string {
  return v == null ? "" : String(v);
}

function count(v: unknown): string {
  const n = finite(v);
  return n === null ? "?" : n.toLocaleString("en-US");
}

/** The points of a sparkline: runs of finite values (a gap at each null) and the positions of
 * the values that were NaN or infinite. `log` draws log10 of the positive values, and a zero
 * (a gradient that vanished entirely) one decade below the smallest of them, at the bottom. */
export function sparkPoints(
  s: Series,
  log: boolean,
  width = SPARK_WIDTH,
  height = SPARK_HEIGHT,
): { runs: [number, number][][]; bad: number[]; drawn: number } {
  const logs = s.values.filter((v): v is number => v !== null && v > 0).map(Math.log10);
  const floor = logs.length ? Math.min(...logs) - 1 : 0;
  const ys = s.values.map((v) => (v === null ? null : !log ? v : v > 0 ? Math.log10(v) : floor));
  const shown = ys.filter((y): y is number => y !== null);
  const lo = shown.length ? Math.min(...shown) : 0;
  const hi = shown.length ? Math.max(...shown) : 1;
  const span = hi - lo || 1;
  const step = (width - 4) / Math.max(ys.length - 1, 1);
  const runs: [number, number][][] = [[]];
  ys.forEach((y, i) => {
    if (y === null) runs.push([]);
    else runs[runs.length - 1].push([2 + i * step, height - 3 - ((y - lo) / span) * (height - 6)]);
  });
  const bad = s.nonfinite.flatMap((b, i) => (b ? [2 + i * step] : []));
  return { runs: runs.filter((r) => r.length), bad, drawn: shown.length };
}

export function Sparkline(props: { stat: string; title: string; s: Series; log: boolean }) {
  const { runs, bad, drawn } = sparkPoints(props.s, props.log);
  const xy = (p: [number, number]): string => `${p[0].toFixed(1)},${p[1].toFixed(1)}`;
  return (
    <svg
      className="nbml-sb-spark"
      width={SPARK_WIDTH}
      height={SPARK_HEIGHT}
      role="img"
      aria-label={props.title}
      data-stat={props.stat}
      data-points={drawn}
      data-nonfinite={bad.length}
    >
      <title>{props.title}</title>
      {runs.map((r, i) =>
        r.length > 1 ? (
          <polyline key={i} points={r.map(xy).join(" ")} fill="none" strokeWidth={1.5} />
        ) : (
          <circle key={i} cx={r[0][0].toFixed(1)} cy={r[0][1].toFixed(1)} r={1.5} />
        ),
      )}
      {bad.map((x, i) => (
        <circle key={`bad${i}`} className="nbml-sb-spark-bad" cx={x.toFixed(1)} cy={11} r={2} />
      ))}
    </svg>
  );
}

/** The latest value of a series as text: "nan" where it was not finite, "" where none. */
export function lastValue(s: Series): string {
  const i = s.values.length - 1;
  if (i < 0) return "";
  if (s.nonfinite[i]) return "nan";
  return s.values[i] === null ? "" : formatNumber(s.values[i]);
}

function params(l: InspectLayer): string {
  const fixed = finite(l?.non_trainable) ?? 0;
  return count(l?.trainable) + (fixed ? ` (+${count(fixed)} fixed)` : "");
}

/** What a layer is, in one line: class, output shape, parameters, activation. */
function describe(l: InspectLayer): React.ReactNode[] {
  const parts: [string, string][] = [
    ["nbml-sb-type", text(l?.type)],
    ["nbml-sb-shape", text(l?.shape)],
    ["nbml-sb-params", `${params(l)} params`],
  ];
  if (l?.activation) parts.push(["nbml-sb-activation", text(l.activation)]);
  return parts.flatMap(([cls, value], i) => [
    i ? " · " : "",
    <span key={cls} className={cls}>
      {value}
    </span>,
  ]);
}

function LayerRows(props: { layer: InspectLayer; ins: Inspection; flags: InspectFlag[] }) {
  const { layer, ins, flags } = props;
  const name = text(layer?.name);
  const cells = SPARKS.map(([key, title, log]) => {
    const s = series(ins.records, name, key);
    const any = s.values.some((v) => v !== null) || s.nonfinite.some(Boolean);
    return (
      <td key={key} className="nbml-sb-stat">
        {any ? <Sparkline stat={key} title={`${name} ${title}`} s={s} log={log} /> : null}
        <span className="nbml-sb-last" data-stat={key}>
          {lastValue(s)}
        </span>
      </td>
    );
  });
  const flagged = flags.length ? "true" : undefined;
  return (
    <>
      <tr className="nbml-sb-layer-row" data-layer={name} data-flagged={flagged}>
        <td colSpan={SPARKS.length}>
          <span className="nbml-sb-layer">{name}</span>
          <div className="nbml-sb-desc">{describe(layer)}</div>
        </td>
      </tr>
      <tr className="nbml-sb-stats" data-layer={name} data-flagged={flagged}>
        {cells}
      </tr>
      {flags.map((f, i) => (
        <tr key={i} className="nbml-sb-flag" data-layer={name} data-kind={text(f.kind)}>
          <td colSpan={SPARKS.length}>
            {`⚠ ${text(f.kind)} at epoch ${text(f.epoch)}: ${text(f.reason)}`}
          </td>
        </tr>
      ))}
    </>
  );
}

function heading(ins: Inspection | undefined, model: ModelInfo | undefined): string {
  const parts: string[] = [];
  if (ins?.run) parts.push(`run ${ins.run}`);
  const status = model?.run_status ?? model?.status;
  if (status) parts.push(text(status));
  if (ins) {
    const total = ins.layers.reduce(
      (sum, l) => sum + (finite(l?.trainable) ?? 0) + (finite(l?.non_trainable) ?? 0),
      0,
    );
    parts.push(`${count(total)} parameters`);
    const epochs = ins.records.map((r) => r.epoch);
    if (epochs.length) {
      const span = epochs.length > 1 ? `${epochs[0]}-${epochs[epochs.length - 1]}` : epochs[0];
      parts.push(`records at epoch${epochs.length > 1 ? "s" : ""} ${span}`);
    }
    parts.push(flaggedText(ins.flags) || "no flags");
  }
  return parts.join(" · ");
}

/** The inspector of `name` in entry `docName`, with a way back to the list of models. */
export function InspectorView(props: {
  docName: string;
  name: string;
  model: ModelInfo | undefined;
  inspection: Inspection | undefined;
  close: () => void;
}): JSX.Element {
  const { name, inspection: ins } = props;
  const byLayer = flagsByLayer(ins?.flags ?? []);
  const layers = Array.isArray(ins?.layers) ? ins!.layers : [];
  return (
    <section
      className="nbml-sb-inspector"
      data-doc={props.docName}
      data-model={name}
      data-run={ins?.run ?? undefined}
      data-records={ins ? ins.records.length : undefined}
    >
      <header>
        <button
          className="jp-mod-styled nbml-sb-back"
          title="Back to the list of models"
          onClick={props.close}
        >
          ← Models
        </button>
        <span className="nbml-sb-name">{name}</span>
      </header>
      <div className="nbml-sb-meta">
        {[props.docName, heading(ins, props.model)].filter(Boolean).join(" · ")}
      </div>
      {ins?.error ? (
        <div className="nbml-sb-note" role="alert">
          {ins.error}
        </div>
      ) : null}
      {!ins ? <div className="nbml-sb-note">reading the inspector…</div> : null}
      {ins && Object.keys(ins.notes).length ? (
        <ul className="nbml-sb-notes">
          {Object.entries(ins.notes)
            .sort(([a], [b]) => a.localeCompare(b))
            .map(([k, v]) => (
              <li key={k} data-note={k}>{`${k}: ${v}`}</li>
            ))}
        </ul>
      ) : null}
      {layers.length ? (
        <div className="nbml-sb-scroll">
          <table className="nbml-sb-inspect">
            <thead>
              <tr>
                {SPARKS.map(([key, title]) => (
                  <th key={key}>{title}</th>
                ))}
              </tr>
            </thead>
            <tbody>
              {layers.map((l, i) => (
                <LayerRows
                  key={`${text(l?.name)}#${i}`}
                  layer={l}
                  ins={ins!}
                  flags={byLayer.get(text(l?.name)) ?? []}
                />
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  );
}
