/// <reference types="node" />
// No import cycle in the sidebar (src/) or the widgets (widgets/). `npm run lint:check` runs
// ESLint's import-x/no-cycle, which follows value imports (dynamic ones included); these tests
// show that it fails on a cycle, and walk every relative import, type-only ones included (the
// rule skips those), so that no two modules know each other at all.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const ROOT = path.resolve(__dirname, "..", "..");
const FOLDERS = ["src", "widgets"];
const EXTENSIONS = [".ts", ".tsx"];

/** Every .ts/.tsx file under ``folder`` (tests and declaration files left out). */
function sources(folder: string): string[] {
  const out: string[] = [];
  const entries = fs.readdirSync(folder, { withFileTypes: true });
  for (const entry of entries.sort((a: fs.Dirent, b: fs.Dirent) => a.name.localeCompare(b.name))) {
    const full = path.join(folder, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== "__tests__") out.push(...sources(full));
    } else if (EXTENSIONS.some((e) => entry.name.endsWith(e)) && !entry.name.endsWith(".d.ts")) {
      out.push(full);
    }
  }
  return out;
}

/** The files ``file`` imports by a relative path: `import`, `import type`, `export ... from`,
 * `import("...")`. */
export function relativeImports(file: string, text: string): string[] {
  const found: string[] = [];
  const pattern = /(?:\bfrom\s*|\bimport\s*\(?\s*)["'](\.{1,2}\/[^"']+)["']/g;
  for (const m of text.matchAll(pattern)) {
    const base = path.resolve(path.dirname(file), m[1]);
    const target = [base, ...EXTENSIONS.map((e) => base + e)].find(
      (p) => fs.existsSync(p) && fs.statSync(p).isFile(),
    );
    if (target && EXTENSIONS.some((e) => target.endsWith(e))) found.push(target);
  }
  return found;
}

/** The first import cycle in ``graph`` (its files, the first repeated at the end), or null. */
export function findCycle(graph: Map<string, string[]>): string[] | null {
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (file: string): string[] | null => {
    if (state.get(file) === "done") return null;
    if (state.get(file) === "open") return [...stack.slice(stack.indexOf(file)), file];
    state.set(file, "open");
    stack.push(file);
    for (const next of graph.get(file) ?? []) {
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    stack.pop();
    state.set(file, "done");
    return null;
  };
  for (const file of graph.keys()) {
    const cycle = visit(file);
    if (cycle) return cycle;
  }
  return null;
}

function graphOf(root: string): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const folder of FOLDERS) {
    for (const file of sources(path.join(root, folder))) {
      graph.set(file, relativeImports(file, fs.readFileSync(file, "utf8")));
    }
  }
  return graph;
}

/** A copy of src/, widgets/ and the lint set-up in a temporary folder (node_modules linked). */
function copyTree(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nbml-cycle-"));
  for (const folder of FOLDERS)
    fs.cpSync(path.join(ROOT, folder), path.join(dir, folder), {
      recursive: true,
    });
  for (const file of ["eslint.config.mjs", "tsconfig.json", "package.json"]) {
    fs.copyFileSync(path.join(ROOT, file), path.join(dir, file));
  }
  fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(dir, "node_modules"), "dir");
  return dir;
}

function eslint(dir: string): { status: number | null; output: string } {
  const bin = path.join(ROOT, "node_modules", "eslint", "bin", "eslint.js");
  const run = spawnSync(process.execPath, [bin, "--no-warn-ignored", ...FOLDERS], {
    cwd: dir,
    encoding: "utf8",
  });
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

describe("imports", () => {
  it("form no cycle in src/ and widgets/, type-only imports included", () => {
    const graph = graphOf(ROOT);
    expect(graph.size).toBeGreaterThan(10);
    // the walk sees the imports that matter: the connection uses the model's type and the wire
    // types, the widgets use the shared formatting module
    const rel = (f: string): string => path.relative(ROOT, f);
    const edges = [...graph].flatMap(([f, to]) => to.map((t) => `${rel(f)} -> ${rel(t)}`));
    expect(edges).toEqual(
      expect.arrayContaining([
        "src/kernel.ts -> src/model.ts",
        "src/kernel.ts -> src/protocol.ts",
        "widgets/monitor.ts -> src/format.ts",
        "src/view.tsx -> src/format.ts",
      ]),
    );
    expect(findCycle(graph)?.map(rel) ?? null).toBeNull();
  });

  it("protocol.ts holds types only: it imports nothing and declares no value", () => {
    const text = fs.readFileSync(path.join(ROOT, "src", "protocol.ts"), "utf8");
    expect(text).not.toMatch(/^\s*import\b/m);
    expect(text).not.toMatch(/^export\s+(const|let|var|function|class|enum)\b/m);
  });

  it("finds a type-only cycle", () => {
    const dir = copyTree();
    try {
      fs.appendFileSync(
        path.join(dir, "src", "protocol.ts"),
        '\nimport type { SidebarModel } from "./model";\nexport type M = SidebarModel;\n',
      );
      const cycle = findCycle(graphOf(dir))?.map((f) => path.relative(dir, f));
      expect(cycle?.[0]).toBe(cycle?.[cycle.length - 1]);
      // (through ./inspection, which model.ts imports first, or directly)
      expect(cycle).toEqual(expect.arrayContaining(["src/model.ts", "src/protocol.ts"]));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("make lint's ESLint fails on a cycle (import-x/no-cycle), across src/ and widgets/", () => {
    const dir = copyTree();
    try {
      expect(eslint(dir)).toEqual({ status: 0, output: "" });
      // the shared formatting module reaching back into a widget that uses it
      fs.appendFileSync(
        path.join(dir, "src", "format.ts"),
        '\nimport { LOG_RATIO } from "../widgets/charts";\nexport const RATIO = LOG_RATIO;\n',
      );
      const { status, output } = eslint(dir);
      expect(status).toBe(1);
      expect(output).toContain("import-x/no-cycle");
      expect(output).toMatch(/src\/format\.ts[\s\S]*Dependency cycle detected/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
