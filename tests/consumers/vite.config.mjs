// The consumer app built by Vite with nothing wasm-specific; the package resolved from pkg/.
import { fileURLToPath } from "node:url";

const here = (p) => fileURLToPath(new URL(p, import.meta.url));

export default {
  root: here("./app"),
  logLevel: "warn",
  resolve: { alias: { "webgpu-style-transfer": here("../../pkg/index.js") } },
  build: { outDir: here("../../target/consumers/vite"), emptyOutDir: true, target: "es2022" },
};
