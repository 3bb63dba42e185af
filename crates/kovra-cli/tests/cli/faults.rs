//! The vault's surroundings fail: the error names what to fix, never "restore a backup".

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::harness::*;

/// Another process (here Python's sqlite3) holds the database locked while `kovra add`
/// writes: the daemon waits its 10 s, then reports `vault-busy` (exit 1), not
/// `database-corrupt` (exit 8), and nothing is written.
#[test]
fn a_lock_held_by_another_process_is_vault_busy_not_corrupt() {
    let h = Home::init();
    h.add_ok("secret:dev/app/first", b"one", &[]);
    let script = "import sqlite3, sys\n\
                  c = sqlite3.connect(sys.argv[1], isolation_level=None)\n\
                  c.execute('BEGIN EXCLUSIVE')\n\
                  print('locked', flush=True)\n\
                  sys.stdin.read()\n\
                  c.execute('ROLLBACK')\n";
    let mut holder = Command::new("python3")
        .args(["-c", script])
        .arg(db_path(&h))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let mut ready = String::new();
    BufReader::new(holder.stdout.take().unwrap())
        .read_line(&mut ready)
        .unwrap();
    assert_eq!(ready.trim(), "locked", "the lock holder did not start");

    let (code, doc) = {
        let out = h.run_stdin(
            &["--json", "add", "secret:dev/app/second", "--stdin"],
            b"two",
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", describe(&out)));
        (out.status.code().unwrap_or(-1), v)
    };
    // Closing its stdin lets the holder roll back and exit.
    drop(holder.stdin.take());
    holder.wait().unwrap();

    assert_eq!(doc["error"]["code"], "vault-busy", "{doc}");
    assert_eq!(code, 1);
    let hint = doc["error"]["hint"].as_str().unwrap_or_default();
    assert!(hint.contains("close it"), "hint: {hint}");
    assert!(!hint.contains("restore"), "hint: {hint}");
    // Nothing was written; with the lock gone the same write goes through.
    let (_, list) = h.json(&["list"]);
    assert!(
        !list.to_string().contains("secret:dev/app/second"),
        "{list}"
    );
    h.add_ok("secret:dev/app/second", b"two", &[]);
}

/// A daemon that cannot write its log (the log is `/dev/full`) still locks and stops on
/// SIGTERM: a failed log line must never take the signal thread down.
#[test]
fn a_daemon_that_cannot_log_still_stops_on_sigterm() {
    let h = Home::init();
    h.stop();
    let log = h.home.join("daemon.log");
    let _ = std::fs::remove_file(&log);
    std::os::unix::fs::symlink("/dev/full", &log).unwrap();
    // The daemon this unlock starts writes its log (its stderr) to /dev/full.
    h.unlock_typed();
    let pid = h.daemon_pid().expect("a running daemon");
    h.add_ok("secret:dev/app/one", b"one", &[]);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while alive(pid) {
        assert!(
            std::time::Instant::now() < deadline,
            "the daemon ignored SIGTERM while its log was unwritable (still unlocked)"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = std::fs::remove_file(&log);
}

/// A connection that never sends a request is closed after the daemon's first-frame
/// timeout (10 s): idle connections cannot pile up until the daemon runs out of
/// descriptors. The daemon serves on.
#[test]
fn a_connection_that_sends_nothing_is_closed() {
    use std::io::Read;
    let h = Home::init();
    let socket = socket_files(&h)
        .into_iter()
        .next()
        .expect("the daemon's socket");
    let mut silent = std::os::unix::net::UnixStream::connect(&socket).unwrap();
    silent
        .set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let started = std::time::Instant::now();
    let mut buf = [0u8; 16];
    // Before: no answer at all, so the read times out here with an error.
    let n = silent
        .read(&mut buf)
        .expect("the daemon closes the silent connection before 20 s");
    assert_eq!(n, 0, "closed without a reply");
    assert!(started.elapsed() >= std::time::Duration::from_secs(9));
    h.add_ok("secret:dev/app/after", b"v", &[]);
}
