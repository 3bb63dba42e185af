#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The laws of the one policy decision, checked as properties over the whole input space of
//! [`decide`]: every operation, sensitivity, flag, record present or absent, production or not,
//! every surface, both origins, with or without a proof, under random scopes.
//!
//! Each property is named after the law it checks and quotes it in its doc comment. A few plain
//! examples at the end pin concrete outcomes.

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

// ---- Concrete examples ---------------------------------------------------------------------

fn example(operation: Operation, env: &str, production: bool, record: Option<RecordFacts>) -> Case {
    Case {
        operation,
        vault: VaultName::Project("app".to_string()),
        env: env.to_string(),
        production,
        record,
        new_sensitivity: None,
        new_revealable: None,
        surface: Surface::Cli,
        origin: Origin::Human,
        presence: Presence::None,
        allowlisted: false,
        pinned: None,
        target: "openai",
        delivery: Delivery::Value,
        profile: None,
        allowed_hosts: Vec::new(),
        bound_host: None,
        remote: None,
        rules: RulesCase::default(),
        canary: false,
    }
}

fn facts(sensitivity: Sensitivity, revealable: bool) -> Option<RecordFacts> {
    Some(RecordFacts {
        sensitivity,
        revealable,
        kind: RecordKind::Secret,
    })
}

#[test]
fn human_reveal_of_revealable_low_dev_record_is_allowed() {
    let c = example(
        Operation::Reveal,
        "dev",
        false,
        facts(Sensitivity::Low, true),
    );
    assert_eq!(c.decide(&Scope::full()), Decision::Allow);
}

#[test]
fn agent_reveal_of_production_is_refused_even_with_proof() {
    let c = example(
        Operation::Reveal,
        "prod",
        true,
        facts(Sensitivity::High, true),
    )
    .with(|c| {
        c.origin = Origin::Agent;
        c.surface = Surface::Mcp;
    });
    assert_eq!(
        c.decide(&Scope::full()),
        Decision::Deny(Reason::AgentCannotRevealProtected)
    );
    let proven = c.with(|c| c.presence = Presence::Proven);
    assert_eq!(
        proven.decide(&Scope::full()),
        Decision::Deny(Reason::AgentCannotRevealProtected)
    );
}

#[test]
fn human_reveal_of_production_needs_then_accepts_a_proof() {
    let c = example(
        Operation::Reveal,
        "prod",
        true,
        facts(Sensitivity::High, true),
    );
    assert_eq!(
        c.decide(&Scope::full()),
        Decision::NeedsProof(Reason::RevealNeedsPresence)
    );
    let proven = c.with(|c| c.presence = Presence::Proven);
    assert_eq!(proven.decide(&Scope::full()), Decision::Allow);
}

#[test]
fn inject_only_is_refused_to_a_proven_human() {
    let c = example(
        Operation::Reveal,
        "dev",
        false,
        facts(Sensitivity::InjectOnly, true),
    )
    .with(|c| c.presence = Presence::Proven);
    assert_eq!(
        c.decide(&Scope::full()),
        Decision::Deny(Reason::InjectOnlyNeverRevealed)
    );
}

#[test]
fn agent_lowering_sensitivity_needs_a_proof() {
    let c = example(
        Operation::ChangeSensitivity,
        "dev",
        false,
        facts(Sensitivity::High, false),
    )
    .with(|c| {
        c.origin = Origin::Agent;
        c.new_sensitivity = Some(Sensitivity::Low);
    });
    assert_eq!(
        c.decide(&Scope::full()),
        Decision::NeedsProof(Reason::LoweringNeedsPresence)
    );
}

#[test]
fn production_floor_holds_with_proof() {
    let c = example(
        Operation::ChangeSensitivity,
        "prod",
        true,
        facts(Sensitivity::High, false),
    )
    .with(|c| {
        c.new_sensitivity = Some(Sensitivity::Medium);
        c.presence = Presence::Proven;
    });
    assert_eq!(
        c.decide(&Scope::full()),
        Decision::Deny(Reason::ProductionFloorIsHigh)
    );
}

#[test]
fn absent_and_out_of_scope_look_the_same() {
    let present = example(
        Operation::Reveal,
        "dev",
        false,
        facts(Sensitivity::Low, true),
    );
    let absent = present.with(|c| c.record = None);
    assert_eq!(absent.decide(&Scope::full()), Decision::Unaddressable);
    let elsewhere = Scope {
        projects: ProjectScope::Only(BTreeSet::from(["api".to_string()])),
        ..Scope::full()
    };
    assert_eq!(present.decide(&elsewhere), Decision::Unaddressable);
    let non_prod = Scope {
        environments: EnvScope::NonProduction,
        ..Scope::full()
    };
    let prod = example(
        Operation::Metadata,
        "prod",
        true,
        facts(Sensitivity::High, false),
    );
    assert_eq!(prod.decide(&non_prod), Decision::Unaddressable);
}

#[test]
fn creating_an_absent_record_is_allowed_and_needs_write() {
    let c = example(Operation::Create, "dev", false, None);
    assert_eq!(c.decide(&Scope::full()), Decision::Allow);
    let read_only = Scope {
        operations: BTreeSet::from([OperationClass::Metadata, OperationClass::Reveal]),
        ..Scope::full()
    };
    assert_eq!(
        c.decide(&read_only),
        Decision::Deny(Reason::OperationOutOfScope)
    );
}

#[test]
fn reveal_outside_the_granted_operations_is_denied() {
    let c = example(
        Operation::Reveal,
        "dev",
        false,
        facts(Sensitivity::Low, true),
    );
    let inject_only = Scope {
        operations: BTreeSet::from([OperationClass::Inject]),
        ..Scope::full()
    };
    assert_eq!(
        c.decide(&inject_only),
        Decision::Deny(Reason::OperationOutOfScope)
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// A fingerprint can confirm a guessed value, so an agent never fingerprints a high,
    /// inject-only or production record, with or without a proof.
    #[test]
    fn agent_never_fingerprints_protected_values(c in arb_case(), scope in arb_scope()) {
        let c = c.with(|c| { c.operation = Operation::Fingerprint; c.origin = Origin::Agent; });
        if let Some(r) = c.record
            && (r.sensitivity >= Sensitivity::High || c.production)
        {
            prop_assert_ne!(c.decide(&scope), Decision::Allow);
        }
    }

    /// Narrowing a scope by another addresses exactly what both address.
    #[test]
    fn intersected_scope_addresses_only_what_both_address(
        c in arb_case(), a in arb_scope(), b in arb_scope()
    ) {
        let both = a.intersect(&b);
        prop_assert_eq!(c.addressed_by(&both), c.addressed_by(&a) && c.addressed_by(&b));
        for class in OperationClass::ALL {
            prop_assert_eq!(
                both.operations.contains(&class),
                a.operations.contains(&class) && b.operations.contains(&class)
            );
        }
    }

    /// Vault-wide operations that touch every vault (verify the whole trail, change the
    /// passphrase, rotate keys) are never allowed to a session scoped to less than the vault.
    #[test]
    fn vault_wide_operations_need_the_full_scope(scope in arb_scope()) {
        for op in [VaultOperation::VerifyAudit, VaultOperation::ChangePassphrase, VaultOperation::RotateKeys] {
            if !scope.is_full() {
                prop_assert_ne!(decide_vault(op, &scope, Presence::Proven, Origin::Human), Decision::Allow);
            }
        }
        if !scope.operations.contains(&OperationClass::Write) {
            prop_assert_ne!(decide_vault(VaultOperation::CreateProject, &scope, Presence::Proven, Origin::Human), Decision::Allow);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// High and production values reach only allowlisted executables, and only with a proof.
    /// (A placeholder is not the value: the child never holds it.)
    #[test]
    fn protected_values_are_injected_only_into_allowlisted_executables_with_proof(
        c in arb_case(), scope in arb_scope()
    ) {
        let c = c.with(|c| {
            c.operation = Operation::Inject;
            c.delivery = Delivery::Value;
        });
        if let Some(r) = c.record
            && (r.sensitivity >= Sensitivity::High || c.production)
            && c.decide(&scope) == Decision::Allow
        {
            prop_assert!(c.allowlisted && c.presence == Presence::Proven);
        }
    }

    /// Adding to the allowlist always needs a proof; removing never loosens anything.
    #[test]
    fn allowlist_additions_need_a_proof(scope in arb_scope()) {
        prop_assert_ne!(decide_vault(VaultOperation::AddToAllowlist, &scope, Presence::None, Origin::Human), Decision::Allow);
    }

    /// `kovra confirm`: only a proof answers it, whoever asks in whatever scope; with one,
    /// nothing else stands in the way.
    #[test]
    fn a_confirmation_is_exactly_a_proof(scope in arb_scope(), agent in any::<bool>()) {
        let origin = if agent { Origin::Agent } else { Origin::Human };
        prop_assert_eq!(
            decide_vault(VaultOperation::Confirm, &scope, Presence::None, origin),
            Decision::NeedsProof(Reason::ConfirmNeedsPresence)
        );
        prop_assert_eq!(decide_vault(VaultOperation::Confirm, &scope, Presence::Proven, origin), Decision::Allow);
    }
}

// ---- TOTP codes ------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// An inject-only record never yields a code, to anyone, with or without a proof.
    #[test]
    fn inject_only_never_yields_a_code(c in arb_case(), revealable in any::<bool>(), scope in arb_scope()) {
        let c = c.with(|c| {
            c.operation = Operation::Code;
            c.record = Some(RecordFacts { sensitivity: Sensitivity::InjectOnly, revealable, kind: RecordKind::Secret });
        });
        for presence in [Presence::None, Presence::Proven] {
            let d = c.with(|c| c.presence = presence).decide(&scope);
            prop_assert!(!matches!(d, Decision::Allow | Decision::NeedsProof(_)), "{c:?} -> {d:?}");
        }
    }

    /// An agent gets a code only from a low, non-production record; a proof changes nothing.
    #[test]
    fn agent_gets_codes_only_from_low_records(c in arb_existing_case(), scope in arb_scope()) {
        let c = c.with(|c| {
            c.operation = Operation::Code;
            c.origin = Origin::Agent;
        });
        let r = c.record.unwrap();
        for presence in [Presence::None, Presence::Proven] {
            let d = c.with(|c| c.presence = presence).decide(&scope);
            if r.sensitivity != Sensitivity::Low || c.production {
                prop_assert!(!matches!(d, Decision::Allow | Decision::NeedsProof(_)), "{c:?} -> {d:?}");
            }
        }
    }

    /// A human gets codes from low and medium non-production records without a proof, and
    /// from high or production records only with one.
    #[test]
    fn human_codes_need_a_proof_only_when_protected(c in arb_existing_case()) {
        let scope = Scope::full();
        let c = c.with(|c| {
            c.operation = Operation::Code;
            c.origin = Origin::Human;
            c.presence = Presence::None;
        });
        let r = c.record.unwrap();
        let d = c.decide(&scope);
        let proven = c.with(|c| c.presence = Presence::Proven).decide(&scope);
        if r.sensitivity == Sensitivity::InjectOnly {
            prop_assert!(matches!(d, Decision::Deny(_)));
        } else if r.sensitivity == Sensitivity::High || c.production {
            prop_assert!(matches!(d, Decision::NeedsProof(_)), "{c:?} -> {d:?}");
            prop_assert_eq!(proven, Decision::Allow);
        } else {
            prop_assert_eq!(d, Decision::Allow);
        }
    }

    /// Codes are a reveal-class operation: a scope without the reveal class never gets one.
    #[test]
    fn codes_need_the_reveal_class(c in arb_existing_case(), scope in arb_scope()) {
        let c = c.with(|c| c.operation = Operation::Code);
        if !scope.operations.contains(&OperationClass::Reveal) {
            prop_assert!(!matches!(c.decide(&scope), Decision::Allow | Decision::NeedsProof(_)));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// Origin only tightens for vault-wide operations too: an agent never enrols a second
    /// factor (it would see the seed), proof or not, and nothing an agent may do is refused
    /// to a human.
    #[test]
    fn vault_operations_origin_only_tightens(scope in arb_scope(), proven in any::<bool>()) {
        let presence = if proven { Presence::Proven } else { Presence::None };
        prop_assert!(matches!(
            decide_vault(VaultOperation::EnableTwoFactor, &scope, presence, Origin::Agent),
            Decision::Deny(_)
        ));
        for op in [
            VaultOperation::ListProjects, VaultOperation::CreateProject, VaultOperation::ReadAudit,
            VaultOperation::VerifyAudit, VaultOperation::ChangePassphrase, VaultOperation::RotateKeys,
            VaultOperation::ReadAllowlist, VaultOperation::AddToAllowlist, VaultOperation::RemoveFromAllowlist,
            VaultOperation::ReadApprovals, VaultOperation::ApproveRequest, VaultOperation::DenyRequest,
            VaultOperation::EnableTwoFactor, VaultOperation::ConfirmTwoFactor, VaultOperation::DisableTwoFactor,
            VaultOperation::ReadProviders, VaultOperation::AddProvider, VaultOperation::RemoveProvider,
            VaultOperation::ReadIdentity, VaultOperation::CreateIdentity, VaultOperation::AcceptSender,
        ] {
            if decide_vault(op, &scope, presence, Origin::Agent) == Decision::Allow {
                prop_assert_eq!(decide_vault(op, &scope, presence, Origin::Human), Decision::Allow);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// Pinning: a brokered use is allowed only to the provider the record is pinned to, an
    /// unpinned record is never brokered, and no fact (presence, origin, surface, scope)
    /// moves a value to another provider.
    #[test]
    fn broker_sends_a_value_only_to_its_pinned_provider(c in arb_case(), scope in arb_scope()) {
        let c = c.with(|c| c.operation = Operation::Broker);
        let d = c.decide(&scope);
        if c.pinned != Some(c.target) {
            prop_assert!(matches!(d, Decision::Deny(_) | Decision::Unaddressable), "{:?}", d);
            let proven = c.with(|c| c.presence = Presence::Proven).decide(&scope);
            prop_assert_ne!(proven, Decision::Allow);
        }
        if d == Decision::Allow {
            prop_assert_eq!(c.pinned, Some(c.target));
            prop_assert!(!c.production || c.presence == Presence::Proven);
            prop_assert!(scope.operations.contains(&OperationClass::Inject));
        }
    }

    /// A pin lasts: binding to another provider is refused even with a proof; binding an
    /// unpinned record needs a proof; re-binding to the same provider changes nothing.
    #[test]
    fn bind_never_moves_a_pin_and_needs_presence_to_set_one(c in arb_case(), scope in arb_scope()) {
        let c = c.with(|c| c.operation = Operation::Bind);
        let d = c.with(|c| c.presence = Presence::Proven).decide(&scope);
        if matches!(c.pinned, Some(p) if p != c.target) {
            prop_assert_ne!(d, Decision::Allow);
        }
        if c.pinned.is_none() && c.presence == Presence::None {
            prop_assert_ne!(c.decide(&scope), Decision::Allow);
        }
    }

    /// Adding a custom provider needs a proof and the full scope; reading the registry never
    /// needs more than metadata.
    #[test]
    fn custom_providers_need_presence(scope in arb_scope(), agent in any::<bool>()) {
        let origin = if agent { Origin::Agent } else { Origin::Human };
        prop_assert_ne!(decide_vault(VaultOperation::AddProvider, &scope, Presence::None, origin), Decision::Allow);
        if !scope.is_full() {
            prop_assert_ne!(decide_vault(VaultOperation::AddProvider, &scope, Presence::Proven, origin), Decision::Allow);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// Production records are never exported or imported, and inject-only records are never
    /// exported, whatever else is true (a proof included); any export needs a proof.
    #[test]
    fn sharing_never_touches_production_or_inject_only(c in arb_case(), scope in arb_scope()) {
        let proven = c.with(|c| c.presence = Presence::Proven);
        for op in [Operation::Export, Operation::Import] {
            let d = proven.with(|c| c.operation = op).decide(&scope);
            if c.production {
                prop_assert_ne!(d, Decision::Allow);
            }
        }
        let export = proven.with(|c| c.operation = Operation::Export).decide(&scope);
        if c.record.is_some_and(|r| r.sensitivity == Sensitivity::InjectOnly) {
            prop_assert_ne!(export, Decision::Allow);
        }
        let unproven = c.with(|c| { c.operation = Operation::Export; c.presence = Presence::None });
        prop_assert_ne!(unproven.decide(&scope), Decision::Allow);
    }
}

// ---- Placeholders: the inject mode where the child never holds the value -------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// A placeholder stands for a value only towards the record's pinned provider: an
    /// unpinned record is never delivered as one, whatever the other facts.
    #[test]
    fn placeholders_exist_only_for_pinned_records(c in arb_existing_case(), scope in arb_scope()) {
        let c = c.with(|c| {
            c.operation = Operation::Inject;
            c.delivery = Delivery::Placeholder;
            c.pinned = None;
        });
        let d = c.decide(&scope);
        prop_assert!(matches!(d, Decision::Deny(_) | Decision::Unaddressable), "{c:?}: {d:?}");
        let proven = c.with(|c| c.presence = Presence::Proven).decide(&scope);
        prop_assert_ne!(proven, Decision::Allow);
    }

    /// A placeholder is never harder to get than the value it stands for: the child holds
    /// less, so no fact makes the placeholder stricter. A production record's placeholder
    /// still needs a proof, as a brokered call with it does.
    #[test]
    fn a_placeholder_is_never_stricter_than_the_value(c in arb_existing_case(), scope in arb_scope()) {
        let c = c.with(|c| {
            c.operation = Operation::Inject;
            c.pinned = Some(c.target);
        });
        let value = c.with(|c| c.delivery = Delivery::Value).decide(&scope);
        let placeholder = c.with(|c| c.delivery = Delivery::Placeholder).decide(&scope);
        prop_assert!(
            strictness(placeholder) <= strictness(value),
            "{c:?}: placeholder {placeholder:?} stricter than value {value:?}"
        );
        if placeholder == Decision::Allow {
            prop_assert!(!c.production || c.presence == Presence::Proven, "{:?}", c);
            prop_assert!(scope.operations.contains(&OperationClass::Inject));
        }
    }

    /// An agent's run never holds the real value of a pinned record without a proof: with
    /// no proof, the value is never `Allow` for an agent, whatever else is true.
    #[test]
    fn an_agent_gets_a_pinned_value_only_with_a_proof(c in arb_existing_case(), scope in arb_scope()) {
        let c = c.with(|c| {
            c.operation = Operation::Inject;
            c.delivery = Delivery::Value;
            c.origin = Origin::Agent;
            c.pinned = Some(c.target);
            c.presence = Presence::None;
        });
        prop_assert_ne!(c.decide(&scope), Decision::Allow, "{:?}", c);
    }

    /// The delivery rule: unpinned records always go as values; an agent's run gets
    /// placeholders unless it asks for values; a human's run gets values unless they ask for
    /// placeholders or made them the default. What is asked wins over the default.
    #[test]
    fn delivery_follows_pin_origin_and_request(
        pinned in any::<bool>(),
        origin in prop::sample::select(ORIGINS.to_vec()),
        asked in prop::sample::select(vec![
            DeliveryChoice::Default,
            DeliveryChoice::Values,
            DeliveryChoice::Placeholders,
        ]),
        by_default in any::<bool>(),
    ) {
        let d = delivery_for(pinned, origin, asked, by_default);
        let expected = match (pinned, asked) {
            (false, _) | (true, DeliveryChoice::Values) => Delivery::Value,
            (true, DeliveryChoice::Placeholders) => Delivery::Placeholder,
            (true, DeliveryChoice::Default) if origin == Origin::Agent || by_default => {
                Delivery::Placeholder
            }
            (true, DeliveryChoice::Default) => Delivery::Value,
        };
        prop_assert_eq!(d, expected);
    }
}

#[test]
fn an_agent_run_with_a_pinned_high_record_gets_a_placeholder_without_the_allowlist() {
    let mut c = example(
        Operation::Inject,
        "dev",
        false,
        facts(Sensitivity::High, false),
    );
    c.origin = Origin::Agent;
    c.pinned = Some("openai");
    c.delivery = Delivery::Placeholder;
    assert_eq!(c.decide(&Scope::full()), Decision::Allow);
    c.delivery = Delivery::Value;
    assert_eq!(
        c.decide(&Scope::full()),
        Decision::Deny(Reason::ExecutableNotAllowlisted)
    );
    c.record = facts(Sensitivity::Low, false);
    assert_eq!(
        c.decide(&Scope::full()),
        Decision::NeedsProof(Reason::AgentValueOfPinnedNeedsPresence)
    );
}
