//! The root key's second wrapping, under a recovery kit (`crate::recovery`).
//!
//! It lives in its own one-row table, `recovery`, made the first time a kit is created, so
//! a vault without a kit has the format it always had. Making a kit again replaces the row:
//! the old kit then opens nothing. Recovering with the kit re-wraps the root key under a new
//! passphrase in place of the old wrapping, so the forgotten passphrase stops working; the
//! kit itself stays valid until the next `recovery-kit`.

use rusqlite::{OptionalExtension, params};

use super::locked::{ProofVerifier, read_header};
use super::{LockedStore, Result, StoreError, UnlockedStore, layout, now};
use crate::audit::AuditEntry;
use crate::crypto::{self, KdfParams};
use crate::recovery::RecoveryKey;

const TABLE: &str = "CREATE TABLE IF NOT EXISTS recovery (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  salt BLOB NOT NULL,
  wrapped_root BLOB NOT NULL,
  created INTEGER NOT NULL
)";

impl UnlockedStore {
    /// Wrap the root key under a fresh recovery key, replacing any earlier kit, in one
    /// transaction with its audit entry. The caller shows the key once and forgets it.
    pub fn new_recovery_kit(&mut self, audit: AuditEntry) -> Result<RecoveryKey> {
        let key = RecoveryKey::generate();
        let salt: [u8; 16] = crypto::random_array();
        let wrapped = layout::wrap_root_recovery(
            &key.wrapping_key(&self.uuid, &salt),
            &self.uuid,
            &salt,
            &self.root,
        );
        self.write(|p, tx| {
            tx.execute(TABLE, [])?;
            tx.execute(
                "INSERT OR REPLACE INTO recovery (id, salt, wrapped_root, created) VALUES (1, ?1, ?2, ?3)",
                params![salt.as_slice(), wrapped, now() as i64],
            )?;
            p.append_audit_tx(tx, audit)
        })?;
        Ok(key)
    }

    /// When the current kit was made (unix seconds), if there is one.
    pub fn recovery_kit_created(&self) -> Result<Option<u64>> {
        if !has_table(&self.conn)? {
            return Ok(None);
        }
        let created: Option<i64> = self
            .conn
            .query_row("SELECT created FROM recovery WHERE id = 1", [], |r| {
                r.get(0)
            })
            .optional()?;
        Ok(created.map(|c| c as u64))
    }
}

impl LockedStore {
    /// Open the vault with its recovery kit and wrap the root key under `new_passphrase`
    /// instead of the forgotten one, in one transaction with `audit`. Returns the store
    /// unlocked, as if by the new passphrase.
    pub fn recover(
        self,
        key: &RecoveryKey,
        new_passphrase: &[u8],
        kdf: KdfParams,
        audit: AuditEntry,
    ) -> Result<UnlockedStore> {
        let header = read_header(&self.conn)?;
        if !has_table(&self.conn)? {
            return Err(StoreError::NoRecoveryKit);
        }
        let row: Option<(Vec<u8>, Vec<u8>)> = self
            .conn
            .query_row(
                "SELECT salt, wrapped_root FROM recovery WHERE id = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let (salt, wrapped) = row.ok_or(StoreError::NoRecoveryKit)?;
        let wrapping = key.wrapping_key(&header.uuid, &salt);
        let root = layout::unwrap_root_recovery(&wrapping, &header.uuid, &salt, &wrapped)
            .map_err(|_| StoreError::WrongRecoveryKit)?;
        // A stand-in verifier until `change_passphrase` sets the new passphrase's.
        let proof = ProofVerifier::new(&wrapping, &header.salt, header.kdf);
        let mut store = UnlockedStore::new(self.conn, self.path, root, header, proof)?;
        store.change_passphrase(new_passphrase, kdf, audit)?;
        Ok(store)
    }
}

fn has_table(conn: &rusqlite::Connection) -> Result<bool> {
    let n: i64 = conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'recovery'",
        [],
        |r| r.get(0),
    )?;
    Ok(n > 0)
}
