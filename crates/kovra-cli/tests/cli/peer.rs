//! The daemon's socket: peers of another uid are refused (tests run as root; the other
//! user is `nobody`), hostile frames are refused without taking the daemon down, and the
//! daemon is non-dumpable, so a same-uid process cannot read its memory or environment.

use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

use crate::harness::*;
use crate::leak::*;

const NOBODY: u32 = 65534;

/// Connects to a unix socket, sends one frame (4-byte big-endian length + argv[2]) and
/// prints the one reply frame's JSON (the daemon keeps a served connection open), `CLOSED` if the daemon hung up without one, or
/// `CONNECT-FAILED <errno>` if the socket could not be reached.
const CLIENT_PY: &str = r#"
import socket, struct, sys
path, req = sys.argv[1], sys.argv[2].encode()
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(20)
try:
    s.connect(path)
except OSError as e:
    print("CONNECT-FAILED", e.errno)
    sys.exit(0)
try:
    s.sendall(struct.pack(">I", len(req)) + req)
except OSError:
    pass
def read(n):
    buf = b""
    try:
        while len(buf) < n:
            d = s.recv(n - len(buf))
            if not d:
                break
            buf += d
    except OSError:
        pass
    return buf
head = read(4)
if len(head) < 4:
    print("CLOSED")
else:
    print(read(struct.unpack(">I", head)[0]).decode())
"#;

fn status_request() -> String {
    r#"{"v":1,"context":{"surface":"cli","origin":"human"},"request":{"op":"status"}}"#.to_string()
}

/// Run the framed client as `nobody` (or as root when `as_nobody` is false).
fn py_client(socket: &Path, request: &str, as_nobody: bool) -> String {
    let mut c = if as_nobody {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            "/usr/bin/python3",
        ]);
        c
    } else {
        Command::new("/usr/bin/python3")
    };
    let out = c
        .args(["-I", "-c", CLIENT_PY])
        .arg(socket)
        .arg(request)
        .current_dir("/")
        .stdin(Stdio::null())
        .output()
        .expect("run python3 client");
    assert!(
        out.status.success(),
        "python client failed: {}",
        describe(&out)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn socket_of(h: &Home) -> PathBuf {
    let (_, status) = h.json(&["status"]);
    PathBuf::from(status["socket"].as_str().expect("socket path"))
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).expect("metadata").permissions().mode() & 0o7777
}

fn chmod(p: &Path, m: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).expect("chmod");
}

/// Open the path from the test's temp root to the socket to other users, and restore the
/// modes on drop.
struct Opened(Vec<(PathBuf, u32)>);

impl Opened {
    fn new(h: &Home, socket: &Path) -> Opened {
        let mut saved = Vec::new();
        let mut dirs = vec![h.root.clone()];
        let mut d = socket.parent().expect("socket dir").to_path_buf();
        while d != h.root && d.starts_with(&h.root) {
            dirs.push(d.clone());
            d = d.parent().expect("parent").to_path_buf();
        }
        for dir in dirs {
            saved.push((dir.clone(), mode(&dir)));
            chmod(&dir, 0o711);
        }
        saved.push((socket.to_path_buf(), mode(socket)));
        chmod(socket, 0o777);
        Opened(saved)
    }
}

impl Drop for Opened {
    fn drop(&mut self) {
        for (p, m) in self.0.iter().rev() {
            let _ = std::fs::set_permissions(p, std::fs::Permissions::from_mode(*m));
        }
    }
}

#[test]
fn a_peer_of_another_uid_is_refused() {
    let h = Home::init();
    let secret = canary("peer");
    h.add_ok(
        "secret:dev/peer/token",
        secret.as_bytes(),
        &["--revealable"],
    );
    let socket = socket_of(&h);
    // First line of defence: the socket is 0600 in a 0700 directory.
    assert_eq!(mode(&socket), 0o600, "socket mode");
    assert_eq!(
        mode(socket.parent().expect("dir")),
        0o700,
        "socket dir mode"
    );
    let blocked = py_client(&socket, &status_request(), true);
    assert!(
        blocked.starts_with("CONNECT-FAILED"),
        "nobody reached a 0600 socket: {blocked}"
    );

    // Second line: with the modes opened up, SO_PEERCRED still refuses the other uid.
    let opened = Opened::new(&h, &socket);
    let reveal = r#"{"v":1,"context":{"surface":"cli","origin":"human"},"request":{"op":"reveal","coordinate":"secret:dev/peer/token"}}"#.to_string();
    let unlock = format!(
        r#"{{"v":1,"context":{{"surface":"cli","origin":"human"}},"request":{{"op":"unlock","passphrase":"{PASSPHRASE}"}}}}"#
    );
    for request in [status_request(), reveal, unlock] {
        let answer = py_client(&socket, &request, true);
        assert!(
            !answer.starts_with("CONNECT-FAILED"),
            "the test must reach the socket as nobody: {answer}"
        );
        if answer != "CLOSED" {
            let v: Value = serde_json::from_str(&answer).expect("reply JSON");
            assert_eq!(v["status"], "error", "{v}");
            assert_eq!(v["code"], "peer-refused", "{v}");
        }
        assert!(!answer.contains("daemon_pid"), "a status leaked: {answer}");
        assert!(!answer.contains(&secret), "a value leaked: {answer}");
    }

    // The same frames from root (the daemon's own uid) are served.
    let answer = py_client(&socket, &status_request(), false);
    let v: Value = serde_json::from_str(&answer).expect("reply JSON");
    assert_eq!(v["status"], "ok", "{v}");
    assert_eq!(v["reply"]["kind"], "status", "{v}");
    assert!(v["reply"]["daemon_pid"].as_u64().is_some(), "{v}");
    drop(opened);
    assert_eq!(mode(&socket), 0o600);
    assert_not_printed(&h, &secret, "the secret");
}

/// Send raw bytes as root and read one reply frame (None if the daemon hung up first).
fn raw(socket: &Path, bytes: &[u8], close_write: bool) -> Option<Value> {
    let mut s = UnixStream::connect(socket).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let _ = s.write_all(bytes);
    if close_write {
        let _ = s.shutdown(std::net::Shutdown::Write);
    }
    let mut len = [0u8; 4];
    s.read_exact(&mut len).ok()?;
    let n = u32::from_be_bytes(len) as usize;
    assert!(n < 1 << 20, "reply frame of {n} bytes");
    let mut buf = vec![0u8; n];
    s.read_exact(&mut buf).expect("reply body");
    Some(serde_json::from_slice(&buf).expect("reply JSON"))
}

fn framed(json: &[u8]) -> Vec<u8> {
    let mut v = (json.len() as u32).to_be_bytes().to_vec();
    v.extend_from_slice(json);
    v
}

fn assert_error(reply: Option<Value>, code: &str, what: &str) -> Value {
    let v = reply.unwrap_or_else(|| panic!("{what}: no reply"));
    assert_eq!(v["status"], "error", "{what}: {v}");
    assert_eq!(v["code"], code, "{what}: {v}");
    v
}

fn still_serving(h: &Home, pid: u32) {
    let (code, status) = h.json(&["status"]);
    assert_eq!(code, 0, "{status}");
    assert_eq!(
        status["daemon_pid"].as_u64(),
        Some(u64::from(pid)),
        "the daemon must survive (same pid)"
    );
    assert_eq!(status["unlocked"], true, "{status}");
}

#[test]
fn hostile_frames_are_refused_and_the_daemon_survives() {
    let h = Home::init();
    let socket = socket_of(&h);
    let pid = h.daemon_pid().expect("daemon pid");

    // A huge length prefix: refused before anything is allocated or read.
    let v = assert_error(
        raw(&socket, &[0xff; 4], false),
        "bad-request",
        "4 GiB frame",
    );
    assert!(
        v["message"].as_str().unwrap_or("").contains("too large"),
        "{v}"
    );
    still_serving(&h, pid);
    let just_over = (((1u32 << 20) + 1).to_be_bytes()).to_vec();
    assert_error(
        raw(&socket, &just_over, false),
        "bad-request",
        "1 MiB + 1 frame",
    );
    still_serving(&h, pid);

    // A frame cut short, and a connection closed mid-length.
    let mut cut = 100u32.to_be_bytes().to_vec();
    cut.extend_from_slice(b"{\"v\":1,");
    let _ = raw(&socket, &cut, true);
    let _ = raw(&socket, &[0, 0], true);
    still_serving(&h, pid);

    // Malformed JSON: bad-request, and the reply does not echo the input.
    let marker = canary("echo");
    let bad = format!("{{\"v\":1,\"context\":{{\"surface\":\"cli\"}} {marker}");
    let v = assert_error(
        raw(&socket, &framed(bad.as_bytes()), false),
        "bad-request",
        "bad JSON",
    );
    assert!(!v.to_string().contains(&marker), "input echoed: {v}");
    // Valid JSON, unknown operation, a value in a field serde would quote.
    let unknown = format!(
        r#"{{"v":1,"context":{{"surface":"cli","origin":"human"}},"request":{{"op":"{marker}"}}}}"#
    );
    let v = assert_error(
        raw(&socket, &framed(unknown.as_bytes()), false),
        "bad-request",
        "unknown op",
    );
    assert!(!v.to_string().contains(&marker), "input echoed: {v}");
    // Not JSON at all, and an empty frame.
    assert_error(
        raw(&socket, &framed(b"\xff\xfe\x00garbage"), false),
        "bad-request",
        "binary",
    );
    assert_error(
        raw(&socket, &framed(b""), false),
        "bad-request",
        "empty frame",
    );
    // Another protocol version.
    let v99 = br#"{"v":99,"context":{"surface":"cli","origin":"human"},"request":{"op":"status"}}"#;
    assert_error(raw(&socket, &framed(v99), false), "protocol-version", "v99");
    still_serving(&h, pid);

    // And a well-formed request on a fresh connection is served normally.
    let ok = raw(&socket, &framed(status_request().as_bytes()), false).expect("reply");
    assert_eq!(ok["status"], "ok", "{ok}");
    assert_not_printed(&h, &marker, "the marker");
}

// ---- non-dumpable --------------------------------------------------------------------

fn uid_line(pid: u32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .map(str::to_string)
}

fn as_nobody(program: &str) -> Command {
    let mut c = Command::new("setpriv");
    c.args([
        "--reuid=nobody",
        "--regid=nogroup",
        "--clear-groups",
        program,
    ])
    .env_clear()
    .env("PATH", "/usr/bin:/bin")
    .current_dir("/");
    c
}

/// Wait until `pid` runs as nobody (setpriv has exec'd the program).
fn wait_for_nobody(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if uid_line(pid).is_some_and(|l| l.split_whitespace().nth(1) == Some("65534")) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "process {pid} never ran as nobody"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Kills (by pid) and reaps a child this test started.
struct Reaped(std::process::Child, Signal);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = kill(Pid::from_raw(self.0.id() as i32), self.1);
        let _ = self.0.wait();
    }
}

/// Run as root, every /proc/PID file looks the same whatever the dumpable flag, so run a
/// daemon as `nobody`: for a non-dumpable process the kernel makes /proc/PID/* owned by
/// root, and refuses its environment (and memory) to other processes of the same uid.
/// A dumpable `sleep` run the same way is the control.
#[test]
fn the_daemon_is_non_dumpable() {
    let dir = tempfile::Builder::new()
        .prefix("kovra-d")
        .tempdir_in("/tmp")
        .expect("tempdir");
    std::os::unix::fs::chown(dir.path(), Some(NOBODY), Some(NOBODY)).expect("chown");
    chmod(dir.path(), 0o700);
    let home = dir.path().join("home");
    let runtime = dir.path().join("rt");
    let kovra = kovra_bin();
    let daemon = as_nobody(kovra.to_str().expect("utf8"))
        .arg("daemon")
        .env("KOVRA_HOME", &home)
        .env("XDG_RUNTIME_DIR", &runtime)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the daemon as nobody");
    let daemon = Reaped(daemon, Signal::SIGTERM);
    let pid = daemon.0.id();
    // The socket appears after hardening.
    let deadline = Instant::now() + Duration::from_secs(10);
    let sock_dir = runtime.join("kovra");
    while !std::fs::read_dir(&sock_dir)
        .map(|mut d| d.any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".sock"))))
        .unwrap_or(false)
    {
        assert!(
            Instant::now() < deadline,
            "the daemon (as nobody) never listened"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    wait_for_nobody(pid);

    let control = as_nobody("/bin/sleep")
        .arg("60")
        .stdin(Stdio::null())
        .spawn()
        .expect("sleep as nobody");
    let control = Reaped(control, Signal::SIGKILL);
    let control_pid = control.0.id();
    wait_for_nobody(control_pid);
    // Between setpriv's setuid and its exec the kernel keeps a process non-dumpable; only
    // the exec'd `sleep` shows what a dumpable process of nobody's looks like.
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(format!("/proc/{control_pid}/comm"))
        .map_or(true, |c| c.trim() != "sleep")
    {
        assert!(Instant::now() < deadline, "the control never exec'd sleep");
        std::thread::sleep(Duration::from_millis(10));
    }

    let owner = |pid: u32| {
        std::fs::metadata(format!("/proc/{pid}/environ"))
            .expect("proc environ")
            .uid()
    };
    assert_eq!(
        owner(control_pid),
        NOBODY,
        "control: a dumpable process owns its /proc files"
    );
    assert_eq!(
        owner(pid),
        0,
        "the daemon's /proc files must be root's (dumpable = 0)"
    );

    let read_environ = |pid: u32| {
        as_nobody("/bin/cat")
            .arg(format!("/proc/{pid}/environ"))
            .stdin(Stdio::null())
            .output()
            .expect("cat as nobody")
    };
    let out = read_environ(control_pid);
    assert!(
        out.status.success(),
        "control environ readable: {}",
        describe(&out)
    );
    let out = read_environ(pid);
    assert!(
        !out.status.success() && out.stdout.is_empty(),
        "a same-uid process read the daemon's environment: {}",
        describe(&out)
    );
    let mem = as_nobody("/usr/bin/python3")
        .args([
            "-I",
            "-c",
            "import sys\ntry:\n open(sys.argv[1],'rb').read(1)\n print('READ')\nexcept OSError as e:\n print('DENIED', e.errno)",
        ])
        .arg(format!("/proc/{pid}/mem"))
        .output()
        .expect("python as nobody");
    assert!(
        String::from_utf8_lossy(&mem.stdout).starts_with("DENIED"),
        "a same-uid process opened the daemon's memory: {}",
        describe(&mem)
    );
    drop(control);
    drop(daemon);
}
