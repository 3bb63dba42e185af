//! The unlocked store: its purpose keys, its authenticated record index, the vaults' data
//! keys, and the one write transaction every change goes through.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::layout::{self, DekProblem, Lookup, Slot};
use super::locked::{Header, ProofVerifier, read_header, unwrap_root};
use super::{Keys, Result, StoreError, UnlockedStore, hex_lower, now};
use crate::audit::{AuditEntry, AuditKeys};
use crate::coord::Coordinate;
use crate::crypto::{self, Key, KeyedMac};
use crate::model::VaultName;

pub(super) fn xor_into(acc: &mut [u8; 32], x: &[u8; 32]) {
    for (a, b) in acc.iter_mut().zip(x) {
        *a ^= b;
    }
}

pub(super) fn lookup_from(v: Vec<u8>) -> Result<Lookup> {
    v.try_into()
        .map_err(|_| StoreError::Corrupt("a lookup column has the wrong length".into()))
}

impl UnlockedStore {
    pub(super) fn new(
        conn: Connection,
        path: PathBuf,
        root: Key,
        header: Header,
        proof: ProofVerifier,
    ) -> Result<Self> {
        let keys = Keys {
            index: KeyedMac::new(&crypto::subkey(&root, "index")),
            state: crypto::subkey(&root, "state"),
            wrap: crypto::subkey(&root, "wrap"),
            fingerprint: crypto::subkey(&root, "fingerprint"),
            header: crypto::subkey(&root, "header"),
            audit: AuditKeys::from_root(&root),
        };
        let audit_head: [u8; 32] = header
            .audit_head
            .clone()
            .try_into()
            .map_err(|_| StoreError::Corrupt("audit head has the wrong length".into()))?;
        let mut store = UnlockedStore {
            conn,
            path,
            root,
            uuid: header.uuid.clone(),
            keys,
            index: HashMap::new(),
            state_tag: [0u8; 32],
            audit_seq: header.audit_seq,
            audit_head,
            deks: HashMap::new(),
            proof,
            listed: Default::default(),
        };
        // Rebuild the index and check it against the authenticated state tag: a deleted,
        // added or rolled-back row changes the tag.
        let mut tag = [0u8; 32];
        let mut stmt = store
            .conn
            .prepare("SELECT lookup, vault, version FROM records")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, Vec<u8>>(0)?,
                r.get::<_, Vec<u8>>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })?;
        let mut index = HashMap::new();
        for row in rows {
            let (lookup, vault, version) = row?;
            let (lookup, vault) = (lookup_from(lookup)?, lookup_from(vault)?);
            xor_into(
                &mut tag,
                &store.state_element(&lookup, &vault, version as u64),
            );
            index.insert(lookup, (vault, version as u64));
        }
        drop(stmt);
        let expected = layout::header_mac(
            &store.keys.header,
            &store.uuid,
            &tag,
            header.audit_seq,
            &audit_head,
        );
        if !crypto::mac_eq(&expected, &header.state_mac) {
            return Err(StoreError::VaultTampered(
                "a record row was added, deleted or replaced with an older version, or the audit head was moved, outside kovra"
                    .into(),
            ));
        }
        store.index = index;
        store.state_tag = tag;
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn record_count(&self) -> usize {
        self.index.len()
    }

    /// A stable identifier of this vault home (not secret).
    pub fn vault_id(&self) -> String {
        hex_lower(&self.uuid)
    }

    /// Check a passphrase against the stored wrapping (used for proofs of presence).
    /// The header is read from the file, which anyone with the user's rights can replace;
    /// so the unwrapped key must also be the very key this store holds.
    pub fn check_passphrase(&self, passphrase: &[u8]) -> Result<()> {
        let header = read_header(&self.conn)?;
        let (root, _) = unwrap_root(&header, passphrase)?;
        if crypto::mac_eq(root.as_ref(), self.root.as_ref()) {
            Ok(())
        } else {
            Err(StoreError::WrongPassphrase)
        }
    }

    pub(super) fn state_element(&self, record: &Lookup, vault: &Lookup, version: u64) -> [u8; 32] {
        layout::state_element(&self.keys.state, record, vault, version)
    }

    pub(super) fn vault_lookup(&self, vault: &VaultName) -> Lookup {
        layout::vault_lookup(&self.keys.index, vault)
    }

    pub(super) fn record_lookup(&self, vault: &VaultName, coord: &Coordinate) -> Lookup {
        layout::record_lookup(&self.keys.index, vault, coord)
    }

    /// Where version `version` of `record` in `vault` sits in this vault home.
    pub(super) fn slot<'a>(
        &'a self,
        vault: &'a Lookup,
        record: &'a Lookup,
        version: u64,
    ) -> Slot<'a> {
        Slot {
            uuid: &self.uuid,
            vault,
            record,
            version,
        }
    }

    /// The data key of a vault, unwrapped once and cached.
    pub(super) fn dek(&mut self, vault: &VaultName) -> Result<Option<(Lookup, Key)>> {
        let lookup = self.vault_lookup(vault);
        if let Some(k) = self.deks.get(&lookup) {
            return Ok(Some((lookup, k.clone())));
        }
        if self.known_absent(&lookup)? {
            return Ok(None);
        }
        // Cached: a vault that does not exist (no project vault, no settings yet) is looked
        // up again on every request that asks, and parsing the statement was most of that.
        let wrapped: Option<Vec<u8>> = self
            .conn
            .prepare_cached("SELECT wrapped_dek FROM vaults WHERE lookup = ?1")?
            .query_row([lookup.as_slice()], |r| r.get(0))
            .optional()?;
        let Some(wrapped) = wrapped else {
            self.note_absent(lookup, false);
            return Ok(None);
        };
        let key = layout::unwrap_dek(&self.keys.wrap, &self.uuid, &lookup, &wrapped).map_err(
            |problem| {
                StoreError::VaultTampered(match problem {
                    DekProblem::Unauthentic => {
                        format!("the data key of the {vault} vault does not authenticate")
                    }
                    DekProblem::Malformed => {
                        format!("the data key of the {vault} vault is malformed")
                    }
                })
            },
        )?;
        self.deks.insert(lookup, key.clone());
        Ok(Some((lookup, key)))
    }

    pub(super) fn require_dek(&mut self, vault: &VaultName) -> Result<(Lookup, Key)> {
        match self.dek(vault)? {
            Some(k) => Ok(k),
            None => Err(match vault {
                VaultName::Project(p) => StoreError::UnknownProject(p.clone()),
                // These vaults always exist once created: a missing row was deleted outside kovra.
                VaultName::Global | VaultName::System => {
                    StoreError::Corrupt(format!("the {vault} vault is missing"))
                }
            }),
        }
    }

    pub fn vault_exists(&mut self, vault: &VaultName) -> Result<bool> {
        Ok(self.dek(vault)?.is_some())
    }

    /// Create a vault (the global one on first use, or a project), audited in the same transaction.
    pub fn create_vault(&mut self, vault: &VaultName, audit: AuditEntry) -> Result<()> {
        if self.vault_exists(vault)? {
            return Err(match vault {
                VaultName::Project(p) => StoreError::ProjectExists(p.clone()),
                VaultName::Global | VaultName::System => {
                    StoreError::AlreadyExists(format!("the {vault} vault"))
                }
            });
        }
        let lookup = self.vault_lookup(vault);
        let dek = crypto::random_key();
        let wrapped = layout::wrap_dek(&self.keys.wrap, &self.uuid, &lookup, &dek);
        let sealed_name = layout::seal_vault_name(&self.keys.wrap, &lookup, vault);
        self.write(|s, tx| {
            tx.execute(
                "INSERT INTO vaults (lookup, sealed_name, wrapped_dek) VALUES (?1, ?2, ?3)",
                params![lookup.as_slice(), sealed_name, wrapped],
            )?;
            s.append_audit_tx(tx, audit)
        })?;
        self.note_absent(lookup, true);
        Ok(())
    }

    /// Every vault's name (global and projects).
    pub fn vaults(&self) -> Result<Vec<VaultName>> {
        let mut stmt = self
            .conn
            .prepare("SELECT lookup, sealed_name FROM vaults")?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Vec<u8>>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (lookup, sealed) = row?;
            let name = layout::open_vault_name(&self.keys.wrap, &lookup, &sealed)
                .map_err(|_| {
                    StoreError::VaultTampered("a vault name does not authenticate".into())
                })?
                .ok_or_else(|| StoreError::Corrupt("unreadable vault name".into()))?;
            out.push(name);
        }
        Ok(out)
    }

    /// Run `f` in one immediate transaction; the in-memory state follows only a commit.
    pub(super) fn write<T>(
        &mut self,
        f: impl FnOnce(&mut Pending, &Transaction<'_>) -> Result<T>,
    ) -> Result<T> {
        // A write sees the file as it is now, never a snapshot's view of it.
        self.end_reads();
        let mut pending = Pending {
            audit: &self.keys.audit,
            audit_seq: self.audit_seq,
            audit_head: self.audit_head,
            state_tag: self.state_tag,
            index_changes: Vec::new(),
        };
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let out = f(&mut pending, &tx)?;
        // Cached: every write ends here, and parsing it again cost as much as running it.
        tx.prepare_cached(
            "UPDATE header SET state_mac = ?1, audit_seq = ?2, audit_head = ?3 WHERE id = 1",
        )?
        .execute(params![
            layout::header_mac(
                &self.keys.header,
                &self.uuid,
                &pending.state_tag,
                pending.audit_seq,
                &pending.audit_head
            )
            .as_slice(),
            pending.audit_seq as i64,
            pending.audit_head.as_slice()
        ])?;
        tx.commit()?;
        let Pending {
            audit_seq,
            audit_head,
            state_tag,
            index_changes,
            ..
        } = pending;
        self.audit_seq = audit_seq;
        self.audit_head = audit_head;
        self.state_tag = state_tag;
        for (lookup, entry) in &index_changes {
            // A record was written, moved or removed: its vault's kept listing is stale
            // (a removal names no vault; the index still knows it).
            let vault = entry
                .map(|(v, _)| v)
                .or_else(|| self.index.get(lookup).map(|e| e.0));
            match vault {
                Some(v) => self.forget_listing(&v),
                None => self.forget_listings(),
            }
        }
        for (lookup, entry) in index_changes {
            match entry {
                Some(e) => self.index.insert(lookup, e),
                None => self.index.remove(&lookup),
            };
        }
        Ok(out)
    }

    /// Append one audit entry in its own transaction. Fails if it cannot be written.
    pub fn audit(&mut self, entry: AuditEntry) -> Result<()> {
        self.write(|p, tx| p.append_audit_tx(tx, entry))
    }

    /// Append several entries in one transaction (one sync for a whole run's injections),
    /// their nonces drawn from the OS generator at once (one system call, not one each).
    pub fn audit_all(&mut self, entries: Vec<AuditEntry>) -> Result<()> {
        let mut nonces = vec![[0u8; crypto::NONCE_LEN]; entries.len()];
        crypto::fill_random(nonces.as_flattened_mut());
        self.write(|p, tx| {
            entries
                .into_iter()
                .zip(&nonces)
                .try_for_each(|(e, nonce)| p.append_sealed_tx(tx, e, nonce))
        })
    }
}

/// State a write transaction builds up; applied to the store only after commit.
pub(super) struct Pending<'a> {
    audit: &'a AuditKeys,
    audit_seq: u64,
    audit_head: [u8; 32],
    pub state_tag: [u8; 32],
    pub index_changes: Vec<(Lookup, Option<(Lookup, u64)>)>,
}

impl Pending<'_> {
    pub(super) fn append_audit_tx(
        &mut self,
        tx: &Transaction<'_>,
        entry: AuditEntry,
    ) -> Result<()> {
        self.append_sealed_tx(tx, entry, &crypto::random_array())
    }

    /// [`Self::append_audit_tx`] with the entry's nonce, drawn fresh for it by the caller.
    fn append_sealed_tx(
        &mut self,
        tx: &Transaction<'_>,
        mut entry: AuditEntry,
        nonce: &[u8; crypto::NONCE_LEN],
    ) -> Result<()> {
        // Every writer names a catalogued action (`kovra audit --action` accepts only
        // those); a test in the daemon checks its sources, this catches the rest in tests.
        debug_assert!(
            crate::audit::is_action(&entry.action),
            "audit action `{}` is not in kovra_core::audit::ACTIONS",
            entry.action
        );
        let seq = self.audit_seq + 1;
        entry.seq = seq;
        if entry.time == 0 {
            entry.time = now();
        }
        let sealed = self.audit.seal_entry_with(&entry, nonce);
        let link = self.audit.link(&self.audit_head, seq, &sealed);
        // Cached: a run appends one entry per injected value.
        tx.prepare_cached("INSERT INTO audit (seq, entry, link) VALUES (?1, ?2, ?3)")?
            .execute(params![seq as i64, sealed, link.as_slice()])?;
        self.audit_seq = seq;
        self.audit_head = link;
        Ok(())
    }
}
