//! The vault's life outside the gate: status, creating and unlocking (with the
//! passphrase and second-factor checks that come before any key is in memory).

use kovra_core::model::{Origin, VaultName};
use kovra_core::policy::Scope;
use kovra_core::store::{LockedStore, StoreError, UnlockedStore};
use kovra_proto::ErrorCode;
use kovra_proto::{PROTOCOL_VERSION, Reply, Secret, StatusInfo};

use super::{Daemon, Info, Inner, MIN_PASSPHRASE, twofactor};
use crate::error::GateError;

impl Daemon {
    pub(super) fn status(&self, inner: &mut Inner, scope: &Scope) -> StatusInfo {
        let idle = self.config.idle_timeout_secs;
        let (vault_id, records, projects, locks_in) = match inner.store.as_mut() {
            Some(s) => {
                let projects = s.vaults().ok().map(|v| {
                    v.into_iter()
                        .filter(|n| scope.addresses_vault(n))
                        .filter_map(|n| match n {
                            VaultName::Project(p) => Some(p),
                            VaultName::Global | VaultName::System => None,
                        })
                        .collect()
                });
                let left = idle.saturating_sub(inner.last_activity.elapsed().as_secs());
                (
                    Some(s.vault_id()),
                    Some(s.record_count()),
                    projects,
                    Some(left),
                )
            }
            None => (None, None, None, None),
        };
        StatusInfo {
            protocol: PROTOCOL_VERSION,
            daemon_pid: std::process::id(),
            home: self.paths.home.display().to_string(),
            socket: self.paths.socket.display().to_string(),
            initialized: LockedStore::exists(&self.paths.home),
            unlocked: inner.store.is_some(),
            vault_id,
            records,
            projects,
            idle_timeout_secs: idle,
            locks_in_secs: locks_in,
            production_environments: self.config.production_envs.iter().cloned().collect(),
            passphrase_proofs: inner.passphrase_proofs,
            agent: None,
            scope: Some(scope.clone()),
        }
    }

    /// Refuse to take a passphrase while traced (the daemon refused to start traced, but
    /// look again before a key comes into memory).
    pub(super) fn before_passphrase() -> Option<GateError> {
        let tracer = crate::os::own_tracer().filter(|t| *t != 0)?;
        tracing::error!(tracer, "traced: refusing to take a passphrase");
        Some(
            GateError::new(
                ErrorCode::DaemonTraced,
                format!(
                    "the daemon is being traced by pid {tracer}; it will not take a passphrase"
                ),
            )
            .hint("stop the tracing process, then `kovra daemon stop` and retry"),
        )
    }

    /// A correct passphrase that came from a file or descriptor (or from a caller without a
    /// terminal) is known to whatever could read that file: from now on only a second
    /// factor proves presence to this daemon.
    pub(super) fn passphrase_accepted(inner: &mut Inner, info: &Info, unattended: bool) {
        if unattended || info.origin == Origin::Agent {
            inner.passphrase_proofs = false;
        }
    }

    /// What a new or opened vault says after an unattended unlock without a second factor
    /// or a passkey (either still proves presence).
    pub(super) fn unattended_note(inner: &Inner, store: &mut UnlockedStore) -> &'static str {
        if inner.passphrase_proofs
            || twofactor::active(store)
            || super::passkey::any_enrolled(store)
        {
            ""
        } else {
            "; the passphrase came from a file, so a typed passphrase no longer proves presence to this daemon and no second factor is enrolled: stop the daemon and unlock at a terminal, then `kovra 2fa enable` so a code can answer after unattended unlocks"
        }
    }

    pub(super) fn init(
        &self,
        inner: &mut Inner,
        info: &Info,
        passphrase: &Secret,
        unattended: bool,
    ) -> Result<Reply, GateError> {
        if let Some(refused) = Self::before_passphrase() {
            return Err(refused);
        }
        if passphrase.len() < MIN_PASSPHRASE {
            return Err(GateError::new(
                ErrorCode::PassphraseWeak,
                format!("the passphrase must be at least {MIN_PASSPHRASE} characters"),
            )
            .hint("choose a longer passphrase; a weak passphrase is weak protection"));
        }
        let mut store = LockedStore::create(&self.paths.home, passphrase.expose(), self.kdf)?;
        store.create_vault(
            &VaultName::Global,
            info.entry("init", None, Some(&VaultName::Global), "ok"),
        )?;
        let id = store.vault_id();
        Self::passphrase_accepted(inner, info, unattended);
        let note = Self::unattended_note(inner, &mut store);
        inner.store = Some(store);
        self.load_profiles(inner, info);
        Ok(Reply::Done {
            message: format!("vault {id} created and unlocked{note}"),
        })
    }

    pub(super) fn unlock(
        &self,
        inner: &mut Inner,
        info: &Info,
        passphrase: &Secret,
        code: Option<&Secret>,
        unattended: bool,
    ) -> Result<Reply, GateError> {
        if let Some(refused) = Self::before_passphrase() {
            return Err(refused);
        }
        if let Some(store) = inner.store.as_mut() {
            // Still a passphrase (and code) check: "already unlocked" must not answer every
            // guess with yes.
            if let Err(e) = store.check_passphrase(passphrase.expose()) {
                inner.failures += 1;
                return Err(GateError::from(e));
            }
            let entry = info.entry("unlock", None, None, "ok");
            return match twofactor::unlock_check(store, code, &entry) {
                Ok(()) => {
                    Self::passphrase_accepted(inner, info, unattended);
                    Ok(Reply::Done {
                        message: "vault already unlocked".into(),
                    })
                }
                Err((refused, failed)) => {
                    if failed {
                        inner.failures += 1;
                    }
                    Err(refused)
                }
            };
        }
        let locked = LockedStore::open(&self.paths.home)?;
        match locked.unlock(passphrase.expose()) {
            Ok(mut store) => {
                let failed = std::mem::take(&mut inner.failed_unlocks_while_locked);
                inner.failures = 0;
                let mut entry = info.entry("unlock", None, None, "ok");
                if failed > 0 {
                    entry.detail = Some(format!(
                        "{failed} failed unlock attempt(s) since the last unlock"
                    ));
                }
                // The second factor is inside the vault: checked once the passphrase opened
                // it; on failure the opened store is dropped (and its keys zeroized).
                if let Err((refused, failed)) = twofactor::unlock_check(&mut store, code, &entry) {
                    if failed {
                        inner.failures += 1;
                        inner.failed_unlocks_while_locked += 1;
                    }
                    return Err(refused);
                }
                let behind = self.behind_acknowledged(&store);
                if let Some(warning) = &behind {
                    let detail = entry.detail.take().map_or(String::new(), |d| d + "; ");
                    entry.detail = Some(format!("{detail}{}", warning.trim_start_matches("; ")));
                }
                store.audit(entry)?;
                for detail in std::mem::take(&mut inner.bypasses_while_locked) {
                    let mut e = info.entry("scan-bypass", None, None, "allow");
                    e.detail = Some(detail);
                    store.audit(e)?;
                }
                Self::passphrase_accepted(inner, info, unattended);
                let note = Self::unattended_note(inner, &mut store);
                crate::stream::keep_listings(&mut store);
                inner.store = Some(store);
                self.load_profiles(inner, info);
                let behind = behind.unwrap_or_default();
                Ok(Reply::Done {
                    message: format!("vault unlocked{behind}{note}"),
                })
            }
            Err(e) => {
                if matches!(e, StoreError::WrongPassphrase) {
                    inner.failures += 1;
                    inner.failed_unlocks_while_locked += 1;
                }
                Err(GateError::from(e))
            }
        }
    }
}
