// The "Models" panel as a JupyterLab widget; the React view itself is in ./view.
import { ReactWidget, UseSignal } from "@jupyterlab/ui-components";
import { LabIcon } from "@jupyterlab/ui-components";
import React from "react";

import type { SidebarModel } from "./model";
import { Actions, Boundary, SidebarView } from "./view";

export type { Actions } from "./view";

export const modelsIcon = new LabIcon({
  name: "nbml:models",
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="16"><path class="jp-icon3" ' +
    'fill="#616161" d="M3 20h18v2H3zM5 12h3v6H5zm5-6h3v12h-3zm5 3h3v9h-3z"/></svg>',
});

export class SidebarPanel extends ReactWidget {
  constructor(
    private readonly model: SidebarModel,
    private readonly actions: Actions,
  ) {
    super();
    this.id = "nbml-sidebar";
    this.addClass("nbml-sidebar");
    this.title.icon = modelsIcon;
    this.title.caption = "Models";
    this.title.label = "";
  }

  render(): JSX.Element {
    // each document and each model row has its own error boundary (./view); this one keeps the
    // panel itself up whatever happens above them
    return (
      <UseSignal signal={this.model.changed}>
        {() => (
          <Boundary what="the Models panel" data={this.model.docs}>
            <SidebarView model={this.model} actions={this.actions} />
          </Boundary>
        )}
      </UseSignal>
    );
  }
}
