//! Descriptors: a child holds its own stdio and nothing of the daemon's, and a second run
//! cannot read another run's terminal.

use super::*;

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
    let out = p.expect(0, &run_dev(&["python3", "-c", PY_FDS]));
    let text = stdout(&out);
    assert!(text.contains("fd 0 ") && text.contains("fd 2 "), "{text}");
    let foreign = foreign_fds(&text, &p.h, false);
    assert!(foreign.is_empty(), "{foreign:?}\n{text}");
}

#[test]
fn a_pty_child_holds_only_its_own_terminal() {
    let (p, _) = with_token("ptyfds");
    let out = p.pty_run(24, 200, json!([]), &run_dev(&["python3", "-c", PY_FDS]));
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
    // Run A, on a terminal: prints its value (redacted on the way out) for a few seconds, and
    // says when it has started.
    let started = p.dir.join("run-a-started");
    let mut a = p.pty_drive(
        24,
        200,
        json!([]),
        &[
            "run",
            "--",
            "sh",
            "-c",
            &format!(
                "echo started; : > '{}'; i=0; while [ $i -lt 30 ]; do echo \"A $TOKEN\"; sleep 0.1; i=$((i+1)); done",
                started.display()
            ),
        ],
    );
    a.stdout(Stdio::piped()).stderr(Stdio::piped());
    let a = a.spawn().unwrap();
    // Run B starts once run A's child runs (and holds its terminal), not after a guess.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !started.exists() {
        assert!(Instant::now() < deadline, "run A never started its child");
        std::thread::sleep(Duration::from_millis(10));
    }
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
    assert_contains(&stdout(&a), "A [kovra:TOKEN]", &a);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(
        !stdout(&out).contains("master"),
        "run B holds run A's terminal: {}",
        describe(&out)
    );
    assert_absent_decoded(&out_err(&out), &value, "run B");
}
