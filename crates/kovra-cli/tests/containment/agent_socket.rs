//! An agent profile's socket, spoken to in raw frames (tests/support/raw_request.py and
//! raw_session.py): whatever the client claims (origin `human`, the full scope, a proof), every
//! request there is decided under the profile, and a revoked profile's socket answers nothing.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Output, Stdio};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::harness::*;
use crate::lab::*;
use crate::nonroot::test_user;

/// A scope that claims everything: every operation, project, environment and the global vault.
fn full_scope() -> Value {
    json!({
        "operations": ["metadata", "inject", "reveal", "write"],
        "projects": {"kind": "all"},
        "global": true,
        "environments": {"kind": "all"},
    })
}

/// `request` in an envelope that claims a human at a terminal with the full scope.
fn forged(project: Option<&str>, request: Value) -> Value {
    json!({
        "v": 1,
        "context": {"surface": "cli", "origin": "human", "scope": full_scope(), "project": project},
        "request": request,
    })
}

/// One envelope sent alone on a new connection to `socket`: the process's output.
fn send(lab: &Lab, socket: &Path, envelope: &Value) -> Output {
    let mut py = lab.other("python3");
    py.arg(support_dir().join("raw_request.py")).arg(socket);
    lab.h.run_with(py, Some(envelope.to_string().as_bytes()))
}

/// [`send`], which must get a reply: the reply.
#[track_caller]
fn reply(lab: &Lab, socket: &Path, envelope: &Value) -> Value {
    let out = send(lab, socket, envelope);
    assert_exit(&out, 0, "raw request");
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("the reply is not JSON ({e}): {}", describe(&out)))
}

/// The `vault coordinate` of every record in a `records` reply.
fn listed(v: &Value) -> Vec<String> {
    v["reply"]["records"]
        .as_array()
        .unwrap_or_else(|| panic!("not a records reply: {v}"))
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r["vault"].as_str().unwrap(),
                r["coordinate"].as_str().unwrap()
            )
        })
        .collect()
}

/// Issue 14, 2: forged origin, forged scope and a proof change nothing on the profile's
/// socket; the daemon's own operations are refused there; revoking the profile removes the
/// socket and refuses the next request of a connection that was already open.
#[test]
fn forged_frames_on_the_agent_socket_get_only_the_profile() {
    if test_user("agent_socket::forged_frames_on_the_agent_socket_get_only_the_profile") {
        return;
    }
    let lab = Lab::new("sock");
    let socket = lab.agent_socket(AGENT);
    let pid_before = lab.daemon_pid();
    let passphrase = STANDARD.encode(PASSPHRASE.as_bytes());
    let reveal = |coord: &str| json!({"op": "reveal", "coordinate": coord, "proof": null});
    let cases = [
        // The profile has no `reveal`, even of a low revealable record in its scope.
        ("reveal in scope", Some(WEB), reveal(NOTES), "policy-denied"),
        ("reveal staging", Some(WEB), reveal(STAGING), "not-found"),
        (
            "reveal in billing",
            Some(BILLING),
            reveal(TOKEN),
            "not-found",
        ),
        (
            "reveal in the global vault",
            None,
            reveal("secret://global/dev/app/global_token"),
            "not-found",
        ),
        (
            "unlock with the right passphrase",
            None,
            json!({"op": "unlock", "passphrase": passphrase, "code": null,
                   "unattended": false, "prior_failures": 0}),
            "agent-socket-refused",
        ),
        ("lock", None, json!({"op": "lock"}), "agent-socket-refused"),
        (
            "init",
            None,
            json!({"op": "init", "passphrase": passphrase, "unattended": false}),
            "agent-socket-refused",
        ),
        (
            "shutdown",
            None,
            json!({"op": "shutdown"}),
            "agent-socket-refused",
        ),
        (
            "handover",
            None,
            json!({"op": "handover"}),
            "agent-socket-refused",
        ),
        (
            "reveal with a proof",
            Some(WEB),
            json!({"op": "reveal", "coordinate": NOTES,
                   "proof": {"challenge": "00112233445566778899aabbccddeeff", "mac": "00"}}),
            "agent-socket-refused",
        ),
    ];
    let mut findings = Vec::new();
    for (what, project, request, code) in cases {
        let v = reply(&lab, &socket, &forged(project, request));
        if v["status"] != "error" || v["code"] != code {
            findings.push(format!("{what}: expected {code}, got {v}"));
        }
    }
    // A forged full scope lists only the profile's records, wherever it points.
    let want = [
        format!("project:{WEB} {NOTES}"),
        format!("project:{WEB} {TOKEN}"),
        format!("project:{WEB} {OPENAI}"),
    ];
    for project in [None, Some(WEB), Some(BILLING)] {
        let v = reply(
            &lab,
            &socket,
            &forged(project, json!({"op": "list", "env": null})),
        );
        if v["status"] == "ok" {
            let got = listed(&v);
            if got.iter().any(|r| !want.contains(r)) {
                findings.push(format!("list in {project:?} shows {got:?}"));
            }
        } else if v["code"] != "not-found" && v["code"] != "unknown-project" {
            findings.push(format!("list in {project:?}: {v}"));
        }
    }
    assert!(findings.is_empty(), "- {}", findings.join("\n- "));
    let v = reply(
        &lab,
        &socket,
        &forged(Some(WEB), json!({"op": "list", "env": null})),
    );
    let mut got = listed(&v);
    got.sort();
    assert_eq!(got, want, "{v}");
    // Still the same daemon, still unlocked.
    let (_, status) = lab.json(&["status"]);
    assert_eq!(status["unlocked"], true, "{status}");
    assert_eq!(lab.daemon_pid(), pid_before);
    lab.assert_nothing_printed();

    // Revocation, with a connection already open.
    let mut py = lab.other("python3");
    py.arg(support_dir().join("raw_session.py"))
        .arg(&socket)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut session = py.spawn().expect("raw_session.py");
    let mut input = session.stdin.take().unwrap();
    let mut output = BufReader::new(session.stdout.take().unwrap());
    let mut next = move |envelope: Option<&Value>| -> String {
        if let Some(e) = envelope {
            writeln!(input, "{e}").unwrap();
            input.flush().unwrap();
        }
        let mut line = String::new();
        output.read_line(&mut line).unwrap();
        line
    };
    let mut seen = String::new();
    assert_eq!(next(None).trim(), "connected");
    let line = next(Some(&forged(None, json!({"op": "status"}))));
    seen.push_str(&line);
    let first: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(first["reply"]["agent"], AGENT, "{first}");
    lab.ok(&["agent", "revoke", AGENT]);
    assert!(
        !socket.exists(),
        "the revoked profile's socket is still there: {}",
        socket.display()
    );
    let line = next(Some(&forged(Some(WEB), json!({"op": "list", "env": null}))));
    seen.push_str(&line);
    let after: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(
        (&after["status"], &after["code"]),
        (&"error".into(), &"agent-revoked".into()),
        "the open connection's next request: {after}"
    );
    drop(next);
    let _ = session.wait();
    lab.assert_clean(seen.as_bytes(), "the open connection's replies");
    let out = send(&lab, &socket, &forged(None, json!({"op": "status"})));
    assert_ne!(
        out.status.code(),
        Some(0),
        "a new connection to the revoked socket got a reply: {}",
        describe(&out)
    );
    lab.assert_nothing_printed();
}
