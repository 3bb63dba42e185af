// Drives kovra's web UI in Debian's headless Chromium over CDP (playwright-core, no browser
// download). Its configuration comes as JSON on stdin, never in an argument: the login links
// are credentials until used. Prints one JSON document of what it saw on stdout.
//
//   { "mode": "e2e" | "bench", "chromium": "/usr/bin/chromium", "playwright": DIR,
//     "links": [URL, URL], "canary": "...", "xss": "secret:…", "screenshots": DIR|null,
//     "runs": N, "records": N }
//
// e2e: a link works once; the session cookie's flags; the CSP header; markup in a record's
// description is shown as text; an injected inline script does not run; a record added
// through the page; 100 concurrent API calls; the records view's time with the records the
// vault holds; every page's HTML and every response body the browser saw (for the caller to
// scan for the canary). bench: the records view's load time, `runs` times.
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { launch, stop } from "./chromium.mjs";

const config = JSON.parse(readFileSync(0, "utf8"));
const require = createRequire(import.meta.url);
const { chromium } = require(config.playwright);

async function recordsTime(page, origin) {
  await page.goto(origin + "/records");
  await page.waitForFunction(() => performance.getEntriesByName("kovra-records-shown").length > 0,
    null, { timeout: 60000 });
  return page.evaluate(() => ({
    shown: performance.getEntriesByName("kovra-records-shown")[0].startTime,
    rendered: performance.getEntriesByName("kovra-records-rendered")[0].startTime,
    rows: document.querySelectorAll("#records tbody tr").length,
    total: Number(document.getElementById("records").dataset.total),
  }));
}

async function main() {
  const { child, ws, profile } = await launch(config.chromium);
  const out = { pages: {}, statuses: {} };
  // Every distinct response body the browser saw while collecting (the caller scans them).
  const bodies = new Set();
  let collecting = true;
  try {
    const browser = await chromium.connectOverCDP(ws);
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const [link, second] = config.links;
    const origin = new URL(link).origin;
    page.on("response", async (res) => {
      if (!collecting) return;
      try { bodies.add(await res.text()); } catch { /* a redirect has no body */ }
    });
    // Seen before any page script: every CSP violation the pages report.
    await context.addInitScript(() => {
      window.__violations = [];
      document.addEventListener("securitypolicyviolation", (e) =>
        window.__violations.push(e.violatedDirective));
    });

    const first = await page.goto(link);
    out.login_status = first.status();
    out.after_login = new URL(page.url()).pathname;
    out.csp = first.headers()["content-security-policy"] || null;
    await page.waitForSelector("body[data-ready]");
    const cookies = await context.cookies();
    out.cookie = cookies.filter((c) => c.name === "kovra_ui")
      .map((c) => ({ httpOnly: c.httpOnly, secure: c.secure, sameSite: c.sameSite, path: c.path }));

    if (config.mode === "bench") {
      out.runs = [];
      // Interleaved, run by run: the whole view (page, script, data, rows, the next frame),
      // and the anchor: the same listing fetched and parsed by the page with no rows built.
      for (let i = 0; i < (config.runs || 5); i++) {
        const view = await recordsTime(page, origin);
        view.fetch_only = await page.evaluate(async () => {
          const t = performance.now();
          const doc = await (await fetch("/api/records")).json();
          return doc.reply.records.length ? performance.now() - t : -1;
        });
        out.runs.push(view);
      }
      delete out.pages;
      return out;
    }

    // The same link again, in a fresh context (no cookie): refused.
    const other = await browser.newContext();
    const again = await (await other.newPage()).goto(link);
    out.second_use_status = again.status();
    await other.close();

    // Markup in a description is text; an injected inline script is blocked by the CSP.
    out.xss_text = await page.locator("#records").innerText();
    out.xss_ran = await page.evaluate(() => window.__xss === 1);
    out.inline_ran = await page.evaluate(() => new Promise((resolve) => {
      const s = document.createElement("script");
      s.textContent = "window.__inline = 1;";
      document.body.appendChild(s);
      setTimeout(() => resolve(window.__inline === 1), 200);
    }));
    out.violations = await page.evaluate(() => window.__violations);
    out.records_view = await recordsTime(page, origin);
    out.pages.records = await page.content();
    if (config.screenshots) await page.screenshot({ path: join(config.screenshots, "records.png") });

    console.error("web_e2e: records view done");
    // Add a record through the page: the value is typed, sent once, never shown back.
    await page.goto(origin + "/add");
    await page.waitForSelector("body[data-ready]");
    await page.fill("#a-coordinate", "secret:dev/web/ADDED");
    await page.fill("#a-value", config.canary);
    await page.fill("#a-description", "added through the web UI");
    if (config.screenshots) await page.screenshot({ path: join(config.screenshots, "add.png") });
    await page.getByRole("button", { name: "Add", exact: true }).click();
    await page.waitForFunction(() => document.getElementById("message").textContent !== "");
    out.add_message = await page.locator("#message").innerText();
    out.value_field_after = await page.inputValue("#a-value");
    out.pages.add = await page.content();

    // The new record is listed (metadata only) and its history opens.
    await page.goto(origin + "/records");
    await page.waitForSelector("body[data-ready]");
    await page.fill("#f-search", "secret:dev/web/ADDED");
    out.listed_added = await page.locator("#records tbody tr:not([hidden])").count();
    await page.locator("#records tbody tr:not([hidden]) a").first().click();
    await page.waitForSelector("#history tbody tr");
    out.history_rows = await page.locator("#history tbody tr").count();
    // Its metadata edited from the detail form.
    await page.fill("#e-description", "edited in the web UI");
    await page.evaluate(() => { document.getElementById("message").textContent = ""; });
    await page.getByRole("button", { name: "Save metadata" }).click();
    await page.waitForFunction(() => document.getElementById("message").textContent !== "");
    out.edit_message = await page.locator("#message").innerText();
    out.pages.detail = await page.content();

    // A generated record: its value never reaches the page at all.
    await page.goto(origin + "/add");
    await page.waitForSelector("body[data-ready]");
    await page.fill("#g-coordinate", "secret:dev/web/GENERATED");
    await page.getByRole("button", { name: "Generate", exact: true }).click();
    await page.waitForFunction(() => document.getElementById("message").textContent !== "");
    out.generate_message = await page.locator("#message").innerText();

    await page.goto(origin + "/audit");
    await page.waitForSelector("body[data-ready]");
    out.audit_text = await page.locator("#audit").innerText();
    out.pages.audit = await page.content();
    if (config.screenshots) await page.screenshot({ path: join(config.screenshots, "audit.png") });
    if (config.screenshots) {
      await page.emulateMedia({ colorScheme: "dark" });
      await page.screenshot({ path: join(config.screenshots, "audit-dark.png") });
      await page.emulateMedia({ colorScheme: "light" });
    }
    for (const name of ["approvals", "providers", "agents"]) {
      await page.goto(origin + "/" + name);
      await page.waitForSelector("body[data-ready]");
      out.pages[name] = await page.content();
    }

    console.error("web_e2e: pages done");
    collecting = false;
    out.bodies = [...bodies];
    // 100 API calls at once from the page, then the UI still answers.
    out.concurrent = await page.evaluate(async () => {
      const all = await Promise.all(Array.from({ length: 100 }, (_, i) =>
        fetch(["/api/status", "/api/approvals", "/api/providers", "/api/agents"][i % 4]).then((r) => r.status)));
      return all.reduce((m, s) => { m[s] = (m[s] || 0) + 1; return m; }, {});
    });
    const status = (p) => p.evaluate(() => fetch("/api/status").then((r) => r.status));
    out.after_concurrent = await status(page);
    // Typed into the address bar (Sec-Fetch-Site: none), the API is refused: only the
    // pages' own calls reach it.
    out.api_navigation = (await page.goto(origin + "/api/status")).status();

    // The second link logs in a second session; the lock button ends both.
    const ctx2 = await browser.newContext();
    const page2 = await ctx2.newPage();
    out.second_link_status = (await page2.goto(second)).status();
    await page.goto(origin + "/records");
    await page.waitForSelector("body[data-ready]");
    await page.getByRole("button", { name: "Lock" }).click();
    await page.waitForFunction(() => document.getElementById("message").textContent !== "");
    out.lock_message = await page.locator("#message").innerText();
    out.after_lock = await status(page2);
    await ctx2.close();
    await context.close();
    await browser.close();
    return out;
  } finally {
    stop({ child, profile });
    child.stderr.destroy();
  }
}

main().then((out) => process.stdout.write(JSON.stringify(out), () => process.exit(0)), (e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
