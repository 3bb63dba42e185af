//! The ssh-agent surface's side of the gate: which SSH key records a caller of the agent
//! socket may list, and whether it may sign with one. Every record is decided by the core's
//! `decide` (surface `ssh-agent`, the caller's observed origin, operation `metadata` to list
//! and `sign` to sign), exactly as a `kovra sign` from that process would be: the agent
//! socket is one more way in, never a looser one. The socket's protocol lives in
//! `kovra-sshagent`; `crate::sshagent` connects the two.

use std::time::Instant;

use kovra_core::coord::Coordinate;
use kovra_core::model::{Operation, Surface, VaultName};
use kovra_core::policy::{Decision, Presence, Scope};
use kovra_core::sshkey::SshKeyInfo;
use kovra_core::store::Record;
use kovra_proto::{ApprovalView, Context, ErrorCode, Fact, Reply};
use kovra_sshagent::Refusal;
use kovra_sshagent::ssh_key::Signature;
use sha2::{Digest, Sha256};

use super::ssh_agent_rules::Standing;
use super::{Caller, Daemon, Gate, Info, Op, observed_origin};
use crate::approvals::Outcome;
use crate::error::GateError;

/// One signature the agent socket was asked for, in the daemon's terms.
pub struct AgentAsk<'a> {
    /// `SHA256:…` of the key the client named.
    pub fingerprint: String,
    /// The bytes to sign: hashed into the approval's digest, never stored or printed.
    pub data: &'a [u8],
    /// Where the signature goes, as the agent crate established it (the bound host key's
    /// fingerprint, the login user, an SSHSIG namespace): shown to the approving human and
    /// written to the trail. `untrusted` marks what the client merely said.
    pub destination: Vec<Fact>,
    /// The verified host key (`SHA256:…`) of the session the signature is for: a fact for
    /// `decide`, which holds a key restricted to some servers to them.
    pub bound_host: Option<String>,
    /// The hash an RSA key signs with, from the request's flags (`None`: SHA-1, refused).
    pub rsa: Option<kovra_core::sshkey::RsaHash>,
    /// This connection already had a signature with this key for this bound server
    /// approved and made: a fact for `decide` (`confirm = "once-per-session"`).
    pub session_approved: bool,
}

impl AgentAsk<'_> {
    /// What an approval of this signature is bound to: this process, this key, these bytes.
    /// A login's data holds its session identifier, so an approval never serves another.
    fn digest(&self, pid: u32) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(b"kovra ssh-agent sign\0");
        h.update(pid.to_be_bytes());
        h.update(self.fingerprint.as_bytes());
        h.update([0]);
        h.update(self.data);
        h.finalize().into()
    }

    /// The trail's detail: the key and the destination facts, never the data.
    fn detail(&self) -> String {
        let mut out = self.fingerprint.clone();
        for f in &self.destination {
            out.push_str(&format!(", {} {}", f.name, f.value));
        }
        if self.session_approved {
            // Why a key under `once-per-session` may sign here without a new approval.
            out.push_str(", approved earlier on this connection");
        }
        out
    }
}

/// What became of a signature request.
pub enum AgentSigned {
    Signed(Signature),
    /// Parked for the human under this approval id (`kovra approve ID`).
    Parked(String),
    Refused(Refusal),
}

/// The facts of a request on the agent socket: the surface is `ssh-agent`, the origin is
/// what the daemon observes of the connecting process (the same rule as for its own socket:
/// [`observed_origin`]), and the scope is the standing rules' (`agent.toml`; the full
/// scope without any): nothing the client claims widens it.
/// The facts of a caller the daemon talks to outside a request's gate (`ssh-host scan`):
/// as on the agent socket, with the full scope.
pub(super) fn caller_info(caller: &Caller, surface: Surface) -> Info {
    let mut info = agent_info(caller, Scope::full());
    info.context.surface = surface;
    info
}

fn agent_info(caller: &Caller, scope: Scope) -> Info {
    let origin = observed_origin(caller);
    Info {
        context: Context {
            surface: Surface::SshAgent,
            origin,
            scope: None,
            project: None,
        },
        origin,
        scope,
        project: None,
        pid: caller.peer.pid,
        exe: caller.exe.clone(),
        agent: None,
        namespaces: caller.namespaces.clone(),
    }
}

impl Daemon {
    /// `kovra ssh-agent [--stop]`: start (or stop) the agent socket. Not decided by policy:
    /// the socket grants nothing by existing, each request on it is decided. Refused on an
    /// agent profile's socket: a sandboxed agent does not open doors for its own host.
    pub(super) fn ssh_agent_request(
        &self,
        caller: &Caller,
        surface: Surface,
        stop: bool,
    ) -> Result<Reply, GateError> {
        if caller.agent.is_some() {
            return Err(GateError::new(
                ErrorCode::AgentSocketRefused,
                "`ssh-agent` is not served on an agent profile's socket",
            ));
        }
        let socket = self.paths.ssh_agent_socket();
        let changed = if stop {
            self.ssh_agent.stop()
        } else {
            self.ssh_agent.start(&socket).map_err(|e| {
                GateError::new(ErrorCode::IoError, format!("the ssh-agent socket: {e}"))
            })?
        };
        if changed {
            let info = agent_info(caller, Scope::full());
            let action = if stop {
                "ssh-agent-stop"
            } else {
                "ssh-agent-start"
            };
            let mut inner = self.lock_inner();
            if let Some(store) = inner.store.as_mut() {
                let mut e = info.entry(action, None, None, "ok");
                e.surface = surface.as_str().into();
                e.detail = Some(socket.display().to_string());
                store.audit(e)?;
            }
        }
        Ok(Reply::SshAgent {
            socket: socket.display().to_string(),
            running: !stop,
        })
    }

    /// The SSH keys `caller` may see, with their coordinates: nothing while locked.
    /// Audited once per listing, with how many were shown.
    pub fn ssh_agent_keys(&self, caller: &Caller) -> Vec<(String, SshKeyInfo)> {
        let mut inner = self.lock_inner();
        let Some(standing) = self.standing(&mut inner, caller, "ssh-agent-list") else {
            return Vec::new();
        };
        let info = agent_info(caller, standing.scope());
        let Some(mut gate) = Gate::over(self, &mut inner, &info, [0; 32], Vec::new(), None) else {
            return Vec::new();
        };
        gate.standing = Some(standing);
        let listed = gate.key_records(None).and_then(|keys| {
            let mut e = gate.info.entry("ssh-agent-list", None, None, "allow");
            e.detail = Some(format!("{} keys shown", keys.len()));
            gate.store.audit(e)?;
            Ok(keys)
        });
        match listed {
            Ok(keys) => keys
                .into_iter()
                .filter_map(|(_, r)| Some((r.meta.coordinate.to_string(), r.meta.ssh_key?)))
                .collect(),
            Err(e) => {
                tracing::warn!(error = %e, "ssh-agent: cannot list the keys");
                Vec::new()
            }
        }
    }

    /// Decide and, when allowed, make one signature. `approved`: the human approved this
    /// very request out of band (`kovra approve`), which then counts as its proof, once.
    pub fn ssh_agent_sign(
        &self,
        caller: &Caller,
        ask: &AgentAsk<'_>,
        approved: bool,
    ) -> AgentSigned {
        let digest = ask.digest(caller.peer.pid);
        let mut inner = self.lock_inner();
        let Some(mut standing) = self.standing(&mut inner, caller, "ssh-agent-sign") else {
            return AgentSigned::Refused(Refusal::Unavailable);
        };
        standing.session_approved = ask.session_approved;
        let info = agent_info(caller, standing.scope());
        let Some(mut gate) = Gate::over(self, &mut inner, &info, digest, Vec::new(), None) else {
            return AgentSigned::Refused(Refusal::Unavailable);
        };
        gate.bound_host = ask.bound_host.clone();
        gate.standing = Some(standing);
        let signed = gate.agent_sign(ask, approved);
        drop(gate);
        // A signature is work with the vault: it keeps the vault from locking as idle.
        inner.last_activity = Instant::now();
        signed.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "ssh-agent: a signature failed");
            AgentSigned::Refused(Refusal::Unavailable)
        })
    }

    /// The standing rules for a request on the agent socket; `None` while locked, or when
    /// the rules are unusable, which is on the trail (the agent then offers and signs
    /// nothing: a broken `agent.toml` never widens what it did).
    fn standing(
        &self,
        inner: &mut super::Inner,
        caller: &Caller,
        action: &str,
    ) -> Option<Standing> {
        let store = inner.store.as_mut()?;
        match Standing::load(store, &self.agent_rules_path()) {
            Ok(standing) => Some(standing),
            Err(e) => {
                tracing::warn!(error = %e, "ssh-agent: the standing rules are unusable");
                let mut entry = agent_info(caller, Scope::full()).entry(action, None, None, "deny");
                entry.reason = Some(e.code().as_str().to_string());
                entry.detail = Some(e.to_string());
                let _ = store.audit(entry);
                None
            }
        }
    }

    /// A request the agent crate refused before policy: on the trail when the vault is open.
    pub fn ssh_agent_refused(&self, caller: &Caller, what: &str) {
        let info = agent_info(caller, Scope::full());
        let mut inner = self.lock_inner();
        if let Some(store) = inner.store.as_mut() {
            let mut e = info.entry("ssh-agent-refused", None, None, "deny");
            e.detail = Some(what.to_string());
            let _ = store.audit(e);
        }
    }

    /// Where a parked signature stands.
    pub fn approval_outcome(&self, id: &str) -> Outcome {
        self.lock_inner().approvals.outcome(id)
    }

    /// The requester stopped waiting: a later approval must not stand for nothing.
    pub fn approval_withdraw(&self, id: &str) {
        self.lock_inner().approvals.decide(id, false, None);
    }
}

impl Gate<'_> {
    /// Every SSH key record whose metadata this caller may read, in every vault its scope
    /// addresses (vaults sorted by name, records by path); only the key with this
    /// fingerprint when `only` names one, so a signature decides one record, not every key.
    fn key_records(&mut self, only: Option<&str>) -> Result<Vec<(VaultName, Record)>, GateError> {
        let mut vaults = self.store.vaults()?;
        vaults.retain(|v| self.info.scope.addresses_vault(v));
        vaults.sort_by_key(|v| v.label());
        let mut out = Vec::new();
        for vault in vaults {
            let listing = self.store.list_shared(&vault)?;
            for record in &listing.records {
                let wanted =
                    record.meta.ssh_key.as_ref().is_some_and(|k| {
                        only.is_none_or(|fingerprint| k.fingerprint == fingerprint)
                    });
                if wanted
                    && self.decide_one(
                        &vault,
                        &record.meta.coordinate,
                        Some(record),
                        Op::plain(Operation::Metadata),
                    ) == Decision::Allow
                {
                    out.push((vault.clone(), record.clone()));
                }
            }
        }
        Ok(out)
    }

    fn agent_sign(&mut self, ask: &AgentAsk<'_>, approved: bool) -> Result<AgentSigned, GateError> {
        if approved && let Some((id, _)) = self.approvals.take_approved(&self.digest, None) {
            let mut e = self.info.entry("approval-used", None, None, "allow");
            e.detail = Some(format!("approval {id}"));
            self.store.audit(e)?;
            self.presence = Presence::Proven;
        }
        let found = self.key_records(Some(&ask.fingerprint))?.into_iter().next();
        let Some((vault, record)) = found else {
            let mut e = self
                .info
                .entry("ssh-agent-sign", None, None, "unaddressable");
            e.detail = Some(ask.detail());
            self.store.audit(e)?;
            return Ok(AgentSigned::Refused(Refusal::UnknownKey));
        };
        let coord = record.meta.coordinate.clone();
        let described = self.describe_record(&coord, &record);
        let mut located =
            self.decide_all(&vault, &coord, Some(record), &[Op::plain(Operation::Sign)]);
        let decision = located.decision;
        if decision == Decision::Allow
            && let Some(allowed) = located.grant(Operation::Sign)
        {
            if allowed.obligations().notify_medium_use {
                crate::approvals::notify_medium_use("ssh-agent-sign", &coord.to_string());
            }
            let (_, private) = self.open(&allowed, None)?;
            let signature = kovra_core::sshkey::sign_with(&private, ask.data, ask.rsa);
            drop(private);
            let mut e = self.allowed("ssh-agent-sign", &coord, &vault);
            e.detail = Some(ask.detail());
            return match signature {
                Ok(s) => {
                    self.store.audit(e)?;
                    Ok(AgentSigned::Signed(s))
                }
                Err(err) => {
                    e.decision = "error".into();
                    e.reason = Some(err.to_string());
                    self.store.audit(e)?;
                    Ok(AgentSigned::Refused(Refusal::Unavailable))
                }
            };
        }
        let mut e = self
            .info
            .entry("ssh-agent-sign", Some(&coord), Some(&vault), "deny");
        e.detail = Some(ask.detail());
        let outcome = match decision {
            Decision::NeedsProof(reason) => {
                // The agent socket has no prompt to answer a challenge at, whoever the
                // caller is: the human approves at their own terminal instead.
                let id = self.park_signature(ask, &coord, described, reason);
                e.decision = "needs-proof".into();
                e.reason = Some(reason.code().to_string());
                e.detail = Some(format!("{}, parked for approval {id}", ask.detail()));
                AgentSigned::Parked(id)
            }
            Decision::Deny(reason) => {
                e.reason = Some(reason.code().to_string());
                AgentSigned::Refused(Refusal::Denied)
            }
            _ => {
                e.decision = "unaddressable".into();
                AgentSigned::Refused(Refusal::UnknownKey)
            }
        };
        self.store.audit(e)?;
        Ok(outcome)
    }

    /// Park a signature for `kovra approve`: the key, where the signature goes, and who asks.
    fn park_signature(
        &mut self,
        ask: &AgentAsk<'_>,
        coord: &Coordinate,
        described: String,
        reason: kovra_core::policy::Reason,
    ) -> String {
        let fact = |name: &str, value: String| Fact {
            name: name.into(),
            value,
            untrusted: false,
        };
        let mut facts = vec![
            fact("reason", reason.message().into()),
            fact(&coord.to_string(), described),
            fact("key", ask.fingerprint.clone()),
        ];
        facts.extend(ask.destination.iter().cloned());
        let redactor = self.scrubber().ok();
        let scrub = |text: &str| match &redactor {
            Some(r) => String::from_utf8_lossy(&r.redact_all(text.as_bytes())).into_owned(),
            None => text.to_string(),
        };
        facts.extend(crate::approvals::process_chain(self.info.pid, &scrub));
        let view = ApprovalView {
            id: String::new(),
            action: "ssh-agent-sign".into(),
            surface: self.info.context.surface.as_str().to_string(),
            origin: self.info.origin.as_str().to_string(),
            created: 0,
            expires_in: crate::approvals::APPROVAL_TTL.as_secs(),
            facts,
        };
        let id = self.approvals.park(
            self.digest,
            view,
            None,
            kovra_core::policy::ProofNeed::default(),
        );
        crate::approvals::notify(&id, "ssh-agent-sign");
        id
    }
}
