//! The home's record lock (`kovra_proto::homelock`), which clients trust to name the daemon,
//! stays the daemon's whatever a same-user agent has it open and close.

use std::process::Command;

use kovra_proto::homelock;

use crate::harness::*;
use crate::nonroot;

/// The fast check that every client makes depends on the daemon keeping its record lock:
/// a descriptor of the lock file opened and closed anywhere in the daemon would drop it,
/// and clients would fall back to reading `/proc/locks` (5–20 ms after a pause) unseen.
#[test]
fn the_daemon_holds_the_record_lock_through_its_work() {
    if nonroot::test_user("homelock::the_daemon_holds_the_record_lock_through_its_work") {
        return;
    }
    let p = Project::new();
    p.add("secret:dev/app/token", "homelock-canary-1", &[]);
    p.refs("TOKEN=secret:dev/app/token\n");
    let pid = p.h.daemon_pid().expect("a running daemon");
    let lock = p.h.home.join("daemon.lock");
    assert_eq!(homelock::holder(&lock).unwrap(), Some(pid as i32));

    let run = p.h.run_with(p.cmd(&["run", "--", "true"]), None);
    assert_exit(&run, 0, "kovra run");
    for args in [
        &["status"][..],
        &["list"],
        &["audit", "verify"],
        &["history", "secret:dev/app/token"],
    ] {
        let out = p.h.run(args);
        assert_exit(&out, 0, format!("kovra {args:?}"));
    }
    p.add("secret:dev/app/other", "homelock-canary-3", &[]);
    assert_eq!(p.h.daemon_pid(), Some(pid), "the same daemon lives on");
    assert_eq!(
        homelock::holder(&lock).unwrap(),
        Some(pid as i32),
        "the daemon lost its record lock"
    );
    // A run makes the daemon open (to hash) and close its arguments and its program: given
    // the lock file, a hard link to it, or the lock file as the program, a record lock held
    // from the daemon's own descriptor table would end, free for a relay to take.
    let link = p.h.root.join("lock-link");
    std::fs::hard_link(&lock, &link).unwrap();
    let (lock_arg, link_arg) = (lock.to_str().unwrap(), link.to_str().unwrap());
    for argv in [
        &["run", "--no-secrets", "--", "true", lock_arg][..],
        &["run", "--no-secrets", "--", "true", link_arg],
        &["run", "--no-secrets", "--", lock_arg],
        &["run", "--", "true", lock_arg, link_arg],
    ] {
        let _ = p.h.run_with(p.cmd(argv), None);
        assert_eq!(
            homelock::holder(&lock).unwrap(),
            Some(pid as i32),
            "after `kovra {argv:?}` the daemon lost its record lock"
        );
    }
    std::fs::remove_file(&link).unwrap();
    assert_eq!(p.h.daemon_pid(), Some(pid), "the same daemon lives on");
    // The `flock` that keeps out a daemon of an earlier kovra is held too.
    let flock = Command::new("python3")
        .args([
            "-c",
            "import fcntl, sys\nf = open(sys.argv[1], 'a')\ntry:\n    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)\n    print('free')\nexcept BlockingIOError:\n    print('held')\n",
        ])
        .arg(&lock)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&flock.stdout).trim(), "held");
}
