// kovra's web UI, the pages added to app.js: where each record is used, agent profiles and
// web sessions, providers with the records pinned to them, two-factor. Loaded after app.js,
// it uses that script's helpers (api, cell, when, say, refusal) and registers its loaders in
// its PAGES table. Text goes in through textContent only.
"use strict";

// ---- where a record is used (record detail) ----

const showRecordBase = showRecord;
// eslint-disable-next-line no-global-assign
showRecord = async function (view) {
  const shown = showRecordBase(view);
  const q = new URLSearchParams({ coordinate: view.coordinate });
  const p = projectOf(view);
  if (p) q.set("project", p);
  const [doc] = await Promise.all([api("/api/usage?" + q), shown]);
  const body = $("usage").tBodies[0];
  body.replaceChildren();
  if (doc.status !== "ok") { $("usage-last").textContent = refusal(doc); return; }
  const u = doc.reply;
  $("usage-last").textContent = u.last_used
    ? "Last used " + when(u.last_used) + " by " + u.last_by + "."
    : "Not used by a run since the daemon started.";
  for (const r of u.refs) {
    const tr = document.createElement("tr");
    cell(tr, r.path); cell(tr, r.var); cell(tr, when(r.time));
    body.appendChild(tr);
  }
};

// Up and down move between the rows' links; Enter (the link's own) opens the detail.
function rowKeys(ev) {
  if (ev.key !== "ArrowDown" && ev.key !== "ArrowUp") return;
  const links = [...$("records").tBodies[0].querySelectorAll("a")];
  const at = links.indexOf(document.activeElement);
  if (at < 0) return;
  const next = links[at + (ev.key === "ArrowDown" ? 1 : -1)];
  if (next) { ev.preventDefault(); next.focus(); }
}

// ---- agents and web sessions ----

// A scope's JSON, as words: lists joined, objects as "key: value".
function words(v) {
  if (v == null) return "";
  if (Array.isArray(v)) return v.map(words).join(", ");
  if (typeof v === "object") {
    return Object.entries(v).map(([k, x]) => k + ": " + words(x)).join("; ");
  }
  return String(v);
}

async function loadAgentPage() {
  const [doc, sessions] = await Promise.all([api("/api/agents"), api("/api/sessions")]);
  if (doc.status !== "ok") { say(refusal(doc), true); }
  else {
    const frag = document.createDocumentFragment();
    for (const a of doc.reply.agents) {
      const tr = document.createElement("tr");
      cell(tr, a.name);
      cell(tr, words(a.scope)).className = "wrap";
      cell(tr, words(a.egress)).className = "wrap";
      cell(tr, a.requests + " requests" + (a.last_request ? ", last " + when(a.last_request) : "")
        + ", " + a.sandboxes + " sandboxes running").className = "wrap";
      cell(tr, a.expires ? when(a.expires) : "never");
      frag.appendChild(tr);
    }
    $("agents").tBodies[0].replaceChildren(frag);
  }
  if (sessions.status === "ok") {
    const list = sessions.reply.sessions;
    $("web-sessions-count").textContent = list.length + " live web session" + (list.length === 1 ? "" : "s");
    const frag = document.createDocumentFragment();
    for (const s of list) {
      const tr = document.createElement("tr");
      cell(tr, s.origin); cell(tr, s.idle + " s"); cell(tr, s.current ? "yes" : "");
      frag.appendChild(tr);
    }
    $("web-sessions").tBodies[0].replaceChildren(frag);
  }
}

// ---- providers, with the records pinned to each (from the one listing) ----

async function loadProviderPage() {
  const [doc, list] = await Promise.all([api("/api/providers"), api("/api/records")]);
  if (doc.status !== "ok") { say(refusal(doc), true); return; }
  const pinned = new Map();
  if (list.status === "ok") {
    for (const v of list.reply.records) {
      if (!v.provider) continue;
      if (!pinned.has(v.provider)) pinned.set(v.provider, []);
      pinned.get(v.provider).push(v.coordinate + (v.provider_host ? " (" + v.provider_host + ")" : ""));
    }
  }
  const frag = document.createDocumentFragment();
  for (const p of doc.reply.providers) {
    const tr = document.createElement("tr");
    cell(tr, p.name); cell(tr, p.origin);
    cell(tr, (p.hosts || []).join(", ")).className = "wrap";
    const mine = pinned.get(p.name) || [];
    cell(tr, mine.length ? mine.join(", ") : "none").className = "wrap";
    frag.appendChild(tr);
  }
  $("providers").tBodies[0].replaceChildren(frag);
}

// ---- two-factor: the state here, enrolment at the terminal ----

async function loadTwoFactor() {
  const doc = await api("/api/2fa");
  if (doc.status !== "ok") { say(refusal(doc), true); return; }
  const state = doc.reply.state;
  $("twofa-state").textContent = state === "enabled" ? "on" : state === "pending" ? "being set up" : "off";
  const how = $("twofa-how");
  how.replaceChildren();
  const line = (text, command) => {
    const p = document.createElement("p");
    p.append(text + " ");
    const c = document.createElement("code");
    c.textContent = command;
    p.appendChild(c);
    how.appendChild(p);
  };
  if (state === "enabled") line("To turn it off, run at your terminal:", "kovra 2fa disable");
  else if (state === "pending") line("Finish enrolment at your terminal:", "kovra 2fa confirm");
  else line("To turn it on, run at your terminal:", "kovra 2fa enable");
}

PAGES["2fa"] = loadTwoFactor;
PAGES.agents = loadAgentPage;
PAGES.providers = loadProviderPage;
document.addEventListener("DOMContentLoaded", () => {
  $("records").addEventListener("keydown", rowKeys);
});
