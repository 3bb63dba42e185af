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

/// Is the process gone (or a zombie)?
fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(s) => s
            .rfind(')')
            .and_then(|i| s[i + 1..].split_whitespace().next())
            .is_some_and(|state| state == "Z" || state == "X"),
    }
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
    assert!(stderr(&out).contains("audit-broken"), "{}", describe(&out));
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
    refused(
        &h,
        &["fingerprint", "secret:dev/svc/open"],
        "record-tampered",
    );
    // The high record's authentic metadata makes policy refuse an agent first (exit 4);
    // either way nothing comes out.
    let (exit, _, docs) = outcome(&h, &["reveal", "secret:dev/svc/closed"]);
    assert!(matches!(exit, 4 | 8), "{docs:?}");

    // Only the metadata exchanged.
    set_version_blobs(&c, &a, va, &mb, &xa);
    set_version_blobs(&c, &b, vb, &ma, &xb);
    refused(&h, &["reveal", "secret:dev/svc/open"], "record-tampered");
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

// ---- (e) audit trail -----------------------------------------------------------------

/// A home with a dozen audit entries.
fn home_with_audit() -> (Home, String) {
    let h = Home::init();
    let s = canary("audit");
    add_tracked(&h, "secret:dev/audit/a", &s, &["--revealable"]);
    for _ in 0..4 {
        h.ok(&["show", "secret:dev/audit/a"]);
    }
    h.ok(&["list"]);
    assert!(assert_audit_ok(&h) >= 6);
    (h, s)
}

#[test]
fn audit_row_deleted_in_the_middle_is_detected() {
    let (h, s) = home_with_audit();
    let c = open_db(&h);
    assert_eq!(
        c.execute("DELETE FROM audit WHERE seq = 3", []).expect("d"),
        1
    );
    let doc = assert_audit_broken(&h, &["gap"]);
    assert_eq!(doc["problem"]["expected"], 3, "{doc}");
    // Still broken after a restart, and after further entries are appended.
    drop(c);
    assert_eq!(restart(&h), (0, None));
    h.ok(&["show", "secret:dev/audit/a"]);
    assert_audit_broken(&h, &["gap"]);
    assert_unrevealed(&h, &[&s]);
}

#[test]
fn audit_entry_edited_is_detected() {
    let (h, s) = home_with_audit();
    let c = open_db(&h);
    let mut entry: Vec<u8> = c
        .query_row("SELECT entry FROM audit WHERE seq = 4", [], |r| r.get(0))
        .expect("entry");
    let original = entry.clone();
    let i = entry.len() / 2;
    entry[i] ^= 0x01;
    c.execute("UPDATE audit SET entry = ?1 WHERE seq = 4", [&entry])
        .expect("u");
    assert_audit_broken(&h, &["bad-link", "unreadable"]);

    // Restored, the chain verifies again: the check above is about the edit.
    c.execute("UPDATE audit SET entry = ?1 WHERE seq = 4", [&original])
        .expect("u");
    assert_audit_ok(&h);

    // An edited link.
    let mut link: Vec<u8> = c
        .query_row("SELECT link FROM audit WHERE seq = 2", [], |r| r.get(0))
        .expect("link");
    link[0] ^= 0x01;
    c.execute("UPDATE audit SET link = ?1 WHERE seq = 2", [&link])
        .expect("u");
    assert_audit_broken(&h, &["bad-link"]);
    assert_unrevealed(&h, &[&s]);
}

#[test]
fn audit_rows_reordered_are_detected() {
    let (h, _s) = home_with_audit();
    let c = open_db(&h);
    // Exchange rows 3 and 4 (entry and link), keeping the sequence numbers dense.
    c.execute_batch(
        "UPDATE audit SET seq = -1 WHERE seq = 3;
         UPDATE audit SET seq = 3 WHERE seq = 4;
         UPDATE audit SET seq = 4 WHERE seq = -1;",
    )
    .expect("reorder");
    assert_audit_broken(&h, &["bad-link", "unreadable"]);
}

#[test]
fn audit_tail_truncated_is_detected_while_running_and_after_restart() {
    let (h, s) = home_with_audit();
    let c = open_db(&h);
    let seqs = audit_seqs(&c);
    let last = *seqs.last().expect("entries");
    c.execute("DELETE FROM audit WHERE seq > ?1", [last - 2])
        .expect("truncate");
    let doc = assert_audit_broken(&h, &["truncated", "head-mismatch"]);
    assert_eq!(doc["entries"], last - 2, "{doc}");
    drop(c);
    // The header still records the head, so a fresh daemon sees it too (its unlock entry
    // leaves a gap where the deleted entries were).
    assert_eq!(restart(&h), (0, None));
    assert_audit_broken(&h, &["truncated", "gap", "head-mismatch"]);
    assert_unrevealed(&h, &[&s]);
}

#[test]
fn audit_tail_truncated_with_daemon_stopped_is_detected() {
    let (h, _s) = home_with_audit();
    stop_and_wait(&h);
    let c = open_db(&h);
    let last = *audit_seqs(&c).last().expect("entries");
    c.execute("DELETE FROM audit WHERE seq > ?1", [last - 3])
        .expect("truncate");
    drop(c);
    assert_eq!(unlock(&h), (0, None));
    assert_audit_broken(&h, &["truncated", "gap", "head-mismatch"]);
}

/// The attacker truncates the trail and rewinds the (unauthenticated) head in the header
/// to the last surviving link, which the file shows in clear. The records written since
/// stay; their audit entries vanish.
#[test]
fn audit_tail_truncated_with_header_rewound_is_detected() {
    let h = Home::init();
    let s = canary("rewind");
    add_tracked(&h, "secret:dev/audit/a", &s, &["--revealable"]);
    let keep = assert_audit_ok(&h) as i64;
    // Writes whose audit entries the attacker wants gone.
    for i in 0..3 {
        add_tracked(&h, &format!("secret:dev/audit/b{i}"), &s, &["--revealable"]);
    }
    h.ok(&["reveal", "secret:dev/audit/a"]);
    stop_and_wait(&h);
    let c = open_db(&h);
    c.execute("DELETE FROM audit WHERE seq > ?1", [keep])
        .expect("truncate");
    c.execute(
        "UPDATE header SET audit_seq = ?1, audit_head = (SELECT link FROM audit WHERE seq = ?1)",
        [keep],
    )
    .expect("rewind header");
    drop(c);
    // The three adds and the reveal are still in effect, so a trail without them must not
    // pass: either the unlock refuses the header, or the vault opens and the trail fails.
    match unlock(&h) {
        (0, None) => {
            let (_, doc) = listing(&h);
            assert_eq!(listed_coords(&doc).len(), 4, "{doc}");
            assert_audit_broken(&h, &["truncated", "gap", "head-mismatch", "bad-link"]);
        }
        other => assert_eq!(other, (8, Some("vault-tampered".to_string()))),
    }
}

// ---- (f) header ----------------------------------------------------------------------

fn header_blob(c: &Connection, column: &str) -> Vec<u8> {
    c.query_row(
        &format!("SELECT {column} FROM header WHERE id = 1"),
        [],
        |r| r.get(0),
    )
    .expect("header")
}

fn set_header(c: &Connection, column: &str, value: &dyn rusqlite::ToSql) {
    c.execute(
        &format!("UPDATE header SET {column} = ?1 WHERE id = 1"),
        [value],
    )
    .expect("update header");
}

fn flipped(mut b: Vec<u8>) -> Vec<u8> {
    let i = b.len() / 2;
    b[i] ^= 0x01;
    b
}

/// With the daemon stopped, apply `tamper`, try to unlock (must fail with one of `codes`,
/// without unlocking), then restore the header.
fn unlock_fails_after(h: &Home, what: &str, codes: &[&str], tamper: impl FnOnce(&Connection)) {
    stop_and_wait(h);
    let c = open_db(h);
    type Saved = (String, Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>, i64, Vec<u8>);
    let saved: Saved = c
        .query_row(
            "SELECT kdf, salt, wrapped_root, vault_uuid, state_mac, audit_seq, audit_head FROM header WHERE id = 1",
            [],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            },
        )
        .expect("header");
    tamper(&c);
    let (exit, code) = unlock(h);
    assert!(
        exit != 0 && code.as_deref().is_some_and(|c| codes.contains(&c)),
        "unlock after {what} must fail with one of {codes:?}; got exit {exit}, {code:?}"
    );
    let (_, status) = h.json(&["status"]);
    assert_eq!(status["unlocked"], false, "{what}: {status}");
    let (exit, code, _) = outcome(h, &["reveal", "secret:dev/hdr/key"]);
    assert_eq!((exit, code.as_deref()), (6, Some("vault-locked")), "{what}");
    // A fresh daemon per attempt keeps the failed-unlock back-off short.
    stop_and_wait(h);
    c.execute(
        "UPDATE header SET kdf = ?1, salt = ?2, wrapped_root = ?3, vault_uuid = ?4, state_mac = ?5, audit_seq = ?6, audit_head = ?7 WHERE id = 1",
        params![saved.0, saved.1, saved.2, saved.3, saved.4, saved.5, saved.6],
    )
    .expect("restore");
}

#[test]
fn edited_header_fails_unlock_without_revealing_anything() {
    let h = Home::init();
    let s = canary("header");
    add_tracked(&h, "secret:dev/hdr/key", &s, &["--revealable"]);

    // Weaker KDF parameters (what an attacker who wants a cheap brute force would write).
    unlock_fails_after(&h, "weaker kdf", &["wrong-passphrase"], |c| {
        set_header(c, "kdf", &r#"{"m_kib":8,"t":1,"p":1}"#);
    });
    unlock_fails_after(&h, "other kdf", &["wrong-passphrase"], |c| {
        set_header(c, "kdf", &r#"{"m_kib":65536,"t":2,"p":1}"#);
    });
    unlock_fails_after(
        &h,
        "unreadable kdf",
        &["database-corrupt", "wrong-passphrase"],
        |c| {
            set_header(c, "kdf", &"not json");
        },
    );
    unlock_fails_after(&h, "flipped wrapped key", &["wrong-passphrase"], |c| {
        set_header(c, "wrapped_root", &flipped(header_blob(c, "wrapped_root")));
    });
    unlock_fails_after(&h, "truncated wrapped key", &["wrong-passphrase"], |c| {
        let w = header_blob(c, "wrapped_root");
        set_header(c, "wrapped_root", &w[..w.len() - 1].to_vec());
    });
    unlock_fails_after(&h, "flipped salt", &["wrong-passphrase"], |c| {
        set_header(c, "salt", &flipped(header_blob(c, "salt")));
    });
    unlock_fails_after(&h, "other vault uuid", &["wrong-passphrase"], |c| {
        set_header(c, "vault_uuid", &flipped(header_blob(c, "vault_uuid")));
    });
    unlock_fails_after(&h, "flipped state mac", &["vault-tampered"], |c| {
        set_header(c, "state_mac", &flipped(header_blob(c, "state_mac")));
    });
    unlock_fails_after(&h, "lowered audit seq", &["vault-tampered"], |c| {
        c.execute("UPDATE header SET audit_seq = audit_seq - 1", [])
            .expect("u");
    });
    unlock_fails_after(&h, "other audit head", &["vault-tampered"], |c| {
        set_header(c, "audit_head", &flipped(header_blob(c, "audit_head")));
    });

    // Restored, the vault opens and the record is intact: the failures were the edits.
    assert_eq!(unlock(&h), (0, None));
    let (code, shown) = h.json(&["show", "secret:dev/hdr/key"]);
    assert_eq!(
        (code, &shown["coordinate"]),
        (0, &Value::from("secret:dev/hdr/key"))
    );
    assert_audit_ok(&h);
    assert_unrevealed(&h, &[&s]);
}

#[test]
fn edited_vault_data_key_is_refused() {
    let h = Home::init();
    let s = canary("dek");
    add_tracked(&h, "secret:dev/dek/key", &s, &["--revealable"]);
    stop_and_wait(&h);
    let c = open_db(&h);
    let (lookup, wrapped): (Vec<u8>, Vec<u8>) = c
        .query_row("SELECT lookup, wrapped_dek FROM vaults", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .expect("vault row");
    c.execute(
        "UPDATE vaults SET wrapped_dek = ?1 WHERE lookup = ?2",
        params![flipped(wrapped), lookup],
    )
    .expect("u");
    drop(c);
    assert_eq!(unlock(&h), (0, None));
    refused(&h, &["reveal", "secret:dev/dek/key"], "vault-tampered");
    refused(&h, &["show", "secret:dev/dek/key"], "vault-tampered");
    assert_unrevealed(&h, &[&s]);
}

/// `--json` promises exactly one document on stdout: the result or the error.
#[test]
fn json_output_is_one_document_even_when_records_are_withheld() {
    let h = Home::init();
    let a = add_tracked(&h, "secret:dev/one/doc", "not a canary value", &[]);
    let c = open_db(&h);
    let v = current_version(&c, &a);
    let (meta, value) = version_blobs(&c, &a, v);
    set_version_blobs(&c, &a, v, &flipped(meta), &value);
    let out = h.run(&["--json", "list"]);
    assert_eq!(out.status.code(), Some(8));
    assert_eq!(json_docs(&out.stdout).len(), 1, "{}", stdout(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(doc["tampered"], 1);
    assert_eq!(doc["error"]["code"], "record-tampered");
}

/// The agent keeps the header's old MAC (it is in clear in the file), waits for the human
/// to harden a record, then puts the record's version pointer and the old MAC back, leaving
/// the audit trail alone (so it still records the hardening). A restore of the whole file
/// (header, records and audit rows of one moment) is self-consistent and cannot be told
/// apart without outside state (docs/design/vault-format.md §11), so it is not tested here.
#[test]
fn rolled_back_index_with_its_old_header_mac_is_refused() {
    let h = Home::init();
    let s = canary("snap");
    let coord = "secret:dev/ci/rollback";
    let a = add_tracked(&h, coord, &s, &["--revealable"]);
    let old_mac = header_blob(&open_db(&h), "state_mac");
    h.ok(&["edit", coord, "--sensitivity", "high", "--no-revealable"]);
    stop_and_wait(&h);
    let c = open_db(&h);
    c.execute("UPDATE records SET version = 1 WHERE lookup = ?1", [&a])
        .expect("rewind");
    set_header(&c, "state_mac", &old_mac);
    drop(c);
    match unlock(&h) {
        (0, None) => {
            // If the vault opens, the rollback must show in the trail, and the old, weaker
            // policy must not be obeyed.
            let (exit, _) = audit_report(&h);
            assert_eq!(exit, 8, "a rolled-back index must not verify as untouched");
            let out = h.run(&["reveal", coord]);
            assert!(!out.status.success(), "{}", describe(&out));
        }
        other => assert_eq!(other, (8, Some("vault-tampered".to_string()))),
    }
    assert_unrevealed(&h, &[&s]);
}
