//! The store's own tests: all-or-nothing writes, provider pins, and tampering found at unlock.

use rusqlite::{Connection, params};

use super::*;
use crate::audit::AuditEntry;
use crate::coord::Coordinate;
use crate::crypto::KdfParams;

pub(super) const FAST: KdfParams = KdfParams {
    m_kib: 8,
    t: 1,
    p: 1,
};

pub(super) fn entry(action: &str) -> AuditEntry {
    AuditEntry {
        action: action.into(),
        ..AuditEntry::default()
    }
}

pub(super) fn meta(coord: &str) -> Metadata {
    Metadata {
        coordinate: Coordinate::parse(coord).unwrap(),
        sensitivity: crate::model::Sensitivity::Low,
        revealable: true,
        description: String::new(),
        created: 0,
        updated: 0,
        version: 0,
        totp: None,
        provider: None,
        provider_host: None,
        ssh_key: None,
        database: None,
    }
}

#[test]
fn put_many_writes_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = LockedStore::create(dir.path(), b"pass phrase", FAST).unwrap();
    store
        .create_vault(&VaultName::Global, entry("init"))
        .unwrap();
    let g = VaultName::Global;
    // The same record twice: refused before anything is written.
    let dup = vec![
        (g.clone(), meta("secret:dev/a/one"), Some(b"v1".as_slice())),
        (g.clone(), meta("secret:dev/a/one"), Some(b"v2".as_slice())),
    ];
    assert!(store.put_many(dup, vec![entry("receive")]).is_err());
    assert_eq!(store.record_count(), 0);
    let audit_before = store.audit_entries().unwrap().len();
    let ok = vec![
        (g.clone(), meta("secret:dev/a/one"), Some(b"v1".as_slice())),
        (g.clone(), meta("secret:dev/a/two"), Some(b"v2".as_slice())),
    ];
    assert_eq!(
        store
            .put_many(ok, vec![entry("receive"), entry("receive")])
            .unwrap(),
        vec![1, 1]
    );
    assert_eq!(store.record_count(), 2);
    assert_eq!(store.audit_entries().unwrap().len(), audit_before + 2);
    drop(store);
    // Still consistent after reopening: the header MAC covers both rows.
    let reopened = LockedStore::open(dir.path()).unwrap();
    let mut unlocked = reopened.unlock(b"pass phrase").unwrap();
    let two = Coordinate::parse("secret:dev/a/two").unwrap();
    assert_eq!(&*unlocked.read_value(&g, &two, None).unwrap().1, b"v2");
}

#[test]
fn a_provider_pin_survives_every_later_version() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = LockedStore::create(dir.path(), b"pass phrase", FAST).unwrap();
    store
        .create_vault(&VaultName::Global, entry("init"))
        .unwrap();
    let mut pinned = meta("secret:dev/a/b");
    pinned.provider = Some("openai".into());
    pinned.provider_host = Some("api.openai.com".into());
    store
        .put(&VaultName::Global, pinned, Some(b"one"), entry("add"))
        .unwrap();
    // A later version written without the pin (set, edit, rollback) keeps it.
    for v in [Some(b"two".as_slice()), None] {
        let mut other = meta("secret:dev/a/b");
        other.provider = if v.is_none() {
            Some("github".into())
        } else {
            None
        };
        store
            .put(&VaultName::Global, other, v, entry("set"))
            .unwrap();
        let r = store
            .find(
                &VaultName::Global,
                &Coordinate::parse("secret:dev/a/b").unwrap(),
            )
            .unwrap()
            .unwrap();
        assert_eq!(r.meta.provider.as_deref(), Some("openai"));
        assert_eq!(r.meta.provider_host.as_deref(), Some("api.openai.com"));
    }
}

#[test]
fn a_foreign_header_does_not_pass_as_the_passphrase() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let store = LockedStore::create(a.path(), b"owner passphrase", FAST).unwrap();
    drop(LockedStore::create(b.path(), b"attacker passphrase", FAST).unwrap());
    // Copy the attacker's key wrapping into the live vault's header.
    let theirs = Connection::open(b.path().join(DB_FILE)).unwrap();
    let (uuid, kdf, salt, wrapped): (Vec<u8>, String, Vec<u8>, Vec<u8>) = theirs
        .query_row(
            "SELECT vault_uuid, kdf, salt, wrapped_root FROM header",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    store
        .conn
        .execute(
            "UPDATE header SET vault_uuid = ?1, kdf = ?2, salt = ?3, wrapped_root = ?4",
            params![uuid, kdf, salt, wrapped],
        )
        .unwrap();
    assert!(matches!(
        store.check_passphrase(b"attacker passphrase"),
        Err(StoreError::WrongPassphrase)
    ));
}

#[test]
fn rolling_back_a_record_row_is_detected_at_unlock() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = LockedStore::create(dir.path(), b"pass phrase", FAST).unwrap();
    store
        .create_vault(&VaultName::Global, entry("init"))
        .unwrap();
    for v in [b"one".as_slice(), b"two", b"three"] {
        store
            .put(
                &VaultName::Global,
                meta("secret:dev/a/b"),
                Some(v),
                entry("add"),
            )
            .unwrap();
    }
    drop(store);
    let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
    conn.execute("UPDATE records SET version = 1", []).unwrap();
    let reopened = LockedStore::open(dir.path())
        .unwrap()
        .unlock(b"pass phrase");
    assert!(matches!(reopened, Err(StoreError::VaultTampered(_))));
}

/// A run's entries are sealed with nonces drawn in one go: each still its own, every entry
/// opens, and the chain verifies.
#[test]
fn entries_appended_together_each_have_their_own_nonce() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = LockedStore::create(dir.path(), b"pass phrase", FAST).unwrap();
    store
        .audit_all((0..4).map(|_| entry("inject")).collect())
        .unwrap();
    store.audit_all(vec![entry("inject")]).unwrap();
    let sealed: Vec<Vec<u8>> = store
        .conn
        .prepare("SELECT entry FROM audit ORDER BY seq")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<std::result::Result<_, _>>()
        .unwrap();
    let mut nonces: Vec<&[u8]> = sealed
        .iter()
        .map(|s| &s[..crate::crypto::NONCE_LEN])
        .collect();
    let appended = nonces.len();
    nonces.sort();
    nonces.dedup();
    assert_eq!(nonces.len(), appended, "a nonce was used twice");
    let report = store.verify_audit().unwrap();
    assert!(report.ok, "{report:?}");
    let injects = store
        .audit_entries()
        .unwrap()
        .iter()
        .filter(|e| e.action == "inject")
        .count();
    assert_eq!(injects, 5);
}

#[test]
fn truncating_the_audit_trail_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = LockedStore::create(dir.path(), b"pass phrase", FAST).unwrap();
    for _ in 0..5 {
        store.audit(entry("list")).unwrap();
    }
    assert!(store.verify_audit().unwrap().ok);
    // Drop the newest entries and move the header's head back to the last one kept.
    let (seq, link): (i64, Vec<u8>) = store
        .conn
        .query_row("SELECT seq, link FROM audit WHERE seq = 3", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    store
        .conn
        .execute("DELETE FROM audit WHERE seq > 3", [])
        .unwrap();
    store
        .conn
        .execute(
            "UPDATE header SET audit_seq = ?1, audit_head = ?2",
            params![seq, link],
        )
        .unwrap();
    assert!(!store.verify_audit().unwrap().ok);
    drop(store);
    let reopened = LockedStore::open(dir.path())
        .unwrap()
        .unlock(b"pass phrase");
    assert!(matches!(reopened, Err(StoreError::VaultTampered(_))));
}

#[test]
fn rotating_the_data_keys_keeps_every_version_readable() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = LockedStore::create(dir.path(), b"pass phrase", FAST).unwrap();
    let g = VaultName::Global;
    store.create_vault(&g, entry("init")).unwrap();
    for v in [b"one".as_slice(), b"two"] {
        store
            .put(&g, meta("secret:dev/a/b"), Some(v), entry("set"))
            .unwrap();
    }
    let before: Vec<Vec<u8>> = store
        .conn
        .query_row("SELECT value FROM versions WHERE version = 1", [], |r| {
            r.get(0)
        })
        .map(|v: Vec<u8>| vec![v])
        .unwrap();
    assert_eq!(store.rotate_data_keys(entry("rotate-key")).unwrap(), 2);
    let after: Vec<u8> = store
        .conn
        .query_row("SELECT value FROM versions WHERE version = 1", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_ne!(before[0], after);
    drop(store);
    let mut reopened = LockedStore::open(dir.path())
        .unwrap()
        .unlock(b"pass phrase")
        .unwrap();
    let coord = Coordinate::parse("secret:dev/a/b").unwrap();
    assert_eq!(
        &*reopened.read_value(&g, &coord, Some(1)).unwrap().1,
        b"one"
    );
    assert_eq!(&*reopened.read_value(&g, &coord, None).unwrap().1, b"two");
    assert_eq!(reopened.history(&g, &coord).unwrap().len(), 2);
}

/// The listing kept between `list` calls follows every kind of write, and a change made to
/// the file by another connection.
#[test]
fn a_kept_listing_is_fresh_after_every_kind_of_write() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = LockedStore::create(dir.path(), b"pass phrase", FAST).unwrap();
    let g = VaultName::Global;
    let app = VaultName::Project("app".into());
    store.create_vault(&g, entry("init")).unwrap();
    let shown = |store: &mut UnlockedStore, vault: &VaultName| -> Vec<(String, String, u64)> {
        store
            .list(vault)
            .unwrap()
            .records
            .into_iter()
            .map(|r| {
                (
                    r.meta.coordinate.to_string(),
                    r.meta.description,
                    r.meta.version,
                )
            })
            .collect()
    };
    let row = |c: &str, d: &str, v: u64| (c.to_string(), d.to_string(), v);
    assert!(shown(&mut store, &g).is_empty());

    // add
    store
        .put(&g, meta("secret:dev/a/one"), Some(b"v1"), entry("add"))
        .unwrap();
    assert_eq!(shown(&mut store, &g), [row("secret:dev/a/one", "", 1)]);
    // An audit-only write keeps the listing: the same one is handed out.
    let before = store.list_shared(&g).unwrap();
    store.audit(entry("list")).unwrap();
    assert!(std::sync::Arc::ptr_eq(
        &before,
        &store.list_shared(&g).unwrap()
    ));

    // edit (new metadata, value kept) and set (new value)
    let mut edited = meta("secret:dev/a/one");
    edited.description = "edited".into();
    store.put(&g, edited, None, entry("edit")).unwrap();
    assert_eq!(
        shown(&mut store, &g),
        [row("secret:dev/a/one", "edited", 2)]
    );
    store
        .put(&g, meta("secret:dev/a/one"), Some(b"v2"), entry("set"))
        .unwrap();
    assert_eq!(shown(&mut store, &g), [row("secret:dev/a/one", "", 3)]);

    // import / receive: several records in one transaction
    store
        .put_many(
            vec![
                (g.clone(), meta("secret:dev/b/two"), Some(b"x".as_slice())),
                (g.clone(), meta("secret:dev/c/three"), Some(b"y".as_slice())),
            ],
            vec![entry("receive")],
        )
        .unwrap();
    assert_eq!(shown(&mut store, &g).len(), 3);

    // rename, then mv to a project
    let one = Coordinate::parse("secret:dev/a/one").unwrap();
    let renamed = Coordinate::parse("secret:dev/a/uno").unwrap();
    store
        .relocate(
            Place {
                vault: &g,
                coordinate: &one,
            },
            Place {
                vault: &g,
                coordinate: &renamed,
            },
            crate::model::Sensitivity::Low,
            entry("rename"),
        )
        .unwrap();
    assert_eq!(
        shown(&mut store, &g),
        [
            row("secret:dev/a/uno", "", 3),
            row("secret:dev/b/two", "", 1),
            row("secret:dev/c/three", "", 1)
        ]
    );
    store.create_vault(&app, entry("project-create")).unwrap();
    assert!(shown(&mut store, &app).is_empty());
    store
        .relocate(
            Place {
                vault: &g,
                coordinate: &renamed,
            },
            Place {
                vault: &app,
                coordinate: &renamed,
            },
            crate::model::Sensitivity::Low,
            entry("mv"),
        )
        .unwrap();
    assert_eq!(shown(&mut store, &g).len(), 2);
    assert_eq!(shown(&mut store, &app), [row("secret:dev/a/uno", "", 3)]);
    // A write in one vault keeps another vault's listing.
    let kept = store.list_shared(&app).unwrap();
    store
        .put(&g, meta("secret:dev/d/four"), Some(b"z"), entry("add"))
        .unwrap();
    assert!(std::sync::Arc::ptr_eq(
        &kept,
        &store.list_shared(&app).unwrap()
    ));
    let four = Coordinate::parse("secret:dev/d/four").unwrap();
    store.delete(&g, &four, entry("rm")).unwrap();
    assert!(std::sync::Arc::ptr_eq(
        &kept,
        &store.list_shared(&app).unwrap()
    ));
    assert_eq!(shown(&mut store, &g).len(), 2);

    // rm
    let two = Coordinate::parse("secret:dev/b/two").unwrap();
    store.delete(&g, &two, entry("rm")).unwrap();
    assert_eq!(shown(&mut store, &g), [row("secret:dev/c/three", "", 1)]);

    // rotate-key and passwd re-seal or re-wrap: the listing reads the same after them
    store.rotate_data_keys(entry("rotate-key")).unwrap();
    assert_eq!(shown(&mut store, &g), [row("secret:dev/c/three", "", 1)]);
    store
        .change_passphrase(b"another phrase", FAST, entry("passwd"))
        .unwrap();
    assert_eq!(shown(&mut store, &app), [row("secret:dev/a/uno", "", 3)]);

    // Another connection deletes the current version row: the next list withholds it.
    let outside = Connection::open(dir.path().join(DB_FILE)).unwrap();
    outside
        .execute("DELETE FROM versions WHERE version = 3", params![])
        .unwrap();
    let listing = store.list(&app).unwrap();
    assert!(listing.records.is_empty());
    assert_eq!(listing.tampered, 1);
}

/// A kept listing's rendering is made once, lives with the listing, and goes with it: a
/// write that forgets the listing forgets it, a copy from `list` carries none, and dropping
/// the store (what a lock does) frees it.
#[test]
fn a_listings_rendering_lives_and_goes_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = LockedStore::create(dir.path(), b"pass phrase", FAST).unwrap();
    let g = VaultName::Global;
    store.create_vault(&g, entry("init")).unwrap();
    for c in ["secret:dev/a/one", "secret:dev/a/two"] {
        store.put(&g, meta(c), Some(b"v"), entry("add")).unwrap();
    }
    let key =
        |r: &Record, out: &mut Vec<u8>| out.extend_from_slice(r.meta.coordinate.key().as_bytes());
    let kept = store.list_shared(&g).unwrap();
    assert!(kept.rendering().is_none(), "nothing rendered until asked");
    let rendered = kept.rendered(key);
    assert_eq!(rendered.get(0), Some(&b"one"[..]));
    assert_eq!(rendered.get(1), Some(&b"two"[..]));
    assert_eq!(rendered.get(2), None);
    assert!(rendered.size() >= 6);
    assert!(format!("{rendered:?}").contains("records: 2"));
    // Rendered once: a later call gets the first rendering.
    assert_eq!(
        kept.rendered(|_, out| out.push(b'x')).get(0),
        Some(&b"one"[..])
    );
    let again = store.list_shared(&g).unwrap();
    assert!(std::sync::Arc::ptr_eq(&kept, &again));
    assert!(again.rendering().is_some());
    assert!(store.list(&g).unwrap().rendering().is_none());

    store
        .put(&g, meta("secret:dev/a/three"), Some(b"v"), entry("add"))
        .unwrap();
    let fresh = store.list_shared(&g).unwrap();
    assert!(
        fresh.rendering().is_none(),
        "the write forgot the rendering"
    );
    fresh.rendered(key);
    let forgotten = std::sync::Arc::downgrade(&kept);
    let held = std::sync::Arc::downgrade(&fresh);
    drop((kept, again, fresh));
    assert!(forgotten.upgrade().is_none());
    assert!(held.upgrade().is_some(), "kept while unlocked");
    drop(store);
    assert!(held.upgrade().is_none(), "dropped with the store");
}

/// `find` answers from a kept listing what the file would: the same metadata for every
/// record (paths whose text order differs from their segments' order included), nothing for
/// an absent one, the new metadata after a write, and the file's verdict once another
/// connection changed it.
#[test]
fn find_answers_from_a_kept_listing_what_the_file_would() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = LockedStore::create(dir.path(), b"pass phrase", FAST).unwrap();
    let g = VaultName::Global;
    store.create_vault(&g, entry("init")).unwrap();
    // `-` and `.` sort before `/`: `dev/a-b/x` comes before `dev/a/one` as text, after it
    // segment by segment.
    let mut coords = vec!["secret:dev/a/one".to_string(), "secret:dev/a-b/x".into()];
    for env in ["dev", "dev-x", "de", "dev.1"] {
        for group in ["a", "a-b", "a.b", "a0", "b"] {
            for key in ["x", "x-1", "y"] {
                coords.push(format!("secret:{env}/{group}/{key}"));
            }
        }
    }
    coords.dedup();
    for c in &coords {
        let mut m = meta(c);
        m.description = format!("about {c}");
        store.put(&g, m, Some(b"v"), entry("add")).unwrap();
    }
    let parse = |c: &str| Coordinate::parse(c).unwrap();
    let from_file: Vec<Metadata> = coords
        .iter()
        .map(|c| store.find(&g, &parse(c)).unwrap().unwrap().meta)
        .collect();
    assert!(
        store.listed.vaults.is_empty(),
        "nothing kept yet: read from the file"
    );
    store.list_shared(&g).unwrap();
    for (c, file) in coords.iter().zip(&from_file) {
        let kept = store.kept_record(&g, &parse(c)).unwrap();
        assert_eq!(
            kept.map(|r| r.meta).as_ref(),
            Some(file),
            "{c} from the listing"
        );
        let found = store.find(&g, &parse(c)).unwrap();
        assert_eq!(found.map(|r| r.meta).as_ref(), Some(file), "{c}");
    }
    let pinned = parse("secret://global/dev/a/one");
    assert_eq!(store.find(&g, &pinned).unwrap().unwrap().meta, from_file[0]);
    assert!(
        store
            .find(&g, &parse("secret:dev/a/none"))
            .unwrap()
            .is_none()
    );

    let mut changed = meta("secret:dev/a/one");
    changed.description = "changed".into();
    store.put(&g, changed, None, entry("set")).unwrap();
    store.list_shared(&g).unwrap();
    let found = store.find(&g, &parse("secret:dev/a/one")).unwrap().unwrap();
    assert_eq!(found.meta.description, "changed");

    // Another connection deletes a record's rows: the kept listing is not trusted, and the
    // file's answer (its index says the record exists) is that it was tampered with.
    let other = Connection::open(dir.path().join(DB_FILE)).unwrap();
    other.execute("DELETE FROM versions", []).unwrap();
    let e = store.find(&g, &parse("secret:dev/a-b/x")).unwrap_err();
    assert!(matches!(e, StoreError::RecordTampered(_)), "got {e:?}");
}

#[test]
fn a_vault_found_missing_is_looked_up_again_once_created_here_or_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = LockedStore::create(dir.path(), b"pass phrase", FAST).unwrap();
    let project = VaultName::Project("app".into());
    assert!(!store.vault_exists(&project).unwrap());
    let lookup = store.vault_lookup(&project);
    assert!(store.listed.absent.contains(&lookup), "the miss is kept");
    assert!(!store.vault_exists(&project).unwrap());
    store.create_vault(&project, entry("init")).unwrap();
    assert!(store.vault_exists(&project).unwrap(), "created here");

    // A row another connection adds under the system vault's lookup (copied from the
    // project's, so its data key does not unwrap there): the kept miss must not hide it.
    let system = VaultName::System;
    assert!(!store.vault_exists(&system).unwrap());
    let other = Connection::open(dir.path().join(DB_FILE)).unwrap();
    other
        .execute(
            "INSERT INTO vaults (lookup, sealed_name, wrapped_dek) \
             SELECT ?1, sealed_name, wrapped_dek FROM vaults WHERE lookup = ?2",
            params![store.vault_lookup(&system).as_slice(), lookup.as_slice()],
        )
        .unwrap();
    assert!(
        matches!(
            store.vault_exists(&system),
            Err(StoreError::VaultTampered(_))
        ),
        "the file changed: the miss is asked again, and the copied row refused"
    );
}
