//! Backups: a copy restores to the same vault and values; a changed byte, a wrong
//! passphrase or a foreign file are refused; older and diverged states are told apart.

use super::backup::{MAGIC, TAG_LEN};
use super::tests::{FAST, entry, meta};
use super::*;

const CANARY: &[u8] = b"canary-backup-value-7f3a";

fn vault(dir: &Path) -> UnlockedStore {
    let mut store = LockedStore::create(dir, b"pass phrase", FAST).unwrap();
    store
        .create_vault(&VaultName::Global, entry("init"))
        .unwrap();
    store
        .put_many(
            vec![(
                VaultName::Global,
                meta("secret:dev/db/password"),
                Some(CANARY),
            )],
            vec![entry("add")],
        )
        .unwrap();
    store
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn a_backup_restores_on_a_fresh_home_and_holds_no_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = vault(&dir.path().join("home"));
    let file = dir.path().join("vault.kovra-backup");
    let info = store.backup_to(&file, entry("backup")).unwrap();
    assert_eq!(info.state, store.state());
    // The copy is whole and sealed: no value and no coordinate in its bytes.
    let bytes = std::fs::read(&file).unwrap();
    assert!(!contains(&bytes, CANARY));
    assert!(!contains(&bytes, b"db/password"));
    // A second backup to the same path is refused; the first is untouched.
    assert!(store.backup_to(&file, entry("backup")).is_err());
    assert_eq!(std::fs::read(&file).unwrap(), bytes);

    let fresh = dir.path().join("fresh");
    assert!(known_states(&fresh).is_empty());
    let backup = BackupFile::read(&file).unwrap();
    assert!(matches!(
        BackupFile::read(&file)
            .unwrap()
            .stage(&fresh, b"wrong phrase"),
        Err(StoreError::WrongPassphrase)
    ));
    let staged = backup.stage(&fresh, b"pass phrase").unwrap();
    assert_eq!(staged.state(), info.state);
    assert_eq!(staged.install(&fresh, entry("restore")).unwrap(), None);
    let restored = LockedStore::open(&fresh)
        .unwrap()
        .unlock(b"pass phrase")
        .unwrap();
    assert_eq!(restored.vault_id(), store.vault_id());
    assert_eq!(restored.record_count(), 1);
    assert!(restored.verify_audit().unwrap().ok);
    assert!(!fresh.join(".restore-staging").exists());
}

#[test]
fn a_changed_byte_or_a_foreign_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = vault(&dir.path().join("home"));
    let file = dir.path().join("b");
    store.backup_to(&file, entry("backup")).unwrap();
    let bytes = std::fs::read(&file).unwrap();
    let fresh = dir.path().join("fresh");
    // Every region: the header, the database, the tag.
    for at in [20, bytes.len() / 2, bytes.len() - 3] {
        let mut changed = bytes.clone();
        changed[at] ^= 0x01;
        let path = dir.path().join(format!("changed-{at}"));
        std::fs::write(&path, &changed).unwrap();
        let refused = BackupFile::read(&path).and_then(|b| b.stage(&fresh, b"pass phrase"));
        assert!(
            matches!(
                refused,
                Err(StoreError::BackupTampered(_) | StoreError::BackupInvalid(_))
            ),
            "byte {at}: {:?}",
            refused.err()
        );
        assert!(!LockedStore::exists(&fresh));
    }
    let cut = dir.path().join("cut");
    std::fs::write(&cut, &bytes[..bytes.len() - 1]).unwrap();
    assert!(matches!(
        BackupFile::read(&cut),
        Err(StoreError::BackupTampered(_))
    ));
    let foreign = dir.path().join("foreign");
    std::fs::write(&foreign, b"SQLite format 3\0 and more").unwrap();
    assert!(matches!(
        BackupFile::read(&foreign),
        Err(StoreError::BackupInvalid(_))
    ));
}

#[test]
fn an_older_backup_is_behind_the_vault_and_its_acknowledged_state() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let mut store = vault(&home);
    let file = dir.path().join("b");
    let old = store.backup_to(&file, entry("backup")).unwrap().state;
    store.audit(entry("list")).unwrap();
    store.acknowledge().unwrap();
    let known = known_states(&home);
    assert_eq!(known.len(), 2);
    for k in &known {
        assert_eq!(old.compare(k), Freshness::Older);
        assert_eq!(k.compare(k), Freshness::Current);
    }
    let diverged = VaultState {
        audit_head: "00".repeat(32),
        ..known[0].clone()
    };
    assert_eq!(diverged.compare(&known[0]), Freshness::Diverged);
    let other = VaultState {
        vault_id: "ff".into(),
        ..known[0].clone()
    };
    assert_eq!(other.compare(&known[0]), Freshness::OtherVault);
    // Restored anyway (the caller allowed it): the current vault is kept aside.
    drop(store);
    let staged = BackupFile::read(&file)
        .unwrap()
        .stage(&home, b"pass phrase")
        .unwrap();
    let aside = staged.install(&home, entry("restore")).unwrap().unwrap();
    assert!(
        std::fs::read(&aside)
            .unwrap()
            .starts_with(b"SQLite format 3\0")
    );
    let restored = LockedStore::open(&home)
        .unwrap()
        .unlock(b"pass phrase")
        .unwrap();
    assert_eq!(restored.state().audit_seq, old.audit_seq + 1);
}

#[test]
fn a_backup_asking_for_a_huge_key_derivation_is_refused_before_it_runs() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = vault(&dir.path().join("home"));
    let file = dir.path().join("b");
    store.backup_to(&file, entry("backup")).unwrap();
    let backup = BackupFile::read(&file).unwrap();
    // Its database with the header's cost raised, in a container with a matching length.
    let db_file = dir.path().join("db");
    std::fs::write(&db_file, &backup.db).unwrap();
    let conn = rusqlite::Connection::open(&db_file).unwrap();
    conn.execute(
        "UPDATE header SET kdf = '{\"m_kib\":4194304,\"t\":3,\"p\":1}'",
        [],
    )
    .unwrap();
    let _: String = conn
        .query_row("PRAGMA journal_mode=DELETE", [], |r| r.get(0))
        .unwrap();
    drop(conn);
    let db = std::fs::read(&db_file).unwrap();
    let info = BackupInfo {
        db_len: db.len() as u64,
        ..backup.info.clone()
    };
    let mut bytes = MAGIC.to_vec();
    bytes.extend_from_slice(&serde_json::to_vec(&info).unwrap());
    bytes.push(b'\n');
    bytes.extend_from_slice(&db);
    bytes.extend_from_slice(&[0u8; TAG_LEN]);
    let crafted = dir.path().join("crafted");
    std::fs::write(&crafted, &bytes).unwrap();
    let started = std::time::Instant::now();
    let refused = BackupFile::read(&crafted)
        .unwrap()
        .stage(&dir.path().join("fresh"), b"pass phrase");
    assert!(
        matches!(&refused, Err(StoreError::BackupTampered(m)) if m.contains("key-derivation")),
        "{:?}",
        refused.err()
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}
