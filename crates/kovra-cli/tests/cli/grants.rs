//! Session grants against approval fatigue: `kovra approve ID --grant 1m` lets the same run
//! through for its duration and not after, and nothing else: another command, directory or
//! refs file is parked again, as is a production record's run; revoking or locking ends it;
//! a reveal is never covered; the value is in no output and no audit entry.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::harness::*;
use crate::leak::*;

const HIGH: &str = "secret:dev/api/key";
const PROD: &str = "secret:production/api/key";

/// A home whose daemon got `vars`, with a high dev record (the canary value) and a
/// production one, an allowlisted script, and a project directory wired to the dev record.
struct Setup {
    h: Home,
    value: String,
    project: PathBuf,
    script: PathBuf,
}

fn setup(tag: &str, vars: &[(&str, &str)]) -> Setup {
    let h = Home::new();
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let out = h.run_pty_env(&["init"], &[PASSPHRASE, PASSPHRASE], &vars);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let value = canary(tag);
    h.add_ok(HIGH, value.as_bytes(), &["--sensitivity", "high"]);
    h.add_ok(PROD, value.as_bytes(), &[]);
    let project = h.root.join("project");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(project.join(".env.refs"), format!("API_KEY={HIGH}\n")).unwrap();
    let script = h.root.join("tool.sh");
    write_program(&script, "#!/bin/sh\necho \"len=${#API_KEY} args=$*\"\n");
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
    /// The agent's `kovra run [extra] -- tool.sh [args]` in `dir` (no terminal, no waiting).
    fn run_in(&self, dir: &Path, extra: &[&str], args: &[&str]) -> Output {
        let mut full = vec!["run"];
        full.extend_from_slice(extra);
        full.push("--");
        full.push(self.script.to_str().unwrap());
        full.extend_from_slice(args);
        let mut c = self.h.cmd(&full);
        c.current_dir(dir).env("KOVRA_APPROVAL_WAIT", "0");
        self.h.run_with(c, None)
    }

    fn run(&self) -> Output {
        self.run_in(&self.project, &[], &[])
    }

    /// The run is parked (exit 5): returns the id the human approves.
    #[track_caller]
    fn parked(&self, out: &Output, what: &str) -> String {
        assert_exit(out, 5, what);
        assert_contains(&stderr(out), "approval needed", out);
        self.h.wait_for_pending()
    }

    #[track_caller]
    fn through(&self, out: &Output, what: &str) {
        assert_exit(out, 0, what);
        assert!(
            stdout(out).contains(&format!("len={}", self.value.len())),
            "{what}: {}",
            describe(out)
        );
    }

    fn approve(&self, id: &str, extra: &[&str]) -> Output {
        let mut args = vec!["approve", id];
        args.extend_from_slice(extra);
        self.h.run_pty(&args, &[PASSPHRASE])
    }

    fn grants(&self) -> Vec<serde_json::Value> {
        let (code, v) = self.h.json(&["grants"]);
        assert_eq!(code, 0, "{v}");
        v["grants"].as_array().cloned().unwrap_or_default()
    }

    /// Approve the parked run with a grant; the first run again consumes the approval.
    fn grant_first_run(&self, duration: &str) -> String {
        let id = self.parked(&self.run(), "an agent's run of a high record");
        let listing = stdout(&self.h.ok(&["approve"]));
        assert!(
            listing.contains(&format!("kovra approve {id} --grant 15m")),
            "{listing}"
        );
        let out = self.approve(&id, &["--grant", duration]);
        assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
        said(&out, "lets it through");
        self.through(&self.run(), "the approved run");
        let grants = self.grants();
        assert_eq!(grants.len(), 1, "{grants:?}");
        grants[0]["id"].as_str().unwrap().to_string()
    }

    /// Nothing printed and no audit entry holds the value.
    fn assert_no_leak(&self) {
        assert_not_printed(&self.h, &self.value, "the record's value");
        let (_, audit) = self.h.json(&["audit"]);
        assert_absent(audit.to_string().as_bytes(), &self.value, "the audit trail");
    }
}

/// What a command at a terminal said (its output and errors share the terminal).
#[track_caller]
fn said(out: &Output, needle: &str) {
    let all = describe(out);
    assert!(all.contains(needle), "expected {needle:?}: {all}");
}

#[test]
fn a_grant_lets_the_same_run_through_and_nothing_else() {
    let s = setup("grant", &[]);
    let grant = s.grant_first_run("1m");
    // The same run, again and again, without a new approval.
    s.through(&s.run(), "the same run under the grant");
    s.through(&s.run(), "the same run under the grant, again");
    let (_, used) = s.h.json(&["audit", "--action", "grant-use"]);
    let used = used["entries"].as_array().unwrap();
    assert_eq!(used.len(), 2, "{used:?}");
    assert!(used[0]["detail"].as_str().unwrap().contains(&grant));
    // The injection itself says it went through under the grant.
    let (_, injected) = s.h.json(&["audit", "--action", "inject"]);
    assert!(
        injected["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["reason"] == "session-grant"),
        "{injected}"
    );
    // Another command (an argument more) is another run: parked.
    let other = s.run_in(&s.project, &[], &["--more"]);
    s.parked(&other, "another command");
    s.h.ok(&["deny", &s.h.wait_for_pending()]);
    // The same refs in another directory: parked.
    let elsewhere = s.h.root.join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::copy(s.project.join(".env.refs"), elsewhere.join(".env.refs")).unwrap();
    s.parked(&s.run_in(&elsewhere, &[], &[]), "another directory");
    s.h.ok(&["deny", &s.h.wait_for_pending()]);
    // Another refs file naming the same record: parked.
    std::fs::write(s.project.join("other.refs"), format!("API_KEY={HIGH}\n")).unwrap();
    s.parked(
        &s.run_in(&s.project, &["--refs", "other.refs"], &[]),
        "another refs file",
    );
    s.h.ok(&["deny", &s.h.wait_for_pending()]);
    // The refs file edited: parked.
    std::fs::write(
        s.project.join(".env.refs"),
        format!("API_KEY={HIGH}\nOTHER={HIGH}\n"),
    )
    .unwrap();
    s.parked(&s.run(), "an edited refs file");
    s.h.ok(&["deny", &s.h.wait_for_pending()]);
    std::fs::write(s.project.join(".env.refs"), format!("API_KEY={HIGH}\n")).unwrap();
    s.through(&s.run(), "the granted run, its refs restored");
    // The executable rewritten: not the granted run (nor, here, an allowlisted one).
    let body = std::fs::read_to_string(&s.script).unwrap();
    write_program(&s.script, "#!/bin/sh\necho \"rewritten $API_KEY\"\n");
    let rewritten = s.run();
    assert_ne!(rewritten.status.code(), Some(0), "{}", describe(&rewritten));
    if rewritten.status.code() == Some(5) {
        s.h.ok(&["deny", &s.h.wait_for_pending()]);
    }
    write_program(&s.script, &body);
    s.through(&s.run(), "the granted run, its executable restored");
    // A reveal is never covered, grant or not.
    let mut seen = Vec::new();
    let reveal = s.h.agent(&["reveal", HIGH], &mut seen);
    assert_ne!(reveal.status.code(), Some(0), "{}", describe(&reveal));
    assert_absent(&seen, &s.value, "the agent's reveal");
    // The listing says what the grant covers.
    let listing = stdout(&s.h.ok(&["grants"]));
    assert!(
        listing.contains(&grant) && listing.contains("tool.sh") && listing.contains("expires in"),
        "{listing}"
    );
    // Revoked, it is over: the same run is parked again.
    s.h.ok(&["grants", "revoke", &grant]);
    assert!(s.grants().is_empty());
    s.parked(&s.run(), "the run after its grant was revoked");
    let again = s.h.run(&["grants", "revoke", &grant]);
    assert_exit(&again, 1, "revoking twice");
    assert_contains(&stderr(&again), "grant-unknown", &again);
    let (_, made) = s.h.json(&["audit", "--action", "grant-create"]);
    assert_eq!(made["entries"].as_array().unwrap().len(), 1, "{made}");
    let (_, revoked) = s.h.json(&["audit", "--action", "grant-revoke"]);
    assert_eq!(revoked["entries"].as_array().unwrap().len(), 1, "{revoked}");
    s.assert_no_leak();
}

#[test]
fn a_grant_expires_and_lock_ends_every_grant() {
    // Debug builds let a test shorten every grant to a few seconds.
    let s = setup("grant-expiry", &[("KOVRA_TEST_GRANT_SECS", "6")]);
    let started = std::time::Instant::now();
    s.grant_first_run("1m");
    if started.elapsed() < std::time::Duration::from_secs(5) {
        s.through(&s.run(), "the same run within the grant");
    }
    std::thread::sleep(std::time::Duration::from_secs(7));
    assert!(s.grants().is_empty(), "an expired grant is still listed");
    let (_, expired) = s.h.json(&["audit", "--action", "grant-expire"]);
    assert_eq!(expired["entries"].as_array().unwrap().len(), 1, "{expired}");
    let id = s.parked(&s.run(), "the run after its grant expired");
    // A new grant, then a lock: gone at the next unlock.
    let out = s.approve(&id, &["--grant", "1m"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    s.through(&s.run(), "the approved run");
    assert_eq!(s.grants().len(), 1);
    s.h.ok(&["lock"]);
    s.h.unlock_typed();
    assert!(s.grants().is_empty(), "a grant outlived the lock");
    s.parked(&s.run(), "the run after a lock");
    s.assert_no_leak();
}

#[test]
fn production_and_what_is_not_a_run_are_never_granted() {
    let s = setup("grant-prod", &[]);
    std::fs::write(s.project.join("prod.refs"), format!("API_KEY={PROD}\n")).unwrap();
    let prod = || s.run_in(&s.project, &["--refs", "prod.refs"], &[]);
    let id = s.parked(&prod(), "a production run");
    let out = s.approve(&id, &["--grant", "15m"]);
    assert_exit(&out, 4, "a grant of a production run");
    said(&out, "production record is never granted");
    assert!(s.grants().is_empty());
    // A profile grant names the profile a run came through: this one came through the
    // human's own socket.
    let out = s.approve(&id, &["--grant", "15m", "--grant-profile"]);
    assert_exit(&out, 4, "a profile grant of a run from the human's socket");
    // Still pending: approved without a grant, it goes through once.
    let out = s.approve(&id, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    s.through(&prod(), "the production run, approved once");
    s.parked(&prod(), "the production run again");
    s.h.ok(&["deny", &s.h.wait_for_pending()]);
    // Something other than a run (an edit) is approved once, never granted.
    let mut seen = Vec::new();
    let edit =
        s.h.agent(&["edit", HIGH, "--sensitivity", "low"], &mut seen);
    assert_exit(&edit, 5, "an agent's edit");
    let id = s.h.wait_for_pending();
    let out = s.approve(&id, &["--grant", "15m"]);
    assert_exit(&out, 4, "a grant of an edit");
    said(&out, "covers a run");
    // Out of range.
    let out = s.approve(&id, &["--grant", "9h"]);
    assert_exit(&out, 4, "a nine-hour grant");
    let out = s.h.run(&["approve", &id, "--grant", "soon"]);
    assert_exit(&out, 2, "a duration that is none");
    let (_, refused) = s.h.json(&["audit", "--action", "grant-create"]);
    assert!(
        refused["entries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["decision"] == "deny"),
        "{refused}"
    );
    s.assert_no_leak();
}
