// The consumer app built by webpack 5 with nothing wasm-specific: an entry, an HTML page and
// the package resolved from pkg/ (as `npm install` would put it in node_modules).
const fs = require("fs");
const path = require("path");
const HtmlWebpackPlugin = require("html-webpack-plugin");

module.exports = {
  mode: "production",
  context: path.resolve(__dirname, "app"),
  entry: "./main.js",
  output: { path: path.resolve(__dirname, "../../target/consumers/webpack"), clean: true },
  resolve: { alias: { "webgpu-style-transfer": path.resolve(__dirname, "../../pkg") } },
  performance: { hints: false },
  // The same page as Vite's, with webpack's own script tag instead of the source module's.
  plugins: [
    new HtmlWebpackPlugin({
      templateContent: fs
        .readFileSync(path.resolve(__dirname, "app/index.html"), "utf8")
        .replace(/<script[^>]*><\/script>/, ""),
      scriptLoading: "module",
    }),
  ],
};
