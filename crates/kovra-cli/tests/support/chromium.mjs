// Debian's Chromium, headless, for the web UI's tests and bench: started here with a fresh
// profile and reached over CDP (playwright-core's connectOverCDP; no browser download).
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Start `binary`; resolves to `{ child, ws, profile }` once DevTools listens. */
export function launch(binary) {
  const profile = mkdtempSync(join(tmpdir(), "kovra-chromium-"));
  const args = ["--headless", "--remote-debugging-port=0", "--user-data-dir=" + profile,
    "--no-first-run", "--no-default-browser-check", "--disable-gpu", "--disable-extensions",
    "--disable-background-networking", "--disable-sync", "--window-size=1280,900", "about:blank"];
  // Chromium refuses to run as root with its sandbox on; only then is it turned off.
  if (process.getuid && process.getuid() === 0) args.unshift("--no-sandbox");
  // Its own process group, so that the browser and every helper process it started go at once.
  const child = spawn(binary, args, { stdio: ["ignore", "ignore", "pipe"], detached: true });
  return new Promise((resolve, reject) => {
    let err = "";
    const timer = setTimeout(() => reject(new Error("chromium did not start: " + err)), 30000);
    child.stderr.on("data", (d) => {
      err += d;
      const m = /DevTools listening on (ws:\/\/\S+)/.exec(err);
      if (m) { clearTimeout(timer); resolve({ child, ws: m[1], profile }); }
    });
    child.on("exit", (code) => reject(new Error("chromium exited " + code + ": " + err)));
  });
}

/** Stop the browser's whole process group and remove its profile. */
export function stop({ child, profile }) {
  try { process.kill(-child.pid, "SIGKILL"); } catch { /* gone already */ }
  try { rmSync(profile, { recursive: true, force: true }); } catch { /* best effort */ }
}
