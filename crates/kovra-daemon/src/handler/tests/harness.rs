//! The in-process harness: a daemon on a temporary home, wire-shaped requests, and the
//! scans that look for the planted value in everything that left the gate.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use kovra_core::crypto::{self, KdfParams};
use kovra_core::proof;
use kovra_proto::paths::Paths;
use kovra_proto::{Envelope, PROTOCOL_VERSION};
use serde_json::{Value, json};

use super::super::{Caller, Daemon};
use crate::config::Config;
use crate::os::Peer;

pub(super) const PASSPHRASE: &str = "correct horse battery";
pub(super) const CANARY: &str = "CANARY-7f3a9c-do-not-leak";
/// The cheapest Argon2id cost: the laws do not depend on the cost, and tests stay fast.
pub(super) const TEST_KDF: KdfParams = KdfParams {
    m_kib: 8,
    t: 1,
    p: 1,
};

/// Who is asking: what the surface claims, and whether the kernel saw a terminal.
#[derive(Clone)]
pub(super) struct Who {
    pub(super) surface: &'static str,
    pub(super) origin: &'static str,
    pub(super) tty: bool,
    pub(super) scope: Option<Value>,
    pub(super) project: Option<&'static str>,
    /// The agent profile whose socket the request arrives on.
    pub(super) agent: Option<&'static str>,
}

/// A human at the CLI: full scope, a terminal.
pub(super) fn human() -> Who {
    Who {
        surface: "cli",
        origin: "human",
        tty: true,
        scope: None,
        project: None,
        agent: None,
    }
}

/// An MCP session: an agent without a terminal, with the scope its config gives it.
pub(super) fn mcp(scope: Value) -> Who {
    Who {
        surface: "mcp",
        origin: "agent",
        tty: false,
        scope: Some(scope),
        project: None,
        agent: None,
    }
}

pub(super) fn full_scope() -> Value {
    json!({
        "operations": ["metadata", "inject", "reveal", "write"],
        "projects": {"kind": "all"},
        "global": true,
        "environments": {"kind": "all"},
    })
}

pub(super) fn b64(text: &str) -> String {
    STANDARD.encode(text.as_bytes())
}

/// A daemon on its own temporary home; every reply it gave is kept for the leak scans.
pub(super) struct Harness {
    pub(super) daemon: Daemon,
    pub(super) home: PathBuf,
    pub(super) replies: std::cell::RefCell<Vec<String>>,
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.home);
    }
}

/// One answer: the reply as the client would read it, and the back-off the server applies.
pub(super) struct Answer {
    pub(super) json: Value,
    pub(super) text: String,
    pub(super) delay: Duration,
}

impl Answer {
    pub(super) fn status(&self) -> &str {
        self.json["status"].as_str().unwrap_or_default()
    }
    pub(super) fn code(&self) -> &str {
        self.json["code"].as_str().unwrap_or_default()
    }
    pub(super) fn reply(&self) -> &Value {
        &self.json["reply"]
    }
    #[track_caller]
    pub(super) fn expect_ok(self) -> Self {
        assert_eq!(self.status(), "ok", "expected ok, got {}", self.text);
        self
    }
    #[track_caller]
    pub(super) fn expect_error(self, code: kovra_proto::ErrorCode) -> Self {
        assert_eq!(self.status(), "error", "expected error, got {}", self.text);
        assert_eq!(self.code(), code.as_str(), "wrong code in {}", self.text);
        self
    }
    #[track_caller]
    pub(super) fn expect_needs_proof(self) -> Self {
        assert_eq!(self.status(), "needs-proof", "got {}", self.text);
        self
    }
    pub(super) fn revealed(&self) -> Vec<u8> {
        let value = self.reply()["value"].as_str().unwrap_or_default();
        STANDARD.decode(value).unwrap_or_default()
    }
}

/// Whether `text` holds the canary, plainly or as the base64 a `Secret` travels as.
pub(super) fn holds_canary(text: &str) -> bool {
    text.contains(CANARY) || text.contains(&b64(CANARY))
}

impl Harness {
    /// A fresh home, not initialised.
    pub(super) fn new() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let home = std::env::temp_dir().join(format!(
            "kovra-gate-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&home);
        std::fs::create_dir_all(&home).unwrap();
        let paths = Paths::under(home.clone(), home.join("daemon.sock"));
        let config = Config::load(&paths.config_file(), None).unwrap();
        Harness {
            daemon: Daemon::with_kdf(paths, config, TEST_KDF),
            home,
            replies: Default::default(),
        }
    }

    /// A fresh vault, created and unlocked by a human at a terminal.
    pub(super) fn unlocked() -> Self {
        let h = Self::new();
        h.send(
            &human(),
            json!({"op": "init", "passphrase": b64(PASSPHRASE)}),
        )
        .expect_ok();
        h
    }

    pub(super) fn envelope(who: &Who, request: Value) -> Envelope {
        let wire = json!({
            "v": PROTOCOL_VERSION,
            "context": {
                "surface": who.surface,
                "origin": who.origin,
                "scope": who.scope,
                "project": who.project,
            },
            "request": request,
        });
        // Through bytes, as the server reads a frame.
        serde_json::from_slice(&serde_json::to_vec(&wire).unwrap()).unwrap()
    }

    pub(super) fn send(&self, who: &Who, request: Value) -> Answer {
        self.send_envelope(who, Self::envelope(who, request))
    }

    pub(super) fn send_envelope(&self, who: &Who, envelope: Envelope) -> Answer {
        self.handle(who, envelope, crate::nsjoin::Namespaces::Own).0
    }

    /// Send as a caller in a sandbox (other namespaces, as a profile's runs must come),
    /// returning the answer and whether the gate made a plan (a run it would start).
    pub(super) fn send_contained(&self, who: &Who, request: Value) -> (Answer, bool) {
        let foreign = crate::nsjoin::Foreign::this_process_for_tests();
        let namespaces = crate::nsjoin::Namespaces::Foreign(std::sync::Arc::new(foreign));
        self.handle(who, Self::envelope(who, request), namespaces)
    }

    /// Hand `envelope` to the daemon as this process, seen in `namespaces`; the reply is
    /// kept for the leak scans. Also whether the gate made a plan.
    fn handle(
        &self,
        who: &Who,
        envelope: Envelope,
        namespaces: crate::nsjoin::Namespaces,
    ) -> (Answer, bool) {
        let caller = Caller {
            peer: Peer {
                pid: std::process::id(),
                uid: nix::unistd::getuid().as_raw(),
            },
            exe: None,
            tty: who.tty,
            agent: who.agent.map(std::sync::Arc::from),
            namespaces,
        };
        let (response, delay, plan) = self.daemon.handle(envelope, &caller);
        let text = serde_json::to_string(&response).unwrap();
        self.replies.borrow_mut().push(text.clone());
        let answer = Answer {
            json: serde_json::from_str(&text).unwrap(),
            text,
            delay,
        };
        (answer, plan.is_some())
    }

    /// Send, expect a challenge, answer it with a passphrase proof, and return the answer.
    pub(super) fn send_proven(&self, who: &Who, request: Value, passphrase: &str) -> Answer {
        let first = self.send(who, request.clone()).expect_needs_proof();
        let proven = self.with_proof(who, request, &first, passphrase);
        self.send(who, proven)
    }

    /// The request again, carrying a passphrase proof for the challenge in `challenged`.
    pub(super) fn with_proof(
        &self,
        who: &Who,
        mut request: Value,
        challenged: &Answer,
        pw: &str,
    ) -> Value {
        let challenge = challenged.json["challenge"].as_str().unwrap().to_string();
        let answer = &challenged.json["answer"]["passphrase"];
        let salt = hex::decode(answer["salt"].as_str().unwrap()).unwrap();
        let kdf: KdfParams = serde_json::from_value(answer["kdf"].clone()).unwrap();
        let key = proof::key_from_kek(&crypto::derive_kek(pw.as_bytes(), &salt, kdf).unwrap());
        let envelope = Self::envelope(who, request.clone());
        let digest =
            kovra_proto::digest::request_digest(&envelope.context, &envelope.request, None);
        let mac = hex::encode(proof::tag(&key, proof::Role::Client, &challenge, &digest));
        request["proof"] = json!({"challenge": challenge, "mac": mac});
        request
    }

    pub(super) fn add(&self, coordinate: &str, value: &str, sensitivity: &str, revealable: bool) {
        self.send(
            &human(),
            json!({
                "op": "add",
                "coordinate": coordinate,
                "value": b64(value),
                "sensitivity": sensitivity,
                "revealable": revealable,
            }),
        )
        .expect_ok();
    }

    pub(super) fn show(&self, coordinate: &str) -> Value {
        self.send(&human(), json!({"op": "show", "coordinate": coordinate}))
            .expect_ok()
            .reply()
            .clone()
    }

    /// What a human sees of the vault: every record's metadata and every record's history.
    pub(super) fn snapshot(&self) -> String {
        let list = self.send(&human(), json!({"op": "list"})).expect_ok();
        let mut out = list.reply().to_string();
        for r in list.reply()["records"].as_array().unwrap() {
            let c = r["coordinate"].as_str().unwrap();
            let h = self.send(&human(), json!({"op": "history", "coordinate": c}));
            out.push_str(&h.expect_ok().reply().to_string());
        }
        out
    }

    /// The audit trail as the store holds it, serialized.
    pub(super) fn audit_text(&self) -> String {
        let inner = self.daemon.lock_inner();
        let entries = inner.store.as_ref().unwrap().audit_entries().unwrap();
        serde_json::to_string(&entries).unwrap()
    }

    /// Every reply so far but the ones `allowed` picks must be free of the canary.
    #[track_caller]
    pub(super) fn assert_no_leak_except(&self, allowed: impl Fn(&str) -> bool) {
        for text in self.replies.borrow().iter() {
            if !allowed(text) {
                assert!(!holds_canary(text), "a reply carries the value: {text}");
            }
        }
    }

    #[track_caller]
    pub(super) fn assert_no_leak(&self) {
        self.assert_no_leak_except(|_| false);
    }
}

/// Every file under `dir`, recursively.
pub(super) fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}
