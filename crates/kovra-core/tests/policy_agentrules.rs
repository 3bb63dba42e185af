#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The laws of the ssh-agent's standing rules (`agent.toml`) in a signature's decision: the
//! file alone never loosens, `every-signature` always needs a proof, a production key's
//! proof is never waived, and each host list present holds the server a signature goes to.

use kovra_core::model::{Operation, Origin, RecordKind, Sensitivity, Surface, VaultName};
use kovra_core::policy::{
    Confirm, Decision, Delivery, Presence, Reason, RecordFacts, Scope, VaultOperation, decide_vault,
};
use proptest::prelude::*;

mod common;
use common::strictness;

mod policy_cases;
use policy_cases::*;

const HOST: &str = HOST_KEYS[0];
const OTHER: &str = HOST_KEYS[1];

/// A signature with an SSH key record on the agent socket, nothing proven, no rules.
fn sign(sensitivity: Sensitivity, production: bool) -> Case {
    Case {
        operation: Operation::Sign,
        vault: VaultName::Global,
        env: if production { "prod" } else { "dev" }.into(),
        production,
        record: Some(RecordFacts {
            sensitivity,
            revealable: false,
            kind: RecordKind::SshKey,
        }),
        new_sensitivity: None,
        new_revealable: None,
        surface: Surface::SshAgent,
        origin: Origin::Agent,
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

/// Any signature: any key, environment, origin, presence, record host list, bound server
/// and rules.
fn arb_sign() -> impl Strategy<Value = Case> {
    (
        arb_sensitivity(),
        any::<bool>(),
        prop::sample::select(ORIGINS.to_vec()),
        prop::sample::select(PRESENCES.to_vec()),
        arb_host_list(),
        prop::option::of(prop::sample::select(vec![HOST, OTHER])),
        arb_rules(),
    )
        .prop_map(
            |(sensitivity, production, origin, presence, allowed, bound, rules)| {
                sign(sensitivity, production).with(|c| {
                    c.origin = origin;
                    c.presence = presence;
                    c.allowed_hosts = allowed.unwrap_or_default();
                    c.bound_host = bound.map(str::to_string);
                    c.rules = rules;
                })
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// "The file may only narrow": with no accepted state, whatever the file says, the
    /// decision is at least as strict as without the file.
    #[test]
    fn the_file_alone_never_loosens(c in arb_sign()) {
        let alone = c.with(|c| {
            c.rules.accepted_confirm = None;
            c.rules.accepted_hosts = None;
        });
        let without = alone.with(|c| {
            c.rules.file_confirm = None;
            c.rules.file_hosts = None;
        });
        let scope = Scope::full();
        prop_assert!(
            strictness(alone.decide(&scope)) >= strictness(without.decide(&scope)),
            "{alone:?}"
        );
    }

    /// Against any accepted state, adding or changing the file's rule never loosens what
    /// the accepted state alone decides.
    #[test]
    fn the_file_never_loosens_the_accepted_state(c in arb_sign()) {
        let accepted_only = c.with(|c| {
            c.rules.file_confirm = None;
            c.rules.file_hosts = None;
        });
        let scope = Scope::full();
        prop_assert!(
            strictness(c.decide(&scope)) >= strictness(accepted_only.decide(&scope)),
            "{c:?}"
        );
    }

    /// "every-signature always needs a proof": when either source says so, nothing but a
    /// proof for this very signature lets it through (not an earlier approval on the
    /// connection).
    #[test]
    fn every_signature_always_needs_a_proof(c in arb_sign(), in_file in any::<bool>()) {
        let c = c.with(|c| {
            c.presence = Presence::None;
            if in_file {
                c.rules.file_confirm = Some(Confirm::EverySignature);
            } else {
                c.rules.accepted_confirm = Some(Confirm::EverySignature);
            }
        });
        prop_assert_ne!(c.decide(&Scope::full()), Decision::Allow, "{:?}", c);
    }

    /// "never never waives a production key's proof": a production key signs only with a
    /// proof, or under once-per-session after one on the same bound connection.
    #[test]
    fn a_production_key_is_never_waived(c in arb_sign()) {
        let c = c.with(|c| {
            c.production = true;
            c.env = "prod".into();
            c.presence = Presence::None;
            c.rules.session_approved = false;
        });
        prop_assert_ne!(c.decide(&Scope::full()), Decision::Allow, "{:?}", c);
    }

    /// "Every list that is present must contain the bound host": otherwise a denial, which
    /// no proof lifts.
    #[test]
    fn each_host_list_holds_the_bound_server(c in arb_sign()) {
        let listed = |h: &Option<Vec<String>>| {
            h.as_ref().is_none_or(|h| c.bound_host.as_ref().is_some_and(|b| h.contains(b)))
        };
        let hosts_ok = listed(&c.rules.accepted_hosts) && listed(&c.rules.file_hosts);
        let d = c.with(|c| c.presence = Presence::Proven).decide(&Scope::full());
        if !hosts_ok {
            prop_assert!(matches!(d, Decision::Deny(_)), "{c:?}: {d:?}");
        }
    }

    /// With no rules at all, a signature is decided as before rules existed.
    #[test]
    fn no_rules_is_the_old_decision(c in arb_sign()) {
        let c = c.with(|c| c.rules = RulesCase::default());
        let protected = c.record.unwrap().sensitivity >= Sensitivity::High || c.production;
        let hosts_ok = c.allowed_hosts.is_empty()
            || c.bound_host.as_ref().is_some_and(|b| c.allowed_hosts.contains(b));
        let want = if !hosts_ok {
            strictness(Decision::Deny(Reason::SignHostNotAllowed))
        } else if protected && c.presence == Presence::None {
            strictness(Decision::NeedsProof(Reason::SignNeedsPresence))
        } else {
            strictness(Decision::Allow)
        };
        prop_assert_eq!(strictness(c.decide(&Scope::full())), want, "{:?}", c);
    }
}

#[test]
fn a_file_only_never_does_not_unlock_a_high_key_but_an_accepted_one_does() {
    let high = sign(Sensitivity::High, false);
    let file_only = high.with(|c| c.rules.file_confirm = Some(Confirm::Never));
    assert_eq!(
        file_only.decide(&Scope::full()),
        Decision::NeedsProof(Reason::SignNeedsPresence)
    );
    let accepted = file_only.with(|c| c.rules.accepted_confirm = Some(Confirm::Never));
    assert_eq!(accepted.decide(&Scope::full()), Decision::Allow);
    // The file still tightens an accepted loosening back.
    let tightened = accepted.with(|c| c.rules.file_confirm = Some(Confirm::EverySignature));
    assert_eq!(
        tightened.decide(&Scope::full()),
        Decision::NeedsProof(Reason::SignNeedsPresence)
    );
}

#[test]
fn a_low_key_under_every_signature_parks() {
    let low = sign(Sensitivity::Low, false);
    assert_eq!(low.decide(&Scope::full()), Decision::Allow);
    for c in [
        low.with(|c| c.rules.file_confirm = Some(Confirm::EverySignature)),
        low.with(|c| c.rules.accepted_confirm = Some(Confirm::EverySignature)),
    ] {
        assert_eq!(
            c.decide(&Scope::full()),
            Decision::NeedsProof(Reason::SignConfirmedByRule)
        );
        let proven = c.with(|c| c.presence = Presence::Proven);
        assert_eq!(proven.decide(&Scope::full()), Decision::Allow);
    }
}

#[test]
fn once_per_session_lets_an_approved_bound_connection_sign_again() {
    for (sensitivity, production) in [(Sensitivity::Low, false), (Sensitivity::High, true)] {
        let c = sign(sensitivity, production).with(|c| {
            c.rules.accepted_confirm = Some(Confirm::OncePerSession);
            c.bound_host = Some(HOST.into());
        });
        assert!(matches!(c.decide(&Scope::full()), Decision::NeedsProof(_)));
        let again = c.with(|c| c.rules.session_approved = true);
        assert_eq!(again.decide(&Scope::full()), Decision::Allow);
        // Without a bound server (a forwarded agent, an SSHSIG), nothing is remembered.
        let unbound = again.with(|c| c.bound_host = None);
        assert!(matches!(
            unbound.decide(&Scope::full()),
            Decision::NeedsProof(_)
        ));
    }
    // A production key under an accepted `never` is still confirmed once per session.
    let prod = sign(Sensitivity::High, true).with(|c| {
        c.rules.accepted_confirm = Some(Confirm::Never);
        c.bound_host = Some(HOST.into());
    });
    assert!(matches!(
        prod.decide(&Scope::full()),
        Decision::NeedsProof(_)
    ));
    let again = prod.with(|c| c.rules.session_approved = true);
    assert_eq!(again.decide(&Scope::full()), Decision::Allow);
}

#[test]
fn host_lists_in_the_rules_deny_before_any_proof() {
    let c = sign(Sensitivity::Low, false).with(|c| {
        c.rules.file_hosts = Some(vec![HOST.into()]);
        c.presence = Presence::Proven;
    });
    assert_eq!(
        c.decide(&Scope::full()),
        Decision::Deny(Reason::SignNeedsBoundHost)
    );
    let other = c.with(|c| c.bound_host = Some(OTHER.into()));
    assert_eq!(
        other.decide(&Scope::full()),
        Decision::Deny(Reason::SignHostNotAllowed)
    );
    let ok = c.with(|c| c.bound_host = Some(HOST.into()));
    assert_eq!(ok.decide(&Scope::full()), Decision::Allow);
    // An empty list signs for no server.
    let none = ok.with(|c| c.rules.accepted_hosts = Some(Vec::new()));
    assert_eq!(
        none.decide(&Scope::full()),
        Decision::Deny(Reason::SignHostNotAllowed)
    );
}

#[test]
fn accepting_the_rules_needs_a_proof_and_the_whole_vault() {
    let op = VaultOperation::AcceptAgentRules;
    for origin in ORIGINS {
        assert_eq!(
            decide_vault(op, &Scope::full(), Presence::None, origin),
            Decision::NeedsProof(Reason::AgentRulesNeedPresence)
        );
        assert_eq!(
            decide_vault(op, &Scope::full(), Presence::Proven, origin),
            Decision::Allow
        );
    }
    let mut narrow = Scope::full();
    narrow.global = false;
    assert_eq!(
        decide_vault(op, &narrow, Presence::Proven, Origin::Human),
        Decision::Deny(Reason::VaultOperationNeedsFullScope)
    );
}
