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

/// Review: a key a provider claims by name is pinned by that name (an agent's run gets a
/// placeholder). Renaming it to a key nobody claims dropped the pin, so the agent's next run
/// got the value itself. A move that changes a record's provider needs a proof.
#[test]
fn a_rename_that_drops_a_provider_claim_needs_a_proof() {
    let h = with_app();
    let claimed = "secret:dev/openai/openai_api_key";
    h.add(claimed, CANARY, "medium", false);
    assert_eq!(h.show(claimed)["provider"], "openai");
    h.send(
        &mcp(full_scope()),
        mv(claimed, json!({"to": "secret:dev/openai/plain_key"})),
    )
    .expect_needs_proof();
    assert_eq!(h.show(claimed)["provider"], "openai");
    // A human with a proof may.
    h.send_proven(
        &human(),
        mv(claimed, json!({"to": "secret:dev/openai/plain_key"})),
        PASSPHRASE,
    )
    .expect_ok();
    h.assert_no_leak();
}

/// Review: a profile opted in to values for one group (`dev/test`) may write; renaming a
/// record of another group into it made the profile's runs get that record's value.
#[test]
fn a_move_into_a_group_opted_in_to_values_needs_a_proof_on_a_profile() {
    let h = with_app();
    h.add(DEV, CANARY, "medium", false);
    let spec = json!({"op": "agent-create", "spec": {
        "name": "writer", "operations": ["metadata", "inject", "write"],
        "projects": {"kind": "all"}, "global": true,
        "environments": {"kind": "non-production"}, "value_injections": ["dev/test"]}});
    h.send_proven(&human(), spec, PASSPHRASE).expect_ok();
    let mut writer = mcp(full_scope());
    writer.agent = Some("writer");
    h.send(&writer, mv(DEV, json!({"to": "secret:dev/test/password"})))
        .expect_needs_proof();
    assert_eq!(h.show(DEV)["vault"], "global");
    // The human deciding the parked move reads which record moves where.
    let pending = h.send(&human(), json!({"op": "approval-list"})).expect_ok();
    assert!(
        pending.text.contains(DEV) && pending.text.contains("secret:dev/test/password"),
        "{}",
        pending.text
    );
    // Within the opted-in group, or out of it, nothing widens.
    h.send(&writer, mv(DEV, json!({"to": "secret:dev/db/other"})))
        .expect_ok();
    h.assert_no_leak();
}

/// Review: an approval binds a request (a coordinate), not the record there. An agent got
/// the human to approve pinning one record to a provider, then moved it away and another
/// record (one the human never saw) onto its coordinate, and used the approval for that
/// one. A move voids every parked approval.
#[test]
fn a_move_voids_the_approvals_given_before_it() {
    let h = with_app();
    let (shown, hidden) = ("secret:dev/a/token", "secret:dev/b/internal");
    h.add(shown, CANARY, "medium", false);
    h.add(hidden, "other-value-5d1c", "medium", false);
    let agent = mcp(full_scope());
    let bind = json!({"op": "bind", "coordinate": shown, "provider": "openai"});
    let parked = h.send(&agent, bind.clone()).expect_needs_proof();
    let id = parked.json["approval"].as_str().unwrap().to_string();
    h.send_proven(&human(), json!({"op": "approve", "id": id}), PASSPHRASE)
        .expect_ok();
    h.send(&agent, mv(shown, json!({"to": "secret:dev/a/old"})))
        .expect_ok();
    h.send(&agent, mv(hidden, json!({"to": shown}))).expect_ok();
    h.send(&agent, bind).expect_needs_proof();
    assert!(h.show(shown)["provider"].is_null(), "{}", h.show(shown));
    h.assert_no_leak();
}
