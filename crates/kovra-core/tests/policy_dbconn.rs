#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The laws of database connection records: never injected into a process as a value (only
//! through kovra's database proxy, `#url`, the child holding a token of its run's), never an
//! API credential, never in a sharing package (which would carry
//! it as a plain secret), and otherwise decided exactly as a secret with the same facts (a
//! reveal is neither looser nor stricter).

use kovra_core::model::{Metadata, Operation, Origin, RecordKind, Sensitivity};
use kovra_core::policy::{
    Decision, Delivery, KeyPart, Presence, Reason, Scope, injected_facts, proxied_read_only,
};
use proptest::prelude::*;

mod policy_cases;
use policy_cases::*;

fn connection(c: &Case) -> Case {
    c.with(|c| {
        if let Some(r) = c.record.as_mut() {
            r.kind = RecordKind::Postgres;
        }
    })
}

#[test]
fn a_connection_is_not_injected_even_for_a_proven_human_and_an_allowlisted_program() {
    for s in Sensitivity::ALL {
        let c = connection(&example_inject(s, true).with(|c| {
            c.presence = Presence::Proven;
            c.allowlisted = true;
        }));
        assert_eq!(
            c.decide(&Scope::full()),
            Decision::Deny(Reason::ConnectionNotInjected),
            "{s}"
        );
        // A `.env.refs` line's part changes nothing for it.
        for part in [KeyPart::Public, KeyPart::Private, KeyPart::Url] {
            let r = c.record.unwrap();
            assert_eq!(injected_facts(r, part), r);
        }
    }
}

#[test]
fn through_the_proxy_a_connection_is_allowed_and_production_is_attended_whoever_asks() {
    for s in Sensitivity::ALL {
        for origin in [Origin::Human, Origin::Agent] {
            let c = connection(&example_inject(s, false).with(|c| {
                c.delivery = Delivery::Proxied;
                c.origin = origin;
            }));
            assert_eq!(c.decide(&Scope::full()), Decision::Allow, "{s} {origin:?}");
            // Not for a program on the allowlist, not at a terminal: production needs a
            // proof, and a proof is what allows it.
            let prod = c.with(|c| {
                c.env = "prod".into();
                c.production = true;
                c.allowlisted = true;
            });
            assert_eq!(
                prod.decide(&Scope::full()),
                Decision::NeedsProof(Reason::ProxiedProductionNeedsPresence),
                "{s} {origin:?}"
            );
            let proven = prod.with(|c| c.presence = Presence::Proven);
            assert_eq!(proven.decide(&Scope::full()), Decision::Allow);
        }
    }
}

#[test]
fn the_proxy_serves_only_connection_records() {
    for kind in [RecordKind::Secret, RecordKind::Totp, RecordKind::SshKey] {
        let c = example_inject(Sensitivity::Low, true).with(|c| {
            c.delivery = Delivery::Proxied;
            c.presence = Presence::Proven;
            if let Some(r) = c.record.as_mut() {
                r.kind = kind;
            }
        });
        assert_eq!(
            c.decide(&Scope::full()),
            Decision::Deny(Reason::ProxyNeedsConnection),
            "{kind:?}"
        );
    }
}

#[test]
fn an_agents_proxied_sessions_are_read_only_and_origin_only_tightens() {
    assert!(proxied_read_only(Origin::Agent));
    assert!(!proxied_read_only(Origin::Human));
    assert!(proxied_read_only(Origin::Human.tighten(Origin::Agent)));
}

#[test]
fn a_connection_is_never_a_brokered_credential() {
    for operation in [Operation::Broker, Operation::Bind] {
        let c = connection(&example_inject(Sensitivity::Low, true).with(|c| {
            c.operation = operation;
            c.presence = Presence::Proven;
            c.pinned = Some("openai");
        }));
        assert_eq!(
            c.decide(&Scope::full()),
            Decision::Deny(Reason::ConnectionNeverBrokered),
            "{operation:?}"
        );
    }
}

#[test]
fn a_high_connection_is_revealed_to_a_human_with_a_proof_and_never_to_an_agent() {
    let c = connection(&example_inject(Sensitivity::High, false).with(|c| {
        c.operation = Operation::Reveal;
    }));
    assert_eq!(
        c.decide(&Scope::full()),
        Decision::NeedsProof(Reason::RevealNeedsPresence)
    );
    let proven = c.with(|c| c.presence = Presence::Proven);
    assert_eq!(proven.decide(&Scope::full()), Decision::Allow);
    let agent = proven.with(|c| c.origin = Origin::Agent);
    assert_eq!(
        agent.decide(&Scope::full()),
        Decision::Deny(Reason::AgentCannotRevealProtected)
    );
}

#[test]
fn metadata_written_before_connection_records_reads_without_one() {
    let old = r#"{"coordinate":"secret:dev/db/password","sensitivity":"low","revealable":true,"description":"","created":0,"updated":0,"version":1}"#;
    let meta: Metadata = serde_json::from_str(old).unwrap();
    assert!(meta.database.is_none());
    assert_eq!(serde_json::to_string(&meta).unwrap(), old);
}

/// Every operation but the four a connection is refused.
fn other_operations() -> Vec<Operation> {
    Operation::ALL
        .into_iter()
        .filter(|o| {
            !matches!(
                o,
                Operation::Inject
                    | Operation::Broker
                    | Operation::Bind
                    | Operation::Export
                    // A query is what a connection is for (policy_query.rs has its laws).
                    | Operation::Query
                    | Operation::QueryWrite
            )
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// Law: whatever else holds, a connection record is never injected into a process as
    /// a value or a placeholder; only through the proxy.
    #[test]
    fn a_connection_is_never_injected(c in arb_existing_case(), scope in arb_scope()) {
        let c = connection(&c.with(|c| c.operation = Operation::Inject));
        if c.delivery != Delivery::Proxied {
            prop_assert!(!matches!(c.decide(&scope), Decision::Allow | Decision::NeedsProof(_)));
        }
    }

    /// Law: through the proxy, no record of another kind is ever injected.
    #[test]
    fn only_a_connection_goes_through_the_proxy(c in arb_existing_case(), scope in arb_scope()) {
        let c = c.with(|c| {
            c.operation = Operation::Inject;
            c.delivery = Delivery::Proxied;
        });
        if c.record.is_some_and(|r| r.kind != RecordKind::Postgres) {
            prop_assert!(!matches!(c.decide(&scope), Decision::Allow | Decision::NeedsProof(_)));
        }
    }

    /// Law: through the proxy, a production connection is never allowed without a proof.
    #[test]
    fn a_proxied_production_connection_needs_a_proof(c in arb_existing_case(), scope in arb_scope()) {
        let c = connection(&c.with(|c| {
            c.operation = Operation::Inject;
            c.delivery = Delivery::Proxied;
        }));
        if c.production && c.presence != Presence::Proven {
            prop_assert!(c.decide(&scope) != Decision::Allow);
        }
    }

    /// Law: nor put in a sharing package.
    #[test]
    fn a_connection_is_never_shared(c in arb_existing_case(), scope in arb_scope()) {
        let c = connection(&c.with(|c| c.operation = Operation::Export));
        prop_assert!(!matches!(c.decide(&scope), Decision::Allow | Decision::NeedsProof(_)));
    }

    /// Law: nor pinned to a provider, nor sent in a brokered call.
    #[test]
    fn a_connection_is_never_brokered(
        c in arb_existing_case(),
        scope in arb_scope(),
        bind in any::<bool>(),
    ) {
        let op = if bind { Operation::Bind } else { Operation::Broker };
        let c = connection(&c.with(|c| c.operation = op));
        prop_assert!(!matches!(c.decide(&scope), Decision::Allow | Decision::NeedsProof(_)));
    }

    /// Law: every other operation is decided for a connection exactly as for a plain secret
    /// with the same facts: the kind loosens nothing (and, beyond the two laws above,
    /// tightens nothing).
    #[test]
    fn otherwise_a_connection_is_decided_as_a_secret(
        c in arb_existing_case(),
        scope in arb_scope(),
        operation in prop::sample::select(other_operations()),
    ) {
        let c = c.with(|c| c.operation = operation);
        let secret = c.with(|c| {
            if let Some(r) = c.record.as_mut() {
                r.kind = RecordKind::Secret;
            }
        });
        prop_assert_eq!(connection(&c).decide(&scope), secret.decide(&scope));
    }
}
