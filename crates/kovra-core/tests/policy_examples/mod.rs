//! The concrete examples that pin outcomes of [`decide`] the laws in `policy_laws.rs` only
//! bound: who may reveal, inject, write or relocate what, with and without a proof.

use super::*;

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
