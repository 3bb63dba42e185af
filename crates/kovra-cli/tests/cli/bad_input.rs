//! Bad input: each mistake gets a stable error code, a message naming the problem, a hint,
//! the documented non-zero exit code, and leaves the vault exactly as it was.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::*;
use crate::leak::*;

/// What must not change: every record's metadata (versions and times included) and the count.
fn snapshot(h: &Home) -> (Value, u64) {
    let (code, list) = h.json(&["list"]);
    assert_eq!(code, 0, "list --json: {list}");
    let (code, status) = h.json(&["status"]);
    assert_eq!(code, 0, "status --json: {status}");
    (
        list["records"].clone(),
        status["records"].as_u64().expect("status.records"),
    )
}

/// Run `kovra --json ARGS`, require exit `exit` and error code `code`, return the error object.
fn fails(h: &Home, args: &[&str], stdin: Option<&[u8]>, exit: i32, code: &str) -> Value {
    let mut full = vec!["--json"];
    full.extend_from_slice(args);
    fails_cmd(h, h.cmd(&full), stdin, exit, code, args)
}

fn fails_cmd(
    h: &Home,
    cmd: std::process::Command,
    stdin: Option<&[u8]>,
    exit: i32,
    code: &str,
    what: &[&str],
) -> Value {
    let out = h.run_with(cmd, stdin);
    assert_exit(&out, exit, format!("kovra {what:?}: wrong exit"));
    let doc: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("kovra {what:?}: not JSON ({e}): {}", describe(&out)));
    let err = doc["error"].clone();
    assert_eq!(err["code"], code, "kovra {what:?}: {doc}");
    assert!(
        err["message"].as_str().is_some_and(|m| !m.is_empty()),
        "kovra {what:?}: no message: {doc}"
    );
    err
}

fn hint(err: &Value) -> &str {
    err["hint"]
        .as_str()
        .unwrap_or_else(|| panic!("no hint: {err}"))
}

fn msg(err: &Value) -> &str {
    err["message"].as_str().unwrap_or_default()
}

/// A vault with records in several vaults, sensitivities and versions.
fn seeded() -> Home {
    let h = Home::init();
    for (coord, extra) in [
        (
            "secret:dev/db/password",
            &["--revealable", "--sensitivity", "low"][..],
        ),
        ("secret:staging/api/key", &["--sensitivity", "high"][..]),
        ("secret:prod/db/password", &[][..]),
    ] {
        let out = h.add(coord, canary("seed").as_bytes(), extra);
        assert!(out.status.success(), "{}", describe(&out));
    }
    let out = h.run_stdin(
        &["set", "secret:dev/db/password", "--stdin"],
        canary("seed2").as_bytes(),
    );
    assert!(out.status.success(), "{}", describe(&out));
    h.ok(&["project", "create", "web"]);
    for coord in ["secret:dev/db/password", "secret:dev/web/only"] {
        let out = h.add(coord, canary("proj").as_bytes(), &["--project", "web"]);
        assert!(out.status.success(), "{}", describe(&out));
    }
    h
}

/// Stop the daemon and wait until it is really gone (socket removed, process exited).
fn stop_and_wait(h: &Home) {
    let pid = h.daemon_pid();
    h.stop();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && (!socket_files(h).is_empty() || pid.is_some_and(alive)) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(socket_files(h).is_empty(), "the daemon did not go away");
}

#[test]
fn malformed_coordinates_name_the_position_and_change_nothing() {
    let h = seeded();
    let before = snapshot(&h);
    let cases: &[(&str, &[&str])] = &[
        (
            "secret:dev/a b/c",
            &["U+0020", "position 13", "segment group"],
        ),
        ("secret:dev/d\tb/x", &["U+0009", "position 13"]),
        (
            "secret:dev/db/pass$word",
            &["`$`", "position 19", "segment key"],
        ),
        (
            "secret:d\u{e9}v/db/x",
            &["`\u{e9}`", "position 9", "segment env"],
        ),
        ("secret:dev//x", &["segment group is empty", "position 12"]),
        ("secret:../db/x", &["`.` or `..`", "position 8"]),
        ("secret:dev/db", &["three segments", "found 2"]),
        ("secret:dev/db/x/y", &["three segments", "found 4"]),
        ("dev/db/password", &["must start with `secret:`"]),
        ("secret:dev/d${X}/x", &["`${ENV}`", "position 13"]),
    ];
    for (text, wanted) in cases {
        let err = fails(&h, &["show", text], None, 2, "coordinate-invalid");
        for w in *wanted {
            assert!(
                msg(&err).contains(w),
                "{text:?}: message lacks {w:?}: {err}"
            );
        }
        assert!(
            hint(&err).contains("secret:ENV/GROUP/NAME"),
            "{text:?}: {err}"
        );
    }
    // A template is named as one, with the fix.
    let err = fails(
        &h,
        &["show", "secret:${ENV}/db/x"],
        None,
        2,
        "coordinate-invalid",
    );
    assert!(msg(&err).contains("template"), "{err}");
    assert!(hint(&err).contains("--env"), "{err}");

    // Every coordinate-taking command checks before doing anything.
    let bad = "secret:dev/a b/c";
    // No stdin is written: the CLI exits before reading it, and a write could race that exit.
    let value = None::<&[u8]>;
    for (args, stdin) in [
        (vec!["add", bad, "--stdin"], value),
        (vec!["set", bad, "--stdin"], value),
        (vec!["generate", bad], None),
        (vec!["show", bad], None),
        (vec!["fingerprint", bad], None),
        (vec!["edit", bad, "--description", "x"], None),
        (vec!["rm", bad], None),
        (vec!["history", bad], None),
        (vec!["rollback", bad, "1"], None),
        (vec!["reveal", bad], None),
        (vec!["audit", "--coordinate", bad], None),
    ] {
        let err = fails(&h, &args, stdin, 2, "coordinate-invalid");
        assert!(msg(&err).contains("position 13"), "{args:?}: {err}");
    }
    // The human form says the same on stderr, with the hint and the code.
    let out = h.run(&["show", bad]);
    assert_eq!(out.status.code(), Some(2));
    let e = stderr(&out);
    assert!(e.contains("position 13"), "{e}");
    assert!(e.contains("hint: write it as secret:ENV/GROUP/NAME"), "{e}");
    assert!(e.contains("code: coordinate-invalid"), "{e}");
    assert!(out.stdout.is_empty());
    assert_eq!(snapshot(&h), before);
}

#[test]
fn malformed_coordinate_is_reported_before_any_connection() {
    // No vault and no daemon, autostart off: the typo is still what gets reported.
    let h = Home::new();
    let mut c = h.cmd(&["--json", "show", "secret:dev/db"]);
    c.env("KOVRA_NO_AUTOSTART", "1");
    let err = fails_cmd(&h, c, None, 2, "coordinate-invalid", &["show"]);
    assert!(msg(&err).contains("found 2"), "{err}");
    assert!(!h.home.exists(), "a bad coordinate created the home");
    assert!(
        socket_files(&h).is_empty(),
        "a bad coordinate started a daemon"
    );
}

#[test]
fn unknown_project_is_refused_and_nothing_is_created() {
    let h = seeded();
    let before = snapshot(&h);
    let err = fails(
        &h,
        &["--project", "nope", "add", "secret:dev/x/y", "--stdin"],
        Some(b"value"),
        1,
        "unknown-project",
    );
    assert!(msg(&err).contains("nope"), "{err}");
    assert!(hint(&err).contains("kovra project create"), "{err}");
    for args in [
        &["--project", "nope", "list"][..],
        &["--project", "nope", "show", "secret:dev/db/password"],
        &["--project", "nope", "reveal", "secret:dev/db/password"],
        &["--project", "nope", "generate", "secret:dev/x/y"],
    ] {
        fails(&h, args, None, 1, "unknown-project");
    }
    // KOVRA_PROJECT is the same as --project.
    let mut c = h.cmd(&["--json", "add", "secret:dev/x/y", "--stdin"]);
    c.env("KOVRA_PROJECT", "nope");
    fails_cmd(&h, c, Some(b"value"), 1, "unknown-project", &["add"]);
    // A project name that is not a name at all.
    let err = fails(
        &h,
        &["--project", "a b", "list"],
        None,
        1,
        "project-invalid",
    );
    assert!(msg(&err).contains("position 2"), "{err}");
    let (_, projects) = h.json(&["project", "list"]);
    assert_eq!(projects["projects"], serde_json::json!(["web"]));
    assert_eq!(snapshot(&h), before);
}

#[test]
fn wrong_passphrase_keeps_the_vault_locked() {
    let h = seeded();
    let before = snapshot(&h);
    h.ok(&["lock"]);
    let wrong = h.root.join("wrong");
    std::fs::write(&wrong, "not the passphrase at all\n").unwrap();
    let err = fails(
        &h,
        &["unlock", "--passphrase-file", wrong.to_str().unwrap()],
        None,
        1,
        "wrong-passphrase",
    );
    assert!(hint(&err).contains("try again"), "{err}");
    let (_, status) = h.json(&["status"]);
    assert_eq!(status["unlocked"], false, "{status}");
    let err = fails(&h, &["list"], None, 6, "vault-locked");
    assert!(hint(&err).contains("kovra unlock"), "{err}");
    // The right one still works, and the failure is on the trail.
    h.ok(&["unlock", "--passphrase-file", h.pass_file.to_str().unwrap()]);
    assert_eq!(snapshot(&h), before);
    let (_, audit) = h.json(&["audit", "--action", "unlock"]);
    let last = audit["entries"]
        .as_array()
        .unwrap()
        .last()
        .cloned()
        .unwrap();
    assert!(
        last["detail"]
            .as_str()
            .is_some_and(|d| d.contains("1 failed unlock")),
        "{last}"
    );
}

#[test]
fn locked_vault_refuses_every_data_command() {
    let h = seeded();
    let before = snapshot(&h);
    let fp = stdout(&h.ok(&["fingerprint", "secret:dev/db/password"]));
    h.ok(&["lock"]);
    for (args, stdin) in [
        (&["list"][..], None),
        (&["show", "secret:dev/db/password"], None),
        (&["reveal", "secret:dev/db/password"], None),
        (&["fingerprint", "secret:dev/db/password"], None),
        (&["history", "secret:dev/db/password"], None),
        (
            &["add", "secret:dev/new/x", "--stdin"],
            Some(b"v".as_slice()),
        ),
        (&["set", "secret:dev/db/password", "--stdin"], Some(b"v")),
        (&["rm", "secret:dev/db/password"], None),
        (
            &["edit", "secret:dev/db/password", "--description", "x"],
            None,
        ),
        (&["rollback", "secret:dev/db/password", "1"], None),
        (&["audit"], None),
        (&["audit", "verify"], None),
        (&["rotate-key"], None),
        (&["project", "create", "api"], None),
    ] {
        let err = fails(&h, args, stdin, 6, "vault-locked");
        assert!(hint(&err).contains("kovra unlock"), "{args:?}: {err}");
    }
    let out = h.run(&["list"]);
    assert_eq!(out.status.code(), Some(6));
    assert_contains(&stderr(&out), "the vault is locked", &out);
    h.ok(&["unlock", "--passphrase-file", h.pass_file.to_str().unwrap()]);
    assert_eq!(snapshot(&h), before);
    assert_eq!(
        stdout(&h.ok(&["fingerprint", "secret:dev/db/password"])),
        fp
    );
}

#[test]
fn daemon_not_running_without_autostart() {
    let h = seeded();
    let before = snapshot(&h);
    stop_and_wait(&h);
    for args in [
        &["--json", "list"][..],
        &["--json", "show", "secret:dev/db/password"],
        &[
            "--json",
            "unlock",
            "--passphrase-file",
            h.pass_file.to_str().unwrap(),
        ],
    ] {
        let mut c = h.cmd(args);
        c.env("KOVRA_NO_AUTOSTART", "1");
        let err = fails_cmd(&h, c, None, 7, "daemon-unreachable", args);
        assert!(msg(&err).contains("not running"), "{err}");
        assert!(hint(&err).contains("KOVRA_NO_AUTOSTART"), "{err}");
        assert!(socket_files(&h).is_empty(), "{args:?} started a daemon");
    }
    // With autostart the vault comes back as it was (locked, since the daemon stopped).
    let err = fails(&h, &["list"], None, 6, "vault-locked");
    assert!(hint(&err).contains("kovra unlock"));
    h.ok(&["unlock", "--passphrase-file", h.pass_file.to_str().unwrap()]);
    assert_eq!(snapshot(&h), before);
}

#[test]
fn uninitialised_home() {
    let h = Home::new();
    let err = fails(&h, &["list"], None, 6, "not-initialized");
    assert!(hint(&err).contains("kovra init"), "{err}");
    let err = fails(
        &h,
        &["unlock", "--passphrase-file", h.pass_file.to_str().unwrap()],
        None,
        6,
        "not-initialized",
    );
    assert!(hint(&err).contains("kovra init"), "{err}");
    fails(
        &h,
        &["add", "secret:dev/x/y", "--stdin"],
        Some(b"value"),
        6,
        "not-initialized",
    );
    fails(
        &h,
        &["reveal", "secret:dev/x/y"],
        None,
        6,
        "not-initialized",
    );
    fails(&h, &["audit", "verify"], None, 6, "not-initialized");
    assert!(!db_path(&h).exists(), "a vault appeared without init");
    let (code, status) = h.json(&["status"]);
    assert_eq!(code, 0);
    assert_eq!(status["initialized"], false, "{status}");
    assert_eq!(status["unlocked"], false, "{status}");
    let out = h.run(&["list"]);
    assert_eq!(out.status.code(), Some(6));
    assert_contains(&stderr(&out), "kovra init", &out);
}

/// Stop the daemon, damage vault.db with `damage`, then check unlock reports database-corrupt,
/// leaves the bytes as they were, and that nothing (not even init) replaces the file.
fn corrupted(damage: impl FnOnce(&std::path::Path)) {
    let h = seeded();
    stop_and_wait(&h);
    let db = db_path(&h);
    for side in ["vault.db-wal", "vault.db-shm"] {
        let _ = std::fs::remove_file(h.home.join(side));
    }
    damage(&db);
    let damaged = std::fs::read(&db).unwrap();
    let unlock = ["unlock", "--passphrase-file", h.pass_file.to_str().unwrap()];
    let err = fails(&h, &unlock, None, 8, "database-corrupt");
    assert!(hint(&err).contains("backup"), "{err}");
    let err = fails(&h, &unlock, None, 8, "database-corrupt");
    assert!(msg(&err).contains("corrupt"), "{err}");
    fails(&h, &["list"], None, 6, "vault-locked");
    let err = fails(
        &h,
        &["init", "--passphrase-file", h.pass_file.to_str().unwrap()],
        None,
        1,
        "already-initialized",
    );
    assert!(hint(&err).contains("move the home away"), "{err}");
    let (_, status) = h.json(&["status"]);
    assert_eq!(status["unlocked"], false, "{status}");
    stop_and_wait(&h);
    let after = std::fs::read(&db).unwrap();
    assert!(
        after == damaged,
        "the damaged vault file was rewritten: {} bytes before, {} after",
        damaged.len(),
        after.len()
    );
}

#[test]
fn corrupted_database_garbage() {
    corrupted(|db| {
        let len = std::fs::metadata(db).unwrap().len() as usize;
        let mut garbage = vec![0u8; len];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut garbage))
            .unwrap();
        std::fs::write(db, garbage).unwrap();
    });
}

#[test]
fn corrupted_database_truncated() {
    corrupted(|db| {
        let f = std::fs::OpenOptions::new().write(true).open(db).unwrap();
        let len = f.metadata().unwrap().len();
        assert!(len > 8192, "vault unexpectedly small: {len}");
        f.set_len(8192).unwrap();
    });
}

#[test]
fn corrupted_database_truncated_to_nothing() {
    corrupted(|db| {
        std::fs::write(db, b"").unwrap();
    });
}

#[test]
fn values_from_a_closed_or_missing_stdin() {
    let h = seeded();
    let before = snapshot(&h);
    for stdin in [b"".as_slice(), b"\n"] {
        let err = fails(
            &h,
            &["add", "secret:dev/new/x", "--stdin"],
            Some(stdin),
            1,
            "empty-value",
        );
        assert!(msg(&err).contains("secret:dev/new/x"), "{err}");
        assert!(hint(&err).contains("--stdin"), "{err}");
        fails(
            &h,
            &["set", "secret:dev/db/password", "--stdin"],
            Some(stdin),
            1,
            "empty-value",
        );
    }
    // No --stdin and no terminal to prompt on (stdin is /dev/null, no controlling tty).
    let err = fails(&h, &["add", "secret:dev/new/x"], None, 1, "no-value-source");
    assert!(hint(&err).contains("--stdin"), "{err}");
    fails(
        &h,
        &["set", "secret:dev/db/password"],
        None,
        1,
        "no-value-source",
    );
    fails(&h, &["show", "secret:dev/new/x"], None, 3, "not-found");
    assert_eq!(snapshot(&h), before);
}

#[test]
fn weak_empty_or_missing_passphrase_on_init() {
    let h = Home::new();
    let short = h.root.join("short");
    std::fs::write(&short, "short\n").unwrap();
    let err = fails(
        &h,
        &["init", "--passphrase-file", short.to_str().unwrap()],
        None,
        1,
        "passphrase-weak",
    );
    assert!(msg(&err).contains("at least 8"), "{err}");
    assert!(!db_path(&h).exists(), "a weak passphrase created a vault");
    let empty = h.root.join("empty");
    std::fs::write(&empty, "\n").unwrap();
    fails(
        &h,
        &["init", "--passphrase-file", empty.to_str().unwrap()],
        None,
        1,
        "passphrase-empty",
    );
    let err = fails(&h, &["init"], None, 1, "no-passphrase-source");
    assert!(hint(&err).contains("--passphrase-file"), "{err}");
    let missing = h.root.join("missing");
    let err = fails(
        &h,
        &["init", "--passphrase-file", missing.to_str().unwrap()],
        None,
        1,
        "passphrase-unreadable",
    );
    assert!(msg(&err).contains("missing"), "{err}");
    assert!(!db_path(&h).exists());
    fails(&h, &["list"], None, 6, "not-initialized");
}

#[test]
fn adding_an_existing_coordinate_keeps_the_old_value() {
    let h = seeded();
    let before = snapshot(&h);
    let fp = stdout(&h.ok(&["fingerprint", "secret:dev/db/password"]));
    let err = fails(
        &h,
        &["add", "secret:dev/db/password", "--stdin"],
        Some(b"another value"),
        1,
        "already-exists",
    );
    assert!(msg(&err).contains("secret:dev/db/password"), "{err}");
    assert!(hint(&err).contains("kovra set"), "{err}");
    fails(
        &h,
        &["generate", "secret:dev/db/password"],
        None,
        1,
        "already-exists",
    );
    assert_eq!(
        stdout(&h.ok(&["fingerprint", "secret:dev/db/password"])),
        fp
    );
    assert_eq!(snapshot(&h), before);
}

#[test]
fn absent_coordinates_are_not_found() {
    let h = seeded();
    let before = snapshot(&h);
    let absent = "secret:dev/none/here";
    for (args, stdin) in [
        (&["set", absent, "--stdin"][..], Some(b"v".as_slice())),
        (&["show", absent], None),
        (&["rm", absent], None),
        (&["fingerprint", absent], None),
        (&["history", absent], None),
        (&["edit", absent, "--description", "x"], None),
        (&["rollback", absent, "1"], None),
        (&["reveal", absent], None),
        (&["generate", absent, "--overwrite"], None),
        (&["show", "secret://global/dev/none/here"], None),
    ] {
        let err = fails(&h, args, stdin, 3, "not-found");
        assert!(msg(&err).contains("dev/none/here"), "{args:?}: {err}");
        assert!(hint(&err).contains("kovra list"), "{args:?}: {err}");
    }
    // A project record is not reachable from outside the project through a global pin.
    fails(
        &h,
        &["--project", "web", "show", "secret://global/dev/web/only"],
        None,
        3,
        "not-found",
    );
    assert_eq!(snapshot(&h), before);
}

#[test]
fn rollback_to_a_version_that_does_not_exist() {
    let h = seeded();
    let before = snapshot(&h);
    let fp = stdout(&h.ok(&["fingerprint", "secret:dev/db/password"]));
    // The record has versions 1 and 2; 2 is current.
    for v in ["0", "2", "3", "99"] {
        let err = fails(
            &h,
            &["rollback", "secret:dev/db/password", v],
            None,
            1,
            "no-such-version",
        );
        assert!(msg(&err).contains(&format!("no version {v}")), "{err}");
        assert!(hint(&err).contains("kovra history"), "{err}");
    }
    let out = h.run(&["--json", "rollback", "secret:dev/db/password", "minus-one"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert_eq!(
        stdout(&h.ok(&["fingerprint", "secret:dev/db/password"])),
        fp
    );
    assert_eq!(snapshot(&h), before);
}

#[test]
fn audit_since_garbage() {
    let h = seeded();
    let err = fails(
        &h,
        &["audit", "--since", "garbage"],
        None,
        1,
        "since-invalid",
    );
    assert!(msg(&err).contains("garbage"), "{err}");
    assert!(hint(&err).contains("RFC 3339"), "{err}");
    // The valid forms work.
    for since in ["1h", "2026-01-01T00:00:00Z"] {
        let (code, v) = h.json(&["audit", "--since", since]);
        assert_eq!(code, 0, "{v}");
        assert!(
            v["entries"].as_array().is_some_and(|e| !e.is_empty()),
            "{v}"
        );
    }
}

#[test]
fn other_invalid_arguments() {
    let h = seeded();
    let before = snapshot(&h);
    for len in ["4", "5000"] {
        let err = fails(
            &h,
            &["generate", "secret:dev/gen/x", "--length", len],
            None,
            1,
            "length-invalid",
        );
        assert!(msg(&err).contains(len), "{err}");
    }
    let err = fails(
        &h,
        &["edit", "secret:dev/db/password"],
        None,
        1,
        "nothing-to-change",
    );
    assert!(msg(&err).contains("--description"), "{err}");
    fails(
        &h,
        &[
            "edit",
            "secret:dev/db/password",
            "--description",
            "two\nlines",
        ],
        None,
        1,
        "description-invalid",
    );
    fails(
        &h,
        &["project", "create", "bad/name"],
        None,
        1,
        "project-invalid",
    );
    let err = fails(&h, &["project", "create", "web"], None, 1, "project-exists");
    assert!(msg(&err).contains("web"), "{err}");
    // Usage errors are clap's: exit 2 and a message naming the flag.
    let out = h.run(&[
        "add",
        "secret:dev/x/y",
        "--stdin",
        "--sensitivity",
        "extreme",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert_contains(&stderr(&out), "extreme", &out);
    let out = h.run(&["add", "secret:dev/x/y", "--value", "inline"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert_eq!(snapshot(&h), before);
}

/// A conflict, not an overwrite request: no proof is asked for, and nothing changes.
#[test]
fn adding_an_existing_protected_coordinate_is_already_exists() {
    let h = seeded();
    let before = snapshot(&h);
    for coord in ["secret:prod/db/password", "secret:staging/api/key"] {
        let fp = human_fingerprint(&h, &[], coord, PASSPHRASE);
        let err = fails(
            &h,
            &["add", coord, "--stdin", "--sensitivity", "low"],
            Some(b"another value"),
            1,
            "already-exists",
        );
        assert!(hint(&err).contains("kovra set"), "{err}");
        assert_eq!(human_fingerprint(&h, &[], coord, PASSPHRASE), fp);
    }
    assert_eq!(snapshot(&h), before);
}
