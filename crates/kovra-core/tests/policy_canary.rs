#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The laws of canary records: a canary is never used, whatever else holds (origin, proof,
//! allowlist, scope, sensitivity, delivery), and is refused with the one reason the surfaces
//! answer as a missing record; everything that is not a use is decided exactly as for the
//! same record that is not a canary, so nothing sets a canary apart. Planting and listing
//! canaries is the human's alone.

use kovra_core::model::{Operation, Origin};
use kovra_core::policy::{
    Decision, Presence, Reason, Scope, VaultOperation, decide_vault, trips_canary,
};
use proptest::prelude::*;

mod policy_cases;
use policy_cases::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// Law: a canary is never used, whatever else holds.
    #[test]
    fn a_canary_is_never_used(c in arb_existing_case(), scope in arb_scope()) {
        let canary = c.with(|c| c.canary = true);
        let d = canary.decide(&scope);
        if trips_canary(c.operation) {
            prop_assert!(
                d == Decision::Deny(Reason::CanaryTripped) || d == Decision::Unaddressable,
                "{:?} of a canary: {:?}", c.operation, d
            );
        }
        prop_assert!(!matches!(d, Decision::Allow) || !trips_canary(c.operation));
    }

    /// Law: out of scope, a canary is as absent as any record (scope is judged first, so a
    /// canary outside the session's scope is never tripped by it).
    #[test]
    fn out_of_scope_a_canary_is_unaddressable(c in arb_existing_case(), scope in arb_scope()) {
        let canary = c.with(|c| c.canary = true);
        if !canary.addressed_by(&scope) {
            prop_assert_eq!(canary.decide(&scope), Decision::Unaddressable);
        }
    }

    /// Law: what is not a use (metadata, the human's changes) is decided exactly as for the
    /// same record that is not a canary: a canary answers them like any record.
    #[test]
    fn what_is_not_a_use_is_decided_as_for_any_record(c in arb_case(), scope in arb_scope()) {
        let canary = c.with(|c| c.canary = true);
        if !trips_canary(c.operation) {
            prop_assert_eq!(canary.decide(&scope), c.decide(&scope));
        }
    }

    /// Law: the canary fact changes nothing for a record that is not there.
    #[test]
    fn no_record_no_canary(c in arb_case(), scope in arb_scope()) {
        let canary = c.with(|c| c.canary = true);
        if c.record.is_none() {
            prop_assert_eq!(canary.decide(&scope), c.decide(&scope));
        }
    }
}

#[test]
fn every_use_of_a_canary_trips_it_for_a_proven_human_at_an_allowlisted_program() {
    for operation in Operation::ALL {
        let c = example_inject(kovra_core::model::Sensitivity::Low, true).with(|c| {
            c.operation = operation;
            c.presence = Presence::Proven;
            c.allowlisted = true;
            c.pinned = Some("openai");
            c.target = "openai";
            c.canary = true;
        });
        let d = c.decide(&Scope::full());
        if trips_canary(operation) {
            assert_eq!(d, Decision::Deny(Reason::CanaryTripped), "{operation:?}");
        } else {
            assert_eq!(
                d,
                c.with(|c| c.canary = false).decide(&Scope::full()),
                "{operation:?}"
            );
        }
    }
}

#[test]
fn the_uses_are_the_ones_the_issue_names() {
    use Operation::*;
    for op in [
        Reveal,
        Inject,
        Broker,
        Export,
        Fingerprint,
        Code,
        Sign,
        Query,
        QueryWrite,
    ] {
        assert!(trips_canary(op), "{op:?}");
    }
    for op in [
        Metadata,
        EditDescription,
        Create,
        Update,
        Delete,
        Bind,
        RequestValue,
    ] {
        assert!(!trips_canary(op), "{op:?}");
    }
}

#[test]
fn planting_and_listing_canaries_is_the_humans_with_a_proof() {
    for op in [VaultOperation::CreateCanary, VaultOperation::ListCanaries] {
        for presence in PRESENCES {
            // An agent is refused outright, proof or not: never parked for an approval.
            assert_eq!(
                decide_vault(op, &Scope::full(), presence, Origin::Agent),
                Decision::Deny(Reason::AgentCannotManageCanaries),
                "{op:?}"
            );
        }
        assert_eq!(
            decide_vault(op, &Scope::full(), Presence::None, Origin::Human),
            Decision::NeedsProof(Reason::CanaryNeedsPresence)
        );
        assert_eq!(
            decide_vault(op, &Scope::full(), Presence::Proven, Origin::Human),
            Decision::Allow
        );
        let narrow = Scope {
            global: false,
            ..Scope::full()
        };
        assert_eq!(
            decide_vault(op, &narrow, Presence::Proven, Origin::Human),
            Decision::Deny(Reason::VaultOperationNeedsFullScope)
        );
    }
}

#[test]
fn an_agent_never_reads_the_canary_entries_of_the_trail() {
    for action in ["canary-create", "canary-list", "canary-tripped"] {
        assert!(!kovra_core::policy::audit_shows(action, Origin::Agent));
        assert!(kovra_core::policy::audit_shows(action, Origin::Human));
    }
    for action in ["add", "reveal", "list"] {
        assert!(kovra_core::policy::audit_shows(action, Origin::Agent));
    }
}
