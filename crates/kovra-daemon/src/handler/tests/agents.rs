//! Agent sockets: whatever a client on a profile's socket claims (origin, scope, a proof,
//! a terminal), the request is decided under the profile; lifecycle requests are refused;
//! a revoked or expired profile serves nothing.

use kovra_proto::ErrorCode;
use serde_json::{Value, json};

use super::harness::{CANARY, Harness, Who, full_scope, human};

const DEV: &str = "secret:dev/db/password";
const STAGING: &str = "secret:staging/db/password";

/// A client on agent socket `name` that claims everything: a human at a terminal with the
/// whole vault.
fn forged(name: &'static str) -> Who {
    Who {
        surface: "cli",
        origin: "human",
        tty: true,
        scope: Some(full_scope()),
        project: None,
        agent: Some(name),
    }
}

fn create(h: &Harness, name: &str, extra: Value) -> super::harness::Answer {
    let mut spec = json!({
        "name": name,
        "operations": ["metadata", "inject"],
        "projects": {"kind": "all"},
        "global": true,
        "environments": {"kind": "only-non-production", "names": ["dev"]},
    });
    if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            s.insert(k.clone(), v.clone());
        }
    }
    h.send(&human(), json!({"op": "agent-create", "spec": spec}))
}

#[test]
fn a_forged_human_with_a_forged_full_scope_is_decided_under_the_profile() {
    let h = Harness::unlocked();
    h.add(DEV, CANARY, "low", true);
    h.add(STAGING, "staging-canary-0000000000", "low", true);
    create(&h, "bot", json!({})).expect_ok();
    let bot = forged("bot");
    // The profile grants no reveal, however revealable the record.
    h.send(&bot, json!({"op": "reveal", "coordinate": DEV}))
        .expect_error(ErrorCode::PolicyDenied);
    // Outside the profile's environments: as absent.
    h.send(&bot, json!({"op": "show", "coordinate": STAGING}))
        .expect_error(ErrorCode::NotFound);
    let listed = h.send(&bot, json!({"op": "list"})).expect_ok();
    let text = listed.text.clone();
    assert!(text.contains(DEV), "{text}");
    assert!(!text.contains(STAGING), "{text}");
    // Status says whose socket this is.
    let status = h.send(&bot, json!({"op": "status"})).expect_ok();
    assert_eq!(status.reply()["agent"], "bot", "{}", status.text);
    // The trail names the profile, and records the origin as agent.
    let audit = h.send(&human(), json!({"op": "audit"})).expect_ok();
    let entries = audit.reply()["entries"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let denied = entries
        .iter()
        .find(|e| e["action"] == "reveal" && e["decision"] == "deny")
        .unwrap_or_else(|| panic!("no refused reveal on the trail: {}", audit.text));
    assert_eq!(denied["agent"], "bot");
    assert_eq!(denied["origin"], "agent");
    h.assert_no_leak();
}

#[test]
fn an_agent_socket_answers_no_proof_and_no_lifecycle_request() {
    let h = Harness::unlocked();
    h.add(DEV, CANARY, "high", false);
    create(&h, "bot", json!({})).expect_ok();
    let bot = forged("bot");
    let proof = json!({"challenge": "00", "mac": "00"});
    h.send(
        &bot,
        json!({"op": "reveal", "coordinate": DEV, "proof": proof}),
    )
    .expect_error(ErrorCode::AgentSocketRefused);
    for request in [
        json!({"op": "lock"}),
        json!({"op": "shutdown"}),
        json!({"op": "handover"}),
        json!({"op": "unlock", "passphrase": super::harness::b64("whatever-passphrase")}),
        json!({"op": "init", "passphrase": super::harness::b64("whatever-passphrase")}),
        json!({"op": "sandbox-open", "agent": "bot"}),
    ] {
        h.send(&bot, request)
            .expect_error(ErrorCode::AgentSocketRefused);
    }
    // Still unlocked: the refused lock did nothing.
    h.send(&human(), json!({"op": "list"})).expect_ok();
    // Making a profile is never served on a profile's socket.
    h.send(
        &bot,
        json!({"op": "agent-create", "spec": {
            "name": "wider", "operations": ["reveal"], "projects": {"kind": "all"},
            "global": true, "environments": {"kind": "all"}}}),
    )
    .expect_error(ErrorCode::AgentSocketRefused);
    h.assert_no_leak();
}

#[test]
fn a_wide_profile_needs_a_proof_and_a_narrow_one_does_not() {
    let h = Harness::unlocked();
    create(
        &h,
        "narrow",
        json!({"egress": {"kind": "domains", "domains": ["pypi.org"]}}),
    )
    .expect_ok();
    // An agent without a terminal on the human's socket: parked for approval.
    let agent = Who {
        tty: false,
        origin: "agent",
        ..human()
    };
    h.send(
        &agent,
        json!({"op": "agent-create", "spec": {
            "name": "wide", "operations": ["metadata", "reveal"], "projects": {"kind": "all"},
            "global": true, "environments": {"kind": "non-production"}}}),
    )
    .expect_needs_proof();
    create(&h, "values", json!({"value_injections": ["dev/db"]})).expect_needs_proof();
    create(&h, "open", json!({"egress": {"kind": "any"}})).expect_needs_proof();
    create(&h, "narrow", json!({})).expect_error(ErrorCode::AgentExists);
    create(&h, "bad name!", json!({})).expect_error(ErrorCode::AgentInvalid);
    create(
        &h,
        "bad-egress",
        json!({"egress": {"kind": "domains", "domains": ["https://x"]}}),
    )
    .expect_error(ErrorCode::AgentInvalid);
}

/// Review: the proof prompt is all a human sees before typing the passphrase (`kovra setup
/// --inject-values`, or a re-run of setup that replaces a profile): it names the profile and
/// what widens it, not only the general rule.
#[test]
fn the_proof_for_a_wide_profile_names_it_and_what_widens_it() {
    let h = Harness::unlocked();
    let a = create(
        &h,
        "claude-app",
        json!({"value_injections": ["dev/api"], "operations": ["metadata", "inject", "write"],
               "environments": {"kind": "all"}, "egress": {"kind": "any"}}),
    )
    .expect_needs_proof();
    let message = a.json["message"].as_str().unwrap_or_default();
    for part in [
        "claude-app",
        "values of dev/api",
        "write",
        "production",
        "egress to any host",
    ] {
        assert!(message.contains(part), "`{part}` missing from {message}");
    }
}

#[test]
fn a_revoked_or_expired_profile_serves_nothing() {
    let h = Harness::unlocked();
    h.add(DEV, CANARY, "low", true);
    create(&h, "bot", json!({})).expect_ok();
    let bot = forged("bot");
    h.send(&bot, json!({"op": "list"})).expect_ok();
    h.send(&human(), json!({"op": "agent-revoke", "name": "bot"}))
        .expect_ok();
    h.send(&bot, json!({"op": "list"}))
        .expect_error(ErrorCode::AgentRevoked);
    h.send(&human(), json!({"op": "agent-revoke", "name": "bot"}))
        .expect_error(ErrorCode::AgentUnknown);
    // Whole seconds: five can end as soon as four after creation, which still leaves a
    // loaded machine time for the next request; six later they have ended.
    create(&h, "brief", json!({"ttl_secs": 5})).expect_ok();
    let brief = forged("brief");
    h.send(&brief, json!({"op": "list"})).expect_ok();
    std::thread::sleep(std::time::Duration::from_millis(6100));
    let a = h
        .send(&brief, json!({"op": "list"}))
        .expect_error(ErrorCode::AgentRevoked);
    assert!(a.text.contains("expired"), "{}", a.text);
}

#[test]
fn a_locked_daemon_tells_an_agent_socket_whose_it_is_and_nothing_else() {
    let h = Harness::unlocked();
    h.add(DEV, CANARY, "low", true);
    create(&h, "bot", json!({})).expect_ok();
    h.send(&human(), json!({"op": "lock"})).expect_ok();
    let bot = forged("bot");
    let status = h.send(&bot, json!({"op": "status"})).expect_ok();
    assert_eq!(status.reply()["agent"], "bot");
    h.send(&bot, json!({"op": "list"}))
        .expect_error(ErrorCode::VaultLocked);
    h.assert_no_leak();
}

#[test]
fn a_request_that_needs_a_proof_on_an_agent_socket_is_parked_naming_the_profile() {
    let h = Harness::unlocked();
    h.add(DEV, CANARY, "high", false);
    // A profile that may write (made with the human's proof).
    let spec = json!({"op": "agent-create", "spec": {
        "name": "writer", "operations": ["metadata", "write"], "projects": {"kind": "all"},
        "global": true, "environments": {"kind": "non-production"}}});
    h.send_proven(&human(), spec, super::harness::PASSPHRASE)
        .expect_ok();
    // Overwriting a high record needs a proof: on the profile's socket it is parked.
    let a = h
        .send(
            &forged("writer"),
            json!({"op": "set", "coordinate": DEV, "value": super::harness::b64("new-value-123456")}),
        )
        .expect_needs_proof();
    let id = a.json["approval"].as_str().unwrap_or_default().to_string();
    assert!(!id.is_empty(), "no approval parked: {}", a.text);
    let pending = h.send(&human(), json!({"op": "approval-list"})).expect_ok();
    let facts = pending.text.clone();
    assert!(facts.contains("agent profile"), "{facts}");
    assert!(facts.contains("writer"), "{facts}");
    h.assert_no_leak();
}

/// A profile as wide as the vault (made with the human's proof): its socket's scope is full.
fn make_full(h: &Harness, name: &str) {
    let spec = json!({"op": "agent-create", "spec": {
        "name": name, "operations": ["metadata", "inject", "reveal", "write"],
        "projects": {"kind": "all"}, "global": true, "environments": {"kind": "all"}}});
    h.send_proven(&human(), spec, super::harness::PASSPHRASE)
        .expect_ok();
}

/// Review: making, revoking and approving are the human's, never an agent socket's, however
/// wide the profile (protocol §13.2: `agent-create` needs the whole vault, "never an agent
/// socket"). A full-scope profile made profiles of its own, revoked others' and parked
/// approvals of approvals.
#[test]
fn no_agent_socket_makes_revokes_or_approves_even_with_a_full_scope() {
    let h = Harness::unlocked();
    make_full(&h, "root");
    create(&h, "other", json!({})).expect_ok();
    let root = forged("root");
    h.send(
        &root,
        json!({"op": "agent-create", "spec": {
            "name": "child", "operations": ["metadata"], "projects": {"kind": "all"},
            "global": true, "environments": {"kind": "non-production"}, "egress_port": 0}}),
    )
    .expect_error(ErrorCode::AgentSocketRefused);
    h.send(&root, json!({"op": "agent-revoke", "name": "other"}))
        .expect_error(ErrorCode::AgentSocketRefused);
    h.send(&root, json!({"op": "approve", "id": "0123abcd"}))
        .expect_error(ErrorCode::AgentSocketRefused);
    let listed = h.send(&human(), json!({"op": "agent-list"})).expect_ok();
    let names: Vec<&str> = listed.reply()["agents"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["name"].as_str())
        .collect();
    assert_eq!(names, ["other", "root"], "{}", listed.text);
}

/// Review: a profile's socket listed every parked request (other profiles' and the human's
/// own agents': coordinates and command lines outside its scope) and could deny them.
#[test]
fn an_agent_socket_sees_and_denies_only_its_own_parked_requests() {
    let h = Harness::unlocked();
    h.add(DEV, CANARY, "high", false);
    h.add(STAGING, "staging-canary-0000000000", "high", false);
    create(&h, "bot", json!({})).expect_ok();
    // An agent on the human's socket (no terminal) parks an overwrite of a staging record.
    let agent = Who {
        tty: false,
        origin: "agent",
        ..human()
    };
    let parked = h
        .send(
            &agent,
            json!({"op": "set", "coordinate": STAGING, "value": super::harness::b64("new-value-123456")}),
        )
        .expect_needs_proof();
    let id = parked.json["approval"].as_str().unwrap().to_string();
    let bot = forged("bot");
    let seen = h.send(&bot, json!({"op": "approval-list"})).expect_ok();
    assert!(
        !seen.text.contains(&id) && !seen.text.contains("staging"),
        "the profile sees another's parked request: {}",
        seen.text
    );
    h.send(&bot, json!({"op": "deny", "id": id}))
        .expect_error(ErrorCode::ApprovalUnknown);
    let still = h.send(&human(), json!({"op": "approval-list"})).expect_ok();
    assert!(still.text.contains(&id), "{}", still.text);
}

/// Review: an approval the human gave to a request parked on profile `writer`'s socket (the
/// approval names the profile) was taken by the same request sent anywhere else first: the
/// human's socket, another profile's.
#[test]
fn an_approval_parked_on_a_profile_socket_is_used_only_there() {
    let h = Harness::unlocked();
    h.add(DEV, CANARY, "high", false);
    let spec = json!({"op": "agent-create", "spec": {
        "name": "writer", "operations": ["metadata", "write"], "projects": {"kind": "all"},
        "global": true, "environments": {"kind": "non-production"}}});
    h.send_proven(&human(), spec, super::harness::PASSPHRASE)
        .expect_ok();
    let set =
        json!({"op": "set", "coordinate": DEV, "value": super::harness::b64("new-value-123456")});
    let writer = forged("writer");
    let parked = h.send(&writer, set.clone()).expect_needs_proof();
    let id = parked.json["approval"].as_str().unwrap().to_string();
    h.send_proven(
        &human(),
        json!({"op": "approve", "id": id}),
        super::harness::PASSPHRASE,
    )
    .expect_ok();
    // The very same envelope on the human's socket, from a process without a terminal.
    let elsewhere = Who {
        tty: false,
        agent: None,
        ..forged("writer")
    };
    h.send(&elsewhere, set.clone()).expect_needs_proof();
    // Where it was parked, it is still approved.
    h.send(&writer, set).expect_ok();
}

/// Review: what a profile tried and was refused before the gate (a lifecycle request, a
/// proof, a request on a revoked profile's socket) left no trace on the trail; only what the
/// gate decided did.
#[test]
fn refusals_on_an_agent_socket_are_on_the_trail_under_the_profile() {
    let h = Harness::unlocked();
    create(&h, "bot", json!({})).expect_ok();
    let bot = forged("bot");
    let secret = "a-passphrase-the-agent-guessed";
    h.send(
        &bot,
        json!({"op": "unlock", "passphrase": super::harness::b64(secret)}),
    )
    .expect_error(ErrorCode::AgentSocketRefused);
    h.send(&bot, json!({"op": "lock"}))
        .expect_error(ErrorCode::AgentSocketRefused);
    h.send(
        &bot,
        json!({"op": "reveal", "coordinate": DEV, "proof": {"challenge": "00", "mac": "00"}}),
    )
    .expect_error(ErrorCode::AgentSocketRefused);
    let trail = h.audit_text();
    let entries: Vec<Value> = serde_json::from_str(&trail).unwrap();
    let refused: Vec<&Value> = entries
        .iter()
        .filter(|e| e["agent"] == "bot" && e["decision"] == "deny")
        .collect();
    assert_eq!(refused.len(), 3, "{trail}");
    assert!(
        !trail.contains(secret) && !trail.contains(&super::harness::b64(secret)),
        "{trail}"
    );
}

/// The proxy credential in a profile's base URLs (`kovra agent env`), out of `OPENAI_BASE_URL`.
fn grant_token(h: &Harness, name: &str) -> String {
    let env = h
        .send(
            &human(),
            json!({"op": "agent-env", "agent": name,
                   "refs": "OPENAI_API_KEY=secret:dev/openai/openai_api_key\n"}),
        )
        .expect_ok();
    let vars = env.reply()["variables"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let url = vars
        .iter()
        .find(|v| v[0] == "OPENAI_BASE_URL")
        .and_then(|v| v[1].as_str())
        .unwrap_or_else(|| panic!("no base URL: {}", env.text))
        .to_string();
    url.split("/kovra/")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap()
        .to_string()
}

/// Review: a profile's grant credential (in its sandboxes' HTTPS_PROXY, in base URLs that
/// `kovra agent env` prints for dotenv files) outlived `agent-revoke`: a profile made again
/// under the same name was served the very same credential, so whatever held the revoked
/// profile's had the new one's grant.
#[test]
fn a_revoked_profiles_proxy_credential_does_not_come_back_with_its_name() {
    let h = Harness::unlocked();
    h.add(
        "secret:dev/openai/openai_api_key",
        "sk-proj-CANARY-7f3a9c-do-not-leak-00000000",
        "medium",
        false,
    );
    create(&h, "bot", json!({})).expect_ok();
    let before = grant_token(&h, "bot");
    h.send(&human(), json!({"op": "agent-revoke", "name": "bot"}))
        .expect_ok();
    create(&h, "bot", json!({})).expect_ok();
    let after = grant_token(&h, "bot");
    assert_ne!(before, after, "the revoked profile's credential came back");
}

/// The first line of the proxy's answer to a CONNECT sent to `127.0.0.1:port`.
fn connect_status(port: u16) -> String {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return "closed".into();
    };
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let _ = s.write_all(
        b"CONNECT elsewhere.example:443 HTTP/1.1\r\nHost: elsewhere.example:443\r\n\r\n",
    );
    let mut buf = [0u8; 256];
    let n = s.read(&mut buf).unwrap_or(0);
    String::from_utf8_lossy(&buf[..n])
        .lines()
        .next()
        .unwrap_or("closed")
        .to_string()
}

/// Review: a profile's `--ttl` ended its socket's service (agent-revoked on the next
/// request), but not its grant: the profile's egress port (and its sandboxes' sockets) went
/// on serving the grant, placeholders swapped for values, until something else rebuilt the
/// grants or the vault locked.
#[test]
fn an_expired_profiles_grant_is_no_longer_served() {
    let h = Harness::unlocked();
    // Five whole seconds (as few as four): time for the first request on a loaded machine.
    let made = create(&h, "brief", json!({"ttl_secs": 5, "egress_port": 0})).expect_ok();
    let port = made.reply()["agents"][0]["egress_port"].as_u64().unwrap() as u16;
    // Served: refused by the grant's egress policy (pinned hosts only), not for a credential.
    assert!(
        connect_status(port).contains("403"),
        "{}",
        connect_status(port)
    );
    std::thread::sleep(std::time::Duration::from_millis(6100));
    h.daemon.expire_profiles();
    let after = connect_status(port);
    assert!(
        !after.contains("403"),
        "the expired profile's port still serves: {after}"
    );
    let audit = h.audit_text();
    assert!(audit.contains("agent-expired"), "{audit}");
}
