//! The gate's security laws, checked in process: a `Daemon` on a temporary home with the
//! cheapest key derivation, fed wire-shaped requests through `handle` exactly as the server
//! does after reading a frame. Each test plants a canary value and asserts it appears
//! nowhere it must not, so a leak fails the test instead of passing unnoticed.

mod actions;
mod agents;
mod authenticator;
mod canary;
mod decided;
mod grants;
mod harness;
mod import;
mod passkey;
mod relocate;
mod sshkey;
mod usage;

use kovra_proto::ErrorCode;
use std::time::Duration;

use kovra_proto::PROTOCOL_VERSION;
use serde_json::{Value, json};

use harness::{
    CANARY, Harness, PASSPHRASE, Who, b64, files_under, full_scope, holds_canary, human, mcp,
};

const DEV: &str = "secret:dev/db/password";
const PROD: &str = "secret:prod/db/password";

#[test]
fn the_harness_sees_a_value_that_is_allowed_out() {
    // The positive control: a low revealable record is revealed to a human, and the leak
    // scan would flag that very reply, so the scans below can fail.
    let h = Harness::unlocked();
    h.add(DEV, CANARY, "low", true);
    let a = h.send(&human(), json!({"op": "reveal", "coordinate": DEV}));
    assert_eq!(a.expect_ok().revealed(), CANARY.as_bytes());
    assert!(h.replies.borrow().iter().any(|t| holds_canary(t)));
    h.assert_no_leak_except(|t| t.contains("\"revealed\""));
}

#[test]
fn a_locked_vault_refuses_every_read_with_vault_locked() {
    let h = Harness::unlocked();
    h.add(DEV, CANARY, "low", true);
    h.send(&human(), json!({"op": "lock"})).expect_ok();
    for request in [
        json!({"op": "reveal", "coordinate": DEV}),
        json!({"op": "show", "coordinate": DEV}),
        json!({"op": "fingerprint", "coordinate": DEV}),
        json!({"op": "history", "coordinate": DEV}),
        json!({"op": "list"}),
        json!({"op": "audit"}),
    ] {
        let a = h
            .send(&human(), request)
            .expect_error(ErrorCode::VaultLocked);
        assert_eq!(a.json["hint"], "run `kovra unlock`");
    }
    h.assert_no_leak();
}

#[test]
fn a_missing_vault_says_so_without_creating_one() {
    let h = Harness::new();
    h.send(&human(), json!({"op": "list"}))
        .expect_error(ErrorCode::NotInitialized);
    assert!(files_under(&h.home).is_empty(), "a read created files");
}

#[test]
fn inject_only_values_are_never_returned_and_no_proof_is_offered() {
    let h = Harness::unlocked();
    h.add(DEV, CANARY, "inject-only", false);
    h.send(&human(), json!({"op": "reveal", "coordinate": DEV}))
        .expect_error(ErrorCode::PolicyDenied);
    h.send(&human(), json!({"op": "code", "coordinate": DEV}))
        .expect_error(ErrorCode::PolicyDenied);
    let agent = mcp(full_scope());
    h.send(&agent, json!({"op": "reveal", "coordinate": DEV}))
        .expect_error(ErrorCode::PolicyDenied);
    for c in ["show", "history", "fingerprint"] {
        h.send(&human(), json!({"op": c, "coordinate": DEV}));
    }
    h.send(&human(), json!({"op": "list"})).expect_ok();
    h.assert_no_leak();
}

#[test]
fn a_non_revealable_record_needs_a_proof_from_a_human_and_is_refused_to_an_agent() {
    let h = Harness::unlocked();
    h.add(DEV, CANARY, "low", false);
    let a = h.send(&human(), json!({"op": "reveal", "coordinate": DEV}));
    assert_eq!(a.expect_needs_proof().code(), "reveal-needs-proof");
    let a = h.send(
        &mcp(full_scope()),
        json!({"op": "reveal", "coordinate": DEV}),
    );
    a.expect_error(ErrorCode::PolicyDenied);
    h.assert_no_leak();
}

#[test]
fn production_records_are_born_at_least_high() {
    let h = Harness::unlocked();
    h.add(PROD, CANARY, "low", true);
    let shown = h.show(PROD);
    assert_eq!(shown["sensitivity"], "high");
    assert_eq!(shown["production"], true);
    h.send(
        &human(),
        json!({"op": "generate", "coordinate": "secret:production/api/key", "length": 32,
               "sensitivity": "medium"}),
    )
    .expect_ok();
    assert_eq!(h.show("secret:production/api/key")["sensitivity"], "high");
    // And a human without a proof gets a challenge, not the value.
    h.send(&human(), json!({"op": "reveal", "coordinate": PROD}))
        .expect_needs_proof();
    h.assert_no_leak();
}

#[test]
fn an_agent_cannot_reveal_a_protected_record_even_claiming_to_be_human() {
    let h = Harness::unlocked();
    h.add(PROD, CANARY, "high", true);
    // No terminal: whatever the surface claims, the daemon sees an agent.
    let claims_human = Who {
        origin: "human",
        ..mcp(full_scope())
    };
    for who in [mcp(full_scope()), claims_human] {
        let a = h.send(&who, json!({"op": "reveal", "coordinate": PROD}));
        a.expect_error(ErrorCode::PolicyDenied);
        h.send(&who, json!({"op": "fingerprint", "coordinate": PROD}))
            .expect_error(ErrorCode::PolicyDenied);
    }
    h.assert_no_leak();
    assert!(!holds_canary(&h.audit_text()));
}

#[test]
fn a_proof_from_the_right_passphrase_reveals_a_protected_record() {
    let h = Harness::unlocked();
    h.add(PROD, CANARY, "high", true);
    let request = json!({"op": "reveal", "coordinate": PROD});
    let a = h.send_proven(&human(), request, PASSPHRASE).expect_ok();
    assert_eq!(a.revealed(), CANARY.as_bytes());
    assert!(h.audit_text().contains("proof-of-presence"));
    assert!(!holds_canary(&h.audit_text()));
}

#[test]
fn a_wrong_proof_is_refused_audited_and_slows_the_next_answer() {
    let h = Harness::unlocked();
    h.add(PROD, CANARY, "high", true);
    let request = json!({"op": "reveal", "coordinate": PROD});
    let a = h.send_proven(&human(), request, "not the passphrase");
    let a = a.expect_error(ErrorCode::ProofInvalid);
    assert!(a.delay > Duration::ZERO, "no back-off after a failed proof");
    assert!(h.audit_text().contains("wrong passphrase"));
    h.assert_no_leak();
}

#[test]
fn a_proof_is_used_once() {
    let h = Harness::unlocked();
    h.add(PROD, CANARY, "high", true);
    let request = json!({"op": "reveal", "coordinate": PROD});
    let first = h.send(&human(), request.clone()).expect_needs_proof();
    let proven = h.with_proof(&human(), request, &first, PASSPHRASE);
    h.send(&human(), proven.clone()).expect_ok();
    h.send(&human(), proven)
        .expect_error(ErrorCode::ProofInvalid);
    h.assert_no_leak_except(|t| t.contains("\"revealed\""));
    assert_eq!(
        h.replies
            .borrow()
            .iter()
            .filter(|t| holds_canary(t))
            .count(),
        1
    );
}

#[test]
fn a_proof_for_one_request_does_not_answer_another() {
    let h = Harness::unlocked();
    h.add(PROD, CANARY, "high", true);
    h.add("secret:prod/db/other", "other-value", "high", true);
    let asked = json!({"op": "reveal", "coordinate": "secret:prod/db/other"});
    let first = h.send(&human(), asked.clone()).expect_needs_proof();
    let proven = h.with_proof(&human(), asked, &first, PASSPHRASE);
    // The same challenge and MAC, moved onto a request for another record.
    let mut moved = json!({"op": "reveal", "coordinate": PROD});
    moved["proof"] = proven["proof"].clone();
    let a = h
        .send(&human(), moved)
        .expect_error(ErrorCode::ProofInvalid);
    assert!(
        a.json["message"]
            .as_str()
            .unwrap()
            .contains("another request")
    );
    h.assert_no_leak();
}

#[test]
fn locking_forgets_outstanding_challenges() {
    let h = Harness::unlocked();
    h.add(PROD, CANARY, "high", true);
    let request = json!({"op": "reveal", "coordinate": PROD});
    let first = h.send(&human(), request.clone()).expect_needs_proof();
    let proven = h.with_proof(&human(), request, &first, PASSPHRASE);
    h.send(&human(), json!({"op": "lock"})).expect_ok();
    h.send(
        &human(),
        json!({"op": "unlock", "passphrase": b64(PASSPHRASE)}),
    )
    .expect_ok();
    h.send(&human(), proven)
        .expect_error(ErrorCode::ProofInvalid);
    h.assert_no_leak();
}

#[test]
fn a_wrong_unlock_passphrase_leaves_the_vault_locked() {
    let h = Harness::unlocked();
    h.add(DEV, CANARY, "low", true);
    h.send(&human(), json!({"op": "lock"})).expect_ok();
    let a = h.send(
        &human(),
        json!({"op": "unlock", "passphrase": b64("wrong passphrase")}),
    );
    assert!(a.expect_error(ErrorCode::WrongPassphrase).delay > Duration::ZERO);
    h.send(&human(), json!({"op": "reveal", "coordinate": DEV}))
        .expect_error(ErrorCode::VaultLocked);
    h.assert_no_leak();
}

#[test]
fn a_scope_limits_what_a_caller_sees_and_out_of_scope_looks_absent() {
    let h = Harness::unlocked();
    h.add(DEV, CANARY, "low", true);
    h.add(PROD, CANARY, "low", true);
    let dev_only = mcp(json!({
        "operations": ["metadata", "inject", "reveal", "write"],
        "projects": {"kind": "all"},
        "global": true,
        "environments": {"kind": "non-production"},
    }));
    let list = h.send(&dev_only, json!({"op": "list"})).expect_ok();
    let shown: Vec<&str> = list.reply()["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["coordinate"].as_str().unwrap())
        .collect();
    assert_eq!(shown, [DEV]);
    let hidden = h.send(&dev_only, json!({"op": "show", "coordinate": PROD}));
    let absent = h.send(
        &dev_only,
        json!({"op": "show", "coordinate": "secret:prod/db/none"}),
    );
    let hidden = hidden.expect_error(ErrorCode::NotFound);
    let absent = absent.expect_error(ErrorCode::NotFound);
    assert_eq!(hidden.json["hint"], absent.json["hint"]);
    h.send(&dev_only, json!({"op": "reveal", "coordinate": PROD}))
        .expect_error(ErrorCode::NotFound);
    // A scoped session reads only the trail of what it can address.
    let trail = h.send(&dev_only, json!({"op": "audit"})).expect_ok();
    assert!(!trail.text.contains("secret:prod/"), "{}", trail.text);
    h.assert_no_leak_except(|t| t.contains("\"revealed\""));
}

#[test]
fn a_scope_without_reveal_cannot_reveal() {
    let h = Harness::unlocked();
    h.add(DEV, CANARY, "low", true);
    let metadata_only = mcp(json!({
        "operations": ["metadata"],
        "projects": {"kind": "all"},
        "global": true,
        "environments": {"kind": "all"},
    }));
    h.send(&metadata_only, json!({"op": "reveal", "coordinate": DEV}))
        .expect_error(ErrorCode::PolicyDenied);
    h.send(
        &metadata_only,
        json!({"op": "set", "coordinate": DEV, "value": b64("replaced")}),
    )
    .expect_error(ErrorCode::PolicyDenied);
    h.send(&metadata_only, json!({"op": "show", "coordinate": DEV}))
        .expect_ok();
    h.assert_no_leak();
}

#[test]
fn a_project_scope_hides_other_projects() {
    let h = Harness::unlocked();
    for p in ["alpha", "beta"] {
        h.send(&human(), json!({"op": "project-create", "name": p}))
            .expect_ok();
    }
    h.add("secret://global/dev/db/password", CANARY, "low", true);
    let alpha = mcp(json!({
        "operations": ["metadata", "inject", "reveal", "write"],
        "projects": {"kind": "only", "names": ["alpha"]},
        "global": false,
        "environments": {"kind": "all"},
    }));
    let a = h.send(&alpha, json!({"op": "project-list"})).expect_ok();
    assert_eq!(a.reply()["projects"], json!(["alpha"]));
    let a = h.send(&alpha, json!({"op": "list"})).expect_ok();
    assert_eq!(a.reply()["records"], json!([]));
    h.send(
        &alpha,
        json!({"op": "reveal", "coordinate": "secret://global/dev/db/password"}),
    )
    .expect_error(ErrorCode::NotFound);
    h.assert_no_leak();
}

#[test]
fn errors_never_carry_the_value() {
    let h = Harness::unlocked();
    h.add(DEV, CANARY, "low", true);
    let bad = [
        // A second add at the same coordinate.
        json!({"op": "add", "coordinate": DEV, "value": b64(CANARY)}),
        // The value where a coordinate belongs.
        json!({"op": "add", "coordinate": CANARY, "value": b64(CANARY)}),
        json!({"op": "reveal", "coordinate": CANARY}),
        // The value as a TOTP seed it is not.
        json!({"op": "add", "coordinate": "secret:dev/otp/x", "value": b64(CANARY), "totp": true}),
        json!({"op": "set", "coordinate": "secret:dev/db/none", "value": b64(CANARY)}),
        json!({"op": "set", "coordinate": DEV, "value": b64("")}),
        json!({"op": "code", "coordinate": DEV}),
        json!({"op": "rollback", "coordinate": DEV, "version": 7}),
        json!({"op": "passwd", "old": b64(CANARY), "new": b64(CANARY)}),
        json!({"op": "unlock", "passphrase": b64(CANARY)}),
    ];
    for request in bad {
        let a = h.send(&human(), request);
        assert_eq!(a.status(), "error", "{}", a.text);
    }
    h.assert_no_leak();
    assert!(!holds_canary(&h.audit_text()));
}

#[test]
fn the_trail_and_the_files_at_rest_never_hold_a_value() {
    let h = Harness::unlocked();
    h.add(DEV, CANARY, "low", true);
    h.add(PROD, CANARY, "high", true);
    h.send(&human(), json!({"op": "reveal", "coordinate": DEV}))
        .expect_ok();
    h.send_proven(
        &human(),
        json!({"op": "reveal", "coordinate": PROD}),
        PASSPHRASE,
    )
    .expect_ok();
    h.send(
        &human(),
        json!({"op": "set", "coordinate": DEV, "value": b64(&format!("{CANARY}-2"))}),
    )
    .expect_ok();
    h.send(
        &human(),
        json!({"op": "rollback", "coordinate": DEV, "version": 1}),
    )
    .expect_ok();
    h.send(&human(), json!({"op": "remove", "coordinate": DEV}));
    let trail = h.send(&human(), json!({"op": "audit"})).expect_ok();
    assert!(trail.text.contains("\"reveal\""), "{}", trail.text);
    assert!(!holds_canary(&trail.text));
    assert!(!holds_canary(&h.audit_text()));
    for file in files_under(&h.home) {
        let bytes = std::fs::read(&file).unwrap();
        let found = bytes.windows(CANARY.len()).any(|w| w == CANARY.as_bytes());
        assert!(!found, "{} holds a plaintext value", file.display());
    }
}

#[test]
fn a_bad_remove_leaves_the_vault_unchanged() {
    let h = Harness::unlocked();
    h.add(DEV, CANARY, "low", true);
    h.add(PROD, CANARY, "high", true);
    let before = h.snapshot();
    h.send(
        &human(),
        json!({"op": "remove", "coordinate": "secret:dev/db/none"}),
    )
    .expect_error(ErrorCode::NotFound);
    h.send(
        &human(),
        json!({"op": "remove", "coordinate": "not a coordinate"}),
    )
    .expect_error(ErrorCode::CoordinateInvalid);
    // A protected record without a proof, from a human and from an agent.
    h.send(&human(), json!({"op": "remove", "coordinate": PROD}))
        .expect_needs_proof();
    let parked = h
        .send(
            &mcp(full_scope()),
            json!({"op": "remove", "coordinate": PROD}),
        )
        .expect_needs_proof();
    assert!(parked.json["approval"].is_string(), "{}", parked.text);
    assert_eq!(h.snapshot(), before);
    h.assert_no_leak();
}

#[test]
fn a_bad_rollback_leaves_the_vault_unchanged() {
    let h = Harness::unlocked();
    h.add(DEV, CANARY, "low", true);
    h.send(
        &human(),
        json!({"op": "set", "coordinate": DEV, "value": b64("second")}),
    )
    .expect_ok();
    h.add(PROD, CANARY, "high", true);
    h.send_proven(
        &human(),
        json!({"op": "set", "coordinate": PROD, "value": b64("second")}),
        PASSPHRASE,
    )
    .expect_ok();
    let before = h.snapshot();
    for version in [0, 2, 3] {
        h.send(
            &human(),
            json!({"op": "rollback", "coordinate": DEV, "version": version}),
        )
        .expect_error(ErrorCode::NoSuchVersion);
    }
    h.send(
        &human(),
        json!({"op": "rollback", "coordinate": "secret:dev/db/none", "version": 1}),
    )
    .expect_error(ErrorCode::NotFound);
    h.send(
        &human(),
        json!({"op": "rollback", "coordinate": PROD, "version": 1}),
    )
    .expect_needs_proof();
    assert_eq!(h.snapshot(), before);
    let a = h.send(&human(), json!({"op": "reveal", "coordinate": DEV}));
    assert_eq!(a.expect_ok().revealed(), b"second");
    h.assert_no_leak();
}

#[test]
fn overwriting_a_protected_value_without_a_proof_changes_nothing() {
    let h = Harness::unlocked();
    h.add(PROD, CANARY, "high", true);
    let before = h.snapshot();
    h.send(
        &human(),
        json!({"op": "set", "coordinate": PROD, "value": b64("replaced")}),
    )
    .expect_needs_proof();
    h.send(
        &mcp(full_scope()),
        json!({"op": "generate", "coordinate": PROD, "length": 16, "overwrite": true}),
    )
    .expect_needs_proof();
    assert_eq!(h.snapshot(), before);
    let a = h.send_proven(
        &human(),
        json!({"op": "reveal", "coordinate": PROD}),
        PASSPHRASE,
    );
    assert_eq!(a.expect_ok().revealed(), CANARY.as_bytes());
}

#[test]
fn loosening_a_record_needs_a_proof_and_production_never_drops_below_high() {
    let h = Harness::unlocked();
    h.add(DEV, CANARY, "high", false);
    h.add(PROD, CANARY, "high", true);
    let edit = |c: &str, change: Value| {
        let mut r = json!({"op": "edit", "coordinate": c});
        r.as_object_mut()
            .unwrap()
            .extend(change.as_object().unwrap().clone());
        r
    };
    h.send(&human(), edit(DEV, json!({"sensitivity": "low"})))
        .expect_needs_proof();
    h.send(&human(), edit(DEV, json!({"revealable": true})))
        .expect_needs_proof();
    h.send(&mcp(full_scope()), edit(DEV, json!({"sensitivity": "low"})))
        .expect_needs_proof();
    assert_eq!(h.show(DEV)["sensitivity"], "high");
    assert_eq!(h.show(DEV)["revealable"], false);
    // Refused outright: no challenge is offered, so no proof can answer it.
    h.send(&human(), edit(PROD, json!({"sensitivity": "low"})))
        .expect_error(ErrorCode::PolicyDenied);
    assert_eq!(h.show(PROD)["sensitivity"], "high");
    h.assert_no_leak();
}

#[test]
fn an_agent_cannot_approve_its_own_parked_request() {
    let h = Harness::unlocked();
    h.add(PROD, CANARY, "high", true);
    let agent = mcp(full_scope());
    let parked = h
        .send(&agent, json!({"op": "remove", "coordinate": PROD}))
        .expect_needs_proof();
    let id = parked.json["approval"].as_str().unwrap().to_string();
    // Approving is itself the attended step: the agent is asked for a proof, not parked.
    let a = h
        .send(&agent, json!({"op": "approve", "id": id}))
        .expect_needs_proof();
    assert!(a.json["approval"].is_null(), "{}", a.text);
    h.send(&agent, json!({"op": "remove", "coordinate": PROD}))
        .expect_needs_proof();
    assert_eq!(h.show(PROD)["coordinate"], PROD);
    h.assert_no_leak();
}

#[test]
fn a_client_of_another_protocol_is_refused_before_anything_is_decided() {
    let h = Harness::unlocked();
    h.add(DEV, CANARY, "low", true);
    let mut envelope = Harness::envelope(&human(), json!({"op": "reveal", "coordinate": DEV}));
    envelope.v = PROTOCOL_VERSION + 1;
    h.send_envelope(&human(), envelope)
        .expect_error(ErrorCode::ProtocolVersion);
    h.assert_no_leak();
}

#[test]
fn an_oversized_or_empty_value_is_refused_and_nothing_is_written() {
    let h = Harness::unlocked();
    let huge = "x".repeat(super::MAX_VALUE + 1);
    h.send(
        &human(),
        json!({"op": "add", "coordinate": DEV, "value": b64(&huge)}),
    )
    .expect_error(ErrorCode::ValueTooLarge);
    h.send(
        &human(),
        json!({"op": "add", "coordinate": DEV, "value": b64("")}),
    )
    .expect_error(ErrorCode::EmptyValue);
    h.send(&human(), json!({"op": "show", "coordinate": DEV}))
        .expect_error(ErrorCode::NotFound);
}

/// This process as the server sees a human at a terminal.
pub(super) fn terminal_caller() -> crate::handler::Caller {
    crate::handler::Caller {
        peer: crate::os::Peer {
            pid: std::process::id(),
            uid: nix::unistd::getuid().as_raw(),
        },
        exe: None,
        tty: true,
        agent: None,
        namespaces: crate::nsjoin::Namespaces::Own,
    }
}

/// A run's plan, through `handle` as the server gets it, for a human at a terminal.
fn run_plan(h: &Harness, refs: &str) -> Box<crate::run::RunPlan> {
    let request = json!({
        "op": "run", "argv": ["true"], "cwd": "/",
        "env": [["PATH", "/usr/bin:/bin"]], "refs": refs,
    });
    let caller = terminal_caller();
    let (response, _, plan) = h
        .daemon
        .handle(Harness::envelope(&human(), request), &caller);
    let text = serde_json::to_string(&response).unwrap();
    assert!(!holds_canary(&text), "the run's reply holds the value");
    match plan {
        Some(crate::broker::Plan::Run(plan)) => plan,
        _ => panic!("no run plan: {text}"),
    }
}

#[test]
fn a_runs_redactor_is_built_once_per_value_set_and_forgotten_on_lock() {
    let h = Harness::unlocked();
    h.add(DEV, CANARY, "low", true);
    let refs = format!("DB_PASSWORD={DEV}\n");
    let plan = run_plan(&h, &refs);
    let cache = std::sync::Arc::clone(plan.redactors.cache());
    let first = plan.redactors.get(&plan.secrets);
    let again = run_plan(&h, &refs);
    assert!(std::sync::Arc::ptr_eq(
        &first,
        &again.redactors.get(&again.secrets)
    ));
    assert_eq!(
        cache.builds(),
        1,
        "a second run with the same values builds nothing"
    );
    assert_eq!(
        first.redact_all(format!("x {CANARY} y").as_bytes()),
        b"x [kovra:DB_PASSWORD] y"
    );
    let kept = std::sync::Arc::downgrade(&first);
    drop((first, plan, again));
    assert!(kept.upgrade().is_some(), "kept while unlocked");
    let planned_before_the_lock = run_plan(&h, &refs);

    h.send(&human(), json!({"op": "lock"})).expect_ok();
    assert!(cache.is_empty(), "the lock emptied the cache");
    assert!(
        kept.upgrade().is_none(),
        "the lock dropped (and so wiped) the redactor"
    );
    // A run that starts after the lock (its plan made before) builds its own, uncached.
    let own = planned_before_the_lock
        .redactors
        .get(&planned_before_the_lock.secrets);
    assert!(!own.is_empty());
    assert!(cache.is_empty(), "nothing cached while locked");

    h.send(
        &human(),
        json!({"op": "unlock", "passphrase": b64(PASSPHRASE)}),
    )
    .expect_ok();
    let plan = run_plan(&h, &refs);
    let rebuilt = plan.redactors.get(&plan.secrets);
    // The first build, the locked-out run's own, and this one.
    assert_eq!(
        cache.builds(),
        3,
        "after lock and unlock the redactor is built anew"
    );
    assert!(std::sync::Arc::ptr_eq(
        &rebuilt,
        &plan.redactors.get(&plan.secrets)
    ));
    h.assert_no_leak();
}

/// A streamed list's plan, through `handle` as the server gets it.
fn list_plan(h: &Harness) -> Box<crate::stream::RecordsPlan> {
    let request = json!({"op": "list-stream"});
    let (response, _, plan) = h
        .daemon
        .handle(Harness::envelope(&human(), request), &terminal_caller());
    match plan {
        Some(crate::broker::Plan::Records(plan)) => plan,
        _ => panic!(
            "no list plan: {}",
            serde_json::to_string(&response).unwrap()
        ),
    }
}

#[test]
fn a_streamed_lists_rendering_is_kept_with_the_listing_until_lock() {
    let h = Harness::unlocked();
    h.add(DEV, CANARY, "low", true);
    let plan = list_plan(&h);
    let mut wire = Vec::new();
    crate::stream::write_records(&mut wire, &plan).unwrap();
    assert!(!holds_canary(&String::from_utf8_lossy(&wire)));
    let listing = std::sync::Arc::clone(&plan.parts[0].listing);
    assert!(listing.rendering().is_some(), "rendered by the stream");
    let again = list_plan(&h);
    assert!(
        std::sync::Arc::ptr_eq(&listing, &again.parts[0].listing),
        "the listing and its rendering are kept between lists"
    );
    let kept = std::sync::Arc::downgrade(&listing);
    drop((listing, plan, again));
    assert!(kept.upgrade().is_some(), "kept while unlocked");

    h.send(&human(), json!({"op": "lock"})).expect_ok();
    assert!(
        kept.upgrade().is_none(),
        "the lock dropped the listing and its rendering"
    );
    h.assert_no_leak();
}

#[test]
fn unlock_opens_and_renders_every_listing_before_the_first_list() {
    let h = Harness::unlocked();
    h.add(DEV, CANARY, "low", true);
    h.send(&human(), json!({"op": "lock"})).expect_ok();
    h.send(
        &human(),
        json!({"op": "unlock", "passphrase": b64(PASSPHRASE)}),
    )
    .expect_ok();
    let plan = list_plan(&h);
    let listing = &plan.parts[0].listing;
    assert_eq!(listing.records.len(), 1);
    assert!(
        listing.rendering().is_some(),
        "the unlock rendered the listing: the first list only copies it"
    );
    h.assert_no_leak();
}
