//! (e) The audit trail: deleted, edited, reordered and truncated rows are detected, with the
//! daemon running or stopped, and with the header rewound.

use super::*;

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
