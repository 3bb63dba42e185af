//! The executable allowlist (`kovra allow`): which programs may receive high and
//! production values. A record of the system vault, so it has the same sealing, history
//! and tamper detection as every secret. Split from `refs.rs`, whose runs consult it.

use std::path::Path;

use kovra_core::coord::Coordinate;
use kovra_core::model::VaultName;
use kovra_core::{policy, store};
use kovra_proto::{AllowEntry, ErrorCode, Reply};

use super::Gate;
use crate::error::GateError;
use crate::program::Program;

/// Where the allowlist lives: one record of the system vault, so it has the same sealing,
/// history and tamper detection as every secret.
const ALLOWLIST: &str = "secret:kovra/allowlist/executables";

fn allowlist_coord() -> Result<Coordinate, GateError> {
    Coordinate::parse(ALLOWLIST).map_err(|e| GateError::new(ErrorCode::Internal, e.to_string()))
}

impl Gate<'_> {
    fn allowlist(&mut self) -> Result<Vec<AllowEntry>, GateError> {
        Ok(super::system::load(self.store, &allowlist_coord()?, "allowlist")?.unwrap_or_default())
    }

    fn save_allowlist(
        &mut self,
        entries: &[AllowEntry],
        audit: kovra_core::audit::AuditEntry,
    ) -> Result<(), GateError> {
        let description = "executables allowed to receive high and production values";
        super::system::save(
            self.store,
            &allowlist_coord()?,
            description,
            None,
            &entries,
            audit,
        )
    }

    /// Whether `program` is allowlisted. A listed path whose content changed is an error,
    /// not a silent "no": the user should learn that the binary they trusted is different.
    /// The hash is of the descriptor the run will execute.
    pub(super) fn is_allowlisted(&mut self, program: &Program) -> Result<bool, GateError> {
        let entries = self.allowlist()?;
        let path = program.canonical.display().to_string();
        let listed: Vec<&AllowEntry> = entries.iter().filter(|e| e.path == path).collect();
        if listed.is_empty() {
            return Ok(false);
        }
        let hash = &program.sha256;
        if listed.iter().any(|e| e.sha256 == *hash) {
            Ok(true)
        } else {
            Err(GateError::new(
                ErrorCode::AllowlistHashMismatch,
                format!("{path} is allowlisted, but its content changed since (sha256 {hash})"),
            )
            .hint(
                "check the binary; if it is a trusted update, run `kovra allow add` for it again",
            ))
        }
    }

    pub(super) fn allow_add(&mut self, path: &str) -> Result<Reply, GateError> {
        let canonical = Path::new(path).canonicalize().map_err(|e| {
            GateError::new(ErrorCode::CommandNotFound, format!("{path}: {e}"))
                .hint("give the path of an existing executable")
        })?;
        let program = crate::program::open_path(&canonical, path)?;
        if program.user_writable {
            return Err(GateError::new(
                ErrorCode::AllowlistWritable,
                format!(
                    "{} can be rewritten by your user, so an agent running as you could change it after it was pinned",
                    canonical.display()
                ),
            )
            .hint(
                "allowlist only files you cannot write (e.g. installed by root under /usr), or copy it somewhere read-only for you",
            ));
        }
        self.vault_gate(policy::VaultOperation::AddToAllowlist, "allow-add")?;
        let sha256 = program.sha256;
        let shown = canonical.display().to_string();
        let mut entries = self.allowlist()?;
        entries.retain(|e| e.path != shown);
        entries.push(AllowEntry {
            path: shown.clone(),
            sha256: sha256.clone(),
            added: store::now(),
        });
        entries.sort_by(|a, b| a.path.cmp(&b.path));
        let mut audit = self
            .info
            .entry("allow-add", None, Some(&VaultName::System), "allow");
        audit.detail = Some(format!("{shown} sha256:{sha256}"));
        self.save_allowlist(&entries, audit)?;
        Ok(Reply::Allowlist { entries })
    }

    pub(super) fn allow_list(&mut self) -> Result<Reply, GateError> {
        self.vault_gate(policy::VaultOperation::ReadAllowlist, "allow-list")?;
        Ok(Reply::Allowlist {
            entries: self.allowlist()?,
        })
    }

    pub(super) fn allow_rm(&mut self, path: &str) -> Result<Reply, GateError> {
        self.vault_gate(policy::VaultOperation::RemoveFromAllowlist, "allow-rm")?;
        let shown = Path::new(path)
            .canonicalize()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| path.to_string());
        let mut entries = self.allowlist()?;
        let before = entries.len();
        entries.retain(|e| e.path != shown && e.path != path);
        if entries.len() == before {
            return Err(GateError::new(
                ErrorCode::NotFound,
                format!("{path} is not on the allowlist"),
            )
            .hint("`kovra allow list` shows it"));
        }
        let mut audit = self
            .info
            .entry("allow-rm", None, Some(&VaultName::System), "allow");
        audit.detail = Some(shown);
        self.save_allowlist(&entries, audit)?;
        Ok(Reply::Allowlist { entries })
    }
}
