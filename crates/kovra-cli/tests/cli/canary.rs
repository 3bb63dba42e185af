//! The canary test: distinct canary values at every sensitivity, environment and vault, a
//! scenario that runs every command (human and `--json` forms), and then a search for each
//! canary, in every form `leak::forms` lists, in every file kovra wrote, in everything it printed, and in
//! the audit trail. Only one canary is ever revealed, and only by approved reveals; it may appear
//! in those outputs and nowhere else.

use std::ops::Range;
use std::os::unix::fs::PermissionsExt;
use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::*;
use crate::leak::*;

/// The scenario's calls: every one with `KOVRA_LOG=trace`, so an autostarted daemon logs all it can.
struct Scenario {
    h: Home,
    /// Transcript ranges that are approved reveal outputs.
    approved: Vec<Range<usize>>,
}

impl Scenario {
    fn run_in(&self, args: &[&str], stdin: Option<&[u8]>) -> Output {
        let mut c = self.h.cmd(args);
        c.env("KOVRA_LOG", "trace");
        self.h.run_with(c, stdin)
    }

    /// Run and require `exit`.
    fn expect(&self, exit: i32, args: &[&str], stdin: Option<&[u8]>) -> Output {
        let out = self.run_in(args, stdin);
        assert_exit(&out, exit, format!("kovra {args:?}"));
        out
    }

    fn ok(&self, args: &[&str]) -> Output {
        self.expect(0, args, None)
    }

    fn ok_in(&self, args: &[&str], stdin: &[u8]) -> Output {
        self.expect(0, args, Some(stdin))
    }

    /// A command and its `--json` form, both required to succeed; the JSON must parse.
    fn both(&self, args: &[&str]) -> Value {
        self.ok(args);
        let mut full = vec!["--json"];
        full.extend_from_slice(args);
        let out = self.ok(&full);
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("kovra {full:?}: not JSON ({e}): {}", describe(&out)))
    }

    /// A command expected to fail with `exit`, in both forms.
    fn both_fail(&self, exit: i32, args: &[&str]) {
        self.expect(exit, args, None);
        let mut full = vec!["--json"];
        full.extend_from_slice(args);
        self.expect(exit, &full, None);
    }

    /// An approved reveal: its whole output is set aside as the one place the value may be.
    fn approved(&mut self, f: impl FnOnce(&Home) -> Output) -> Output {
        let start = self.h.transcript.borrow().len();
        let out = f(&self.h);
        let end = self.h.transcript.borrow().len();
        self.approved.push(start..end);
        out
    }

    /// The transcript without the approved reveal outputs.
    fn unapproved_transcript(&self) -> Vec<u8> {
        let t = self.h.transcript.borrow();
        let mut rest = Vec::with_capacity(t.len());
        let mut at = 0;
        for r in &self.approved {
            rest.extend_from_slice(&t[at..r.start]);
            at = r.end;
        }
        rest.extend_from_slice(&t[at..]);
        rest
    }

    fn stop_and_wait(&self) {
        let pid = self.h.daemon_pid();
        self.h.stop();
        let deadline = Instant::now() + Duration::from_secs(10);
        while pid.is_some_and(|p| std::path::Path::new(&format!("/proc/{p}/exe")).exists())
            || socket_exists(&self.h)
        {
            assert!(Instant::now() < deadline, "the daemon did not stop");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

fn socket_exists(h: &Home) -> bool {
    std::fs::read_dir(h.runtime.join("kovra")).is_ok_and(|d| {
        d.flatten()
            .any(|e| e.path().extension().is_some_and(|x| x == "sock"))
    })
}

fn private_file(h: &Home, name: &str, content: &str) -> std::path::PathBuf {
    let p = h.root.join(name);
    std::fs::write(&p, format!("{content}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    p
}

const REVEALED: &str = "secret:dev/app/token";
const MEDIUM: &str = "secret:dev/db/password";
const HIGH: &str = "secret:staging/api/key";
const INJECT: &str = "secret:dev/signing/key";
const PROD: &str = "secret:prod/db/password";
const SCRATCH: &str = "secret:dev/tmp/scratch";
const GENERATED: &str = "secret:dev/gen/secret";
const PROJECT_ONLY: &str = "secret:dev/web/session";

#[test]
fn canaries_appear_only_in_approved_reveals() {
    let mut s = Scenario {
        h: Home::new(),
        approved: Vec::new(),
    };
    let revealed = canary("revealed");
    // Every other secret: record values, old versions, and both passphrases.
    let medium_v1 = canary("medium-v1");
    let medium_v2 = canary("medium-v2");
    let high = canary("high");
    let high_v2 = canary("high-v2");
    let inject = canary("inject");
    let prod = canary("prod");
    let project = canary("project");
    let project_only = canary("project-only");
    let scratch = canary("scratch");
    let new_passphrase = canary("passphrase");
    let hidden: Vec<(&str, &String)> = vec![
        ("medium v1", &medium_v1),
        ("medium v2", &medium_v2),
        ("high", &high),
        ("high v2", &high_v2),
        ("inject-only", &inject),
        ("prod", &prod),
        ("project", &project),
        ("project only", &project_only),
        ("scratch", &scratch),
        ("new passphrase", &new_passphrase),
    ];
    let old_pass = s.h.pass_file.to_str().unwrap().to_string();
    let new_pass_file = private_file(&s.h, "new-passphrase", &new_passphrase);
    let new_pass = new_pass_file.to_str().unwrap().to_string();
    let wrong_pass = private_file(&s.h, "wrong-passphrase", "not the passphrase at all");
    let wrong_pass = wrong_pass.to_str().unwrap().to_string();

    // --- init, status, unlock, lock ---
    s.ok(&["status"]);
    s.ok(&["--json", "status"]);
    s.ok(&["init", "--passphrase-file", &old_pass]);
    s.both(&["status"]);
    s.ok(&["lock"]);
    s.expect(
        1,
        &["--json", "unlock", "--passphrase-file", &wrong_pass],
        None,
    );
    s.ok(&["--json", "unlock", "--passphrase-file", &old_pass]);
    s.ok(&["--json", "lock"]);
    s.ok(&["unlock", "--passphrase-file", &old_pass]);
    // A passphrase from a file proves nothing to the daemon it unlocked; the proofs below
    // are typed to a daemon unlocked at a terminal.
    s.ok(&["daemon", "stop"]);
    s.h.unlock_typed();

    // --- add at every level, from stdin ---
    s.ok_in(
        &[
            "add",
            REVEALED,
            "--stdin",
            "--sensitivity",
            "low",
            "--revealable",
            "--description",
            "dev token",
        ],
        format!("{revealed}\n").as_bytes(),
    );
    s.ok_in(&["--json", "add", MEDIUM, "--stdin"], medium_v1.as_bytes());
    s.ok_in(
        &[
            "add",
            HIGH,
            "--stdin",
            "--sensitivity",
            "high",
            "--revealable",
        ],
        high.as_bytes(),
    );
    s.ok_in(
        &["add", INJECT, "--stdin", "--sensitivity", "inject-only"],
        inject.as_bytes(),
    );
    s.ok_in(
        &[
            "add",
            PROD,
            "--stdin",
            "--sensitivity",
            "low",
            "--revealable",
        ],
        prod.as_bytes(),
    );
    s.ok_in(
        &[
            "add",
            SCRATCH,
            "--stdin",
            "--sensitivity",
            "low",
            "--revealable",
        ],
        scratch.as_bytes(),
    );
    s.expect(
        1,
        &["--json", "add", MEDIUM, "--stdin"],
        Some(medium_v2.as_bytes()),
    );
    s.expect(1, &["add", HIGH, "--stdin"], Some(high_v2.as_bytes()));

    // --- projects ---
    s.ok(&["project", "create", "web"]);
    s.ok(&["--json", "project", "create", "api"]);
    s.both(&["project", "list"]);
    s.ok_in(
        &["--project", "web", "add", MEDIUM, "--stdin"],
        project.as_bytes(),
    );
    s.ok_in(
        &[
            "--json",
            "--project",
            "web",
            "add",
            PROJECT_ONLY,
            "--stdin",
            "--sensitivity",
            "high",
        ],
        project_only.as_bytes(),
    );

    // --- set, generate, edit ---
    s.ok_in(&["set", MEDIUM, "--stdin"], medium_v2.as_bytes());
    s.expect(
        5,
        &["--json", "set", HIGH, "--stdin"],
        Some(high_v2.as_bytes()),
    );
    s.ok(&[
        "generate",
        GENERATED,
        "--length",
        "40",
        "--charset",
        "symbols",
    ]);
    s.ok(&[
        "--json",
        "generate",
        GENERATED,
        "--overwrite",
        "--charset",
        "hex",
    ]);
    s.ok(&["edit", MEDIUM, "--description", "the dev database"]);
    s.ok(&["--json", "edit", HIGH, "--description", "staging api"]);
    s.expect(5, &["edit", HIGH, "--sensitivity", "low"], None);
    s.expect(5, &["--json", "edit", MEDIUM, "--revealable"], None);
    s.expect(
        4,
        &["--json", "edit", PROD, "--sensitivity", "medium"],
        None,
    );

    // --- metadata: list, show, fingerprint, history ---
    for args in [
        &["list"][..],
        &["list", "--env", "dev"],
        &["--project", "web", "list"],
        &["show", MEDIUM],
        &["show", PROD],
        &["show", "secret://global/dev/db/password"],
        &["--project", "web", "show", MEDIUM],
        &["fingerprint", REVEALED],
        &["fingerprint", MEDIUM],
        &["--project", "web", "fingerprint", MEDIUM],
        &["history", MEDIUM],
        &["history", PROD],
    ] {
        s.both(args);
    }
    // Agents may not fingerprint protected records; a human at a terminal may.
    for coord in [HIGH, INJECT, PROD] {
        s.both_fail(4, &["fingerprint", coord]);
        human_fingerprint(&s.h, &[], coord, PASSPHRASE);
    }
    s.both_fail(4, &["--project", "web", "fingerprint", PROJECT_ONLY]);
    human_fingerprint(&s.h, &["--project", "web"], PROJECT_ONLY, PASSPHRASE);

    // --- rollback ---
    s.ok(&["rollback", MEDIUM, "1"]);
    s.ok(&["--json", "rollback", MEDIUM, "2"]);
    s.both_fail(1, &["rollback", MEDIUM, "99"]);

    // --- reveals: refused ones for every protected record ---
    for coord in [MEDIUM, HIGH, INJECT, PROD] {
        s.both_fail(4, &["reveal", coord]);
    }
    s.both_fail(4, &["--project", "web", "reveal", MEDIUM]);
    s.both_fail(4, &["--project", "web", "reveal", PROJECT_ONLY]);
    s.both_fail(4, &["reveal", GENERATED]);
    // A human with the wrong passphrase, and a human asking for inject-only.
    let out =
        s.h.run_pty(&["reveal", HIGH], &["not the passphrase at all"]);
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    let out = s.h.run_pty(&["reveal", INJECT], &[PASSPHRASE]);
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));

    // --- the approved reveals, all of the one dedicated record ---
    let out = s.approved(|h| h.ok(&["reveal", REVEALED]));
    assert_eq!(out.stdout, revealed.as_bytes());
    let out = s.approved(|h| h.ok(&["--json", "reveal", REVEALED]));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["value"], revealed.as_str());
    let out = s.approved(|h| h.run_pty(&["reveal", REVEALED], &[PASSPHRASE]));
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(
        count(&out.stdout, revealed.as_bytes()),
        1,
        "{}",
        describe(&out)
    );

    // --- rm ---
    s.ok(&["rm", SCRATCH]);
    s.both_fail(3, &["show", SCRATCH]);
    s.expect(5, &["--json", "rm", PROD], None);
    s.ok(&["--json", "--project", "web", "rm", MEDIUM]);

    // --- audit ---
    for args in [
        &["audit"][..],
        &["audit", "--coordinate", MEDIUM],
        &["audit", "--action", "reveal"],
        &["audit", "--since", "1h"],
        &["audit", "verify"],
    ] {
        s.both(args);
    }

    // --- passwd, rotate-key, and a restart ---
    s.ok(&[
        "passwd",
        "--passphrase-file",
        &old_pass,
        "--new-passphrase-file",
        &new_pass,
    ]);
    s.expect(
        1,
        &[
            "--json",
            "passwd",
            "--passphrase-file",
            &old_pass,
            "--new-passphrase-file",
            &new_pass,
        ],
        None,
    );
    s.ok(&["rotate-key"]);
    s.ok(&["--json", "rotate-key"]);
    s.both(&["audit", "verify"]);
    s.stop_and_wait();
    s.ok(&["status"]);
    s.expect(1, &["unlock", "--passphrase-file", &old_pass], None);
    s.ok(&["unlock", "--passphrase-file", &new_pass]);
    let out = s.approved(|h| h.ok(&["reveal", REVEALED]));
    assert_eq!(out.stdout, revealed.as_bytes());
    s.both(&["list"]);
    s.both(&["audit", "verify"]);

    // --- the audit trail holds no value ---
    let (code, trail) = s.h.json(&["audit"]);
    assert_eq!(code, 0);
    let trail_bytes = serde_json::to_vec(&trail).unwrap();
    let entries = trail["entries"].as_array().unwrap();
    assert!(entries.len() > 60, "a thin trail: {}", entries.len());
    for (what, value) in hidden.iter().copied().chain([("revealed", &revealed)]) {
        assert_absent(
            &trail_bytes,
            value,
            &format!("`audit --json` (the {what} canary)"),
        );
    }
    for action in [
        "add",
        "set",
        "reveal",
        "rollback",
        "rm",
        "proof",
        "passwd",
        "rotate-key",
    ] {
        assert!(
            entries.iter().any(|e| e["action"] == action),
            "no {action} entry on the trail"
        );
    }

    // --- files: with the daemon running (WAL live), then after a checkpointing stop ---
    let old_passphrase = PASSPHRASE.to_string();
    let mut all = hidden.clone();
    all.push(("revealed", &revealed));
    all.push(("old passphrase", &old_passphrase));
    let scan = |when: &str| {
        for (what, value) in &all {
            assert_not_in_files(&s.h, value, &format!("{when}: the {what} canary"));
        }
    };
    assert!(
        s.h.home.join("vault.db-wal").exists(),
        "expected a live WAL"
    );
    scan("daemon running");
    s.stop_and_wait();
    assert!(
        !s.h.home.join("vault.db-wal").exists()
            || std::fs::metadata(s.h.home.join("vault.db-wal"))
                .unwrap()
                .len()
                == 0,
        "the WAL was not checkpointed"
    );
    scan("daemon stopped");
    let log = std::fs::read(s.h.home.join("daemon.log")).unwrap();
    assert!(log.len() > 200, "the daemon log is nearly empty");
    for (what, value) in &all {
        assert_absent(&log, value, &format!("daemon.log (the {what} canary)"));
    }

    // --- the transcript: hidden canaries nowhere; the revealed one only in approved reveals ---
    for (what, value) in &hidden {
        assert_not_printed(&s.h, value, &format!("the {what} canary"));
    }
    assert_not_printed(&s.h, PASSPHRASE, "the passphrase");
    let rest = s.unapproved_transcript();
    assert_absent(
        &rest,
        &revealed,
        "the transcript outside approved reveals (the revealed canary)",
    );
    let t = s.h.transcript.borrow();
    for r in &s.approved {
        assert_eq!(
            count(&t[r.clone()], revealed.as_bytes()),
            1,
            "an approved reveal did not print the value exactly once"
        );
    }
    assert_eq!(s.approved.len(), 4);
}

/// The scanners find every listed form, and a failure names the form and the offset but
/// never shows the value: a leak test must not leak what it looks for.
#[test]
fn a_failed_scan_names_the_form_and_offset_but_never_the_value() {
    let value = tricky_canary("kit");
    for form in forms(&value) {
        let mut hay = b"prefix ".to_vec();
        hay.extend_from_slice(&form.bytes);
        hay.extend_from_slice(b" suffix");
        let hit = find(&hay, &value).unwrap_or_else(|| panic!("{} not found", form.label));
        assert_eq!(hit.offset, 7, "{}", form.label);
        let err = std::panic::catch_unwind(|| assert_absent(&hay, &value, "the test haystack"))
            .expect_err("assert_absent passed over a planted form");
        let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(msg.contains("the test haystack"), "{msg}");
        assert!(msg.contains("at offset 7"), "{msg}");
        assert!(
            find(msg.as_bytes(), &value).is_none(),
            "the message shows the value"
        );
    }
    assert!(find(b"nothing to see here", &value).is_none());
}
