#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The laws of the one policy decision, checked as properties over the whole input space of
//! [`decide`]: every operation, sensitivity, flag, record present or absent, production or not,
//! every surface, both origins, with or without a proof, under random scopes.
//!
//! Each property is named after the law it checks and quotes it in its doc comment. A few plain
//! examples (`policy_examples/`) pin concrete outcomes.

use std::collections::BTreeSet;

use kovra_core::coord::Pin;
use kovra_core::model::{
    Operation, OperationClass, Origin, RecordKind, Sensitivity, Surface, VaultName,
};
use kovra_core::policy::{
    Decision, Delivery, DeliveryChoice, EnvScope, Presence, ProjectScope, Reason, RecordFacts,
    Scope, VaultOperation, decide_vault, delivery_for, resolution_order,
};
use proptest::prelude::*;

mod common;
use common::strictness;

mod policy_cases;
use policy_cases::*;

mod policy_examples;

/// The requests that lower protection, for law 4.
fn lowers_protection(c: &Case) -> bool {
    let Some(r) = c.record else { return false };
    let protected = r.sensitivity >= Sensitivity::High || c.production;
    match c.operation {
        Operation::ChangeSensitivity => c.new_sensitivity.is_some_and(|n| n < r.sensitivity),
        Operation::ChangeRevealable => !r.revealable && c.new_revealable == Some(true),
        Operation::Delete | Operation::Update | Operation::Create => protected,
        // Sharing hands values to another party; replacing records from a package overwrites.
        Operation::Export => true,
        // A dotenv export hands every value of an environment to the screen.
        Operation::DotenvExport => true,
        Operation::Import => c.record.is_some(),
        // Pinning lets a value leave the vault for a provider's hosts.
        Operation::Bind => c.pinned.is_none(),
        // A write through a connection changes what the database holds.
        Operation::QueryWrite => true,
        Operation::Query
        | Operation::Broker
        | Operation::RequestValue
        | Operation::Metadata
        | Operation::Fingerprint
        | Operation::Inject
        | Operation::Reveal
        | Operation::Code
        | Operation::Sign
        | Operation::EditDescription => false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    // ---- Law 1: scope first ----------------------------------------------------------------

    /// Law 1, "scope first": if `!scope.addresses(vault, env, production)` the decision is
    /// `Unaddressable`, and it equals the decision for the same request with `record: None`
    /// (out-of-scope is answered exactly like absent).
    #[test]
    fn scope_first_out_of_scope_is_unaddressable_like_absent(c in arb_case(), scope in arb_scope()) {
        if !c.addressed_by(&scope) {
            let d = c.decide(&scope);
            prop_assert_eq!(d, Decision::Unaddressable);
            let absent = c.with(|c| c.record = None).decide(&scope);
            prop_assert_eq!(d, absent);
        }
    }

    /// Law 1, "scope first": a project-only scope (`global: false`) never yields anything but
    /// `Unaddressable` for `VaultName::Global`.
    #[test]
    fn scope_first_project_only_scope_never_reaches_global(c in arb_case(), scope in arb_scope()) {
        let scope = Scope { global: false, ..scope };
        let c = c.with(|c| c.vault = VaultName::Global);
        prop_assert_eq!(c.decide(&scope), Decision::Unaddressable);
    }

    /// Law 1, "scope first": `resolution_order(Pin::Scope, Some(p), scope)` contains `Global`
    /// iff `scope.global`; `resolution_order(Pin::Global, ..)` is exactly `[Global]`.
    #[test]
    fn scope_first_resolution_reaches_global_iff_in_scope(
        project in prop::option::of(prop::sample::select(PROJECTS.to_vec())),
        scope in arb_scope(),
    ) {
        let order = resolution_order(Pin::Scope, project, &scope);
        prop_assert_eq!(order.contains(&VaultName::Global), scope.global);
        if let Some(p) = project {
            // The project vault comes first, then global if in scope.
            prop_assert_eq!(order.first(), Some(&VaultName::Project(p.to_string())));
        }
        prop_assert_eq!(resolution_order(Pin::Global, project, &scope), vec![VaultName::Global]);
    }

    // ---- Law 2 -----------------------------------------------------------------------------

    /// Law 2, "inject-only is never revealed": `Reveal` of an `InjectOnly` record is never
    /// `Allow` nor `NeedsProof`, for any origin or presence.
    #[test]
    fn inject_only_is_never_revealed(c in arb_case(), revealable in any::<bool>(), scope in arb_scope()) {
        let c = c.with(|c| {
            c.operation = Operation::Reveal;
            c.record = Some(RecordFacts { sensitivity: Sensitivity::InjectOnly, revealable, kind: RecordKind::Secret });
        });
        let d = c.decide(&scope);
        prop_assert!(!matches!(d, Decision::Allow | Decision::NeedsProof(_)), "{c:?} -> {d:?}");
    }

    // ---- Law 3 -----------------------------------------------------------------------------

    /// Law 3, "an agent never reveals high, production, inject-only or non-revealable values":
    /// `Reveal` with origin `Agent` and (sensitivity >= High || production || !revealable) is
    /// never `Allow`, even with `Presence::Proven`.
    #[test]
    fn agent_never_reveals_protected_values(c in arb_existing_case(), scope in arb_scope()) {
        let c = c.with(|c| {
            c.operation = Operation::Reveal;
            c.origin = Origin::Agent;
        });
        let r = c.record.unwrap();
        if r.sensitivity >= Sensitivity::High || c.production || !r.revealable {
            let d = c.decide(&scope);
            prop_assert_ne!(d, Decision::Allow, "{:?}", c);
            let proven = c.with(|c| c.presence = Presence::Proven).decide(&scope);
            prop_assert_ne!(proven, Decision::Allow, "{:?} with proof", c);
        }
    }

    // ---- Law 4 -----------------------------------------------------------------------------

    /// Law 4, "an agent can never lower protection without proof": with presence `None`,
    /// `ChangeSensitivity` to a lower level, `ChangeRevealable` false -> true, `Delete` or
    /// `Update` (and `Create` over an existing record) of a high/inject-only or production
    /// record are never `Allow` — for ANY origin (only a proof loosens).
    #[test]
    fn agent_never_lowers_protection_without_proof(
        c in arb_existing_case(),
        op in prop::sample::select(vec![
            Operation::ChangeSensitivity,
            Operation::ChangeRevealable,
            Operation::Delete,
            Operation::Update,
            Operation::Create,
        ]),
        scope in arb_scope(),
    ) {
        let c = c.with(|c| {
            c.operation = op;
            c.presence = Presence::None;
        });
        if lowers_protection(&c) {
            for origin in ORIGINS {
                let c = c.with(|c| c.origin = origin);
                let d = c.decide(&scope);
                prop_assert_ne!(d, Decision::Allow, "{:?}", c);
            }
        }
    }

    // ---- Law 5 -----------------------------------------------------------------------------

    /// Law 5, "production plaintext reaches a context only through a human's attended reveal":
    /// `Reveal` of a production record is `Allow` only when origin is `Human` and presence is
    /// `Proven`.
    #[test]
    fn production_plaintext_only_through_attended_human_reveal(
        c in arb_existing_case(),
        scope in arb_scope(),
    ) {
        let c = c.with(|c| {
            c.operation = Operation::Reveal;
            c.production = true;
        });
        if c.decide(&scope) == Decision::Allow {
            prop_assert_eq!(c.origin, Origin::Human, "{:?}", c);
            prop_assert_eq!(c.presence, Presence::Proven, "{:?}", c);
        }
    }

    // ---- Law 6 -----------------------------------------------------------------------------

    /// Law 6, "origin can only tighten": for every request, if `decide` with origin `Agent` is
    /// `Allow` then with origin `Human` it is `Allow` too (switching Human -> Agent never turns
    /// a non-Allow into Allow); and more generally strictness(Agent) >= strictness(Human) in the
    /// order `Allow < NeedsProof < Deny < Unaddressable`.
    #[test]
    fn origin_only_tightens(c in arb_case(), scope in arb_scope()) {
        let human = c.with(|c| c.origin = Origin::Human).decide(&scope);
        let agent = c.with(|c| c.origin = Origin::Agent).decide(&scope);
        if agent == Decision::Allow {
            prop_assert_eq!(human, Decision::Allow, "{:?}", c);
        }
        prop_assert!(
            strictness(agent) >= strictness(human),
            "{c:?}: agent {agent:?} looser than human {human:?}"
        );
    }

    /// Law 6 on reveals, where origin matters most: the same law with the operation fixed to
    /// `Reveal` of an existing record, so the origin-dependent branch is exercised densely.
    #[test]
    fn origin_only_tightens_on_reveal(c in arb_existing_case(), scope in arb_scope()) {
        let c = c.with(|c| c.operation = Operation::Reveal);
        let human = c.with(|c| c.origin = Origin::Human).decide(&scope);
        let agent = c.with(|c| c.origin = Origin::Agent).decide(&scope);
        prop_assert!(
            strictness(agent) >= strictness(human),
            "{c:?}: agent {agent:?} looser than human {human:?}"
        );
    }

    // ---- Law 7 -----------------------------------------------------------------------------

    /// Law 7, "a proof only loosens": switching presence `None` -> `Proven` never makes the
    /// decision stricter, and `NeedsProof` without proof becomes `Allow` with proof.
    #[test]
    fn proof_only_loosens(c in arb_case(), scope in arb_scope()) {
        let without = c.with(|c| c.presence = Presence::None).decide(&scope);
        let with = c.with(|c| c.presence = Presence::Proven).decide(&scope);
        prop_assert!(
            strictness(with) <= strictness(without),
            "{c:?}: proof tightened {without:?} into {with:?}"
        );
        if matches!(without, Decision::NeedsProof(_)) {
            prop_assert_eq!(with, Decision::Allow, "{:?}", c);
        }
    }

    // ---- Law 8 -----------------------------------------------------------------------------

    /// Law 8, "operation not in scope": an addressable existing record whose operation class
    /// is not in `scope.operations` is `Deny(Reason::OperationOutOfScope)`.
    #[test]
    fn operation_not_in_scope_is_denied(c in arb_existing_case(), scope in arb_scope()) {
        let mut scope = scope;
        scope.operations.remove(&c.operation.class());
        if c.addressed_by(&scope) {
            prop_assert_eq!(c.decide(&scope), Decision::Deny(Reason::OperationOutOfScope), "{:?}", c);
        }
    }

    // ---- Law 9 -----------------------------------------------------------------------------

    /// Law 9, "a production record never goes below high": `ChangeSensitivity` on a
    /// production record to `Low`/`Medium` is `Deny(ProductionFloorIsHigh)` even with proof
    /// (when the record is addressable and writes are in scope; otherwise scope answers first).
    #[test]
    fn production_record_never_goes_below_high(
        c in arb_existing_case(),
        new in prop::sample::select(vec![Sensitivity::Low, Sensitivity::Medium]),
        write_in_scope in any::<bool>(),
        scope in arb_scope(),
    ) {
        let c = c.with(|c| {
            c.operation = Operation::ChangeSensitivity;
            c.production = true;
            c.new_sensitivity = Some(new);
        });
        let mut scope = scope;
        if write_in_scope {
            scope.operations.insert(OperationClass::Write);
        }
        for presence in PRESENCES {
            let c = c.with(|c| c.presence = presence);
            let d = c.decide(&scope);
            prop_assert_ne!(d, Decision::Allow, "{:?}", c);
            if c.addressed_by(&scope) && scope.operations.contains(&OperationClass::Write) {
                prop_assert_eq!(d, Decision::Deny(Reason::ProductionFloorIsHigh), "{:?}", c);
            }
        }
    }
}
