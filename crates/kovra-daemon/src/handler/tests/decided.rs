//! Decided first: a value is opened only with the token of an allowing decision, so a
//! refused request opens nothing (not even an old version for a rollback), an allowed one
//! opens exactly what it was decided on, and the medium-use notice is the token's obligation.

use kovra_proto::ErrorCode;
use serde_json::{Value, json};

use super::harness::{CANARY, Harness, PASSPHRASE, b64, full_scope, human, mcp};
use super::{DEV, PROD};
use crate::approvals::MEDIUM_NOTICES;
use crate::handler::gate::OPENED;

/// What this thread's requests opened so far (`Operation coordinate`), emptied.
fn opened() -> Vec<String> {
    OPENED.with(|o| std::mem::take(&mut *o.borrow_mut()))
}

/// The medium-use notices this thread gave so far, emptied.
fn notices() -> Vec<String> {
    MEDIUM_NOTICES.with(|n| std::mem::take(&mut *n.borrow_mut()))
}

/// The audit entries for `action` on `coordinate`, as `decision` strings.
fn decisions(h: &Harness, action: &str, coordinate: &str) -> Vec<String> {
    let entries: Vec<Value> = serde_json::from_str(&h.audit_text()).unwrap();
    entries
        .iter()
        .filter(|e| e["action"] == action && e["coordinate"] == coordinate)
        .map(|e| e["decision"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn metadata_only() -> super::Who {
    mcp(json!({
        "operations": ["metadata"],
        "projects": {"kind": "all"},
        "global": true,
        "environments": {"kind": "all"},
    }))
}

/// A record at `coordinate` whose version 1 holds the canary and version 2 does not.
fn two_versions(h: &Harness, coordinate: &str, sensitivity: &str) {
    h.add(coordinate, CANARY, sensitivity, true);
    let set = json!({"op": "set", "coordinate": coordinate, "value": b64("second")});
    if sensitivity == "low" {
        h.send(&human(), set).expect_ok();
    } else {
        h.send_proven(&human(), set, PASSPHRASE).expect_ok();
    }
}

#[test]
fn a_refused_rollback_opens_no_version_and_audits_the_refusal() {
    let h = Harness::unlocked();
    two_versions(&h, DEV, "low");
    two_versions(&h, PROD, "high");
    opened();
    let before = h.snapshot();
    // Out of the session's operations: denied.
    h.send(
        &metadata_only(),
        json!({"op": "rollback", "coordinate": DEV, "version": 1}),
    )
    .expect_error(ErrorCode::PolicyDenied);
    // A production record, for an agent: needs a proof (and is parked).
    h.send(
        &mcp(full_scope()),
        json!({"op": "rollback", "coordinate": PROD, "version": 1}),
    )
    .expect_needs_proof();
    // A human without a proof: needs one too.
    h.send(
        &human(),
        json!({"op": "rollback", "coordinate": PROD, "version": 1}),
    )
    .expect_needs_proof();
    assert_eq!(
        opened(),
        Vec::<String>::new(),
        "a refused rollback opened a value"
    );
    assert_eq!(decisions(&h, "rollback", DEV), ["deny"]);
    assert_eq!(
        decisions(&h, "rollback", PROD),
        ["needs-proof", "needs-proof"]
    );
    assert_eq!(h.snapshot(), before);
    h.assert_no_leak();
}

#[test]
fn an_allowed_rollback_opens_the_old_version_once_after_the_decision() {
    let h = Harness::unlocked();
    two_versions(&h, DEV, "low");
    opened();
    h.send(
        &human(),
        json!({"op": "rollback", "coordinate": DEV, "version": 1}),
    )
    .expect_ok();
    // Decided as an update (the old value replaces the current one), opened once.
    assert_eq!(opened(), [format!("Update {DEV}")]);
    assert_eq!(decisions(&h, "rollback", DEV), ["allow"]);
    let a = h.send(&human(), json!({"op": "reveal", "coordinate": DEV}));
    assert_eq!(a.expect_ok().revealed(), CANARY.as_bytes());
    h.assert_no_leak_except(|t| t.contains("\"revealed\""));
}

#[test]
fn refused_reveals_codes_and_fingerprints_open_nothing() {
    let h = Harness::unlocked();
    h.add(DEV, CANARY, "inject-only", false);
    h.add(PROD, CANARY, "high", true);
    let totp = "secret:dev/otp/login";
    h.send(
        &human(),
        json!({"op": "add", "coordinate": totp, "value": b64("JBSWY3DPEHPK3PXP"),
               "sensitivity": "low", "totp": true}),
    )
    .expect_ok();
    opened();
    let agent = mcp(full_scope());
    h.send(&human(), json!({"op": "reveal", "coordinate": DEV}))
        .expect_error(ErrorCode::PolicyDenied);
    h.send(&agent, json!({"op": "reveal", "coordinate": PROD}))
        .expect_error(ErrorCode::PolicyDenied);
    h.send(&human(), json!({"op": "reveal", "coordinate": PROD}))
        .expect_needs_proof();
    h.send(&metadata_only(), json!({"op": "code", "coordinate": totp}))
        .expect_error(ErrorCode::PolicyDenied);
    h.send(&agent, json!({"op": "fingerprint", "coordinate": PROD}))
        .expect_error(ErrorCode::PolicyDenied);
    h.send(&human(), json!({"op": "fingerprint", "coordinate": PROD}))
        .expect_needs_proof();
    h.send(
        &agent,
        json!({"op": "reveal", "coordinate": "secret:dev/db/none"}),
    )
    .expect_error(ErrorCode::NotFound);
    assert_eq!(
        opened(),
        Vec::<String>::new(),
        "a refused request opened a value"
    );
    // The positive controls: what is allowed opens exactly its record, for its operation.
    h.send(&human(), json!({"op": "code", "coordinate": totp}))
        .expect_ok();
    h.send(&human(), json!({"op": "fingerprint", "coordinate": totp}))
        .expect_ok();
    assert_eq!(
        opened(),
        [format!("Code {totp}"), format!("Fingerprint {totp}")]
    );
    h.assert_no_leak();
}

#[test]
fn a_medium_reveal_notifies_and_a_low_or_proven_high_one_does_not() {
    let h = Harness::unlocked();
    let (low, high) = ("secret:dev/db/low", "secret:dev/db/high");
    h.add(DEV, CANARY, "medium", true);
    h.add(low, CANARY, "low", true);
    h.add(high, CANARY, "high", true);
    notices();
    h.send(&human(), json!({"op": "reveal", "coordinate": DEV}))
        .expect_ok();
    assert_eq!(notices(), [format!("reveal {DEV}")]);
    h.send(&human(), json!({"op": "reveal", "coordinate": low}))
        .expect_ok();
    h.send_proven(
        &human(),
        json!({"op": "reveal", "coordinate": high}),
        PASSPHRASE,
    )
    .expect_ok();
    // A refused medium reveal is no use: no notice.
    h.send(&metadata_only(), json!({"op": "reveal", "coordinate": DEV}))
        .expect_error(ErrorCode::PolicyDenied);
    assert_eq!(notices(), Vec::<String>::new());
}
