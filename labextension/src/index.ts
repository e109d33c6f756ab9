// Wires the "Models" sidebar into JupyterLab: one KernelLink per open notebook or console.
// Each link names its comm with a slot (the document's path and an ordinal among this page's
// links to the same path), so that after a page reload the kernel replaces the old page's comm;
// the links close their comms when the page goes away (pagehide) or their document closes.
// Kernels with no document here (another Notebook 7 tab, a closed notebook) come from the
// Jupyter server's /nbml/kernels (./remote), polled while the panel is visible. A click on a
// model opens its inspector; so does the monitor widget's "N layers flagged" link, through the
// DOM event `nbml:inspect` ({detail: {name}}), which reveals the panel first.
import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from "@jupyterlab/application";
import { ConsolePanel, IConsoleTracker } from "@jupyterlab/console";
import { INotebookTracker, NotebookPanel } from "@jupyterlab/notebook";

import { SidebarModel } from "./model";
import { KernelLink } from "./kernel";
import type { ModelInfo } from "./protocol";
import { Local, REMOTE, RemoteKernels } from "./remote";
import { SidebarPanel } from "./sidebar";

import "../style/index.css";

const plugin: JupyterFrontEndPlugin<void> = {
  id: "nbml:sidebar",
  description: "Every open kernel's nbml models and devices, live.",
  autoStart: true,
  optional: [ILayoutRestorer, INotebookTracker, IConsoleTracker],
  activate: (
    app: JupyterFrontEnd,
    restorer: ILayoutRestorer | null,
    notebooks: INotebookTracker | null,
    consoles: IConsoleTracker | null,
  ) => {
    const model = new SidebarModel();
    const links = new Map<string, KernelLink>();
    const widgets = new Map<string, NotebookPanel | ConsolePanel>();
    const slots = new Map<string, string>(); // widget id -> slot

    const reveal = (docId: string, info: ModelInfo): void => {
      const widget = widgets.get(docId);
      if (!widget) return;
      app.shell.activateById(widget.id);
      if (widget instanceof NotebookPanel && info.cell != null) {
        const nb = widget.content;
        const index = nb.widgets.findIndex(
          (c) =>
            c.model.type === "code" &&
            (c.model.toJSON() as { execution_count?: number }).execution_count === info.cell,
        );
        if (index >= 0) {
          nb.activeCellIndex = index;
          void nb.scrollToItem(index, "center");
        }
      }
    };
    // what this application shows through documents: their kernels and paths
    const local = (): Local => {
      const kernels = new Set<string>();
      const paths = new Set<string>();
      widgets.forEach((w) => {
        const kernel = w.sessionContext.session?.kernel?.id;
        if (kernel) kernels.add(kernel);
        if (w.sessionContext.path) paths.add(w.sessionContext.path);
      });
      return { kernels, paths };
    };
    const remote = new RemoteKernels(
      model,
      app.serviceManager.serverSettings,
      local,
      () => panel.isVisible,
    );
    const inspect = (docId: string, info: ModelInfo): void => {
      model.openInspector(docId, info.name);
      if (docId.startsWith(REMOTE)) void remote.inspect(docId, info);
      else links.get(docId)?.inspect(info.name);
    };
    const panel = new SidebarPanel(model, {
      stop: (docId, info) =>
        docId.startsWith(REMOTE) ? void remote.stop(docId, info) : links.get(docId)?.stop(info),
      inspect,
      reveal,
    });
    app.shell.add(panel, "left", { rank: 600 });
    restorer?.add(panel, "nbml-sidebar");
    // the monitor widget's "N layers flagged": the inspector of that model, in the entry of the
    // document whose output holds the link (else the first entry that lists the model)
    window.addEventListener("nbml:inspect", (event) => {
      const name = (event as CustomEvent<{ name?: unknown }>).detail?.name;
      if (typeof name !== "string" || !name) return;
      const target = event.target instanceof Node ? event.target : null;
      let docId = [...widgets].find(([, w]) => target && w.node.contains(target))?.[0];
      const listed = (id: string): boolean => !!model.get(id)?.models.some((m) => m?.name === name);
      if (!docId || !listed(docId)) docId = model.docs.find((d) => listed(d.id))?.id;
      const info = docId ? model.get(docId)?.models.find((m) => m?.name === name) : undefined;
      app.shell.activateById(panel.id);
      if (docId && info) inspect(docId, info);
    });

    const track = (widget: NotebookPanel | ConsolePanel, kind: "notebook" | "console"): void => {
      if (links.has(widget.id)) return;
      model.add(widget.id, widget.title.label || kind, kind);
      widgets.set(widget.id, widget);
      const base = `${kind}:${widget.sessionContext.path || widget.title.label}`;
      const taken = new Set(slots.values());
      let n = 0;
      while (taken.has(`${base}#${n}`)) n++;
      slots.set(widget.id, `${base}#${n}`);
      links.set(widget.id, new KernelLink(model, widget.id, widget.sessionContext, `${base}#${n}`));
      widget.title.changed.connect(() => model.rename(widget.id, widget.title.label));
      widget.sessionContext.sessionChanged.connect(() => remote.refresh());
      remote.refresh(); // a kernel listed through the server may now be this document's
      widget.disposed.connect(() => {
        links.get(widget.id)?.dispose();
        links.delete(widget.id);
        widgets.delete(widget.id);
        slots.delete(widget.id);
        model.remove(widget.id);
        remote.refresh(); // its kernel may still run: listed through the server again
      });
    };
    notebooks?.widgetAdded.connect((_, w) => track(w, "notebook"));
    notebooks?.forEach((w) => track(w, "notebook"));
    consoles?.widgetAdded.connect((_, w) => track(w, "console"));
    consoles?.forEach((w) => track(w, "console"));
    // a reload or a closed tab: close every comm of this page (the kernel would otherwise keep
    // pushing to them); a page restored from the back/forward cache opens new ones
    window.addEventListener("pagehide", () => links.forEach((link) => link.close()));
    window.addEventListener("pageshow", (e) => {
      if (e.persisted) links.forEach((link) => link.reopen());
    });
  },
};

export default plugin;
