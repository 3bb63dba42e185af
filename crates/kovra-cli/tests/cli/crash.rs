//! Crash test: `kill -9` the daemon at random moments while a stream of writes is in
//! flight. Afterwards the vault must open (unlock succeeds, so the authenticated index still
//! matches the rows), and every write the CLI acknowledged (exit 0) must be there, readable,
//! with an audit trail that verifies.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::harness::*;

/// Kill rounds. The issue asks for at least 200; each round is an unlock (Argon2id,
/// ~0.25 s) plus a random 0–30 ms of writes before the SIGKILL. With the final check (a
/// fingerprint of every acknowledged record) it takes ~75 s alone, ~100 s beside the
/// other tests.
const ROUNDS: usize = 200;
/// Processes writing concurrently with the kills (each a loop of `kovra add`).
const WRITERS: usize = 3;
/// Check every acknowledged write (and the audit chain) this often, and at the end.
const VERIFY_EVERY: usize = 50;
/// The longest a kill delay may be, in milliseconds.
const MAX_DELAY_MS: u64 = 30;
/// A bound on any one command, so a wedged daemon fails the test instead of hanging it.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// A `kovra` command for a home, usable from any thread (`Home` itself is not `Sync`).
pub(crate) fn kovra_in(home: &Path, runtime: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(kovra_bin());
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("KOVRA_") {
            c.env_remove(k);
        }
    }
    c.env("KOVRA_HOME", home)
        .env("XDG_RUNTIME_DIR", runtime)
        .args(args);
    c
}

/// Run with optional stdin, failing the test if it takes longer than `COMMAND_TIMEOUT`.
pub(crate) fn run_bounded(mut c: Command, stdin: Option<&[u8]>) -> std::process::Output {
    c.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn kovra");
    if let Some(input) = stdin {
        // The daemon may die under us; a broken pipe is the command's problem, not ours.
        let _ = child.stdin.take().expect("stdin").write_all(input);
    }
    // Collect output on a thread (a large listing would fill the pipe) and bound the wait.
    let pid = Pid::from_raw(child.id() as i32);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(COMMAND_TIMEOUT) {
        Ok(out) => out.expect("wait kovra"),
        Err(_) => {
            // Our own child, by its pid.
            let _ = kill(pid, Signal::SIGKILL);
            let out = rx.recv().expect("output").expect("wait kovra");
            panic!(
                "kovra timed out after {COMMAND_TIMEOUT:?}: {}",
                describe(&out)
            );
        }
    }
}

/// xorshift64*: reproducible delays from a printed seed.
struct Rng(u64);

impl Rng {
    fn seeded() -> Rng {
        let mut b = [0u8; 8];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
            .expect("urandom");
        Rng(u64::from_le_bytes(b) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

struct Vault {
    home: PathBuf,
    runtime: PathBuf,
    pass: String,
}

impl Vault {
    fn run(&self, args: &[&str]) -> std::process::Output {
        run_bounded(kovra_in(&self.home, &self.runtime, args), None)
    }

    fn json(&self, args: &[&str]) -> (i32, serde_json::Value) {
        let mut full = vec!["--json"];
        full.extend_from_slice(args);
        let out = self.run(&full);
        let v = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
        (out.status.code().unwrap_or(-1), v)
    }

    /// Unlock (autostarting a daemon if the last one was killed) and return its pid.
    /// Retries: a writer may be autostarting a daemon at the same moment.
    fn unlock(&self) -> u32 {
        let mut failures = Vec::new();
        for _ in 0..20 {
            let out = self.run(&["unlock", "--passphrase-file", &self.pass]);
            if out.status.success() {
                let (_, status) = self.json(&["status"]);
                if status["unlocked"] == true
                    && let Some(pid) = status["daemon_pid"].as_u64()
                {
                    return pid as u32;
                }
                failures.push(format!("status after unlock: {status}"));
            } else {
                // An integrity failure is never a transient: the crash damaged the vault.
                assert_ne!(
                    out.status.code(),
                    Some(8),
                    "the vault does not open after a crash: {}",
                    describe(&out)
                );
                failures.push(describe(&out));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("could not unlock after 20 attempts: {failures:#?}");
    }

    fn listed(&self) -> HashSet<String> {
        let (code, list) = self.json(&["list"]);
        assert_eq!(code, 0, "list after crashes: {list}");
        assert_eq!(list["tampered"], 0, "{list}");
        assert_eq!(list["missing"], 0, "{list}");
        list["records"]
            .as_array()
            .expect("records")
            .iter()
            .filter_map(|r| r["coordinate"].as_str().map(str::to_string))
            .collect()
    }

    /// Every acknowledged write is listed, and the audit chain verifies.
    fn verify(&self, acked: &[(String, String)], attempted: u64) -> usize {
        let listed = self.listed();
        let lost: Vec<&String> = acked
            .iter()
            .map(|(c, _)| c)
            .filter(|c| !listed.contains(*c))
            .collect();
        assert!(
            lost.is_empty(),
            "{} acknowledged write(s) lost: {lost:?}",
            lost.len()
        );
        assert!(
            listed.len() as u64 <= attempted,
            "more records ({}) than adds attempted ({attempted})",
            listed.len()
        );
        let (code, report) = self.json(&["audit", "verify"]);
        assert_eq!(
            (code, &report["ok"]),
            (0, &serde_json::Value::Bool(true)),
            "{report}"
        );
        listed.len()
    }
}

#[test]
fn kill_9_during_writes_loses_no_acknowledged_write() {
    let started = Instant::now();
    let h = Home::init();
    let v = Arc::new(Vault {
        home: h.home.clone(),
        runtime: h.runtime.clone(),
        pass: h.pass_file.to_str().expect("utf8").to_string(),
    });
    let mut rng = Rng::seeded();
    let seed = rng.0;
    eprintln!("crash test seed {seed:#x}");

    let stop = Arc::new(AtomicBool::new(false));
    let attempted = Arc::new(AtomicU64::new(0));
    let acked: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let codes: Arc<Mutex<BTreeMap<i32, usize>>> = Arc::default();
    let odd: Arc<Mutex<Vec<String>>> = Arc::default();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (v, stop, attempted) = (Arc::clone(&v), Arc::clone(&stop), Arc::clone(&attempted));
            let (acked, codes, odd) = (Arc::clone(&acked), Arc::clone(&codes), Arc::clone(&odd));
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    n += 1;
                    attempted.fetch_add(1, Ordering::SeqCst);
                    let coord = format!("secret:dev/crash/w{w}-{n}");
                    let value = format!("crash-value-{w}-{n}-{seed:x}");
                    let out = run_bounded(
                        kovra_in(
                            &v.home,
                            &v.runtime,
                            &["add", &coord, "--stdin", "--revealable"],
                        ),
                        Some(value.as_bytes()),
                    );
                    let code = out.status.code().unwrap_or(-1);
                    *codes.lock().expect("codes").entry(code).or_default() += 1;
                    match code {
                        0 => acked.lock().expect("acked").push((coord, value)),
                        // Locked (a fresh daemon), or the daemon died under the request.
                        6 | 7 => {}
                        _ => odd
                            .lock()
                            .expect("odd")
                            .push(format!("{coord}: {}", describe(&out))),
                    }
                }
            })
        })
        .collect();

    let mut killed_with_writes_in_flight = 0usize;
    for round in 0..ROUNDS {
        let pid = v.unlock();
        if round > 0 && round % VERIFY_EVERY == 0 {
            let snapshot = acked.lock().expect("acked").clone();
            v.verify(&snapshot, attempted.load(Ordering::SeqCst));
        }
        let before = acked.lock().expect("acked").len();
        std::thread::sleep(Duration::from_millis(rng.next() % (MAX_DELAY_MS + 1)));
        kill(Pid::from_raw(pid as i32), Signal::SIGKILL).expect("SIGKILL the daemon");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !gone(pid) {
            assert!(Instant::now() < deadline, "daemon {pid} survived SIGKILL");
            std::thread::sleep(Duration::from_millis(1));
        }
        if acked.lock().expect("acked").len() > before {
            killed_with_writes_in_flight += 1;
        }
    }
    stop.store(true, Ordering::SeqCst);
    for w in writers {
        w.join().expect("writer thread");
    }

    // The vault opens after the last kill, and everything acknowledged is there.
    v.unlock();
    let acked = acked.lock().expect("acked").clone();
    let attempted = attempted.load(Ordering::SeqCst);
    let present = v.verify(&acked, attempted);
    // Each acknowledged record is readable: its keyed fingerprint opens the value, and
    // (for a sample) the value is exactly what was written.
    let checkers: Vec<_> = (0..4)
        .map(|t| {
            let v = Arc::clone(&v);
            let mine: Vec<(String, String)> = acked.iter().skip(t).step_by(4).cloned().collect();
            std::thread::spawn(move || {
                for (i, (coord, value)) in mine.iter().enumerate() {
                    let out = v.run(&["fingerprint", coord]);
                    assert!(
                        out.status.success(),
                        "fingerprint {coord}: {}",
                        describe(&out)
                    );
                    assert_contains(&stdout(&out), "kfp:", &out);
                    if i % 10 == 0 {
                        let out = v.run(&["reveal", coord]);
                        assert!(out.status.success(), "reveal {coord}: {}", describe(&out));
                        assert_eq!(stdout(&out), *value, "value of {coord} after crashes");
                    }
                }
            })
        })
        .collect();
    for c in checkers {
        c.join().expect("checker thread");
    }
    let codes = codes.lock().expect("codes").clone();
    let odd = odd.lock().expect("odd").clone();
    eprintln!(
        "crash test: {ROUNDS} kills ({killed_with_writes_in_flight} with writes acknowledged in the window), \
         {attempted} adds attempted, {} acknowledged, {present} present, exit codes {codes:?}, {:.1?}",
        acked.len(),
        started.elapsed()
    );
    assert!(odd.is_empty(), "unexpected add failures: {odd:#?}");
    assert!(
        acked.len() >= ROUNDS / 4,
        "too few writes got through for the test to mean anything: {}",
        acked.len()
    );
    // The daemon is stopped by `Home`'s drop; the last kill left a fresh one running.
    drop(h);
}
