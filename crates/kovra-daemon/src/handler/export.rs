//! `kovra export --format dotenv`: a non-production environment's values handed to the
//! human, so leaving kovra is always possible. Each record is decided as a
//! `dotenv-export` (production refused, agents refused, a proof always); one refusal
//! refuses the export.

use kovra_core::model::{Operation, RecordKind, Sensitivity, VaultName};
use kovra_core::policy::{Decision, Reason, RecordFacts};
use kovra_proto::import::{ExportEntry, ExportReply, ExportRequest};
use kovra_proto::{ErrorCode, Reply, Secret};

use super::{Gate, Op};
use crate::error::{GateError, parse_coord};

/// A record key as a variable name: letters, digits and `_`; others become `_`.
pub(super) fn variable_name(key: &str) -> String {
    let mut name: String = key
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert(0, '_');
    }
    name
}

impl Gate<'_> {
    pub(super) fn export_dotenv(&mut self, req: &ExportRequest) -> Result<Reply, GateError> {
        let env = &req.env;
        let vault = match &self.project {
            Some(p) => VaultName::Project(p.clone()),
            None => VaultName::Global,
        };
        // The environment first: production is refused even when it is empty.
        let env_coord = parse_coord(&format!("secret:{env}/kovra/export"))?;
        let env_facts = Some(RecordFacts {
            sensitivity: Sensitivity::Low,
            revealable: false,
            kind: RecordKind::Secret,
        });
        let env_decision = self.decide_facts(
            &vault,
            &env_coord,
            env_facts,
            Op::plain(Operation::DotenvExport),
        );
        if let Decision::Deny(r) = env_decision {
            return Err(self.export_denied(r, &vault, format!("environment {env}")));
        }
        let listing = self.store.list_shared(&vault)?;
        let selected: Vec<_> = listing
            .records
            .iter()
            .filter(|r| {
                let c = &r.meta.coordinate;
                c.env() == env && req.group.as_deref().is_none_or(|g| g == c.group())
            })
            .cloned()
            .collect();
        let mut tokens = Vec::with_capacity(selected.len());
        let mut decisions = Vec::with_capacity(selected.len());
        let mut names: Vec<(String, String)> = Vec::with_capacity(selected.len());
        for r in &selected {
            let coord = &r.meta.coordinate;
            match self.authorize_one(&vault, coord, Some(r), Op::plain(Operation::DotenvExport)) {
                Ok(allowed) => tokens.push(allowed),
                // Out of scope is absent: it is not exported, and not mentioned.
                Err(Decision::Unaddressable) => continue,
                Err(Decision::Deny(reason)) => {
                    return Err(self.export_denied(reason, &vault, coord.to_string()));
                }
                Err(d) => decisions.push(d),
            }
            let name = variable_name(coord.key());
            if let Some((_, first)) = names.iter().find(|(n, _)| *n == name) {
                return Err(GateError::new(
                    ErrorCode::InvalidArgument,
                    format!("{first} and {coord} would both be exported as {name}"),
                )
                .hint("export one group at a time with --group"));
            }
            names.push((name, coord.to_string()));
        }
        if names.is_empty() {
            return Err(GateError::new(
                ErrorCode::NotFound,
                format!("no records in environment {env} of the {vault} vault"),
            )
            .hint("`kovra list --env ENV` shows what there is"));
        }
        if let Decision::NeedsProof(r) = Decision::all(decisions) {
            self.facts.push(kovra_proto::Fact {
                name: "records".into(),
                value: names
                    .iter()
                    .map(|(_, c)| c.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                untrusted: false,
            });
            let message = format!("export {env} ({} records): {}", names.len(), r.message());
            return Err(self.needs_proof("export", None, Some(&vault), r, message));
        }
        let mut entries = Vec::with_capacity(tokens.len());
        let mut audit = Vec::with_capacity(tokens.len());
        for (allowed, (name, _)) in tokens.iter().zip(names) {
            let (meta, value) = self.open(allowed, None)?;
            audit.push(self.allowed("export", &meta.coordinate, &vault));
            entries.push(ExportEntry {
                coordinate: meta.coordinate.to_string(),
                name,
                value: Secret::new(value.expose().to_vec()),
            });
        }
        self.store.audit_all(audit)?;
        Ok(Reply::Exported(Box::new(ExportReply {
            env: env.clone(),
            entries,
        })))
    }

    /// Refuse, audited, with the policy reason.
    fn export_denied(&mut self, reason: Reason, vault: &VaultName, what: String) -> GateError {
        let mut e = self.info.entry("export", None, Some(vault), "deny");
        e.reason = Some(reason.code().to_string());
        e.detail = Some(what.clone());
        if let Err(err) = self.store.audit(e) {
            return GateError::from(err);
        }
        GateError::new(
            ErrorCode::PolicyDenied,
            format!("export {what} refused: {}", reason.message()),
        )
        .hint(reason.hint())
    }
}

#[cfg(test)]
mod tests {
    use super::variable_name;

    #[test]
    fn keys_become_variable_names() {
        assert_eq!(variable_name("DATABASE_URL"), "DATABASE_URL");
        assert_eq!(variable_name("api-key.v2"), "api_key_v2");
        assert_eq!(variable_name("2fa"), "_2fa");
    }
}
