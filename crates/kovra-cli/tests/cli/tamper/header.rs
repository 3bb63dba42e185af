//! (f) The header: an edited header, vault data key or index MAC fails unlock or is refused
//! without revealing anything; `--json` output stays one document.

use super::*;

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
