//! Parked requests: what the approving human is shown, and the approve/deny decision.

use kovra_core::policy;
use kovra_proto::ErrorCode;
use kovra_proto::{Fact, Reply, Request};

use super::Gate;
use crate::error::GateError;

impl Gate<'_> {
    pub(super) fn approval_list(&mut self) -> Result<Reply, GateError> {
        self.vault_gate(policy::VaultOperation::ReadApprovals, "approval-list")?;
        let asker = self.info.agent.as_ref().map(|p| p.name.clone());
        Ok(Reply::Approvals {
            pending: self.approvals.pending(asker.as_deref()),
        })
    }

    /// Approve (with a proof of presence) or deny one parked request.
    pub(super) fn approval_decide(&mut self, id: &str, approve: bool) -> Result<Reply, GateError> {
        // On a profile's socket, only what was parked there (others' are as unknown).
        let asker = self.info.agent.as_ref().map(|p| p.name.clone());
        let Some(view) = self.approvals.view(id, asker.as_deref()) else {
            return Err(GateError::new(
                ErrorCode::ApprovalUnknown,
                format!("no pending request {id} (unknown, expired or already decided)"),
            )
            .hint("`kovra approve` lists what is pending; expired requests must be asked again"));
        };
        let (op, action) = if approve {
            (policy::VaultOperation::ApproveRequest, "approve")
        } else {
            (policy::VaultOperation::DenyRequest, "deny")
        };
        if approve {
            // Approving lets the parked request through: only a proof that could answer it
            // approves it (`passkey_for`).
            self.need_proof_for(self.approvals.need(id));
        }
        self.vault_gate(op, action)?;
        self.approvals.decide(id, approve, self.proven_by);
        let mut e = self.info.entry(action, None, None, "ok");
        e.detail = Some(format!(
            "request {id}: {} ({} via {})",
            view.action, view.origin, view.surface
        ));
        self.store.audit(e)?;
        Ok(Reply::ApprovalState {
            id: id.to_string(),
            state: if approve { "approved" } else { "denied" }.into(),
        })
    }
}

/// The facts of a request as its requester stated them, for the human who approves it.
pub(super) fn describe(request: &Request) -> Vec<Fact> {
    let fact = |name: &str, value: String, untrusted: bool| Fact {
        name: name.into(),
        value,
        untrusted,
    };
    let mut out = Vec::new();
    match request {
        Request::Run(run) => {
            out.push(fact("command", run.argv.join(" "), true));
            out.push(fact("working directory", run.cwd.clone(), true));
            if let Some(e) = &run.env_name {
                out.push(fact("environment", e.clone(), false));
            }
            if let Some(path) = &run.refs_path {
                out.push(fact("refs file", path.clone(), true));
            }
            if !run.only.is_empty() {
                out.push(fact("only", run.only.join(", "), false));
            }
        }
        Request::Edit {
            coordinate,
            description,
            sensitivity,
            revealable,
            ..
        } => {
            out.push(fact("coordinate", coordinate.clone(), false));
            if let Some(s) = sensitivity {
                out.push(fact("new sensitivity", s.to_string(), false));
            }
            if let Some(r) = revealable {
                out.push(fact("new revealable", r.to_string(), false));
            }
            if let Some(d) = description {
                out.push(fact("new description", d.clone(), true));
            }
        }
        Request::Move {
            coordinate,
            to,
            to_project,
            to_global,
            ..
        } => {
            out.push(fact("coordinate", coordinate.clone(), false));
            if let Some(to) = to {
                out.push(fact("new coordinate", to.clone(), false));
            }
            if let Some(p) = to_project {
                out.push(fact("to project", p.clone(), false));
            }
            if *to_global {
                out.push(fact("to", "the global vault".into(), false));
            }
        }
        Request::Rollback {
            coordinate,
            version,
            ..
        } => {
            out.push(fact("coordinate", coordinate.clone(), false));
            out.push(fact("restore version", version.to_string(), false));
        }
        Request::Set { coordinate, .. }
        | Request::Generate { coordinate, .. }
        | Request::Remove { coordinate, .. }
        | Request::Reveal { coordinate, .. }
        | Request::Code { coordinate, .. }
        | Request::Fingerprint { coordinate, .. } => {
            out.push(fact("coordinate", coordinate.clone(), false))
        }
        Request::Sign {
            coordinate,
            namespace,
            sha512,
            ..
        } => {
            out.push(fact("coordinate", coordinate.clone(), false));
            out.push(fact("namespace", namespace.clone(), true));
            // The approver can compare it with `sha512sum FILE`: the signature covers it.
            out.push(fact("data sha512", sha512.clone(), true));
        }
        Request::AllowAdd { path, .. } => out.push(fact("executable", path.clone(), true)),
        Request::AgentCreate { spec, .. } => {
            let ops: Vec<String> = spec
                .operations
                .iter()
                .map(|o| format!("{o:?}").to_lowercase())
                .collect();
            out.push(fact("agent profile", spec.name.clone(), false));
            out.push(fact("operations", ops.join(", "), false));
            out.push(fact(
                "projects",
                format!(
                    "{}{}",
                    match &spec.projects {
                        kovra_core::policy::ProjectScope::All => "*".to_string(),
                        kovra_core::policy::ProjectScope::Only(p) =>
                            p.iter().cloned().collect::<Vec<_>>().join(", "),
                    },
                    if spec.global { " + global" } else { "" }
                ),
                false,
            ));
            out.push(fact(
                "environments",
                match &spec.environments {
                    kovra_core::policy::EnvScope::All => "all, production included".to_string(),
                    kovra_core::policy::EnvScope::NonProduction => "non-production".to_string(),
                    kovra_core::policy::EnvScope::Only(e) => format!(
                        "{} (production included if listed)",
                        e.iter().cloned().collect::<Vec<_>>().join(", ")
                    ),
                    kovra_core::policy::EnvScope::OnlyNonProduction(e) => format!(
                        "{} (non-production)",
                        e.iter().cloned().collect::<Vec<_>>().join(", ")
                    ),
                },
                false,
            ));
            out.push(fact("egress", spec.egress.describe(), false));
            if !spec.value_injections.is_empty() {
                out.push(fact(
                    "values its programs may receive (and print)",
                    spec.value_injections.join(", "),
                    false,
                ));
            }
            if let Some(t) = spec.ttl_secs {
                out.push(fact("expires after", format!("{t} s"), false));
            }
        }
        Request::Share {
            env, groups, to, ..
        } => {
            out.push(fact("environment", env.clone(), false));
            if !groups.is_empty() {
                out.push(fact("groups", groups.join(", "), false));
            }
            out.push(fact("recipient", to.clone(), true));
        }
        Request::Api(api) => {
            out.push(fact("provider", api.provider.clone(), false));
            out.push(fact(
                "request",
                format!("{} {}", api.method, api.path),
                true,
            ));
        }
        Request::Bind {
            coordinate,
            provider,
            host,
            ..
        } => {
            out.push(fact("coordinate", coordinate.clone(), false));
            out.push(fact("provider", provider.clone(), false));
            if let Some(h) = host {
                out.push(fact("host", h.clone(), true));
            }
        }
        Request::ProviderAdd { toml, .. } => {
            // What the daemon will store, from the parsed file (never from its raw lines).
            match kovra_broker::Provider::from_toml(toml) {
                Ok(p) => {
                    out.push(fact("provider", format!("{} ({})", p.name, p.title), true));
                    out.push(fact(
                        "hosts credentials may go to",
                        p.hosts.join(", "),
                        true,
                    ));
                    out.push(fact("default host", p.host().to_string(), true));
                    out.push(fact("claims variables", p.secrets.join(", "), true));
                    out.push(fact(
                        "auth",
                        match p.auth.header_name() {
                            Some(h) => format!("{} (header {h})", p.auth.kind()),
                            None => p.auth.kind().to_string(),
                        },
                        true,
                    ));
                    if !p.headers.is_empty() {
                        let fixed: Vec<String> = p.headers.keys().cloned().collect();
                        out.push(fact("fixed headers", fixed.join(", "), true));
                    }
                }
                Err(_) => out.push(fact("provider file", "invalid".into(), true)),
            }
        }
        Request::PasskeyRemove { id, .. } => out.push(fact("passkey", id.clone(), true)),
        _ => {}
    }
    out
}
