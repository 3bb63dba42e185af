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

/// The environment of `h`'s commands, on another program.
fn with_env(h: &Home, mut c: Command) -> Command {
    let base = h.cmd(&[]);
    for (k, v) in base.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    c
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
    let mut py = with_env(h, py);
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
    assert_eq!(
        out.status.code(),
        Some(0),
        "run {coord}: {}",
        describe(&out)
    );
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
    assert_eq!(
        out.status.code(),
        Some(0),
        "reveal {coord}: {}",
        describe(&out)
    );
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

/// Every file under `dir`, except copies of the kovra binary (checked byte for byte where they
/// are made; too large to search naively, and built before any canary existed).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.is_file() && p.file_name().is_none_or(|n| n != "kovra") {
                out.push(p);
            }
        }
    }
    out
}

/// The audit entries of `action`.
fn audit_entries(h: &Home, action: &str) -> Vec<Value> {
    let (code, v) = h.json(&["audit", "--action", action]);
    assert_eq!(code, 0, "audit: {v}");
    v["entries"].as_array().cloned().unwrap_or_default()
}

// ---------------------------------------------------------------------------------------
// Stock age
// ---------------------------------------------------------------------------------------

fn age_keygen(dir: &Path, name: &str) -> (PathBuf, String) {
    let path = dir.join(name);
    let out = Command::new("age-keygen")
        .arg("-o")
        .arg(&path)
        .stdin(Stdio::null())
        .output()
        .expect("age-keygen (apt-get install age)");
    assert!(out.status.success(), "age-keygen: {}", describe(&out));
    let out = Command::new("age-keygen")
        .arg("-y")
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "age-keygen -y: {}", describe(&out));
    (path, stdout(&out).trim().to_string())
}

/// `age -d -i IDENTITY -o OUT FILE`: the outer layer opened, which must succeed.
fn age_decrypt_outer(identity: &Path, file: &Path, out: &Path) {
    let o = Command::new("age")
        .args(["-d", "-i"])
        .arg(identity)
        .arg("-o")
        .arg(out)
        .arg(file)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "age -d -i: {}", describe(&o));
}

/// `age -r RECIPIENT -a -o OUT IN`, no terminal needed.
fn age_encrypt_to(recipient: &str, input: &Path, out: &Path) {
    let _ = std::fs::remove_file(out);
    let o = Command::new("age")
        .args(["-r", recipient, "-a", "-o"])
        .arg(out)
        .arg(input)
        .stdin(Stdio::null())
        .output()
        .expect("age");
    assert!(o.status.success(), "age -r: {}", describe(&o));
}

/// `age -d -i IDENTITY FILE | age -d` with `passphrase` at the prompt; the plaintext, or
/// the failing run.
fn age_open_both(h: &Home, identity: &Path, file: &Path, passphrase: &str) -> Result<Vec<u8>, Run> {
    let out = h.root.join(format!("age-plain-{}", next()));
    let line = format!(
        "age -d -i '{}' '{}' | age -d -o '{}'",
        identity.display(),
        file.display(),
        out.display()
    );
    let run = sh_pty(h, &h.root, &line, passphrase);
    let plain = std::fs::read(&out);
    let _ = std::fs::remove_file(&out);
    match plain {
        Ok(p) if run.code == Some(0) => Ok(p),
        _ => Err(run),
    }
}

/// Both layers opened with stock age, which must succeed: the payload decoded.
fn age_open_payload(
    h: &Home,
    identity: &Path,
    file: &Path,
    token: &str,
) -> (Value, Vec<u8>, Value) {
    let plain =
        age_open_both(h, identity, file, token).unwrap_or_else(|r| panic!("{}", r.describe()));
    decode_payload(&plain)
}

/// `age -p -o OUT IN` with `passphrase` typed twice.
fn age_encrypt_passphrase(h: &Home, input: &Path, out: &Path, passphrase: &str) {
    let _ = std::fs::remove_file(out);
    let line = format!("age -p -o '{}' '{}'", out.display(), input.display());
    let run = sh_pty(h, &h.root, &line, passphrase);
    assert_eq!(run.code, Some(0), "age -p: {}", run.describe());
}

/// The inner (token) layer built by hand, as an age scrypt file at work factor 2^`log_n`
/// (Python's `cryptography`; age v1 as specified at age-encryption.org/v1). kovra seals at
/// 2^15 and opens at most 2^16, while stock `age -p` uses 2^18, so forged packages need this.
/// Panics without the Python module.
fn seal_token_layer(input: &Path, out: &Path, passphrase: &str, log_n: u32) {
    let script = r#"
import base64, hashlib, hmac, os, sys
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
def b64(b): return base64.b64encode(b).decode().rstrip("=")
def hkdf(ikm, salt, info): return HKDF(hashes.SHA256(), 32, salt, info).derive(ikm)
pt = open(sys.argv[1], "rb").read(); log_n = int(sys.argv[3])
pw = sys.stdin.buffer.read().rstrip(b"\n")
fk = os.urandom(16); salt = os.urandom(16)
k = Scrypt(salt=b"age-encryption.org/v1/scrypt" + salt, length=32, n=2**log_n, r=8, p=1).derive(pw)
body = ChaCha20Poly1305(k).encrypt(b"\x00" * 12, fk, None)
hdr = "age-encryption.org/v1\n-> scrypt %s %d\n%s\n---" % (b64(salt), log_n, b64(body))
mac = hmac.new(hkdf(fk, b"", b"header"), hdr.encode(), hashlib.sha256).digest()
out = hdr.encode() + b" " + b64(mac).encode() + b"\n"
nonce = os.urandom(16); aead = ChaCha20Poly1305(hkdf(fk, nonce, b"payload"))
chunks = [pt[i:i + 65536] for i in range(0, len(pt), 65536)] or [b""]
out += nonce
for i, c in enumerate(chunks):
    last = b"\x01" if i == len(chunks) - 1 else b"\x00"
    out += aead.encrypt(i.to_bytes(11, "big") + last, c, None)
open(sys.argv[2], "wb").write(out)
"#;
    let _ = std::fs::remove_file(out);
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(input)
        .arg(out)
        .arg(log_n.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), passphrase.as_bytes()).unwrap();
    drop(child.stdin.take());
    let o = child.wait_with_output().unwrap();
    assert!(
        o.status.success(),
        "sealing the token layer (python3 cryptography): {}",
        describe(&o)
    );
}

/// The payload of §2, decoded: (payload, manifest bytes as embedded, manifest).
fn decode_payload(plain: &[u8]) -> (Value, Vec<u8>, Value) {
    let payload: Value = serde_json::from_slice(plain).unwrap_or_else(|e| {
        panic!(
            "payload is not JSON ({e}): {}",
            String::from_utf8_lossy(plain)
        )
    });
    assert_eq!(payload["format"], "kovra-share-v1", "{payload}");
    let m = STANDARD
        .decode(payload["manifest"].as_str().expect("manifest"))
        .expect("manifest is base64");
    let manifest: Value = serde_json::from_slice(&m).expect("manifest is JSON");
    (payload, m, manifest)
}

/// The Ed25519 signature over the manifest bytes verifies against the manifest's key
/// (Python's `cryptography`, an implementation independent of kovra's). `None` when the
/// module is missing.
fn python_verify(manifest: &[u8], signature_b64: &str, signing_key: &str) -> Option<bool> {
    let script = r#"
import base64, sys
try:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
except ImportError:
    print("missing"); sys.exit(0)
m = base64.b64decode(sys.argv[1]); s = base64.b64decode(sys.argv[2])
k = sys.argv[3].split(":", 1)[1]; k = base64.urlsafe_b64decode(k + "=" * (-len(k) % 4))
try:
    Ed25519PublicKey.from_public_bytes(k).verify(s, m); print("ok")
except Exception as e:
    print("bad", e)
"#;
    let out = Command::new("python3")
        .args([
            "-c",
            script,
            &STANDARD.encode(manifest),
            signature_b64,
            signing_key,
        ])
        .output()
        .unwrap();
    match stdout(&out).trim() {
        "missing" => None,
        "ok" => Some(true),
        _ => Some(false),
    }
}

/// A package built by hand, as an attacker with stock tools could: the manifest signed by
/// `signer` (a fresh Ed25519 key, Python's `cryptography`), sealed to `token` (at kovra's own
/// work factor, `seal_token_layer`) and with age -r `recipient`. Returns the package file, or `None` without the Python module.
fn forge(
    h: &Home,
    manifest: &Value,
    signer_seed: &[u8; 32],
    token: &str,
    recipient: &str,
) -> Option<PathBuf> {
    let n = next();
    let m = serde_json::to_vec(manifest).unwrap();
    let script = r#"
import base64, json, sys
try:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
except ImportError:
    print("missing"); sys.exit(0)
k = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(sys.argv[1]))
m = base64.b64decode(sys.argv[2])
print(json.dumps({"format": "kovra-share-v1", "manifest": base64.b64encode(m).decode(),
                  "signature": base64.b64encode(k.sign(m)).decode()}))
"#;
    let out = Command::new("python3")
        .args([
            "-c",
            script,
            &hex::encode(signer_seed),
            &STANDARD.encode(&m),
        ])
        .output()
        .unwrap();
    let text = stdout(&out);
    if text.trim() == "missing" {
        return None;
    }
    assert!(out.status.success(), "forge: {}", describe(&out));
    let payload = h.root.join(format!("forged-payload-{n}.json"));
    std::fs::write(&payload, text.trim()).unwrap();
    let inner = h.root.join(format!("forged-inner-{n}.age"));
    seal_token_layer(&payload, &inner, token, 15);
    let pkg = h.root.join(format!("forged-{n}.age"));
    age_encrypt_to(recipient, &inner, &pkg);
    let _ = std::fs::remove_file(payload);
    Some(pkg)
}

/// The public half of an Ed25519 seed, as `ed25519:BASE64URL`.
fn python_public(seed: &[u8; 32]) -> Option<String> {
    let script = r#"
import base64, sys
try:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives import serialization
except ImportError:
    print("missing"); sys.exit(0)
k = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(sys.argv[1])).public_key()
raw = k.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
print("ed25519:" + base64.urlsafe_b64encode(raw).decode().rstrip("="))
"#;
    let out = Command::new("python3")
        .args(["-c", script, &hex::encode(seed)])
        .output()
        .unwrap();
    let t = stdout(&out).trim().to_string();
    if t == "missing" { None } else { Some(t) }
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom").unwrap(), &mut b).unwrap();
    b
}

fn random_token() -> String {
    let s = base32(&random_bytes::<20>());
    s.as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("-")
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

/// §2: a package opens with Debian's stock `age` given both the identity and the token, and
/// with neither alone. The payload is the documented JSON, signed as documented.
#[test]
fn stock_age_opens_a_package_with_identity_and_token_and_not_with_either_alone() {
    let a = Sender::new("age");
    let ida = identity(&a.h);
    let (key, recipient) = age_keygen(&a.h.root, "age-identity.txt");
    let (other_key, _) = age_keygen(&a.h.root, "other-identity.txt");
    let outdir = a.h.root.join("out");
    std::fs::create_dir_all(&outdir).unwrap();
    let mut args = vec!["--env", "dev", "--to", &recipient];
    args.extend_from_slice(SHAREABLE);
    let s = share_in(&a.h, &args, Some(&outdir));
    let token = s.token.clone();
    assert!(
        s.run.tty.matches(&token).count() == 1,
        "the token is shown once: {}",
        s.run.describe()
    );

    // The outer layer is armored age to the recipient.
    let bytes = std::fs::read(&s.file).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        text.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"),
        "{text}"
    );

    // The identity alone: the outer layer opens, to an age scrypt file, not the values.
    let inner = a.h.root.join("inner.age");
    age_decrypt_outer(&key, &s.file, &inner);
    let inner_bytes = std::fs::read(&inner).unwrap();
    assert!(
        inner_bytes.starts_with(b"age-encryption.org/v1\n-> scrypt "),
        "the inner layer is not a passphrase-only age file: {:?}",
        String::from_utf8_lossy(&inner_bytes[..inner_bytes.len().min(120)])
    );
    let stanzas = inner_bytes
        .split(|&b| b == b'\n')
        .filter(|l| l.starts_with(b"-> "))
        .count();
    assert_eq!(
        stanzas, 1,
        "the inner layer has other recipients than scrypt"
    );

    // A wrong identity: refused by age.
    let o = Command::new("age")
        .args(["-d", "-i"])
        .arg(&other_key)
        .arg(&s.file)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!o.status.success(), "another identity opened it");
    assert!(o.stdout.is_empty());
    assert!(age_open_both(&a.h, &other_key, &s.file, &token).is_err());

    // The token alone cannot open the outer layer (age has nothing to try it on).
    let alone = a.h.root.join("token-alone");
    let run = sh_pty(
        &a.h,
        &a.h.root,
        &format!("age -d -o '{}' '{}'", alone.display(), s.file.display()),
        &token,
    );
    assert_ne!(
        run.code,
        Some(0),
        "the token alone opened it: {}",
        run.describe()
    );
    assert!(std::fs::read(&alone).map(|b| b.is_empty()).unwrap_or(true));
    // …and a wrong token does not open the inner one.
    let err = age_open_both(&a.h, &key, &s.file, &random_token()).unwrap_err();
    assert!(
        err.all().contains("incorrect passphrase"),
        "{}",
        err.describe()
    );

    // Both: the payload.
    let (payload, mbytes, m) = age_open_payload(&a.h, &key, &s.file, &token);
    assert_eq!(m["version"], 1, "{m}");
    let id = m["package_id"].as_str().unwrap_or_default();
    assert!(
        id.len() == 32 && id.chars().all(|c| c.is_ascii_hexdigit()),
        "{m}"
    );
    let name = s.file.file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(
        name,
        format!("kovra-share-dev-{}.age", &id[..8]),
        "default --out"
    );
    assert_eq!(m["sender"]["recipient"], ida.recipient.as_str(), "{m}");
    assert_eq!(m["sender"]["signing_key"], ida.signing_key.as_str(), "{m}");
    assert_eq!(m["sender"]["fingerprint"], ida.fingerprint.as_str(), "{m}");
    assert_eq!(m["recipient"], recipient.as_str(), "{m}");
    assert_eq!(m["environment"], "dev", "{m}");
    assert!(m["project"].is_null(), "{m}");
    let (created, expires) = (
        m["created"].as_u64().unwrap(),
        m["expires"].as_u64().unwrap(),
    );
    assert!(created.abs_diff(now()) < 120, "{m}");
    assert_eq!(expires - created, 7 * 86400, "default ttl 7d: {m}");
    // The stdout report names the package.
    assert!(
        s.run.stdout.contains(id),
        "stdout does not name the package: {}",
        s.run.describe()
    );

    let recs = m["records"].as_array().unwrap();
    let mut coords: Vec<&str> = recs
        .iter()
        .map(|r| r["coordinate"].as_str().unwrap())
        .collect();
    coords.sort();
    assert_eq!(coords, vec![HIGH, LOW, MEDIUM], "{m}");
    let want = [
        (LOW, &a.low, "low", true, "the app token (low)"),
        (MEDIUM, &a.medium, "medium", false, "dev database"),
        (HIGH, &a.high, "high", false, "upstream API key"),
    ];
    for (coord, value, sens, revealable, desc) in want {
        let r = recs.iter().find(|r| r["coordinate"] == coord).unwrap();
        let v = STANDARD.decode(r["value"].as_str().unwrap()).unwrap();
        assert_eq!(v, value.as_bytes(), "{coord}");
        assert_eq!(r["sensitivity"], sens, "{r}");
        assert_eq!(r["revealable"], revealable, "{r}");
        assert_eq!(r["description"], desc, "{r}");
        assert!(r.get("totp").is_some_and(Value::is_null), "{r}");
    }
    match python_verify(
        &mbytes,
        payload["signature"].as_str().unwrap(),
        &ida.signing_key,
    ) {
        Some(ok) => assert!(
            ok,
            "the signature does not verify with an independent Ed25519"
        ),
        None => eprintln!("python3 cryptography missing: signature not checked independently"),
    }

    // Nothing but the terminal saw the token; no value left the packages in the clear.
    assert_token_nowhere(&[&a.h], &token, &[&outdir]);
    assert_no_values(&[&a.h], &a.values(), &[&s.file, &inner]);
    let shares = audit_entries(&a.h, "share");
    assert!(
        shares.iter().any(|e| e.to_string().contains(id)),
        "no share audit entry names the package: {shares:?}"
    );
}

/// §2: an `ssh-ed25519` public key is a recipient too (given as a file), and stock age opens
/// the package with the private key.
#[test]
fn an_ssh_ed25519_recipient_opens_with_stock_age() {
    let a = Sender::new("ssh");
    let key = a.h.root.join("id_ed25519");
    let o = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "kovra-test", "-f"])
        .arg(&key)
        .stdin(Stdio::null())
        .output()
        .expect("ssh-keygen");
    assert!(o.status.success(), "{}", describe(&o));
    let pubfile = a.h.root.join("id_ed25519.pub");
    let out = a.h.root.join("pkg.age");
    let s = share(
        &a.h,
        &share_args("dev", pubfile.to_str().unwrap(), &out, SHAREABLE),
    );
    // The same key given inline, too.
    let line = std::fs::read_to_string(&pubfile).unwrap();
    let out2 = a.h.root.join("pkg2.age");
    let db_1h = ["--group", "db", "--ttl", "1h"];
    let s2 = share(&a.h, &share_args("dev", line.trim(), &out2, &db_1h));

    let (_, _, m) = age_open_payload(&a.h, &key, &s.file, &s.token);
    let recs = m["records"].as_array().unwrap();
    assert_eq!(recs.len(), 3, "{m}");
    let r = recs.iter().find(|r| r["coordinate"] == HIGH).unwrap();
    assert_eq!(
        STANDARD.decode(r["value"].as_str().unwrap()).unwrap(),
        a.high.as_bytes()
    );

    let (_, _, m) = age_open_payload(&a.h, &key, &s2.file, &s2.token);
    assert_eq!(m["records"].as_array().unwrap().len(), 1, "{m}");
    assert_eq!(
        m["expires"].as_u64().unwrap() - m["created"].as_u64().unwrap(),
        3600,
        "{m}"
    );
    // The tokens differ per package.
    assert_ne!(s.token, s2.token);
    assert_no_values(&[&a.h], &a.values(), &[&s.file, &s2.file]);
}

/// §2–3: A shares to B's `kovra identity`; B receives once, after accepting A's fingerprint;
/// values and metadata arrive; the package cannot be received twice; no value anywhere else.
#[test]
fn round_trip_between_two_vaults() {
    let a = Sender::new("trip");
    let b = Home::init();
    let ida = identity(&a.h);
    let idb = identity(&b);
    assert_ne!(ida.fingerprint, idb.fingerprint);
    // Reading the identity again gives the same one.
    let again = identity(&b);
    assert_eq!(
        (again.recipient, again.fingerprint),
        (idb.recipient.clone(), idb.fingerprint.clone())
    );
    let pre = canary("trip-b-own");
    add_ok(&b, "secret:dev/own/thing", &pre, &[]);
    let before = records(&b);

    // The whole of dev holds an inject-only record: refused, no package.
    let out = a.h.root.join("pkg.age");
    let run = share_tty(&a.h, &share_args("dev", &idb.recipient, &out, &[]));
    assert_eq!(run.code, Some(4), "{}", run.describe());
    assert_eq!(run.error_code(), "policy-denied", "{}", run.describe());
    assert!(!out.exists(), "a package was written although refused");
    assert!(
        tokens_in(&run.tty).is_empty(),
        "a token was shown although refused"
    );
    assert!(
        serde_json::to_string(&audit_entries(&a.h, "share"))
            .unwrap()
            .contains("inject-only-never-shared"),
        "the refusal's reason is not audited"
    );

    let args = share_args("dev", &idb.recipient, &out, SHAREABLE);
    let s = share(&a.h, &args);

    // The same --out again: not overwritten.
    let pkg_bytes = std::fs::read(&s.file).unwrap();
    let run = share_tty(&a.h, &args);
    assert_ne!(run.code, Some(0), "{}", run.describe());
    assert_eq!(run.error_code(), "output-exists", "{}", run.describe());
    assert_eq!(std::fs::read(&s.file).unwrap(), pkg_bytes);

    // B receives: asked for the token, then to accept A's fingerprint, then a proof.
    let run = receive_tty(&b, &s.file, &s.token, "y", &[]);
    assert_eq!(run.code, Some(0), "receive: {}", run.describe());
    let q = run
        .tty
        .lines()
        .find(|l| l.contains("accept sender"))
        .unwrap_or_else(|| panic!("no sender question: {}", run.describe()))
        .to_string();
    assert!(
        q.contains(&ida.fingerprint),
        "the question does not show A's fingerprint: {q}"
    );
    assert!(
        !run.all().contains(&s.token),
        "the typed token was echoed: {}",
        run.describe()
    );

    // The records and their metadata.
    let mut want = vec![HIGH, LOW, MEDIUM, "secret:dev/own/thing"];
    want.sort();
    assert_eq!(coordinates(&b), want);
    for (coord, sens, revealable, desc) in [
        (LOW, "low", true, "the app token (low)"),
        (MEDIUM, "medium", false, "dev database"),
        (HIGH, "high", false, "upstream API key"),
    ] {
        let (code, v) = b.json(&["show", coord]);
        assert_eq!(code, 0, "{v}");
        assert_eq!(v["sensitivity"], sens, "{coord}: {v}");
        assert_eq!(v["revealable"], revealable, "{coord}: {v}");
        assert_eq!(v["description"], desc, "{coord}: {v}");
    }
    // The values: a plain reveal, a hash computed by a child, a reveal with a proof.
    assert_eq!(reveal_plain(&b, LOW), a.low.as_bytes());
    assert_eq!(hash_via_run(&b, MEDIUM), sha256_hex(a.medium.as_bytes()));
    let shown = reveal_tty(&b, HIGH);
    assert!(
        shown.contains(&a.high),
        "the high value did not arrive: {shown}"
    );
    // Agents still may not reveal what was high in the package.
    let o = b.run(&["reveal", HIGH]);
    assert_eq!(o.status.code(), Some(4), "{}", describe(&o));
    let after = Refusals::new(&b);

    // The same package again: single use, whatever the sender answer.
    let again = ["package-already-received"];
    after.tty("second receive", &s.file, &s.token, &again);
    after.file("second receive (token file)", &s.file, &s.token, &again);
    assert_eq!(hash_via_run(&b, MEDIUM), sha256_hex(a.medium.as_bytes()));

    // Audits: A's share and B's receive name the package; B's refusals are audited too.
    let plain_id = tokens_in(&s.run.stdout).is_empty();
    assert!(plain_id);
    let shares = audit_entries(&a.h, "share");
    let receives = audit_entries(&b, "receive");
    let id = s
        .run
        .stdout
        .split(|c: char| !c.is_ascii_hexdigit())
        .find(|w| w.len() == 32)
        .unwrap_or_else(|| panic!("no package id on stdout: {}", s.run.describe()))
        .to_string();
    assert!(
        shares
            .iter()
            .any(|e| e.to_string().contains(&id) && e.to_string().contains(&idb.recipient)),
        "{shares:?}"
    );
    assert!(
        receives
            .iter()
            .any(|e| e.to_string().contains(&id) && e["decision"] != "deny"),
        "{receives:?}"
    );
    assert!(
        receives
            .iter()
            .any(|e| e["decision"] == "deny" && e.to_string().contains("package-already-received")),
        "the refused second receive is not audited with its code: {receives:?}"
    );
    let _ = before;

    assert_token_nowhere(&[&a.h, &b], &s.token, &[]);
    let mut values = a.values();
    values.push(&pre);
    assert_no_values(&[&a.h, &b], &values, &[&s.file]);
}

/// §2: what `share` refuses, each leaving no package and showing no token.
#[test]
fn share_refuses_production_inject_only_empty_bad_recipients_and_no_terminal() {
    let a = Sender::new("refuse");
    let b = Home::init();
    let idb = identity(&b);
    let out = a.h.root.join("pkg.age");
    // `share` of `env` to `to` with `extra`, at a terminal: exit `exit`, error `code`, no
    // package written, no token shown.
    let refuse = |what: &str, env: &str, to: &str, extra: &[&str], exit: i32, code: &str| {
        let run = share_tty(&a.h, &share_args(env, to, &out, extra));
        assert_eq!(run.code, Some(exit), "{what}: {}", run.describe());
        assert_eq!(run.error_code(), code, "{what}: {}", run.describe());
        assert!(!out.exists(), "{what}: a package was written");
        assert!(
            tokens_in(&run.all()).is_empty(),
            "{what}: a token was shown"
        );
        run
    };
    let db: &[&str] = &["--group", "db"];
    // Production: never, with or without groups, whatever the proof.
    for (what, extra) in [("prod", &[][..]), ("prod group", db)] {
        refuse(what, "prod", &idb.recipient, extra, 4, "policy-denied");
    }
    let audit = serde_json::to_string(&audit_entries(&a.h, "share")).unwrap();
    assert!(audit.contains("production-never-shared"), "{audit}");
    // A config-declared production environment is production too.
    declare_staging_production(&a.h);
    add_ok(&a.h, "secret:staging/app/x", &canary("refuse-staging"), &[]);
    for (what, env, extra, exit, code) in [
        (
            "staging (configured production)",
            "staging",
            &[][..],
            4,
            "policy-denied",
        ),
        // Inject-only in the selection.
        (
            "inject-only",
            "dev",
            &["--group", "signing"][..],
            4,
            "policy-denied",
        ),
        // Nothing selected.
        ("empty env", "qa", &[][..], 3, "nothing-to-share"),
        (
            "empty group",
            "dev",
            &["--group", "nosuch"][..],
            3,
            "nothing-to-share",
        ),
    ] {
        refuse(what, env, &idb.recipient, extra, exit, code);
    }
    // Recipients that are not X25519 or ssh-ed25519.
    let garbage = a.h.root.join("garbage.pub");
    std::fs::write(&garbage, "hello, I am not a key\n").unwrap();
    let mangled = {
        let mut r = idb.recipient.clone();
        let last = r.pop().unwrap();
        r.push(if last == 'q' { 'p' } else { 'q' });
        r
    };
    let secret_key = std::fs::read_to_string(age_keygen(&a.h.root, "k.txt").0).unwrap();
    let secret_key = secret_key
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .unwrap()
        .to_string();
    for bad in [
        "bob",
        "age1",
        mangled.as_str(),
        secret_key.as_str(),
        "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 user@host",
        "ssh-ed25519 AAAAnotbase64!! user@host",
        garbage.to_str().unwrap(),
    ] {
        let what = format!("recipient {bad:?}");
        let run = refuse(&what, "dev", bad, db, 2, "recipient-invalid");
        assert!(
            !run.all().contains("AGE-SECRET-KEY-") || bad != secret_key,
            "the secret key was echoed"
        );
    }
    // A ttl beyond 30 days, or not one.
    for ttl in ["31d", "soon"] {
        let extra = ["--group", "db", "--ttl", ttl];
        refuse(
            &format!("ttl {ttl}"),
            "dev",
            &idb.recipient,
            &extra,
            2,
            "ttl-invalid",
        );
    }
    // No terminal: no token can be shown, so no package.
    let mut args = vec!["share"];
    args.extend(share_args("dev", &idb.recipient, &out, db));
    let o2 = a.h.run(&args);
    assert!(!o2.status.success(), "{}", describe(&o2));
    let code = code_of(&o2);
    assert!(code == "no-terminal", "{}", describe(&o2));
    assert!(!out.exists(), "a package was written without a terminal");
    assert!(tokens_in(&stdout(&o2)).is_empty() && tokens_in(&stderr(&o2)).is_empty());
    assert_no_values(&[&a.h], &a.values(), &[]);
}

/// §3: the first package from a sender is refused until its fingerprint is accepted; a
/// wrong `--accept-sender` does not accept it; once accepted, later packages need no
/// question; `--force` replaces and keeps the higher sensitivity.
#[test]
fn an_unknown_sender_is_refused_until_accepted() {
    let a = Sender::new("sender");
    let b = Home::init();
    let ida = identity(&a.h);
    let idb = identity(&b);
    let out = a.h.root.join("pkg.age");
    let s = share(&a.h, &share_args("dev", &idb.recipient, &out, SHAREABLE));
    let r = Refusals::new(&b);
    let unknown = ["sender-unknown"];

    // No terminal: sender-unknown (exit 5), naming the fingerprint; nothing imported.
    let o = r.file("unknown sender", &s.file, &s.token, &unknown);
    assert_eq!(o.status.code(), Some(5), "{}", describe(&o));
    assert!(
        stdout(&o).contains(&ida.fingerprint) || stderr(&o).contains(&ida.fingerprint),
        "the refusal does not show the fingerprint: {}",
        describe(&o)
    );
    // At a terminal, answering no.
    let run = receive_tty(&b, &s.file, &s.token, "n", &[]);
    assert!(run.tty.contains(&ida.fingerprint), "{}", run.describe());
    refused_run(&b, &r.before, "answered no", &run, &unknown);
    // A wrong fingerprint given to --accept-sender.
    let wrong = random_token()[..19].to_string();
    let run = receive_tty(&b, &s.file, &s.token, "n", &["--accept-sender", &wrong]);
    refused_run(&b, &r.before, "wrong --accept-sender", &run, &unknown);
    // The right one, with a proof.
    let run = kpty(
        &b,
        &[
            "receive",
            s.file.to_str().unwrap(),
            "--accept-sender",
            &ida.fingerprint,
        ],
        &[
            (r"token: ?$", &s.token.to_lowercase(), 1),
            (YES_NO, "n", 1),
            (PASSPHRASE_PROMPT, PASSPHRASE, 2),
        ],
    );
    assert_eq!(run.code, Some(0), "{}", run.describe());
    assert_eq!(coordinates(&b), vec![HIGH, LOW, MEDIUM]);

    // A second package from the accepted sender: no question, no terminal needed.
    let low = ["--sensitivity", "low"];
    add_ok(&a.h, "secret:qa/app/x", &canary("sender-qa"), &low);
    let qa = canary("sender-qa2");
    // Revealable in the package: the replaced records were not, and must stay so.
    let low_revealable = ["--sensitivity", "low", "--revealable"];
    add_ok(&a.h, "secret:qa/app/y", &qa, &low_revealable);
    let own = canary("sender-own");
    add_ok(&b, "secret:qa/app/y", &own, &["--sensitivity", "high"]);
    let qz = canary("sender-qz");
    add_ok(&a.h, "secret:qa/app/z", &qz, &low_revealable);
    let own_z = canary("sender-own-z");
    add_ok(&b, "secret:qa/app/z", &own_z, &low);
    let out2 = a.h.root.join("pkg2.age");
    let s2 = share(&a.h, &share_args("qa", &idb.recipient, &out2, &[]));
    // An existing coordinate: record-exists without --force.
    let sloppy = format!(" {} ", s2.token.to_lowercase());
    Refusals::new(&b).file("existing record", &s2.file, &sloppy, &["record-exists"]);
    // With --force (a proof): replaced, keeping the higher sensitivity.
    let run = receive_tty(&b, &s2.file, &s2.token, "n", &["--force"]);
    assert_eq!(run.code, Some(0), "{}", run.describe());
    assert!(
        !run.tty.contains("accept sender"),
        "asked again about an accepted sender: {}",
        run.describe()
    );
    let (_, v) = b.json(&["show", "secret:qa/app/y"]);
    assert_eq!(
        v["sensitivity"], "high",
        "--force lowered the existing record: {v}"
    );
    assert_eq!(
        v["revealable"], false,
        "--force made a non-revealable record revealable: {v}"
    );
    let shown = reveal_tty(&b, "secret:qa/app/y");
    assert!(shown.contains(&qa), "not replaced: {shown}");
    let (_, v) = b.json(&["show", "secret:qa/app/x"]);
    assert_eq!(v["sensitivity"], "low", "{v}");
    // A low record, not revealable: replaced, still low, still not revealable, so an agent
    // still cannot read it back.
    let (_, v) = b.json(&["show", "secret:qa/app/z"]);
    assert_eq!(v["sensitivity"], "low", "{v}");
    assert_eq!(
        v["revealable"], false,
        "--force made a non-revealable record revealable: {v}"
    );
    assert_eq!(
        hash_via_run(&b, "secret:qa/app/z"),
        sha256_hex(qz.as_bytes())
    );
    let o = b.run(&["reveal", "secret:qa/app/z"]);
    assert!(
        !o.status.success(),
        "an agent revealed a record that was never revealable: exit {:?}",
        o.status.code()
    );

    let mut values = a.values();
    values.push(&own);
    values.push(&qa);
    values.push(&qz);
    values.push(&own_z);
    assert_no_values(&[&a.h, &b], &values, &[&s.file, &s2.file]);
}

/// §3: expiry and the receiver's own production list.
#[test]
fn expired_packages_and_receiver_production_environments_are_refused() {
    let a = Sender::new("expiry");
    let b = Home::init();
    let idb = identity(&b);
    // B treats `staging` as production; A does not.
    declare_staging_production(&b);
    let staging = canary("expiry-staging");
    add_ok(
        &a.h,
        "secret:staging/app/x",
        &staging,
        &["--sensitivity", "low"],
    );
    let r = Refusals::new(&b);

    let p1 = a.h.root.join("short.age");
    let db_1s = ["--group", "db", "--ttl", "1s"];
    let short = share(&a.h, &share_args("dev", &idb.recipient, &p1, &db_1s));
    let p2 = a.h.root.join("staging.age");
    let st = share(&a.h, &share_args("staging", &idb.recipient, &p2, &[]));
    std::thread::sleep(std::time::Duration::from_millis(2200));
    r.both("expired", &short.file, &short.token, &["package-expired"]);
    let what = "production by B's config";
    let o = r.file(what, &st.file, &st.token, &["policy-denied"]);
    assert_eq!(o.status.code(), Some(4));
    r.tty(
        &format!("{what}, at a terminal"),
        &st.file,
        &st.token,
        &["policy-denied"],
    );
    let receives = serde_json::to_string(&audit_entries(&b, "receive")).unwrap();
    assert!(receives.contains("package-expired"), "{receives}");
    let mut values = a.values();
    values.push(&staging);
    assert_no_values(&[&a.h, &b], &values, &[&short.file, &st.file]);
}

/// A shares to a stock age identity X; B, with its own identity, holds both layers opened by
/// stock age: the material to rebuild packages from.
struct Opened {
    a: Sender,
    b: Home,
    ida: Identity,
    idb: Identity,
    s: Shared,
    token: String,
    work: PathBuf,
    inner: PathBuf,
    plain: Vec<u8>,
    payload: Value,
    mbytes: Vec<u8>,
    manifest: Value,
}

fn opened(tag: &str) -> Opened {
    let a = Sender::new(tag);
    let b = Home::init();
    let ida = identity(&a.h);
    let idb = identity(&b);
    let (key, recipient) = age_keygen(&a.h.root, "x.txt");
    let out = a.h.root.join("to-x.age");
    let s = share(&a.h, &share_args("dev", &recipient, &out, SHAREABLE));
    let token = s.token.clone();
    let work = b.root.join("work");
    std::fs::create_dir_all(&work).unwrap();

    // Both layers opened with stock age.
    let inner = work.join("inner.age");
    age_decrypt_outer(&key, &s.file, &inner);
    let plain =
        age_open_both(&b, &key, &s.file, &token).unwrap_or_else(|r| panic!("{}", r.describe()));
    let (payload, mbytes, manifest) = decode_payload(&plain);
    Opened {
        a,
        b,
        ida,
        idb,
        s,
        token,
        work,
        inner,
        plain,
        payload,
        mbytes,
        manifest,
    }
}

/// §3 in order, on packages rebuilt with stock age: a forwarded package (re-sealed to B
/// unchanged) is not for B; an edited manifest fails its signature; a wrong inner passphrase is
/// a wrong token; a payload that is not one is invalid.
#[test]
fn tampered_and_forwarded_packages_are_refused() {
    let Opened {
        a,
        b,
        idb,
        s,
        token,
        work,
        inner,
        plain,
        payload,
        mbytes,
        manifest,
        ..
    } = opened("tamper");
    let r = Refusals::new(&b);

    let reseal = |name: &str, payload_text: &[u8], pass: &str| -> PathBuf {
        let p = work.join(format!("{name}.json"));
        std::fs::write(&p, payload_text).unwrap();
        let i = work.join(format!("{name}.inner.age"));
        seal_token_layer(&p, &i, pass, 15);
        let pkg = work.join(format!("{name}.age"));
        age_encrypt_to(&idb.recipient, &i, &pkg);
        let _ = std::fs::remove_file(p);
        pkg
    };
    let with_manifest = |m: &[u8]| -> Vec<u8> {
        let mut p = payload.clone();
        p["manifest"] = Value::String(STANDARD.encode(m));
        serde_json::to_vec(&p).unwrap()
    };
    // A package whose payload carries manifest `m` (re-serialised), under the token.
    let resealed = |name: &str, m: &Value| -> PathBuf {
        reseal(
            name,
            &with_manifest(&serde_json::to_vec(m).unwrap()),
            &token,
        )
    };
    let bad_signature = ["signature-invalid"];
    let invalid = ["package-invalid"];

    // 1. Forwarded intact: the inner layer as is, the outer layer to B. Signed, but for X.
    let fwd = work.join("forwarded.age");
    age_encrypt_to(&idb.recipient, &inner, &fwd);
    r.both("forwarded", &fwd, &token, &["package-not-for-us"]);

    // 2. The manifest re-addressed to B: the signature no longer verifies.
    let mut m = manifest.clone();
    m["recipient"] = Value::String(idb.recipient.clone());
    r.file(
        "re-addressed",
        &resealed("readdressed", &m),
        &token,
        &bad_signature,
    );

    // 3. A sensitivity lowered, re-addressed too.
    let mut m2 = m.clone();
    for rec in m2["records"].as_array_mut().unwrap() {
        rec["sensitivity"] = json!("low");
        rec["revealable"] = json!(true);
    }
    r.file("lowered", &resealed("lowered", &m2), &token, &bad_signature);

    // 4. A production record added.
    let mut m3 = m.clone();
    m3["records"].as_array_mut().unwrap().push(json!({
        "coordinate": "secret:prod/db/password", "sensitivity": "low", "revealable": true,
        "description": "", "totp": null, "value": STANDARD.encode(b"planted"),
    }));
    let pkg = resealed("prod-added", &m3);
    r.file("production record added", &pkg, &token, &bad_signature);

    // 5. One byte of the original manifest changed (whitespace-free edit of the bytes).
    let mut mb = mbytes.clone();
    let at = mb.len() / 2;
    mb[at] = if mb[at] == b'a' { b'b' } else { b'a' };
    let pkg = reseal("byte", &with_manifest(&mb), &token);
    r.file(
        "manifest byte",
        &pkg,
        &token,
        &["signature-invalid", "package-invalid"],
    );

    // 6. Not a payload, or an unknown format.
    let pkg = reseal("not-json", b"this is not json", &token);
    r.file("not JSON", &pkg, &token, &invalid);
    let mut p = payload.clone();
    p["format"] = json!("kovra-share-v9");
    let pkg = reseal("format", &serde_json::to_vec(&p).unwrap(), &token);
    r.file("unknown format", &pkg, &token, &invalid);

    // 7. The inner layer under another passphrase: the token no longer opens it.
    let pkg = reseal("other-pass", &plain, &random_token());
    r.file("other passphrase", &pkg, &token, &["token-invalid"]);

    // 8. The inner layer at stock `age -p`'s scrypt work factor (2^18, above kovra's 2^16
    // ceiling): refused before any work, whatever it holds (a stranger who knows B's public
    // recipient must not make the daemon spend gigabytes and seconds).
    let p = work.join("heavy.json");
    std::fs::write(&p, &plain).unwrap();
    let heavy_inner = work.join("heavy.inner.age");
    age_encrypt_passphrase(&b, &p, &heavy_inner, &token);
    let _ = std::fs::remove_file(&p);
    let header = std::fs::read(&heavy_inner).unwrap();
    assert!(
        contains(&header[..header.len().min(200)], b" 18\n"),
        "stock age no longer seals at 2^18: {:?}",
        String::from_utf8_lossy(&header[..header.len().min(120)])
    );
    let heavy = work.join("heavy.age");
    age_encrypt_to(&idb.recipient, &heavy_inner, &heavy);
    r.file("work factor 2^18", &heavy, &token, &invalid);

    assert_no_values(&[&a.h, &b], &a.values(), &[&s.file]);
    assert_token_nowhere(&[&b], &token, &[]);
}

/// §3: packages forged by an attacker who signs with a key of their own: that is the
/// attacker's fingerprint (never A's, even claiming A's), refused for production and expiry
/// before the sender is considered, and for being unknown.
#[test]
fn forged_packages_are_refused() {
    let Opened {
        a,
        b,
        ida,
        idb,
        s,
        token,
        work,
        manifest,
        ..
    } = opened("forge");
    // B accepts A through a genuine package, for the impersonation case below.
    let genuine_out = a.h.root.join("to-b.age");
    let genuine = share(
        &a.h,
        &share_args("dev", &idb.recipient, &genuine_out, &["--group", "db"]),
    );
    let run = receive_tty(&b, &genuine.file, &genuine.token, "y", &[]);
    assert_eq!(run.code, Some(0), "{}", run.describe());
    let r = Refusals::new(&b);
    assert_eq!(coordinates(&b), vec![MEDIUM]);

    // Forged packages, validly signed by a key of the attacker's.
    let seed = random_bytes::<32>();
    let Some(forger_key) = python_public(&seed) else {
        eprintln!("python3 cryptography missing: forged packages not tested");
        assert_no_values(&[&a.h, &b], &a.values(), &[&s.file]);
        return;
    };
    // Written the way kovra writes its own keys (padded or not).
    let forger_key = if ida.signing_key.ends_with('=') {
        format!("{forger_key}=")
    } else {
        forger_key
    };
    let (_, forger_recipient) = age_keygen(&work, "forger.txt");
    let forger_fp = expected_fingerprint(
        &forger_recipient,
        &b64url_decode(forger_key.trim_start_matches("ed25519:")),
    );
    let base = |records: Value| -> Value {
        let mut f = manifest.clone();
        f["package_id"] = json!(hex::encode(random_bytes::<16>()));
        f["sender"] = json!({"recipient": forger_recipient, "signing_key": forger_key, "fingerprint": forger_fp});
        f["recipient"] = json!(idb.recipient);
        f["created"] = json!(now() - 5);
        f["expires"] = json!(now() + 3600);
        f["records"] = records;
        f
    };
    let planted = canary("tamper-planted");
    let rec = |coord: &str| {
        json!({
            "coordinate": coord, "sensitivity": "low", "revealable": true,
            "description": "planted", "totp": null, "value": STANDARD.encode(planted.as_bytes()),
        })
    };
    let ftoken = random_token();
    // Forge manifest `f`, then receive it: refused with one of `codes`.
    let refuse_forged = |what: &str, f: &Value, codes: &[&str]| -> Output {
        let pkg = forge(&b, f, &seed, &ftoken, &idb.recipient).unwrap();
        r.file(what, &pkg, &ftoken, codes)
    };
    let not_a = ["sender-unknown", "signature-invalid", "package-invalid"];

    // F1: unknown sender, shown by the forger's own fingerprint.
    let f = base(json!([rec("secret:dev/planted/one")]));
    let o = refuse_forged("forged, unknown sender", &f, &["sender-unknown"]);
    let text = format!("{}{}", stdout(&o), stderr(&o));
    assert!(
        text.contains(&forger_fp) && !text.contains(&ida.fingerprint),
        "{}",
        describe(&o)
    );
    // F2: claiming A's fingerprint (A is accepted) does not make it A's.
    let mut f = base(json!([rec("secret:dev/planted/two")]));
    f["sender"]["fingerprint"] = json!(ida.fingerprint);
    refuse_forged("forged, claiming A", &f, &not_a);
    // …nor does naming A's encryption key as the sender's recipient.
    let mut f = base(json!([rec("secret:dev/planted/three")]));
    f["sender"] = json!({"recipient": ida.recipient, "signing_key": forger_key, "fingerprint": ida.fingerprint});
    refuse_forged("forged, A's recipient", &f, &not_a);
    // F4: production, refused by policy before the sender is even considered.
    let mut f = base(json!([rec("secret:prod/planted/four")]));
    f["environment"] = json!("prod");
    refuse_forged("forged, production", &f, &["policy-denied"]);
    // …also hidden among records of another environment (a package that mixes environments
    // may fairly be called invalid instead).
    let f = base(json!([
        rec("secret:dev/planted/four"),
        rec("secret:prod/planted/four")
    ]));
    let mixed = ["policy-denied", "package-invalid"];
    refuse_forged("forged, production among dev", &f, &mixed);
    let mut f = base(json!([rec("secret:production/planted/five")]));
    f["environment"] = json!("production");
    refuse_forged("forged, production environment", &f, &["policy-denied"]);
    // F5: expired, and not yet valid (created in the future: outside created…expires).
    for (what, coord, created, expires) in [
        (
            "forged, expired",
            "secret:dev/planted/six",
            now() - 7200,
            now() - 3600,
        ),
        (
            "forged, from the future",
            "secret:dev/planted/seven",
            now() + 3600,
            now() + 7200,
        ),
    ] {
        let mut f = base(json!([rec(coord)]));
        f["created"] = json!(created);
        f["expires"] = json!(expires);
        refuse_forged(what, &f, &["package-expired"]);
    }
    // F7: a lifetime beyond the 30 days `share --ttl` allows (a package that would stay
    // receivable for years): invalid, before the sender is considered.
    for (what, coord, lifetime) in [
        (
            "forged, 31-day lifetime",
            "secret:dev/planted/ttl31",
            31 * 86400,
        ),
        (
            "forged, ten-year lifetime",
            "secret:dev/planted/ttl10y",
            10 * 365 * 86400,
        ),
    ] {
        let mut f = base(json!([rec(coord)]));
        let created = now() - 5;
        f["created"] = json!(created);
        f["expires"] = json!(created + lifetime);
        refuse_forged(what, &f, &["package-invalid"]);
    }
    // F6: duplicate and invalid coordinates.
    let f = base(json!([
        rec("secret:dev/planted/dup"),
        rec("secret:dev/planted/dup")
    ]));
    refuse_forged("forged, duplicate coordinates", &f, &["package-invalid"]);
    let f = base(json!([rec("secret:dev/../etc")]));
    refuse_forged("forged, invalid coordinate", &f, &["package-invalid"]);

    let mut values = a.values();
    values.push(&planted);
    assert_no_values(&[&a.h, &b], &values, &[&s.file, &genuine.file]);
    assert_token_nowhere(&[&b], &token, &[]);
}

/// §3: wrong token, package for someone else, truncated and corrupted files; each refused
/// with nothing imported, none of them uses the package up.
#[test]
fn bad_packages_and_tokens_import_nothing() {
    let a = Sender::new("bad");
    let b = Home::init();
    let c = Home::init();
    let idb = identity(&b);
    let idc = identity(&c);
    let own = canary("bad-own");
    add_ok(&b, "secret:dev/own/thing", &own, &[]);
    let r = Refusals::new(&b);
    let pb = a.h.root.join("to-b.age");
    let to_b = share(&a.h, &share_args("dev", &idb.recipient, &pb, SHAREABLE));
    let pc = a.h.root.join("to-c.age");
    let to_c = share(
        &a.h,
        &share_args("dev", &idc.recipient, &pc, &["--group", "db"]),
    );

    let wrong = random_token();
    let token_invalid = ["token-invalid"];
    r.file("wrong token", &to_b.file, &wrong, &token_invalid);
    r.file("not a token", &to_b.file, "hello", &token_invalid);
    r.tty(
        "wrong token at a terminal",
        &to_b.file,
        &wrong,
        &token_invalid,
    );
    r.file("for C", &to_c.file, &to_c.token, &["package-not-for-us"]);

    let bytes = std::fs::read(&to_b.file).unwrap();
    let write = |name: &str, data: &[u8]| {
        let p = b.root.join(name);
        std::fs::write(&p, data).unwrap();
        p
    };
    let truncated = write("truncated.age", &bytes[..bytes.len() / 2]);
    let mut corrupt = bytes.clone();
    // A base64 character in the middle of the armored body, swapped for another.
    let mid = corrupt.len() / 2;
    let at = (mid..corrupt.len())
        .find(|&i| corrupt[i].is_ascii_alphanumeric())
        .unwrap();
    corrupt[at] = if corrupt[at] == b'A' { b'B' } else { b'A' };
    let corrupted = write("corrupted.age", &corrupt);
    let tail_cut = write("tail-cut.age", &bytes[..bytes.len() - 40]);
    let empty = write("empty.age", b"");
    let junk = write(
        "junk.age",
        b"-----BEGIN AGE ENCRYPTED FILE-----\nnot age at all\n-----END AGE ENCRYPTED FILE-----\n",
    );
    for (what, p) in [
        ("truncated", &truncated),
        ("corrupted", &corrupted),
        ("tail cut", &tail_cut),
        ("empty", &empty),
        ("junk", &junk),
    ] {
        r.file(
            what,
            p,
            &to_b.token,
            &["package-invalid", "package-not-for-us"],
        );
    }
    let o = receive_file(&b, &b.root.join("no-such.age"), &to_b.token, &[]);
    assert!(!o.status.success(), "{}", describe(&o));
    assert_eq!(records(&b), r.before);
    let receives = audit_entries(&b, "receive");
    let denied = receives.iter().filter(|e| e["decision"] == "deny").count();
    assert!(denied >= 4, "refusals are not audited: {receives:?}");
    let text = serde_json::to_string(&receives).unwrap();
    assert!(
        text.contains("token-invalid") && text.contains("package-not-for-us"),
        "{text}"
    );

    // None of that used the package up: the right token (case and spaces forgiven) works.
    let sloppy = format!("  {}  ", to_b.token.to_lowercase().replace('-', " - "));
    let tf = token_file(&b, &sloppy);
    let run = kpty(
        &b,
        &[
            "receive",
            to_b.file.to_str().unwrap(),
            "--token-file",
            tf.to_str().unwrap(),
        ],
        &[(YES_NO, "y", 1), PROOF[0]],
    );
    let _ = std::fs::remove_file(tf);
    assert_eq!(run.code, Some(0), "{}", run.describe());
    assert_eq!(
        coordinates(&b),
        vec![HIGH, LOW, MEDIUM, "secret:dev/own/thing"]
    );
    assert_eq!(hash_via_run(&b, MEDIUM), sha256_hex(a.medium.as_bytes()));
    // C never received anything.
    assert!(coordinates(&c).is_empty());
    let mut values = a.values();
    values.push(&own);
    assert_no_values(
        &[&a.h, &b, &c],
        &values,
        &[&to_b.file, &to_c.file, &corrupted],
    );
}

/// §4: the USB kit, end to end between two homes through a folder.
#[test]
fn the_usb_kit_carries_records_to_a_new_vault() {
    let a = Sender::new("kit");
    let ida = identity(&a.h);
    let b = Home::new();
    let dir = a.h.root.join("stick");
    std::fs::create_dir_all(&dir).unwrap();
    let d = dir.to_str().unwrap();

    // init: the binary, the script, the readme; no secret.
    a.h.ok(&["kit", "init", d]);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, vec!["README.txt", "install.sh", "kovra"]);
    let meta = std::fs::metadata(dir.join("kovra")).unwrap();
    assert_eq!(
        meta.permissions().mode() & 0o777,
        0o755,
        "DIR/kovra is not 0755"
    );
    assert_eq!(
        std::fs::read(dir.join("kovra")).unwrap(),
        std::fs::read(kovra_bin()).unwrap(),
        "DIR/kovra is not a copy of the running binary"
    );
    assert_no_values(
        &[],
        &a.values(),
        &files_under(&dir)
            .iter()
            .map(PathBuf::as_path)
            .collect::<Vec<_>>(),
    );

    // The new machine: install.sh with B's home.
    let prefix = b.root.join("prefix");
    let mut sh = Command::new("sh");
    sh.arg(dir.join("install.sh"));
    let mut sh = with_env(&b, sh);
    sh.env("KOVRA_KIT_PREFIX", &prefix)
        .env("KOVRA_PASSPHRASE_FILE", &b.pass_file)
        .env("HOME", &b.root)
        .current_dir(&b.root);
    let o = b.run_with(sh, None);
    assert_eq!(o.status.code(), Some(0), "install.sh: {}", describe(&o));
    let installed = prefix.join("bin/kovra");
    assert!(
        installed.is_file()
            && std::fs::metadata(&installed).unwrap().permissions().mode() & 0o111 != 0,
        "no executable {}",
        installed.display()
    );
    assert!(
        b.home.join("vault.db").is_file(),
        "install.sh did not create B's vault"
    );
    let idb = identity(&b);
    let rtxt = std::fs::read_to_string(dir.join("recipient.txt")).expect("recipient.txt");
    assert!(
        rtxt.contains(&idb.recipient)
            && rtxt.contains(&idb.signing_key)
            && rtxt.contains(&idb.fingerprint),
        "{rtxt}"
    );
    assert!(
        stdout(&o).contains(&idb.fingerprint) || stderr(&o).contains(&idb.fingerprint),
        "install.sh does not print the fingerprint: {}",
        describe(&o)
    );

    // seal: refused without a terminal, or when the fingerprint is not confirmed.
    let o =
        a.h.run(&["kit", "seal", d, "--env", "dev", "--group", "db"]);
    assert!(!o.status.success(), "{}", describe(&o));
    assert!(!dir.join("package.age").exists());
    let seal = |answer: &str| {
        let mut args = vec!["kit", "seal", d, "--env", "dev"];
        args.extend_from_slice(SHAREABLE);
        kpty(&a.h, &args, &[(YES_NO, answer, 1), PROOF[0]])
    };
    let run = seal("n");
    assert_ne!(run.code, Some(0), "{}", run.describe());
    assert_eq!(
        run.error_code(),
        "fingerprint-mismatch",
        "{}",
        run.describe()
    );
    assert!(
        !dir.join("package.age").exists(),
        "sealed although not confirmed"
    );
    assert!(tokens_in(&run.all()).is_empty());
    let run = seal("y");
    assert_eq!(run.code, Some(0), "seal: {}", run.describe());
    let q = run
        .tty
        .lines()
        .find(|l| l.contains("does the new machine show"))
        .unwrap_or_else(|| panic!("no fingerprint question: {}", run.describe()))
        .to_string();
    assert_eq!(fingerprints_in(&q), vec![idb.fingerprint.clone()], "{q}");
    assert!(dir.join("package.age").is_file());
    let tokens = tokens_in(&run.tty);
    assert_eq!(tokens.len(), 1, "{}", run.describe());
    let token = tokens[0].clone();
    assert!(
        !run.stdout.contains(&token) && !run.stderr.contains(&token),
        "{}",
        run.describe()
    );
    assert_token_nowhere(&[&a.h], &token, &[&dir]);

    // install.sh unlocked B from a passphrase file, which proves nothing; the human on the
    // new machine unlocks at a terminal before opening.
    b.stop();
    b.unlock_typed();

    // open, on the new machine, with the token; A's fingerprint shown for acceptance.
    let open = || {
        kpty(
            &b,
            &["kit", "open", d],
            &[(r"token: ?$", &token, 1), (YES_NO, "y", 1), PROOF[0]],
        )
    };
    let run = open();
    assert_eq!(run.code, Some(0), "open: {}", run.describe());
    assert!(run.tty.contains(&ida.fingerprint), "{}", run.describe());
    assert_eq!(coordinates(&b), vec![HIGH, LOW, MEDIUM]);
    assert_eq!(reveal_plain(&b, LOW), a.low.as_bytes());
    assert_eq!(hash_via_run(&b, MEDIUM), sha256_hex(a.medium.as_bytes()));
    // Once only.
    let before = records(&b);
    let run = open();
    refused_run(
        &b,
        &before,
        "kit opened twice",
        &run,
        &["package-already-received"],
    );

    assert_token_nowhere(&[&a.h, &b], &token, &[&dir, &prefix]);
    let files: Vec<PathBuf> = files_under(&dir)
        .into_iter()
        .chain(files_under(&prefix))
        .collect();
    assert_no_values(
        &[&a.h, &b],
        &a.values(),
        &files.iter().map(PathBuf::as_path).collect::<Vec<_>>(),
    );
}

/// `receive` sent raw on `h`'s daemon socket (tests/support/raw_request.py), as a same-user
/// agent that declares `scope` (`null`: the full vault): the daemon's reply.
fn raw_receive(h: &Home, file: &Path, token: &str, scope: Value, force: bool) -> Value {
    let (code, status) = h.json(&["status"]);
    assert_eq!(code, 0, "status: {status}");
    let socket = status["socket"]
        .as_str()
        .unwrap_or_else(|| panic!("no socket in status: {status}"))
        .to_string();
    let envelope = json!({
        "v": 1,
        "context": {"surface": "cli", "origin": "agent", "scope": scope, "project": null},
        "request": {
            "op": "receive",
            "package": std::fs::read_to_string(file).unwrap(),
            "token": STANDARD.encode(token.as_bytes()),
            "force": force,
            "accept_sender": null,
            "proof": null,
        },
    });
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/raw_request.py");
    let mut py = Command::new("python3");
    py.arg(script).arg(&socket);
    let out = h.run_with(with_env(h, py), Some(envelope.to_string().as_bytes()));
    assert_eq!(
        out.status.code(),
        Some(0),
        "raw request: {}",
        describe(&out)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("the reply is not JSON ({e}): {}", describe(&out)))
}

/// A scope that grants everything but the environment `none`.
fn env_none_scope() -> Value {
    json!({
        "operations": ["metadata", "inject", "reveal", "write"],
        "projects": {"kind": "all"},
        "global": true,
        "environments": {"kind": "only", "names": ["none"]},
    })
}

/// §3, policy: a same-user agent that declares a scope narrowed to an environment the package
/// is not in must not skip a rule. A replacing `--force` without a proof imports nothing, and a
/// package for an environment the receiver declares production is refused, as with the full
/// scope.
#[test]
fn a_narrowed_agent_scope_skips_no_receive_rule() {
    let a = Sender::new("narrow");
    let b = Home::init();
    let idb = identity(&b);
    // B treats `live` as production; A does not, and shares it.
    b.stop();
    std::fs::write(
        b.home.join("config.toml"),
        "production_environments = [\"live\"]\n",
    )
    .unwrap();
    b.unlock_typed();
    let live = canary("narrow-live");
    add_ok(&a.h, "secret:live/app/x", &live, &["--sensitivity", "low"]);

    // B accepts A through a genuine package: it now holds MEDIUM.
    let p1 = a.h.root.join("first.age");
    let first = share(
        &a.h,
        &share_args("dev", &idb.recipient, &p1, &["--group", "db"]),
    );
    let run = receive_tty(&b, &first.file, &first.token, "y", &[]);
    assert_eq!(run.code, Some(0), "{}", run.describe());
    assert_eq!(coordinates(&b), vec![MEDIUM]);
    let held = sha256_hex(a.medium.as_bytes());
    assert_eq!(hash_via_run(&b, MEDIUM), held);

    // A changes the value and shares it again: a package that would replace MEDIUM.
    let newer = canary("narrow-newer");
    let o = a.h.run_stdin(&["set", MEDIUM, "--stdin"], newer.as_bytes());
    assert!(o.status.success(), "set: {}", describe(&o));
    let p2 = a.h.root.join("second.age");
    let second = share(
        &a.h,
        &share_args("dev", &idb.recipient, &p2, &["--group", "db"]),
    );
    let p3 = a.h.root.join("live.age");
    let to_live = share(&a.h, &share_args("live", &idb.recipient, &p3, &[]));
    let before = records(&b);

    // The raw client itself: with the full scope, the replacement needs a proof and the
    // production package is refused by policy.
    let v = raw_receive(&b, &second.file, &second.token, Value::Null, true);
    assert_eq!(v["status"], "needs-proof", "full scope, --force: {v}");
    let v = raw_receive(&b, &to_live.file, &to_live.token, Value::Null, false);
    assert_eq!(v["status"], "error", "full scope, production: {v}");
    assert_eq!(v["code"], "policy-denied", "full scope, production: {v}");
    assert_eq!(records(&b), before);

    // (a) Narrowed scope, force, no proof: never imported.
    let v = raw_receive(&b, &second.file, &second.token, env_none_scope(), true);
    let refused_or_proof = (v["status"] == "error"
        && ["not-found", "policy-denied"].contains(&v["code"].as_str().unwrap_or_default()))
        || v["status"] == "needs-proof";
    assert!(
        refused_or_proof,
        "a narrowed scope replaced records without a proof: {v}"
    );
    assert_eq!(records(&b), before, "records changed: {v}");
    assert_eq!(
        hash_via_run(&b, MEDIUM),
        held,
        "the value was replaced without a proof: {v}"
    );

    // (b) Narrowed scope, a package for B's production environment: refused, nothing imported.
    let v = raw_receive(&b, &to_live.file, &to_live.token, env_none_scope(), false);
    assert!(
        v["status"] == "error"
            && ["not-found", "policy-denied"].contains(&v["code"].as_str().unwrap_or_default()),
        "a narrowed scope imported a production package: {v}"
    );
    assert_eq!(records(&b), before, "records changed: {v}");
    assert!(
        !coordinates(&b)
            .iter()
            .any(|c| c.starts_with("secret:live/")),
        "{v}"
    );

    // Neither was used up: the human with a proof still can (the first), and production is
    // still refused at a terminal (the second).
    let run = receive_tty(&b, &second.file, &second.token, "n", &["--force"]);
    assert_eq!(run.code, Some(0), "{}", run.describe());
    assert_eq!(hash_via_run(&b, MEDIUM), sha256_hex(newer.as_bytes()));
    let after = Refusals::new(&b);
    after.tty(
        "production at a terminal",
        &to_live.file,
        &to_live.token,
        &["policy-denied"],
    );

    let mut values = a.values();
    values.push(&live);
    values.push(&newer);
    assert_no_values(
        &[&a.h, &b],
        &values,
        &[&first.file, &second.file, &to_live.file],
    );
    for t in [&first.token, &second.token, &to_live.token] {
        assert_token_nowhere(&[&b], t, &[]);
    }
}
