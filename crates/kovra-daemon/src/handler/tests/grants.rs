//! Profile grants (`approve ID --grant D --grant-profile`): the profile may have the granted
//! coordinates injected into any run it starts, and nothing else: another coordinate,
//! another profile's socket, and the human's own socket are parked as before.

use serde_json::{Value, json};

use super::harness::{CANARY, Harness, Who, full_scope, human};

/// Pinned to openai by its key; the profile opts its group in to values.
const KEY: &str = "secret:dev/openai/OPENAI_API_KEY";
/// Pinned to anthropic, in the same group: not in the grant.
const OTHER: &str = "secret:dev/openai/ANTHROPIC_API_KEY";

fn on_socket(name: &'static str) -> Who {
    Who {
        surface: "cli",
        origin: "agent",
        tty: false,
        scope: Some(full_scope()),
        project: None,
        agent: Some(name),
    }
}

fn create(h: &Harness, name: &str) {
    let spec = json!({
        "name": name,
        "operations": ["metadata", "inject"],
        "projects": {"kind": "all"},
        "global": true,
        "environments": {"kind": "only-non-production", "names": ["dev"]},
        "value_injections": ["dev/openai"],
    });
    let first = h.send(
        &human(),
        json!({"op": "agent-create", "spec": spec.clone()}),
    );
    if first.status() == "needs-proof" {
        let proven = h.with_proof(
            &human(),
            json!({"op": "agent-create", "spec": spec}),
            &first,
            super::harness::PASSPHRASE,
        );
        h.send(&human(), proven).expect_ok();
    } else {
        first.expect_ok();
    }
}

/// A run of `argv` with the value of `coordinate` (not a placeholder).
fn run(argv: &str, coordinate: &str) -> Value {
    json!({
        "op": "run", "argv": [argv], "cwd": "/",
        "env": [["PATH", "/usr/bin:/bin"]],
        "refs": format!("API_KEY={coordinate}\n"),
        "delivery": "values",
    })
}

#[test]
fn a_profile_grant_covers_its_coordinates_for_its_profile_only() {
    let h = Harness::unlocked();
    h.add(KEY, CANARY, "medium", false);
    h.add(OTHER, "other-canary-000000000000", "medium", false);
    create(&h, "bot");
    create(&h, "other");
    let bot = on_socket("bot");
    // The value of a pinned record, asked for by the profile's run: parked.
    let (parked, planned) = h.send_contained(&bot, run("true", KEY));
    assert!(!planned, "{}", parked.text);
    let parked = parked.expect_needs_proof();
    let id = parked.json["approval"].as_str().unwrap().to_string();
    // Its needs-proof entry names the approval it was parked as.
    let trail = h.audit_text();
    assert!(
        trail.contains(&format!("parked for approval {id}")),
        "{trail}"
    );
    // The human approves it, granting the profile its coordinates for a while.
    let approve = json!({"op": "approve", "id": id, "grant": {"minutes": 15, "profile": true}});
    let made = h
        .send_proven(&human(), approve, super::harness::PASSPHRASE)
        .expect_ok();
    assert_eq!(made.reply()["kind"], "grant-made", "{}", made.text);
    assert_eq!(made.reply()["grant"]["kind"], "profile", "{}", made.text);
    assert_eq!(made.reply()["grant"]["agent"], "bot", "{}", made.text);
    // The approved run once, then other commands of the profile with the same coordinate.
    let (_, planned) = h.send_contained(&bot, run("true", KEY));
    assert!(planned, "the approved run");
    for argv in ["false", "env", "true"] {
        let (answer, planned) = h.send_contained(&bot, run(argv, KEY));
        assert!(planned, "{argv} under the grant: {}", answer.text);
    }
    // Another coordinate, another profile: parked.
    let (answer, planned) = h.send_contained(&bot, run("true", OTHER));
    assert!(!planned);
    answer.expect_needs_proof();
    let (answer, planned) = h.send_contained(&on_socket("other"), run("false", KEY));
    assert!(!planned);
    answer.expect_needs_proof();
    // Every use is on the trail, naming the grant and the coordinate.
    let audit = h.send(&human(), json!({"op": "audit"})).expect_ok();
    let uses: Vec<&Value> = audit.reply()["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "grant-use")
        .collect();
    assert_eq!(uses.len(), 3, "{}", audit.text);
    assert!(
        uses.iter()
            .all(|e| e["coordinate"] == KEY && e["agent"] == "bot")
    );
    // The profile's socket lists and may end its own grant.
    let listed = h.send(&bot, json!({"op": "grant-list"})).expect_ok();
    let grants = listed.reply()["grants"].as_array().unwrap().clone();
    assert_eq!(grants.len(), 1, "{}", listed.text);
    let gid = grants[0]["id"].as_str().unwrap().to_string();
    let listed = h
        .send(&on_socket("other"), json!({"op": "grant-list"}))
        .expect_ok();
    assert!(listed.reply()["grants"].as_array().unwrap().is_empty());
    h.send(
        &on_socket("other"),
        json!({"op": "grant-revoke", "id": gid}),
    )
    .expect_error(kovra_proto::ErrorCode::GrantUnknown);
    h.send(&bot, json!({"op": "grant-revoke", "id": gid}))
        .expect_ok();
    let (answer, planned) = h.send_contained(&bot, run("false", KEY));
    assert!(!planned);
    answer.expect_needs_proof();
    h.assert_no_leak();
}
