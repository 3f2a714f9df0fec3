// Launches the system Chromium (never a downloaded one), with WebGPU on SwiftShader: headless by
// default; `headed: true` starts a windowed Chromium, which needs an X display (run the tests
// under `xvfb-run -a`), because only headed Chromium can present a WebGPU canvas here.
import { chromium } from "playwright-core";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

const QUIET = ["--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-quic", "--disable-dev-shm-usage"];

/** A fresh browser context; `webgpu: false` starts Chromium without WebGPU enabled. */
export async function launch({ webgpu = true, headed = false } = {}) {
  if (headed && !process.env.DISPLAY) {
    throw new Error("a headed Chromium needs an X display: run the tests under `xvfb-run -a` (apt-get install xvfb)");
  }
  const userDataDir = mkdtempSync(join(tmpdir(), "st-chromium-"));
  // A fake camera (a moving test pattern) that needs no permission prompt, for the webcam test.
  const args = ["--no-sandbox", ...QUIET, "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"];
  if (webgpu) args.push("--enable-unsafe-webgpu", "--enable-features=Vulkan");
  else args.push("--disable-gpu");
  // Headed: Vulkan on SwiftShader for WebGPU, sRGB output so screenshots hold the canvas's own
  // values, and no GPU watchdog: headed, it kills the GPU process during SwiftShader's long
  // shader compilations (every device is then lost: "A valid external Instance reference no
  // longer exists"); headless Chromium does not arm it.
  if (headed) args.push("--use-vulkan=swiftshader", "--force-color-profile=srgb", "--disable-gpu-watchdog");
  return chromium.launchPersistentContext(userDataDir, { executablePath: CHROMIUM, headless: !headed, args, viewport: { width: 1100, height: 800 } });
}
