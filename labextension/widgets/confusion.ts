// nbml confusion matrix: heatmap with counts and labels, normalisation, hover details,
// click a cell to page through its samples, and the per-class precision/recall/F1 table.
// A number that was NaN or infinite in the kernel arrives as null and shows as "nan"; an error
// while drawing shows as text in the widget; a click the kernel refuses shows its `notice`.
import "./confusion.css";
import { Model, el, finite, formatNumber, guarded, safeRender } from "./shared";

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

function render({ model, el: root }: { model: Model; el: HTMLElement }): () => void {
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
  root.append(box);

  let selected: [number, number] | null = null;

  const draw = guarded(root, "draw the confusion matrix", (): void => {
    const labels = (model.get("labels") ?? []) as string[];
    const matrix = (model.get("matrix") ?? []) as number[][];
    const mode = String(model.get("normalize") ?? "none");
    select.value = mode;
    accuracy.textContent = `accuracy ${pct(model.get("accuracy"))}`;
    notice.textContent = String(model.get("notice") ?? "");
    notice.hidden = !notice.textContent;
    const rowSums = matrix.map((r) => r.reduce((a, b) => a + b, 0));
    const colSums = labels.map((_, j) => matrix.reduce((a, r) => a + (r[j] ?? 0), 0));
    const total = rowSums.reduce((a, b) => a + b, 0) || 1;
    const value = (i: number, j: number): number => {
      const c = matrix[i][j];
      if (mode === "true") return rowSums[i] ? c / rowSums[i] : 0;
      if (mode === "pred") return colSums[j] ? c / colSums[j] : 0;
      return c;
    };
    let top = 0;
    matrix.forEach((r, i) => r.forEach((_, j) => (top = Math.max(top, value(i, j)))));
    top = top || 1;

    const table = el("table");
    const head = el("tr");
    head.append(el("th", "nbml-cm-corner", "true \\ predicted"));
    labels.forEach((l) => head.append(el("th", "", l)));
    table.append(head);
    matrix.forEach((row, i) => {
      const tr = el("tr");
      tr.append(el("th", "", labels[i]));
      row.forEach((count, j) => {
        const v = value(i, j);
        const td = el("td", "nbml-cm-cell", mode === "none" ? String(count) : pct(v));
        const a = v / top;
        td.style.background = `rgba(31,119,180,${a.toFixed(3)})`;
        td.style.color = a > 0.55 ? "#fff" : "inherit";
        td.dataset.true = String(i);
        td.dataset.pred = String(j);
        td.dataset.count = String(count);
        td.title =
          `true ${labels[i]}, predicted ${labels[j]}: ${count} ` +
          `(${pct(count / total)} of all, ${pct(rowSums[i] ? count / rowSums[i] : 0)} of true ${labels[i]})`;
        if (selected && selected[0] === i && selected[1] === j) td.classList.add("nbml-selected");
        td.addEventListener("click", () => {
          selected = [i, j];
          model.send({ type: "cell", true: i, pred: j, page: 0 });
          draw();
        });
        tr.append(td);
      });
      table.append(tr);
    });
    matrixBox.replaceChildren(table);

    const rows = (model.get("per_class") ?? []) as Row[];
    const pc = el("table");
    const ph = el("tr");
    for (const h of ["class", "precision", "recall", "f1", "support"]) ph.append(el("th", "", h));
    pc.append(ph);
    for (const r of rows) {
      const tr = el("tr");
      tr.append(el("th", "", r.label));
      for (const v of [r.precision, r.recall, r.f1]) tr.append(el("td", "", fixed3(v)));
      tr.append(el("td", "", String(r.support)));
      pc.append(tr);
    }
    tableBox.replaceChildren(pc);
  });

  const showSamples = (msg: Samples): void => {
    const labels = (model.get("labels") ?? []) as string[];
    const features = (model.get("feature_names") ?? []) as string[];
    const title = el(
      "div",
      "nbml-cm-title",
      `true ${labels[msg.true]}, predicted ${labels[msg.pred]}: ${msg.total} samples`,
    );
    const grid = el("div", msg.items.some((it) => it.image) ? "nbml-cm-grid" : "");
    if (msg.items.some((it) => it.image)) {
      for (const it of msg.items) {
        const fig = el("figure", "nbml-cm-thumb");
        fig.dataset.testid = "nbml-sample";
        const img = el("img");
        img.src = it.image ?? "";
        img.alt = `sample ${it.index}`;
        fig.append(img, el("figcaption", "", `#${it.index}`));
        grid.append(fig);
      }
    } else if (msg.items.length) {
      const t = el("table");
      const h = el("tr");
      h.append(el("th", "", "index"));
      const n = msg.items[0].values?.length ?? 0;
      for (let k = 0; k < n; k++) h.append(el("th", "", features[k] ?? `x${k}`));
      t.append(h);
      for (const it of msg.items) {
        const tr = el("tr");
        tr.dataset.testid = "nbml-sample";
        tr.append(el("td", "", String(it.index)));
        for (const v of it.values ?? []) tr.append(el("td", "", formatNumber(v)));
        t.append(tr);
      }
      grid.append(t);
    }
    const pager = el("div", "nbml-cm-pager");
    if (msg.pages > 1) {
      const prev = el("button", "", "‹ previous");
      const next = el("button", "", "next ›");
      prev.disabled = msg.page <= 0;
      next.disabled = msg.page >= msg.pages - 1;
      prev.addEventListener("click", () =>
        model.send({ type: "cell", true: msg.true, pred: msg.pred, page: msg.page - 1 }),
      );
      next.addEventListener("click", () =>
        model.send({ type: "cell", true: msg.true, pred: msg.pred, page: msg.page + 1 }),
      );
      pager.append(prev, el("span", "", ` page ${msg.page + 1} of ${msg.pages} `), next);
    }
    samples.replaceChildren(title, grid, pager);
    samples.dataset.total = String(msg.total);
    samples.dataset.shown = String(msg.items.length);
  };

  const onMessage = guarded(root, "show the samples", (...args: unknown[]): void => {
    const msg = args[0] as Samples;
    if (msg.type === "samples") showSamples(msg);
  });
  select.addEventListener("change", () => {
    model.set("normalize", select.value);
    model.save_changes();
  });
  model.on("msg:custom", onMessage);
  model.on("change:normalize", draw);
  model.on("change:matrix", draw);
  model.on("change:notice", draw);
  draw();
  return () => {
    model.off("msg:custom", onMessage);
    model.off("change:normalize", draw);
    model.off("change:matrix", draw);
    model.off("change:notice", draw);
  };
}

export default { render: safeRender("confusion matrix", render) };
