//! Redaction: no common encoding of an injected value reaches the caller, and the leak
//! detector that proves it finds every encoding.

use super::*;

// ---------------------------------------------------------------------------------------
// Redaction
// ---------------------------------------------------------------------------------------

pub(super) const PY_ENCODINGS: &str = r#"
import base64, json, os, sys, time, urllib.parse
v = os.environ["TOKEN"]; b = v.encode()
def w(s, f=sys.stdout):
    f.write(s); f.flush()
w("plain:" + v + "\n")
w("b64:" + base64.b64encode(b).decode() + "\n")
w("b64nopad:" + base64.b64encode(b).decode().rstrip("=") + "\n")
w("b64url:" + base64.urlsafe_b64encode(b).decode() + "\n")
w("b64shift1:" + base64.b64encode(b"x" + b + b"!").decode() + "\n")
w("b64shift2:" + base64.b64encode(b"xy" + b).decode() + "\n")
w("hex:" + b.hex() + "\n")
w("HEX:" + b.hex().upper() + "\n")
w("url:" + urllib.parse.quote(v, safe="") + "\n")
w("urlplus:" + urllib.parse.quote_plus(v) + "\n")
w("json:" + json.dumps(v) + "\n")
w("jsonutf8:" + json.dumps(v, ensure_ascii=False) + "\n")
w("jsondoc:" + json.dumps({"headers": {"authorization": "Bearer " + v}}) + "\n")
h = len(v) // 2
w("split:" + v[:h]); time.sleep(0.5); w(v[h:] + "\n")
x = b.hex()
w("splithex:" + x[:9]); time.sleep(0.5); w(x[9:] + "\n")
w("err-plain:" + v + "\n", sys.stderr)
w("err-b64:" + base64.b64encode(b).decode() + "\n", sys.stderr)
w("err-split:" + v[:3], sys.stderr); time.sleep(0.5); w(v[3:] + "\n", sys.stderr)
"#;

/// The leak detector itself finds each form, at any alignment: otherwise a passing
/// redaction test would prove nothing.
#[test]
fn the_leak_detector_finds_every_encoding() {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    let value = tricky_canary("detector");
    let b = value.as_bytes();
    let json = serde_json::to_string(&value).unwrap();
    let ascii_json = json.replace('é', "\\u00e9");
    let mut url = String::new();
    for &c in b {
        if c.is_ascii_alphanumeric() {
            url.push(c as char);
        } else {
            url.push_str(&format!("%{c:02x}"));
        }
    }
    let mut shifted = b"xy".to_vec();
    shifted.extend_from_slice(b);
    let forms = [
        ("plain", value.clone()),
        ("base64", STANDARD.encode(b)),
        ("base64", URL_SAFE_NO_PAD.encode(b)),
        ("base64", STANDARD.encode(&shifted)),
        ("base64", format!("A{}", STANDARD.encode(&shifted[1..]))),
        ("hex", hex::encode(b)),
        ("hex", format!("0{}", hex::encode_upper(b))),
        ("url", url),
        ("json", ascii_json),
    ];
    for (kind, form) in forms {
        let out = format!("some text: {form} more text\n");
        let found = decoded_leaks(out.as_bytes(), b);
        assert!(
            found.contains(&kind),
            "{kind} not found in {out}: {found:?}"
        );
    }
    let masked = "some text: [kovra:TOKEN] and Q0FO[kovra:TOKEN]== and 4341[kovra:TOKEN]\n";
    assert!(decoded_leaks(masked.as_bytes(), b).is_empty());
}

#[test]
fn no_encoding_of_an_injected_value_reaches_the_callers_stdout_or_stderr() {
    let p = Proj::new();
    let value = tricky_canary("redact");
    p.add("secret:dev/app/token", &value, &[]);
    p.refs("TOKEN=secret:${ENV}/app/token\n");
    let out = p.run(&run_dev(&["python3", "-c", PY_ENCODINGS]));
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let (so, se) = (stdout(&out), stderr(&out));
    for label in [
        "plain",
        "b64",
        "b64nopad",
        "b64url",
        "b64shift1",
        "b64shift2",
        "hex",
        "HEX",
        "url",
        "urlplus",
        "json",
        "jsonutf8",
        "jsondoc",
        "split",
        "splithex",
    ] {
        let line = so
            .lines()
            .find(|l| l.starts_with(&format!("{label}:")))
            .unwrap_or_else(|| panic!("no {label} line: {so}"));
        assert!(line.contains("[kovra:TOKEN]"), "{label}: {line}");
    }
    for label in ["err-plain", "err-b64", "err-split"] {
        let line = se
            .lines()
            .find(|l| l.starts_with(&format!("{label}:")))
            .unwrap_or_else(|| panic!("no {label} line: {se}"));
        assert!(line.contains("[kovra:TOKEN]"), "{label}: {line}");
    }
    assert_eq!(
        so.lines().find(|l| l.starts_with("plain:")).unwrap(),
        "plain:[kovra:TOKEN]"
    );
    assert_eq!(
        so.lines().find(|l| l.starts_with("split:")).unwrap(),
        "split:[kovra:TOKEN]"
    );
    assert_absent_decoded(&out.stdout, &value, "stdout");
    assert_absent_decoded(&out.stderr, &value, "stderr");
    assert_not_printed(&p.h, &value, "the injected value");
}

#[test]
fn a_value_inside_a_template_is_masked_inside_the_url() {
    let p = Proj::new();
    let password = canary("tmpl");
    p.add("secret:dev/db/password", &password, &[]);
    p.refs("DATABASE_URL=\"postgres://u:{{secret:${ENV}/db/password}}@{{env:DB_HOST}}/db\"\n");
    let out = p.run_env(
        &[("DB_HOST", "db.internal")],
        &run_dev(&["sh", "-c", "echo \"$DATABASE_URL\""]),
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(
        stdout(&out),
        "postgres://u:[kovra:DATABASE_URL]@db.internal/db\n"
    );
    // The child did get the real URL.
    let out = p.run_env(
        &[("DB_HOST", "db.internal")],
        &run_dev(&["python3", "-c", PY_SHA_OF, "DATABASE_URL"]),
    );
    assert_eq!(
        stdout(&out).trim(),
        sha256_hex(format!("postgres://u:{password}@db.internal/db").as_bytes()),
        "{}",
        describe(&out)
    );
    assert_not_printed(&p.h, &password, "the password");
}

#[test]
fn values_shorter_than_six_bytes_are_not_masked_and_six_are() {
    // The documented limit: masking a few characters would shred ordinary output.
    let p = Proj::new();
    p.add("secret:dev/a/short", "ab1cd", &[]);
    p.add("secret:dev/a/six", "xy9zw8", &[]);
    p.refs("SHORT=secret:dev/a/short\nSIX=secret:dev/a/six\n");
    let out = p.expect(0, &["run", "--", "sh", "-c", "echo \"$SHORT $SIX\""]);
    assert_eq!(stdout(&out), "ab1cd [kovra:SIX]\n");
}
