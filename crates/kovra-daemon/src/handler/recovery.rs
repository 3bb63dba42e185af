//! The recovery kit, backups and restores (`docs/recovery.md`).
//!
//! Making a kit and writing a backup go through the gate like any vault-wide operation.
//! Recovering and restoring happen while the vault is locked (there is no key yet, or the
//! file is about to be replaced), so they are answered before the gate, like `unlock`; the
//! decision is still `decide_vault`'s. For a restore, presence is what it is for a typed
//! unlock: the backup's passphrase typed at a terminal by a human, to a daemon whose typed
//! passphrases still prove presence.

use std::path::Path;

use kovra_core::model::Origin;
use kovra_core::policy::{self, Decision, Presence, VaultOperation};
use kovra_core::recovery::RecoveryKey;
use kovra_core::store::{self, BackupFile, Freshness, LockedStore, StoreError, UnlockedStore};
use kovra_proto::{ErrorCode, Reply, Secret};

use super::{Daemon, Gate, Info, Inner, MIN_PASSPHRASE};
use crate::error::GateError;

/// Refuse what `decide_vault` does not allow, before the gate (nothing to audit into yet).
fn decided(op: VaultOperation, info: &Info, presence: Presence) -> Result<(), GateError> {
    match policy::decide_vault(op, &info.scope, presence, info.origin) {
        Decision::Allow => Ok(()),
        Decision::NeedsProof(r) => {
            Err(GateError::new(ErrorCode::NeedsProof, r.message()).hint(r.hint()))
        }
        Decision::Deny(r) => {
            Err(GateError::new(ErrorCode::PolicyDenied, r.message()).hint(r.hint()))
        }
        Decision::Unaddressable => Err(GateError::new(
            ErrorCode::PolicyDenied,
            "refused: out of this session's scope",
        )),
    }
}

fn locked_first(what: &str) -> GateError {
    GateError::new(
        ErrorCode::VaultUnlocked,
        format!("{what} works on a locked vault, and this daemon is unlocked"),
    )
    .hint("`kovra lock` first (the CLI does this itself)")
}

impl Gate<'_> {
    pub(super) fn recovery_kit(&mut self) -> Result<Reply, GateError> {
        self.vault_gate(VaultOperation::CreateRecoveryKit, "recovery-kit")?;
        let replaced = self.store.recovery_kit_created()?.is_some();
        let mut entry = self.info.entry("recovery-kit", None, None, "ok");
        if replaced {
            entry.detail = Some("the earlier kit no longer opens the vault".into());
        }
        let key = self.store.new_recovery_kit(entry)?;
        let kit = key.to_kit();
        Ok(Reply::RecoveryKit {
            kit: Secret::new(kit.expose().as_bytes().to_vec()),
            replaced,
        })
    }

    pub(super) fn backup(&mut self, path: &str) -> Result<Reply, GateError> {
        self.vault_gate(VaultOperation::Backup, "backup")?;
        let dest = Path::new(path);
        if !dest.is_absolute() {
            return Err(GateError::new(
                ErrorCode::InvalidArgument,
                "the backup's path must be absolute",
            ));
        }
        if dest.exists() {
            return Err(GateError::new(
                ErrorCode::OutputExists,
                format!(
                    "{} already exists; a backup never replaces a file",
                    dest.display()
                ),
            ));
        }
        let mut entry = self.info.entry("backup", None, None, "ok");
        entry.detail = Some(dest.display().to_string());
        let info = self.store.backup_to(dest, entry)?;
        self.store.acknowledge()?;
        Ok(Reply::Done {
            message: format!(
                "backup of vault {} written to {} ({} audit entries); restore it with `kovra restore {}`",
                info.state.vault_id,
                dest.display(),
                info.state.audit_seq,
                dest.display()
            ),
        })
    }
}

impl Daemon {
    /// Said at unlock when the vault file is behind what this home last acknowledged: it was
    /// replaced or rolled back outside kovra (`docs/recovery.md` §3). A warning, not a
    /// refusal: the file itself authenticates, and it may be the only copy there is.
    pub(super) fn behind_acknowledged(&self, store: &UnlockedStore) -> Option<String> {
        let ack = store::acknowledged(&self.paths.home)?;
        let now = store.state();
        let why = match now.compare(&ack) {
            Freshness::Current => return None,
            Freshness::Older => format!(
                "it holds {} audit entries, and this home last acknowledged {}",
                now.audit_seq, ack.audit_seq
            ),
            Freshness::Diverged => format!(
                "its audit chain has another head than this home last acknowledged at entry {}",
                ack.audit_seq
            ),
            Freshness::OtherVault => format!(
                "it is vault {}, and this home last acknowledged vault {}",
                now.vault_id, ack.vault_id
            ),
        };
        tracing::warn!(%why, "the vault file is behind the acknowledged state");
        Some(format!(
            "; warning: this vault file is behind this home's last acknowledged state ({why}): it was replaced or rolled back outside kovra; `kovra audit` shows what the trail holds"
        ))
    }

    pub(super) fn recover(
        &self,
        inner: &mut Inner,
        info: &Info,
        kit: &Secret,
        passphrase: &Secret,
        unattended: bool,
    ) -> Result<Reply, GateError> {
        if let Some(refused) = Self::before_passphrase() {
            return Err(refused);
        }
        // The kit is itself the proof.
        decided(VaultOperation::Recover, info, Presence::Proven)?;
        if inner.store.is_some() {
            return Err(locked_first("recover"));
        }
        if passphrase.len() < MIN_PASSPHRASE {
            return Err(GateError::new(
                ErrorCode::PassphraseWeak,
                format!("the new passphrase must be at least {MIN_PASSPHRASE} characters"),
            ));
        }
        let key = RecoveryKey::parse(kit.expose())
            .map_err(|e| GateError::new(ErrorCode::RecoveryKitInvalid, e.to_string()))?;
        let locked = LockedStore::open(&self.paths.home)?;
        let entry = info.entry("recover", None, None, "ok");
        let mut store = match locked.recover(&key, passphrase.expose(), self.kdf, entry) {
            Ok(store) => store,
            Err(e) => {
                if matches!(e, StoreError::WrongRecoveryKit) {
                    inner.failures += 1;
                    inner.failed_unlocks_while_locked += 1;
                }
                return Err(GateError::from(e));
            }
        };
        store.acknowledge()?;
        inner.failures = 0;
        Self::passphrase_accepted(inner, info, unattended);
        crate::stream::keep_listings(&mut store);
        inner.store = Some(store);
        self.load_profiles(inner, info);
        Ok(Reply::Done {
            message: "passphrase replaced with the recovery kit; the old passphrase no longer opens the vault, and the vault is unlocked".into(),
        })
    }

    pub(super) fn restore(
        &self,
        inner: &mut Inner,
        info: &Info,
        path: &str,
        passphrase: &Secret,
        allow_rollback: bool,
        unattended: bool,
    ) -> Result<Reply, GateError> {
        if let Some(refused) = Self::before_passphrase() {
            return Err(refused);
        }
        decided(
            VaultOperation::Restore { rollback: false },
            info,
            Presence::None,
        )?;
        if inner.store.is_some() {
            return Err(locked_first("restore"));
        }
        let home = &self.paths.home;
        let backup = BackupFile::read(Path::new(path))?;
        // Compared with the backup's header before anything is staged; the staging then
        // checks that header against the database the tag authenticates.
        let behind = store::known_states(home)
            .iter()
            .map(|known| (backup.info.state.compare(known), known.clone()))
            .find(|(f, _)| *f != Freshness::Current);
        if let Some((freshness, known)) = &behind {
            if !allow_rollback {
                let why = match freshness {
                    Freshness::Older => format!(
                        "the backup holds {} audit entries and this home has seen {}",
                        backup.info.state.audit_seq, known.audit_seq
                    ),
                    Freshness::Diverged => format!(
                        "the backup and this home's vault both hold {} audit entries, with different heads",
                        known.audit_seq
                    ),
                    _ => format!(
                        "the backup is of vault {}, and this home's is {}",
                        backup.info.state.vault_id, known.vault_id
                    ),
                };
                return Err(GateError::new(
                    ErrorCode::BackupOlder,
                    format!("restore refused: {why}; the vault was not changed"),
                ));
            }
            let presence = if !unattended && info.origin == Origin::Human && inner.passphrase_proofs
            {
                Presence::Proven
            } else {
                Presence::None
            };
            decided(VaultOperation::Restore { rollback: true }, info, presence)?;
        }
        let staged = match backup.stage(home, passphrase.expose()) {
            Ok(staged) => staged,
            Err(e) => {
                if matches!(e, StoreError::WrongPassphrase) {
                    inner.failures += 1;
                }
                return Err(GateError::from(e));
            }
        };
        let state = staged.state();
        let mut entry = info.entry("restore", None, None, "ok");
        entry.detail = Some(format!("from {path}"));
        if behind.is_some() {
            entry.reason = Some("rollback-allowed".into());
        }
        let aside = staged.install(home, entry)?;
        let mut store = LockedStore::open(home)?.unlock(passphrase.expose())?;
        store.acknowledge()?;
        Self::passphrase_accepted(inner, info, unattended);
        crate::stream::keep_listings(&mut store);
        inner.store = Some(store);
        self.load_profiles(inner, info);
        let kept = aside.map_or(String::new(), |p| {
            format!("; the vault it replaced is kept at {}", p.display())
        });
        Ok(Reply::Done {
            message: format!(
                "backup of vault {} ({} audit entries) restored and unlocked{kept}",
                state.vault_id, state.audit_seq
            ),
        })
    }
}
