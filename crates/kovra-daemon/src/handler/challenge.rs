//! Asking for a proof of presence: a challenge bound to the request's digest, and for an
//! agent an approval parked for the human.

use kovra_core::policy;
use kovra_core::proof;
use kovra_proto::{ApprovalView, Fact, PassphraseChallenge, ProofOptions};

use crate::error::{Challenge, GateError};
use crate::proof::CHALLENGE_TTL;

use super::{Gate, twofactor};

impl Gate<'_> {
    /// Ask for a proof of presence. At a terminal the requester answers the challenge; an
    /// agent has none, so the request is also parked for the human to approve out of band.
    pub(super) fn challenge_reply(
        &mut self,
        action: &str,
        reason: policy::Reason,
        message: String,
    ) -> GateError {
        let challenge = self.challenges.issue(self.digest);
        // Approving is itself the attended step: it is never parked for someone else.
        let parks = policy::parks_for_approval(
            policy::Decision::NeedsProof(reason),
            self.info.origin,
            action == "approve",
        );
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
            crate::approvals::notify(&id, action);
            id
        });
        let config = &self.daemon.config;
        let accepted = self.accepted_proofs();
        let passphrase = (accepted.passphrase && self.passphrase_proofs).then(|| {
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
        let code_accepted = accepted.code && twofactor::active(self.store);
        let passkey = if accepted.passkey {
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
