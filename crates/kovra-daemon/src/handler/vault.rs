//! Vault-wide operations: projects, the audit trail, the passphrase and the data keys.

use kovra_core::coord::Coordinate;
use kovra_core::model::VaultName;
use kovra_core::policy;
use kovra_core::store::StoreError;
use kovra_proto::ErrorCode;
use kovra_proto::{Reply, Secret};

use super::{Gate, MIN_PASSPHRASE};
use crate::error::{GateError, check_project, parse_coord};

impl Gate<'_> {
    pub(super) fn project_create(&mut self, name: &str) -> Result<Reply, GateError> {
        self.vault_gate(policy::VaultOperation::CreateProject, "project-create")?;
        check_project(name)?;
        let vault = VaultName::Project(name.to_string());
        self.store.create_vault(
            &vault,
            self.info.entry("project-create", None, Some(&vault), "ok"),
        )?;
        Ok(Reply::Done {
            message: format!("project {name} created"),
        })
    }

    pub(super) fn project_list(&mut self) -> Result<Reply, GateError> {
        self.vault_gate(policy::VaultOperation::ListProjects, "project-list")?;
        let mut projects: Vec<String> = self
            .store
            .vaults()?
            .into_iter()
            .filter_map(|v| match v {
                VaultName::Project(p)
                    if self
                        .info
                        .scope
                        .addresses_vault(&VaultName::Project(p.clone())) =>
                {
                    Some(p)
                }
                _ => None,
            })
            .collect();
        projects.sort();
        Ok(Reply::Projects { projects })
    }

    pub(super) fn audit(
        &mut self,
        coordinate: Option<String>,
        since: Option<u64>,
        action: Option<String>,
        last: Option<usize>,
    ) -> Result<Reply, GateError> {
        self.vault_gate(policy::VaultOperation::ReadAudit, "audit")?;
        let filter_coord = match coordinate.as_deref() {
            Some(c) => Some(parse_coord(c)?.unpinned().path()),
            None => None,
        };
        let entries = self.store.audit_entries()?;
        let mut entries: Vec<_> = entries
            .into_iter()
            .filter(|e| self.audit_entry_in_scope(e))
            .filter(|e| policy::audit_shows(&e.action, self.info.origin))
            .filter(|e| since.is_none_or(|s| e.time >= s))
            .filter(|e| action.as_deref().is_none_or(|a| e.action == a))
            .filter(|e| {
                filter_coord.as_deref().is_none_or(|want| {
                    e.coordinate
                        .as_deref()
                        .and_then(|c| Coordinate::parse(c).ok())
                        .is_some_and(|c| c.path() == want)
                })
            })
            .collect();
        if let Some(n) = last {
            entries.drain(..entries.len().saturating_sub(n));
        }
        Ok(Reply::Audit { entries })
    }

    /// A scoped session reads only entries about what it can address; vault-wide entries
    /// (unlock, lock, passwd) are shown only to a full scope.
    pub(super) fn audit_entry_in_scope(&self, e: &kovra_core::audit::AuditEntry) -> bool {
        if self.info.scope.is_full() {
            return true;
        }
        let vault = match e.vault.as_deref() {
            Some("global") => VaultName::Global,
            Some(label) => match label.strip_prefix("project:") {
                Some(p) => VaultName::Project(p.to_string()),
                None => return false,
            },
            None => return false,
        };
        let Some(coord) = e
            .coordinate
            .as_deref()
            .and_then(|c| Coordinate::parse(c).ok())
        else {
            return self.info.scope.addresses_vault(&vault);
        };
        self.info
            .scope
            .addresses(&vault, coord.env(), self.production(coord.env()))
    }

    pub(super) fn audit_verify(&mut self) -> Result<Reply, GateError> {
        self.vault_gate(policy::VaultOperation::VerifyAudit, "audit-verify")?;
        let report = self.store.verify_audit()?;
        Ok(Reply::AuditVerified(report))
    }

    pub(super) fn passwd(&mut self, old: &Secret, new: &Secret) -> Result<Reply, GateError> {
        self.vault_gate(policy::VaultOperation::ChangePassphrase, "passwd")?;
        if self.store.check_passphrase(old.expose()).is_err() {
            *self.failures += 1;
            let mut e = self.info.entry("passwd", None, None, "deny");
            e.reason = Some("wrong passphrase".into());
            self.store.audit(e)?;
            return Err(GateError::from(StoreError::WrongPassphrase));
        }
        if new.len() < MIN_PASSPHRASE {
            return Err(GateError::new(
                ErrorCode::PassphraseWeak,
                format!("the new passphrase must be at least {MIN_PASSPHRASE} characters"),
            ));
        }
        let entry = self.info.entry("passwd", None, None, "ok");
        self.store
            .change_passphrase(new.expose(), self.daemon.kdf, entry)?;
        Ok(Reply::Done {
            message: "passphrase changed".into(),
        })
    }

    pub(super) fn rotate_key(&mut self) -> Result<Reply, GateError> {
        self.vault_gate(policy::VaultOperation::RotateKeys, "rotate-key")?;
        let entry = self.info.entry("rotate-key", None, None, "ok");
        let n = self.store.rotate_data_keys(entry)?;
        Ok(Reply::Done {
            message: format!("data keys rotated; {n} versions re-sealed"),
        })
    }
}
