//! Concurrency: several `kovra` processes at once against one daemon (and racing to start
//! it). Every write lands, none is corrupt, versions stay dense, the trail verifies.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Barrier};

use crate::crash::{kovra_in, run_bounded};
use crate::harness::*;

const PROCESSES: usize = 8;
const ADDS_PER_PROCESS: usize = 25;

struct Paths {
    home: PathBuf,
    runtime: PathBuf,
}

/// Run `work(i)` on `PROCESSES` threads released together; each returns its failures.
fn at_once<F>(h: &Home, work: F) -> Vec<String>
where
    F: Fn(&Paths, usize) -> Vec<String> + Send + Sync + 'static,
{
    let paths = Arc::new(Paths {
        home: h.home.clone(),
        runtime: h.runtime.clone(),
    });
    let work = Arc::new(work);
    let barrier = Arc::new(Barrier::new(PROCESSES));
    let threads: Vec<_> = (0..PROCESSES)
        .map(|i| {
            let (paths, work, barrier) =
                (Arc::clone(&paths), Arc::clone(&work), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                work(&paths, i)
            })
        })
        .collect();
    threads
        .into_iter()
        .flat_map(|t| t.join().expect("worker thread"))
        .collect()
}

fn value_of(p: usize, i: usize) -> String {
    format!("concurrent-value-{p}-{i}")
}

fn coord_of(p: usize, i: usize) -> String {
    format!("secret:dev/p{p}/key-{i}")
}

fn listed(h: &Home) -> Vec<String> {
    let (code, list) = h.json(&["list"]);
    assert_eq!(code, 0, "{list}");
    assert_eq!(
        (&list["tampered"], &list["missing"]),
        (&0.into(), &0.into()),
        "{list}"
    );
    list["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| r["coordinate"].as_str().expect("coordinate").to_string())
        .collect()
}

fn audit_ok(h: &Home) -> u64 {
    let (code, report) = h.json(&["audit", "verify"]);
    assert_eq!((code, &report["ok"]), (0, &true.into()), "{report}");
    report["entries"].as_u64().expect("entries")
}

#[test]
fn eight_processes_adding_at_once_all_land_uncorrupted() {
    let h = Home::init();
    let entries_before = audit_ok(&h);
    let failures = at_once(&h, |paths, p| {
        let mut failed = Vec::new();
        for i in 0..ADDS_PER_PROCESS {
            let coord = coord_of(p, i);
            let out = run_bounded(
                kovra_in(
                    &paths.home,
                    &paths.runtime,
                    &["add", &coord, "--stdin", "--revealable"],
                ),
                Some(value_of(p, i).as_bytes()),
            );
            if !out.status.success() {
                failed.push(format!("add {coord}: {}", describe(&out)));
            }
        }
        failed
    });
    assert!(failures.is_empty(), "concurrent adds failed: {failures:#?}");

    let total = PROCESSES * ADDS_PER_PROCESS;
    let want: HashSet<String> = (0..PROCESSES)
        .flat_map(|p| (0..ADDS_PER_PROCESS).map(move |i| coord_of(p, i)))
        .collect();
    let got = listed(&h);
    assert_eq!(got.len(), total, "list count");
    assert_eq!(got.iter().cloned().collect::<HashSet<_>>(), want);
    // One audit entry per add, plus the list above; none lost in a race.
    assert!(audit_ok(&h) > entries_before + total as u64);

    // None corrupt: every record's metadata opens and every value is exactly what its
    // writer sent (checked by eight readers at once, too).
    let failures = at_once(&h, |paths, p| {
        let mut failed = Vec::new();
        for i in 0..ADDS_PER_PROCESS {
            let coord = coord_of(p, i);
            let show = run_bounded(
                kovra_in(&paths.home, &paths.runtime, &["--json", "show", &coord]),
                None,
            );
            let meta: serde_json::Value =
                serde_json::from_slice(&show.stdout).unwrap_or(serde_json::Value::Null);
            if !show.status.success()
                || meta["coordinate"] != coord.as_str()
                || meta["version"] != 1
            {
                failed.push(format!("show {coord}: {}", describe(&show)));
            }
            let reveal = run_bounded(
                kovra_in(&paths.home, &paths.runtime, &["reveal", &coord]),
                None,
            );
            if !reveal.status.success() || reveal.stdout != value_of(p, i).as_bytes() {
                failed.push(format!("reveal {coord}: {}", describe(&reveal)));
            }
        }
        failed
    });
    assert!(failures.is_empty(), "records corrupt: {failures:#?}");

    // The authenticated index written under contention matches the rows: a fresh daemon
    // unlocks and sees the same set.
    h.stop();
    wait_until_stopped(&h);
    h.ok(&[
        "unlock",
        "--passphrase-file",
        h.pass_file.to_str().expect("utf8"),
    ]);
    assert_eq!(listed(&h).len(), total);
    audit_ok(&h);
}

#[test]
fn eight_processes_writing_one_record_keep_every_version() {
    const SETS: usize = 6;
    let h = Home::init();
    let coord = "secret:dev/shared/counter";
    h.add_ok(coord, b"initial", &["--revealable"]);
    let failures = at_once(&h, move |paths, p| {
        let mut failed = Vec::new();
        for i in 0..SETS {
            let out = run_bounded(
                kovra_in(&paths.home, &paths.runtime, &["set", coord, "--stdin"]),
                Some(value_of(p, i).as_bytes()),
            );
            if !out.status.success() {
                failed.push(describe(&out));
            }
        }
        failed
    });
    assert!(failures.is_empty(), "concurrent sets failed: {failures:#?}");
    let versions = 1 + PROCESSES * SETS;
    let (code, history) = h.json(&["history", coord]);
    assert_eq!(code, 0, "{history}");
    let numbers: Vec<u64> = history["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .map(|v| v["version"].as_u64().expect("version"))
        .collect();
    assert_eq!(
        numbers,
        (1..=versions as u64).collect::<Vec<_>>(),
        "dense, in order"
    );
    // The current value is one of the values written.
    let out = h.ok(&["reveal", coord]);
    let written: HashSet<String> = (0..PROCESSES)
        .flat_map(|p| (0..SETS).map(move |i| value_of(p, i)))
        .collect();
    assert!(written.contains(&stdout(&out)), "{}", describe(&out));
    audit_ok(&h);
}

#[test]
fn eight_processes_racing_to_autostart_share_one_daemon() {
    let h = Home::init();
    h.stop();
    wait_until_stopped(&h);
    let pass = h.pass_file.to_str().expect("utf8").to_string();
    let failures = at_once(&h, move |paths, _| {
        let out = run_bounded(
            kovra_in(
                &paths.home,
                &paths.runtime,
                &["unlock", "--passphrase-file", &pass],
            ),
            None,
        );
        if out.status.success() {
            Vec::new()
        } else {
            vec![describe(&out)]
        }
    });
    assert!(
        failures.is_empty(),
        "unlocks racing the autostart failed: {failures:#?}"
    );
    let (_, status) = h.json(&["status"]);
    assert_eq!(status["unlocked"], true, "{status}");
    // Exactly one daemon serves this home: every other start gives up on the home lock
    // (a loser may still be starting when the last client returns, so give it a moment).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut daemons = daemons_of(&h);
    while daemons.len() > 1 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
        daemons = daemons_of(&h);
    }
    assert_eq!(daemons.len(), 1, "daemons for this home: {daemons:?}");
    assert_eq!(
        Some(daemons[0]),
        status["daemon_pid"].as_u64().map(|p| p as u32)
    );
}

fn wait_until_stopped(h: &Home) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !daemons_of(h).is_empty() {
        assert!(std::time::Instant::now() < deadline, "daemon did not stop");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// 32 `kovra run` processes at once, three rounds: every run gets its descriptors and its
/// value (signals interrupting the daemon's receive are retried, not fatal), and exits 0.
#[test]
fn thirty_two_runs_at_once_all_succeed() {
    let h = Home::init();
    h.add_ok("secret:dev/app/token", b"run-load-value-1234", &[]);
    let refs = h.root.join("load.refs");
    std::fs::write(&refs, "TOKEN=secret:dev/app/token\n").unwrap();
    for round in 0..3 {
        let barrier = Arc::new(Barrier::new(32));
        let runs: Vec<_> = (0..32)
            .map(|_| {
                let mut c = h.cmd(&[
                    "run",
                    "--refs",
                    refs.to_str().unwrap(),
                    "--",
                    "sh",
                    "-c",
                    "test -n \"$TOKEN\" && echo ok",
                ]);
                c.stdin(std::process::Stdio::null())
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped());
                let barrier = Arc::clone(&barrier);
                std::thread::spawn(move || {
                    barrier.wait();
                    c.output().expect("kovra run")
                })
            })
            .collect();
        for r in runs {
            let out = r.join().unwrap();
            assert!(
                out.status.success() && stdout(&out).trim() == "ok",
                "round {round}: {}",
                describe(&out)
            );
        }
    }
}
