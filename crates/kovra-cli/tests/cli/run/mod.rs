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

mod at_rest;
mod children;
mod default_env;
mod descriptors;
mod environment;
mod heap;
mod high;
mod redaction;
mod refusals;
mod sandboxed;
mod terminals;

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// The project of a run test (`Project`, with the helpers below).
type Proj = Project;

impl Proj {
    fn run(&self, args: &[&str]) -> Output {
        self.h.run_with(self.cmd(args), None)
    }

    fn run_stdin(&self, args: &[&str], stdin: &[u8]) -> Output {
        self.h.run_with(self.cmd(args), Some(stdin))
    }

    /// `args` must exit with `code`.
    fn expect(&self, code: i32, args: &[&str]) -> Output {
        let out = self.run(args);
        assert_exit(&out, code, format!("{args:?}"));
        out
    }

    /// The harness's `pty_answer.py` (a real PTY of size 0x0, typing passphrases), run in
    /// the project directory.
    fn pty_answer(&self, args: &[&str], answers: &[&str]) -> Output {
        let mut py = self.h.pty_answer_cmd("answers-run", args, answers);
        py.current_dir(&self.dir);
        self.h.run_with(py, None)
    }

    /// A command that runs `kovra ARGS` on a fresh PTY of `rows` x `cols` (its controlling
    /// terminal; `tests/support/pty_drive.py`), following `steps`: `[wait_for_text, "type",
    /// text]`, `[wait_for_text, "resize", [rows, cols]]` or `[wait_for_text, "sleep", seconds]`.
    /// Everything the terminal showed goes to stdout; it exits with kovra's status.
    fn pty_drive(&self, rows: u16, cols: u16, steps: Value, args: &[&str]) -> Command {
        let mut py = self.h.support_cmd(
            "pty_drive.py",
            [rows.to_string(), cols.to_string(), steps.to_string()],
            args,
        );
        py.current_dir(&self.dir);
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

/// Wait until process `pid` watches `sig` (`SigCgt` or `SigBlk` in /proc/PID/status). The child's stdio is
/// the kovra client's own, handed to the daemon, so the child can print before the client
/// watches signals: a signal sent before then would kill the client instead of reaching the
/// child.
fn wait_catching(pid: Pid, sig: Signal, within: Duration) {
    let bit = 1u64 << (sig as i32 - 1);
    let deadline = Instant::now() + within;
    loop {
        // Caught by a handler, or blocked for a `signalfd` to read (how `kovra run` does).
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let mask = |field: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|h| u64::from_str_radix(h.trim(), 16).ok())
                .unwrap_or(0)
        };
        if (mask("SigCgt:") | mask("SigBlk:")) & bit != 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "kovra run ({pid}) did not start watching {sig:?} within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Wait until process `pid` runs the program named `comm` (a shell's `exec` has happened).
fn wait_comm(pid: i32, comm: &str, within: Duration) {
    let deadline = Instant::now() + within;
    while std::fs::read_to_string(format!("/proc/{pid}/comm")).map_or(true, |c| c.trim() != comm) {
        assert!(
            Instant::now() < deadline,
            "process {pid} did not become {comm} within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
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
    write_program(path, text);
}

/// A project with one medium record, `TOKEN`, wired in `.env.refs`.
/// The arguments of `kovra run --env dev -- CHILD...` (the dev refs, then the child).
fn run_dev<'a>(child: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["run", "--env", "dev", "--"];
    args.extend_from_slice(child);
    args
}

fn with_token(tag: &str) -> (Proj, String) {
    let p = Proj::new();
    let value = canary(tag);
    p.add("secret:dev/app/token", &value, &[]);
    p.refs("TOKEN=secret:${ENV}/app/token\n");
    (p, value)
}

const PY_SHA_OF: &str =
    "import hashlib,os,sys;print(hashlib.sha256(os.environ[sys.argv[1]].encode()).hexdigest())";
