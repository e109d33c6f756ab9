// react-dom's server renderer, for the view's tests (no @types/react-dom in this project).
declare module "react-dom/server" {
  import type { ReactElement } from "react";
  export function renderToStaticMarkup(element: ReactElement): string;
}
