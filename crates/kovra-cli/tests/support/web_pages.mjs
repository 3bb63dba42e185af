// Drives the web UI's record detail, agents, providers and two-factor pages in Debian's
// headless Chromium over CDP (playwright-core). Configuration as JSON on stdin (the login
// link is a credential until used); one JSON report on stdout.
//
//   { "chromium": PATH, "playwright": DIR, "link": URL, "coordinate": "secret:…",
//     "screenshots": DIR|null }
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";

const config = JSON.parse(readFileSync(0, "utf8"));
const require = createRequire(import.meta.url);
const { chromium } = require(config.playwright);

function launch() {
  const profile = mkdtempSync(join(tmpdir(), "kovra-chromium-"));
  const args = ["--headless", "--remote-debugging-port=0", "--user-data-dir=" + profile,
    "--no-first-run", "--no-default-browser-check", "--disable-gpu", "--disable-extensions",
    "--disable-background-networking", "--disable-sync", "--window-size=1280,900", "about:blank"];
  if (process.getuid && process.getuid() === 0) args.unshift("--no-sandbox");
  const child = spawn(config.chromium, args, { stdio: ["ignore", "ignore", "pipe"], detached: true });
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

async function main() {
  const { child, ws, profile } = await launch();
  const out = { pages: {} };
  const bodies = new Set();
  const shot = async (page, name) => {
    if (config.screenshots) await page.screenshot({ path: join(config.screenshots, name + ".png"), fullPage: true });
  };
  try {
    const browser = await chromium.connectOverCDP(ws);
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    page.on("response", async (res) => {
      try { bodies.add(await res.text()); } catch { /* a redirect has no body */ }
    });
    const origin = new URL(config.link).origin;
    await page.goto(config.link);
    const ready = async (path) => {
      await page.goto(origin + path);
      await page.waitForSelector("body[data-ready='1']", { timeout: 30000 });
      out.pages[path] = await page.content();
    };

    // Records: keyboard from the first row's link to the used record's, Enter opens it.
    await ready("/records");
    const links = await page.locator("#records tbody a").allTextContents();
    out.rows = links;
    await page.locator("#records tbody a").first().focus();
    const target = links.indexOf(config.coordinate);
    for (let i = 0; i < target; i++) await page.keyboard.press("ArrowDown");
    out.focused = await page.evaluate(() => document.activeElement.textContent);
    await page.keyboard.press("Enter");
    await page.waitForFunction(() => document.getElementById("usage-last").textContent !== "");
    out.usage_last = await page.locator("#usage-last").textContent();
    out.usage_rows = await page.locator("#usage tbody tr").evaluateAll((rows) =>
      rows.map((r) => [...r.cells].map((c) => c.textContent)));
    out.detail_title = await page.locator("#detail-title").textContent();
    out.pages["/records#detail"] = await page.content();
    await shot(page, "record-detail");
    await page.emulateMedia({ colorScheme: "dark" });
    await shot(page, "record-detail-dark");
    await page.emulateMedia({ colorScheme: "light" });

    await ready("/agents");
    out.agents = await page.locator("#agents tbody").textContent();
    out.web_sessions = await page.locator("#web-sessions-count").textContent();
    await shot(page, "agents");

    await ready("/providers");
    out.providers = await page.locator("#providers tbody").textContent();
    await shot(page, "providers");

    await ready("/2fa");
    out.twofa_state = await page.locator("#twofa-state").textContent();
    out.twofa_how = await page.locator("#twofa-how").textContent();
    await shot(page, "2fa");

    // Every label names a control, and every control has a label.
    out.unlabelled = await page.evaluate(() => [...document.querySelectorAll("input, select")]
      .filter((e) => !e.labels || e.labels.length === 0).map((e) => e.id));
    await browser.close();
  } finally {
    try { process.kill(-child.pid, "SIGKILL"); } catch { /* gone already */ }
    rmSync(profile, { recursive: true, force: true });
  }
  out.bodies = [...bodies];
  process.stdout.write(JSON.stringify(out));
}

main().catch((e) => { console.error(String(e && e.stack || e)); process.exit(1); });
