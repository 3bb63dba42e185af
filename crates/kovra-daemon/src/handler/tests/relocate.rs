//! `move` (`kovra mv`, `kovra rename`) through the gate: decided as a delete of the source
//! and a create at the destination, within the session's scope, never leaking the value.

use kovra_proto::ErrorCode;
use serde_json::{Value, json};

use super::harness::{CANARY, Harness, PASSPHRASE, Who, full_scope, human, mcp};

const DEV: &str = "secret:dev/db/password";
const PROD: &str = "secret:prod/db/password";

fn mv(coordinate: &str, extra: Value) -> Value {
    let mut request = json!({"op": "move", "coordinate": coordinate});
    for (k, v) in extra.as_object().unwrap() {
        request[k] = v.clone();
    }
    request
}

fn in_project(mut who: Who, project: &'static str) -> Who {
    who.project = Some(project);
    who
}

fn with_app() -> Harness {
    let h = Harness::unlocked();
    h.send(&human(), json!({"op": "project-create", "name": "app"}))
        .expect_ok();
    h
}

#[test]
fn a_session_without_write_cannot_move_and_nothing_changes() {
    let h = with_app();
    h.add(DEV, CANARY, "low", true);
    let reader = mcp(json!({
        "operations": ["metadata", "inject"],
        "projects": {"kind": "all"}, "global": true, "environments": {"kind": "all"},
    }));
    h.send(&reader, mv(DEV, json!({"to_project": "app"})))
        .expect_error(ErrorCode::PolicyDenied);
    h.send(&reader, mv(DEV, json!({"to": "secret:dev/db/other"})))
        .expect_error(ErrorCode::PolicyDenied);
    assert_eq!(h.show(DEV)["vault"], "global");
    h.assert_no_leak();
}

#[test]
fn a_destination_outside_the_scope_is_answered_as_absent() {
    let h = with_app();
    h.add(DEV, CANARY, "low", true);
    // Write access to project app only: the global record is not there to move, and the
    // project's own record cannot leave for the global vault.
    let app_only = in_project(
        mcp(json!({
            "operations": ["metadata", "write"],
            "projects": {"kind": "only", "names": ["app"]}, "global": false,
            "environments": {"kind": "all"},
        })),
        "app",
    );
    h.send(&app_only, mv(DEV, json!({"to_project": "app"})))
        .expect_error(ErrorCode::NotFound);
    h.send(
        &in_project(human(), "app"),
        mv(DEV, json!({"to_project": "app"})),
    )
    .expect_ok();
    h.send(&app_only, mv(DEV, json!({"to_global": true})))
        .expect_error(ErrorCode::NotFound);
    let shown = h
        .send(
            &in_project(human(), "app"),
            json!({"op": "show", "coordinate": DEV}),
        )
        .expect_ok();
    assert_eq!(shown.reply()["vault"], "project:app");
    h.assert_no_leak();
}

#[test]
fn a_production_record_leaves_only_with_a_proof() {
    let h = with_app();
    h.add(PROD, CANARY, "high", false);
    let agent = mcp(full_scope());
    h.send(&agent, mv(PROD, json!({"to": "secret:dev/db/password"})))
        .expect_needs_proof();
    assert_eq!(h.show(PROD)["sensitivity"], "high");
    h.send_proven(&human(), mv(PROD, json!({"to_project": "app"})), PASSPHRASE)
        .expect_ok();
    h.assert_no_leak();
}

#[test]
fn a_record_renamed_into_production_is_raised_to_high() {
    let h = with_app();
    h.add(DEV, CANARY, "low", true);
    let a = h
        .send(&mcp(full_scope()), mv(DEV, json!({"to": PROD})))
        .expect_ok();
    assert_eq!(a.reply()["coordinate"], PROD);
    assert_eq!(h.show(PROD)["sensitivity"], "high");
    h.send(&human(), json!({"op": "show", "coordinate": DEV}))
        .expect_error(ErrorCode::NotFound);
    let trail = h.audit_text();
    assert!(
        trail.contains("\"rename\"") && trail.contains(PROD),
        "{trail}"
    );
    h.assert_no_leak();
}
