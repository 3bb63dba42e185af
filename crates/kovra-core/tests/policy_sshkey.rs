#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The laws of SSH key records: signing is a use decided like an injection of the record's
//! sensitivity, the private key never reaches an agent, and a `.env.refs` line gets the
//! public key unless it asks for the private one, which is then at least high.

use kovra_core::model::{Metadata, Operation, Origin, RecordKind, Sensitivity};
use kovra_core::policy::{
    Confirm, Decision, KeyPart, Presence, Reason, RecordFacts, Scope, injected_facts,
    parks_for_approval,
};
use proptest::prelude::*;

mod policy_cases;
use policy_cases::*;

fn key(sensitivity: Sensitivity, revealable: bool) -> Option<RecordFacts> {
    Some(RecordFacts {
        sensitivity,
        revealable,
        kind: RecordKind::SshKey,
    })
}

fn sign(sensitivity: Sensitivity, origin: Origin, production: bool) -> Case {
    example_inject(sensitivity, false).with(|c| {
        c.operation = Operation::Sign;
        c.record = key(sensitivity, false);
        c.origin = origin;
        c.production = production;
        c.env = if production { "prod" } else { "dev" }.into();
    })
}

#[test]
fn signing_with_a_low_or_medium_key_is_allowed_to_anyone_in_scope() {
    for s in [Sensitivity::Low, Sensitivity::Medium] {
        for origin in [Origin::Human, Origin::Agent] {
            assert_eq!(
                sign(s, origin, false).decide(&Scope::full()),
                Decision::Allow
            );
        }
    }
}

#[test]
fn signing_with_a_high_or_production_key_needs_a_proof_and_an_agent_is_parked() {
    for (s, production) in [
        (Sensitivity::High, false),
        (Sensitivity::InjectOnly, false),
        (Sensitivity::Low, true),
    ] {
        for origin in [Origin::Human, Origin::Agent] {
            let c = sign(s, origin, production);
            let d = c.decide(&Scope::full());
            assert_eq!(d, Decision::NeedsProof(Reason::SignNeedsPresence), "{c:?}");
            assert_eq!(
                parks_for_approval(d, origin, false),
                origin == Origin::Agent
            );
            let proven = c.with(|c| c.presence = Presence::Proven);
            assert_eq!(proven.decide(&Scope::full()), Decision::Allow);
        }
    }
}

#[test]
fn signing_needs_the_inject_class_in_scope() {
    let mut scope = Scope::full();
    scope
        .operations
        .remove(&kovra_core::model::OperationClass::Inject);
    assert_eq!(
        sign(Sensitivity::Low, Origin::Human, false).decide(&scope),
        Decision::Deny(Reason::OperationOutOfScope)
    );
}

#[test]
fn a_private_key_is_shown_only_to_a_human_with_a_proof() {
    for s in [Sensitivity::Low, Sensitivity::Medium, Sensitivity::High] {
        let reveal = sign(s, Origin::Human, false).with(|c| {
            c.operation = Operation::Reveal;
            c.record = key(s, true);
        });
        assert_eq!(
            reveal.decide(&Scope::full()),
            Decision::NeedsProof(Reason::RevealNeedsPresence)
        );
        let proven = reveal.with(|c| c.presence = Presence::Proven);
        assert_eq!(proven.decide(&Scope::full()), Decision::Allow);
        let agent = proven.with(|c| c.origin = Origin::Agent);
        assert_eq!(
            agent.decide(&Scope::full()),
            Decision::Deny(Reason::AgentNeverGetsPrivateKey)
        );
    }
}

#[test]
fn a_key_record_is_never_shared() {
    let c = sign(Sensitivity::Low, Origin::Human, false).with(|c| {
        c.operation = Operation::Export;
        c.presence = Presence::Proven;
    });
    assert_eq!(
        c.decide(&Scope::full()),
        Decision::Deny(Reason::SshKeyNeverShared)
    );
}

#[test]
fn a_key_record_is_never_a_brokered_credential() {
    for operation in [Operation::Broker, Operation::Bind] {
        let c = sign(Sensitivity::Low, Origin::Human, false).with(|c| {
            c.operation = operation;
            c.presence = Presence::Proven;
            c.pinned = Some("openai");
        });
        assert_eq!(
            c.decide(&Scope::full()),
            Decision::Deny(Reason::SshKeyNeverBrokered),
            "{operation:?}"
        );
    }
}

#[test]
fn a_refs_line_gets_the_public_key_freely_and_the_private_key_as_high() {
    let low = key(Sensitivity::Low, true).unwrap();
    let public = injected_facts(low, KeyPart::Public);
    assert_eq!(
        (public.sensitivity, public.revealable),
        (Sensitivity::Low, true)
    );
    let private = injected_facts(low, KeyPart::Private);
    assert_eq!(
        (private.sensitivity, private.revealable),
        (Sensitivity::High, false)
    );
    let inject_only = key(Sensitivity::InjectOnly, false).unwrap();
    assert_eq!(
        injected_facts(inject_only, KeyPart::Private).sensitivity,
        Sensitivity::InjectOnly
    );
    // A high key's public half goes to an unlisted program; its private key does not.
    let high = key(Sensitivity::High, false);
    let inject = example_inject(Sensitivity::High, false);
    let public = inject.with(|c| c.record = high.map(|f| injected_facts(f, KeyPart::Public)));
    assert_eq!(public.decide(&Scope::full()), Decision::Allow);
    let low_private = inject.with(|c| {
        c.record = key(Sensitivity::Low, true).map(|f| injected_facts(f, KeyPart::Private))
    });
    assert_eq!(
        low_private.decide(&Scope::full()),
        Decision::Deny(Reason::ExecutableNotAllowlisted)
    );
    // Other records are injected as they are, whatever the line asked.
    let secret = RecordFacts {
        kind: RecordKind::Secret,
        ..low
    };
    assert_eq!(injected_facts(secret, KeyPart::Private), secret);
}

#[test]
fn metadata_written_before_key_records_reads_as_a_secret() {
    let old = r#"{"coordinate":"secret:dev/db/password","sensitivity":"low","revealable":true,"description":"","created":0,"updated":0,"version":1}"#;
    let meta: Metadata = serde_json::from_str(old).unwrap();
    assert_eq!(meta.kind(), RecordKind::Secret);
    assert!(meta.ssh_key.is_none());
    // Written back, it is the same bytes: nothing new appears for a plain record.
    assert_eq!(serde_json::to_string(&meta).unwrap(), old);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// Law: whatever else holds, an agent is never allowed to reveal an SSH private key.
    #[test]
    fn an_agent_never_reveals_a_private_key(c in arb_existing_case(), scope in arb_scope()) {
        let c = c.with(|c| {
            c.operation = Operation::Reveal;
            c.origin = Origin::Agent;
            if let Some(r) = c.record.as_mut() {
                r.kind = RecordKind::SshKey;
            }
        });
        prop_assert_ne!(c.decide(&scope), Decision::Allow);
    }

    /// Law: signing with a protected key is never allowed without a proof, unless the
    /// ssh-agent's accepted rules (themselves accepted with a proof) loosen its
    /// confirmation; the file alone never does (`policy_agentrules`).
    #[test]
    fn a_protected_key_never_signs_unattended(c in arb_existing_case(), scope in arb_scope()) {
        let c = c.with(|c| {
            c.operation = Operation::Sign;
            c.presence = Presence::None;
        });
        let protected = c.production
            || c.record.is_some_and(|r| r.sensitivity >= Sensitivity::High);
        let accepted_loosens = matches!(
            c.rules.accepted_confirm,
            Some(Confirm::Never | Confirm::OncePerSession)
        );
        if protected && !accepted_loosens {
            prop_assert_ne!(c.decide(&scope), Decision::Allow);
        }
    }
}

const GITHUB: &str = "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s";
const OTHER: &str = "SHA256:p2QAMXNIC1TJYWeIOttrVc98/R1BUFWu3/LiyKgUfQM";

#[test]
fn a_key_restricted_to_servers_signs_only_for_a_session_bound_to_one_of_them() {
    for (s, production) in [
        (Sensitivity::Low, false),
        (Sensitivity::High, false),
        (Sensitivity::Low, true),
    ] {
        for origin in [Origin::Human, Origin::Agent] {
            for presence in [Presence::None, Presence::Proven] {
                let c = sign(s, origin, production).with(|c| {
                    c.allowed_hosts = vec![GITHUB.into()];
                    c.presence = presence;
                });
                // Bound to an allowed server: decided as any signature with that key.
                let to_github = c.with(|c| c.bound_host = Some(GITHUB.into()));
                let unrestricted = c.with(|c| c.allowed_hosts.clear());
                assert_eq!(
                    to_github.decide(&Scope::full()),
                    unrestricted.decide(&Scope::full()),
                    "{to_github:?}"
                );
                // Another server, or no bind at all: refused, and no proof changes that.
                assert_eq!(
                    c.with(|c| c.bound_host = Some(OTHER.into()))
                        .decide(&Scope::full()),
                    Decision::Deny(Reason::SignHostNotAllowed),
                );
                assert_eq!(
                    c.decide(&Scope::full()),
                    Decision::Deny(Reason::SignNeedsBoundHost),
                );
            }
        }
    }
}

#[test]
fn a_key_without_a_restriction_signs_with_or_without_a_bind() {
    for bound in [None, Some(OTHER.to_string())] {
        let c = sign(Sensitivity::Low, Origin::Agent, false).with(|c| c.bound_host = bound);
        assert_eq!(c.decide(&Scope::full()), Decision::Allow);
    }
}

proptest! {
    /// Whatever else holds, a restricted key never signs for a host outside its list.
    #[test]
    fn a_restricted_key_never_signs_elsewhere(c in arb_existing_case(), bound in prop::option::of(prop::sample::select(vec![OTHER.to_string()]))) {
        let c = c.with(|c| {
            c.operation = Operation::Sign;
            c.allowed_hosts = vec![GITHUB.into()];
            c.bound_host = bound;
        });
        prop_assert_ne!(c.decide(&Scope::full()), Decision::Allow);
    }
}
