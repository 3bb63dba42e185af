// kovra's web UI, proofs of presence: answering a daemon's `needs-proof` in the page (with an
// enrolled passkey, a two-factor code, or the vault passphrase, whose proof the server makes),
// and the pages that need one: approvals (with session grants) and passkeys. Loaded after
// app.js, whose helpers ($, api, say, refusal, cell, when, PAGES) it uses. Every text from
// the daemon goes in through textContent: an approval's facts are the requester's words.
"use strict";

// Ask the human for a proof in a small form under `where`; resolves with the page's proof
// object ({challenge, passkey} | {challenge, code} | {challenge, passphrase, asked}), or null
// when they cancel. A passkey is asked of the browser at once, when the daemon offers one.
function gatherProof(np, where, offerPasskey) {
  const answer = np.answer || {};
  return new Promise((resolve) => {
    const form = document.createElement("form");
    form.className = "proof stack";
    const p = document.createElement("p");
    p.textContent = np.message + " (" + np.code + ")";
    form.appendChild(p);
    const buttons = document.createElement("div");
    buttons.className = "buttons";
    const done = (v) => { form.remove(); resolve(v); };
    if (answer.passkey && offerPasskey !== false) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "use-passkey";
      b.textContent = "Use a passkey";
      b.addEventListener("click", async () => {
        try {
          const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(answer.passkey);
          const cred = await navigator.credentials.get({ publicKey });
          done({ challenge: np.challenge, passkey: cred.toJSON() });
        } catch (e) {
          say("The passkey did not answer: " + e.name, true);
          done(null);
        }
      });
      buttons.appendChild(b);
    }
    let field = null;
    if (answer.code_accepted || answer.passphrase) {
      const label = document.createElement("label");
      label.textContent = answer.code_accepted && answer.passphrase ? "Passphrase or two-factor code"
        : answer.code_accepted ? "Two-factor code" : "Vault passphrase";
      field = document.createElement("input");
      field.type = "password";
      field.className = "proof-secret";
      field.autocomplete = "off";
      label.appendChild(field);
      form.insertBefore(label, null);
      const ok = document.createElement("button");
      ok.type = "submit";
      ok.textContent = "Prove";
      buttons.appendChild(ok);
    } else if (answer.passphrase_refused) {
      const why = document.createElement("p");
      why.className = "note";
      why.textContent = "A passphrase cannot answer: " + answer.passphrase_refused;
      form.appendChild(why);
    }
    const cancel = document.createElement("button");
    cancel.type = "button";
    cancel.textContent = "Cancel";
    cancel.addEventListener("click", () => done(null));
    buttons.appendChild(cancel);
    form.appendChild(buttons);
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const typed = field.value;
      field.value = "";   // the page keeps no copy
      const looksLikeCode = /^[0-9]{6,8}$/.test(typed);
      if (answer.code_accepted && (looksLikeCode || !answer.passphrase)) {
        done({ challenge: np.challenge, code: typed });
      } else {
        const proof = { challenge: np.challenge, passphrase: typed, asked: answer.passphrase };
        if (answer.program) proof.program = answer.program;
        done(proof);
      }
    });
    where.appendChild(form);
    (field || form.querySelector("button")).focus();
  });
}

// Send one request through /api/ask, answering a challenge in the page when asked.
async function ask(request, where) {
  let doc = await api("/api/ask", { request });
  if (doc.status === "needs-proof" && !doc.approval) {
    const proof = await gatherProof(doc, where);
    if (!proof) return { status: "cancelled" };
    doc = await api("/api/ask", { request, proof });
    if (proof.passphrase !== undefined) proof.passphrase = "";
  }
  return doc;
}

// ---- approvals and grants ----

async function decide(a, art, approve) {
  let request;
  if (approve) {
    request = { op: "approve", id: a.id };
    const minutes = Number(art.querySelector(".grant-minutes").value);
    if (art.querySelector(".grant").checked && minutes > 0) request.grant = { minutes };
  } else {
    request = { op: "deny", id: a.id };
  }
  const doc = await ask(request, art);
  if (doc.status === "cancelled") return;
  if (doc.status === "ok") {
    say((approve ? "Approved " : "Denied ") + a.id + ".");
    loadApprovalsAndGrants();
  } else {
    say(refusal(doc), true);
  }
}

function approvalArticle(a) {
  const art = document.createElement("article");
  art.className = "approval";
  art.dataset.id = a.id;
  const h = document.createElement("h2");
  h.textContent = a.id + ": " + a.action + " (" + a.surface + "/" + a.origin + ", expires in " + a.expires_in + " s)";
  art.appendChild(h);
  const dl = document.createElement("dl");
  for (const f of a.facts) {
    const dt = document.createElement("dt");
    dt.textContent = f.name + (f.untrusted ? " (as the requester said)" : "");
    const dd = document.createElement("dd");
    dd.textContent = f.value;
    dl.append(dt, dd);
  }
  art.appendChild(dl);
  const row = document.createElement("div");
  row.className = "buttons";
  const grantLabel = document.createElement("label");
  grantLabel.className = "inline";
  const grant = document.createElement("input");
  grant.type = "checkbox";
  grant.className = "grant";
  const minutes = document.createElement("input");
  minutes.type = "number";
  minutes.min = "1";
  minutes.max = "480";
  minutes.value = "15";
  minutes.className = "grant-minutes";
  minutes.setAttribute("aria-label", "minutes");
  grantLabel.append(grant, " and let this same run through for ", minutes, " minutes");
  const yes = document.createElement("button");
  yes.type = "button";
  yes.className = "approve";
  yes.textContent = "Approve";
  yes.addEventListener("click", () => decide(a, art, true));
  const no = document.createElement("button");
  no.type = "button";
  no.className = "deny";
  no.textContent = "Deny";
  no.addEventListener("click", () => decide(a, art, false));
  row.append(yes, grantLabel, no);
  art.appendChild(row);
  return art;
}

async function loadGrants() {
  const doc = await api("/api/ask", { request: { op: "grant-list" } });
  const body = $("grants").tBodies[0];
  body.replaceChildren();
  if (doc.status !== "ok") { say(refusal(doc), true); return; }
  for (const g of doc.reply.grants) {
    const tr = document.createElement("tr");
    tr.dataset.id = g.id;
    cell(tr, g.id);
    cell(tr, g.kind + (g.agent ? " (agent " + g.agent + ")" : ""));
    cell(tr, g.covers.map((f) => f.name + ": " + f.value).join("; "));
    cell(tr, g.expires_in + " s");
    const b = document.createElement("button");
    b.type = "button";
    b.className = "revoke";
    b.textContent = "Revoke";
    b.addEventListener("click", async () => {
      const r = await ask({ op: "grant-revoke", id: g.id }, $("page-approvals"));
      if (r.status === "ok") { say("Revoked grant " + g.id + "."); loadGrants(); } else if (r.status !== "cancelled") say(refusal(r), true);
    });
    tr.appendChild(document.createElement("td")).appendChild(b);
    body.appendChild(tr);
  }
}

async function loadApprovalsAndGrants() {
  const doc = await api("/api/approvals");
  const box = $("approvals");
  box.replaceChildren();
  if (doc.status !== "ok") { say(refusal(doc), true); return; }
  if (!doc.reply.pending.length) box.textContent = "Nothing is waiting.";
  for (const a of doc.reply.pending) box.appendChild(approvalArticle(a));
  await loadGrants();
}

// ---- passkeys ----

async function loadPasskeys() {
  const doc = await api("/api/ask", { request: { op: "passkey-list" } });
  const body = $("passkeys").tBodies[0];
  body.replaceChildren();
  if (doc.status !== "ok") { say(refusal(doc), true); return; }
  for (const k of doc.reply.passkeys) {
    const tr = document.createElement("tr");
    tr.dataset.id = k.id;
    cell(tr, k.name); cell(tr, when(k.created)); cell(tr, k.last_used ? when(k.last_used) : "never");
    const b = document.createElement("button");
    b.type = "button";
    b.className = "remove";
    b.textContent = "Remove";
    b.addEventListener("click", async () => {
      const r = await ask({ op: "passkey-remove", id: k.id }, $("page-passkeys"));
      if (r.status === "ok") { say("Removed passkey " + k.name + "."); loadPasskeys(); } else if (r.status !== "cancelled") say(refusal(r), true);
    });
    tr.appendChild(document.createElement("td")).appendChild(b);
    body.appendChild(tr);
  }
}

async function enrolPasskey(ev) {
  ev.preventDefault();
  const name = $("k-name").value.trim();
  const begun = await ask({ op: "passkey-enrol-begin", name, origin: location.origin }, $("enrol-form"));
  if (begun.status === "cancelled") return;
  if (begun.status !== "ok") { say(refusal(begun), true); return; }
  let credential;
  try {
    const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(begun.reply.options);
    credential = await navigator.credentials.create({ publicKey });
  } catch (e) {
    say("The browser made no passkey: " + e.name, true);
    return;
  }
  const doc = await api("/api/ask", {
    request: { op: "passkey-enrol-finish", ceremony: begun.reply.ceremony, credential: credential.toJSON() },
  });
  if (doc.status === "ok") { say("Enrolled passkey " + name + "."); $("enrol-form").reset(); loadPasskeys(); }
  else say(refusal(doc), true);
}

PAGES.approvals = loadApprovalsAndGrants;
PAGES.passkeys = loadPasskeys;
document.addEventListener("DOMContentLoaded", () => {
  $("enrol-form").addEventListener("submit", enrolPasskey);
});
