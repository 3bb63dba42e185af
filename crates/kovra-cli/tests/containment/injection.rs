//! The injection rule under an agent profile, end to end through its socket
//! (`kovra run` inside `kovra sandbox`, through the profile's socket): a value the agent could
//! not reveal is refused to the programs it starts, a pinned record becomes a placeholder, and
//! the value is injected only once the human opts the group in, with a proof.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::harness::*;
use crate::lab::*;
use crate::nonroot::test_user;

/// A coordinate no vault holds.
const ABSENT: &str = "secret:dev/app/absent";

/// The SHA-256 of `value`, in hex (the child prints the digest of what it got, never the
/// value).
fn sha256_hex(value: &str) -> String {
    let mut c = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("sha256sum");
    c.stdin.take().unwrap().write_all(value.as_bytes()).unwrap();
    let out = c.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout)[..64].to_string()
}

/// The last `inject` audit entry about `coord`.
fn last_inject(lab: &Lab, coord: &str) -> Value {
    let (code, v) = lab.json(&["audit", "--action", "inject"]);
    assert_eq!(code, 0, "{v}");
    v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|e| e["coordinate"] == coord)
        .cloned()
        .unwrap_or_else(|| panic!("no inject entry for {coord}: {v}"))
}

/// Issue 14, 3.
#[test]
fn under_a_profile_a_value_the_agent_cannot_reveal_is_injected_only_once_the_human_opts_in() {
    if test_user(
        "injection::under_a_profile_a_value_the_agent_cannot_reveal_is_injected_only_once_the_human_opts_in",
    ) {
        return;
    }
    let lab = Lab::new("inj");
    let socket = lab.agent_socket(AGENT);
    write(
        &lab.project.join("token.refs"),
        &format!("project = {WEB}\nX={TOKEN}\n"),
    );
    write(
        &lab.project.join("staging.refs"),
        &format!("project = {WEB}\nX={STAGING}\n"),
    );
    write(
        &lab.project.join("absent.refs"),
        &format!("project = {WEB}\nX={ABSENT}\n"),
    );
    // The agent's CLI, inside its sandbox (a run under a profile starts only there).
    let _ = &socket;
    let agent = |args: &[&str]| -> Output {
        let mut full = vec!["sandbox", "--agent", AGENT, "--", "kovra"];
        full.extend_from_slice(args);
        let mut c = lab.cmd(&full);
        c.env("KOVRA_PROJECT", WEB);
        lab.h.run_with(c, None)
    };
    let digest = "printf %s \"$X\" | sha256sum";
    let refused = |args: &[&str], exit: i32, code: &str| {
        let out = agent(args);
        let (got, v) = json_of(&out, &format!("{args:?}"));
        assert_eq!(
            (got, v["error"]["code"].as_str()),
            (exit, Some(code)),
            "{args:?}: {}",
            describe(&out)
        );
    };

    // A medium record that is not revealable: its value would be the agent's to print.
    refused(
        &[
            "--json",
            "run",
            "--refs",
            "token.refs",
            "--",
            "sh",
            "-c",
            digest,
        ],
        4,
        "policy-denied",
    );
    let e = last_inject(&lab, TOKEN);
    assert_eq!(
        (&e["decision"], &e["reason"], &e["agent"]),
        (
            &"deny".into(),
            &"agent-injection-is-reveal".into(),
            &AGENT.into()
        ),
        "{e}"
    );
    // Out of the profile's scope reads as absent: the same refusal as a coordinate no vault
    // holds.
    let unresolved = |refs: &str| -> (i32, Value) {
        let out = agent(&["--json", "run", "--refs", refs, "--", "true"]);
        json_of(&out, refs)
    };
    let (code, outside) = unresolved("staging.refs");
    let (absent_code, absent) = unresolved("absent.refs");
    assert_eq!(
        (code, &outside["error"]["code"]),
        (absent_code, &absent["error"]["code"]),
        "out of scope {outside} / absent {absent}"
    );
    assert_eq!(outside["error"]["code"], "unresolved", "{outside}");
    assert_eq!(
        outside["error"]["message"]
            .as_str()
            .unwrap()
            .replace(STAGING, "COORD")
            .replace("staging.refs", "REFS"),
        absent["error"]["message"]
            .as_str()
            .unwrap()
            .replace(ABSENT, "COORD")
            .replace("absent.refs", "REFS"),
    );

    // A pinned record: a placeholder, never the value.
    let out = agent(&[
        "run",
        "--",
        "sh",
        "-c",
        "echo PH=$OPENAI_API_KEY; printf %s \"$OPENAI_API_KEY\" | sha256sum",
    ]);
    assert_exit(&out, 0, "a pinned record's run");
    let text = stdout(&out);
    assert!(text.contains("PH=sk-proj-"), "{}", describe(&out));
    assert!(
        !text.contains(&sha256_hex(&lab.c.key)),
        "the child got the value"
    );

    // The agent cannot opt itself in: not from its socket, not from the human's.
    let widen = [
        "agent",
        "create",
        AGENT,
        "--projects",
        WEB,
        "--environments",
        "dev",
        "--inject-values",
        "dev/app",
        "--replace",
    ];
    let mut json_widen = vec!["--json"];
    json_widen.extend_from_slice(&widen);
    let out = agent(&json_widen);
    assert_ne!(out.status.code(), Some(0), "{}", describe(&out));
    let out = lab.run(&json_widen);
    assert_exit(&out, 5, "an agent widening its own profile");
    refused(
        &[
            "--json",
            "run",
            "--refs",
            "token.refs",
            "--",
            "sh",
            "-c",
            digest,
        ],
        4,
        "policy-denied",
    );
    // The human, at a terminal, with the passphrase.
    let out = lab.human(&widen);
    assert_exit(&out, 0, "the human's --inject-values");

    let out = agent(&["run", "--refs", "token.refs", "--", "sh", "-c", digest]);
    assert_exit(&out, 0, "the opted-in run");
    assert!(
        stdout(&out).contains(&sha256_hex(&lab.c.token)),
        "the child did not get the value: {}",
        describe(&out)
    );
    let e = last_inject(&lab, TOKEN);
    assert_eq!(
        (&e["decision"], &e["agent"]),
        (&"allow".into(), &AGENT.into()),
        "{e}"
    );
    // Its output is still redacted.
    let out = agent(&["run", "--refs", "token.refs", "--", "printenv", "X"]);
    assert_exit(&out, 0, "printenv");
    assert_eq!(stdout(&out).trim(), "[kovra:X]", "{}", describe(&out));
    lab.assert_nothing_printed();
}
