// Wires the "Models" sidebar into JupyterLab: one KernelLink per open notebook or console.
import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from "@jupyterlab/application";
import { ConsolePanel, IConsoleTracker } from "@jupyterlab/console";
import { INotebookTracker, NotebookPanel } from "@jupyterlab/notebook";

import { SidebarModel } from "./model";
import { KernelLink, ModelInfo } from "./protocol";
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
    const panel = new SidebarPanel(model, {
      stop: (docId, info) => links.get(docId)?.stop(info),
      summary: (docId, name) => links.get(docId)?.summary(name),
      reveal,
    });
    app.shell.add(panel, "left", { rank: 600 });
    restorer?.add(panel, "nbml-sidebar");

    const track = (widget: NotebookPanel | ConsolePanel, kind: "notebook" | "console"): void => {
      if (links.has(widget.id)) return;
      model.add(widget.id, widget.title.label || kind, kind);
      widgets.set(widget.id, widget);
      links.set(widget.id, new KernelLink(model, widget.id, widget.sessionContext));
      widget.title.changed.connect(() => model.rename(widget.id, widget.title.label));
      widget.disposed.connect(() => {
        links.get(widget.id)?.dispose();
        links.delete(widget.id);
        widgets.delete(widget.id);
        model.remove(widget.id);
      });
    };
    notebooks?.widgetAdded.connect((_, w) => track(w, "notebook"));
    notebooks?.forEach((w) => track(w, "notebook"));
    consoles?.widgetAdded.connect((_, w) => track(w, "console"));
    consoles?.forEach((w) => track(w, "console"));
  },
};

export default plugin;
