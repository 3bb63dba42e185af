//! `kovra api`, `kovra providers`, `kovra bind` (docs/broker.md) against a real HTTPS
//! upstream on loopback (tests/support/https_upstream.py) that trusts nothing but a test CA
//! made here with the `openssl` CLI (both in `crate::upstream`, shared with the containment suite).
//!
//! The debug daemon resolves every provider host to `KOVRA_BROKER_TEST_UPSTREAM` and trusts
//! only `KOVRA_BROKER_TEST_CA`; both are set on every command of a home (the first one,
//! `init`, autostarts the daemon, which inherits them). Canary credentials are planted; the
//! upstream's request log proves they DID go out on the wire, and every output, file and
//! audit entry is searched for them in every encoding the broker promises to scrub.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use crate::harness::*;
use crate::leak::*;
use crate::upstream::*;

mod auth_kinds;
mod egress;
mod mcp;
mod pinning;
mod policy;
mod providers;
mod refusals;
mod scrubbing;

const OPENAI: &str = "secret:dev/openai/openai_api_key";
const MARK_OPENAI: &str = "[kovra:OPENAI_API_KEY]";

/// The upstream got `Authorization: Bearer KEY` in logged request `r`.
fn assert_bearer(r: &Value, key: &str) {
    assert_eq!(
        req_header(r, "authorization"),
        Some(format!("Bearer {key}")),
        "the upstream did not get the credential: {r}"
    );
}

/// `kovra api PROVIDER METHOD PATH`.
fn api<'a>(provider: &'a str, method: &'a str, path: &'a str) -> [&'a str; 4] {
    ["api", provider, method, path]
}

/// `kovra api openai GET /v1/echo --secret COORD`.
fn echo_with(coord: &str) -> [&str; 6] {
    ["api", "openai", "GET", "/v1/echo", "--secret", coord]
}

/// `kovra api anthropic POST /v1/messages --body {} --secret COORD`.
fn anthropic_with(coord: &str) -> [&str; 8] {
    [
        "api",
        "anthropic",
        "POST",
        "/v1/messages",
        "--body",
        "{}",
        "--secret",
        coord,
    ]
}

// ---------------------------------------------------------------------------------------
// A home wired to the upstream
// ---------------------------------------------------------------------------------------

struct Broker {
    up: Upstream,
    second: Upstream,
    vars: Vec<(String, String)>,
    h: Home,
}

impl Broker {
    /// A fresh home whose daemon talks to a fresh upstream, trusting its CA.
    fn new() -> Broker {
        Broker::with(|_, _| None)
    }

    /// As `new`, with a new canary `tag` stored as the openai key: (broker, canary).
    fn with_openai_key(tag: &str) -> (Broker, String) {
        let b = Broker::new();
        let key = b.openai_key(tag);
        (b, key)
    }

    /// As `new`, but `over(pki dir, upstream port)` may replace the two variables.
    fn with(over: impl FnOnce(&Path, u16) -> Option<(String, String)>) -> Broker {
        let h = Home::new();
        let pki_dir = h.root.join("pki");
        let pki = make_pki(&pki_dir, "t");
        let second = Upstream::start("127.0.0.2", &pki, h.root.join("second.jsonl"), None);
        let up = Upstream::start(
            "127.0.0.1",
            &pki,
            h.root.join("upstream.jsonl"),
            Some(second.port),
        );
        let (addr, ca) = over(&pki_dir, up.port).unwrap_or_else(|| {
            (
                format!("127.0.0.1:{}", up.port),
                pki.ca.display().to_string(),
            )
        });
        let b = Broker {
            up,
            second,
            vars: vec![
                ("KOVRA_BROKER_TEST_UPSTREAM".into(), addr),
                ("KOVRA_BROKER_TEST_CA".into(), ca),
            ],
            h,
        };
        // Created at a terminal, so a typed passphrase proves presence to this daemon.
        let out =
            b.h.run_pty_env(&["init"], &[PASSPHRASE, PASSPHRASE], &b.vars);
        assert!(out.status.success(), "init: {}", describe(&out));
        b
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self.h.cmd(args);
        for (k, v) in &self.vars {
            c.env(k, v);
        }
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.h.run_with(self.cmd(args), None)
    }

    /// Another program, with the environment of this home's commands (test upstream and CA
    /// included).
    fn with_env(&self, c: Command) -> Command {
        let mut c = self.h.with_env(c);
        for (k, v) in &self.vars {
            c.env(k, v);
        }
        c
    }

    fn expect(&self, code: i32, args: &[&str]) -> Output {
        let out = self.run(args);
        assert_exit(&out, code, format!("kovra {args:?}"));
        out
    }

    /// `kovra --json ARGS`: exit code, document.
    fn json(&self, args: &[&str]) -> (i32, Value, Output) {
        let mut full = vec!["--json"];
        full.extend_from_slice(args);
        let out = self.run(&full);
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "kovra {full:?}: stdout is not JSON ({e}): {}",
                describe(&out)
            )
        });
        (out.status.code().unwrap_or(-1), v, out)
    }

    /// `kovra --json ARGS` must fail with `exit` and error `code`; returns the error object.
    fn refused(&self, exit: i32, code: &str, args: &[&str]) -> Value {
        let (got, v, out) = self.json(args);
        assert_eq!(got, exit, "kovra {args:?}: {}", describe(&out));
        assert_eq!(
            v["error"]["code"],
            code,
            "kovra {args:?}: {}",
            describe(&out)
        );
        v["error"].clone()
    }

    /// `kovra --json ARGS`, which must exit 0: the document and the output.
    fn json_ok(&self, args: &[&str]) -> (Value, Output) {
        let (code, v, out) = self.json(args);
        assert_eq!(code, 0, "kovra {args:?}: {}", describe(&out));
        (v, out)
    }

    /// `refused`, and the error does not hold the credential `key`.
    fn refused_without(&self, key: &str, exit: i32, code: &str, args: &[&str]) -> Value {
        let e = self.refused(exit, code, args);
        assert!(!e.to_string().contains(key), "{e}");
        e
    }

    /// `kovra --json ARGS` from an agent, which must be stopped (exit 5) for a proof of
    /// presence or an approval.
    fn needs_proof(&self, args: &[&str]) -> Output {
        let (code, v, out) = self.json(args);
        assert_eq!(code, 5, "{args:?}: {}", describe(&out));
        assert!(
            v["error"]["code"] == "needs-proof" || v["error"]["code"] == "approval-needed",
            "{v}"
        );
        out
    }

    /// `kovra ARGS` with `stdin`.
    fn run_stdin(&self, args: &[&str], stdin: &[u8]) -> Output {
        self.h.run_with(self.cmd(args), Some(stdin))
    }

    fn add(&self, coord: &str, value: &str, extra: &[&str]) {
        let mut args = vec!["add", coord, "--stdin"];
        args.extend_from_slice(extra);
        let out = self.run_stdin(&args, value.as_bytes());
        assert!(out.status.success(), "add {coord}: {}", describe(&out));
    }

    /// A new canary `tag` stored as the openai key.
    fn openai_key(&self, tag: &str) -> String {
        let key = token_canary(tag);
        self.add(OPENAI, &key, &[]);
        key
    }

    /// A human at a terminal typing the passphrase: `kovra ARGS` must exit `code`.
    fn human(&self, code: i32, args: &[&str]) -> Output {
        let out = self.pty(args, &[PASSPHRASE]);
        assert_exit(&out, code, format!("{args:?}"));
        out
    }

    /// A human at a terminal typing the passphrase: `kovra ARGS` must fail (`why`).
    fn human_refused(&self, why: &str, args: &[&str]) -> Output {
        let out = self.pty(args, &[PASSPHRASE]);
        assert_ne!(out.status.code(), Some(0), "{why}: {}", describe(&out));
        out
    }

    /// Under a real pseudo-terminal (a human), typing `answers` at passphrase prompts.
    fn pty(&self, args: &[&str], answers: &[&str]) -> Output {
        let py = self.h.pty_answer_cmd("answers-broker", args, answers);
        self.h.run_with(self.with_env(py), None)
    }

    /// No file under the home or runtime dir and nothing printed so far holds `canary`.
    #[track_caller]
    fn assert_nowhere(&self, canary: &str) {
        assert_nowhere(&self.h, canary, "a broker canary");
    }
}

// ---------------------------------------------------------------------------------------
// Canaries and their forms
// ---------------------------------------------------------------------------------------

/// A query-string value as a server reads it (`+` is a space).
fn form_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap_or(b'?'));
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Neither stdout nor stderr of `out` holds the credential `value`, in any form.
fn assert_clean(what: &str, out: &Output, value: &str) {
    assert_absent(&out.stdout, value, &format!("{what}: stdout"));
    assert_absent(&out.stderr, value, &format!("{what}: stderr"));
}
