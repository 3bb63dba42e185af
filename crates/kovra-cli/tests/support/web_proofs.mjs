// Drives kovra's web UI proofs in Debian's headless Chromium over CDP (playwright-core), one
// step at a time: the test writes one JSON command a line on stdin (never in an argument: the
// login link and a passphrase travel there) and reads one JSON answer a line on stdout, so it
// can park an agent's request between two steps. Chromium's virtual authenticator (CDP
// `WebAuthn.addVirtualAuthenticator`) stands in for a passkey.
//
//   {"do":"start","chromium":PATH,"playwright":DIR,"link":URL}
//   {"do":"enrol","name":N,"passphrase":P}        the passkeys page, the proof a passphrase
//   {"do":"approve","id":ID,"with":"passkey"|"passphrase"|"look","passphrase":P,"grant":MINUTES}
//   {"do":"deny","id":ID}
//   {"do":"revoke-grant"}                         the first grant listed, revoked in the page
//   {"do":"remove-passkey","name":N,"passphrase":P}
//   {"do":"swap-authenticator"}                   remove the enrolled one, add a fresh one
//   {"do":"page","name":"approvals"|"passkeys","screenshot":PATH|null}
//   {"do":"bodies"}                               every response body and page text seen
//   {"do":"quit"}
import { createRequire } from "node:module";
import { launch, stop } from "./chromium.mjs";
import { createInterface } from "node:readline";

const require = createRequire(import.meta.url);

const AUTHENTICATOR = {
  protocol: "ctap2", transport: "internal", hasResidentKey: true,
  hasUserVerification: true, isUserVerified: true,
};

let chrome = null;
let page = null;
let cdp = null;
let authenticator = null;
let origin = null;
const bodies = new Set();

// The status line's text once it changes from `before` (the page's answer to a click).
async function nextMessage(before) {
  await page.waitForFunction((b) => {
    const m = document.getElementById("message");
    return m.textContent && m.textContent !== b;
  }, before, { timeout: 30000 });
  return page.evaluate(() => {
    const m = document.getElementById("message");
    return { text: m.textContent, bad: m.className === "bad" };
  });
}

async function open(name) {
  await page.goto(origin + "/" + name);
  await page.waitForFunction(() => document.body.dataset.ready === "1", null, { timeout: 30000 });
  await page.evaluate(() => { document.getElementById("message").textContent = ""; });
}

const steps = {
  async start(c) {
    const { chromium } = require(c.playwright);
    chrome = await launch(c.chromium);
    const browser = await chromium.connectOverCDP(chrome.ws);
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
    page.on("response", async (res) => {
      try { bodies.add(await res.text()); } catch { /* a redirect has no body */ }
    });
    origin = new URL(c.link).origin;
    await page.goto(c.link);
    cdp = await context.newCDPSession(page);
    await cdp.send("WebAuthn.enable");
    authenticator = (await cdp.send("WebAuthn.addVirtualAuthenticator", { options: AUTHENTICATOR })).authenticatorId;
    return { origin, secure: await page.evaluate(() => isSecureContext) };
  },

  async enrol(c) {
    await open("passkeys");
    await page.fill("#k-name", c.name);
    await page.click("#enrol-form button[type=submit]");
    await page.waitForSelector("#enrol-form .proof-secret", { timeout: 30000 });
    await page.fill("#enrol-form .proof-secret", c.passphrase);
    await page.click("#enrol-form .proof button[type=submit]");
    const said = await nextMessage("");
    await page.waitForTimeout(300);
    const rows = await page.$$eval("#passkeys tbody tr", (trs) => trs.map((tr) => tr.cells[0].textContent));
    const credentials = (await cdp.send("WebAuthn.getCredentials", { authenticatorId: authenticator })).credentials.length;
    return { said, rows, credentials, typed: await page.inputValue("#k-name") };
  },

  async approve(c) {
    await open("approvals");
    const art = `article.approval[data-id="${c.id}"]`;
    await page.waitForSelector(art, { timeout: 30000 });
    const facts = await page.$eval(art + " dl", (dl) => dl.textContent);
    const markup = await page.$$eval(art + " dl img, " + art + " dl script", (els) => els.length);
    const ran = await page.evaluate(() => window.__xss !== undefined);
    if (c.grant) {
      await page.check(art + " .grant");
      await page.fill(art + " .grant-minutes", String(c.grant));
    }
    await page.click(art + " button.approve");
    await page.waitForSelector(art + " form.proof", { timeout: 30000 });
    const offered = {
      passkey: await page.$(art + " .use-passkey") !== null,
      secret: await page.$(art + " .proof-secret") !== null,
      note: await page.$eval(art + " form.proof", (f) => f.textContent),
    };
    let said = null;
    if (c.with === "passkey") {
      await page.click(art + " .use-passkey");
      said = await nextMessage("");
    } else if (c.with === "passphrase") {
      await page.fill(art + " .proof-secret", c.passphrase);
      await page.click(art + " form.proof button[type=submit]");
      said = await nextMessage("");
    } else {
      await page.click(art + " form.proof button:text('Cancel')");
    }
    await page.waitForTimeout(300);
    const grants = await page.$$eval("#grants tbody tr", (trs) => trs.map((tr) => tr.textContent));
    const pending = await page.$$eval("article.approval", (as) => as.map((a) => a.dataset.id));
    return { facts, markup, ran, offered, said, grants, pending };
  },

  async deny(c) {
    await open("approvals");
    const art = `article.approval[data-id="${c.id}"]`;
    await page.waitForSelector(art, { timeout: 30000 });
    await page.click(art + " button.deny");
    return { said: await nextMessage("") };
  },

  async "revoke-grant"() {
    await open("approvals");
    await page.waitForSelector("#grants tbody tr button.revoke", { timeout: 30000 });
    await page.click("#grants tbody tr button.revoke");
    const said = await nextMessage("");
    await page.waitForTimeout(300);
    return { said, grants: await page.$$eval("#grants tbody tr", (trs) => trs.length) };
  },

  async "remove-passkey"(c) {
    await open("passkeys");
    const row = `#passkeys tbody tr:has(td:text-is("${c.name}"))`;
    await page.waitForSelector(row, { timeout: 30000 });
    await page.click(row + " button.remove");
    await page.waitForSelector("#page-passkeys .proof-secret", { timeout: 30000 });
    await page.fill("#page-passkeys .proof-secret", c.passphrase);
    await page.click("#page-passkeys form.proof button[type=submit]");
    const said = await nextMessage("");
    await page.waitForTimeout(300);
    return { said, rows: await page.$$eval("#passkeys tbody tr", (trs) => trs.length) };
  },

  async "swap-authenticator"() {
    await cdp.send("WebAuthn.removeVirtualAuthenticator", { authenticatorId: authenticator });
    authenticator = (await cdp.send("WebAuthn.addVirtualAuthenticator", { options: AUTHENTICATOR })).authenticatorId;
    return { credentials: (await cdp.send("WebAuthn.getCredentials", { authenticatorId: authenticator })).credentials.length };
  },

  async page(c) {
    await open(c.name);
    await page.waitForTimeout(300);
    if (c.screenshot) await page.screenshot({ path: c.screenshot, fullPage: true });
    const html = await page.content();
    bodies.add(html);
    return { text: await page.evaluate(() => document.querySelector("main").innerText) };
  },

  async bodies() {
    return { bodies: [...bodies] };
  },
};

async function quit() {
  if (chrome) {
    stop(chrome);
  }
}

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  const c = JSON.parse(line);
  if (c.do === "quit") break;
  let answer;
  try {
    answer = { ok: true, ...(await steps[c.do](c)) };
  } catch (e) {
    answer = { ok: false, error: String(e && e.stack || e) };
  }
  process.stdout.write(JSON.stringify(answer) + "\n");
}
await quit();
process.exit(0);
