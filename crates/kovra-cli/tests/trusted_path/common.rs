//! Helpers shared by the trusted-path tests: the human at a (pseudo-)terminal, the agent
//! without one, parked approvals, processes, and small attack tools built on the spot.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::*;
use crate::leak::canary;

/// A prompt for a passphrase or a code, at the end of what the terminal shows.
const PROMPT: &str = r"(?:passphrase|code)[^\n]*:\s*$";

/// A human at a real pseudo-terminal (`tests/support/pty_script.py`): runs `kovra ARGS` in
/// `dir`, typing `answers` in order at each passphrase or code prompt. The child is killed
/// after `timeout_secs` (exit 124), so a prompt asked again never hangs the test. Stdout is
/// everything the terminal showed.
pub fn pty(
    h: &Home,
    dir: Option<&Path>,
    args: &[&str],
    answers: &[&str],
    timeout_secs: u64,
) -> Output {
    static N: AtomicUsize = AtomicUsize::new(0);
    let rules: Vec<Value> = answers
        .iter()
        .map(|a| json!({"expect": PROMPT, "send": a, "times": 1}))
        .collect();
    let spec = json!({"rules": rules, "timeout": timeout_secs});
    let spec_file = h
        .root
        .join(format!("pty-{}.json", N.fetch_add(1, Ordering::Relaxed)));
    std::fs::write(&spec_file, spec.to_string()).expect("write pty spec");
    let mut py = h.support_cmd("pty_script.py", [&spec_file], args);
    if let Some(d) = dir {
        py.current_dir(d);
    }
    let out = h.run_with(py, None);
    let _ = std::fs::remove_file(&spec_file);
    out
}

/// Store `value` at `coord` with `extra` flags; it must succeed.
pub fn add_ok(h: &Home, coord: &str, value: &str, extra: &[&str]) {
    let out = h.add(coord, value.as_bytes(), extra);
    assert!(out.status.success(), "add: {}", describe(&out));
}

/// A fresh unlocked home holding a canary (named after `tag`) at `coord`, stored with `extra`
/// flags; the home and the canary.
pub fn home_with_canary(tag: &str, coord: &str, extra: &[&str]) -> (Home, String) {
    let h = Home::init();
    let value = canary(tag);
    add_ok(&h, coord, &value, extra);
    (h, value)
}

/// A project directory `work` under the root whose `.env.refs` has `TOKEN=coord`.
pub fn work_with_token(h: &Home, coord: &str) -> PathBuf {
    let work = h.root.join("work");
    std::fs::create_dir_all(&work).expect("mkdir work");
    std::fs::write(work.join(".env.refs"), format!("TOKEN={coord}\n")).expect("refs");
    work
}

/// The human allowlists `path`; it must succeed.
pub fn human_allows_ok(h: &Home, path: &Path) {
    let out = human_allows(h, path);
    assert!(
        out.status.success(),
        "allow add {}: {}",
        path.display(),
        describe(&out)
    );
}

/// The agent: `kovra ARGS` in `dir`, no terminal, stdin closed, with `env` added.
pub fn agent(h: &Home, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = h.cmd(args);
    c.current_dir(dir);
    for (k, v) in env {
        c.env(k, v);
    }
    h.run_with(c, None)
}

/// Everything a command printed, both streams.
pub fn text(out: &Output) -> String {
    format!("{}{}", stdout(out), stderr(out))
}

/// The id in "approval needed: ID", if the output has one.
pub fn approval_id(out: &Output) -> Option<String> {
    let t = text(out);
    let rest = t.split("approval needed: ").nth(1)?;
    let id: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    (!id.is_empty()).then_some(id)
}

/// The stable error code of a `--json` error document on stdout.
pub fn json_error_code(out: &Output) -> Option<String> {
    let v: Value = serde_json::from_slice(&out.stdout).ok()?;
    v["error"]["code"].as_str().map(str::to_string)
}

/// The human approves parked request `id` at their terminal, with the passphrase.
pub fn human_approves(h: &Home, id: &str) -> Result<(), String> {
    let out = pty(h, None, &["approve", id], &[PASSPHRASE], 60);
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("`kovra approve {id}` failed: {}", describe(&out)))
    }
}

/// The agent runs `args` in `dir` (it must be parked: exit 5 with an id), and the human
/// approves it. Nothing of the approved request runs yet.
pub fn park_and_approve(
    h: &Home,
    dir: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> Result<(), String> {
    let out = agent(h, dir, args, env);
    let Some(id) = approval_id(&out).filter(|_| out.status.code() == Some(5)) else {
        return Err(format!(
            "the agent's {args:?} was not parked for approval: {}",
            describe(&out)
        ));
    };
    human_approves(h, &id)
}

/// The human adds `path` to the allowlist at their terminal.
pub fn human_allows(h: &Home, path: &Path) -> Output {
    pty(
        h,
        None,
        &["allow", "add", path.to_str().expect("utf8")],
        &[PASSPHRASE],
        60,
    )
}

/// Poll `f` until it holds or `deadline` passes; whether it held.
pub fn wait_until(deadline: Instant, mut f: impl FnMut() -> bool) -> bool {
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Compile `source` (C) into a shared object `name.so` in `dir`.
pub fn compile_so(dir: &Path, name: &str, source: &str) -> PathBuf {
    let src = dir.join(format!("{name}.c"));
    let so = dir.join(format!("{name}.so"));
    std::fs::write(&src, source).expect("write C source");
    let out = Command::new("gcc")
        .args(["-shared", "-fPIC", "-O1", "-o"])
        .arg(&so)
        .arg(&src)
        .arg("-ldl")
        .output()
        .expect("gcc is installed");
    assert!(out.status.success(), "gcc {name}: {}", describe(&out));
    so
}

/// A C string literal for `s` (paths only: no quotes or backslashes expected).
pub fn c_str(s: &Path) -> String {
    let s = s.to_str().expect("utf8");
    assert!(!s.contains(['"', '\\', '\n']), "unexpected path {s}");
    format!("\"{s}\"")
}

/// A file that `sh` runs: `#!/bin/sh` then `body`, mode 0755.
pub fn script(path: &Path, body: &str) {
    crate::harness::write_program(path, &format!("#!/bin/sh\n{body}\n"));
}

/// Fail with every finding at once (each line one missing defence).
pub fn assert_no_findings(what: &str, findings: &[String]) {
    assert!(
        findings.is_empty(),
        "{what}: {} finding(s):\n- {}",
        findings.len(),
        findings.join("\n- ")
    );
}

/// A low ed25519 key made by OpenSSH and added at `coord` (so its private half is known here
/// and can be looked for): its PEM; the public half stays at `root/id_deploy.pub`.
pub fn openssh_key_in_vault(h: &Home, coord: &str) -> String {
    let made = h.root.join("id_deploy");
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "deploy", "-f"])
        .arg(&made)
        .output()
        .unwrap();
    assert!(out.status.success(), "ssh-keygen: {}", describe(&out));
    let pem = std::fs::read_to_string(&made).unwrap();
    let out = h.add(
        coord,
        pem.as_bytes(),
        &["--ssh-key", "--sensitivity", "low"],
    );
    assert!(out.status.success(), "add --ssh-key: {}", describe(&out));
    std::fs::remove_file(&made).unwrap();
    pem
}
