//! Sharing (docs/sharing.md): `kovra identity`, `share`, `receive` and the USB kit, between
//! two vault homes on one machine and against Debian's stock `age` 1.1 (`apt-get install age`,
//! which also brings `age-keygen`).
//!
//! Prompts are answered on a real pseudo-terminal by tests/support/pty_script.py, which also
//! records everything the terminal showed: the one-time token is printed only there, so it is
//! taken from that transcript. kovra's own stdout and stderr are redirected to files while it
//! runs at the terminal, so "the token only on the terminal" can be checked.
//!
//! Canary values are planted in the sender; after each scenario every file under both homes,
//! every byte printed (outside the deliberate reveals, which are run off the record), the
//! package files and both audit trails are searched for them.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::harness::*;
use crate::leak::*;

mod refusals;
mod round_trip;
mod scope;
mod stock_age;
mod tampering;
mod tools;
use tools::*;

const LOW: &str = "secret:dev/app/token";
const MEDIUM: &str = "secret:dev/db/password";
const HIGH: &str = "secret:dev/api/key";
const INJECT: &str = "secret:dev/signing/key";
const PROD: &str = "secret:prod/db/password";

const PASSPHRASE_PROMPT: &str = r"(?i)passphrase[^\n]*: ?$";
const YES_NO: &str = r"\[y/N\] ?$";
/// The proof of presence, typed at the passphrase prompt.
const PROOF: &[(&str, &str, u32)] = &[(PASSPHRASE_PROMPT, PASSPHRASE, 2)];

static SEQ: AtomicUsize = AtomicUsize::new(0);

fn next() -> usize {
    SEQ.fetch_add(1, Ordering::Relaxed)
}

// ---------------------------------------------------------------------------------------
// Running things at a terminal
// ---------------------------------------------------------------------------------------

/// One command run at a pseudo-terminal: what the terminal showed, and what went to the
/// (redirected) stdout and stderr.
struct Run {
    code: Option<i32>,
    tty: String,
    stdout: String,
    stderr: String,
}

impl Run {
    /// The first line the terminal showed that contains `marker` (the question asked);
    /// fails naming `what` when there is none.
    fn tty_line(&self, marker: &str, what: &str) -> String {
        self.tty
            .lines()
            .find(|l| l.contains(marker))
            .unwrap_or_else(|| panic!("no {what} question: {}", self.describe()))
            .to_string()
    }

    fn describe(&self) -> String {
        format!(
            "status {:?}\n--- terminal:\n{}\n--- stdout:\n{}\n--- stderr:\n{}",
            self.code, self.tty, self.stdout, self.stderr
        )
    }

    fn error_code(&self) -> String {
        error_code_of(&self.stdout, &self.stderr)
    }

    fn all(&self) -> String {
        format!("{}{}{}", self.tty, self.stdout, self.stderr)
    }
}

/// The error code of a failed command: `--json`'s `error.code`, else the `code:` line.
fn error_code_of(stdout: &str, stderr: &str) -> String {
    if let Ok(v) = serde_json::from_str::<Value>(stdout)
        && let Some(c) = v["error"]["code"].as_str()
    {
        return c.to_string();
    }
    stderr
        .lines()
        .chain(stdout.lines())
        .filter_map(|l| l.trim().strip_prefix("code:"))
        .map(|c| c.trim().to_string())
        .next_back()
        .unwrap_or_default()
}

fn code_of(out: &Output) -> String {
    error_code_of(&stdout(out), &stderr(out))
}

/// Run `argv` at a fresh pseudo-terminal with `h`'s environment, answering by `rules`
/// (`[regex, answer, times]`). Stdout and stderr go to files (the terminal stays the
/// controlling terminal). `record`: add everything to `h`'s transcript (off only for the
/// deliberate reveals).
fn pty(
    h: &Home,
    argv: &[String],
    rules: &[(&str, &str, u32)],
    cwd: Option<&Path>,
    record: bool,
) -> Run {
    let n = next();
    let spec_path = h.root.join(format!("pty-spec-{n}.json"));
    let out_path = h.root.join(format!("pty-out-{n}"));
    let err_path = h.root.join(format!("pty-err-{n}"));
    let spec = json!({
        "rules": rules.iter().map(|(e, s, t)| json!({"expect": e, "send": s, "times": t})).collect::<Vec<_>>(),
        "timeout": 60,
        "stdin": null,
        "stdout": out_path,
        "stderr": err_path,
    });
    std::fs::write(&spec_path, spec.to_string()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/pty_script.py");
    let mut py = Command::new("python3");
    py.arg(script).arg(&spec_path).arg("--").args(argv);
    let mut py = h.with_env(py);
    if let Some(d) = cwd {
        py.current_dir(d);
    }
    py.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = py.output().expect("python3");
    let so = std::fs::read(&out_path).unwrap_or_default();
    let se = std::fs::read(&err_path).unwrap_or_default();
    // The spec holds the answers typed (a token perhaps): it is ours, not kovra's; remove it so
    // that file scans find only what kovra wrote.
    let _ = std::fs::remove_file(&spec_path);
    let _ = std::fs::remove_file(&out_path);
    let _ = std::fs::remove_file(&err_path);
    if record {
        let mut t = h.transcript.borrow_mut();
        t.extend_from_slice(&out.stdout);
        t.extend_from_slice(&out.stderr);
        t.extend_from_slice(&so);
        t.extend_from_slice(&se);
    }
    Run {
        code: out.status.code(),
        tty: String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr),
        stdout: String::from_utf8_lossy(&so).into_owned(),
        stderr: String::from_utf8_lossy(&se).into_owned(),
    }
}

/// `kovra ARGS` at a terminal.
fn kpty(h: &Home, args: &[&str], rules: &[(&str, &str, u32)]) -> Run {
    kpty_in(h, args, rules, None)
}

fn kpty_in(h: &Home, args: &[&str], rules: &[(&str, &str, u32)], cwd: Option<&Path>) -> Run {
    let mut argv = vec![kovra_bin().display().to_string()];
    argv.extend(args.iter().map(|s| s.to_string()));
    pty(h, &argv, rules, cwd, true)
}

/// A shell command line at a terminal (for stock `age`), typing `passphrase` at each
/// passphrase prompt.
fn sh_pty(h: &Home, cwd: &Path, line: &str, passphrase: &str) -> Run {
    let argv = vec!["sh".to_string(), "-c".to_string(), line.to_string()];
    pty(
        h,
        &argv,
        &[(PASSPHRASE_PROMPT, passphrase, 2)],
        Some(cwd),
        true,
    )
}

/// Every `XXXX-XXXX-XXXX-XXXX-XXXX-XXXX-XXXX-XXXX` (base32) in `text`.
fn tokens_in(text: &str) -> Vec<String> {
    dashed_base32_in(text, 8)
}

/// Every `ABCD-EFGH-IJKL-MNOP` fingerprint in `text`.
fn fingerprints_in(text: &str) -> Vec<String> {
    dashed_base32_in(text, 4)
}

/// Every run of exactly `groups` groups of four base32 characters joined by `-` in `text`,
/// standing alone (no base32 character or `-` on either side).
fn dashed_base32_in(text: &str, groups: usize) -> Vec<String> {
    let b = text.as_bytes();
    let b32 = |c: u8| c.is_ascii_uppercase() || (b'2'..=b'7').contains(&c);
    let len = groups * 5 - 1;
    let mut found = Vec::new();
    let mut i = 0;
    while i + len <= b.len() {
        let w = &b[i..i + len];
        let ok = w
            .iter()
            .enumerate()
            .all(|(j, &c)| if j % 5 == 4 { c == b'-' } else { b32(c) });
        let left = i == 0 || !(b32(b[i - 1]) || b[i - 1] == b'-');
        let right = i + len == b.len() || !(b32(b[i + len]) || b[i + len] == b'-');
        if ok && left && right {
            found.push(String::from_utf8_lossy(w).into_owned());
            i += len;
        } else {
            i += 1;
        }
    }
    found
}

fn base32(bytes: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let (mut buf, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buf = (buf << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            out.push(A[((buf >> (bits - 5)) & 31) as usize] as char);
            bits -= 5;
        }
    }
    if bits > 0 {
        out.push(A[((buf << (5 - bits)) & 31) as usize] as char);
    }
    out
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn b64url_decode(s: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .or_else(|_| URL_SAFE.decode(s))
        .unwrap_or_else(|e| panic!("not base64url: {s}: {e}"))
}

// ---------------------------------------------------------------------------------------
// kovra helpers
// ---------------------------------------------------------------------------------------

struct Identity {
    recipient: String,
    signing_key: String,
    fingerprint: String,
}

/// `kovra identity --json` (creates it the first time), checked against §1.
fn identity(h: &Home) -> Identity {
    let (code, v) = h.json(&["identity"]);
    assert_eq!(code, 0, "identity: {v}");
    let id = Identity {
        recipient: v["recipient"].as_str().unwrap_or_default().to_string(),
        signing_key: v["signing_key"].as_str().unwrap_or_default().to_string(),
        fingerprint: v["fingerprint"].as_str().unwrap_or_default().to_string(),
    };
    assert!(id.recipient.starts_with("age1"), "{v}");
    let key = id
        .signing_key
        .strip_prefix("ed25519:")
        .unwrap_or_else(|| panic!("signing key format: {v}"));
    let key = b64url_decode(key);
    assert_eq!(key.len(), 32, "{v}");
    assert_eq!(
        id.fingerprint,
        expected_fingerprint(&id.recipient, &key),
        "{v}"
    );
    id
}

/// §1: the first 10 bytes of SHA-256(`kovra-identity-v1` ‖ recipient ‖ `\n` ‖ key), base32,
/// four groups of four.
fn expected_fingerprint(recipient: &str, key: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(b"kovra-identity-v1");
    h.update(recipient.as_bytes());
    h.update(b"\n");
    h.update(key);
    let d = h.finalize();
    let s = base32(&d[..10]);
    assert_eq!(s.len(), 16);
    format!("{}-{}-{}-{}", &s[0..4], &s[4..8], &s[8..12], &s[12..16])
}

fn records(h: &Home) -> Value {
    let (code, v) = h.json(&["list"]);
    assert_eq!(code, 0, "list: {v}");
    v["records"].clone()
}

fn coordinates(h: &Home) -> Vec<String> {
    let mut c: Vec<String> = records(h)
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["coordinate"].as_str().unwrap().to_string())
        .collect();
    c.sort();
    c
}

/// A sender home with canaries at every sensitivity in `dev`, one in `prod`.
struct Sender {
    h: Home,
    low: String,
    medium: String,
    high: String,
    inject: String,
    prod: String,
}

impl Sender {
    fn new(tag: &str) -> Sender {
        let h = Home::init();
        let s = Sender {
            low: canary(&format!("{tag}-low")),
            medium: canary(&format!("{tag}-medium")),
            high: canary(&format!("{tag}-high")),
            inject: canary(&format!("{tag}-inject")),
            prod: canary(&format!("{tag}-prod")),
            h,
        };
        let add = |c: &str, v: &str, extra: &[&str]| add_ok(&s.h, c, v, extra);
        add(
            LOW,
            &s.low,
            &[
                "--sensitivity",
                "low",
                "--revealable",
                "--description",
                "the app token (low)",
            ],
        );
        add(MEDIUM, &s.medium, &["--description", "dev database"]);
        add(
            HIGH,
            &s.high,
            &["--sensitivity", "high", "--description", "upstream API key"],
        );
        add(INJECT, &s.inject, &["--sensitivity", "inject-only"]);
        add(PROD, &s.prod, &[]);
        s
    }

    fn values(&self) -> Vec<&str> {
        vec![
            &self.low,
            &self.medium,
            &self.high,
            &self.inject,
            &self.prod,
        ]
    }
}

/// `kovra add COORD` with `value`, which must succeed.
fn add_ok(h: &Home, coord: &str, value: &str, extra: &[&str]) {
    let out = h.add(coord, value.as_bytes(), extra);
    assert!(out.status.success(), "add {coord}: {}", describe(&out));
}

/// Make `h` treat `staging` as a production environment (config, then unlock again).
fn declare_staging_production(h: &Home) {
    h.stop();
    std::fs::write(
        h.home.join("config.toml"),
        "production_environments = [\"staging\"]\n",
    )
    .unwrap();
    h.ok(&["unlock", "--passphrase-file", h.pass_file.to_str().unwrap()]);
}

/// The groups of `dev` that may be shared (not `signing`, which is inject-only).
const SHAREABLE: &[&str] = &["--group", "app", "--group", "db", "--group", "api"];

/// The arguments of `share`: `env` to `to`, written to `out`, then `extra`.
fn share_args<'a>(env: &'a str, to: &'a str, out: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["--env", env, "--to", to, "--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    args
}

/// `kovra share ARGS` at a terminal (proof typed), whatever the outcome.
fn share_tty(h: &Home, args: &[&str]) -> Run {
    let mut full = vec!["share"];
    full.extend_from_slice(args);
    kpty(h, &full, PROOF)
}

struct Shared {
    file: PathBuf,
    token: String,
    run: Run,
}

/// `kovra share ARGS` at a terminal (proof typed); requires success and returns the package
/// and the token, checked to have been shown on the terminal only.
fn share(h: &Home, args: &[&str]) -> Shared {
    share_in(h, args, None)
}

fn share_in(h: &Home, args: &[&str], cwd: Option<&Path>) -> Shared {
    let mut full = vec!["share"];
    full.extend_from_slice(args);
    let run = kpty_in(h, &full, PROOF, cwd);
    assert_eq!(run.code, Some(0), "share {args:?}: {}", run.describe());
    let tokens = tokens_in(&run.tty);
    assert_eq!(
        tokens.len(),
        1,
        "one token on the terminal: {}",
        run.describe()
    );
    let token = tokens[0].clone();
    assert!(
        !run.stdout.contains(&token) && !run.stderr.contains(&token),
        "the token went to stdout/stderr: {}",
        run.describe()
    );
    let file = match args.iter().position(|a| *a == "--out") {
        Some(i) => PathBuf::from(args[i + 1]),
        None => {
            let dir = cwd
                .map(Path::to_path_buf)
                .unwrap_or_else(|| std::env::current_dir().unwrap());
            let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
                .unwrap()
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.to_string_lossy().ends_with(".age"))
                .collect();
            assert_eq!(
                found.len(),
                1,
                "one package in {}: {found:?}",
                dir.display()
            );
            found.remove(0)
        }
    };
    assert!(
        file.is_file(),
        "no package at {}: {}",
        file.display(),
        run.describe()
    );
    if !args.contains(&"--json") {
        // It says what leaves: the scope and lifetime first, then each coordinate sent.
        assert!(run.stderr.contains("kovra: sealing "), "{}", run.describe());
        assert!(run.stderr.contains("receivable for "), "{}", run.describe());
        assert!(run.stdout.contains("\n  secret:"), "{}", run.describe());
    }
    Shared { file, token, run }
}

/// `kovra receive FILE EXTRA` at a terminal: the token typed, the sender question answered
/// `accept`, proofs typed.
fn receive_tty(h: &Home, file: &Path, token: &str, accept: &str, extra: &[&str]) -> Run {
    let f = file.to_str().unwrap();
    let mut args = vec!["receive", f];
    args.extend_from_slice(extra);
    kpty(
        h,
        &args,
        &[
            (r"token: ?$", token, 1),
            (YES_NO, accept, 1),
            (PASSPHRASE_PROMPT, PASSPHRASE, 2),
        ],
    )
}

fn token_file(h: &Home, token: &str) -> PathBuf {
    let p = h.root.join(format!("token-{}", next()));
    std::fs::write(&p, format!("{token}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    p
}

/// `kovra receive FILE --token-file` without a terminal.
fn receive_file(h: &Home, file: &Path, token: &str, extra: &[&str]) -> Output {
    let tf = token_file(h, token);
    let mut args = vec![
        "receive",
        file.to_str().unwrap(),
        "--token-file",
        tf.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let out = h.run(&args);
    let _ = std::fs::remove_file(tf);
    out
}

/// A refused receive: non-zero exit, the code one of `codes`, nothing imported.
fn refused(h: &Home, before: &Value, what: &str, out: &Output, codes: &[&str]) {
    assert!(!out.status.success(), "{what}: accepted: {}", describe(out));
    let code = code_of(out);
    assert!(
        codes.contains(&code.as_str()),
        "{what}: code {code:?}, wanted one of {codes:?}: {}",
        describe(out)
    );
    assert_eq!(&records(h), before, "{what}: records changed");
}

fn refused_run(h: &Home, before: &Value, what: &str, run: &Run, codes: &[&str]) {
    assert!(run.code != Some(0), "{what}: accepted: {}", run.describe());
    let code = run.error_code();
    assert!(
        codes.contains(&code.as_str()),
        "{what}: code {code:?}, wanted one of {codes:?}: {}",
        run.describe()
    );
    assert_eq!(&records(h), before, "{what}: records changed");
}

/// A receiving home and its records before a series of refused receives.
struct Refusals<'a> {
    h: &'a Home,
    before: Value,
}

impl<'a> Refusals<'a> {
    fn new(h: &'a Home) -> Refusals<'a> {
        Refusals {
            h,
            before: records(h),
        }
    }

    /// `receive FILE --token-file`, refused with one of `codes`.
    fn file(&self, what: &str, file: &Path, token: &str, codes: &[&str]) -> Output {
        let out = receive_file(self.h, file, token, &[]);
        refused(self.h, &self.before, what, &out, codes);
        out
    }

    /// `receive FILE` at a terminal (the sender accepted), refused with one of `codes`.
    fn tty(&self, what: &str, file: &Path, token: &str, codes: &[&str]) -> Run {
        let run = receive_tty(self.h, file, token, "y", &[]);
        refused_run(self.h, &self.before, what, &run, codes);
        run
    }

    /// Both ways: `what` without a terminal, then at one.
    fn both(&self, what: &str, file: &Path, token: &str, codes: &[&str]) {
        self.file(what, file, token, codes);
        self.tty(&format!("{what}, at a terminal"), file, token, codes);
    }
}

/// The sha256 of a record's value, as a child of `kovra run` computes it.
fn hash_via_run(h: &Home, coord: &str) -> String {
    let refs = h.root.join(format!("refs-{}", next()));
    std::fs::write(&refs, format!("X={coord}\n")).unwrap();
    let out = h.run(&[
        "run",
        "--refs",
        refs.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        "printf %s \"$X\" | sha256sum",
    ]);
    assert_exit(&out, 0, format!("run {coord}"));
    stdout(&out)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// A deliberate reveal, off the record: a low revealable record without a terminal.
fn reveal_plain(h: &Home, coord: &str) -> Vec<u8> {
    let out = h
        .cmd(&["reveal", coord])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_exit(&out, 0, format!("reveal {coord}"));
    out.stdout
}

/// A deliberate reveal at the terminal with a proof, off the record.
fn reveal_tty(h: &Home, coord: &str) -> String {
    let argv = vec![
        kovra_bin().display().to_string(),
        "reveal".into(),
        coord.into(),
    ];
    let run = pty(h, &argv, PROOF, None, false);
    assert_eq!(run.code, Some(0), "reveal {coord}: {}", run.describe());
    run.all()
}

/// No canary of `values`, in any encoding, in any file under the homes, their transcripts,
/// their audit trails, or the extra files given.
fn assert_no_values(homes: &[&Home], values: &[&str], extra_files: &[&Path]) {
    for h in homes {
        let (_, audit) = h.json(&["audit"]);
        let bytes = serde_json::to_vec(&audit).unwrap();
        for (i, v) in values.iter().enumerate() {
            let what = format!("shared value #{i}");
            assert_not_in_files(h, v, &what);
            assert_absent(&bytes, v, &format!("the audit trail ({what})"));
            assert_not_printed(h, v, &what);
        }
    }
    for f in extra_files {
        let bytes = std::fs::read(f).unwrap_or_default();
        for (i, v) in values.iter().enumerate() {
            assert_absent(&bytes, v, &format!("{} (shared value #{i})", f.display()));
        }
    }
}

/// No `token` in any file under the homes, their logs and audit trails, or under `dirs`.
fn assert_token_nowhere(homes: &[&Home], token: &str, dirs: &[&Path]) {
    let forms = vec![
        token.as_bytes().to_vec(),
        token.replace('-', "").into_bytes(),
        token.to_lowercase().into_bytes(),
    ];
    for h in homes {
        let hits = h.files_containing(&forms);
        assert!(hits.is_empty(), "the token is in {hits:?}");
        let (_, audit) = h.json(&["audit"]);
        let bytes = serde_json::to_vec(&audit).unwrap();
        assert!(
            !forms.iter().any(|n| contains(&bytes, n)),
            "the token is in the audit trail"
        );
    }
    for d in dirs {
        for f in files_under(d) {
            let bytes = std::fs::read(&f).unwrap_or_default();
            assert!(
                !forms.iter().any(|n| contains(&bytes, n)),
                "the token is in {}",
                f.display()
            );
        }
    }
}

/// Every file under `dir`, except copies of the kovra programs (checked byte for byte where
/// they are made; too large to search naively, and built before any canary existed).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    walk(dir, &mut |p| {
        if p.file_name()
            .is_none_or(|n| n != "kovra" && n != "kovra-full")
        {
            out.push(p.to_path_buf());
        }
    });
    out
}

/// The audit entries of `action`.
fn audit_entries(h: &Home, action: &str) -> Vec<Value> {
    let (code, v) = h.json(&["audit", "--action", action]);
    assert_eq!(code, 0, "audit: {v}");
    v["entries"].as_array().cloned().unwrap_or_default()
}
