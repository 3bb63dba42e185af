//! Issue 11 §4: a passphrase that lives in a file is not a proof of presence. Once the
//! daemon was unlocked from a file, the agent (which can read that file) must not be able to
//! answer a proof with it: for that daemon's lifetime proofs need the second factor.

use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::common::*;
use crate::harness::*;
use crate::leak::*;
use crate::nonroot;

const HIGH: &str = "secret:dev/db/pw";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// `oathtool`'s code at Unix time `t` (SHA1, 6 digits, 30 s: the second factor's kind).
fn oathtool(b32: &str, t: u64) -> String {
    let out = Command::new("oathtool")
        .args(["--totp", "--base32", b32, "--now"])
        .arg(format!("@{t}"))
        .output()
        .expect("oathtool is installed");
    assert!(out.status.success(), "oathtool: {}", describe(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn a_vault_unlocked_from_a_file_takes_no_passphrase_proof() {
    if nonroot::test_user("proof_kind::a_vault_unlocked_from_a_file_takes_no_passphrase_proof") {
        return;
    }
    // The human creates the vault typing the passphrase, and turns the second factor on.
    let h = Home::init();
    let out = h.run_pty(&["2fa", "enable"], &[PASSPHRASE, "!totp"]);
    assert!(out.status.success(), "2fa enable: {}", describe(&out));
    let shown = stdout(&out);
    let b32 = shown
        .split("secret=")
        .nth(1)
        .and_then(|rest| rest.split(['&', '\r', '\n', ' ']).next())
        .unwrap_or_else(|| panic!("no otpauth URI: {}", describe(&out)))
        .to_string();
    let value = canary("proofkind");
    add_ok(&h, HIGH, &value, &["--sensitivity", "high", "--revealable"]);

    // An unattended unlock: the passphrase from its file, the code from a file.
    let pid = h.daemon_pid().expect("daemon pid");
    h.ok(&["daemon", "stop"]);
    assert!(
        wait_until(Instant::now() + Duration::from_secs(10), || gone(pid)),
        "the daemon did not stop"
    );
    // The enabling code was this step's; the next step's is accepted early (clock skew).
    let unlock_time = now() + 30;
    let code_file = h.root.join("code");
    std::fs::write(&code_file, format!("{}\n", oathtool(&b32, unlock_time))).expect("code file");
    let out = h.run(&[
        "unlock",
        "--passphrase-file",
        h.pass_file.to_str().expect("utf8"),
        "--code-file",
        code_file.to_str().expect("utf8"),
    ]);
    assert!(
        out.status.success(),
        "unlock from files: {}",
        describe(&out)
    );

    let mut findings = Vec::new();
    // The passphrase typed at the terminal is no proof for this daemon...
    let out = pty(&h, None, &["reveal", HIGH], &[PASSPHRASE], 30);
    let shown = stdout(&out);
    if out.status.success() || shown.contains(&value) {
        findings.push(format!(
            "a passphrase was accepted as a proof by a daemon unlocked from a file (reveal \
             exit {:?})",
            out.status.code()
        ));
    } else if !shown.contains("file") {
        findings.push(format!(
            "the refusal does not say that the vault was unlocked from a file: {}",
            describe(&out)
        ));
    }
    // ...and `status` says so.
    let (_, status) = h.json(&["status"]);
    if status["passphrase_proofs"] != serde_json::Value::Bool(false) {
        findings.push(format!(
            "`kovra status --json` does not report passphrase_proofs: false: {status}"
        ));
    }
    // A fresh code is (codes are single use: wait until a step after the unlock's begins).
    let unlock_step = unlock_time / 30;
    while now() / 30 < unlock_step {
        std::thread::sleep(Duration::from_millis(200));
    }
    let code = oathtool(&b32, now() + 30);
    let out = pty(&h, None, &["reveal", HIGH], &[&code], 30);
    if !out.status.success() || !stdout(&out).contains(&value) {
        findings.push(format!(
            "a fresh TOTP code was not accepted as the proof (reveal exit {:?})",
            out.status.code()
        ));
    }
    assert_no_findings("a vault unlocked from a file", &findings);
}
