//! `kovra confirm TEXT`: exit 0 only once the human approved with a proof — at this
//! terminal, or (no terminal) with `kovra approve` while it waits; denied, expired or a
//! wrong passphrase exit non-zero. The text is the requester's words, with the vault's
//! values masked wherever it is shown or written.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::harness::*;
use crate::leak::canary;

#[test]
fn at_a_terminal_only_the_passphrase_confirms() {
    let h = Home::init();
    let out = h.run_pty(&["confirm", "deploy v1.4 to production"], &[PASSPHRASE]);
    assert_exit(&out, 0, "confirm with the passphrase");
    let out = h.run_pty(&["confirm", "deploy v1.5"], &["not the passphrase"]);
    assert!(!out.status.success(), "{}", describe(&out));
    let trail = audit(&h, &["--action", "confirm"]);
    let allowed: Vec<_> = trail.iter().filter(|e| e["decision"] == "allow").collect();
    assert_eq!(allowed.len(), 1, "{trail:?}");
    assert_eq!(allowed[0]["detail"], "deploy v1.4 to production");
}

#[test]
fn without_a_terminal_it_waits_for_the_humans_approval() {
    let h = Home::init();
    let secret = canary("confirm");
    h.add_ok("secret:dev/app/token", secret.as_bytes(), &[]);
    let text = format!("deploy with {secret}");
    let child = h
        .cmd(&["confirm", &text, "--ttl", "60"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let id = h.wait_for_pending();
    // The approver sees the requester's words, the vault's value masked.
    let (_, pending) = h.json(&["approve"]);
    let shown = pending.to_string();
    assert!(shown.contains("deploy with"), "{shown}");
    assert!(!shown.contains(&secret), "the value in the approvals list");
    let out = h.run_pty(&["approve", &id], &[PASSPHRASE]);
    assert_exit(&out, 0, "approve");
    let out = child.wait_with_output().unwrap();
    assert_exit(&out, 0, "the waiting confirm");
    // Denied, it fails.
    let child = h
        .cmd(&["confirm", "drop staging", "--ttl", "60"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let id = h.wait_for_pending();
    h.ok(&["deny", &id]);
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(stderr(&out).contains("denied"), "{}", describe(&out));
    // Unanswered, it gives up after --ttl.
    let started = Instant::now();
    let out = h.run(&["confirm", "nobody answers", "--ttl", "2"]);
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(
        stderr(&out).contains("not approved in time"),
        "{}",
        describe(&out)
    );
    assert!(!h.transcript_contains(&[secret.as_bytes().to_vec()]));
    let trail = serde_json::to_string(&audit(&h, &["--action", "confirm"])).unwrap();
    assert!(!trail.contains(&secret), "the value in the trail");
}

#[test]
fn bad_text_is_refused_before_anyone_is_asked() {
    let h = Home::init();
    for bad in ["", "   ", "two\nlines", &"x".repeat(501)] {
        let out = h.run(&["confirm", bad]);
        assert_exit(&out, 1, format!("confirm {bad:?}"));
        assert!(stderr(&out).contains("confirm:"), "{}", describe(&out));
    }
    let (_, pending) = h.json(&["approve"]);
    assert_eq!(pending["pending"], serde_json::json!([]));
}
