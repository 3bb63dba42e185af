#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The laws of session grants: a grant stands in for a proof only where a non-production
//! record is injected; everywhere else a granted request is decided exactly as one with no
//! proof at all, and nowhere is it looser than a proof. A grant covers only what it names,
//! only while it lasts; production runs and anything but a run are never granted.

use std::collections::BTreeSet;

use kovra_core::model::{Operation, Origin, Sensitivity};
use kovra_core::policy::{
    Decision, GrantKind, GrantSpecFacts, MAX_GRANT_MINUTES, Presence, Reason, RunFacts, Scope,
    decide_grant, grant_stands_in,
};
use proptest::prelude::*;

mod policy_cases;
use policy_cases::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// Law: a grant is never looser than a proof, nor stricter than no proof: a granted
    /// request is decided as a proven one or as an unproven one, nothing else.
    #[test]
    fn a_grant_lies_between_no_proof_and_a_proof(c in arb_case(), scope in arb_scope()) {
        let granted = c.with(|c| c.presence = Presence::Granted).decide(&scope);
        let none = c.with(|c| c.presence = Presence::None).decide(&scope);
        let proven = c.with(|c| c.presence = Presence::Proven).decide(&scope);
        prop_assert!(granted == none || granted == proven, "{granted:?} {none:?} {proven:?}");
    }

    /// Law: outside a non-production injection, a grant is no presence at all.
    #[test]
    fn a_grant_counts_only_for_a_non_production_injection(
        c in arb_case(), scope in arb_scope()
    ) {
        let granted = c.with(|c| c.presence = Presence::Granted);
        let stands_in = grant_stands_in(&granted.request());
        prop_assert_eq!(
            stands_in,
            c.operation == Operation::Inject && !c.production && !c.canary
        );
        if !stands_in {
            prop_assert_eq!(
                granted.decide(&scope),
                c.with(|c| c.presence = Presence::None).decide(&scope)
            );
        } else {
            prop_assert_eq!(
                granted.decide(&scope),
                c.with(|c| c.presence = Presence::Proven).decide(&scope)
            );
        }
    }

    /// Law: a production record is never let through by a grant, whoever asks, however
    /// delivered.
    #[test]
    fn production_needs_a_proof_each_time(c in arb_existing_case(), scope in arb_scope()) {
        let prod = c.with(|c| {
            c.production = true;
            c.presence = Presence::Granted;
        });
        prop_assert_eq!(
            prod.decide(&scope),
            prod.with(|c| c.presence = Presence::None).decide(&scope)
        );
    }

    /// Law: a run grant covers exactly the run it names, while it lasts; any fact changed
    /// (command, directory, refs path or content, the rest of the request, the socket) is
    /// another run.
    #[test]
    fn a_run_grant_covers_only_its_run(
        change in 0usize..7,
        now in 0u64..2000,
        expires in 0u64..2000,
    ) {
        let argv = vec!["./tool.sh".to_string(), "--flag".to_string()];
        let other_argv = vec!["./tool.sh".to_string(), "--other".to_string()];
        let grant = kovra_core::policy::Grant {
            kind: GrantKind::Run {
                argv: argv.clone(),
                cwd: "/p".into(),
                refs_path: None,
                refs_sha256: [1; 32],
                digest: [2; 32],
                socket: Some("claude".into()),
            },
            expires,
        };
        let mut run = RunFacts {
            argv: &argv,
            cwd: "/p",
            refs_path: None,
            refs_sha256: [1; 32],
            digest: [2; 32],
            socket: Some("claude"),
        };
        match change {
            0 => {}
            1 => run.argv = &other_argv,
            2 => run.cwd = "/q",
            3 => run.refs_path = Some("other.refs"),
            4 => run.refs_sha256 = [3; 32],
            5 => run.digest = [4; 32],
            _ => run.socket = None,
        }
        prop_assert_eq!(grant.covers_run(&run, now), change == 0 && now < expires);
        // A run grant never covers a coordinate by itself.
        prop_assert!(!grant.covers_injection(Some("claude"), "secret:dev/api/key", now));
    }
}

#[test]
fn a_grant_lets_a_parked_injection_through_and_never_a_reveal() {
    let high = example_inject(Sensitivity::High, false).with(|c| {
        c.origin = Origin::Agent;
        c.allowlisted = true;
    });
    let full = Scope::full();
    assert_eq!(
        high.decide(&full),
        Decision::NeedsProof(Reason::InjectNeedsPresence)
    );
    assert_eq!(
        high.with(|c| c.presence = Presence::Granted).decide(&full),
        Decision::Allow
    );
    // Inject-only records are injected, so a grant covers them; revealed, never.
    let inject_only = high.with(|c| {
        c.record.as_mut().unwrap().sensitivity = Sensitivity::InjectOnly;
        c.presence = Presence::Granted;
    });
    assert_eq!(inject_only.decide(&full), Decision::Allow);
    for sensitivity in [
        Sensitivity::Low,
        Sensitivity::Medium,
        Sensitivity::High,
        Sensitivity::InjectOnly,
    ] {
        for origin in [Origin::Human, Origin::Agent] {
            let reveal = example_inject(sensitivity, false).with(|c| {
                c.operation = Operation::Reveal;
                c.origin = origin;
                c.presence = Presence::Granted;
            });
            assert_eq!(
                reveal.decide(&full),
                reveal.with(|c| c.presence = Presence::None).decide(&full),
                "{sensitivity:?} {origin:?}"
            );
            assert_ne!(reveal.decide(&full), Decision::Allow);
        }
    }
    // Production: parked again, grant or not.
    let prod = high.with(|c| {
        c.production = true;
        c.env = "production".into();
        c.presence = Presence::Granted;
    });
    assert_eq!(
        prod.decide(&full),
        Decision::NeedsProof(Reason::InjectNeedsPresence)
    );
}

#[test]
fn a_profile_grant_covers_its_profile_and_coordinates_only() {
    let grant = kovra_core::policy::Grant {
        kind: GrantKind::Profile {
            profile: "claude".into(),
            coordinates: BTreeSet::from(["secret:dev/api/key".to_string()]),
        },
        expires: 100,
    };
    assert!(grant.covers_injection(Some("claude"), "secret:dev/api/key", 99));
    assert!(!grant.covers_injection(Some("claude"), "secret:dev/api/key", 100));
    assert!(!grant.covers_injection(Some("claude"), "secret:dev/api/other", 10));
    assert!(!grant.covers_injection(Some("codex"), "secret:dev/api/key", 10));
    assert!(!grant.covers_injection(None, "secret:dev/api/key", 10));
    let argv = vec!["x".to_string()];
    let run = RunFacts {
        argv: &argv,
        cwd: "/",
        refs_path: None,
        refs_sha256: [0; 32],
        digest: [0; 32],
        socket: Some("claude"),
    };
    assert!(!grant.covers_run(&run, 10));
}

#[test]
fn only_a_non_production_run_is_granted_and_for_a_bounded_time() {
    let spec = |run, production, minutes| {
        decide_grant(GrantSpecFacts {
            run,
            production,
            minutes,
            for_profile: false,
            through_profile: false,
        })
    };
    assert_eq!(spec(true, false, 15), Decision::Allow);
    assert_eq!(spec(true, false, MAX_GRANT_MINUTES), Decision::Allow);
    assert_eq!(
        spec(false, false, 15),
        Decision::Deny(Reason::GrantNeedsRun)
    );
    assert_eq!(
        spec(true, true, 15),
        Decision::Deny(Reason::GrantNeverProduction)
    );
    let profile = |through_profile| {
        decide_grant(GrantSpecFacts {
            run: true,
            production: false,
            minutes: 15,
            for_profile: true,
            through_profile,
        })
    };
    assert_eq!(profile(true), Decision::Allow);
    assert_eq!(profile(false), Decision::Deny(Reason::GrantNeedsProfile));
    for minutes in [0, MAX_GRANT_MINUTES + 1, u32::MAX] {
        assert_eq!(
            spec(true, false, minutes),
            Decision::Deny(Reason::GrantDurationOutOfRange)
        );
    }
}
