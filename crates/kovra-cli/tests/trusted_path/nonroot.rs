//! Run a test's body as the unprivileged user `kovra-test`.
//!
//! Root can ptrace and read every process, so a defence tested as root proves nothing (see
//! THREAT-MODEL.md). CI runs `cargo test` as root from a clone in a folder other users may
//! not be able to enter; so when we are root, [`test_user`] puts this test binary, the `kovra`
//! binary and `tests/support` into a fresh world-readable directory under /tmp (hard links
//! where the filesystem allows, else copies), creates the user if it is missing, and runs
//! this one test again from that copy as the user: in a new session (no controlling
//! terminal), through `setpriv` (no supplementary groups, no capabilities), with a small fixed
//! environment. `KOVRA_TEST_BIN`, `KOVRA_TEST_SUPPORT` (and `KOVRA_TEST_TOOLS`, for the
//! `target/test-tools` a test asks for) point the harness at the copies,
//! `HOME` at a home of the user's own, and `KOVRA_TEST_NONROOT=1` marks the run. The root
//! side asserts that the child ran the test and passed, and shows the child's output when it
//! did not. When we are not root, the body runs here, directly.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::harness::{describe, drain, support_dir};

pub const TEST_USER: &str = "kovra-test";
/// A whole test body, as the user, must finish within this.
const CHILD_TIMEOUT: Duration = Duration::from_secs(420);

/// Call first in every test, with the test's path below the crate (`module::name`):
/// `if test_user("relay::name") { return; }`. Returns `true` when the body already ran (and
/// passed) in a child as the test user; `false` when the caller is the test user and must
/// run the body now.
pub fn test_user(test: &str) -> bool {
    test_user_with_tools(test, &[])
}

/// [`test_user`], with the `target/test-tools` directories named in `tools` (installed by
/// scripts/test.sh) copied where the user can read them: `harness::test_tool_dir` finds
/// them there. A tool that is not installed is not copied (the body then says so).
pub fn test_user_with_tools(test: &str, tools: &[&str]) -> bool {
    if !nix::unistd::geteuid().is_root() {
        assert_not_root();
        return false;
    }
    run_child(test, tools);
    true
}

/// Every body checks it: nothing here may pass silently as root.
pub fn assert_not_root() {
    assert!(
        !nix::unistd::geteuid().is_root() && !nix::unistd::getuid().is_root(),
        "this test must run as a non-root user"
    );
}

/// The test user's uid and gid, creating the user once if it is missing.
fn ensure_user() -> (u32, u32) {
    static USER: OnceLock<(u32, u32)> = OnceLock::new();
    static CREATE: Mutex<()> = Mutex::new(());
    *USER.get_or_init(|| {
        let _guard = CREATE.lock().unwrap_or_else(|e| e.into_inner());
        if lookup().is_none() {
            let out = Command::new("useradd")
                .args([
                    "--system",
                    "--create-home",
                    "--shell",
                    "/bin/bash",
                    TEST_USER,
                ])
                .output()
                .expect("run useradd");
            // Another process may have created it meanwhile: only the lookup decides.
            assert!(
                lookup().is_some(),
                "cannot create the test user {TEST_USER}: {}",
                describe(&out)
            );
        }
        lookup().expect("test user")
    })
}

fn lookup() -> Option<(u32, u32)> {
    let user = nix::unistd::User::from_name(TEST_USER).ok()??;
    Some((user.uid.as_raw(), user.gid.as_raw()))
}

/// `from` at `to`: a hard link when possible (same filesystem; keeps mode 0755 binaries as
/// they are), else a copy made readable (and executable when `exec`) by everyone.
fn place(from: &Path, to: &Path, exec: bool) {
    if std::fs::hard_link(from, to).is_ok() {
        let mode = std::fs::metadata(to)
            .expect("metadata")
            .permissions()
            .mode();
        let want = if exec { 0o005 } else { 0o004 };
        if mode & want == want {
            return;
        }
        std::fs::remove_file(to).expect("unlink");
    }
    crate::harness::install_program(from, to, if exec { 0o755 } else { 0o644 });
}

fn chown(p: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::chown(p, Some(uid), Some(gid))
        .unwrap_or_else(|e| panic!("chown {}: {e}", p.display()));
}

/// A copy of the tree at `from` at `to` (hard links where possible), symbolic links kept as
/// links, readable by everyone.
fn place_tree(from: &Path, to: &Path) {
    std::fs::create_dir(to).unwrap_or_else(|e| panic!("mkdir {}: {e}", to.display()));
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("{}: {e}", from.display())) {
        let entry = entry.expect("entry");
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type().expect("file type");
        if kind.is_symlink() {
            let target = std::fs::read_link(&src).expect("readlink");
            std::os::unix::fs::symlink(target, &dst).expect("symlink");
        } else if kind.is_dir() {
            place_tree(&src, &dst);
        } else {
            let mode = std::fs::metadata(&src)
                .expect("metadata")
                .permissions()
                .mode();
            place(&src, &dst, mode & 0o111 != 0);
        }
    }
}

fn run_child(test: &str, tools: &[&str]) {
    let (uid, gid) = ensure_user();
    let dir = tempfile::Builder::new()
        .prefix("kovra-nr")
        .tempdir_in("/tmp")
        .expect("tempdir");
    let root = dir.path();
    std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let me = std::env::current_exe().expect("current_exe");
    let exe = root.join(me.file_name().expect("the test binary's name"));
    place(&me, &exe, true);
    let kovra = root.join("kovra");
    place(&crate::harness::kovra_bin(), &kovra, true);
    // The front hands every command but run/status/list to kovra-full beside it.
    let full = crate::harness::kovra_bin().with_file_name("kovra-full");
    place(&full, &root.join("kovra-full"), true);
    let support = root.join("support");
    std::fs::create_dir(&support).expect("mkdir support");
    std::fs::set_permissions(&support, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    for entry in std::fs::read_dir(support_dir()).expect("tests/support") {
        let p = entry.expect("entry").path();
        if p.extension().is_some_and(|e| e == "py") {
            place(&p, &support.join(p.file_name().expect("name")), false);
        }
    }
    let tools_dir = root.join("tools");
    std::fs::create_dir(&tools_dir).expect("mkdir tools");
    std::fs::set_permissions(&tools_dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    for tool in tools {
        let from = crate::harness::test_tool_dir(tool);
        if from.is_dir() {
            place_tree(&from, &tools_dir.join(tool));
        }
    }
    let home = root.join("home");
    std::fs::create_dir(&home).expect("mkdir home");
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    chown(&home, uid, gid);

    // A new session first: no controlling terminal, so `kovra` started without a PTY is an
    // agent even when cargo runs on a developer's terminal.
    let mut c = Command::new("setsid");
    c.args(["--wait", "setpriv"])
        .arg(format!("--reuid={uid}"))
        .arg(format!("--regid={gid}"))
        .args(["--clear-groups", "--inh-caps=-all", "--"])
        .arg(&exe)
        // This body runs only when this test was asked for, `--ignored` included: so the
        // child runs it even when it is `#[ignore]`d (else it would skip it, and pass).
        .args([
            test,
            "--exact",
            "--include-ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env_clear()
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .env("HOME", &home)
        .env("USER", TEST_USER)
        .env("LOGNAME", TEST_USER)
        .env("LANG", "C.UTF-8")
        .env("TMPDIR", "/tmp")
        .env("KOVRA_TEST_BIN", &kovra)
        .env("KOVRA_TEST_SUPPORT", &support)
        .env("KOVRA_TEST_TOOLS", &tools_dir)
        .env("KOVRA_TEST_NONROOT", "1")
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn setpriv");
    let out_thread = drain(child.stdout.take().expect("stdout"));
    let err_thread = drain(child.stderr.take().expect("stderr"));
    let deadline = Instant::now() + CHILD_TIMEOUT;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break Some(s);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stdout = String::from_utf8_lossy(&out_thread.join().unwrap_or_default()).into_owned();
    let stderr = String::from_utf8_lossy(&err_thread.join().unwrap_or_default()).into_owned();
    let status = status.unwrap_or_else(|| {
        panic!("{test} as {TEST_USER} timed out after {CHILD_TIMEOUT:?}:\n{stdout}\n{stderr}")
    });
    // The child really ran this one test (a filter that matched nothing would pass too).
    assert!(
        stdout.contains("running 1 test"),
        "{test} did not run as {TEST_USER} ({status}):\n{stdout}\n{stderr}"
    );
    assert!(
        status.success() && stdout.contains("1 passed"),
        "{test} failed as {TEST_USER} ({status}):\n{stdout}\n{stderr}"
    );
    drop(dir);
}
