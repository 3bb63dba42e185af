//! Tamper tests: an attacker with write access to `vault.db` (the agent, as the same user)
//! edits, swaps, replays or deletes rows. The daemon must refuse what fails authentication,
//! `audit verify` must fail, and no value may ever be printed.
//!
//! The database is opened with rusqlite while the daemon runs (WAL: an ordinary connection
//! with a busy timeout), or with the daemon stopped and then restarted and unlocked, where
//! the difference matters (the daemon keeps the authenticated record index in memory).

use std::time::{Duration, Instant};

use rusqlite::{Connection, params};
use serde_json::Value;

use crate::harness::*;
use crate::leak::*;

mod audit;
mod header;

// ---- helpers -------------------------------------------------------------------------

/// An ordinary connection to the live vault file.
pub(crate) fn open_db(h: &Home) -> Connection {
    let c = Connection::open(db_path(h)).expect("open vault.db");
    c.busy_timeout(Duration::from_secs(10))
        .expect("busy_timeout");
    c
}

/// Every JSON document on stdout (`--json` output of a command that reports a failure
/// after its result carries two).
pub(crate) fn json_docs(bytes: &[u8]) -> Vec<Value> {
    serde_json::Deserializer::from_slice(bytes)
        .into_iter::<Value>()
        .map_while(Result::ok)
        .collect()
}

/// Run with `--json`: exit code, the error code (if any) and every document printed.
fn outcome(h: &Home, args: &[&str]) -> (i32, Option<String>, Vec<Value>) {
    let mut full = vec!["--json"];
    full.extend_from_slice(args);
    let out = h.run(&full);
    let docs = json_docs(&out.stdout);
    let code = docs
        .iter()
        .rev()
        .find_map(|d| d["error"]["code"].as_str().map(str::to_string));
    (out.status.code().unwrap_or(-1), code, docs)
}

/// Require exit 8 with the given integrity code.
fn refused(h: &Home, args: &[&str], want: &str) -> Vec<Value> {
    let (exit, code, docs) = outcome(h, args);
    assert_eq!(
        (exit, code.as_deref()),
        (8, Some(want)),
        "kovra {args:?} should be refused with {want}; got {docs:?}"
    );
    docs
}

/// Require a run injecting `coord` to be refused with `record-tampered`, its child never
/// started (a run opens only the value, decided on the metadata kept since unlock).
fn run_refused(h: &Home, coord: &str) {
    let refs = h.root.join("tamper.refs");
    std::fs::write(&refs, format!("X={coord}\n")).unwrap();
    let docs = refused(
        h,
        &[
            "run",
            "--refs",
            refs.to_str().unwrap(),
            "--",
            "printenv",
            "X",
        ],
        "record-tampered",
    );
    assert!(!format!("{docs:?}").contains("CANARY-"), "{docs:?}");
}

/// The listing document of `list --json` and its exit code.
fn listing(h: &Home) -> (i32, Value) {
    let (exit, _, docs) = outcome(h, &["list"]);
    let doc = docs
        .into_iter()
        .find(|d| d["kind"] == "records")
        .unwrap_or(Value::Null);
    (exit, doc)
}

fn listed_coords(doc: &Value) -> Vec<String> {
    doc["records"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r["coordinate"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn record_lookups(c: &Connection) -> Vec<Vec<u8>> {
    let mut stmt = c
        .prepare("SELECT lookup FROM records ORDER BY lookup")
        .expect("prepare");
    stmt.query_map([], |r| r.get::<_, Vec<u8>>(0))
        .expect("query")
        .map(|r| r.expect("row"))
        .collect()
}

/// Add a record and return its (keyed, opaque) lookup: the one row that appeared.
fn add_tracked(h: &Home, coord: &str, value: &str, extra: &[&str]) -> Vec<u8> {
    let before = record_lookups(&open_db(h));
    let out = h.add(coord, value.as_bytes(), extra);
    assert!(out.status.success(), "add {coord}: {}", describe(&out));
    let after = record_lookups(&open_db(h));
    let mut new: Vec<Vec<u8>> = after.into_iter().filter(|l| !before.contains(l)).collect();
    assert_eq!(new.len(), 1, "exactly one new records row for {coord}");
    new.remove(0)
}

fn current_version(c: &Connection, lookup: &[u8]) -> i64 {
    c.query_row(
        "SELECT version FROM records WHERE lookup = ?1",
        [lookup],
        |r| r.get(0),
    )
    .expect("records row")
}

fn version_blobs(c: &Connection, lookup: &[u8], version: i64) -> (Vec<u8>, Vec<u8>) {
    c.query_row(
        "SELECT meta, value FROM versions WHERE record = ?1 AND version = ?2",
        params![lookup, version],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .expect("versions row")
}

fn set_version_blobs(c: &Connection, lookup: &[u8], version: i64, meta: &[u8], value: &[u8]) {
    let n = c
        .execute(
            "UPDATE versions SET meta = ?1, value = ?2 WHERE record = ?3 AND version = ?4",
            params![meta, value, lookup, version],
        )
        .expect("update versions");
    assert_eq!(n, 1);
}

/// Stop the daemon and wait until it has let go of the home.
pub(crate) fn stop_and_wait(h: &Home) {
    let pid = h.daemon_pid();
    h.stop();
    if let Some(pid) = pid {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !gone(pid) {
            assert!(Instant::now() < deadline, "daemon {pid} did not stop");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

fn unlock(h: &Home) -> (i32, Option<String>) {
    let pass = h.pass_file.to_str().expect("utf8").to_string();
    let (exit, code, _) = outcome(h, &["unlock", "--passphrase-file", &pass]);
    (exit, code)
}

/// Restart the daemon and unlock; returns the unlock's exit and error code.
fn restart(h: &Home) -> (i32, Option<String>) {
    stop_and_wait(h);
    unlock(h)
}

/// Nothing of these canaries in any output so far, nor in any file of the home.
fn assert_unrevealed(h: &Home, canaries: &[&str]) {
    for c in canaries {
        assert_nowhere(h, c, "a tamper canary");
    }
}

fn audit_report(h: &Home) -> (i32, Value) {
    let (exit, _, docs) = outcome(h, &["audit", "verify"]);
    let doc = docs
        .into_iter()
        .find(|d| d["kind"] == "audit-verified")
        .unwrap_or(Value::Null);
    (exit, doc)
}

fn assert_audit_ok(h: &Home) -> u64 {
    let (exit, doc) = audit_report(h);
    assert_eq!(exit, 0, "audit verify: {doc}");
    assert_eq!(doc["ok"], true, "{doc}");
    doc["entries"].as_u64().expect("entries")
}

/// `audit verify` fails with exit 8 and one of the expected problems.
fn assert_audit_broken(h: &Home, problems: &[&str]) -> Value {
    let (exit, doc) = audit_report(h);
    assert_eq!(exit, 8, "audit verify must fail: {doc}");
    assert_eq!(doc["ok"], false, "{doc}");
    let problem = doc["problem"]["problem"].as_str().unwrap_or("");
    assert!(
        problems.contains(&problem),
        "problem {problem:?} not among {problems:?}: {doc}"
    );
    // The human form says so too, with the stable code.
    let out = h.run(&["audit", "verify"]);
    assert_eq!(out.status.code(), Some(8), "{}", describe(&out));
    assert_contains(&stderr(&out), "audit-broken", &out);
    doc
}

fn audit_seqs(c: &Connection) -> Vec<i64> {
    let mut stmt = c.prepare("SELECT seq FROM audit ORDER BY seq").expect("p");
    stmt.query_map([], |r| r.get(0))
        .expect("q")
        .map(|r| r.expect("row"))
        .collect()
}

// ---- (a) edited metadata -------------------------------------------------------------

#[test]
fn edited_metadata_is_refused_while_running_and_after_restart() {
    let h = Home::init();
    let secret = canary("meta");
    let control = canary("control");
    // Revealable and medium: without tampering, even an agent may reveal it, so a refusal
    // below is the tamper check and not policy.
    let a = add_tracked(&h, "secret:dev/db/password", &secret, &["--revealable"]);
    add_tracked(&h, "secret:dev/db/user", &control, &["--revealable"]);
    let c = open_db(&h);
    let v = current_version(&c, &a);
    let (meta, value) = version_blobs(&c, &a, v);

    // The attacker cannot decrypt, so any edit: a flipped bit in the nonce, the body or the
    // tag, a truncated blob, and plaintext metadata claiming low + revealable.
    let mut forged: Vec<Vec<u8>> = [0, meta.len() / 2, meta.len() - 1]
        .iter()
        .map(|&i| {
            let mut m = meta.clone();
            m[i] ^= 0x01;
            m
        })
        .collect();
    forged.push(meta[..meta.len() - 1].to_vec());
    forged.push(
        br#"{"coordinate":"secret:dev/db/password","sensitivity":"low","revealable":true,"description":"","created":0,"updated":0,"version":1}"#
            .to_vec(),
    );
    for m in &forged {
        set_version_blobs(&c, &a, v, m, &value);
        refused(&h, &["show", "secret:dev/db/password"], "record-tampered");
        refused(&h, &["reveal", "secret:dev/db/password"], "record-tampered");
        refused(
            &h,
            &["fingerprint", "secret:dev/db/password"],
            "record-tampered",
        );
        refused(
            &h,
            &["history", "secret:dev/db/password"],
            "record-tampered",
        );
        refused(
            &h,
            &["edit", "secret:dev/db/password", "--description", "x"],
            "record-tampered",
        );
        let (exit, doc) = listing(&h);
        assert_eq!(exit, 8, "list must exit 8 when a record is withheld: {doc}");
        assert_eq!(listed_coords(&doc), vec!["secret:dev/db/user"], "{doc}");
        assert_eq!(doc["tampered"], 1, "{doc}");
    }
    drop(c);

    // The state tag covers the index, not the sealed blobs: a restart unlocks, and the
    // record is refused on its own.
    assert_eq!(restart(&h), (0, None));
    refused(&h, &["show", "secret:dev/db/password"], "record-tampered");
    refused(&h, &["reveal", "secret:dev/db/password"], "record-tampered");
    let (exit, doc) = listing(&h);
    assert_eq!((exit, listed_coords(&doc).len()), (8, 1), "{doc}");

    // Control: the untampered neighbour still reveals, so the refusals above were not
    // policy. (Only the control's canary may be printed.)
    let out = h.ok(&["reveal", "secret:dev/db/user"]);
    assert_eq!(out.stdout, control.as_bytes());
    assert_unrevealed(&h, &[&secret]);
}

#[test]
fn edited_value_is_refused_on_every_path_that_reads_it() {
    let h = Home::init();
    let secret = canary("value");
    let a = add_tracked(&h, "secret:dev/api/token", &secret, &["--revealable"]);
    let c = open_db(&h);
    let v = current_version(&c, &a);
    let (meta, mut value) = version_blobs(&c, &a, v);
    let mid = value.len() / 2;
    value[mid] ^= 0x80;
    set_version_blobs(&c, &a, v, &meta, &value);
    refused(&h, &["reveal", "secret:dev/api/token"], "record-tampered");
    refused(
        &h,
        &["fingerprint", "secret:dev/api/token"],
        "record-tampered",
    );
    run_refused(&h, "secret:dev/api/token");
    // Writes that keep the value (edit re-seals the current value) must not launder it.
    refused(
        &h,
        &["edit", "secret:dev/api/token", "--description", "laundered"],
        "record-tampered",
    );
    assert_unrevealed(&h, &[&secret]);
}

// ---- (b) swapped ciphertexts ---------------------------------------------------------

#[test]
fn swapped_ciphertexts_are_refused() {
    let h = Home::init();
    let s1 = canary("swap1");
    let s2 = canary("swap2");
    // One record an agent may reveal and one it may not: a swap must not let the second's
    // value out through the first's policy.
    let a = add_tracked(&h, "secret:dev/svc/open", &s1, &["--revealable"]);
    let b = add_tracked(&h, "secret:dev/svc/closed", &s2, &["--sensitivity", "high"]);
    let c = open_db(&h);
    let (va, vb) = (current_version(&c, &a), current_version(&c, &b));
    let (ma, xa) = version_blobs(&c, &a, va);
    let (mb, xb) = version_blobs(&c, &b, vb);

    // Whole rows (metadata and value) exchanged.
    set_version_blobs(&c, &a, va, &mb, &xb);
    set_version_blobs(&c, &b, vb, &ma, &xa);
    for coord in ["secret:dev/svc/open", "secret:dev/svc/closed"] {
        refused(&h, &["show", coord], "record-tampered");
        refused(&h, &["reveal", coord], "record-tampered");
        refused(&h, &["fingerprint", coord], "record-tampered");
    }
    let (exit, doc) = listing(&h);
    assert_eq!(exit, 8, "{doc}");
    assert!(listed_coords(&doc).is_empty(), "{doc}");
    assert_eq!(doc["tampered"], 2, "{doc}");

    // Only the values exchanged: metadata still authenticates, values do not.
    set_version_blobs(&c, &a, va, &ma, &xb);
    set_version_blobs(&c, &b, vb, &mb, &xa);
    let (_, shown) = h.json(&["show", "secret:dev/svc/open"]);
    assert_eq!(shown["coordinate"], "secret:dev/svc/open");
    refused(&h, &["reveal", "secret:dev/svc/open"], "record-tampered");
    run_refused(&h, "secret:dev/svc/open");
    refused(
        &h,
        &["fingerprint", "secret:dev/svc/open"],
        "record-tampered",
    );
    // The high record's authentic metadata makes policy refuse an agent first (exit 4);
    // either way nothing comes out.
    let (exit, _, docs) = outcome(&h, &["reveal", "secret:dev/svc/closed"]);
    assert!(matches!(exit, 4 | 8), "{docs:?}");

    // Only the metadata exchanged: the value's AAD binds the metadata blob beside it.
    set_version_blobs(&c, &a, va, &mb, &xa);
    set_version_blobs(&c, &b, vb, &ma, &xb);
    refused(&h, &["reveal", "secret:dev/svc/open"], "record-tampered");
    run_refused(&h, "secret:dev/svc/open");
    refused(&h, &["show", "secret:dev/svc/closed"], "record-tampered");

    // And after a restart (fresh index, fresh data-key cache) the same.
    set_version_blobs(&c, &a, va, &mb, &xb);
    set_version_blobs(&c, &b, vb, &ma, &xa);
    drop(c);
    assert_eq!(restart(&h), (0, None));
    refused(&h, &["reveal", "secret:dev/svc/open"], "record-tampered");
    refused(&h, &["reveal", "secret:dev/svc/closed"], "record-tampered");
    assert_unrevealed(&h, &[&s1, &s2]);
}

// ---- (c) replayed versions -----------------------------------------------------------

/// A record whose first version was revealable and medium, and whose current (third)
/// version is high and not revealable: what a replay would want back.
fn hardened_record(h: &Home, coord: &str, v1: &str, v2: &str) -> Vec<u8> {
    let a = add_tracked(h, coord, v1, &["--revealable"]);
    assert!(
        h.run_stdin(&["set", coord, "--stdin"], v2.as_bytes())
            .status
            .success()
    );
    h.ok(&["edit", coord, "--sensitivity", "high", "--no-revealable"]);
    let (_, shown) = h.json(&["show", coord]);
    assert_eq!(
        (shown["version"].as_u64(), &shown["sensitivity"]),
        (Some(3), &Value::from("high"))
    );
    // Policy now refuses an agent's reveal (exit 4): the replays below try to undo that.
    let out = h.run(&["reveal", coord]);
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    a
}

#[test]
fn replayed_version_row_is_refused() {
    let h = Home::init();
    let (v1, v2) = (canary("replay1"), canary("replay2"));
    let coord = "secret:dev/ci/deploy-key";
    let a = hardened_record(&h, coord, &v1, &v2);
    let c = open_db(&h);
    // Copy version 1's sealed row over version 3 (which is current).
    let (m1, x1) = version_blobs(&c, &a, 1);
    set_version_blobs(&c, &a, 3, &m1, &x1);
    refused(&h, &["show", coord], "record-tampered");
    refused(&h, &["reveal", coord], "record-tampered");
    let (exit, doc) = listing(&h);
    assert_eq!((exit, &doc["tampered"]), (8, &Value::from(1)), "{doc}");
    drop(c);
    assert_eq!(restart(&h), (0, None));
    refused(&h, &["reveal", coord], "record-tampered");
    assert_unrevealed(&h, &[&v1, &v2]);
}

#[test]
fn rolled_back_version_pointer_is_refused_while_running_and_at_unlock() {
    let h = Home::init();
    let (v1, v2) = (canary("ptr1"), canary("ptr2"));
    let coord = "secret:dev/ci/signing-key";
    let a = hardened_record(&h, coord, &v1, &v2);
    let c = open_db(&h);
    c.execute("UPDATE records SET version = 1 WHERE lookup = ?1", [&a])
        .expect("rewind");
    drop(c);

    // While running, the daemon's authenticated index wins: the rewind is not obeyed
    // (still version 3, still high, reveal still denied) and `list` flags the row.
    let (code, shown) = h.json(&["show", coord]);
    assert_eq!(code, 0);
    assert_eq!(shown["version"], 3, "{shown}");
    assert_eq!(shown["sensitivity"], "high", "{shown}");
    assert_eq!(shown["revealable"], false, "{shown}");
    let (exit, code, docs) = outcome(&h, &["reveal", coord]);
    assert!(
        exit != 0,
        "reveal after a rewind must not succeed: {docs:?}"
    );
    assert!(
        matches!(code.as_deref(), Some("policy-denied" | "record-tampered")),
        "{code:?}"
    );
    let (exit, doc) = listing(&h);
    assert_eq!(exit, 8, "{doc}");
    assert!(listed_coords(&doc).is_empty(), "{doc}");

    // After a restart the index is rebuilt from the rows and checked against the state tag.
    assert_eq!(
        restart(&h),
        (8, Some("vault-tampered".to_string())),
        "unlock must refuse a rewound index"
    );
    let (exit, code, _) = outcome(&h, &["reveal", coord]);
    assert_eq!((exit, code.as_deref()), (6, Some("vault-locked")));
    let (_, status) = h.json(&["status"]);
    assert_eq!(status["unlocked"], false, "{status}");
    assert_unrevealed(&h, &[&v1, &v2]);
}

#[test]
fn rewound_record_with_later_versions_deleted_is_refused() {
    let h = Home::init();
    let (v1, v2) = (canary("cut1"), canary("cut2"));
    let coord = "secret:dev/ci/webhook";
    let a = hardened_record(&h, coord, &v1, &v2);
    let c = open_db(&h);
    // The thorough rollback: pointer back to 1 and versions 2..3 gone.
    c.execute("UPDATE records SET version = 1 WHERE lookup = ?1", [&a])
        .expect("rewind");
    c.execute(
        "DELETE FROM versions WHERE record = ?1 AND version > 1",
        [&a],
    )
    .expect("delete");
    drop(c);
    refused(&h, &["show", coord], "record-tampered");
    refused(&h, &["reveal", coord], "record-tampered");
    // With the daemon stopped first, too: unlock refuses.
    assert_eq!(restart(&h), (8, Some("vault-tampered".to_string())));
    assert_unrevealed(&h, &[&v1, &v2]);
}

// ---- (d) deleted and added record rows -----------------------------------------------

#[test]
fn deleted_record_row_is_reported_while_running_and_refused_at_unlock() {
    let h = Home::init();
    let (s1, s2) = (canary("del1"), canary("del2"));
    let a = add_tracked(&h, "secret:dev/mail/password", &s1, &["--revealable"]);
    add_tracked(&h, "secret:dev/mail/user", &s2, &["--revealable"]);
    let c = open_db(&h);
    c.execute("DELETE FROM records WHERE lookup = ?1", [&a])
        .expect("delete");
    drop(c);
    let (exit, doc) = listing(&h);
    assert_eq!(exit, 8, "list must report the missing record: {doc}");
    assert_eq!(doc["missing"], 1, "{doc}");
    assert_eq!(listed_coords(&doc), vec!["secret:dev/mail/user"], "{doc}");

    assert_eq!(restart(&h), (8, Some("vault-tampered".to_string())));
    let (exit, code, _) = outcome(&h, &["list"]);
    assert_eq!((exit, code.as_deref()), (6, Some("vault-locked")));
    assert_unrevealed(&h, &[&s1, &s2]);
}

#[test]
fn deleted_record_row_with_daemon_stopped_is_refused_at_unlock() {
    let h = Home::init();
    let s1 = canary("delstop");
    let a = add_tracked(&h, "secret:dev/mail/password", &s1, &["--revealable"]);
    stop_and_wait(&h);
    let c = open_db(&h);
    c.execute("DELETE FROM records WHERE lookup = ?1", [&a])
        .expect("delete");
    c.execute("DELETE FROM versions WHERE record = ?1", [&a])
        .expect("delete");
    drop(c);
    assert_eq!(unlock(&h), (8, Some("vault-tampered".to_string())));
    assert_unrevealed(&h, &[&s1]);
}

#[test]
fn added_record_row_is_refused() {
    let h = Home::init();
    let s1 = canary("dup");
    let a = add_tracked(&h, "secret:dev/mail/password", &s1, &["--revealable"]);
    let c = open_db(&h);
    // A copy of an authentic record under another lookup.
    let mut other = a.clone();
    other[0] ^= 0xff;
    c.execute(
        "INSERT INTO records (lookup, vault, version) SELECT ?1, vault, version FROM records WHERE lookup = ?2",
        params![other, a],
    )
    .expect("insert");
    c.execute(
        "INSERT INTO versions (record, version, meta, value) SELECT ?1, version, meta, value FROM versions WHERE record = ?2",
        params![other, a],
    )
    .expect("insert");
    drop(c);
    let (exit, doc) = listing(&h);
    assert_eq!(exit, 8, "{doc}");
    assert_eq!(doc["tampered"], 1, "{doc}");
    assert_eq!(listed_coords(&doc), vec!["secret:dev/mail/password"]);
    assert_eq!(restart(&h), (8, Some("vault-tampered".to_string())));
    assert_unrevealed(&h, &[&s1]);
}
