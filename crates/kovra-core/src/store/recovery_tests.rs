//! The recovery kit's wrapping: a kit opens the vault and replaces the passphrase; a
//! replaced kit, another vault's kit or no kit at all open nothing.

use super::tests::{FAST, entry};
use super::*;
use crate::recovery::RecoveryKey;

fn vault_with_record(dir: &Path) -> UnlockedStore {
    let mut store = LockedStore::create(dir, b"old pass phrase", FAST).unwrap();
    store
        .create_vault(&VaultName::Global, entry("init"))
        .unwrap();
    store
}

#[test]
fn the_kit_replaces_a_forgotten_passphrase() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = vault_with_record(dir.path());
    let id = store.vault_id();
    let key = store.new_recovery_kit(entry("recovery-kit")).unwrap();
    assert!(store.recovery_kit_created().unwrap().is_some());
    drop(store);
    let kit = key.to_kit();
    let typed = RecoveryKey::parse(kit.expose().as_bytes()).unwrap();
    let store = LockedStore::open(dir.path())
        .unwrap()
        .recover(&typed, b"new pass phrase", FAST, entry("recover"))
        .unwrap();
    assert_eq!(store.vault_id(), id);
    assert!(store.verify_audit().unwrap().ok);
    drop(store);
    assert!(matches!(
        LockedStore::open(dir.path())
            .unwrap()
            .unlock(b"old pass phrase"),
        Err(StoreError::WrongPassphrase)
    ));
    let store = LockedStore::open(dir.path())
        .unwrap()
        .unlock(b"new pass phrase")
        .unwrap();
    // The passphrase changed, not the kit: it still opens the vault.
    drop(store);
    LockedStore::open(dir.path())
        .unwrap()
        .recover(&typed, b"third pass phrase", FAST, entry("recover"))
        .unwrap();
}

#[test]
fn a_replaced_or_foreign_kit_opens_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = vault_with_record(dir.path());
    let old = store.new_recovery_kit(entry("recovery-kit")).unwrap();
    let new = store.new_recovery_kit(entry("recovery-kit")).unwrap();
    drop(store);
    let other_dir = tempfile::tempdir().unwrap();
    let mut other = vault_with_record(other_dir.path());
    let foreign = other.new_recovery_kit(entry("recovery-kit")).unwrap();
    for refused in [&old, &foreign] {
        assert!(matches!(
            LockedStore::open(dir.path()).unwrap().recover(
                refused,
                b"new pass phrase",
                FAST,
                entry("recover")
            ),
            Err(StoreError::WrongRecoveryKit)
        ));
    }
    // Nothing changed: the old passphrase still opens it, and the newest kit works.
    drop(
        LockedStore::open(dir.path())
            .unwrap()
            .unlock(b"old pass phrase")
            .unwrap(),
    );
    LockedStore::open(dir.path())
        .unwrap()
        .recover(&new, b"new pass phrase", FAST, entry("recover"))
        .unwrap();
}

#[test]
fn a_vault_without_a_kit_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let store = vault_with_record(dir.path());
    assert_eq!(store.recovery_kit_created().unwrap(), None);
    drop(store);
    assert!(matches!(
        LockedStore::open(dir.path()).unwrap().recover(
            &RecoveryKey::generate(),
            b"new pass phrase",
            FAST,
            entry("recover")
        ),
        Err(StoreError::NoRecoveryKit)
    ));
}

#[test]
fn an_altered_recovery_row_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = vault_with_record(dir.path());
    let key = store.new_recovery_kit(entry("recovery-kit")).unwrap();
    drop(store);
    let conn = rusqlite::Connection::open(LockedStore::db_path(dir.path())).unwrap();
    conn.execute("UPDATE recovery SET salt = x'00'", [])
        .unwrap();
    drop(conn);
    assert!(matches!(
        LockedStore::open(dir.path()).unwrap().recover(
            &key,
            b"new pass phrase",
            FAST,
            entry("recover")
        ),
        Err(StoreError::WrongRecoveryKit)
    ));
}
