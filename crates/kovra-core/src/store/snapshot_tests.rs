//! Reads from one snapshot (`UnlockedStore::begin_reads`): one view until it ends, and
//! nothing a write or a later read could miss.

use rusqlite::Connection;

use super::tests::{FAST, entry, meta};
use super::*;
use crate::coord::Coordinate;

fn vault_with_one() -> (tempfile::TempDir, UnlockedStore, Coordinate) {
    let dir = tempfile::tempdir().unwrap();
    let mut store = LockedStore::create(dir.path(), b"pass phrase", FAST).unwrap();
    store
        .create_vault(&VaultName::Global, entry("init"))
        .unwrap();
    let m = meta("secret:dev/a/one");
    let coord = m.coordinate.clone();
    store
        .put(&VaultName::Global, m, Some(b"first value"), entry("add"))
        .unwrap();
    (dir, store, coord)
}

#[test]
fn a_change_from_outside_is_unseen_inside_a_snapshot_and_seen_once_it_ends() {
    let (dir, mut store, coord) = vault_with_one();
    store.list(&VaultName::Global).unwrap();
    store.begin_reads().unwrap();
    assert!(store.find(&VaultName::Global, &coord).unwrap().is_some());
    // The file edited by another process while the snapshot is open.
    let other = Connection::open(dir.path().join(DB_FILE)).unwrap();
    other.execute("DELETE FROM versions", []).unwrap();
    let (_, value) = store.read_value(&VaultName::Global, &coord, None).unwrap();
    assert!(value.as_slice() == b"first value", "the snapshot's value");
    store.end_reads();
    assert!(store.conn.is_autocommit());
    // The kept listing is forgotten and the row is gone: a tamper, as without a snapshot.
    let e = store
        .read_value(&VaultName::Global, &coord, None)
        .unwrap_err();
    assert!(matches!(e, StoreError::RecordTampered(_)), "got {e:?}");
}

#[test]
fn a_write_inside_a_snapshot_ends_it_and_is_durable() {
    let (dir, mut store, coord) = vault_with_one();
    store.begin_reads().unwrap();
    store.find(&VaultName::Global, &coord).unwrap();
    // What the write commits is in the file at once, for any other connection to read.
    let other = Connection::open(dir.path().join(DB_FILE)).unwrap();
    let before: i64 = other
        .query_row("SELECT COUNT(*) FROM audit", [], |r| r.get(0))
        .unwrap();
    store.audit(entry("list")).unwrap();
    assert!(store.conn.is_autocommit(), "the write ended the snapshot");
    let after: i64 = other
        .query_row("SELECT COUNT(*) FROM audit", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        after,
        before + 1,
        "the entry is committed, not held in a transaction"
    );
    // A snapshot begun twice, or ended twice, is still one snapshot.
    store.begin_reads().unwrap();
    store.begin_reads().unwrap();
    store.end_reads();
    store.end_reads();
    assert!(store.conn.is_autocommit());
}
