//! Faults of the file's surroundings, injected at the SQLite level: a full disk, a lock
//! another process holds, a read-only database. Each is its own error, never `Corrupt`
//! (whose advice, restoring a backup, would be wrong), and leaves the vault as it was.

use rusqlite::Connection;

use super::tests::{FAST, entry, meta};
use super::*;

fn vault() -> (tempfile::TempDir, UnlockedStore) {
    let dir = tempfile::tempdir().unwrap();
    let mut store = LockedStore::create(dir.path(), b"pass phrase", FAST).unwrap();
    store
        .create_vault(&VaultName::Global, entry("init"))
        .unwrap();
    (dir, store)
}

fn add(store: &mut UnlockedStore, coord: &str, value: &[u8]) -> Result<u64> {
    store.put(&VaultName::Global, meta(coord), Some(value), entry("add"))
}

#[test]
fn a_full_disk_is_disk_full_and_keeps_nothing() {
    let (_dir, mut store) = vault();
    add(&mut store, "secret:dev/a/first", b"one").unwrap();
    let audit = store.audit_entries().unwrap().len();
    // The database may not grow: exactly what a full disk does to a write.
    let pages: i64 = store
        .conn
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .unwrap();
    store
        .conn
        .query_row(&format!("PRAGMA max_page_count = {pages}"), [], |_| Ok(()))
        .unwrap();
    let big = vec![7u8; 200_000];
    let e = add(&mut store, "secret:dev/a/second", &big).unwrap_err();
    assert!(matches!(e, StoreError::DiskFull(_)), "got {e:?}");
    assert_eq!(store.record_count(), 1);
    assert_eq!(store.audit_entries().unwrap().len(), audit);
    // Room again: the same write goes through.
    store
        .conn
        .query_row("PRAGMA max_page_count = 1073741823", [], |_| Ok(()))
        .unwrap();
    add(&mut store, "secret:dev/a/second", &big).unwrap();
    assert_eq!(store.record_count(), 2);
}

#[test]
fn a_lock_held_by_another_process_is_busy_and_keeps_nothing() {
    let (dir, mut store) = vault();
    store
        .conn
        .busy_timeout(std::time::Duration::from_millis(100))
        .unwrap();
    let other = Connection::open(dir.path().join(DB_FILE)).unwrap();
    other.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let e = add(&mut store, "secret:dev/a/one", b"one").unwrap_err();
    assert!(matches!(e, StoreError::Busy(_)), "got {e:?}");
    other.execute_batch("ROLLBACK").unwrap();
    assert_eq!(store.record_count(), 0);
    add(&mut store, "secret:dev/a/one", b"one").unwrap();
    assert_eq!(store.record_count(), 1);
}

#[test]
fn a_read_only_database_is_read_only_and_keeps_nothing() {
    let (_dir, mut store) = vault();
    store.conn.execute_batch("PRAGMA query_only = ON").unwrap();
    let e = add(&mut store, "secret:dev/a/one", b"one").unwrap_err();
    assert!(matches!(e, StoreError::ReadOnly(_)), "got {e:?}");
    store.conn.execute_batch("PRAGMA query_only = OFF").unwrap();
    assert_eq!(store.record_count(), 0);
    add(&mut store, "secret:dev/a/one", b"one").unwrap();
}
