//! `kovra run`: real children (`sh`, `python3`, `cat`, `python3 -m http.server`) started by
//! the daemon with `.env.refs` values in their environment. Exit codes and signal deaths,
//! stdin passthrough, streaming, signal forwarding, pseudo-terminals; redaction of every
//! common encoding of a canary; `KOVRA_*` scrubbing; `--only`, `--no-secrets`, literals and
//! fallbacks; no plaintext in any file; and bad input that must stop the run before anything
//! is injected or started.
//!
//! A value is proven to be injected without ever printing it: the child prints its SHA-256
//! or its length, and the test compares with what it computes itself.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use base64::Engine;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::harness::*;
use crate::leak::*;

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// A vault home plus a project directory to run in (the children's working directory).
struct Proj {
    h: Home,
    dir: PathBuf,
}

impl Proj {
    fn new() -> Proj {
        let h = Home::init();
        let dir = h.root.join("proj");
        std::fs::create_dir_all(&dir).unwrap();
        Proj { h, dir }
    }

    /// Write `./.env.refs`.
    fn refs(&self, text: &str) {
        std::fs::write(self.dir.join(".env.refs"), text).unwrap();
    }

    /// Store a record; it must succeed.
    fn add(&self, coord: &str, value: &str, extra: &[&str]) {
        let out = self.h.add(coord, value.as_bytes(), extra);
        assert!(out.status.success(), "add {coord}: {}", describe(&out));
    }

    /// A `kovra` command in the project directory.
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self.h.cmd(args);
        c.current_dir(&self.dir);
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.h.run_with(self.cmd(args), None)
    }

    fn run_env(&self, env: &[(&str, &str)], args: &[&str]) -> Output {
        let mut c = self.cmd(args);
        for (k, v) in env {
            c.env(k, v);
        }
        self.h.run_with(c, None)
    }

    fn run_stdin(&self, args: &[&str], stdin: &[u8]) -> Output {
        self.h.run_with(self.cmd(args), Some(stdin))
    }

    /// `args` must exit with `code`.
    fn expect(&self, code: i32, args: &[&str]) -> Output {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "{args:?}: {}",
            describe(&out)
        );
        out
    }

    /// The harness's `pty_answer.py` (a real PTY of size 0x0, typing passphrases), run in
    /// the project directory.
    fn pty_answer(&self, args: &[&str], answers: &[&str]) -> Output {
        let answers_file = self.h.root.join("answers-run");
        std::fs::write(
            &answers_file,
            answers.iter().map(|a| format!("{a}\n")).collect::<String>(),
        )
        .unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/pty_answer.py");
        let mut py = Command::new("python3");
        py.arg(script)
            .arg(&answers_file)
            .arg("--")
            .arg(kovra_bin())
            .args(args)
            .current_dir(&self.dir);
        copy_env(&self.h, &mut py);
        self.h.run_with(py, None)
    }

    /// A command that runs `kovra ARGS` on a fresh PTY of `rows` x `cols` (its controlling
    /// terminal), following `steps`: `[wait_for_text, "type", text]`,
    /// `[wait_for_text, "resize", [rows, cols]]` or `[wait_for_text, "sleep", seconds]`.
    /// Everything the terminal showed goes to stdout; it exits with kovra's status.
    fn pty_drive(&self, rows: u16, cols: u16, steps: Value, args: &[&str]) -> Command {
        let script = self.h.root.join("pty_drive.py");
        std::fs::write(&script, PTY_DRIVE).unwrap();
        let mut py = Command::new("python3");
        py.arg(script)
            .arg(rows.to_string())
            .arg(cols.to_string())
            .arg(steps.to_string())
            .arg("--")
            .arg(kovra_bin())
            .args(args)
            .current_dir(&self.dir);
        copy_env(&self.h, &mut py);
        py
    }

    fn pty_run(&self, rows: u16, cols: u16, steps: Value, args: &[&str]) -> Output {
        self.h
            .run_with(self.pty_drive(rows, cols, steps, args), None)
    }

    /// The file a child creates when it actually runs.
    fn marker(&self) -> PathBuf {
        self.dir.join("child-ran")
    }

    /// Audit entries of `inject` actions with the given decision.
    fn injections(&self, decision: &str) -> Vec<Value> {
        let (code, v) = self.h.json(&["audit", "--action", "inject"]);
        assert_eq!(code, 0, "{v}");
        v["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["decision"] == decision)
            .cloned()
            .collect()
    }

    /// Nothing was injected, and the child never ran.
    fn assert_nothing_ran(&self, out: &Output) {
        assert!(
            !self.marker().exists(),
            "the child ran although the run was refused: {}",
            describe(out)
        );
        let allowed = self.injections("allow");
        assert!(
            allowed.is_empty(),
            "values were injected: {allowed:?}\n{}",
            describe(out)
        );
    }
}

fn copy_env(h: &Home, into: &mut Command) {
    let base = h.cmd(&[]);
    for (k, v) in base.get_envs() {
        match v {
            Some(v) => into.env(k, v),
            None => into.env_remove(k),
        };
    }
}

/// A PTY driver (Python's `pty`): sets the window size before exec, follows the steps,
/// prints everything the terminal showed, exits with the child's status.
const PTY_DRIVE: &str = r#"
import fcntl, json, os, pty, select, signal, struct, sys, termios, time
rows, cols = int(sys.argv[1]), int(sys.argv[2])
steps = json.loads(sys.argv[3])
assert sys.argv[4] == "--"
argv = sys.argv[5:]
pid, fd = pty.fork()
if pid == 0:
    fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    os.execvp(argv[0], argv)
seen = b""
mark = 0
deadline = time.time() + 30
while True:
    if time.time() > deadline:
        os.kill(pid, signal.SIGKILL)
        seen += b"\n[pty_drive: timed out]\n"
        break
    if steps:
        at = seen.find(steps[0][0].encode(), mark)
        if at >= 0:
            _, action, arg = steps.pop(0)
            mark = at + 1
            if action == "type":
                os.write(fd, arg.encode())
            elif action == "resize":
                fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", arg[0], arg[1], 0, 0))
            elif action == "sleep":
                time.sleep(arg)
            continue
    r, _, _ = select.select([fd], [], [], 0.05)
    if fd in r:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
sys.stdout.buffer.write(seen)
sys.stdout.flush()
_, status = os.waitpid(pid, 0)
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
"#;

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn out_err(out: &Output) -> Vec<u8> {
    let mut all = out.stdout.clone();
    all.extend_from_slice(&out.stderr);
    all
}

/// Whether a process exists (and is not a zombie).
fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

fn wait_gone(pid: i32, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    !alive(pid)
}

/// A `kovra run` in flight, its stdout read as it arrives.
struct Live {
    child: Child,
    chunks: mpsc::Receiver<(Instant, Vec<u8>)>,
    err: mpsc::Receiver<Vec<u8>>,
    out: Vec<u8>,
    /// (stdout length after a chunk, when that chunk arrived)
    arrivals: Vec<(usize, Instant)>,
}

struct Finished {
    status: ExitStatus,
    out: Vec<u8>,
    err: Vec<u8>,
    exited_at: Instant,
}

impl Finished {
    fn describe(&self) -> String {
        format!(
            "status {:?}\nstdout: {}\nstderr: {}",
            self.status,
            String::from_utf8_lossy(&self.out),
            String::from_utf8_lossy(&self.err)
        )
    }
}

impl Live {
    fn start(mut c: Command) -> Live {
        c.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        let mut so = child.stdout.take().unwrap();
        let mut se = child.stderr.take().unwrap();
        let (tx, chunks) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = so.read(&mut buf) {
                if n == 0 || tx.send((Instant::now(), buf[..n].to_vec())).is_err() {
                    break;
                }
            }
        });
        let (etx, err) = mpsc::channel();
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = se.read_to_end(&mut v);
            let _ = etx.send(v);
        });
        Live {
            child,
            chunks,
            err,
            out: Vec::new(),
            arrivals: Vec::new(),
        }
    }

    fn pid(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }

    /// Wait until stdout shows `needle`; returns when the chunk completing it arrived.
    fn wait_for(&mut self, needle: &str, within: Duration) -> Instant {
        let deadline = Instant::now() + within;
        loop {
            if let Some(at) = self
                .out
                .windows(needle.len())
                .position(|w| w == needle.as_bytes())
            {
                let end = at + needle.len();
                return self
                    .arrivals
                    .iter()
                    .find(|(upto, _)| *upto >= end)
                    .map(|(_, t)| *t)
                    .unwrap();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.chunks.recv_timeout(left) {
                Ok((at, chunk)) => {
                    self.out.extend_from_slice(&chunk);
                    self.arrivals.push((self.out.len(), at));
                }
                Err(_) => {
                    let _ = self.child.kill();
                    panic!(
                        "`{needle}` did not appear within {within:?}; stdout so far: {}",
                        String::from_utf8_lossy(&self.out)
                    );
                }
            }
        }
    }

    /// The text after `prefix` on the first stdout line holding it.
    fn line_after(&self, prefix: &str) -> String {
        let text = String::from_utf8_lossy(&self.out);
        let line = text.lines().find(|l| l.contains(prefix)).unwrap();
        line[line.find(prefix).unwrap() + prefix.len()..].to_string()
    }

    /// Wait for the CLI to exit (killing it and failing after `within`).
    fn finish(mut self, h: &Home, within: Duration) -> Finished {
        let deadline = Instant::now() + within;
        let (status, exited_at) = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break (s, Instant::now());
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "kovra run did not exit within {within:?}; stdout: {}",
                    String::from_utf8_lossy(&self.out)
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        while let Ok((_, chunk)) = self.chunks.recv_timeout(Duration::from_secs(3)) {
            self.out.extend_from_slice(&chunk);
        }
        let err = self
            .err
            .recv_timeout(Duration::from_secs(3))
            .unwrap_or_default();
        let mut t = h.transcript.borrow_mut();
        t.extend_from_slice(&self.out);
        t.extend_from_slice(&err);
        Finished {
            status,
            out: self.out,
            err,
            exited_at,
        }
    }
}

/// Stop the daemon and wait until it is gone (`daemon stop` answers before it exits).
fn stop_and_wait(h: &Home) {
    let pid = h.daemon_pid();
    h.stop();
    if let Some(pid) = pid {
        assert!(
            wait_gone(pid as i32, Duration::from_secs(10)),
            "the daemon did not stop"
        );
    }
}

fn write_executable(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A project with one medium record, `TOKEN`, wired in `.env.refs`.
fn with_token(tag: &str) -> (Proj, String) {
    let p = Proj::new();
    let value = canary(tag);
    p.add("secret:dev/app/token", &value, &[]);
    p.refs("TOKEN=secret:${ENV}/app/token\n");
    (p, value)
}

const PY_SHA_OF: &str =
    "import hashlib,os,sys;print(hashlib.sha256(os.environ[sys.argv[1]].encode()).hexdigest())";

// ---------------------------------------------------------------------------------------
// Real children: injection, exit codes, signals, stdin, streaming
// ---------------------------------------------------------------------------------------

#[test]
fn sh_python_and_cat_children_receive_the_values_without_printing_them() {
    let (p, value) = with_token("inject");
    let want = sha256_hex(value.as_bytes());

    // sh: hash and length, computed by the child.
    let out = p.expect(
        0,
        &[
            "run",
            "--env",
            "dev",
            "--",
            "sh",
            "-c",
            "printf %s \"$TOKEN\" | sha256sum; echo \"len=${#TOKEN}\"",
        ],
    );
    let text = stdout(&out);
    assert!(text.starts_with(&want), "sh saw another value: {text}");
    assert!(text.contains(&format!("len={}", value.len())), "{text}");

    // python3: the same hash, from os.environ.
    let out = p.expect(
        0,
        &[
            "run", "--env", "dev", "--", "python3", "-c", PY_SHA_OF, "TOKEN",
        ],
    );
    assert_eq!(stdout(&out).trim(), want, "{}", describe(&out));

    // The working directory and argv reach the child intact (spaces, empty strings, dashes).
    let out = p.expect(
        0,
        &[
            "run",
            "--env",
            "dev",
            "--",
            "python3",
            "-c",
            "import os,sys,json;print(json.dumps([os.getcwd()]+sys.argv[1:]))",
            "a b",
            "",
            "--x",
            "$TOKEN",
        ],
    );
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    let cwd = p.dir.canonicalize().unwrap().display().to_string();
    assert_eq!(got, json!([cwd, "a b", "", "--x", "$TOKEN"]));

    // cat: stdin passes through unchanged.
    let input = b"hello\nworld, from stdin\n\tno secret here\n";
    let out = p.run_stdin(&["run", "--env", "dev", "--", "cat"], input);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(out.stdout, input);

    // The audit names each injection: the variable and the executable.
    let injected = p.injections("allow");
    assert_eq!(injected.len(), 4, "{injected:?}");
    assert!(
        injected
            .iter()
            .all(|e| e["coordinate"] == "secret:dev/app/token"
                && e["detail"].as_str().unwrap().starts_with("TOKEN into ")),
        "{injected:?}"
    );
    assert_not_printed(&p.h, &value, "value");
}

#[test]
fn the_childs_exit_code_and_signal_death_become_kovras_exit_code() {
    let (p, value) = with_token("exit");
    let cases: &[(&[&str], i32)] = &[
        (&["sh", "-c", "exit 0"], 0),
        (&["sh", "-c", "exit 3"], 3),
        (&["sh", "-c", "exit 42"], 42),
        (&["sh", "-c", "exit 255"], 255),
        (&["python3", "-c", "import sys; sys.exit(42)"], 42),
        (&["sh", "-c", "kill -TERM $$"], 143),
        (&["sh", "-c", "kill -KILL $$"], 137),
        (&["sh", "-c", "kill -INT $$"], 130),
        (&["sh", "-c", "kill -HUP $$"], 129),
        (
            &[
                "python3",
                "-c",
                "import os,signal; os.kill(os.getpid(), signal.SIGSEGV)",
            ],
            139,
        ),
        (&["false"], 1),
        (&["true"], 0),
    ];
    for (argv, code) in cases {
        let mut args = vec!["run", "--env", "dev", "--"];
        args.extend_from_slice(argv);
        let out = p.run(&args);
        assert_eq!(
            out.status.code(),
            Some(*code),
            "{argv:?}: {}",
            describe(&out)
        );
        // A child's own failure is not dressed up as a kovra error.
        assert!(
            !stderr(&out).contains("kovra: error"),
            "{argv:?}: {}",
            describe(&out)
        );
    }
    assert_not_printed(&p.h, &value, "value");
}

#[test]
fn large_stdin_through_cat_arrives_complete_with_the_value_masked() {
    let (p, value) = with_token("cat");
    // ~3 MiB of arbitrary bytes, with the value planted at many offsets, including across
    // every 64 KiB boundary (the relay's read size) and at the very start and end.
    let mut data = Vec::new();
    let mut state: u64 = 0x9e3779b97f4a7c15;
    let mut plants = 0;
    while data.len() < 3 << 20 {
        let boundary = (data.len() / 65536 + 1) * 65536;
        let before = boundary.saturating_sub(data.len() + value.len() / 2);
        for _ in 0..before.min(40_000) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            data.push((state >> 24) as u8);
        }
        data.extend_from_slice(value.as_bytes());
        plants += 1;
    }
    let input_file = p.h.root.join("cat-input");
    std::fs::write(&input_file, &data).unwrap();
    let mut c = p.cmd(&["run", "--env", "dev", "--", "cat"]);
    c.stdin(std::fs::File::open(&input_file).unwrap())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = c.spawn().unwrap().wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let marker = b"[kovra:TOKEN]";
    let mut expected = Vec::with_capacity(data.len());
    let mut rest = &data[..];
    while let Some(at) = rest
        .windows(value.len())
        .position(|w| w == value.as_bytes())
    {
        expected.extend_from_slice(&rest[..at]);
        expected.extend_from_slice(marker);
        rest = &rest[at + value.len()..];
    }
    expected.extend_from_slice(rest);
    assert_eq!(
        out.stdout
            .windows(marker.len())
            .filter(|w| w == marker)
            .count(),
        plants
    );
    assert!(
        out.stdout == expected,
        "the output differs from the input with each value replaced by its marker \
         ({} bytes vs {} expected)",
        out.stdout.len(),
        expected.len()
    );
    assert!(!contains(&out.stdout, value.as_bytes()));
}

#[test]
fn output_streams_while_the_child_runs() {
    let (p, value) = with_token("stream");
    let started = Instant::now();
    let mut live = Live::start(p.cmd(&[
        "run",
        "--env",
        "dev",
        "--",
        "sh",
        "-c",
        "echo \"first line ${#TOKEN}\"; printf 'prompt> '; sleep 2; echo; echo second line",
    ]));
    let first = live.wait_for("first line", Duration::from_secs(10));
    let prompt = live.wait_for("prompt> ", Duration::from_secs(10));
    let done = live.finish(&p.h, Duration::from_secs(15));
    assert_eq!(done.status.code(), Some(0), "{}", done.describe());
    let text = String::from_utf8_lossy(&done.out);
    assert_eq!(
        text,
        format!("first line {}\nprompt> \nsecond line\n", value.len())
    );
    // The first line and a prompt without a newline arrive while the child sleeps, not
    // when it exits.
    for (what, at) in [("first line", first), ("prompt", prompt)] {
        let early = done.exited_at.saturating_duration_since(at);
        assert!(
            early >= Duration::from_millis(1500),
            "{what} arrived only {early:?} before the end (started {:?} before it)",
            at.saturating_duration_since(started)
        );
    }
}

#[test]
fn a_reader_that_goes_away_stops_the_child() {
    let (p, _) = with_token("pipe");
    // `yes | head -1`: once our end of the pipe is closed, the child must not run forever.
    let mut c = p.cmd(&["run", "--env", "dev", "--", "yes", "still here"]);
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = c.spawn().unwrap();
    let mut so = child.stdout.take().unwrap();
    let mut buf = [0u8; 64];
    let n = so.read(&mut buf).unwrap();
    assert!(n > 0 && buf.starts_with(b"still here"));
    drop(so);
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("kovra run kept going after its stdout was closed");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // `yes` dies of SIGPIPE (141) or stops on the write error; either way not a success.
    assert_ne!(status.code(), Some(0));
}

#[test]
fn sigint_to_kovra_stops_a_python_http_server_and_kovra_exits_with_its_status() {
    let (p, value) = with_token("http");
    let mut live = Live::start(p.cmd(&[
        "run",
        "--env",
        "dev",
        "--",
        "sh",
        "-c",
        "echo \"pid=$$\"; exec python3 -u -m http.server 0 --bind 127.0.0.1",
    ]));
    live.wait_for("Serving HTTP on 127.0.0.1 port ", Duration::from_secs(20));
    let server: i32 = live.line_after("pid=").trim().parse().unwrap();
    let port: u16 = live
        .line_after("port ")
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    // It really serves: a request gets an answer through the child.
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    conn.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let mut reply = Vec::new();
    conn.read_to_end(&mut reply).unwrap();
    assert!(
        reply.starts_with(b"HTTP/1.0 200"),
        "{}",
        String::from_utf8_lossy(&reply)
    );
    assert!(alive(server));

    // Ctrl-C, as a shell delivers it to the foreground command: SIGINT to the kovra client.
    std::thread::sleep(Duration::from_millis(200));
    let sent = Instant::now();
    kill(live.pid(), Signal::SIGINT).unwrap();
    let done = live.finish(&p.h, Duration::from_secs(10));
    assert!(
        done.exited_at.duration_since(sent) < Duration::from_secs(5),
        "took {:?}",
        done.exited_at.duration_since(sent)
    );
    // http.server catches KeyboardInterrupt, says so, and exits 0: kovra passes that on.
    let text = String::from_utf8_lossy(&done.out);
    assert!(
        text.contains("Keyboard interrupt received, exiting."),
        "the server did not see a SIGINT: {}",
        done.describe()
    );
    assert!(
        matches!(done.status.code(), Some(0) | Some(130)),
        "{}",
        done.describe()
    );
    assert!(
        wait_gone(server, Duration::from_secs(3)),
        "the server survived"
    );
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
    assert_not_printed(&p.h, &value, "value");
}

#[test]
fn signals_to_kovra_reach_the_child_and_its_status_comes_back() {
    let (p, _) = with_token("signals");
    // A child with the default disposition dies of the signal: 128 + N.
    for (sig, code) in [
        (Signal::SIGINT, 130),
        (Signal::SIGTERM, 143),
        (Signal::SIGHUP, 129),
        (Signal::SIGQUIT, 131),
    ] {
        let mut live = Live::start(p.cmd(&[
            "run",
            "--env",
            "dev",
            "--",
            "sh",
            "-c",
            "echo \"pid=$$\"; exec sleep 30",
        ]));
        live.wait_for("pid=", Duration::from_secs(10));
        let child: i32 = live.line_after("pid=").trim().parse().unwrap();
        std::thread::sleep(Duration::from_millis(200));
        kill(live.pid(), sig).unwrap();
        let done = live.finish(&p.h, Duration::from_secs(10));
        assert_eq!(
            done.status.code(),
            Some(code),
            "{sig:?}: {}",
            done.describe()
        );
        assert!(!alive(child), "{sig:?}: the child survived");
    }
    // A child that handles the signal exits with its own code, which kovra passes on.
    let mut live = Live::start(p.cmd(&[
        "run",
        "--env",
        "dev",
        "--",
        "python3",
        "-u",
        "-c",
        "import signal,sys,time\n\
         signal.signal(signal.SIGINT, lambda *a: sys.exit(42))\n\
         print('ready')\n\
         time.sleep(30)",
    ]));
    live.wait_for("ready", Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(200));
    kill(live.pid(), Signal::SIGINT).unwrap();
    let done = live.finish(&p.h, Duration::from_secs(10));
    assert_eq!(done.status.code(), Some(42), "{}", done.describe());
    // Python's own KeyboardInterrupt: it re-raises SIGINT on exit, so 130.
    let mut live = Live::start(p.cmd(&[
        "run",
        "--env",
        "dev",
        "--",
        "python3",
        "-u",
        "-c",
        "import time\nprint('ready')\ntime.sleep(30)",
    ]));
    live.wait_for("ready", Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(200));
    kill(live.pid(), Signal::SIGINT).unwrap();
    let done = live.finish(&p.h, Duration::from_secs(10));
    assert_eq!(done.status.code(), Some(130), "{}", done.describe());
    assert!(
        String::from_utf8_lossy(&done.err).contains("KeyboardInterrupt"),
        "{}",
        done.describe()
    );
}

#[test]
fn a_killed_client_takes_its_child_with_it() {
    let (p, _) = with_token("orphan");
    let mut live = Live::start(p.cmd(&[
        "run",
        "--env",
        "dev",
        "--",
        "sh",
        "-c",
        "echo \"pid=$$\"; exec sleep 60",
    ]));
    live.wait_for("pid=", Duration::from_secs(10));
    let child: i32 = live.line_after("pid=").trim().parse().unwrap();
    assert!(alive(child));
    kill(live.pid(), Signal::SIGKILL).unwrap();
    let _ = live.finish(&p.h, Duration::from_secs(5));
    assert!(
        wait_gone(child, Duration::from_secs(6)),
        "the child outlived its kovra client"
    );
}

// ---------------------------------------------------------------------------------------
// Pseudo-terminals
// ---------------------------------------------------------------------------------------

const PY_TTY: &str = "import os,sys;print('tty', sys.stdin.isatty(), sys.stdout.isatty(), sys.stderr.isatty());print('size', os.get_terminal_size(1) if sys.stdout.isatty() else None)";

#[test]
fn a_child_gets_a_terminal_of_the_callers_size_only_when_kovra_is_on_one() {
    let (p, value) = with_token("pty");
    let out = p.pty_run(
        40,
        120,
        json!([]),
        &["run", "--env", "dev", "--", "python3", "-c", PY_TTY],
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let text = stdout(&out);
    assert!(text.contains("tty True True True"), "{text}");
    assert!(
        text.contains("size os.terminal_size(columns=120, lines=40)"),
        "{text}"
    );
    // Without a terminal: pipes, no PTY.
    let out = p.expect(0, &["run", "--env", "dev", "--", "python3", "-c", PY_TTY]);
    assert_eq!(stdout(&out), "tty False False False\nsize None\n");
    assert_not_printed(&p.h, &value, "value");
}

#[test]
fn a_child_gets_a_terminal_even_when_the_callers_terminal_has_no_size() {
    let (p, _) = with_token("pty0");
    let out = p.pty_answer(&["run", "--env", "dev", "--", "python3", "-c", PY_TTY], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let text = stdout(&out);
    assert!(text.contains("tty True True True"), "{text}");
}

#[test]
fn on_a_terminal_input_line_editing_ctrl_c_and_window_size_changes_reach_the_child() {
    let (p, value) = with_token("ptyio");
    // Typed input reaches the child (through its own line discipline: a backspace edits).
    let out = p.pty_run(
        24,
        80,
        json!([["ready>", "type", "helo\u{7f}lo\r"]]),
        &[
            "run",
            "--env",
            "dev",
            "--",
            "python3",
            "-c",
            "print('ready>', flush=True); s=input(); print('got', s[::-1], len(s))",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(stdout(&out).contains("got olleh 5"), "{}", describe(&out));

    // Ctrl-C typed at the terminal interrupts the child, not just kovra.
    let out = p.pty_run(
        24,
        80,
        json!([["sleeping", "sleep", 0.2], ["", "type", "\u{3}"]]),
        &[
            "run",
            "--env",
            "dev",
            "--",
            "python3",
            "-c",
            "import time; print('sleeping', flush=True); time.sleep(20); print('overslept')",
        ],
    );
    assert_eq!(out.status.code(), Some(130), "{}", describe(&out));
    assert!(!stdout(&out).contains("overslept"), "{}", describe(&out));

    // A window size change is forwarded: the child sees SIGWINCH and the new size.
    let out = p.pty_run(
        24,
        80,
        json!([["ready>", "sleep", 0.3], ["", "resize", [50, 132]]]),
        &[
            "run",
            "--env",
            "dev",
            "--",
            "python3",
            "-c",
            "import os,signal,sys,time\n\
             def winch(*a):\n    s=os.get_terminal_size(1); print('winch', s.columns, s.lines, flush=True); sys.exit(0)\n\
             signal.signal(signal.SIGWINCH, winch)\n\
             print('ready>', flush=True)\n\
             time.sleep(10)\n\
             print('no winch')",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(stdout(&out).contains("winch 132 50"), "{}", describe(&out));
    assert_not_printed(&p.h, &value, "value");
}

#[test]
fn on_a_terminal_the_childs_output_is_redacted_too() {
    let p = Proj::new();
    let value = tricky_canary("ptyredact");
    p.add("secret:dev/app/token", &value, &[]);
    p.refs("TOKEN=secret:dev/app/token\n");
    let out = p.pty_run(
        24,
        200,
        json!([]),
        &[
            "run",
            "--",
            "python3",
            "-c",
            "import base64,os,sys,time\n\
             v=os.environ['TOKEN']; b=v.encode()\n\
             print('plain', v, flush=True)\n\
             print('b64', base64.b64encode(b).decode(), flush=True)\n\
             print('hex', b.hex(), flush=True)\n\
             sys.stderr.write('err ' + v + '\\n'); sys.stderr.flush()\n\
             h=len(v)//2; sys.stdout.write('split ' + v[:h]); sys.stdout.flush(); time.sleep(0.5)\n\
             print(v[h:], flush=True)",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let text = stdout(&out);
    for label in ["plain", "b64", "hex", "err", "split"] {
        assert!(
            text.contains(&format!("{label} [kovra:TOKEN]")),
            "{label}: {text}"
        );
    }
    assert_absent_decoded(&out.stdout, &value, "pty output");
}

// ---------------------------------------------------------------------------------------
// Descriptors: a child holds its stdio and nothing of the daemon's
// ---------------------------------------------------------------------------------------

const PY_FDS: &str = "import os\n\
    for fd in sorted(int(x) for x in os.listdir('/proc/self/fd')):\n    \
        try: print('fd', fd, os.readlink('/proc/self/fd/%d' % fd))\n    \
        except OSError: pass";

/// Descriptors of the child's that belong to the daemon: sockets, terminals other than its
/// own stdio, anything under the vault home.
fn foreign_fds(listing: &str, h: &Home, own_stdio_tty: bool) -> Vec<String> {
    listing
        .lines()
        .filter_map(|l| l.strip_prefix("fd "))
        .filter(|l| {
            let (fd, target) = l.split_once(' ').unwrap();
            let fd: i32 = fd.parse().unwrap();
            let stdio = fd <= 2;
            target.starts_with("socket:")
                || target == "/dev/ptmx"
                || (target.starts_with("/dev/pts/") && !(stdio && own_stdio_tty))
                || target.starts_with(&h.home.display().to_string())
                || target.starts_with(&h.runtime.display().to_string())
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn a_child_inherits_no_socket_or_vault_file_of_the_daemon() {
    let (p, _) = with_token("fds");
    let out = p.expect(0, &["run", "--env", "dev", "--", "python3", "-c", PY_FDS]);
    let text = stdout(&out);
    assert!(text.contains("fd 0 ") && text.contains("fd 2 "), "{text}");
    let foreign = foreign_fds(&text, &p.h, false);
    assert!(foreign.is_empty(), "{foreign:?}\n{text}");
}

#[test]
fn a_pty_child_holds_only_its_own_terminal() {
    let (p, _) = with_token("ptyfds");
    let out = p.pty_run(
        24,
        200,
        json!([]),
        &["run", "--env", "dev", "--", "python3", "-c", PY_FDS],
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let text = stdout(&out);
    assert!(text.contains("fd 0 /dev/pts/"), "{text}");
    let foreign = foreign_fds(&text, &p.h, true);
    assert!(foreign.is_empty(), "{foreign:?}\n{text}");
}

#[test]
fn a_second_run_cannot_read_a_terminal_runs_unredacted_output() {
    let p = Proj::new();
    let value = canary("crossrun");
    p.add("secret:dev/app/token", &value, &["--sensitivity", "medium"]);
    p.refs("TOKEN=secret:dev/app/token\n");
    // Run A, on a terminal: prints its value (redacted on the way out) for a few seconds.
    let mut a = p.pty_drive(
        24,
        200,
        json!([]),
        &[
            "run",
            "--",
            "sh",
            "-c",
            "echo started; i=0; while [ $i -lt 30 ]; do echo \"A $TOKEN\"; sleep 0.1; i=$((i+1)); done",
        ],
    );
    a.stdout(Stdio::piped()).stderr(Stdio::piped());
    let a = a.spawn().unwrap();
    std::thread::sleep(Duration::from_millis(1200));
    // Run B, with nothing injected, looks for terminal masters among its descriptors and
    // reads from them.
    let out = p.run(&[
        "run",
        "--no-secrets",
        "--",
        "python3",
        "-c",
        "import os,time\n\
         for fd in sorted(int(x) for x in os.listdir('/proc/self/fd')):\n    \
             try: t=os.readlink('/proc/self/fd/%d' % fd)\n    \
             except OSError: continue\n    \
             if t == '/dev/ptmx':\n        \
                 print('master', fd)\n        \
                 os.set_blocking(fd, False); time.sleep(0.4)\n        \
                 try: print('read', os.read(fd, 65536))\n        \
                 except OSError as e: print('error', e)",
    ]);
    let a = a.wait_with_output().unwrap();
    assert_eq!(a.status.code(), Some(0), "{}", describe(&a));
    assert!(stdout(&a).contains("A [kovra:TOKEN]"), "{}", describe(&a));
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(
        !stdout(&out).contains("master"),
        "run B holds run A's terminal: {}",
        describe(&out)
    );
    assert_absent_decoded(&out_err(&out), &value, "run B");
}

// ---------------------------------------------------------------------------------------
// Redaction
// ---------------------------------------------------------------------------------------

const PY_ENCODINGS: &str = r#"
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
    let out = p.run(&["run", "--env", "dev", "--", "python3", "-c", PY_ENCODINGS]);
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
    assert_not_printed(&p.h, &value, "value");
}

#[test]
fn a_value_inside_a_template_is_masked_inside_the_url() {
    let p = Proj::new();
    let password = canary("tmpl");
    p.add("secret:dev/db/password", &password, &[]);
    p.refs("DATABASE_URL=\"postgres://u:{{secret:${ENV}/db/password}}@{{env:DB_HOST}}/db\"\n");
    let out = p.run_env(
        &[("DB_HOST", "db.internal")],
        &[
            "run",
            "--env",
            "dev",
            "--",
            "sh",
            "-c",
            "echo \"$DATABASE_URL\"",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(
        stdout(&out),
        "postgres://u:[kovra:DATABASE_URL]@db.internal/db\n"
    );
    // The child did get the real URL.
    let out = p.run_env(
        &[("DB_HOST", "db.internal")],
        &[
            "run",
            "--env",
            "dev",
            "--",
            "python3",
            "-c",
            PY_SHA_OF,
            "DATABASE_URL",
        ],
    );
    assert_eq!(
        stdout(&out).trim(),
        sha256_hex(format!("postgres://u:{password}@db.internal/db").as_bytes()),
        "{}",
        describe(&out)
    );
    assert_not_printed(&p.h, &password, "password");
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

// ---------------------------------------------------------------------------------------
// The child's environment
// ---------------------------------------------------------------------------------------

#[test]
fn the_child_never_sees_a_kovra_variable() {
    let (p, value) = with_token("env");
    let kovra_vars = [
        ("KOVRA_PASSPHRASE_FILE", p.h.pass_file.display().to_string()),
        ("KOVRA_ENV", "dev".to_string()),
        ("KOVRA_LOG", "trace".to_string()),
        ("KOVRA_ORIGIN", "agent".to_string()),
        ("KOVRA_NO_AUTOSTART", "0".to_string()),
        ("KOVRA_SOMETHING_ELSE", "unrelated-marker-x1".to_string()),
    ];
    let mut env: Vec<(&str, &str)> = kovra_vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    env.push(("NOT_KOVRA_PLAIN", "passed-through"));
    for extra in [&["--env", "dev"][..], &["--no-secrets"][..]] {
        let mut args = vec!["run"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--", "env"]);
        let out = p.run_env(&env, &args);
        assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
        let text = stdout(&out);
        // The client really had them (KOVRA_HOME from the harness, too).
        assert!(
            !text.lines().any(|l| l.starts_with("KOVRA_")),
            "{extra:?}: a KOVRA_ variable reached the child:\n{text}"
        );
        assert!(!text.contains("unrelated-marker-x1"), "{text}");
        assert!(
            !text.contains(&p.h.pass_file.display().to_string()),
            "{text}"
        );
        assert!(!text.contains(PASSPHRASE), "{text}");
        assert!(
            text.lines().any(|l| l == "NOT_KOVRA_PLAIN=passed-through"),
            "the caller's environment is passed on: {text}"
        );
        let injected = text.lines().any(|l| l.starts_with("TOKEN="));
        assert_eq!(injected, extra[0] == "--env", "{extra:?}: {text}");
    }
    // KOVRA_ENV was honoured by the client as --env, and still not passed on.
    let out = p.run_env(&env, &["run", "--", "python3", "-c", PY_SHA_OF, "TOKEN"]);
    assert_eq!(
        stdout(&out).trim(),
        sha256_hex(value.as_bytes()),
        "{}",
        describe(&out)
    );
    assert_not_printed(&p.h, &value, "value");
}

#[test]
fn no_secrets_injects_nothing_and_needs_no_refs_file() {
    let (p, value) = with_token("nosecrets");
    // Even a broken refs file is not read.
    p.refs("this is not a refs line\n");
    let out = p.run_env(
        &[("KOVRA_PASSPHRASE_FILE", "/tmp/x")],
        &[
            "run",
            "--no-secrets",
            "--",
            "sh",
            "-c",
            "echo \"token=[${TOKEN-unset}]\"; env | grep -c '^KOVRA_' || true",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(stdout(&out), "token=[unset]\n0\n");
    std::fs::remove_file(p.dir.join(".env.refs")).unwrap();
    let out = p.expect(0, &["run", "--no-secrets", "--", "true"]);
    assert!(out.stderr.is_empty(), "{}", describe(&out));
    assert!(p.injections("allow").is_empty());
    // --no-secrets and --only do not combine.
    let out = p.run(&["run", "--no-secrets", "--only", "TOKEN", "--", "true"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert_not_printed(&p.h, &value, "value");
}

#[test]
fn only_injects_just_the_named_variables() {
    let p = Proj::new();
    let (a, b) = (canary("only-a"), canary("only-b"));
    p.add("secret:dev/svc/a", &a, &[]);
    p.add("secret:dev/svc/b", &b, &[]);
    p.refs("A=secret:dev/svc/a\nB=secret:dev/svc/b\nC=literal-c\n");
    let show = "echo \"A=${A:+set} B=${B:+set} C=${C:-unset}\"";
    let out = p.expect(0, &["run", "--", "sh", "-c", show]);
    assert_eq!(stdout(&out), "A=set B=set C=literal-c\n");
    let out = p.expect(0, &["run", "--only", "A", "--", "sh", "-c", show]);
    assert_eq!(stdout(&out), "A=set B= C=unset\n");
    let out = p.expect(
        0,
        &["run", "--only", "B", "--only", "C", "--", "sh", "-c", show],
    );
    assert_eq!(stdout(&out), "A= B=set C=literal-c\n");
    // Only B was read for that run.
    let last: Vec<Value> = p.injections("allow");
    assert_eq!(
        last.last().unwrap()["coordinate"],
        "secret:dev/svc/b",
        "{last:?}"
    );
    assert_eq!(last.len(), 4, "{last:?}");
    // A name the file does not define is an error, and nothing runs.
    let out = p.run(&["run", "--only", "NOPE", "--", "sh", "-c", "touch child-ran"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(stderr(&out).contains("NOPE"), "{}", describe(&out));
    assert!(stderr(&out).contains("code: refs-invalid"));
    assert!(!p.marker().exists());
    assert_not_printed(&p.h, &a, "a");
    assert_not_printed(&p.h, &b, "b");
}

#[test]
fn env_passthrough_fallbacks_and_literals_reach_the_child() {
    let p = Proj::new();
    p.refs(concat!(
        "# wiring\n",
        "\n",
        "FROM_ENV=${env:MY_INPUT}\n",
        "FROM_ENV_FB=${env:MY_INPUT} | not-used\n",
        "UNSET_FB=${env:SURELY_UNSET_VAR_X} | the-fallback\n",
        "SECRET_FB=secret:dev/none/here | secret-fallback\n",
        "export LIT=plain literal # a comment\n",
        "DQ=\"double # kept\\\"q\\\"\"\n",
        "SQ='{{not a template}} ${HOME}'\n",
        "MIX=\"{{env:MY_INPUT}}-and-text\"\n",
    ));
    let out = p.run_env(
        &[("MY_INPUT", "from-the-caller")],
        &[
            "run",
            "--env",
            "dev",
            "--",
            "python3",
            "-c",
            "import os,json;print(json.dumps({k: os.environ.get(k) for k in \
             ['FROM_ENV','FROM_ENV_FB','UNSET_FB','SECRET_FB','LIT','DQ','SQ','MIX']}))",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        got,
        json!({
            "FROM_ENV": "from-the-caller",
            "FROM_ENV_FB": "from-the-caller",
            "UNSET_FB": "the-fallback",
            "SECRET_FB": "secret-fallback",
            "LIT": "plain literal",
            "DQ": "double # kept\"q\"",
            "SQ": "{{not a template}} ${HOME}",
            "MIX": "from-the-caller-and-text",
        })
    );
    // The refs value wins over a caller variable of the same name.
    let out = p.run_env(
        &[("LIT", "caller value"), ("MY_INPUT", "x")],
        &["run", "--", "sh", "-c", "echo \"$LIT\""],
    );
    assert_eq!(stdout(&out), "plain literal\n", "{}", describe(&out));
    // `${env:VAR}` without a fallback and VAR unset: an error, nothing runs.
    p.refs("NEEDED=${env:SURELY_UNSET_VAR_Y}\n");
    let out = p.run(&["run", "--", "sh", "-c", "touch child-ran"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        stderr(&out).contains("SURELY_UNSET_VAR_Y"),
        "{}",
        describe(&out)
    );
    assert!(
        stderr(&out).contains("code: env-unset"),
        "{}",
        describe(&out)
    );
    assert!(!p.marker().exists());
}

// ---------------------------------------------------------------------------------------
// No plaintext at rest
// ---------------------------------------------------------------------------------------

#[test]
fn no_plaintext_lands_in_any_file_under_the_home_or_the_project() {
    let p = Proj::new();
    let (token, password, high) = (
        tricky_canary("rest-token"),
        canary("rest-pw"),
        canary("rest-high"),
    );
    // Restart the daemon so that it logs all it can.
    stop_and_wait(&p.h);
    let pass = p.h.pass_file.display().to_string();
    let mut c = p.cmd(&["unlock", "--passphrase-file", &pass]);
    c.env("KOVRA_LOG", "trace");
    let out = p.h.run_with(c, None);
    assert!(out.status.success(), "{}", describe(&out));
    p.add("secret:dev/app/token", &token, &[]);
    p.add("secret:dev/db/password", &password, &[]);
    p.add("secret:dev/api/key", &high, &["--sensitivity", "high"]);
    p.refs(concat!(
        "TOKEN=secret:${ENV}/app/token\n",
        "URL=\"postgres://u:{{secret:${ENV}/db/password}}@h/db\"\n",
    ));
    let runs: &[&[&str]] = &[
        &["run", "--env", "dev", "--", "python3", "-c", PY_ENCODINGS],
        &["run", "--env", "dev", "--", "sh", "-c", "echo \"$URL\" >&2"],
        &["run", "--env", "dev", "--", "env"],
    ];
    for args in runs {
        let out = p.run(args);
        assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    }
    // Output redirected into a file of the project (`kovra run … > run.log 2>&1`): the
    // daemon writes into that file, redacted.
    let log = p.dir.join("run.log");
    let file = std::fs::File::create(&log).unwrap();
    let mut c = p.cmd(&["run", "--env", "dev", "--", "python3", "-c", PY_ENCODINGS]);
    c.stdin(Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file);
    assert!(c.status().unwrap().success());
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("plain:[kovra:TOKEN]"), "{logged}");
    assert!(logged.contains("err-plain:[kovra:TOKEN]"), "{logged}");
    // Refused runs too: a high record into a non-allowlisted executable, and a bad line.
    std::fs::write(p.dir.join("high.refs"), "KEY=secret:dev/api/key\n").unwrap();
    let out = p.run(&["run", "--refs", "high.refs", "--", "env"]);
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    std::fs::write(
        p.dir.join("bad.refs"),
        "TOKEN=secret:dev/app/token\nX=secret:dev/no/pe\n",
    )
    .unwrap();
    let out = p.run(&["run", "--refs", "bad.refs", "--", "env"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));

    stop_and_wait(&p.h);
    for (what, v) in [("token", &token), ("password", &password), ("high", &high)] {
        assert_not_in_files(&p.h, v, what);
        assert_not_in_dirs(&[&p.dir], v, &format!("the project ({what})"));
    }
    // And nothing of it was printed.
    let t = p.h.transcript.borrow();
    for v in [&token, &password, &high] {
        assert_absent_decoded(&t, v, "transcript");
    }
}

// ---------------------------------------------------------------------------------------
// Bad input: a clear error, a non-zero exit, nothing injected, nothing run
// ---------------------------------------------------------------------------------------

const TOUCH: &[&str] = &["sh", "-c", "touch child-ran; echo ${#TOKEN}"];

fn run_touch(p: &Proj, opts: &[&str]) -> Output {
    let mut args = vec!["run"];
    args.extend_from_slice(opts);
    args.push("--");
    args.extend_from_slice(TOUCH);
    p.run(&args)
}

fn assert_refused(p: &Proj, out: &Output, exit: i32, code: &str, mentions: &[&str]) {
    assert_eq!(out.status.code(), Some(exit), "{}", describe(out));
    let err = stderr(out);
    assert!(
        err.contains(&format!("code: {code}")),
        "expected code {code}: {}",
        describe(out)
    );
    assert!(err.starts_with("kovra: error: "), "{err}");
    for m in mentions {
        assert!(err.contains(m), "the message should mention `{m}`: {err}");
    }
    assert!(out.stdout.is_empty(), "{}", describe(out));
    p.assert_nothing_ran(out);
}

#[test]
fn a_missing_refs_file_is_refused() {
    let p = Proj::new();
    p.add("secret:dev/app/token", &canary("missing"), &[]);
    let out = run_touch(&p, &["--env", "dev"]);
    assert_refused(&p, &out, 1, "refs-missing", &[".env.refs", "--no-secrets"]);
    let out = run_touch(&p, &["--refs", "elsewhere.refs"]);
    assert_refused(&p, &out, 1, "refs-missing", &["elsewhere.refs"]);
    // With --json: one error document.
    let out = p.run(&["--json", "run", "--", "true"]);
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["error"]["code"], "refs-missing");
}

#[test]
fn malformed_lines_are_refused_naming_file_line_and_column() {
    let p = Proj::new();
    p.add("secret:dev/app/token", &canary("malformed"), &[]);
    let cases = [
        (
            "TOKEN=secret:dev/app/token\nB=secret:dev/d b/x\n",
            ".env.refs:2:15",
        ),
        (
            "# fine\nTOKEN=secret:dev/app/token\njust words\n",
            ".env.refs:3:1",
        ),
        (
            "TOKEN=secret:dev/app/token\nTOKEN=secret:dev/app/token\n",
            ".env.refs:2:1",
        ),
        (
            "TOKEN=secret:dev/app/token\nKOVRA_HOME=/x\n",
            ".env.refs:2:1",
        ),
        ("TOKEN=secret:dev/app/token\n1X=y\n", ".env.refs:2:1"),
        (
            "TOKEN=secret:dev/app/token\nX=plain | fb\n",
            ".env.refs:2:3",
        ),
        (
            "TOKEN=secret:dev/app/token\nX=\"unterminated\n",
            ".env.refs:2:3",
        ),
        (
            "TOKEN=secret:dev/app/token\nX=\"a{{secret:dev/a/b\"\n",
            ".env.refs:2:",
        ),
        (
            "TOKEN=secret:dev/app/token\nX=\"{{vault:dev/a/b}}\"\n",
            ".env.refs:2:",
        ),
        (
            "TOKEN=secret:dev/app/token\nproject = a\nproject = b\n",
            ".env.refs:3:1",
        ),
    ];
    for (text, at) in cases {
        p.refs(text);
        let out = run_touch(&p, &["--env", "dev"]);
        assert_refused(&p, &out, 1, "refs-invalid", &[&format!("error: {at}")]);
    }
    // The same through --refs names that file.
    std::fs::write(p.dir.join("other.refs"), "\n\nB=secret:dev/d b/x\n").unwrap();
    let out = run_touch(&p, &["--refs", "other.refs"]);
    assert_refused(&p, &out, 1, "refs-invalid", &["other.refs:3:15"]);
}

#[test]
fn an_unresolved_coordinate_is_refused_naming_its_line() {
    let p = Proj::new();
    p.add("secret:dev/app/token", &canary("unresolved"), &[]);
    p.refs("# wiring\nTOKEN=secret:${ENV}/app/token\nMISSING=secret:${ENV}/nope/key\n");
    let out = run_touch(&p, &["--env", "dev"]);
    assert_refused(
        &p,
        &out,
        1,
        "unresolved",
        &[".env.refs:3:9", "secret:dev/nope/key"],
    );
    // The same file under another environment: the first line is unresolved now.
    let out = run_touch(&p, &["--env", "staging"]);
    assert_refused(
        &p,
        &out,
        1,
        "unresolved",
        &[".env.refs:2:7", "secret:staging/app/token"],
    );
    // `${ENV}` with no --env: the coordinate cannot be addressed at all.
    let out = run_touch(&p, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(stderr(&out).contains(".env.refs:2:7"), "{}", describe(&out));
    assert!(
        stderr(&out).contains("code: coordinate-invalid"),
        "{}",
        describe(&out)
    );
    p.assert_nothing_ran(&out);
}

#[test]
fn an_unresolved_line_is_refused_even_if_another_line_has_a_fallback_for_it() {
    let p = Proj::new();
    p.refs(concat!(
        "NEEDED=secret:dev/db/missing\n",
        "OPTIONAL=secret:dev/db/missing | fb\n",
        "URL=\"pg://u:{{secret:dev/db/missing}}@h/db\"\n",
    ));
    let out = p.run(&[
        "run",
        "--",
        "sh",
        "-c",
        "touch child-ran; echo \"[$NEEDED] [$OPTIONAL] [$URL]\"",
    ]);
    assert_refused(
        &p,
        &out,
        1,
        "unresolved",
        &[".env.refs:1:8", "secret:dev/db/missing"],
    );
}

#[test]
fn a_fallback_on_a_production_coordinate_is_refused() {
    let p = Proj::new();
    let prod = canary("prodfb");
    p.add("secret:prod/db/password", &prod, &[]);
    p.add("secret:dev/app/token", &canary("prodfb-dev"), &[]);
    p.refs("TOKEN=secret:dev/app/token\nDB=secret:${ENV}/db/password | devpass\n");
    // Whether or not the record exists, and whatever the executable.
    for env in ["prod", "production"] {
        let out = run_touch(&p, &["--env", env]);
        assert_refused(
            &p,
            &out,
            1,
            "fallback-refused",
            &[".env.refs:2:4", "DB", env],
        );
    }
    // Under a non-production environment the fallback applies.
    let out = p.expect(
        0,
        &["run", "--env", "dev", "--", "sh", "-c", "echo \"DB=$DB\""],
    );
    assert_eq!(stdout(&out), "DB=devpass\n");
    assert_not_printed(&p.h, &prod, "prod");
}

#[test]
fn a_locked_vault_is_refused() {
    let (p, value) = with_token("locked");
    p.h.ok(&["lock"]);
    let refused = |out: &Output| {
        assert_eq!(out.status.code(), Some(6), "{}", describe(out));
        assert!(
            stderr(out).contains("code: vault-locked"),
            "{}",
            describe(out)
        );
        assert!(out.stdout.is_empty(), "{}", describe(out));
        assert!(!p.marker().exists(), "the child ran: {}", describe(out));
    };
    refused(&run_touch(&p, &["--env", "dev"]));
    // Also after a daemon restart (a new daemon starts locked).
    stop_and_wait(&p.h);
    refused(&run_touch(&p, &["--env", "dev"]));
    let pass = p.h.pass_file.display().to_string();
    p.h.ok(&["unlock", "--passphrase-file", &pass]);
    assert!(p.injections("allow").is_empty());
    assert_not_printed(&p.h, &value, "value");
}

#[test]
fn a_command_that_does_not_exist_or_cannot_be_executed_is_refused() {
    let (p, value) = with_token("exec");
    let check = |args: &[&str], exit: i32, code: &str, mention: &str| {
        let mut full = vec!["run", "--env", "dev", "--"];
        full.extend_from_slice(args);
        let out = p.run(&full);
        assert_refused(&p, &out, exit, code, &[mention]);
    };
    check(
        &["surely-no-such-command-x9"],
        127,
        "command-not-found",
        "surely-no-such-command-x9",
    );
    check(&["./not-here.sh"], 127, "command-not-found", "not-here.sh");
    std::fs::write(p.dir.join("plain.sh"), "#!/bin/sh\ntouch child-ran\n").unwrap();
    check(&["./plain.sh"], 126, "not-executable", "plain.sh");
    std::fs::create_dir(p.dir.join("adir")).unwrap();
    check(&["./adir"], 126, "not-executable", "adir");
    // A PATH without the command: not found, although it exists elsewhere.
    let out = p.run_env(
        &[("PATH", p.dir.display().to_string().as_str())],
        &["run", "--env", "dev", "--", "python3", "-c", "pass"],
    );
    assert_refused(&p, &out, 127, "command-not-found", &["python3"]);
    assert_not_printed(&p.h, &value, "value");
}

// ---------------------------------------------------------------------------------------
// High and production values: allowlist and proof of presence
// ---------------------------------------------------------------------------------------

/// A project with a high record `KEY`, a script that proves it got it, and the script's path.
fn high_setup(tag: &str) -> (Proj, String, PathBuf) {
    let p = Proj::new();
    let value = canary(tag);
    p.add("secret:dev/api/key", &value, &["--sensitivity", "high"]);
    p.refs("KEY=secret:dev/api/key\n");
    let tool = p.dir.join("tool.sh");
    write_executable(
        &tool,
        "#!/bin/sh\ntouch child-ran\nprintf %s \"$KEY\" | sha256sum\n",
    );
    (p, value, tool)
}

fn allow_add(p: &Proj, path: &Path) {
    let out = p.pty_answer(&["allow", "add", path.to_str().unwrap()], &[PASSPHRASE]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
}

#[test]
fn a_high_record_never_goes_into_an_executable_that_is_not_allowlisted() {
    let (p, value, _) = high_setup("notallowed");
    for argv in [&["./tool.sh"][..], TOUCH] {
        let mut args = vec!["run", "--"];
        args.extend_from_slice(argv);
        let out = p.run(&args);
        assert_refused(
            &p,
            &out,
            4,
            "policy-denied",
            &["secret:dev/api/key", "allowlist"],
        );
        // Not even for a human with the passphrase: no prompt, still refused.
        let out = p.pty_answer(&args, &[PASSPHRASE]);
        assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
        assert!(
            stdout(&out).contains("code: policy-denied"),
            "{}",
            describe(&out)
        );
        assert!(!stdout(&out).contains("passphrase: "), "{}", describe(&out));
        p.assert_nothing_ran(&out);
    }
    let denied = p.injections("deny");
    assert!(!denied.is_empty());
    assert!(
        denied
            .iter()
            .all(|e| e["reason"] == "executable-not-allowlisted"),
        "{denied:?}"
    );
    // Production and inject-only records too.
    p.add("secret:prod/db/password", &canary("notallowed-prod"), &[]);
    p.add(
        "secret:dev/sign/key",
        &canary("notallowed-io"),
        &["--sensitivity", "inject-only"],
    );
    for line in ["P=secret:prod/db/password\n", "S=secret:dev/sign/key\n"] {
        p.refs(line);
        let out = run_touch(&p, &[]);
        assert_refused(&p, &out, 4, "policy-denied", &["allowlist"]);
    }
    assert_not_printed(&p.h, &value, "value");
}

#[test]
fn an_allowlisted_executable_gets_a_high_value_only_with_a_proof_of_presence() {
    let (p, value, tool) = high_setup("allowed");
    // Adding needs a proof: an agent cannot.
    let out = p.run(&["allow", "add", "./tool.sh"]);
    assert_eq!(out.status.code(), Some(5), "{}", describe(&out));
    assert!(stderr(&out).contains("code: needs-proof"));
    assert!(!stdout(&p.expect(0, &["allow", "list"])).contains("tool.sh"));
    allow_add(&p, &tool);
    let listing = stdout(&p.expect(0, &["allow", "list"]));
    let canonical = tool.canonicalize().unwrap().display().to_string();
    let sha = sha256_hex(&std::fs::read(&tool).unwrap());
    assert!(
        listing
            .lines()
            .any(|l| l.starts_with(&format!("{sha}  {canonical}  added "))),
        "{listing}"
    );

    // An agent: needs a proof, and nothing runs.
    let out = p.run(&["run", "--", "./tool.sh"]);
    assert_refused(&p, &out, 5, "needs-proof", &["inject-needs-proof"]);
    // A human with a wrong passphrase: refused, nothing runs.
    let out = p.pty_answer(&["run", "--", "./tool.sh"], &["not the passphrase"]);
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    assert!(
        stdout(&out).contains("code: proof-invalid"),
        "{}",
        describe(&out)
    );
    p.assert_nothing_ran(&out);
    // A human who types the passphrase: it runs, with the value.
    let out = p.pty_answer(&["run", "--", "./tool.sh"], &[PASSPHRASE]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let text = stdout(&out);
    assert!(text.contains("needs a proof of presence"), "{text}");
    assert!(text.contains(&sha256_hex(value.as_bytes())), "{text}");
    assert!(p.marker().exists());
    let allowed = p.injections("allow");
    assert_eq!(allowed.len(), 1, "{allowed:?}");
    assert_eq!(allowed[0]["reason"], "proof-of-presence");
    std::fs::remove_file(p.marker()).unwrap();

    // A copy of the allowlisted script elsewhere is not allowlisted.
    let copy = p.dir.join("copy.sh");
    std::fs::copy(&tool, &copy).unwrap();
    let out = p.run(&["run", "--", "./copy.sh"]);
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    assert!(!p.marker().exists());

    // Removed from the allowlist: refused again.
    let out = p.run(&["allow", "rm", "./tool.sh"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let out = p.run(&["run", "--", "./tool.sh"]);
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    assert!(
        stderr(&out).contains("code: policy-denied"),
        "{}",
        describe(&out)
    );
    assert!(!p.marker().exists());
    assert_not_printed(&p.h, &value, "value");
}

#[test]
fn an_allowlisted_executable_whose_content_changed_is_refused() {
    let p = Proj::new();
    let value = canary("hashchange");
    p.add("secret:dev/api/key", &value, &["--sensitivity", "high"]);
    p.refs("KEY=secret:dev/api/key\n");
    // A binary (a copy of `true`) and a script, both allowlisted, then changed.
    let bin = p.dir.join("mytrue");
    std::fs::copy(
        ["/bin/true", "/usr/bin/true"]
            .iter()
            .find(|p| Path::new(p).exists())
            .unwrap(),
        &bin,
    )
    .unwrap();
    let script = p.dir.join("tool.sh");
    write_executable(&script, "#!/bin/sh\ntouch child-ran\n");
    allow_add(&p, &bin);
    allow_add(&p, &script);
    // Before the change a human can run them.
    let out = p.pty_answer(&["run", "--", "./tool.sh"], &[PASSPHRASE]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    std::fs::remove_file(p.marker()).unwrap();
    let before = p.injections("allow").len();

    let mut f = std::fs::OpenOptions::new().append(true).open(&bin).unwrap();
    f.write_all(b"\0changed").unwrap();
    drop(f);
    write_executable(
        &script,
        "#!/bin/sh\ntouch child-ran\nprintf %s \"$KEY\" > stolen\n",
    );
    for target in ["./mytrue", "./tool.sh"] {
        let out = p.run(&["run", "--", target]);
        let name = target.trim_start_matches("./");
        assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
        let err = stderr(&out);
        assert!(err.contains("code: allowlist-hash-mismatch"), "{err}");
        assert!(err.contains(name) && err.contains("changed"), "{err}");
        // A human gets the same answer; no passphrase is asked for.
        let out = p.pty_answer(&["run", "--", target], &[PASSPHRASE]);
        assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
        assert!(stdout(&out).contains("code: allowlist-hash-mismatch"));
        assert!(!stdout(&out).contains("passphrase: "), "{}", describe(&out));
    }
    assert!(!p.marker().exists());
    assert!(!p.dir.join("stolen").exists());
    assert_eq!(p.injections("allow").len(), before);
    // `--no-secrets` needs no allowlist, so the changed file still runs without values.
    let out = p.expect(0, &["run", "--no-secrets", "--", "./tool.sh"]);
    assert!(out.stderr.is_empty(), "{}", describe(&out));
    assert_eq!(std::fs::read(p.dir.join("stolen")).unwrap(), b"");
    assert_not_printed(&p.h, &value, "value");
}

/// `NAME=fd:secret:…` delivers the value on a descriptor the child reads; the variable holds
/// only the descriptor's number, so the value is never in the child's environment (nor in
/// `/proc/PID/environ` for its whole life). The output is masked as for any value.
#[test]
fn a_value_on_a_descriptor_never_enters_the_childs_environment() {
    let p = Proj::new();
    let value = canary("fd");
    p.add("secret:dev/app/token", &value, &["--sensitivity", "medium"]);
    let low = canary("fd-low");
    p.add("secret:dev/app/low", &low, &[]);
    p.refs("TOKEN_FD=fd:secret:dev/app/token\nLOW_FD=fd:secret:dev/app/low\n");
    // The child reads the value into an unexported variable, looks for it in its own
    // /proc/PID/environ, and prints only a hash and the verdict.
    let script = concat!(
        "printf 'fds %s %s\\n' \"$TOKEN_FD\" \"$LOW_FD\"; ",
        "v=$(cat <&\"$TOKEN_FD\"); printf %s \"$v\" | sha256sum; ",
        "cat <&\"$LOW_FD\" | sha256sum; ",
        "if tr '\\0' '\\n' < /proc/$$/environ | grep -qF \"$v\"; then echo IN-ENV; else echo NOT-IN-ENV; fi; ",
        "cat <&\"$TOKEN_FD\" | wc -c",
    );
    let out = p.run(&["run", "--", "sh", "-c", script]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let text = stdout(&out);
    assert!(text.contains("fds 3 4"), "{text}");
    assert!(text.contains("NOT-IN-ENV"), "{text}");
    assert!(text.contains(&sha256_hex(value.as_bytes())), "{text}");
    assert!(text.contains(&sha256_hex(low.as_bytes())), "{text}");
    // Read once: a second read finds the pipe empty.
    assert!(text.trim_end().ends_with('0'), "{text}");
    assert_absent_decoded(&out_err(&out), &value, "fd delivery");
    assert_absent_decoded(&out_err(&out), &low, "fd delivery");
    // A fallback makes no sense for a descriptor.
    p.refs("TOKEN_FD=fd:secret:dev/app/token | x\n");
    let out = p.run(&["run", "--", "true"]);
    assert_ne!(out.status.code(), Some(0), "{}", describe(&out));
    assert_not_printed(&p.h, &value, "value");
}

/// A value that is also the start of another value, printed at the very end of the output:
/// the redactor's held-back tail is masked when the stream ends, never printed in clear.
#[test]
fn a_value_at_the_end_of_the_output_is_masked_even_when_it_starts_another() {
    let p = Proj::new();
    let a = canary("tail");
    let b = format!("my-{a}-2");
    p.add("secret:dev/app/a", &a, &[]);
    p.add("secret:dev/app/b", &b, &[]);
    p.refs("A=secret:dev/app/a\nB=secret:dev/app/b\n");
    let out = p.run(&["run", "--", "sh", "-c", "printf 'my-%s' \"$A\""]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(!contains(&out.stdout, a.as_bytes()), "{}", describe(&out));
    assert_eq!(stdout(&out), "my-[kovra:A]");
}
