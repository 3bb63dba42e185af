//! Moving a record, with every version, to another coordinate or vault (`kovra mv`,
//! `kovra rename`).
//!
//! Every vault (global and projects) lives in the one database file, so a move is one
//! transaction like any other write: the destination's versions, the source's deletion,
//! the authenticated state and the audit entry commit together or not at all. A crash at
//! any instant leaves the record either wholly at its old coordinate or wholly at its new
//! one, never in both and never in neither.
//!
//! Each version is opened and sealed again: its slot (the AEAD's associated data) binds
//! the vault, the record lookup (keyed on the coordinate) and the version, and its metadata
//! names the coordinate, so a row copied as it is would fail authentication at its new
//! place. The value never leaves the store.

use rusqlite::params;

use super::layout;
use super::unlocked::xor_into;
use super::{Result, StoreError, UnlockedStore, Value};
use crate::audit::AuditEntry;
use crate::coord::Coordinate;
use crate::model::{Metadata, Sensitivity, VaultName};

/// One record's place: its vault and its (vault-relative) coordinate.
#[derive(Debug, Clone, Copy)]
pub struct Place<'a> {
    pub vault: &'a VaultName,
    pub coordinate: &'a Coordinate,
}

impl UnlockedStore {
    /// Move the record at `from` to `to` with its whole history, keeping every version's
    /// metadata (provider pin, flags, description, times) but the coordinate; `floor`
    /// raises each version's sensitivity to at least it (the production floor of the
    /// destination). Refuses when `to` holds a record (no silent overwrite). Returns the
    /// current version, unchanged.
    pub fn relocate(
        &mut self,
        from: Place<'_>,
        to: Place<'_>,
        floor: Sensitivity,
        audit: AuditEntry,
    ) -> Result<u64> {
        let src = from.coordinate.unpinned();
        let dst = to.coordinate.unpinned();
        let (src_vault, src_dek) = self.require_dek(from.vault)?;
        let (dst_vault, dst_dek) = self.require_dek(to.vault)?;
        let src_record = self.record_lookup(from.vault, &src);
        let dst_record = self.record_lookup(to.vault, &dst);
        let Some(&(ivault, current)) = self.index.get(&src_record) else {
            return Err(StoreError::RecordTampered(src.to_string()));
        };
        if ivault != src_vault {
            return Err(StoreError::RecordTampered(src.to_string()));
        }
        if self.index.contains_key(&dst_record) {
            return Err(StoreError::AlreadyExists(to.coordinate.to_string()));
        }
        // Open everything first: a version that fails authentication stops the move
        // before anything is written.
        let mut sealed = Vec::with_capacity(current as usize);
        for version in 1..=current {
            let (meta, value) =
                self.load_version(&src_dek, &src_vault, &src_record, version, true, &src)?;
            let value: Value = value.unwrap_or_default();
            let meta = Metadata {
                coordinate: dst.clone(),
                sensitivity: meta.sensitivity.max(floor),
                ..meta
            };
            let slot = self.slot(&dst_vault, &dst_record, version);
            sealed.push((version, layout::seal_record(&dst_dek, &slot, &meta, &value)));
        }
        let old_elem = self.state_element(&src_record, &src_vault, current);
        let new_elem = self.state_element(&dst_record, &dst_vault, current);
        self.write(|p, tx| {
            for (version, s) in &sealed {
                tx.execute(
                    "INSERT INTO versions (record, version, meta, value) VALUES (?1, ?2, ?3, ?4)",
                    params![dst_record.as_slice(), *version as i64, s.meta, s.value],
                )?;
            }
            tx.execute(
                "INSERT INTO records (lookup, vault, version) VALUES (?1, ?2, ?3)",
                params![dst_record.as_slice(), dst_vault.as_slice(), current as i64],
            )?;
            tx.execute(
                "DELETE FROM versions WHERE record = ?1",
                [src_record.as_slice()],
            )?;
            tx.execute(
                "DELETE FROM records WHERE lookup = ?1",
                [src_record.as_slice()],
            )?;
            xor_into(&mut p.state_tag, &old_elem);
            xor_into(&mut p.state_tag, &new_elem);
            p.index_changes.push((src_record, None));
            p.index_changes
                .push((dst_record, Some((dst_vault, current))));
            p.append_audit_tx(tx, audit)
        })?;
        Ok(current)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{FAST, entry, meta};
    use super::super::*;
    use super::Place;
    use crate::coord::Coordinate;
    use crate::model::{Sensitivity, VaultName};

    const PASS: &[u8] = b"pass phrase";

    fn c(s: &str) -> Coordinate {
        Coordinate::parse(s).unwrap()
    }

    /// A home with the global vault and project `app`, and `secret:dev/a/key` in global at
    /// version 2 (pinned to a provider, values v1 then v2).
    fn home() -> (tempfile::TempDir, UnlockedStore) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = LockedStore::create(dir.path(), PASS, FAST).unwrap();
        let g = VaultName::Global;
        store.create_vault(&g, entry("init")).unwrap();
        let app = VaultName::Project("app".into());
        store.create_vault(&app, entry("project-create")).unwrap();
        let mut m = meta("secret:dev/a/key");
        m.provider = Some("github".into());
        m.description = "the key".into();
        store.put(&g, m.clone(), Some(b"v1"), entry("add")).unwrap();
        store.put(&g, m, Some(b"v2"), entry("set")).unwrap();
        (dir, store)
    }

    fn place<'a>(vault: &'a VaultName, coordinate: &'a Coordinate) -> Place<'a> {
        Place { vault, coordinate }
    }

    #[test]
    fn a_move_keeps_every_version_and_its_metadata_and_survives_a_reopen() {
        let (dir, mut store) = home();
        let (g, app) = (VaultName::Global, VaultName::Project("app".into()));
        let (old, new) = (c("secret:dev/a/key"), c("secret:dev/b/renamed"));
        let version = store
            .relocate(
                place(&g, &old),
                place(&app, &new),
                Sensitivity::Low,
                entry("mv"),
            )
            .unwrap();
        assert_eq!(version, 2);
        assert!(store.find(&g, &old).unwrap().is_none());
        drop(store);
        // The authenticated index agrees with the rows: no tampering at unlock.
        let mut store = LockedStore::open(dir.path()).unwrap().unlock(PASS).unwrap();
        let moved = store.find(&app, &new).unwrap().unwrap();
        assert_eq!(moved.meta.provider.as_deref(), Some("github"));
        assert_eq!(moved.meta.description, "the key");
        assert_eq!(&*store.read_value(&app, &new, Some(1)).unwrap().1, b"v1");
        assert_eq!(&*store.read_value(&app, &new, None).unwrap().1, b"v2");
        let history = store.history(&app, &new).unwrap();
        assert_eq!(history.len(), 2);
        assert!(history.iter().all(|m| m.coordinate == new));
        assert!(store.find(&g, &old).unwrap().is_none());
        assert_eq!(store.record_count(), 1);
        let trail = store.audit_entries().unwrap();
        assert_eq!(trail.last().map(|e| e.action.as_str()), Some("mv"));
    }

    #[test]
    fn an_occupied_destination_is_refused_and_nothing_changes() {
        let (_dir, mut store) = home();
        let g = VaultName::Global;
        store
            .put(&g, meta("secret:dev/a/other"), Some(b"o"), entry("add"))
            .unwrap();
        let audit = store.audit_entries().unwrap().len();
        let e = store
            .relocate(
                place(&g, &c("secret:dev/a/key")),
                place(&g, &c("secret:dev/a/other")),
                Sensitivity::Low,
                entry("rename"),
            )
            .unwrap_err();
        assert!(matches!(e, StoreError::AlreadyExists(_)), "{e:?}");
        assert_eq!(
            &*store
                .read_value(&g, &c("secret:dev/a/key"), None)
                .unwrap()
                .1,
            b"v2"
        );
        assert_eq!(
            &*store
                .read_value(&g, &c("secret:dev/a/other"), None)
                .unwrap()
                .1,
            b"o"
        );
        assert_eq!(store.audit_entries().unwrap().len(), audit);
    }

    /// A write that fails halfway (the disk fills after the new rows went in) rolls back
    /// whole: the record is still at its old place, readable, after a reopen.
    #[test]
    fn a_move_that_fails_midway_leaves_the_record_where_it_was() {
        let (dir, mut store) = home();
        let (g, app) = (VaultName::Global, VaultName::Project("app".into()));
        let (old, new) = (c("secret:dev/a/key"), c("secret:dev/a/key"));
        // Enough versions that the destination rows need new pages.
        let big = vec![9u8; 60_000];
        for _ in 0..4 {
            store
                .put(&g, meta("secret:dev/a/key"), Some(&big), entry("set"))
                .unwrap();
        }
        let pages: i64 = store
            .conn
            .query_row("PRAGMA page_count", [], |r| r.get(0))
            .unwrap();
        store
            .conn
            .query_row(
                &format!("PRAGMA max_page_count = {}", pages + 20),
                [],
                |_| Ok(()),
            )
            .unwrap();
        let e = store
            .relocate(
                place(&g, &old),
                place(&app, &new),
                Sensitivity::Low,
                entry("mv"),
            )
            .unwrap_err();
        assert!(matches!(e, StoreError::DiskFull(_)), "{e:?}");
        drop(store);
        let mut store = LockedStore::open(dir.path()).unwrap().unlock(PASS).unwrap();
        assert_eq!(
            &*store.read_value(&g, &old, None).unwrap().1,
            big.as_slice()
        );
        assert!(store.find(&app, &new).unwrap().is_none());
        assert_eq!(store.history(&g, &old).unwrap().len(), 6);
    }

    #[test]
    fn the_floor_raises_every_version() {
        let (_dir, mut store) = home();
        let g = VaultName::Global;
        let new = c("secret:prod/a/key");
        store
            .relocate(
                place(&g, &c("secret:dev/a/key")),
                place(&g, &new),
                Sensitivity::High,
                entry("rename"),
            )
            .unwrap();
        let history = store.history(&g, &new).unwrap();
        assert!(history.iter().all(|m| m.sensitivity == Sensitivity::High));
    }
}
