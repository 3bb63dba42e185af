//! Vault-wide upkeep: changing the passphrase, rotating the data keys, and reading and
//! verifying the audit trail.

use std::collections::HashMap;

use rusqlite::params;

use super::layout::{self, DekProblem, Lookup};
use super::locked::{ProofVerifier, read_header};
use super::unlocked::lookup_from;
use super::{AuditReport, Result, StoreError, UnlockedStore};
use crate::audit::{AuditEntry, ChainBreak, GENESIS};
use crate::crypto::{self, KdfParams, Key};

impl UnlockedStore {
    /// Re-wrap the root key under a new passphrase.
    pub fn change_passphrase(
        &mut self,
        new_passphrase: &[u8],
        kdf: KdfParams,
        audit: AuditEntry,
    ) -> Result<()> {
        let salt: [u8; 16] = crypto::random_array();
        let kek = crypto::derive_kek(new_passphrase, &salt, kdf).map_err(StoreError::Kdf)?;
        let wrapped = layout::wrap_root(&kek, &self.uuid, &kdf, &salt, &self.root);
        let kdf_json = serde_json::to_string(&kdf).unwrap_or_default();
        self.write(|p, tx| {
            tx.execute(
                "UPDATE header SET kdf = ?1, salt = ?2, wrapped_root = ?3 WHERE id = 1",
                params![kdf_json, salt.as_slice(), wrapped],
            )?;
            p.append_audit_tx(tx, audit)
        })?;
        self.proof = ProofVerifier::new(&kek, &salt, kdf);
        Ok(())
    }

    /// The verifier of passphrase proofs for the passphrase this store was opened with.
    pub fn proof_verifier(&self) -> &ProofVerifier {
        &self.proof
    }

    /// Give every vault a new data key and re-seal every version of every record under it,
    /// all in one transaction. Returns how many versions were re-sealed.
    pub fn rotate_data_keys(&mut self, audit: AuditEntry) -> Result<u64> {
        let vaults: Vec<(Lookup, Vec<u8>)> = {
            let mut stmt = self
                .conn
                .prepare("SELECT lookup, wrapped_dek FROM vaults")?;
            let rows = stmt.query_map([], |r| {
                Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Vec<u8>>(1)?))
            })?;
            let mut v = Vec::new();
            for row in rows {
                let (l, w) = row?;
                v.push((lookup_from(l)?, w));
            }
            v
        };
        let mut new_deks: HashMap<Lookup, Key> = HashMap::new();
        let mut resealed = 0u64;
        let uuid = self.uuid.clone();
        let wrap = self.keys.wrap.clone();
        self.write(|p, tx| {
            for (vlookup, wrapped) in &vaults {
                let old = layout::unwrap_dek(&wrap, &uuid, vlookup, wrapped).map_err(|problem| {
                    StoreError::VaultTampered(
                        match problem {
                            DekProblem::Unauthentic => "a vault data key does not authenticate",
                            DekProblem::Malformed => "a vault data key is malformed",
                        }
                        .into(),
                    )
                })?;
                let new = crypto::random_key();
                tx.execute(
                    "UPDATE vaults SET wrapped_dek = ?1 WHERE lookup = ?2",
                    params![layout::wrap_dek(&wrap, &uuid, vlookup, &new), vlookup.as_slice()],
                )?;
                let mut stmt = tx.prepare(
                    "SELECT v.record, v.version, v.meta, v.value FROM versions v JOIN records r ON r.lookup = v.record
                     WHERE r.vault = ?1",
                )?;
                let rows = stmt.query_map([vlookup.as_slice()], |r| {
                    Ok((
                        r.get::<_, Vec<u8>>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, Vec<u8>>(2)?,
                        r.get::<_, Vec<u8>>(3)?,
                    ))
                })?;
                let mut updates = Vec::new();
                for row in rows {
                    let (rl, ver, meta, value) = row?;
                    let rl = lookup_from(rl)?;
                    let slot = layout::Slot {
                        uuid: &uuid,
                        vault: vlookup,
                        record: &rl,
                        version: ver as u64,
                    };
                    let tampered = || {
                        StoreError::VaultTampered(
                            "a record failed authentication during rotation".into(),
                        )
                    };
                    let meta_plain =
                        layout::open_meta_json(&old, &slot, &meta).map_err(|_| tampered())?;
                    let value_plain =
                        layout::open_value(&old, &slot, &meta, &value).map_err(|_| tampered())?;
                    let sealed = layout::seal_version(&new, &slot, &meta_plain, &value_plain);
                    updates.push((rl, ver, sealed));
                }
                drop(stmt);
                for (rl, ver, sealed) in updates {
                    tx.execute(
                        "UPDATE versions SET meta = ?1, value = ?2 WHERE record = ?3 AND version = ?4",
                        params![sealed.meta, sealed.value, rl.as_slice(), ver],
                    )?;
                    resealed += 1;
                }
                new_deks.insert(*vlookup, new);
            }
            p.append_audit_tx(
                tx,
                AuditEntry {
                    detail: Some(format!("{resealed} versions re-sealed")),
                    ..audit
                },
            )
        })?;
        self.deks = new_deks;
        // Re-sealed rows open to the same metadata; forgotten anyway, so a listing is
        // never older than the rows it came from.
        self.forget_listings();
        Ok(resealed)
    }

    /// Every audit entry, oldest first (entries that fail authentication are skipped;
    /// `verify_audit` reports them).
    pub fn audit_entries(&self) -> Result<Vec<AuditEntry>> {
        let mut stmt = self
            .conn
            .prepare("SELECT seq, entry FROM audit ORDER BY seq")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, sealed) = row?;
            if let Ok(e) = self.keys.audit.open_entry(seq as u64, &sealed) {
                out.push(e);
            }
        }
        Ok(out)
    }

    /// Walk the chain from genesis and compare its end with the recorded head.
    pub fn verify_audit(&self) -> Result<AuditReport> {
        let header = read_header(&self.conn)?;
        // One pass: borrowed columns, one keyed MAC state and one open buffer for every
        // entry, so 100,000 entries cost no allocation each.
        let mut stmt = self
            .conn
            .prepare_cached("SELECT seq, entry, link FROM audit ORDER BY seq")?;
        let mut rows = stmt.query([])?;
        let mut check = self.keys.audit.chain_check();
        let mut prev = GENESIS;
        let mut expected = 1u64;
        let fail = |entries, problem| {
            Ok(AuditReport {
                entries,
                ok: false,
                problem: Some(problem),
            })
        };
        while let Some(row) = rows.next()? {
            let seq = row.get::<_, i64>(0)? as u64;
            let sealed = row.get_ref(1)?.as_blob().map_err(not_a_blob)?;
            let link = row.get_ref(2)?.as_blob().map_err(not_a_blob)?;
            if seq != expected {
                return fail(
                    expected - 1,
                    ChainBreak::Gap {
                        expected,
                        found: seq,
                    },
                );
            }
            let want = check.link(&prev, seq, sealed);
            if !crypto::mac_eq(&want, link) {
                return fail(seq - 1, ChainBreak::BadLink { seq });
            }
            if !check.opens(seq, sealed) {
                return fail(seq - 1, ChainBreak::Unreadable { seq });
            }
            prev = want;
            expected += 1;
        }
        drop(rows);
        drop(stmt);
        let last = expected - 1;
        // The daemon's memory and the header both record the head; either catching a
        // truncation is enough.
        let recorded = self.audit_seq.max(header.audit_seq);
        if last < recorded {
            return fail(
                last,
                ChainBreak::Truncated {
                    expected_last: recorded,
                    found_last: last,
                },
            );
        }
        let header_ok = crypto::mac_eq(
            &layout::header_mac(
                &self.keys.header,
                &self.uuid,
                &self.state_tag,
                header.audit_seq,
                &self.audit_head,
            ),
            &header.state_mac,
        );
        if !header_ok
            || !crypto::mac_eq(&prev, &self.audit_head)
            || !crypto::mac_eq(&prev, &header.audit_head)
        {
            return fail(last, ChainBreak::HeadMismatch);
        }
        Ok(AuditReport {
            entries: last,
            ok: true,
            problem: None,
        })
    }
}

fn not_a_blob(_: rusqlite::types::FromSqlError) -> StoreError {
    StoreError::Corrupt("an audit row holds something other than bytes".into())
}
