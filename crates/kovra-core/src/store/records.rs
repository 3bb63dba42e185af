//! Reading and writing records: find, read, put, delete, history, fingerprint.

use rusqlite::{OptionalExtension, Transaction, params};

use super::layout::{self, Lookup};
use super::unlocked::{Pending, xor_into};
use super::{Record, Result, StoreError, UnlockedStore, Value, hex_lower};
use crate::audit::AuditEntry;
use crate::coord::Coordinate;
use crate::crypto::{self, Key};
use crate::model::{Metadata, VaultName};
use crate::policy::Allowed;
use crate::secret::SecretBytes;

/// One sealed record version waiting for its transaction.
struct PreparedPut {
    rlookup: Lookup,
    vlookup: Lookup,
    version: u64,
    sealed: layout::SealedVersion,
    old_elem: Option<[u8; 32]>,
    new_elem: [u8; 32],
}

impl PreparedPut {
    fn apply(self, p: &mut Pending<'_>, tx: &Transaction<'_>) -> Result<()> {
        tx.execute(
            "INSERT INTO versions (record, version, meta, value) VALUES (?1, ?2, ?3, ?4)",
            params![
                self.rlookup.as_slice(),
                self.version as i64,
                self.sealed.meta,
                self.sealed.value
            ],
        )?;
        tx.execute(
            "INSERT INTO records (lookup, vault, version) VALUES (?1, ?2, ?3)
             ON CONFLICT (lookup) DO UPDATE SET version = excluded.version, vault = excluded.vault",
            params![
                self.rlookup.as_slice(),
                self.vlookup.as_slice(),
                self.version as i64
            ],
        )?;
        if let Some(old) = self.old_elem {
            xor_into(&mut p.state_tag, &old);
        }
        xor_into(&mut p.state_tag, &self.new_elem);
        p.index_changes
            .push((self.rlookup, Some((self.vlookup, self.version))));
        Ok(())
    }
}

impl UnlockedStore {
    /// Find a record's current metadata in one vault. `Ok(None)` if absent.
    pub fn find(&mut self, vault: &VaultName, coord: &Coordinate) -> Result<Option<Record>> {
        if let Some(kept) = self.kept_record(vault, coord)? {
            return Ok(Some(kept));
        }
        let Some((vlookup, dek)) = self.dek(vault)? else {
            return Ok(None);
        };
        let rlookup = self.record_lookup(vault, coord);
        let Some(&(ivault, version)) = self.index.get(&rlookup) else {
            return Ok(None);
        };
        if ivault != vlookup {
            return Err(StoreError::RecordTampered(coord.to_string()));
        }
        let (meta, _) = self.load_version(&dek, &vlookup, &rlookup, version, false, coord)?;
        Ok(Some(Record {
            vault: vault.clone(),
            meta,
        }))
    }

    /// An existing record's vault (its lookup and data key), its own lookup and its current
    /// version, as the index has them. A record the index lacks, or files under another
    /// vault, was changed outside kovra.
    fn indexed(
        &mut self,
        vault: &VaultName,
        coord: &Coordinate,
    ) -> Result<(Lookup, Key, Lookup, u64)> {
        let (vlookup, dek) = self.require_dek(vault)?;
        let rlookup = self.record_lookup(vault, coord);
        match self.index.get(&rlookup) {
            Some(&(ivault, current)) if ivault == vlookup => Ok((vlookup, dek, rlookup, current)),
            _ => Err(StoreError::RecordTampered(coord.to_string())),
        }
    }

    /// Read the plaintext of a record's current (or a given) version, unguarded: only the
    /// store's own maintenance and the guarded reads below call it.
    pub(super) fn read_value(
        &mut self,
        vault: &VaultName,
        coord: &Coordinate,
        version: Option<u64>,
    ) -> Result<(Metadata, Value)> {
        let (vlookup, dek, rlookup, current) = self.indexed(vault, coord)?;
        let version = version.unwrap_or(current);
        if version == 0 || version > current {
            return Err(StoreError::NoSuchVersion(coord.to_string(), version));
        }
        let (meta, value) = self.load_version(&dek, &vlookup, &rlookup, version, true, coord)?;
        Ok((meta, value.unwrap_or_default()))
    }

    /// The current value of `coord`, without opening its metadata again: for a caller that
    /// decided on the metadata the store keeps since unlock (a run injecting 20 records
    /// opened each one's metadata twice). Nothing is lost: the value's AAD binds its slot
    /// (vault, record, version) and a hash of the exact sealed metadata beside it
    /// (`layout::Slot::value_aad`), so a row swapped or altered outside kovra still fails.
    fn read_current_value(&mut self, vault: &VaultName, coord: &Coordinate) -> Result<Value> {
        let (vlookup, dek, rlookup, version) = self.indexed(vault, coord)?;
        let tampered = || StoreError::RecordTampered(coord.to_string());
        if version == 0 {
            return Err(tampered());
        }
        let (sealed_meta, sealed_value) = self.sealed_row(&rlookup, version, coord)?;
        let slot = self.slot(&vlookup, &rlookup, version);
        layout::open_value(&dek, &slot, &sealed_meta, &sealed_value).map_err(|_| tampered())
    }

    /// One version's sealed metadata and value, as stored.
    fn sealed_row(
        &self,
        rlookup: &Lookup,
        version: u64,
        coord: &Coordinate,
    ) -> Result<(Vec<u8>, Vec<u8>)> {
        // Cached: a run reads each of its records twice (decide, then inject), and parsing
        // the statement cost more than the lookup itself.
        let row: Option<(Vec<u8>, Vec<u8>)> = self
            .conn
            .prepare_cached("SELECT meta, value FROM versions WHERE record = ?1 AND version = ?2")?
            .query_row(params![rlookup.as_slice(), version as i64], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        // The index says this version exists: a missing row was deleted outside kovra.
        row.ok_or_else(|| StoreError::RecordTampered(coord.to_string()))
    }

    /// The metadata of one version (current or older), without its value: what a rollback
    /// is decided on before anything is opened.
    pub fn version_metadata(
        &mut self,
        vault: &VaultName,
        coord: &Coordinate,
        version: u64,
    ) -> Result<Metadata> {
        let (vlookup, dek, rlookup, current) = self.indexed(vault, coord)?;
        if version == 0 || version > current {
            return Err(StoreError::NoSuchVersion(coord.to_string(), version));
        }
        Ok(self
            .load_version(&dek, &vlookup, &rlookup, version, false, coord)?
            .0)
    }

    pub(super) fn load_version(
        &self,
        dek: &Key,
        vlookup: &Lookup,
        rlookup: &Lookup,
        version: u64,
        with_value: bool,
        coord: &Coordinate,
    ) -> Result<(Metadata, Option<Value>)> {
        let (sealed_meta, sealed_value) = self.sealed_row(rlookup, version, coord)?;
        let tampered = || StoreError::RecordTampered(coord.to_string());
        let slot = self.slot(vlookup, rlookup, version);
        let meta = layout::open_meta(dek, &slot, &sealed_meta).map_err(|_| tampered())?;
        if meta.version != version || meta.coordinate != coord.unpinned() {
            return Err(tampered());
        }
        let value = if with_value {
            Some(
                layout::open_value(dek, &slot, &sealed_meta, &sealed_value)
                    .map_err(|_| tampered())?,
            )
        } else {
            None
        };
        Ok((meta, value))
    }

    /// Write a new version of a record: its metadata, and `value` (or the current value when
    /// `None`). Creates the record when absent. Returns the new version number.
    pub fn put(
        &mut self,
        vault: &VaultName,
        meta: Metadata,
        value: Option<&[u8]>,
        audit: AuditEntry,
    ) -> Result<u64> {
        let prepared = self.prepare_put(vault, meta, value)?;
        let version = prepared.version;
        self.write(|p, tx| {
            prepared.apply(p, tx)?;
            p.append_audit_tx(tx, audit)
        })?;
        Ok(version)
    }

    /// Write several records (each a new version) and their audit entries in one
    /// transaction: all of them are acknowledged, or none. A record may appear once.
    pub fn put_many(
        &mut self,
        items: Vec<(VaultName, Metadata, Option<&[u8]>)>,
        audit: Vec<AuditEntry>,
    ) -> Result<Vec<u64>> {
        let mut prepared: Vec<PreparedPut> = Vec::with_capacity(items.len());
        for (vault, meta, value) in items {
            let coord = meta.coordinate.unpinned();
            let p = self.prepare_put(&vault, meta, value)?;
            if prepared.iter().any(|q| q.rlookup == p.rlookup) {
                return Err(StoreError::DuplicateInWrite(coord.to_string()));
            }
            prepared.push(p);
        }
        let versions = prepared.iter().map(|p| p.version).collect();
        self.write(|p, tx| {
            for item in prepared {
                item.apply(p, tx)?;
            }
            for entry in audit {
                p.append_audit_tx(tx, entry)?;
            }
            Ok(())
        })?;
        Ok(versions)
    }

    /// Seal one new version of a record, ready to be written inside a transaction.
    fn prepare_put(
        &mut self,
        vault: &VaultName,
        mut meta: Metadata,
        value: Option<&[u8]>,
    ) -> Result<PreparedPut> {
        let (vlookup, dek) = self.require_dek(vault)?;
        let coord = meta.coordinate.unpinned();
        let rlookup = self.record_lookup(vault, &coord);
        let current = self.index.get(&rlookup).map(|&(_, v)| v);
        let kept: Option<Value> = match (value, current) {
            (Some(_), _) => None,
            (None, Some(_)) => Some(self.read_value(vault, &coord, None)?.1),
            (None, None) => return Err(StoreError::NoValueToKeep(coord.to_string())),
        };
        let value: &[u8] = match (&kept, value) {
            (Some(k), _) => k.as_slice(),
            (None, Some(v)) => v,
            (None, None) => &[],
        };
        if current.is_some()
            && let Some(existing) = self.find(vault, &coord)?
            && existing.meta.provider.is_some()
        {
            // A provider pin lasts for the record's life: no later version can drop or move it.
            meta.provider = existing.meta.provider;
            meta.provider_host = existing.meta.provider_host;
        }
        let version = current.unwrap_or(0) + 1;
        meta.version = version;
        meta.coordinate = coord.clone();
        let sealed =
            layout::seal_record(&dek, &self.slot(&vlookup, &rlookup, version), &meta, value);
        let old_elem = current.map(|v| self.state_element(&rlookup, &vlookup, v));
        let new_elem = self.state_element(&rlookup, &vlookup, version);
        Ok(PreparedPut {
            rlookup,
            vlookup,
            version,
            sealed,
            old_elem,
            new_elem,
        })
    }

    /// Delete a record and its history.
    pub fn delete(
        &mut self,
        vault: &VaultName,
        coord: &Coordinate,
        audit: AuditEntry,
    ) -> Result<()> {
        let vlookup = self.vault_lookup(vault);
        let rlookup = self.record_lookup(vault, coord);
        let Some(&(_, version)) = self.index.get(&rlookup) else {
            return Err(StoreError::RecordTampered(coord.to_string()));
        };
        let elem = self.state_element(&rlookup, &vlookup, version);
        self.write(|p, tx| {
            tx.execute(
                "DELETE FROM versions WHERE record = ?1",
                [rlookup.as_slice()],
            )?;
            tx.execute(
                "DELETE FROM records WHERE lookup = ?1",
                [rlookup.as_slice()],
            )?;
            xor_into(&mut p.state_tag, &elem);
            p.index_changes.push((rlookup, None));
            p.append_audit_tx(tx, audit)
        })
    }

    /// Every version's metadata, oldest first.
    pub fn history(&mut self, vault: &VaultName, coord: &Coordinate) -> Result<Vec<Metadata>> {
        let (vlookup, dek) = self.require_dek(vault)?;
        let rlookup = self.record_lookup(vault, coord);
        let Some(&(_, current)) = self.index.get(&rlookup) else {
            return Err(StoreError::RecordTampered(coord.to_string()));
        };
        let mut out = Vec::new();
        for v in 1..=current {
            out.push(
                self.load_version(&dek, &vlookup, &rlookup, v, false, coord)?
                    .0,
            );
        }
        Ok(out)
    }

    /// Read the plaintext of the record (current or given version) that `allowed` names,
    /// if its operation uses a value: the only way a value leaves the store for a record.
    pub fn read_allowed(
        &mut self,
        allowed: &Allowed,
        version: Option<u64>,
    ) -> Result<(Metadata, SecretBytes)> {
        if !allowed.reads_value() {
            return Err(not_allowed(allowed));
        }
        let (meta, value) = self.read_value(allowed.vault(), allowed.coordinate(), version)?;
        Ok((meta, SecretBytes::from(value)))
    }

    /// The current value `allowed` names, its metadata not opened again
    /// ([`read_current_value`](Self::read_current_value)): what a run injects.
    pub fn read_allowed_value(&mut self, allowed: &Allowed) -> Result<SecretBytes> {
        if !allowed.reads_value() {
            return Err(not_allowed(allowed));
        }
        let value = self.read_current_value(allowed.vault(), allowed.coordinate())?;
        Ok(SecretBytes::from(value))
    }

    /// The fingerprint of the record `allowed` names, if it was allowed for a fingerprint.
    pub fn fingerprint_allowed(&mut self, allowed: &Allowed) -> Result<String> {
        if !allowed.fingerprints() {
            return Err(not_allowed(allowed));
        }
        self.fingerprint(allowed.vault(), allowed.coordinate())
    }

    /// Every current value of `vault`, named by coordinate, for building a redactor that
    /// scrubs what comes back from outside (a brokered ssh command's output): the values go
    /// into the redactor's patterns and nowhere else. No decision covers this because none
    /// is disclosed: a redactor only ever removes them.
    pub fn values_to_scrub(&mut self, vault: &VaultName) -> Result<Vec<(Coordinate, SecretBytes)>> {
        let listing = self.list_shared(vault)?;
        let mut out = Vec::with_capacity(listing.records.len());
        for record in &listing.records {
            let (_, value) = self.read_value(vault, &record.meta.coordinate, None)?;
            out.push((record.meta.coordinate.clone(), SecretBytes::from(value)));
        }
        Ok(out)
    }

    /// One of the daemon's own settings (the system vault, which no scope addresses, so no
    /// decision covers it). `Ok(None)` when it was never written.
    pub fn read_setting(&mut self, coord: &Coordinate) -> Result<Option<(Metadata, SecretBytes)>> {
        let system = VaultName::System;
        if !self.vault_exists(&system)? || self.find(&system, coord)?.is_none() {
            return Ok(None);
        }
        let (meta, value) = self.read_value(&system, coord, None)?;
        Ok(Some((meta, SecretBytes::from(value))))
    }

    /// A keyed fingerprint of the current value: equal values compare equal within this
    /// vault home, and a guess cannot be confirmed without the key.
    fn fingerprint(&mut self, vault: &VaultName, coord: &Coordinate) -> Result<String> {
        let (_, value) = self.read_value(vault, coord, None)?;
        Ok(self.fingerprint_of(&value))
    }

    pub(super) fn fingerprint_of(&self, value: &[u8]) -> String {
        let mac = crypto::mac(self.keys.fingerprint.as_ref(), &[value]);
        format!("kfp:{}", hex_lower(&mac[..12]))
    }
}

fn not_allowed(allowed: &Allowed) -> StoreError {
    StoreError::NotAllowed {
        coordinate: allowed.coordinate().to_string(),
        operation: format!("{:?}", allowed.operation()),
    }
}
