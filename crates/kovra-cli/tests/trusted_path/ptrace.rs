//! Issue 11 §1: a CLI waiting at a hidden passphrase prompt is non-dumpable, so a same-user
//! agent can neither trace it (`strace -p`, and read the passphrase from its `read()`) nor
//! read its `/proc/PID/environ`.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use crate::harness::*;
use crate::leak::*;
use crate::nonroot;

const HIGH: &str = "secret:dev/api/key";

/// `kovra approve ID` waiting at its prompt on a pseudo-terminal nobody types on
/// (`tests/support/pty_hold.py`); killed (by its pid) when dropped.
struct Waiting {
    holder: Child,
    state: std::path::PathBuf,
}

impl Drop for Waiting {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

impl Waiting {
    fn screen(&self) -> String {
        std::fs::read_to_string(self.state.join("screen")).unwrap_or_default()
    }
}

#[test]
fn tracing_a_waiting_cli_is_refused() {
    if nonroot::test_user("ptrace::tracing_a_waiting_cli_is_refused") {
        return;
    }
    let strace = Command::new("strace").arg("-V").output();
    assert!(
        strace.is_ok_and(|o| o.status.success()),
        "strace is required (scripts/test.sh installs it)"
    );
    let h = Home::init();
    add_ok(&h, HIGH, &canary("ptrace"), &["--sensitivity", "high"]);
    let parked = agent(&h, &h.root, &["edit", HIGH, "--sensitivity", "low"], &[]);
    let id = approval_id(&parked)
        .filter(|_| parked.status.code() == Some(5))
        .unwrap_or_else(|| panic!("the agent's edit was not parked: {}", describe(&parked)));

    // The human's `kovra approve ID`, waiting for the passphrase.
    let state = h.root.join("hold");
    std::fs::create_dir_all(&state).expect("mkdir hold");
    let mut c = Command::new("python3");
    c.arg(support_dir().join("pty_hold.py"))
        .arg(&state)
        .arg("60")
        .arg("--")
        .arg(kovra_bin())
        .args(["approve", &id])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut c = h.with_env(c);
    let waiting = Waiting {
        holder: c.spawn().expect("spawn pty_hold.py"),
        state: state.clone(),
    };
    let prompted = wait_until(Instant::now() + Duration::from_secs(30), || {
        state.join("prompt").exists() || state.join("screen").exists()
    });
    assert!(
        prompted && state.join("prompt").exists(),
        "`kovra approve {id}` did not wait at a prompt: {}",
        waiting.screen()
    );
    let pid = std::fs::read_to_string(state.join("pid")).expect("pid file");
    let pid = pid.trim().to_string();
    assert!(!gone(pid.parse().expect("pid")), "the CLI already exited");

    let mut findings = Vec::new();
    // The agent (same uid, not root) attaches strace to it.
    let out = Command::new("timeout")
        .args([
            "-k",
            "2",
            "2",
            "strace",
            "-f",
            "-p",
            &pid,
            "-e",
            "trace=read",
        ])
        .args(["-o", "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .expect("run strace");
    if !stderr(&out).contains("Operation not permitted") {
        findings.push(format!(
            "`strace -p {pid}` attached to the waiting `kovra approve` (exit {:?}): {}",
            out.status.code(),
            stderr(&out).trim()
        ));
    }
    // And reads its environment.
    match std::fs::read(format!("/proc/{pid}/environ")) {
        Ok(_) => findings.push(format!(
            "/proc/{pid}/environ of the waiting `kovra approve` is readable"
        )),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {}
        Err(e) => findings.push(format!(
            "/proc/{pid}/environ: want permission denied, got {e}"
        )),
    }
    assert!(
        !gone(pid.parse().expect("pid")),
        "the CLI exited while being checked: {}",
        waiting.screen()
    );
    drop(waiting);
    assert_no_findings("tracing a waiting CLI", &findings);
}
