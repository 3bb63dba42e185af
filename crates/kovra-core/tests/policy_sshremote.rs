#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The laws of brokered ssh commands: a host's rules only ever add a proof to what the key's
//! own rules decide; only what the host's patterns allow runs unattended, as one of its
//! users, whoever asks (a terminal is no proof); production hosts are always attended.

use kovra_core::model::{Operation, Origin, RecordKind, Sensitivity, Surface};
use kovra_core::policy::{Decision, Presence, Reason, RecordFacts, RemoteFacts, Scope};
use proptest::prelude::*;

mod policy_cases;
use policy_cases::*;

fn command(origin: Origin, remote: RemoteFacts) -> Case {
    example_inject(Sensitivity::Low, false).with(|c| {
        c.operation = Operation::Sign;
        c.surface = Surface::Broker;
        c.record = Some(RecordFacts {
            sensitivity: Sensitivity::Low,
            revealable: false,
            kind: RecordKind::SshKey,
        });
        c.origin = origin;
        c.remote = Some(remote);
    })
}

const PLAIN: RemoteFacts = RemoteFacts {
    production: false,
    command_allowed: true,
    user_allowed: true,
};

#[test]
fn an_allowed_command_on_a_plain_host_runs_for_anyone() {
    for origin in [Origin::Human, Origin::Agent] {
        assert_eq!(
            command(origin, PLAIN).decide(&Scope::full()),
            Decision::Allow
        );
    }
}

#[test]
fn outside_the_patterns_or_users_everyone_needs_a_proof() {
    for remote in [
        RemoteFacts {
            command_allowed: false,
            ..PLAIN
        },
        RemoteFacts {
            user_allowed: false,
            ..PLAIN
        },
    ] {
        let agent = command(Origin::Agent, remote);
        assert_eq!(
            agent.decide(&Scope::full()),
            Decision::NeedsProof(Reason::SshCommandNeedsApproval)
        );
        let approved = agent.with(|c| c.presence = Presence::Proven);
        assert_eq!(approved.decide(&Scope::full()), Decision::Allow);
        // A controlling terminal is no proof: the human gives one like the agent's approver.
        assert_eq!(
            command(Origin::Human, remote).decide(&Scope::full()),
            Decision::NeedsProof(Reason::SshCommandNeedsApproval)
        );
    }
}

#[test]
fn a_production_host_is_attended_for_everyone() {
    let remote = RemoteFacts {
        production: true,
        ..PLAIN
    };
    for origin in [Origin::Human, Origin::Agent] {
        let c = command(origin, remote);
        assert_eq!(
            c.decide(&Scope::full()),
            Decision::NeedsProof(Reason::SshProductionNeedsPresence)
        );
        assert_eq!(
            c.with(|c| c.presence = Presence::Proven)
                .decide(&Scope::full()),
            Decision::Allow
        );
    }
}

fn arb_remote() -> impl Strategy<Value = RemoteFacts> {
    (any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(p, c, u)| RemoteFacts {
        production: p,
        command_allowed: c,
        user_allowed: u,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// A host's facts never loosen a signature: whatever the key's own rules say (scope,
    /// sensitivity, production, restrictions, presence), adding a host gives the same
    /// answer or a stricter one.
    #[test]
    fn a_host_only_ever_tightens(case in arb_case(), remote in arb_remote(), scope in arb_scope()) {
        let case = case.with(|c| {
            c.operation = Operation::Sign;
            c.remote = None;
        });
        let without = case.decide(&scope);
        let with = case.with(|c| c.remote = Some(remote)).decide(&scope);
        prop_assert_eq!(without.and(with), with, "{:?} -> {:?}", without, with);
    }

    /// Without a proof, nobody runs anything outside the patterns or on a production host.
    #[test]
    fn unattended_needs_the_patterns_and_no_production(case in arb_case(), remote in arb_remote()) {
        let case = case.with(|c| {
            c.operation = Operation::Sign;
            c.presence = Presence::None;
            c.remote = Some(remote);
        });
        let loose = !remote.production && remote.command_allowed && remote.user_allowed;
        if !loose {
            prop_assert_ne!(case.decide(&Scope::full()), Decision::Allow);
        }
    }
}
