//! Proof of presence: what an agent (no terminal) is refused or asked to prove, what a human
//! at a real pseudo-terminal can do after typing the passphrase, and that origin only tightens.

use std::process::Output;

use serde_json::Value;

use crate::harness::*;
use crate::leak::*;

const HIGH: &str = "secret:staging/api/key";
const MEDIUM: &str = "secret:dev/db/password";
const MEDIUM_REVEALABLE: &str = "secret:dev/cache/url";
const LOW: &str = "secret:dev/app/token";
const PROD: &str = "secret:prod/db/password";
const INJECT: &str = "secret:dev/signing/key";

/// Arguments, standard input, and the reason code the refusal must carry.
type Case<'a> = (&'a [&'a str], Option<&'a [u8]>, &'a str);

/// `run_pty` with extra environment for the kovra process.
fn pty_env(h: &Home, env: &[(&str, &str)], args: &[&str], answers: &[&str]) -> Output {
    let mut py = h.pty_answer_cmd("answers-env", args, answers);
    for (k, v) in env {
        py.env(k, v);
    }
    h.run_with(py, None)
}

/// Records at every level, each with its own canary value.
struct Vault {
    h: Home,
    high: String,
    medium: String,
    medium_revealable: String,
    low: String,
    prod: String,
    inject: String,
}

fn vault() -> Vault {
    let h = Home::init();
    let v = Vault {
        high: canary("high"),
        medium: canary("medium"),
        medium_revealable: canary("medrev"),
        low: canary("low"),
        prod: canary("prod"),
        inject: canary("inject"),
        h,
    };
    for (coord, value, extra) in [
        (
            HIGH,
            &v.high,
            &["--sensitivity", "high", "--revealable"][..],
        ),
        (MEDIUM, &v.medium, &[][..]),
        (
            MEDIUM_REVEALABLE,
            &v.medium_revealable,
            &["--revealable"][..],
        ),
        (LOW, &v.low, &["--sensitivity", "low", "--revealable"][..]),
        // Asked for low and revealable; a production record is born high anyway.
        (PROD, &v.prod, &["--sensitivity", "low", "--revealable"][..]),
        (
            INJECT,
            &v.inject,
            &["--sensitivity", "inject-only", "--revealable"][..],
        ),
    ] {
        let out = v.h.add(coord, value.as_bytes(), extra);
        assert!(out.status.success(), "add {coord}: {}", describe(&out));
    }
    v
}

fn show(h: &Home, coord: &str) -> Value {
    let (code, v) = h.json(&["show", coord]);
    assert_eq!(code, 0, "show {coord}: {v}");
    v
}

/// Agents may not fingerprint high or production records; a human at a terminal may.
fn fingerprint(h: &Home, coord: &str) -> String {
    human_fingerprint(h, &[], coord, PASSPHRASE)
}

/// Metadata and value fingerprint of every record, to prove nothing moved.
fn state(h: &Home) -> Vec<(Value, String)> {
    let (code, list) = h.json(&["list"]);
    assert_eq!(code, 0, "{list}");
    list["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let c = r["coordinate"].as_str().unwrap();
            (r.clone(), fingerprint(h, c))
        })
        .collect()
}

fn error_of(out: &Output) -> Value {
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", describe(out)));
    v["error"].clone()
}

#[test]
fn human_reveal_of_a_high_record_needs_and_accepts_the_passphrase() {
    let v = vault();
    let h = &v.h;
    let out = h.run_pty(&["reveal", HIGH], &[PASSPHRASE]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let text = stdout(&out);
    assert!(text.contains("needs a proof of presence"), "{text}");
    assert!(text.contains("passphrase: "), "{text}");
    assert_eq!(count(&out.stdout, v.high.as_bytes()), 1, "{text}");
    // (Whether the typed passphrase is echoed is not asserted here: rpassword prints the
    // prompt before it turns echo off, so an answer typed at once can race it.)
    for other in [&v.medium, &v.low, &v.prod, &v.inject] {
        assert!(!text.contains(other.as_str()), "{text}");
    }
    let trail = audit(h, &["--coordinate", HIGH, "--action", "reveal"]);
    let shape: Vec<_> = trail
        .iter()
        .map(|e| {
            (
                e["decision"].as_str().unwrap().to_string(),
                e["origin"].as_str().unwrap().to_string(),
                e["reason"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        shape,
        vec![
            (
                "needs-proof".into(),
                "human".into(),
                "reveal-needs-proof".into()
            ),
            ("allow".into(), "human".into(), "proof-of-presence".into()),
        ],
        "{trail:?}"
    );
    // A second reveal needs a second proof: the first one was used up.
    let out = h.run_pty(&["reveal", HIGH], &["definitely not it"]);
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    assert_eq!(count(&out.stdout, v.high.as_bytes()), 0);
}

#[test]
fn a_wrong_passphrase_reveals_nothing_and_is_audited() {
    let v = vault();
    let h = &v.h;
    let out = h.run_pty(&["reveal", HIGH], &["not the passphrase"]);
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    let text = stdout(&out);
    assert!(text.contains("code: proof-invalid"), "{text}");
    assert!(text.contains("wrong passphrase"), "{text}");
    assert_not_printed(h, &v.high, "the high value");
    let proofs = audit(h, &["--action", "proof"]);
    assert_eq!(proofs.len(), 1, "{proofs:?}");
    assert_eq!(proofs[0]["decision"], "deny");
    assert_eq!(proofs[0]["reason"], "wrong passphrase");
    assert_eq!(proofs[0]["origin"], "human");
    assert!(
        audit(h, &["--action", "reveal"])
            .iter()
            .all(|e| e["decision"] != "allow"),
        "a reveal was allowed"
    );
    // The vault stays unlocked and the right passphrase still works afterwards.
    let out = h.run_pty(&["--json", "reveal", HIGH], &[PASSPHRASE]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(count(&out.stdout, v.high.as_bytes()), 1);
}

#[test]
fn an_agent_needs_a_proof_to_lower_protection_and_nothing_changes() {
    let v = vault();
    let h = &v.h;
    // A high record with history: low v1, low v2, raised to high (raising needs no proof).
    let hist = "secret:dev/hist/key";
    h.add_ok(hist, b"first value", &["--sensitivity", "low"]);
    assert!(
        h.run_stdin(&["set", hist, "--stdin"], b"second value")
            .status
            .success()
    );
    h.ok(&["edit", hist, "--sensitivity", "high"]);
    let before = state(h);
    let value = b"an agent's replacement".as_slice();
    let cases: &[Case] = &[
        (
            &["edit", HIGH, "--sensitivity", "low"],
            None,
            "lowering-needs-proof",
        ),
        (
            &["edit", HIGH, "--sensitivity", "medium"],
            None,
            "lowering-needs-proof",
        ),
        (
            &["edit", MEDIUM, "--revealable"],
            None,
            "revealable-needs-proof",
        ),
        (&["rm", PROD], None, "delete-needs-proof"),
        (&["rm", HIGH], None, "delete-needs-proof"),
        (&["rm", INJECT], None, "delete-needs-proof"),
        (
            &["set", HIGH, "--stdin"],
            Some(value),
            "overwrite-needs-proof",
        ),
        (
            &["set", PROD, "--stdin"],
            Some(value),
            "overwrite-needs-proof",
        ),
        (
            &["generate", HIGH, "--overwrite"],
            None,
            "overwrite-needs-proof",
        ),
        (&["rollback", hist, "1"], None, "needs-proof"),
    ];
    for (args, stdin, reason) in cases {
        let mut full = vec!["--json"];
        full.extend_from_slice(args);
        let out = h.run_with(h.cmd(&full), *stdin);
        assert_exit(&out, 5, format!("{args:?}"));
        let err = error_of(&out);
        assert_eq!(err["code"], "needs-proof", "{args:?}: {err}");
        assert!(
            err["message"].as_str().unwrap().contains(reason),
            "{args:?}: {err}"
        );
        assert!(
            err["hint"].as_str().unwrap().contains("terminal"),
            "{args:?}: {err}"
        );
    }
    // The production floor is not a matter of proof: refused outright.
    let out = h.run(&["--json", "edit", PROD, "--sensitivity", "medium"]);
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    assert_eq!(error_of(&out)["code"], "policy-denied");
    assert_eq!(state(h), before, "a refused request changed the vault");
    let asked: Vec<_> = audit(h, &[])
        .into_iter()
        // Fingerprints taken at the terminal to check values ask for proofs of their own.
        .filter(|e| e["decision"] == "needs-proof" && e["action"] != "fingerprint")
        .collect();
    assert_eq!(asked.len(), cases.len(), "{asked:?}");
    assert!(asked.iter().all(|e| e["origin"] == "agent"), "{asked:?}");
    // Raising protection and editing a description need nothing.
    h.ok(&[
        "edit",
        MEDIUM,
        "--sensitivity",
        "high",
        "--description",
        "raised",
    ]);
    assert_eq!(show(h, MEDIUM)["sensitivity"], "high");
    h.ok(&["edit", LOW, "--no-revealable"]);
    assert_eq!(show(h, LOW)["revealable"], false);
}

#[test]
fn a_human_with_a_proof_can_do_what_the_agent_could_not() {
    let v = vault();
    let h = &v.h;
    let hist = "secret:dev/hist/key";
    h.add_ok(hist, b"first value", &["--sensitivity", "low"]);
    let first_fp = fingerprint(h, hist);
    assert!(
        h.run_stdin(&["set", hist, "--stdin"], b"second value")
            .status
            .success()
    );
    h.ok(&["edit", hist, "--sensitivity", "high"]);
    // The value prompt mentions the coordinate; one with "passphrase" in it gets answered too.
    let typed = "passphrase/key";
    let high_typed = format!("secret:staging/{typed}");
    h.add_ok(
        &high_typed,
        canary("old").as_bytes(),
        &["--sensitivity", "high"],
    );
    let medium_fp = fingerprint(h, MEDIUM);
    let high_fp = fingerprint(h, HIGH);

    let run = |args: &[&str], answers: &[&str]| {
        let out = h.run_pty(args, answers);
        assert_exit(&out, 0, format!("{args:?}"));
        assert!(
            stdout(&out).contains("needs a proof of presence"),
            "{args:?} was not asked for a proof: {}",
            describe(&out)
        );
        out
    };
    run(&["edit", HIGH, "--sensitivity", "low"], &[PASSPHRASE]);
    assert_eq!(show(h, HIGH)["sensitivity"], "low");
    run(&["edit", MEDIUM, "--revealable"], &[PASSPHRASE]);
    assert_eq!(show(h, MEDIUM)["revealable"], true);
    run(&["rm", PROD], &[PASSPHRASE]);
    let out = h.run(&["--json", "show", PROD]);
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    run(&["generate", INJECT, "--overwrite"], &[PASSPHRASE]);
    assert_eq!(show(h, INJECT)["version"], 2);
    run(&["rollback", hist, "1"], &[PASSPHRASE]);
    assert_eq!(fingerprint(h, hist), first_fp);
    assert_eq!(show(h, hist)["sensitivity"], "low");
    // set: the value typed at the prompt, then the passphrase for the proof.
    let new_value = canary("typed");
    run(&["set", &high_typed], &[&new_value, PASSPHRASE]);
    h.add_ok("secret:dev/check/same", new_value.as_bytes(), &[]);
    assert_eq!(
        fingerprint(h, &high_typed),
        fingerprint(h, "secret:dev/check/same"),
        "the value typed at the terminal is not what was stored"
    );
    // Untouched records kept their values.
    assert_eq!(fingerprint(h, MEDIUM), medium_fp);
    assert_eq!(fingerprint(h, HIGH), high_fp);
    let proven: Vec<_> = audit(h, &[])
        .into_iter()
        .filter(|e| e["reason"] == "proof-of-presence" && e["action"] != "fingerprint")
        .collect();
    assert_eq!(proven.len(), 6, "{proven:?}");
    assert!(proven.iter().all(|e| e["origin"] == "human"), "{proven:?}");
    // The production floor holds even for a human with a passphrase.
    let out = h.run_pty(
        &["edit", "secret:prod/x/y", "--sensitivity", "low"],
        &[PASSPHRASE],
    );
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    h.add_ok("secret:prod/x/y", b"prod value", &[]);
    let out = h.run_pty(
        &["edit", "secret:prod/x/y", "--sensitivity", "low"],
        &[PASSPHRASE],
    );
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    assert_contains(&stdout(&out), "policy-denied", &out);
    assert!(!stdout(&out).contains("passphrase: "), "{}", describe(&out));
    assert_eq!(show(h, "secret:prod/x/y")["sensitivity"], "high");
}

#[test]
fn agents_never_reveal_what_a_human_could() {
    let v = vault();
    let h = &v.h;
    for (coord, reason) in [
        (HIGH, "agent-reveal-refused"),
        (MEDIUM, "agent-reveal-refused"),
        (PROD, "agent-reveal-refused"),
        (INJECT, "inject-only"),
    ] {
        let out = h.run(&["--json", "reveal", coord]);
        assert_exit(&out, 4, coord);
        let err = error_of(&out);
        assert_eq!(err["code"], "policy-denied", "{coord}: {err}");
        let trail = audit(h, &["--coordinate", coord, "--action", "reveal"]);
        let last = trail.last().unwrap();
        assert_eq!(last["decision"], "deny", "{coord}: {last}");
        assert_eq!(last["reason"], reason, "{coord}: {last}");
        assert_eq!(last["origin"], "agent", "{coord}: {last}");
    }
    let out = h.run(&["reveal", HIGH]);
    assert_contains(&stderr(&out), "an agent never reveals", &out);
    for secret in [&v.high, &v.medium, &v.prod, &v.inject] {
        assert_not_printed(h, secret, "the secret");
    }
    // Revealable, low or medium, non-production: an agent may.
    for (coord, value) in [(LOW, &v.low), (MEDIUM_REVEALABLE, &v.medium_revealable)] {
        let out = h.ok(&["reveal", coord]);
        assert_eq!(out.stdout, value.as_bytes());
    }
    // A human, with a proof, can reveal the high, the non-revealable and the production record.
    for (coord, value) in [(HIGH, &v.high), (MEDIUM, &v.medium), (PROD, &v.prod)] {
        let out = h.run_pty(&["reveal", coord], &[PASSPHRASE]);
        assert_exit(&out, 0, coord);
        assert_eq!(count(&out.stdout, value.as_bytes()), 1, "{coord}");
    }
    // Inject-only is never revealed, proof or not: refused before any prompt.
    let out = h.run_pty(&["reveal", INJECT], &[PASSPHRASE]);
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    let text = stdout(&out);
    assert!(
        text.contains("inject-only records are never revealed"),
        "{text}"
    );
    assert!(!text.contains("passphrase: "), "{text}");
    assert_not_printed(h, &v.inject, "the inject-only value");
    let last = audit(h, &["--coordinate", INJECT, "--action", "reveal"])
        .pop()
        .unwrap();
    assert_eq!(last["origin"], "human");
    assert_eq!(last["decision"], "deny");
}

#[test]
fn origin_only_tightens() {
    let v = vault();
    let h = &v.h;
    // Under a real terminal, KOVRA_ORIGIN=agent makes the CLI an agent: no prompt, refused.
    for origin in ["agent", "AGENT"] {
        let out = pty_env(
            h,
            &[("KOVRA_ORIGIN", origin)],
            &["reveal", HIGH],
            &[PASSPHRASE],
        );
        assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
        let text = stdout(&out);
        assert!(text.contains("an agent never reveals"), "{text}");
        assert!(!text.contains("passphrase: "), "{text}");
        let last = audit(h, &["--action", "reveal"]).pop().unwrap();
        assert_eq!(last["origin"], "agent", "{last}");
    }
    let before = show(h, HIGH);
    let out = pty_env(
        h,
        &[("KOVRA_ORIGIN", "agent")],
        &["edit", HIGH, "--sensitivity", "low"],
        &[PASSPHRASE],
    );
    assert_eq!(out.status.code(), Some(5), "{}", describe(&out));
    assert_contains(&stdout(&out), "code: needs-proof", &out);
    assert!(!stdout(&out).contains("passphrase: "), "{}", describe(&out));
    assert_eq!(show(h, HIGH), before);
    // Without a terminal, claiming to be human changes nothing.
    let mut c = h.cmd(&["--json", "reveal", HIGH]);
    c.env("KOVRA_ORIGIN", "human");
    let out = h.run_with(c, None);
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    assert_eq!(error_of(&out)["code"], "policy-denied");
    let last = audit(h, &["--action", "reveal"]).pop().unwrap();
    assert_eq!(last["origin"], "agent", "{last}");
    assert_not_printed(h, &v.high, "the high value");
    // And the same terminal without the variable is a human again.
    let out = h.run_pty(&["reveal", HIGH], &[PASSPHRASE]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(count(&out.stdout, v.high.as_bytes()), 1);
}

/// A terminal is something an agent can fake (this very harness does, with a pseudo-terminal):
/// it may tighten but never loosen. An agent may not fingerprint a protected record (a
/// fingerprint confirms a guess), so at a terminal that takes a proof, and a wrong passphrase
/// gets no fingerprint.
#[test]
fn a_terminal_alone_does_not_loosen_fingerprint() {
    let v = vault();
    let h = &v.h;
    for coord in [HIGH, PROD] {
        let out = h.run_pty(&["fingerprint", coord], &["not the passphrase"]);
        assert!(
            !stdout(&out).contains("kfp:"),
            "{coord}: fingerprinted without a proof: {}",
            describe(&out)
        );
        assert_exit(&out, 4, coord);
        assert_contains(&stdout(&out), "proof-invalid", &out);
        let out = h.run_pty(&["fingerprint", coord], &[PASSPHRASE]);
        assert_exit(&out, 0, coord);
        assert!(
            stdout(&out).contains("needs a proof of presence"),
            "{coord}: no proof was asked: {}",
            describe(&out)
        );
    }
}

/// A passphrase read from a file is readable by any process of the user: once a daemon was
/// unlocked with one, a typed passphrase stops proving presence to it, and every place that
/// reports the daemon's state says so.
#[test]
fn an_unattended_unlock_warns_and_the_passphrase_stops_being_a_proof() {
    let h = Home::new();
    let out = h.ok(&["init", "--passphrase-file", h.pass_file.to_str().unwrap()]);
    assert_contains(&stderr(&out), "no second factor is enrolled", &out);
    let value = canary("unattended");
    h.add_ok(
        HIGH,
        value.as_bytes(),
        &["--sensitivity", "high", "--revealable"],
    );
    let (_, status) = h.json(&["status"]);
    assert_eq!(status["passphrase_proofs"], false, "{status}");
    let out = h.run(&["status"]);
    assert_contains(&stdout(&out), "two-factor code only", &out);
    let refs = h.root.join("refs");
    std::fs::write(&refs, "TOKEN=secret:staging/api/key\n").unwrap();
    let (_, doctor) = h.json(&["doctor", "--refs", refs.to_str().unwrap()]);
    assert!(
        doctor["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["kind"] == "passphrase-proofs-off"),
        "{doctor}"
    );
    let out = h.run_pty(&["reveal", HIGH], &[PASSPHRASE]);
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    assert_contains(&stdout(&out), "unlocked with a passphrase", &out);
    assert_not_printed(&h, &value, "the record's value");
}

/// `unlock --passphrase-file` against a daemon that is already unlocked sends no passphrase,
/// but it still says the passphrase sits in a file: passphrase proofs stop there too.
#[test]
fn a_passphrase_file_used_on_an_unlocked_daemon_also_stops_passphrase_proofs() {
    let h = Home::init();
    let (_, status) = h.json(&["status"]);
    assert_eq!(status["passphrase_proofs"], true, "{status}");
    let out = h.ok(&["unlock", "--passphrase-file", h.pass_file.to_str().unwrap()]);
    assert_contains(&stderr(&out), "already unlocked", &out);
    let (_, status) = h.json(&["status"]);
    assert_eq!(status["passphrase_proofs"], false, "{status}");
}
