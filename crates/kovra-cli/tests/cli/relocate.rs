//! `kovra mv` and `kovra rename`: a record moves with its value (compared by fingerprint,
//! never printed), history and metadata; an occupied destination, an absent record and an
//! unknown project are refused with the vault unchanged; each move is one audit entry.

use serde_json::Value;

use crate::harness::*;

const KEY: &str = "secret:dev/stripe/key";

fn fingerprint(h: &Home, args: &[&str], coord: &str) -> String {
    let mut full = args.to_vec();
    full.extend(["fingerprint", coord]);
    stdout(&h.ok(&full)).trim().to_string()
}

fn show(h: &Home, args: &[&str], coord: &str) -> Value {
    let mut full = args.to_vec();
    full.extend(["show", coord]);
    let (code, v) = h.json(&full);
    assert_eq!(code, 0, "show {coord}: {v}");
    v
}

fn versions(h: &Home, args: &[&str], coord: &str) -> usize {
    let mut full = args.to_vec();
    full.extend(["history", coord]);
    let (code, v) = h.json(&full);
    assert_eq!(code, 0, "history {coord}: {v}");
    v["versions"]
        .as_array()
        .unwrap_or_else(|| panic!("history: {v}"))
        .len()
}

fn error_code(h: &Home, args: &[&str]) -> (i32, String) {
    let (code, v) = h.json(args);
    (
        code,
        v["error"]["code"].as_str().unwrap_or_default().to_string(),
    )
}

/// A home with project `app` and KEY in the global vault at version 2.
fn home(canary: &[u8]) -> Home {
    let h = Home::init();
    h.ok(&["project", "create", "app"]);
    h.add_ok(
        KEY,
        b"first value of the key",
        &["--description", "Stripe test key", "--revealable"],
    );
    let out = h.run_stdin(&["set", KEY, "--stdin"], canary);
    assert!(out.status.success(), "set: {}", describe(&out));
    h
}

#[test]
fn a_record_moves_to_a_project_and_back_with_its_value_history_and_metadata() {
    let canary = b"kvCANARYmove5f1e0c9a77";
    let h = home(canary);
    let before = fingerprint(&h, &[], KEY);

    let (code, v) = h.json(&["mv", KEY, "--to-project", "app"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["vault"], "project:app", "{v}");
    assert_eq!(v["version"], 2, "{v}");
    // Gone from the global vault; there in the project, the same value and metadata.
    let global = format!("secret://global/{}", &KEY["secret:".len()..]);
    assert_eq!(error_code(&h, &["show", &global]), (3, "not-found".into()));
    assert_eq!(fingerprint(&h, &["--project", "app"], KEY), before);
    let moved = show(&h, &["--project", "app"], KEY);
    assert_eq!(moved["description"], "Stripe test key", "{moved}");
    assert_eq!(moved["sensitivity"], "medium", "{moved}");
    assert_eq!(moved["revealable"], true, "{moved}");
    assert_eq!(versions(&h, &["--project", "app"], KEY), 2);

    let (code, v) = h.json(&["--project", "app", "mv", KEY, "--to-global"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["vault"], "global", "{v}");
    assert_eq!(fingerprint(&h, &[], &global), before);
    assert_eq!(versions(&h, &[], &global), 2);
    assert_eq!(show(&h, &[], &global)["description"], "Stripe test key");

    // One entry per move, naming both places.
    let entries = audit(&h, &["--action", "mv"]);
    assert_eq!(entries.len(), 2, "{entries:?}");
    let text = serde_json::to_string(&entries).unwrap();
    assert!(
        text.contains("to secret:dev/stripe/key (project:app)"),
        "{text}"
    );
    assert!(text.contains("to secret:dev/stripe/key (global)"), "{text}");
    assert!(
        !h.transcript_contains(&[canary.to_vec()]),
        "the value was printed"
    );
    assert!(
        h.files_containing(&[canary.to_vec()]).is_empty(),
        "the value is in a file"
    );
}

#[test]
fn rename_keeps_the_history_and_the_old_coordinate_no_longer_resolves() {
    let canary = b"kvCANARYrename0b8d2e6";
    let h = home(canary);
    let before = fingerprint(&h, &[], KEY);
    let new = "secret:dev/stripe/secret_key";
    let (code, v) = h.json(&["rename", KEY, new]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["coordinate"], new, "{v}");
    assert_eq!(v["vault"], "global", "{v}");
    assert_eq!(
        error_code(&h, &["fingerprint", KEY]),
        (3, "not-found".into())
    );
    assert_eq!(fingerprint(&h, &[], new), before);
    assert_eq!(versions(&h, &[], new), 2);
    let entries = audit(&h, &["--action", "rename"]);
    assert_eq!(entries.len(), 1, "{entries:?}");
    let text = serde_json::to_string(&entries[0]).unwrap();
    assert!(text.contains("stripe/key") && text.contains(new), "{text}");
    assert!(
        !h.transcript_contains(&[canary.to_vec()]),
        "the value was printed"
    );
}

#[test]
fn refusals_leave_the_vault_unchanged_and_say_how() {
    let h = home(b"kvCANARYrefuse3c4d5e6f");
    let other = "secret:dev/stripe/other";
    h.add_ok(other, b"another value", &[]);
    let (key_fp, other_fp) = (fingerprint(&h, &[], KEY), fingerprint(&h, &[], other));

    // The destination holds a record: refused, both untouched.
    let out = h.run(&["rename", KEY, other]);
    assert_exit(&out, 1, "rename onto a record");
    assert_contains(&stderr(&out), "already exists", &out);
    assert_contains(&stderr(&out), "nothing was moved", &out);
    assert_contains(&stderr(&out), "hint:", &out);
    assert_eq!(fingerprint(&h, &[], KEY), key_fp);
    assert_eq!(fingerprint(&h, &[], other), other_fp);
    // The same in another vault.
    h.add_ok(KEY, b"the project's own", &["--project", "app"]);
    assert_eq!(
        error_code(&h, &["mv", KEY, "--to-project", "app"]),
        (1, "already-exists".into())
    );
    assert_eq!(fingerprint(&h, &[], KEY), key_fp);

    // Absent record, unknown project, nowhere to go.
    let (code, v) = h.json(&["mv", "secret:dev/no/such", "--to-project", "app"]);
    assert_eq!(
        (code, v["error"]["code"].as_str()),
        (3, Some("not-found")),
        "{v}"
    );
    assert!(v["error"]["hint"].is_string(), "{v}");
    let (code, v) = h.json(&["mv", KEY, "--to-project", "nosuch"]);
    assert_eq!(
        (code, v["error"]["code"].as_str()),
        (1, Some("unknown-project")),
        "{v}"
    );
    assert!(v["error"]["hint"].is_string(), "{v}");
    assert_eq!(
        error_code(&h, &["mv", KEY, "--to-global"]),
        (1, "nothing-to-change".into())
    );
    let out = h.run(&["mv", KEY]);
    assert_exit(&out, 2, "mv without a destination");
    assert_eq!(fingerprint(&h, &[], KEY), key_fp);
    // Nothing moved, so the trail holds no allowed move.
    let moved = audit(&h, &[])
        .iter()
        .filter(|e| matches!(e["action"].as_str(), Some("mv" | "rename")))
        .map(|e| e.to_string())
        .collect::<Vec<_>>();
    assert!(moved.iter().all(|e| !e.contains("\"allow\"")), "{moved:?}");
}

/// A high record leaves its place only as its deletion would: with a proof of presence.
#[test]
fn moving_a_high_record_needs_a_proof() {
    let h = Home::init();
    h.ok(&["project", "create", "app"]);
    let high = "secret:dev/db/root";
    h.add_ok(high, b"kvCANARYhigh7a8b9c0d", &["--sensitivity", "high"]);
    let (code, _) = error_code(&h, &["mv", high, "--to-project", "app"]);
    assert_eq!(code, 5, "a high record moved without a proof");
    let out = h.run_pty(&["mv", high, "--to-project", "app"], &[PASSPHRASE]);
    assert!(out.status.success(), "mv with a proof: {}", describe(&out));
    assert_eq!(show(&h, &["--project", "app"], high)["sensitivity"], "high");
}
