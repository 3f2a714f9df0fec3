// Launches the system Chromium (never a downloaded one) headless, with WebGPU on SwiftShader.
import { chromium } from "playwright-core";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

const QUIET = ["--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-quic", "--disable-dev-shm-usage"];

/** A fresh browser context; `webgpu: false` starts Chromium without WebGPU enabled. */
export async function launch({ webgpu = true } = {}) {
  const userDataDir = mkdtempSync(join(tmpdir(), "st-chromium-"));
  // A fake camera (a moving test pattern) that needs no permission prompt, for the webcam test.
  const args = ["--no-sandbox", ...QUIET, "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"];
  if (webgpu) args.push("--enable-unsafe-webgpu", "--enable-features=Vulkan");
  else args.push("--disable-gpu");
  return chromium.launchPersistentContext(userDataDir, { executablePath: CHROMIUM, headless: true, args, viewport: { width: 1100, height: 800 } });
}
