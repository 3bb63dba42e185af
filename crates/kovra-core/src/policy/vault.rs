//! Decisions on the vault as a whole rather than on one record: listing projects, the
//! audit trail, the allowlist, providers, agents, ssh hosts, the ssh-agent's rules.

use serde::{Deserialize, Serialize};

use super::{Decision, Presence, Reason, Scope};
use crate::model::{OperationClass, Origin};

/// Operations on the vault as a whole rather than on one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VaultOperation {
    ListProjects,
    CreateProject,
    /// Read the audit trail (a scoped session sees only its scope's entries).
    ReadAudit,
    VerifyAudit,
    /// The old passphrase is itself the proof.
    ChangePassphrase,
    RotateKeys,
    ReadAllowlist,
    /// Adding an executable loosens what may receive protected values.
    AddToAllowlist,
    /// Removing one only tightens.
    RemoveFromAllowlist,
    ReadApprovals,
    /// Approving a parked request is itself the loosening step: it needs presence.
    ApproveRequest,
    DenyRequest,
    /// Create a new second-factor seed (shown once): needs presence.
    EnableTwoFactor,
    ReadProviders,
    /// A custom provider names new hosts credentials may go to: needs presence.
    AddProvider,
    /// Removing one only tightens.
    RemoveProvider,
    ReadIdentity,
    CreateIdentity,
    /// Trusting a sender's packages loosens what may be written: needs presence.
    AcceptSender,
    /// Activate a pending seed (a valid code is itself the proof) or switch the factor off
    /// (passphrase and code are the proof).
    ConfirmTwoFactor,
    DisableTwoFactor,
    ReadAgents,
    /// Make an agent profile (and its socket); `widens` per [`AgentProfile::widens`].
    ///
    /// [`AgentProfile::widens`]: crate::agent::AgentProfile::widens
    CreateAgent {
        widens: bool,
    },
    /// Revoking only tightens.
    RevokeAgent,
    ReadSshHosts,
    /// Pinning a host key, or changing what may run on a host: needs presence.
    AddSshHost,
    /// Forgetting a host only tightens.
    RemoveSshHost,
    /// Accept the ssh-agent's `agent.toml` as the standing state the file may then only
    /// narrow: what it accepts can loosen confirmations, so it needs presence.
    AcceptAgentRules,
    /// `kovra confirm TEXT`: a script asks the human to approve a step of its own. Nothing
    /// is read or changed; only a proof answers it, whoever asks and in any scope.
    Confirm,
    /// Scan texts for the vault's values (the hooks): only whether and where a value sits,
    /// and the coordinate when the caller's scope addresses it, ever come back.
    ScanForValues,
    /// Make (or replace) the recovery kit, shown once: needs presence; never an agent.
    CreateRecoveryKit,
    /// Replace the passphrase with the recovery kit (the kit is itself the proof).
    Recover,
    /// Copy the sealed vault file to a backup (ciphertext only: any origin, full scope).
    Backup,
    /// Put a backup in the vault's place; `rollback` when it is older than the vault's last
    /// acknowledged state (or another vault's), which needs presence.
    Restore {
        rollback: bool,
    },
    /// Plant a canary record (`kovra canary create`), or see which records are canaries
    /// (`kovra canary list`): a human's, at their terminal, with a proof. Which records are
    /// canaries is what an agent must never learn, so an agent is refused outright (not
    /// parked for an approval that would hand it the answer).
    CreateCanary,
    ListCanaries,
    /// List the enrolled passkeys (names, ids, dates; no keys).
    ReadPasskeys,
    /// Enrol a passkey: it becomes a proof of presence, so an agent is refused outright
    /// (its own authenticator would prove nothing) and a human needs a proof.
    EnrolPasskey,
    /// Remove one: with `passkey_for` on, that can undo the rule, so it needs a proof.
    RemovePasskey,
}

/// Decide a vault-wide operation. Record-level rules do not apply; scope and the
/// operation class still do, and what spans every vault needs an unrestricted scope.
pub fn decide_vault(
    op: VaultOperation,
    scope: &Scope,
    presence: Presence,
    origin: Origin,
) -> Decision {
    let has = |class: OperationClass| scope.operations.contains(&class);
    let out_of_scope = Decision::Deny(Reason::OperationOutOfScope);
    let needs_full = Decision::Deny(Reason::VaultOperationNeedsFullScope);
    // The one ladder most vault-wide changes climb: the whole vault in scope, the write
    // class, then (where the change can loosen) a proof.
    let full_write = |proof: Option<Reason>| {
        if !scope.is_full() {
            needs_full
        } else if !has(OperationClass::Write) {
            out_of_scope
        } else if let Some(reason) = proof
            && presence != Presence::Proven
        {
            Decision::NeedsProof(reason)
        } else {
            Decision::Allow
        }
    };
    let class_only = |class: OperationClass| {
        if has(class) {
            Decision::Allow
        } else {
            out_of_scope
        }
    };
    match op {
        VaultOperation::ListProjects
        | VaultOperation::ReadAudit
        | VaultOperation::ScanForValues
        | VaultOperation::ReadProviders
        | VaultOperation::ReadIdentity
        | VaultOperation::ReadAllowlist
        | VaultOperation::ReadAgents
        | VaultOperation::ReadSshHosts => class_only(OperationClass::Metadata),
        VaultOperation::CreateProject | VaultOperation::CreateIdentity => {
            class_only(OperationClass::Write)
        }
        // Revoking only tightens; verifying reads every vault.
        VaultOperation::VerifyAudit | VaultOperation::RevokeAgent => {
            if scope.is_full() {
                Decision::Allow
            } else {
                needs_full
            }
        }
        VaultOperation::ReadApprovals | VaultOperation::DenyRequest => Decision::Allow,
        VaultOperation::ApproveRequest => {
            if !scope.is_full() {
                needs_full
            } else if presence != Presence::Proven {
                Decision::NeedsProof(Reason::ApprovalNeedsPresence)
            } else {
                Decision::Allow
            }
        }
        VaultOperation::AddProvider | VaultOperation::RemoveProvider => full_write(
            (op == VaultOperation::AddProvider).then_some(Reason::ProviderChangeNeedsPresence),
        ),
        VaultOperation::AcceptSender => full_write(Some(Reason::AcceptSenderNeedsPresence)),
        VaultOperation::AddToAllowlist | VaultOperation::RemoveFromAllowlist => full_write(
            (op == VaultOperation::AddToAllowlist).then_some(Reason::AllowlistChangeNeedsPresence),
        ),
        VaultOperation::EnableTwoFactor => {
            // Enrolment shows the seed; whoever sees it can mint proofs. Origin tightens here.
            if origin == Origin::Agent {
                Decision::Deny(Reason::AgentCannotEnrolSecondFactor)
            } else {
                full_write(Some(Reason::TwoFactorNeedsPresence))
            }
        }
        VaultOperation::ReadPasskeys => class_only(OperationClass::Metadata),
        VaultOperation::EnrolPasskey => {
            if origin == Origin::Agent {
                Decision::Deny(Reason::AgentCannotEnrolPasskey)
            } else {
                full_write(Some(Reason::PasskeyChangeNeedsPresence))
            }
        }
        VaultOperation::RemovePasskey => full_write(Some(Reason::PasskeyChangeNeedsPresence)),
        VaultOperation::CreateCanary | VaultOperation::ListCanaries => {
            if origin == Origin::Agent {
                Decision::Deny(Reason::AgentCannotManageCanaries)
            } else if !scope.is_full() {
                needs_full
            } else if op == VaultOperation::CreateCanary && !has(OperationClass::Write) {
                out_of_scope
            } else if presence != Presence::Proven {
                Decision::NeedsProof(Reason::CanaryNeedsPresence)
            } else {
                Decision::Allow
            }
        }
        VaultOperation::CreateAgent { widens } => {
            full_write(widens.then_some(Reason::AgentProfileNeedsPresence))
        }
        VaultOperation::AddSshHost | VaultOperation::RemoveSshHost => full_write(
            (op == VaultOperation::AddSshHost).then_some(Reason::SshHostChangeNeedsPresence),
        ),
        VaultOperation::Confirm => {
            if presence == Presence::Proven {
                Decision::Allow
            } else {
                Decision::NeedsProof(Reason::ConfirmNeedsPresence)
            }
        }
        VaultOperation::AcceptAgentRules => full_write(Some(Reason::AgentRulesNeedPresence)),
        // A backup holds what the vault file holds, sealed, which the user's processes can
        // read already: a script without a terminal (cron) may write one. Scope still
        // applies, so a scoped agent profile cannot.
        VaultOperation::Backup => full_write(None),
        VaultOperation::CreateRecoveryKit
        | VaultOperation::Recover
        | VaultOperation::Restore { .. } => {
            // A kit opens the vault without the passphrase, and a restore replaces it:
            // origin tightens here, as for the second factor's seed.
            let needs_presence = match op {
                VaultOperation::CreateRecoveryKit => Some(Reason::RecoveryKitNeedsPresence),
                VaultOperation::Restore { rollback: true } => Some(Reason::RollbackNeedsPresence),
                _ => None,
            };
            if origin == Origin::Agent {
                Decision::Deny(Reason::AgentCannotRecover)
            } else {
                full_write(needs_presence)
            }
        }
        // The old passphrase (or the codes) are the proof.
        VaultOperation::ChangePassphrase
        | VaultOperation::RotateKeys
        | VaultOperation::ConfirmTwoFactor
        | VaultOperation::DisableTwoFactor => full_write(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECOVERY_OPS: [VaultOperation; 4] = [
        VaultOperation::CreateRecoveryKit,
        VaultOperation::Recover,
        VaultOperation::Restore { rollback: false },
        VaultOperation::Restore { rollback: true },
    ];

    #[test]
    fn an_agent_never_makes_a_kit_recovers_or_restores() {
        for op in RECOVERY_OPS {
            for presence in [Presence::None, Presence::Proven] {
                assert_eq!(
                    decide_vault(op, &Scope::full(), presence, Origin::Agent),
                    Decision::Deny(Reason::AgentCannotRecover),
                    "{op:?}"
                );
            }
        }
    }

    #[test]
    fn a_kit_and_a_rollback_need_presence_and_the_rest_do_not() {
        let human = |op, presence| decide_vault(op, &Scope::full(), presence, Origin::Human);
        assert_eq!(
            human(VaultOperation::CreateRecoveryKit, Presence::None),
            Decision::NeedsProof(Reason::RecoveryKitNeedsPresence)
        );
        assert_eq!(
            human(VaultOperation::Restore { rollback: true }, Presence::None),
            Decision::NeedsProof(Reason::RollbackNeedsPresence)
        );
        for op in RECOVERY_OPS {
            assert_eq!(human(op, Presence::Proven), Decision::Allow, "{op:?}");
        }
        // A backup is ciphertext: a script without a terminal may write one, a scoped
        // session may not.
        assert_eq!(
            decide_vault(
                VaultOperation::Backup,
                &Scope::full(),
                Presence::None,
                Origin::Agent
            ),
            Decision::Allow
        );
        let mut narrow = Scope::full();
        narrow.operations.remove(&OperationClass::Write);
        assert_ne!(
            decide_vault(
                VaultOperation::Backup,
                &narrow,
                Presence::None,
                Origin::Human
            ),
            Decision::Allow
        );
        for op in [
            VaultOperation::Recover,
            VaultOperation::Backup,
            VaultOperation::Restore { rollback: false },
        ] {
            assert_eq!(human(op, Presence::None), Decision::Allow, "{op:?}");
        }
    }
}
