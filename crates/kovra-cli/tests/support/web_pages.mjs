// Drives the web UI's record detail, agents, providers and two-factor pages in Debian's
// headless Chromium over CDP (playwright-core). Configuration as JSON on stdin (the login
// link is a credential until used); one JSON report on stdout.
//
//   { "chromium": PATH, "playwright": DIR, "link": URL, "coordinate": "secret:…",
//     "screenshots": DIR|null }
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { launch, stop } from "./chromium.mjs";

const config = JSON.parse(readFileSync(0, "utf8"));
const require = createRequire(import.meta.url);
const { chromium } = require(config.playwright);

async function main() {
  const { child, ws, profile } = await launch(config.chromium);
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
    stop({ child, profile });
  }
  out.bodies = [...bodies];
  process.stdout.write(JSON.stringify(out));
}

main().catch((e) => { console.error(String(e && e.stack || e)); process.exit(1); });
