// esbuild bundles imported CSS into a sibling .css file.
declare module "*.css";
