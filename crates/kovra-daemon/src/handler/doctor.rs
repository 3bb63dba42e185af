//! `kovra doctor`: a refs file checked against the vault, metadata only (unresolved,
//! unused, shadowed and fallback lines, what a run would get), and the agent profiles that
//! loosen the defaults.

use std::collections::BTreeSet;

use kovra_core::coord::{CoordError, CoordinateTemplate};
use kovra_core::envrefs::{self, RefValue};
use kovra_core::model::{Operation, VaultName};
use kovra_core::policy::{self, Decision, fallback_refused};
use kovra_proto::{Finding, Reply};

use super::{Gate, Op};
use crate::error::GateError;

impl Gate<'_> {
    /// Check a refs file against the vault: metadata only, nothing is read or injected.
    pub(super) fn doctor(
        &mut self,
        refs: &str,
        refs_path: &str,
        env_name: Option<&str>,
        caller_vars: &[String],
    ) -> Result<Reply, GateError> {
        let mut findings = Vec::new();
        // The coordinate of each `database-proxy` finding, in order.
        let mut proxied: Vec<String> = Vec::new();
        let mut push = |level: &str, kind: &str, message: String, line: Option<usize>| {
            findings.push(Finding {
                level: level.into(),
                kind: kind.into(),
                message,
                line,
                coordinate: None,
            });
        };
        if !self.passphrase_proofs {
            push(
                "warning",
                "passphrase-proofs-off",
                "this daemon was unlocked with a passphrase from a file or descriptor, so a typed passphrase no longer proves presence to it: only a two-factor code or a passkey does; stop the daemon and unlock at a terminal (and `kovra 2fa enable` there, so a code can answer after unattended unlocks)".into(),
                None,
            );
        }
        for (kind, message) in self.profile_findings() {
            push("info", kind, message, None);
        }
        let file = match envrefs::parse(refs_path, refs) {
            Ok(f) => f,
            Err(e) => {
                push("error", "parse-error", e.to_string(), Some(e.line));
                return Ok(doctor_reply(findings));
            }
        };
        if self.project.is_none() {
            self.project = file.project.clone();
        }
        // The one `${ENV}` rule; see `refs.rs`.
        let env_name = envrefs::choose_env(env_name, file.env.as_deref(), None).map(|(e, _)| e);
        // Pins by name (which lines become placeholders) need the registry.
        self.registry()?;
        let mut used: BTreeSet<String> = BTreeSet::new();
        let meta = [Op::plain(Operation::Metadata)];
        for entry in &file.entries {
            let at = format!("{refs_path}:{}", entry.line);
            if caller_vars.contains(&entry.name) {
                push(
                    "warning",
                    "shadows-caller",
                    format!(
                        "{at}: {} is also set in your environment; the refs value wins",
                        entry.name
                    ),
                    Some(entry.line),
                );
            }
            let has_fallback = matches!(
                &entry.value,
                RefValue::Secret {
                    fallback: Some(_),
                    ..
                }
            );
            let parts = entry.value.key_parts();
            for ((template, column), part) in entry.value.coordinates().into_iter().zip(parts) {
                let at = format!("{at}:{column}");
                let coord =
                    match CoordinateTemplate::parse(template).and_then(|t| t.resolve(env_name)) {
                        Ok(c) => c,
                        Err(CoordError::Unsubstituted) => {
                            push(
                                "error",
                                "env-needed",
                                format!(
                                    "`${{ENV}}` in {at} needs an environment: {}",
                                    envrefs::ENV_HINT
                                ),
                                Some(entry.line),
                            );
                            continue;
                        }
                        Err(e) => {
                            push(
                                "error",
                                "unresolved",
                                format!("{at}: {template}: {e}"),
                                Some(entry.line),
                            );
                            continue;
                        }
                    };
                if fallback_refused(has_fallback, self.production(coord.env())) {
                    push(
                        "error",
                        "production-fallback",
                        format!(
                            "{at}: {} has a fallback on production coordinate {coord}",
                            entry.name
                        ),
                        Some(entry.line),
                    );
                }
                let located = self.locate(&coord, &meta, false)?;
                let connection = located.record.as_ref().map(|r| r.meta.database.is_some());
                let url = part == policy::KeyPart::Url;
                if connection == Some(true) && url {
                    push(
                        "info",
                        "database-proxy",
                        format!(
                            "{at}: {} gets a URL of kovra's database proxy with a token of the run's, never the password ({} sessions)",
                            entry.name,
                            if policy::proxied_read_only(self.info.origin) {
                                "read-only: this caller is an agent"
                            } else {
                                "read-write for you; read-only in an agent's runs"
                            }
                        ),
                        Some(entry.line),
                    );
                    proxied.push(coord.unpinned().to_string());
                }
                // Whether this kind of line suits this kind of record is the core's rule:
                // decided as the run would decide the line's injection.
                if let (Some(vault), Some(record)) = (&located.vault, &located.record) {
                    let delivery = if url {
                        policy::Delivery::Proxied
                    } else {
                        policy::Delivery::Value
                    };
                    let op = Op {
                        key_part: part,
                        ..Op::inject(delivery)
                    };
                    if let Decision::Deny(
                        r @ (policy::Reason::ConnectionNotInjected
                        | policy::Reason::ProxyNeedsConnection),
                    ) = self.decide_facts(vault, &coord, Some(Self::facts(record)), op)
                    {
                        push(
                            "error",
                            r.code(),
                            format!("{at}: {coord}: {}; {}", r.message(), r.hint()),
                            Some(entry.line),
                        );
                    }
                }
                if let Some(note) = self.delivery_note(&located, &entry.name) {
                    push(
                        "info",
                        "placeholder",
                        format!("{at}: {note}"),
                        Some(entry.line),
                    );
                }
                match (&located.vault, located.decision) {
                    (Some(vault), Decision::Allow) => {
                        used.insert(format!("{}|{}", vault.label(), coord.unpinned()));
                        if matches!(vault, VaultName::Project(_))
                            && self.info.scope.global
                            && self
                                .store
                                .find(&VaultName::Global, &coord.unpinned())?
                                .is_some()
                        {
                            push(
                                "warning",
                                "shadows-global",
                                format!(
                                    "{at}: {coord} exists in the project and in the global vault; the project's wins"
                                ),
                                Some(entry.line),
                            );
                        }
                    }
                    _ if has_fallback => push(
                        "warning",
                        "unresolved",
                        format!("{at}: {coord} does not resolve; its fallback will be used"),
                        Some(entry.line),
                    ),
                    _ => push(
                        "error",
                        "unresolved",
                        format!("{at}: {coord} does not resolve in this scope"),
                        Some(entry.line),
                    ),
                }
            }
        }
        if let Some(env) = env_name {
            let order = policy::resolution_order(
                kovra_core::coord::Pin::Scope,
                self.project.as_deref(),
                &self.info.scope,
            );
            for vault in order {
                if !self.store.vault_exists(&vault)? {
                    continue;
                }
                let listing = self.store.list_shared(&vault)?;
                for record in &listing.records {
                    let c = &record.meta.coordinate;
                    if c.env() == env && !used.contains(&format!("{}|{c}", vault.label())) {
                        push(
                            "warning",
                            "unused-record",
                            format!(
                                "{c} ({}) is in environment {env} but no line uses it",
                                vault.label()
                            ),
                            None,
                        );
                    }
                }
            }
        }
        for (f, coordinate) in findings
            .iter_mut()
            .filter(|f| f.kind == "database-proxy")
            .zip(proxied)
        {
            f.coordinate = Some(coordinate);
        }
        let mut audit = self.info.entry("doctor", None, None, "allow");
        audit.detail = Some(format!("{} findings", findings.len()));
        self.store.audit(audit)?;
        Ok(doctor_reply(findings))
    }
}

fn doctor_reply(findings: Vec<Finding>) -> Reply {
    let errors = findings.iter().filter(|f| f.level == "error").count();
    let warnings = findings.iter().filter(|f| f.level == "warning").count();
    Reply::Doctor {
        findings,
        errors,
        warnings,
    }
}
