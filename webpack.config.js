// Builds the demo page (www/) against the npm package that scripts/build-wasm.sh writes to
// pkg/, exactly as an app that `npm install`s the package would import it.
const path = require("path");
const HtmlWebpackPlugin = require("html-webpack-plugin");

module.exports = (env, argv) => ({
  entry: "./www/index.js",
  output: {
    path: path.resolve(__dirname, "dist"),
    filename: "[name].[contenthash].js",
    clean: true,
  },
  resolve: {
    alias: { "webgpu-style-transfer": path.resolve(__dirname, "pkg") },
  },
  module: {
    rules: [{ test: /\.(png|jpe?g)$/i, type: "asset/resource" }],
  },
  performance: { hints: false },
  devtool: argv.mode === "production" ? false : "source-map",
  plugins: [new HtmlWebpackPlugin({ template: "./www/index.html" })],
  devServer: {
    host: "127.0.0.1",
    port: 8080,
    static: false,
    hot: false,
    client: { overlay: false },
    headers: {
      "Cross-Origin-Opener-Policy": "same-origin",
      "Cross-Origin-Embedder-Policy": "require-corp",
    },
  },
});
