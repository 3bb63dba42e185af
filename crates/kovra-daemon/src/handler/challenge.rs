//! Asking for a proof of presence: a challenge bound to the request's digest, and for an
//! agent an approval parked for the human.

use kovra_core::coord::Coordinate;
use kovra_core::model::VaultName;
use kovra_core::policy;
use kovra_core::proof;
use kovra_proto::{ApprovalView, Fact, PassphraseChallenge, ProofOptions};

use crate::error::{Challenge, GateError};
use crate::proof::CHALLENGE_TTL;

use super::{Gate, twofactor};

impl Gate<'_> {
    /// Refuse a request until it is proven: its challenge (parked for approval where
    /// [`Gate::challenge_reply`] parks it) and its `needs-proof` audit entry, which names the
    /// approval so the trail ties the request to what the human later answered. An audit
    /// that cannot be written refuses the request with that error instead.
    pub(super) fn needs_proof(
        &mut self,
        action: &str,
        coord: Option<&Coordinate>,
        vault: Option<&VaultName>,
        reason: policy::Reason,
        message: String,
    ) -> GateError {
        let reply = self.challenge_reply(action, reason, message);
        let mut e = self.info.entry(action, coord, vault, "needs-proof");
        e.reason = Some(reason.code().to_string());
        if let Some(id) = reply.approval() {
            e.detail = Some(format!("parked for approval {id}"));
        }
        match self.store.audit(e) {
            Ok(()) => reply,
            Err(failed) => failed.into(),
        }
    }

    /// Ask for a proof of presence. At a terminal the requester answers the challenge; an
    /// agent has none, so the request is also parked for the human to approve out of band
    /// (as is one only a passkey can answer, which a terminal cannot give).
    pub(super) fn challenge_reply(
        &mut self,
        action: &str,
        reason: policy::Reason,
        message: String,
    ) -> GateError {
        let challenge = self.challenges.issue(self.digest);
        // What could answer right now: what may answer (the core's word), as far as this
        // daemon holds it (a passphrase still proves, a factor or a passkey is enrolled).
        let accepted = self.accepted_proofs();
        let available = policy::ProofKinds {
            passphrase: accepted.passphrase && self.passphrase_proofs,
            code: accepted.code && twofactor::active(self.store),
            passkey: accepted.passkey && self.passkeys_cache.unwrap_or(true),
        };
        // Approving is itself the attended step: it is never parked for someone else. A
        // request only a passkey can answer is parked for the Web UI, where one can.
        let decision = policy::Decision::NeedsProof(reason);
        let approving = action == "approve";
        let parks = policy::parks_for_approval(decision, self.info.origin, approving)
            || policy::parks_for_passkey(decision, approving, available);
        // The requester chose its command line and its words: whatever of the vault's
        // values they hold is masked before anyone is shown them.
        let redactor = if parks { self.scrubber().ok() } else { None };
        let approval = parks.then(|| {
            let mut facts = vec![Fact {
                name: "reason".into(),
                value: reason.message().into(),
                untrusted: false,
            }];
            if let Some(profile) = &self.info.agent {
                // Fixed by the socket the request came through, not by anything the agent said.
                facts.push(Fact {
                    name: "agent profile".into(),
                    value: format!("{} (egress {})", profile.name, profile.egress.describe()),
                    untrusted: false,
                });
            }
            facts.extend(self.facts.iter().cloned());
            let scrub = |text: &str| match &redactor {
                Some(r) => String::from_utf8_lossy(&r.redact_all(text.as_bytes())).into_owned(),
                None => text.to_string(),
            };
            for f in facts.iter_mut().filter(|f| f.untrusted) {
                f.value = scrub(&f.value);
            }
            facts.extend(crate::approvals::process_chain(self.info.pid, &scrub));
            let view = ApprovalView {
                id: String::new(),
                action: action.to_string(),
                surface: self.info.context.surface.as_str().to_string(),
                origin: self.info.origin.as_str().to_string(),
                created: 0,
                expires_in: crate::approvals::APPROVAL_TTL.as_secs(),
                facts,
            };
            let agent = self.info.agent.as_ref().map(|p| p.name.as_str());
            let id = self
                .approvals
                .park(self.digest, view, agent, self.proof_need.get());
            if let Some(run) = &self.parked_run {
                self.approvals.set_run(&id, run.clone());
            }
            crate::approvals::notify(&id, action);
            id
        });
        let config = &self.daemon.config;
        let passphrase = available.passphrase.then(|| {
            let verifier = self.store.proof_verifier();
            PassphraseChallenge {
                kdf: verifier.kdf.clone(),
                daemon_tag: hex::encode(proof::tag(
                    &verifier.key,
                    proof::Role::Daemon,
                    &challenge,
                    &self.digest,
                )),
            }
        });
        let passphrase_refused = if !config.proof_by_passphrase {
            let others: Vec<&str> = [
                (accepted.code, "a TOTP code"),
                (accepted.passkey, "a passkey"),
            ]
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, name)| *name)
            .collect();
            Some(format!(
                "only {} is accepted as a proof here (proof_kinds)",
                others.join(" or ")
            ))
        } else if !accepted.passphrase {
            Some("this request needs a passkey (passkey_for in config.toml): answer it in `kovra ui`".to_string())
        } else if !self.passphrase_proofs {
            Some("this daemon was unlocked with a passphrase read from a file or descriptor, so a typed passphrase no longer proves presence to it".to_string())
        } else {
            None
        };
        let code_accepted = available.code;
        let passkey = if available.passkey {
            self.passkey_options(&challenge)
        } else {
            None
        };
        GateError::needs_proof(
            message,
            Challenge {
                reason: reason.code(),
                challenge,
                expires_in: CHALLENGE_TTL.as_secs(),
                approval,
                answer: Box::new(ProofOptions {
                    passphrase,
                    passphrase_refused,
                    code_accepted,
                    program: self.program_sha.clone(),
                    passkey,
                }),
            },
        )
    }
}
