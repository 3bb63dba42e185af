#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The laws of agent profiles: a request under a profile (an agent socket) is decided like
//! any agent's, and tighter where a value would reach a program the agent started.

use kovra_core::model::{Operation, OperationClass, Origin, RecordKind, Sensitivity};
use kovra_core::policy::{
    Decision, Delivery, EnvScope, Presence, ProfileFacts, ProjectScope, Reason, Scope,
    VaultOperation, decide_vault,
};
use proptest::prelude::*;

mod common;
use common::strictness;

mod policy_cases;
use policy_cases::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// "An agent's injection is a reveal unless the value stays out of its reach": under a
    /// profile that did not opt the record in, a value reaches an unallowlisted program only
    /// when the agent could have revealed it anyway (revealable, not high, not production).
    #[test]
    fn under_a_profile_a_value_reaches_the_agent_only_if_it_could_reveal_it(
        c in arb_existing_case(),
        scope in arb_scope(),
    ) {
        let c = c.with(|c| {
            c.operation = Operation::Inject;
            c.delivery = Delivery::Value;
            c.origin = Origin::Agent;
            c.allowlisted = false;
            c.profile = Some(ProfileFacts { value_opt_in: false });
        });
        if c.decide(&scope) == Decision::Allow {
            let r = c.record.unwrap();
            prop_assert!(r.revealable, "{:?}", c);
            prop_assert!(r.sensitivity < Sensitivity::High && !c.production, "{:?}", c);
            prop_assert!(scope.operations.contains(&OperationClass::Reveal), "{:?}", c);
        }
    }

    /// A profile only tightens: the same request without one is never stricter.
    #[test]
    fn a_profile_only_tightens(c in arb_case(), scope in arb_scope()) {
        let with = c.with(|c| c.origin = Origin::Agent);
        let without = with.with(|c| c.profile = None);
        prop_assert!(
            strictness(with.decide(&scope)) >= strictness(without.decide(&scope)),
            "{:?}", with
        );
    }

    /// Placeholders and opt-ins: what never puts a value in the agent's reach is decided as
    /// without a profile.
    #[test]
    fn placeholders_and_opted_in_records_are_decided_as_without_a_profile(
        c in arb_existing_case(),
        scope in arb_scope(),
        placeholder in any::<bool>(),
    ) {
        let c = c.with(|c| {
            c.operation = Operation::Inject;
            c.origin = Origin::Agent;
            if placeholder {
                c.delivery = Delivery::Placeholder;
                c.profile = Some(ProfileFacts { value_opt_in: false });
            } else {
                c.profile = Some(ProfileFacts { value_opt_in: true });
            }
        });
        let without = c.with(|c| c.profile = None);
        prop_assert_eq!(c.decide(&scope), without.decide(&scope));
    }

    /// Making a profile needs the whole vault (never an agent socket's scope), and a proof
    /// when the profile widens; revoking only needs the whole vault.
    #[test]
    fn agent_profiles_are_made_by_the_whole_vault_and_widening_needs_a_proof(
        scope in arb_scope(),
        widens in any::<bool>(),
        proven in any::<bool>(),
        agent in any::<bool>(),
    ) {
        let presence = if proven { Presence::Proven } else { Presence::None };
        let origin = if agent { Origin::Agent } else { Origin::Human };
        let d = decide_vault(VaultOperation::CreateAgent { widens }, &scope, presence, origin);
        if !scope.is_full() {
            prop_assert_eq!(d, Decision::Deny(Reason::VaultOperationNeedsFullScope));
        } else if !scope.operations.contains(&OperationClass::Write) {
            prop_assert_eq!(d, Decision::Deny(Reason::OperationOutOfScope));
        } else if widens && !proven {
            prop_assert_eq!(d, Decision::NeedsProof(Reason::AgentProfileNeedsPresence));
        } else {
            prop_assert_eq!(d, Decision::Allow);
        }
        let revoke = decide_vault(VaultOperation::RevokeAgent, &scope, presence, origin);
        prop_assert_eq!(revoke == Decision::Allow, scope.is_full());
    }
}

#[test]
fn printenv_of_a_medium_record_is_refused_under_a_profile_and_allowed_once_opted_in() {
    let mut c = policy_cases::example_inject(Sensitivity::Medium, false);
    c.origin = Origin::Agent;
    let scope = Scope {
        operations: [OperationClass::Metadata, OperationClass::Inject].into(),
        projects: ProjectScope::All,
        global: true,
        environments: EnvScope::NonProduction,
    };
    assert_eq!(
        c.decide(&scope),
        Decision::Allow,
        "no profile: today's rule"
    );
    c.profile = Some(ProfileFacts {
        value_opt_in: false,
    });
    assert_eq!(
        c.decide(&scope),
        Decision::Deny(Reason::AgentInjectionIsReveal)
    );
    c.allowlisted = true;
    assert_eq!(c.decide(&scope), Decision::Allow, "allowlisted program");
    c.allowlisted = false;
    c.profile = Some(ProfileFacts { value_opt_in: true });
    assert_eq!(c.decide(&scope), Decision::Allow, "opted in");
    c.profile = Some(ProfileFacts {
        value_opt_in: false,
    });
    c.record = Some(kovra_core::policy::RecordFacts {
        sensitivity: Sensitivity::Low,
        revealable: true,
        kind: RecordKind::Secret,
    });
    assert_eq!(
        c.decide(&scope),
        Decision::Deny(Reason::AgentInjectionIsReveal),
        "revealable low, but the profile may not reveal"
    );
    let mut revealing = scope.clone();
    revealing.operations.insert(OperationClass::Reveal);
    assert_eq!(
        c.decide(&revealing),
        Decision::Allow,
        "revealable low, to a profile that may reveal it anyway"
    );
}

/// "Everything an agent session starts runs inside the boundary": under a profile, a run
/// starts only for a caller the daemon can start it beside (another namespace: a sandbox).
#[test]
fn a_run_under_a_profile_starts_only_inside_a_sandbox() {
    use kovra_core::policy::run_allowed;
    assert_eq!(
        run_allowed(true, false),
        Decision::Deny(Reason::AgentRunNotContained)
    );
    assert_eq!(run_allowed(true, true), Decision::Allow);
    assert_eq!(run_allowed(false, false), Decision::Allow);
    assert_eq!(run_allowed(false, true), Decision::Allow);
}

/// The narrow default profile has no `reveal` class, so its socket refuses `reveal` of every
/// record, revealable or not; a value injected into a program the agent starts would be the
/// same reveal, so it is refused too (found by review).
#[test]
fn a_profile_without_reveal_gets_no_value_it_could_print() {
    let mut c = policy_cases::example_inject(Sensitivity::Low, true);
    c.origin = Origin::Agent;
    c.profile = Some(ProfileFacts {
        value_opt_in: false,
    });
    let narrow = Scope {
        operations: [OperationClass::Metadata, OperationClass::Inject].into(),
        projects: ProjectScope::All,
        global: true,
        environments: EnvScope::NonProduction,
    };
    let reveal = c.with(|c| c.operation = Operation::Reveal);
    assert_eq!(
        reveal.decide(&narrow),
        Decision::Deny(Reason::OperationOutOfScope),
        "the profile may not reveal it"
    );
    assert_ne!(
        c.decide(&narrow),
        Decision::Allow,
        "yet a program the agent starts gets the value"
    );
}
