// nbml confusion matrix: heatmap with counts and labels, normalisation, hover details,
// click a cell to page through its samples, and the per-class precision/recall/F1 table.
// A multi-label evaluation (task "multilabel") shows one 2x2 matrix per label (rows: the sample
// has the label, columns: it is predicted), the subset accuracy, and the average rows; a click
// names the label too.
// A number that was NaN or infinite in the kernel arrives as null and shows as "nan"; an error
// while drawing shows as text in the widget; a click the kernel refuses shows its `notice`.
import "./confusion.css";
import { finite, formatNumber } from "../src/format";
import { Model, el, guarded, safeRender } from "./shared";

interface Row {
  label: string;
  precision: number | null;
  recall: number | null;
  f1: number | null;
  support: number;
}

interface Item {
  index: number;
  image?: string;
  values?: (number | null)[];
}

interface Samples {
  type: "samples";
  label?: number;
  true: number;
  pred: number;
  page: number;
  pages: number;
  total: number;
  items: Item[];
}

const pct = (v: unknown): string => {
  const n = finite(v);
  return n === null ? "nan" : `${(n * 100).toFixed(1)}%`;
};
const fixed3 = (v: unknown): string => {
  const n = finite(v);
  return n === null ? "nan" : n.toFixed(3);
};

type Send = (msg: unknown) => void;

/** The clicked cell: row, column, and (multi-label) the label's position. */
interface Cell {
  i: number;
  j: number;
  label?: number;
}

/** Words for the cells of a label's 2x2 matrix, ``[[tn, fp], [fn, tp]]``. */
const LABEL_CELLS = [
  ["true negatives", "false positives"],
  ["false negatives", "true positives"],
];

interface View {
  box: HTMLElement;
  select: HTMLSelectElement;
  accuracy: HTMLElement;
  notice: HTMLElement;
  matrixBox: HTMLElement;
  tableBox: HTMLElement;
  samples: HTMLElement;
}

function buildView(): View {
  const box = el("div", "nbml-confusion");
  box.dataset.testid = "nbml-confusion";
  const controls = el("div", "nbml-cm-controls");
  const select = el("select");
  for (const [value, text] of [
    ["none", "counts"],
    ["true", "normalise by true class (rows)"],
    ["pred", "normalise by predicted class (columns)"],
  ])
    select.append(new Option(text, value));
  const accuracy = el("span", "nbml-cm-accuracy");
  controls.append(select, accuracy);
  const layout = el("div", "nbml-cm-layout");
  const matrixBox = el("div", "nbml-cm-matrix");
  const tableBox = el("div", "nbml-cm-table");
  layout.append(matrixBox, tableBox);
  const samples = el("div", "nbml-cm-samples");
  samples.dataset.testid = "nbml-samples";
  const notice = el("div", "nbml-cm-notice");
  notice.dataset.testid = "nbml-notice";
  box.append(controls, notice, layout, samples);
  return { box, select, accuracy, notice, matrixBox, tableBox, samples };
}

/** The cell values shown for ``mode``: counts, or fractions of their row or column. */
function normalised(matrix: number[][], mode: string): { value: number[][]; top: number } {
  const rowSums = matrix.map((r) => r.reduce((a, b) => a + b, 0));
  const colSums = (matrix[0] ?? []).map((_, j) => matrix.reduce((a, r) => a + (r[j] ?? 0), 0));
  const value = matrix.map((r, i) =>
    r.map((c, j) => {
      if (mode === "true") return rowSums[i] ? c / rowSums[i] : 0;
      if (mode === "pred") return colSums[j] ? c / colSums[j] : 0;
      return c;
    }),
  );
  const top = Math.max(0, ...value.flat()) || 1;
  return { value, top };
}

/** The heatmap; a click on a cell calls ``pick(true, pred)``. ``names`` name the rows and
 * columns; ``label`` is the label's position for a multi-label matrix. */
function matrixTable(
  names: string[],
  matrix: number[][],
  mode: string,
  selected: Cell | null,
  pick: (i: number, j: number) => void,
  label?: { index: number; name: string },
): HTMLTableElement {
  const { value, top } = normalised(matrix, mode);
  const total = matrix.flat().reduce((a, b) => a + b, 0) || 1;
  const table = el("table");
  const head = el("tr");
  head.append(el("th", "nbml-cm-corner", "true \\ predicted"));
  names.forEach((l) => head.append(el("th", "", l)));
  table.append(head);
  matrix.forEach((row, i) => {
    const tr = el("tr");
    tr.append(el("th", "", names[i]));
    const rowSum = row.reduce((a, b) => a + b, 0);
    row.forEach((count, j) => {
      const v = value[i][j];
      const td = el("td", "nbml-cm-cell", mode === "none" ? String(count) : pct(v));
      const a = v / top;
      td.style.background = `rgba(31,119,180,${a.toFixed(3)})`;
      td.style.color = a > 0.55 ? "#fff" : "inherit";
      td.dataset.true = String(i);
      td.dataset.pred = String(j);
      td.dataset.count = String(count);
      const share = `${pct(count / total)} of all, ${pct(rowSum ? count / rowSum : 0)} of true ${names[i]}`;
      td.title = label
        ? `${label.name}: ${LABEL_CELLS[i]?.[j] ?? ""} (true ${i}, predicted ${j}): ${count} (${share})`
        : `true ${names[i]}, predicted ${names[j]}: ${count} (${share})`;
      if (label) td.dataset.label = String(label.index);
      const same = selected && selected.i === i && selected.j === j;
      if (same && selected.label === label?.index) td.classList.add("nbml-selected");
      td.addEventListener("click", () => pick(i, j));
      tr.append(td);
    });
    table.append(tr);
  });
  return table;
}

/** One 2x2 matrix per label, each captioned with the label's name. */
function labelMatrices(
  labels: string[],
  matrices: number[][][],
  mode: string,
  selected: Cell | null,
  pick: (cell: Cell) => void,
): HTMLElement {
  const box = el("div", "nbml-cm-labels");
  matrices.forEach((m, k) => {
    const fig = el("figure", "nbml-cm-label");
    fig.dataset.testid = "nbml-label-matrix";
    const name = labels[k] ?? String(k);
    const table = matrixTable(["0", "1"], m, mode, selected, (i, j) => pick({ i, j, label: k }), {
      index: k,
      name,
    });
    fig.append(el("figcaption", "", name), table);
    box.append(fig);
  });
  return box;
}

function perClassTable(rows: Row[], what: string, averages: Row[]): HTMLTableElement {
  const pc = el("table");
  const ph = el("tr");
  for (const h of [what, "precision", "recall", "f1", "support"]) ph.append(el("th", "", h));
  pc.append(ph);
  for (const r of [...rows, ...averages]) {
    const tr = el("tr", averages.includes(r) ? "nbml-cm-average" : "");
    tr.append(el("th", "", r.label));
    for (const v of [r.precision, r.recall, r.f1]) tr.append(el("td", "", fixed3(v)));
    tr.append(el("td", "", String(r.support)));
    pc.append(tr);
  }
  return pc;
}

/** Thumbnails for images, a table of feature values otherwise. */
function sampleGrid(items: Item[], features: string[]): HTMLElement {
  const images = items.some((it) => it.image);
  const grid = el("div", images ? "nbml-cm-grid" : "");
  if (images) {
    for (const it of items) {
      const fig = el("figure", "nbml-cm-thumb");
      fig.dataset.testid = "nbml-sample";
      const img = el("img");
      img.src = it.image ?? "";
      img.alt = `sample ${it.index}`;
      fig.append(img, el("figcaption", "", `#${it.index}`));
      grid.append(fig);
    }
  } else if (items.length) {
    const t = el("table");
    const h = el("tr");
    h.append(el("th", "", "index"));
    const n = items[0].values?.length ?? 0;
    for (let k = 0; k < n; k++) h.append(el("th", "", features[k] ?? `x${k}`));
    t.append(h);
    for (const it of items) {
      const tr = el("tr");
      tr.dataset.testid = "nbml-sample";
      tr.append(el("td", "", String(it.index)));
      for (const v of it.values ?? []) tr.append(el("td", "", formatNumber(v)));
      t.append(tr);
    }
    grid.append(t);
  }
  return grid;
}

function pager(msg: Samples, send: Send): HTMLElement {
  const box = el("div", "nbml-cm-pager");
  if (msg.pages <= 1) return box;
  const prev = el("button", "", "‹ previous");
  const next = el("button", "", "next ›");
  prev.disabled = msg.page <= 0;
  next.disabled = msg.page >= msg.pages - 1;
  const label = msg.label === undefined ? {} : { label: msg.label };
  const go = (page: number) => () =>
    send({ type: "cell", ...label, true: msg.true, pred: msg.pred, page });
  prev.addEventListener("click", go(msg.page - 1));
  next.addEventListener("click", go(msg.page + 1));
  box.append(prev, el("span", "", ` page ${msg.page + 1} of ${msg.pages} `), next);
  return box;
}

function showSamples(v: View, model: Model, msg: Samples): void {
  const labels = (model.get("labels") ?? []) as string[];
  const features = (model.get("feature_names") ?? []) as string[];
  const cell =
    msg.label === undefined
      ? `true ${labels[msg.true]}, predicted ${labels[msg.pred]}`
      : `${labels[msg.label]}: ${LABEL_CELLS[msg.true]?.[msg.pred] ?? ""} ` +
        `(true ${msg.true}, predicted ${msg.pred})`;
  const title = el("div", "nbml-cm-title", `${cell}: ${msg.total} samples`);
  const send: Send = (m) => model.send(m);
  v.samples.replaceChildren(title, sampleGrid(msg.items, features), pager(msg, send));
  v.samples.dataset.total = String(msg.total);
  v.samples.dataset.shown = String(msg.items.length);
}

const TRAITS = ["normalize", "matrix", "notice", "task"];

function render({ model, el: root }: { model: Model; el: HTMLElement }): () => void {
  const v = buildView();
  root.append(v.box);
  let selected: Cell | null = null;
  const draw = guarded(root, "draw the confusion matrix", (): void => {
    const mode = String(model.get("normalize") ?? "none");
    const multilabel = model.get("task") === "multilabel";
    v.select.value = mode;
    const accuracy = multilabel ? "subset accuracy" : "accuracy";
    v.accuracy.textContent = `${accuracy} ${pct(model.get("accuracy"))}`;
    v.notice.textContent = String(model.get("notice") ?? "");
    v.notice.hidden = !v.notice.textContent;
    const pick = (cell: Cell): void => {
      selected = cell;
      const label = cell.label === undefined ? {} : { label: cell.label };
      model.send({ type: "cell", ...label, true: cell.i, pred: cell.j, page: 0 });
      draw();
    };
    const labels = (model.get("labels") ?? []) as string[];
    const rows = (model.get("per_class") ?? []) as Row[];
    if (multilabel) {
      const matrices = (model.get("matrix") ?? []) as number[][][];
      v.matrixBox.replaceChildren(labelMatrices(labels, matrices, mode, selected, pick));
      const averages = (model.get("averages") ?? []) as Row[];
      v.tableBox.replaceChildren(perClassTable(rows, "label", averages));
    } else {
      const matrix = (model.get("matrix") ?? []) as number[][];
      const table = matrixTable(labels, matrix, mode, selected, (i, j) => pick({ i, j }));
      v.matrixBox.replaceChildren(table);
      v.tableBox.replaceChildren(perClassTable(rows, "class", []));
    }
  });
  const onMessage = guarded(root, "show the samples", (...args: unknown[]): void => {
    const msg = args[0] as Samples;
    if (msg.type === "samples") showSamples(v, model, msg);
  });
  v.select.addEventListener("change", () => {
    model.set("normalize", v.select.value);
    model.save_changes();
  });
  model.on("msg:custom", onMessage);
  for (const t of TRAITS) model.on(`change:${t}`, draw);
  draw();
  return () => {
    model.off("msg:custom", onMessage);
    for (const t of TRAITS) model.off(`change:${t}`, draw);
  };
}

export default { render: safeRender("confusion matrix", render) };
