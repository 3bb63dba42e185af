//! Issue 20 in headless Chromium: proofs of presence answered in the web UI's pages. A passkey
//! enrolled through the page (the proof a passphrase typed there) approves an agent's parked
//! run, which then goes through; with `passkey_for = ["high"]` the page offers no passphrase
//! for it; a grant given in the page lets the same run through for its duration and not after;
//! a second virtual authenticator, never enrolled, cannot approve (the approval stays
//! pending), and the page denies it. Without the rule, a passphrase typed into the page
//! approves (its proof made by the server) and a wrong one does not; a grant is revoked in
//! the page, and a passkey enrolled and removed there; a two-factor code typed into the page
//! approves once. The record's value is in no page, response, output or
//! file. The browser is driven step by step (`tests/support/web_proofs.mjs`), Chromium's
//! virtual authenticator (CDP `WebAuthn.addVirtualAuthenticator`) standing in for a passkey.

use std::io::{BufRead, BufReader, Lines, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::*;
use crate::leak::*;
use crate::web_ui::{chromium, login_link, playwright, screenshots_dir};

const HIGH: &str = "secret:dev/api/key";
/// What a grant lasts in this test's debug daemon, whatever the minutes asked.
const GRANT_SECS: u64 = 12;

/// The browser, one JSON step at a time.
struct Browser {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    stderr: Option<std::thread::JoinHandle<Vec<u8>>>,
    seen: Vec<u8>,
}

impl Browser {
    fn new() -> Browser {
        let script = support_dir().join("web_proofs.mjs");
        let mut child = Command::new("node")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("node");
        let stdin = child.stdin.take().unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let stderr = Some(drain(child.stderr.take().unwrap()));
        Browser {
            child,
            stdin,
            lines,
            stderr,
            seen: Vec::new(),
        }
    }

    #[track_caller]
    fn step(&mut self, command: Value) -> Value {
        writeln!(self.stdin, "{command}").unwrap();
        let line = self
            .lines
            .next()
            .expect("the browser script ended")
            .unwrap();
        self.seen.extend_from_slice(line.as_bytes());
        let answer: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(answer["ok"], true, "step {}: {}", command["do"], answer);
        answer
    }

    /// Ends the script (and its Chromium); what it printed on stderr.
    fn quit(mut self) -> Vec<u8> {
        let _ = writeln!(self.stdin, "{}", json!({"do": "quit"}));
        let _ = self.child.wait();
        self.stderr.take().unwrap().join().unwrap()
    }
}

struct Setup {
    h: Home,
    value: String,
    project: PathBuf,
    script: PathBuf,
}

/// A vault (with `config` in its config.toml) holding a high record, an allowlisted script
/// and a project directory whose refs inject it.
fn setup(config: &str) -> Setup {
    let h = Home::new();
    std::fs::create_dir_all(&h.home).unwrap();
    std::fs::write(h.home.join("config.toml"), config).unwrap();
    let vars = vec![("KOVRA_TEST_GRANT_SECS".to_string(), GRANT_SECS.to_string())];
    let out = h.run_pty_env(&["init"], &[PASSPHRASE, PASSPHRASE], &vars);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let value = canary("webproof");
    h.add_ok(HIGH, value.as_bytes(), &["--sensitivity", "high"]);
    let project = h.root.join("project");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(project.join(".env.refs"), format!("API_KEY={HIGH}\n")).unwrap();
    let script = h.root.join("tool.sh");
    write_program(&script, "#!/bin/sh\necho \"len=${#API_KEY}\"\n");
    let out = h.run_pty(&["allow", "add", script.to_str().unwrap()], &[PASSPHRASE]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    Setup {
        h,
        value,
        project,
        script,
    }
}

impl Setup {
    /// The agent's `kovra run -- tool.sh` in the project (no terminal, no waiting).
    fn run(&self) -> Output {
        self.run_with_args(&[])
    }

    fn run_with_args(&self, args: &[&str]) -> Output {
        let mut full = vec!["run", "--", self.script.to_str().unwrap()];
        full.extend_from_slice(args);
        let mut c = self.h.cmd(&full);
        c.current_dir(&self.project)
            .env("KOVRA_APPROVAL_WAIT", "0")
            .stdin(Stdio::null());
        self.h.run_with(c, None)
    }

    #[track_caller]
    fn parked(&self, what: &str) -> String {
        let out = self.run();
        assert_exit(&out, 5, what);
        self.h.wait_for_pending()
    }

    #[track_caller]
    fn through(&self, what: &str) {
        let out = self.run();
        assert_exit(&out, 0, what);
        assert_contains(&stdout(&out), &format!("len={}", self.value.len()), &out);
    }

    fn pending(&self) -> Vec<String> {
        let (_, v) = self.h.json(&["approve"]);
        v["pending"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap().to_string())
            .collect()
    }
}

fn shot(name: &str) -> Value {
    match screenshots_dir() {
        Some(dir) => json!(dir.join(name)),
        None => Value::Null,
    }
}

fn said(answer: &Value) -> (&str, bool) {
    (
        answer["said"]["text"].as_str().unwrap_or_default(),
        answer["said"]["bad"] == true,
    )
}

#[test]
fn approving_in_the_page_with_a_passkey_a_grant_and_a_stranger() {
    let (chromium, playwright) = (chromium(), playwright());
    let s = setup("passkey_for = [\"high\"]\n");
    let link = login_link(&s.h);
    let mut b = Browser::new();
    let r = b
        .step(json!({"do": "start", "chromium": chromium, "playwright": playwright, "link": link}));
    assert_eq!(r["secure"], true, "{r}");

    // Enrolment through the page, the proof the passphrase typed into it (no passkey yet, so
    // `passkey_for` waits and the passphrase still answers).
    let r = b.step(json!({"do": "enrol", "name": "laptop", "passphrase": PASSPHRASE}));
    let (text, bad) = said(&r);
    assert!(!bad && text.contains("Enrolled passkey laptop"), "{r}");
    assert_eq!(r["rows"], json!(["laptop"]), "{r}");
    assert_eq!(
        r["credentials"], 1,
        "the authenticator holds the new passkey: {r}"
    );
    let (_, listed) = s.h.json(&["passkey", "list"]);
    assert_eq!(listed["passkeys"].as_array().unwrap().len(), 1, "{listed}");

    // An agent's run of the high record is parked; the page shows its facts and, the rule
    // now on, offers a passkey and no passphrase.
    let id = s.parked("an agent's run of a high record");
    let r = b.step(json!({"do": "approve", "id": id, "with": "look"}));
    assert!(r["facts"].as_str().unwrap().contains("tool.sh"), "{r}");
    assert_eq!(r["offered"]["passkey"], true, "{r}");
    assert_eq!(
        r["offered"]["secret"], false,
        "no passphrase for a high request: {r}"
    );
    assert!(
        r["offered"]["note"]
            .as_str()
            .unwrap()
            .contains("passkey_for"),
        "{r}"
    );
    assert_eq!(s.pending(), vec![id.clone()]);
    // Approved with the passkey, the agent's retried run goes through.
    let r = b.step(json!({"do": "approve", "id": id, "with": "passkey"}));
    let (text, bad) = said(&r);
    assert!(!bad && text.contains(&format!("Approved {id}")), "{r}");
    s.through("the run approved in the page");
    assert!(s.pending().is_empty());

    // A grant given in the page: the same run goes through for its duration, not after.
    let id = s.parked("the same run, no grant yet");
    let r = b.step(json!({"do": "approve", "id": id, "with": "passkey", "grant": 15}));
    let granted = Instant::now();
    let (text, bad) = said(&r);
    assert!(!bad && text.contains("Approved"), "{r}");
    assert_eq!(r["grants"].as_array().unwrap().len(), 1, "{r}");
    assert!(r["grants"][0].as_str().unwrap().contains("tool.sh"), "{r}");
    s.through("the approved run");
    if granted.elapsed() < Duration::from_secs(GRANT_SECS - 3) {
        s.through("the same run under the grant");
    }
    let left = Duration::from_secs(GRANT_SECS + 1).saturating_sub(granted.elapsed());
    std::thread::sleep(left);
    let id = s.parked("the same run after its grant expired");

    // The pages, for the docs.
    let r = b.step(json!({"do": "page", "name": "approvals", "screenshot": shot("approvals.png")}));
    assert!(r["text"].as_str().unwrap().contains(&id), "{r}");
    let r = b.step(json!({"do": "page", "name": "passkeys", "screenshot": shot("passkeys.png")}));
    assert!(r["text"].as_str().unwrap().contains("laptop"), "{r}");

    // A second authenticator that was never enrolled cannot approve: the browser finds no
    // credential the daemon allows, and the approval stays pending.
    let r = b.step(json!({"do": "swap-authenticator"}));
    assert_eq!(r["credentials"], 0, "{r}");
    let r = b.step(json!({"do": "approve", "id": id, "with": "passkey"}));
    let (text, bad) = said(&r);
    assert!(bad && text.contains("passkey did not answer"), "{r}");
    assert_eq!(r["pending"], json!([id]), "{r}");
    assert_eq!(s.pending(), vec![id.clone()]);
    // Denied in the page (no proof needed to refuse).
    let r = b.step(json!({"do": "deny", "id": id}));
    let (text, bad) = said(&r);
    assert!(!bad && text.contains(&format!("Denied {id}")), "{r}");

    // The value is in no page, response, output or file.
    let r = b.step(json!({"do": "bodies"}));
    let mut seen = b.seen.clone();
    seen.extend_from_slice(&b.quit());
    for body in r["bodies"].as_array().unwrap() {
        seen.extend_from_slice(body.as_str().unwrap().as_bytes());
    }
    assert_absent(&seen, &s.value, "the pages and responses");
    assert_not_printed(&s.h, &s.value, "the record's value");
    assert_not_in_files(&s.h, &s.value, "the record's value");
    assert_not_in_files(&s.h, PASSPHRASE, "the passphrase typed into the page");
}

#[test]
fn a_passphrase_typed_into_the_page_approves_grants_revokes_and_removes_and_a_wrong_one_does_not() {
    let (chromium, playwright) = (chromium(), playwright());
    let s = setup("");
    let link = login_link(&s.h);
    let mut b = Browser::new();
    b.step(json!({"do": "start", "chromium": chromium, "playwright": playwright, "link": link}));
    let id = s.parked("an agent's run of a high record");
    // No passkey enrolled: the page offers the passphrase field only.
    let wrong = "not the passphrase";
    let r = b.step(json!({"do": "approve", "id": id, "with": "passphrase", "passphrase": wrong}));
    assert_eq!(r["offered"]["passkey"], false, "{r}");
    assert_eq!(r["offered"]["secret"], true, "{r}");
    let (text, bad) = said(&r);
    assert!(bad && text.contains("proof"), "{r}");
    assert_eq!(
        s.pending(),
        vec![id.clone()],
        "a wrong passphrase approves nothing"
    );
    // The passphrase's proof is made by the server (the client's own function) over the
    // digest of the request it sends: the daemon accepts it.
    let r =
        b.step(json!({"do": "approve", "id": id, "with": "passphrase", "passphrase": PASSPHRASE}));
    let (text, bad) = said(&r);
    assert!(!bad && text.contains(&format!("Approved {id}")), "{r}");
    s.through("the run approved with the passphrase typed into the page");
    let r = b.step(json!({"do": "bodies"}));
    let mut seen = b.seen.clone();
    seen.extend_from_slice(&b.quit());
    for body in r["bodies"].as_array().unwrap() {
        seen.extend_from_slice(body.as_str().unwrap().as_bytes());
    }
    assert_absent(&seen, &s.value, "the pages and responses");
    assert_absent(
        &seen,
        PASSPHRASE,
        "the pages and responses (the passphrase)",
    );
    assert_not_printed(&s.h, &s.value, "the record's value");
    assert_not_in_files(&s.h, &s.value, "the record's value");
    assert_not_in_files(&s.h, PASSPHRASE, "the passphrase typed into the page");
}

/// The code `oathtool` gives for `b32` one step from now (accepted early as clock skew).
fn next_code(b32: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let out = Command::new("oathtool")
        .args([
            "--totp=sha1",
            "--digits=6",
            "--time-step-size=30s",
            "--base32",
            b32,
        ])
        .arg("--now")
        .arg(format!("@{}", now + 30))
        .output()
        .expect("oathtool is installed (apt-get install oathtool)");
    assert!(out.status.success(), "oathtool: {}", describe(&out));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn a_two_factor_code_typed_into_the_page_approves_once() {
    let (chromium, playwright) = (chromium(), playwright());
    let s = setup("");
    let out = s.h.run_pty(&["2fa", "enable"], &[PASSPHRASE, "!totp"]);
    assert!(out.status.success(), "2fa enable: {}", describe(&out));
    let text = stdout(&out);
    let b32 = text
        .split("secret=")
        .nth(1)
        .and_then(|rest| rest.split('&').next())
        .unwrap_or_else(|| panic!("no URI: {text}"))
        .to_string();
    let link = login_link(&s.h);
    let mut b = Browser::new();
    b.step(json!({"do": "start", "chromium": chromium, "playwright": playwright, "link": link}));
    let id = s.parked("an agent's run of a high record");
    let code = next_code(&b32);
    let r = b.step(json!({"do": "approve", "id": id, "with": "passphrase", "passphrase": code}));
    let (text, bad) = said(&r);
    assert!(!bad && text.contains(&format!("Approved {id}")), "{r}");
    s.through("the run approved with a code typed into the page");
    // The same code again approves nothing.
    let id = s.parked("the same run again");
    let r = b.step(json!({"do": "approve", "id": id, "with": "passphrase", "passphrase": code}));
    assert!(said(&r).1, "a replayed code: {r}");
    assert_eq!(s.pending(), vec![id.clone()]);
    b.quit();
}
