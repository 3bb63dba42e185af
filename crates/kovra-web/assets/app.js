// kovra's web UI: one small script, no framework, no third-party code. Every text from the
// daemon goes into the page through textContent (never innerHTML), so a description holding
// markup is shown as text. Values are never asked for: the API has no route that returns one.
"use strict";

const $ = (id) => document.getElementById(id);

function say(text, bad) {
  const m = $("message");
  m.textContent = text || "";
  m.className = bad ? "bad" : "";
}

// One API call. Writes send JSON; the browser adds the Origin header the server checks.
async function api(path, body) {
  const init = body === undefined
    ? { method: "GET" }
    : { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) };
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    say("The daemon does not answer: is it running?", true);
    throw e;
  }
  const doc = res.status === 204 ? { status: "ok" } : await res.json();
  if (res.status === 401) {
    say("No live session: run `kovra ui` at your terminal for a new login link.", true);
  }
  return doc;
}

// What the daemon said when it did not say ok, in one line.
function refusal(doc) {
  if (doc.status === "needs-proof") {
    const where = doc.approval
      ? "approve it at your terminal: kovra approve " + doc.approval
      : "this needs a proof of presence; do it at your terminal with the kovra command";
    return doc.message + " (" + doc.code + "): " + where;
  }
  return (doc.message || "refused") + (doc.hint ? " (" + doc.hint + ")" : "");
}

function cell(tr, text) {
  const td = document.createElement("td");
  td.textContent = text == null ? "" : String(text);
  tr.appendChild(td);
  return td;
}

function when(secs) {
  if (!secs) return "";
  return new Date(secs * 1000).toISOString().replace("T", " ").slice(0, 19);
}

function fillSelect(select, values) {
  const keep = select.value;
  while (select.options.length > 1) select.remove(1);
  for (const v of [...values].sort()) {
    const o = document.createElement("option");
    o.textContent = v;
    o.value = v;
    select.appendChild(o);
  }
  select.value = keep;
}

// ---- records ----
// The listing is kept as data; the table shows one page of the matching records at a time,
// so a vault of any size costs one page of rows to lay out, and search and filters run over
// every record.

const PAGE = 250;
let records = [];     // the daemon's record views
let haystacks = [];   // lower-cased coordinate and description, for the search box
let matching = [];    // indices into records that pass the filters
let pageStart = 0;

function recordFilter() {
  const q = $("f-search").value.trim().toLowerCase();
  const f = {
    vault: $("f-vault").value, env: $("f-env").value, sensitivity: $("f-sensitivity").value,
    kind: $("f-kind").value, provider: $("f-provider").value,
  };
  matching = [];
  for (let i = 0; i < records.length; i++) {
    const v = records[i];
    if ((!q || haystacks[i].includes(q))
      && (!f.vault || v.vault === f.vault) && (!f.env || v.env === f.env)
      && (!f.sensitivity || v.sensitivity === f.sensitivity)
      && (!f.kind || v.type === f.kind) && (!f.provider || (v.provider || "") === f.provider)) {
      matching.push(i);
    }
  }
  pageStart = 0;
  renderPage();
}

function renderPage() {
  const frag = document.createDocumentFragment();
  const end = Math.min(pageStart + PAGE, matching.length);
  for (let k = pageStart; k < end; k++) {
    const i = matching[k];
    const v = records[i];
    const tr = document.createElement("tr");
    const a = document.createElement("a");
    a.href = "#";
    a.textContent = v.coordinate;
    a.dataset.index = String(i);
    tr.appendChild(document.createElement("td")).appendChild(a);
    cell(tr, v.vault); cell(tr, v.env); cell(tr, v.sensitivity); cell(tr, v.type);
    cell(tr, v.provider); cell(tr, v.description); cell(tr, when(v.updated));
    frag.appendChild(tr);
  }
  $("records").tBodies[0].replaceChildren(frag);
  $("records-count").textContent = matching.length + " of " + records.length + " records"
    + (matching.length > PAGE ? ", showing " + (pageStart + 1) + "\u2013" + end : "");
  $("prev-page").disabled = pageStart === 0;
  $("next-page").disabled = end >= matching.length;
}

function turnPage(by) {
  const next = pageStart + by * PAGE;
  if (next < 0 || next >= matching.length) return;
  pageStart = next;
  renderPage();
}

async function loadRecords() {
  const doc = await api("/api/records");
  if (doc.status !== "ok") { say(refusal(doc), true); return; }
  records = doc.reply.records;
  haystacks = records.map((v) => (v.coordinate + " " + v.description).toLowerCase());
  const sets = { vault: new Set(), env: new Set(), sensitivity: new Set(), type: new Set(), provider: new Set() };
  for (const v of records) {
    sets.vault.add(v.vault); sets.env.add(v.env); sets.sensitivity.add(v.sensitivity); sets.type.add(v.type);
    if (v.provider) sets.provider.add(v.provider);
  }
  fillSelect($("f-vault"), sets.vault); fillSelect($("f-env"), sets.env);
  fillSelect($("f-sensitivity"), sets.sensitivity); fillSelect($("f-kind"), sets.type);
  fillSelect($("f-provider"), sets.provider);
  $("records").dataset.total = String(records.length);
  recordFilter();
  performance.mark("kovra-records-rendered");
  // The frame after: the rows are laid out and painted (what a timing of the page measures).
  requestAnimationFrame(() => setTimeout(() => performance.mark("kovra-records-shown"), 0));
}

let detail = null;

function projectOf(view) {
  return view.vault.startsWith("project:") ? view.vault.slice(8) : undefined;
}

async function showRecord(view) {
  detail = view;
  $("record-detail").hidden = false;
  $("detail-title").textContent = view.coordinate + " (" + view.vault + ")";
  $("e-description").value = view.description;
  $("e-sensitivity").value = "";
  const q = new URLSearchParams({ coordinate: view.coordinate });
  const p = projectOf(view);
  if (p) q.set("project", p);
  const doc = await api("/api/history?" + q);
  const body = $("history").tBodies[0];
  body.replaceChildren();
  if (doc.status !== "ok") { say(refusal(doc), true); return; }
  for (const h of doc.reply.versions) {
    const tr = document.createElement("tr");
    cell(tr, h.version); cell(tr, h.sensitivity); cell(tr, h.description); cell(tr, when(h.updated));
    body.appendChild(tr);
  }
  $("detail-title").focus();
}

async function saveRecord(ev) {
  ev.preventDefault();
  if (!detail) return;
  const body = { coordinate: detail.coordinate, description: $("e-description").value };
  const s = $("e-sensitivity").value;
  if (s) body.sensitivity = s;
  const p = projectOf(detail);
  if (p) body.project = p;
  const doc = await api("/api/edit", body);
  if (doc.status === "ok") { say("Saved " + detail.coordinate + "."); loadRecords(); }
  else say(refusal(doc), true);
}

// ---- add and generate ----

function optional(body, key, id) {
  const v = $(id).value.trim();
  if (v) body[key] = v;
}

async function addRecord(ev) {
  ev.preventDefault();
  const value = $("a-value");
  const body = { coordinate: $("a-coordinate").value.trim(), value: value.value };
  value.value = "";   // the page keeps no copy
  optional(body, "project", "a-project");
  optional(body, "sensitivity", "a-sensitivity");
  optional(body, "description", "a-description");
  const doc = await api("/api/add", body);
  body.value = "";
  if (doc.status === "ok") { say("Added " + body.coordinate + "."); $("add-form").reset(); }
  else say(refusal(doc), true);
}

async function generateRecord(ev) {
  ev.preventDefault();
  const body = {
    coordinate: $("g-coordinate").value.trim(),
    length: Number($("g-length").value),
    charset: $("g-charset").value,
  };
  optional(body, "project", "g-project");
  optional(body, "sensitivity", "g-sensitivity");
  optional(body, "description", "g-description");
  const doc = await api("/api/generate", body);
  if (doc.status === "ok") { say("Generated " + body.coordinate + "."); $("generate-form").reset(); }
  else say(refusal(doc), true);
}

// ---- audit ----

let reasons = null;
const AUDIT_SHOWN = 500;

async function loadAudit(ev) {
  if (ev) ev.preventDefault();
  if (!reasons) {
    const res = await fetch("/static/reasons.json");
    reasons = await res.json();
  }
  const q = new URLSearchParams();
  const c = $("u-coordinate").value.trim();
  const a = $("u-action").value.trim();
  if (c) q.set("coordinate", c);
  if (a) q.set("action", a);
  const doc = await api("/api/audit?" + q);
  if (doc.status !== "ok") { say(refusal(doc), true); return; }
  const decision = $("u-decision").value;
  const origin = $("u-origin").value;
  const entries = doc.reply.entries.filter((e) =>
    (!decision || e.decision === decision) && (!origin || e.origin === origin));
  const frag = document.createDocumentFragment();
  const oldest = Math.max(0, entries.length - AUDIT_SHOWN);
  for (let i = entries.length - 1; i >= oldest; i--) {
    const e = entries[i];
    const tr = document.createElement("tr");
    if (e.decision === "deny") tr.className = "denied";
    cell(tr, when(e.time)); cell(tr, e.action); cell(tr, e.coordinate);
    cell(tr, e.surface); cell(tr, e.origin + (e.agent ? " (" + e.agent + ")" : "")); cell(tr, e.decision);
    const why = e.reason ? (reasons[e.reason] || e.reason) : (e.detail || "");
    const td = cell(tr, why);
    if (e.reason) td.title = e.reason;
    frag.appendChild(tr);
  }
  $("audit").tBodies[0].replaceChildren(frag);
  $("audit-count").textContent = entries.length + " entries"
    + (entries.length > AUDIT_SHOWN ? ", the latest " + AUDIT_SHOWN + " shown (filter to see others)" : "");
}

// ---- frame ----

// The other pages' loaders are filled in by the scripts loaded after this one (proof.js:
// approvals and passkeys; pages.js: providers, agents, two-factor).
const PAGES = {
  records: loadRecords, add: null, audit: loadAudit, approvals: null,
  providers: null, agents: null,
};

async function start() {
  const name = location.pathname.slice(1) || "records";
  const page = Object.hasOwn(PAGES, name) ? name : "records";
  $("page-" + page).hidden = false;
  for (const a of document.querySelectorAll("nav a")) {
    if (a.getAttribute("href") === "/" + page) a.setAttribute("aria-current", "page");
  }
  $("lock").addEventListener("click", async () => {
    const doc = await api("/api/lock", {});
    say(doc.status === "ok" ? "The vault is locked; this session has ended." : refusal(doc), doc.status !== "ok");
  });
  $("logout").addEventListener("click", async () => {
    await api("/api/logout", {});
    say("Logged out.");
  });
  $("record-filters").addEventListener("input", recordFilter);
  $("record-filters").addEventListener("submit", (e) => e.preventDefault());
  $("records").addEventListener("click", (e) => {
    const i = e.target.dataset && e.target.dataset.index;
    if (i !== undefined) { e.preventDefault(); showRecord(records[Number(i)]); }
  });
  $("prev-page").addEventListener("click", () => turnPage(-1));
  $("next-page").addEventListener("click", () => turnPage(1));
  $("edit-form").addEventListener("submit", saveRecord);
  $("add-form").addEventListener("submit", addRecord);
  $("generate-form").addEventListener("submit", generateRecord);
  $("audit-filters").addEventListener("submit", loadAudit);
  const asked = api("/api/status");
  if (PAGES[page]) await PAGES[page]();
  const status = await asked;
  if (status.status === "ok") {
    const s = status.reply;
    $("who").textContent = (s.unlocked ? "unlocked" : "locked") + (s.agent ? ", agent " + s.agent : "");
    if (!s.unlocked) say("The vault is locked: unlock it at your terminal with `kovra unlock`.", true);
  }
  document.body.dataset.ready = "1";
}

document.addEventListener("DOMContentLoaded", start);
