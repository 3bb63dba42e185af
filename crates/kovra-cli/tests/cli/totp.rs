//! TOTP credentials (`add --totp`, `code`) and TOTP as the second factor (`2fa`).

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use kovra_core::totp::encode_base32;

use crate::harness::*;
use crate::leak::*;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// What `oathtool` says the code is at Unix time `t`.
fn oathtool(seed_b32: &str, algorithm: &str, digits: u8, period: u64, t: u64) -> String {
    let out = Command::new("oathtool")
        .arg(format!("--totp={algorithm}"))
        .arg(format!("--digits={digits}"))
        .arg(format!("--time-step-size={period}s"))
        .arg("--base32")
        .arg(seed_b32)
        .arg("--now")
        .arg(format!("@{t}"))
        .output()
        .expect("oathtool is installed (apt-get install oathtool)");
    assert!(out.status.success(), "oathtool: {}", describe(&out));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A seed made of a canary, so a leak of the seed (or its base32) is detectable.
fn seed(tag: &str) -> (String, String) {
    let raw = canary(tag);
    let b32 = encode_base32(raw.as_bytes()).to_string();
    (raw, b32)
}

/// `kovra code` with a few seconds of validity guaranteed, and the time just after.
fn code(h: &Home, coord: &str) -> (String, u64) {
    let out = h.run(&["code", coord, "--min-validity", "5"]);
    assert!(out.status.success(), "code {coord}: {}", describe(&out));
    (stdout(&out).trim().to_string(), now())
}

#[test]
fn codes_agree_with_oathtool() {
    let h = Home::init();
    let (_, b32) = seed("oath");
    let cases: [(&str, u8, u64); 7] = [
        ("SHA1", 6, 30),
        ("SHA1", 8, 10),
        ("SHA256", 6, 30),
        ("SHA256", 8, 60),
        ("SHA512", 7, 45),
        ("SHA512", 8, 30),
        ("SHA1", 7, 90),
    ];
    for (i, (alg, digits, period)) in cases.iter().enumerate() {
        let coord = format!("secret:dev/totp/c{i}");
        let uri = format!(
            "otpauth://totp/Example:alice%40example.com?secret={b32}&issuer=Example&algorithm={alg}&digits={digits}&period={period}"
        );
        let out = h.add(&coord, uri.as_bytes(), &["--totp", "--sensitivity", "low"]);
        assert!(out.status.success(), "add {coord}: {}", describe(&out));
        let (got, t) = code(&h, &coord);
        assert_eq!(got.len(), usize::from(*digits), "{coord}");
        let want = oathtool(&b32, &alg.to_lowercase(), *digits, *period, t);
        assert_eq!(got, want, "{alg} {digits} digits {period}s");
    }
    // Bare base32 (lower case, spaced, padded) means SHA1, 6 digits, 30 s.
    let spaced = b32
        .to_lowercase()
        .as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join(" ");
    let out = h.add(
        "secret:dev/totp/plain",
        format!("{spaced}====").as_bytes(),
        &["--totp", "--sensitivity", "low"],
    );
    assert!(out.status.success(), "{}", describe(&out));
    let (got, t) = code(&h, "secret:dev/totp/plain");
    assert_eq!(got, oathtool(&b32, "sha1", 6, 30, t));
    // `show` tells a TOTP record apart; it never shows the seed.
    let shown = stdout(&h.ok(&["show", "secret:dev/totp/c3"]));
    assert!(
        shown.contains("totp:        SHA256, 8 digits, 60s"),
        "{shown}"
    );
    assert!(!h.transcript_contains(&[b32.clone().into_bytes()]));
}

#[test]
fn min_validity_waits_for_a_fresh_code() {
    let h = Home::init();
    let (_, b32) = seed("wait");
    let uri = format!("otpauth://totp/x?secret={b32}&period=5");
    h.add_ok(
        "secret:dev/totp/w",
        uri.as_bytes(),
        &["--totp", "--sensitivity", "low"],
    );
    // With the whole period required, the code is always the next step's, shown at its start.
    let out = h.run(&["--json", "code", "secret:dev/totp/w", "--min-validity", "5"]);
    let t = now();
    assert!(out.status.success(), "{}", describe(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["code"].as_str().unwrap(), oathtool(&b32, "sha1", 6, 5, t));
    // Longer than the period: refused.
    let out = h.run(&["code", "secret:dev/totp/w", "--min-validity", "6"]);
    assert!(!out.status.success());
    assert_contains(&stderr(&out), "min-validity-invalid", &out);
}

#[test]
fn bad_totp_input_is_refused_and_nothing_is_stored() {
    let h = Home::init();
    let cases: [(&str, &str); 8] = [
        ("not base32!", "totp-base32-invalid"),
        ("GEZDGNBV1", "totp-base32-invalid"),
        (
            "otpauth://hotp/x?secret=GEZDGNBVGY3TQOJQ",
            "totp-uri-invalid",
        ),
        ("otpauth://totp/x", "totp-uri-invalid"),
        ("otpauth://totp/x?secret=GEZDGNBV%ZZ", "totp-uri-invalid"),
        (
            "otpauth://totp/x?secret=GEZDGNBVGY3TQOJQ&algorithm=MD5",
            "totp-algorithm-unsupported",
        ),
        (
            "otpauth://totp/x?secret=GEZDGNBVGY3TQOJQ&digits=9",
            "totp-digits-invalid",
        ),
        (
            "otpauth://totp/x?secret=GEZDGNBVGY3TQOJQ&digits=5",
            "totp-digits-invalid",
        ),
    ];
    for (i, (input, want)) in cases.iter().enumerate() {
        let coord = format!("secret:dev/bad/t{i}");
        let out = h.run_stdin(
            &["--json", "add", &coord, "--stdin", "--totp"],
            input.as_bytes(),
        );
        assert_exit(&out, 1, input);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["error"]["code"], *want, "{input}: {v}");
        // The error never echoes the input.
        assert!(!stdout(&out).contains("GEZDGNBV"), "{input}: {v}");
    }
    let (_, v) = h.json(&["list"]);
    assert_eq!(v["records"].as_array().map(Vec::len), Some(0), "{v}");
    // A code from a record that is not TOTP.
    h.add_ok(
        "secret:dev/plain/k",
        b"just-a-password",
        &["--sensitivity", "low"],
    );
    let out = h.run(&["code", "secret:dev/plain/k"]);
    assert!(!out.status.success());
    assert_contains(&stderr(&out), "not-totp", &out);
    // Set on a TOTP record takes a new seed and refuses a bad one.
    h.add_ok(
        "secret:dev/totp/s",
        b"GEZDGNBVGY3TQOJQ",
        &["--totp", "--sensitivity", "low"],
    );
    let out = h.run_stdin(&["set", "secret:dev/totp/s", "--stdin"], b"no such base32!");
    assert!(!out.status.success());
    assert_contains(&stderr(&out), "totp-base32-invalid", &out);
}

#[test]
fn agents_get_codes_only_from_low_records_and_humans_prove_for_high() {
    let h = Home::init();
    let (raw, b32) = seed("policy");
    for (s, name) in [
        ("low", "lo"),
        ("medium", "me"),
        ("high", "hi"),
        ("inject-only", "io"),
    ] {
        let out = h.add(
            &format!("secret:dev/t/{name}"),
            b32.as_bytes(),
            &["--totp", "--sensitivity", s],
        );
        assert!(out.status.success(), "{}", describe(&out));
    }
    // Without a terminal kovra is an agent.
    assert!(h.run(&["code", "secret:dev/t/lo"]).status.success());
    for name in ["me", "hi", "io"] {
        let out = h.run(&["code", &format!("secret:dev/t/{name}")]);
        assert_exit(&out, 4, name);
    }
    // A human at a terminal: medium freely, high with the passphrase, inject-only never.
    let out = h.run_pty(&["code", "secret:dev/t/me"], &[]);
    assert!(out.status.success(), "{}", describe(&out));
    let out = h.run_pty(
        &["code", "secret:dev/t/hi", "--min-validity", "5"],
        &[PASSPHRASE],
    );
    let t = now();
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        stdout(&out).contains(&oathtool(&b32, "sha1", 6, 30, t)),
        "{}",
        describe(&out)
    );
    let out = h.run_pty(&["code", "secret:dev/t/io"], &[]);
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    // Each code is audited.
    let (_, v) = h.json(&["audit", "--action", "code"]);
    assert!(v["entries"].as_array().is_some_and(|e| e.len() >= 3), "{v}");
    // Canary: the seed, its base32 and common encodings appear in no output and no file.
    let needles = vec![b32.clone().into_bytes(), b32.to_lowercase().into_bytes()];
    assert!(
        !h.transcript_contains(&needles),
        "a seed's base32 leaked into output"
    );
    assert_not_printed(&h, &raw, "the raw seed");
    h.stop();
    assert!(
        h.files_containing(&needles).is_empty(),
        "a seed's base32 leaked into a file"
    );
    assert_not_in_files(&h, &raw, "the raw seed");
}

// ---- TOTP as the second factor ---------------------------------------------------------------

/// Switch the factor on at a (pseudo-)terminal: the passphrase proves presence, and oathtool
/// answers the code prompt from the URI kovra printed. Returns the seed's base32.
fn enable_2fa(h: &Home) -> String {
    let out = h.run_pty(&["2fa", "enable"], &[PASSPHRASE, "!totp"]);
    assert!(out.status.success(), "2fa enable: {}", describe(&out));
    let text = stdout(&out);
    assert!(
        text.contains('▀') || text.contains('▄'),
        "no QR code: {text}"
    );
    let b32 = text
        .split("secret=")
        .nth(1)
        .and_then(|rest| rest.split('&').next())
        .unwrap_or_else(|| panic!("no URI: {text}"))
        .to_string();
    let (_, v) = h.json(&["2fa", "status"]);
    assert_eq!(v["state"], "enabled", "{v}");
    b32
}

/// A code `steps` steps from now (1 = the next one, accepted early as clock skew).
fn code_file(h: &Home, name: &str, b32: &str, steps: u64) -> String {
    let code = oathtool(b32, "sha1", 6, 30, now() + 30 * steps);
    let path = h.root.join(name);
    std::fs::write(&path, format!("{code}\n")).unwrap();
    path.display().to_string()
}

fn unlock(h: &Home, code: Option<&str>) -> std::process::Output {
    let pass = h.pass_file.display().to_string();
    let mut args = vec!["unlock", "--passphrase-file", &pass];
    if let Some(c) = code {
        args.extend(["--code-file", c]);
    }
    h.run(&args)
}

fn json_error(out: &std::process::Output) -> String {
    stderr(out)
}

#[test]
fn unlock_with_2fa_needs_a_fresh_code() {
    let h = Home::init();
    let b32 = enable_2fa(&h);
    h.ok(&["lock"]);
    // Without a code: refused, still locked.
    let out = unlock(&h, None);
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(
        json_error(&out).contains("2fa-code-required"),
        "{}",
        describe(&out)
    );
    // The code that confirmed the seed is spent: a replay in the same window is refused.
    let spent = code_file(&h, "spent", &b32, 0);
    let out = unlock(&h, Some(&spent));
    assert!(
        !out.status.success(),
        "replayed code accepted: {}",
        describe(&out)
    );
    assert!(
        json_error(&out).contains("2fa-code-invalid"),
        "{}",
        describe(&out)
    );
    // A wrong code.
    let wrong = h.root.join("wrong");
    std::fs::write(&wrong, "000000\n").unwrap();
    let good = oathtool(&b32, "sha1", 6, 30, now() + 30);
    if good != "000000" {
        let out = unlock(&h, Some(wrong.to_str().unwrap()));
        assert!(!out.status.success(), "{}", describe(&out));
    }
    let (_, v) = h.json(&["status"]);
    assert_eq!(v["unlocked"], false, "{v}");
    // A fresh code unlocks, once.
    let fresh = code_file(&h, "fresh", &b32, 1);
    let out = unlock(&h, Some(&fresh));
    assert!(out.status.success(), "{}", describe(&out));
    // Every refused attempt is on the trail (written while the passphrase had opened it).
    let (_, v) = h.json(&["audit"]);
    let entries = v["entries"].as_array().unwrap();
    let reasons: Vec<&str> = entries
        .iter()
        .filter(|e| e["decision"] == "deny")
        .filter_map(|e| e["reason"].as_str())
        .collect();
    assert!(reasons.contains(&"2fa-code-missing"), "{v}");
    assert!(reasons.contains(&"2fa-code-replayed"), "{v}");
    h.ok(&["lock"]);
    let out = unlock(&h, Some(&fresh));
    assert!(
        !out.status.success(),
        "replayed code accepted: {}",
        describe(&out)
    );
    assert!(
        json_error(&out).contains("2fa-code-invalid"),
        "{}",
        describe(&out)
    );
    // The seed is in no file, in any encoding.
    h.stop();
    let seed = kovra_core::totp::decode_base32(&b32).unwrap();
    let needles = vec![
        b32.clone().into_bytes(),
        hex::encode(seed.as_slice()).into_bytes(),
        seed.to_vec(),
    ];
    assert!(
        h.files_containing(&needles).is_empty(),
        "the 2fa seed leaked into a file"
    );
}

#[test]
fn a_code_is_a_proof_of_presence_once() {
    let h = Home::init();
    let b32 = enable_2fa(&h);
    h.add_ok(
        "secret:dev/db/pw",
        b"a-high-revealable-value",
        &["--sensitivity", "high", "--revealable"],
    );
    let next = oathtool(&b32, "sha1", 6, 30, now() + 30);
    let out = h.run_pty(&["reveal", "secret:dev/db/pw"], &[&next]);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(stdout(&out).contains("a-high-revealable-value"));
    // The same code again: refused (and the passphrase still works).
    let out = h.run_pty(&["reveal", "secret:dev/db/pw"], &[&next]);
    assert!(
        !out.status.success(),
        "replayed code accepted: {}",
        describe(&out)
    );
    let out = h.run_pty(&["reveal", "secret:dev/db/pw"], &[PASSPHRASE]);
    assert!(out.status.success(), "{}", describe(&out));
}

#[test]
fn disable_needs_passphrase_and_code_and_agents_cannot_enable() {
    let h = Home::init();
    // An agent (no terminal) never gets a seed, approved or not.
    let out = h.run(&["2fa", "enable", "--code-file", "/dev/null"]);
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    let b32 = enable_2fa(&h);
    let pass = h.pass_file.display().to_string();
    let next = code_file(&h, "next", &b32, 1);
    // Wrong passphrase with a good code: refused, and the code is not spent.
    let bad_pass = h.root.join("badpass");
    std::fs::write(&bad_pass, "not the passphrase\n").unwrap();
    let out = h.run(&[
        "2fa",
        "disable",
        "--passphrase-file",
        bad_pass.to_str().unwrap(),
        "--code-file",
        &next,
    ]);
    assert!(!out.status.success(), "{}", describe(&out));
    // No code: refused.
    let out = h.run(&["2fa", "disable", "--passphrase-file", &pass]);
    assert!(!out.status.success(), "{}", describe(&out));
    let out = h.run(&[
        "2fa",
        "disable",
        "--passphrase-file",
        &pass,
        "--code-file",
        &next,
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    let (_, v) = h.json(&["2fa", "status"]);
    assert_eq!(v["state"], "disabled", "{v}");
    h.ok(&["lock"]);
    assert!(unlock(&h, None).status.success());
}
