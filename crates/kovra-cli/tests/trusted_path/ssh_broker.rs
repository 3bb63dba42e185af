//! Brokered ssh used by a same-user, non-root process as an agent would: `kovra ssh` runs an
//! allowed command on a pinned host, and at no moment does any process but the daemon hold
//! the key or the session — the daemon speaks ssh itself, with no `ssh` child, agent socket
//! or key file an agent could read, trace or reuse.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kovra_testsshd::Sshd;

use crate::harness::{Home, PASSPHRASE, describe, stdout};
use crate::nonroot::test_user;

const KEY: &str = "secret:dev/ssh/deploy";

/// The pids whose parent is `pid`.
fn children_of(pid: u32) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
            continue;
        };
        // `pid (comm) state ppid …`: the comm may hold spaces, so split after its `)`.
        let Some((comm, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let ppid = rest.split_whitespace().nth(1).and_then(|p| p.parse().ok());
        if ppid == Some(pid) {
            out.push((child, comm.split_once('(').map_or("", |c| c.1).to_string()));
        }
    }
    out
}

#[test]
fn a_same_user_process_runs_allowed_commands_and_nothing_but_the_daemon_holds_the_session() {
    if test_user(
        "ssh_broker::a_same_user_process_runs_allowed_commands_and_nothing_but_the_daemon_holds_the_session",
    ) {
        return;
    }
    let h = Home::init();
    let pem = crate::common::openssh_key_in_vault(&h, KEY);
    let sshd = Sshd::start(&stdout(&h.ok(&["pubkey", KEY])), "ed25519");

    // The human pins the host at the terminal (the proof typed there).
    let user = String::from_utf8_lossy(&Command::new("id").arg("-un").output().unwrap().stdout)
        .trim()
        .to_string();
    let address = format!("127.0.0.1:{}", sshd.port());
    let out = h.run_pty(
        &[
            "ssh-host", "add", "web", &address, "--user", &user, "--key", KEY, "--allow",
            "sleep *", "--allow", "echo *",
        ],
        &[PASSPHRASE],
    );
    assert!(out.status.success(), "ssh-host add: {}", describe(&out));

    // The agent's command (no terminal) runs; while it runs, the daemon has no child.
    let daemon = h.daemon_pid().expect("the daemon's pid");
    let mut running = h
        .cmd(&["ssh", "web", "--", "sleep", "2"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut polls = 0;
    while running.try_wait().unwrap().is_none() && Instant::now() < deadline {
        let children = children_of(daemon);
        assert!(
            children.is_empty(),
            "the daemon started {children:?} for a brokered command"
        );
        polls += 1;
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = running.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "kovra ssh: {}\n{}",
        describe(&out),
        sshd.log()
    );
    assert!(
        polls > 10,
        "the command did not run long enough to look ({polls} polls)"
    );
    assert!(
        sshd.log().contains("Accepted publickey"),
        "no login: {}",
        sshd.log()
    );

    // The daemon that holds the key is closed to this same user.
    for file in ["mem", "environ"] {
        let path = format!("/proc/{daemon}/{file}");
        assert!(
            std::fs::read(&path).is_err(),
            "{path} is readable by the daemon's own user"
        );
    }
    let out = h
        .cmd(&["ssh", "web", "--", "echo", "done"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "done\n", "{}", describe(&out));

    // The private key's lines are in no output, file or audit entry.
    let needles: Vec<Vec<u8>> = pem
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() > 16)
        .map(|l| l.as_bytes().to_vec())
        .collect();
    let trail = h.ok(&["audit", "--json"]).stdout;
    for n in &needles {
        assert!(
            !trail.windows(n.len()).any(|w| w == n.as_slice()),
            "on the trail"
        );
    }
    assert!(!h.transcript_contains(&needles), "the private key printed");
    assert_eq!(
        h.files_containing(&needles),
        Vec::<std::path::PathBuf>::new()
    );
    h.stop();
}
