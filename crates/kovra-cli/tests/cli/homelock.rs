//! The home's daemon lock as clients see it (`kovra_proto::homelock`): a process that holds
//! it first keeps every daemon out, and a daemon where `unshare` is refused still holds it.
//! That no run frees it is tested as a same-user agent, non-root, in
//! `tests/trusted_path/homelock.rs`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kovra_proto::homelock;

use crate::harness::*;

/// A Python process holding a lock on `path` until its stdin closes: `kind` is `lockf` (a
/// record lock) or `flock`.
fn hold(path: &std::path::Path, kind: &str) -> Child {
    let script = format!(
        "import fcntl, sys\n\
         f = open(sys.argv[1], 'a')\n\
         fcntl.{kind}(f, fcntl.LOCK_EX | fcntl.LOCK_NB)\n\
         print('held', flush=True)\n\
         sys.stdin.read()\n"
    );
    let mut child = Command::new("python3")
        .args(["-c", &script])
        .arg(path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    let mut ready = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut ready)
        .unwrap();
    assert_eq!(ready.trim(), "held", "the {kind} holder did not start");
    child
}

fn release(mut child: Child) {
    drop(child.stdin.take());
    child.wait().unwrap();
}

/// A process that took either lock before any daemon keeps every daemon of this home from
/// starting: clients never meet a daemon whose lock another process holds.
#[test]
fn a_process_holding_either_lock_keeps_the_daemon_from_starting() {
    let h = Home::init();
    h.add_ok("secret:dev/app/token", b"homelock-canary-2", &[]);
    h.stop();
    let lock = h.home.join("daemon.lock");
    for kind in ["lockf", "flock"] {
        let holder = hold(&lock, kind);
        let log = h.root.join(format!("daemon-{kind}.log"));
        let mut daemon = h
            .cmd(&["daemon"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        // It gives a stopping daemon 3 s to let go, then refuses; one still running later
        // started beside the holder.
        let deadline = Instant::now() + Duration::from_secs(15);
        let status = loop {
            if let Some(status) = daemon.try_wait().unwrap() {
                break Some(status);
            }
            if Instant::now() > deadline {
                let _ = daemon.kill();
                let _ = daemon.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let said = std::fs::read_to_string(&log).unwrap_or_default();
        release(holder);
        let status = status.unwrap_or_else(|| panic!("a daemon started beside a {kind} holder"));
        assert!(!status.success(), "with a {kind} holder: {said}");
        assert!(said.contains("already"), "with a {kind} holder: {said}");
    }
    h.unlock_typed();
    let pid = h.daemon_pid().expect("a daemon once the holders are gone");
    assert_eq!(homelock::holder(&lock).unwrap(), Some(pid as i32));
    assert!(!h.transcript_contains(&[b"homelock-canary-2".to_vec()]));
}

/// Where a seccomp filter refuses `unshare` (Docker's and Kubernetes' default profiles
/// without `CAP_SYS_ADMIN`), the daemon still starts and holds the record lock, from its own
/// table; a run that closes a descriptor of the lock file does not leave it free.
#[test]
fn where_unshare_is_refused_the_daemon_still_holds_the_record_lock() {
    let h = Home::init();
    h.stop();
    let lock = h.home.join("daemon.lock");
    let log = h.root.join("daemon.log");
    let mut c = h.cmd(&["daemon"]);
    c.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    // SAFETY: between fork and exec the child only makes two prctl calls on its own memory.
    #[allow(unsafe_code)]
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut c, refuse_unshare);
    }
    let mut daemon = c.spawn().unwrap();
    let pid = daemon.id();
    let deadline = Instant::now() + Duration::from_secs(15);
    while h.daemon_pid() != Some(pid) {
        assert!(
            daemon.try_wait().unwrap().is_none(),
            "the daemon stopped: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        assert!(Instant::now() < deadline, "the daemon never answered");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(homelock::holder(&lock).unwrap(), Some(pid as i32));
    let said = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        said.contains("is refused here"),
        "the filter did not bite: {said}"
    );
    // The run itself may be refused here; what matters is the lock after it.
    let _ = h.run(&["run", "--no-secrets", "--", "true", lock.to_str().unwrap()]);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(h.daemon_pid(), Some(pid), "the daemon lives on");
    assert_eq!(homelock::holder(&lock).unwrap(), Some(pid as i32));
    h.stop();
    let _ = daemon.wait();
}

/// Install a seccomp filter that answers `unshare` with EPERM and allows everything else.
fn refuse_unshare() -> std::io::Result<()> {
    let filter = [
        // Load the system call number (offset 0 of `struct seccomp_data`).
        libc::sock_filter {
            code: 0x20,
            jt: 0,
            jf: 0,
            k: 0,
        },
        libc::sock_filter {
            code: 0x15,
            jt: 0,
            jf: 1,
            k: libc::SYS_unshare as u32,
        },
        libc::sock_filter {
            code: 0x06,
            jt: 0,
            jf: 0,
            k: 0x0005_0000 | libc::EPERM as u32,
        },
        libc::sock_filter {
            code: 0x06,
            jt: 0,
            jf: 0,
            k: 0x7fff_0000,
        },
    ];
    let program = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: plain prctl calls; `program` and `filter` outlive them.
    #[allow(unsafe_code)]
    unsafe {
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
            || libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &program) != 0
        {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}
