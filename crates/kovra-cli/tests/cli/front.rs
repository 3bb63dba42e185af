//! The two programs (`src/front.rs`): `kovra` runs `run`, `status` and `list` itself and
//! hands everything else to `kovra-full` beside it; its daemon is `kovra-full`.

use crate::harness::*;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output};

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_front_runs_hot_commands_itself_and_hands_the_rest_to_kovra_full() {
    let h = Home::init();
    h.add_ok("secret:dev/front/TOKEN", b"front-canary-7f3a", &[]);
    // Copies of both programs, kovra-full not executable: a hand-over would fail.
    let dir = tempfile::tempdir().unwrap();
    let front = dir.path().join("kovra");
    install_program(&kovra_bin(), &front, 0o755);
    let full = dir.path().join("kovra-full");
    install_program(&kovra_bin().with_file_name("kovra-full"), &full, 0o644);
    let in_home = |args: &[&str]| {
        h.with_env(Command::new(&front))
            .args(args)
            .output()
            .unwrap()
    };

    // status, list and run: answered by the front, from the daemon the real kovra-full
    // runs (a copy of the same program passes the peer check).
    let status = in_home(&["--json", "status"]);
    assert!(status.status.success(), "{}", describe(&status));
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(v["unlocked"], true, "{v}");
    let list = in_home(&["list", "--json"]);
    assert!(list.status.success(), "{}", describe(&list));
    assert!(
        text(&list).contains("secret:dev/front/TOKEN"),
        "{}",
        describe(&list)
    );
    let refs = dir.path().join("refs");
    std::fs::write(&refs, "TOKEN=secret:dev/front/TOKEN\n").unwrap();
    let run = in_home(&[
        "run",
        "--refs",
        refs.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        "test -n \"$TOKEN\" && echo \"got $TOKEN\"",
    ]);
    assert!(run.status.success(), "{}", describe(&run));
    assert!(text(&run).starts_with("got "), "{}", describe(&run));

    // Anything else is kovra-full's: here it cannot be executed, and the front says so.
    let version = in_home(&["--version"]);
    assert_eq!(version.status.code(), Some(1), "{}", describe(&version));
    assert!(
        String::from_utf8_lossy(&version.stderr).contains("cannot execute"),
        "{}",
        describe(&version)
    );
    // Once it can, its output and exit codes are the front's, usage errors included.
    std::fs::set_permissions(&full, std::fs::Permissions::from_mode(0o755)).unwrap();
    let version = in_home(&["--version"]);
    assert!(version.status.success() && text(&version).starts_with("kovra "));
    let typo = in_home(&["lsit"]);
    assert_eq!(typo.status.code(), Some(2), "{}", describe(&typo));
    let bad_run = in_home(&["run", "--egress", "nowhere", "--", "true"]);
    assert_eq!(bad_run.status.code(), Some(2), "{}", describe(&bad_run));
    for out in [&status, &list, &run, &version, &typo, &bad_run] {
        assert!(
            !contains(&out.stdout, b"front-canary-7f3a"),
            "{}",
            describe(out)
        );
        assert!(
            !contains(&out.stderr, b"front-canary-7f3a"),
            "{}",
            describe(out)
        );
    }
}

#[test]
fn a_front_without_kovra_full_says_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let front = dir.path().join("kovra");
    install_program(&kovra_bin(), &front, 0o755);
    for args in [&["status"][..], &["--version"], &["--json", "list"]] {
        let out = Command::new(&front).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
        let said = format!("{}{}", text(&out), String::from_utf8_lossy(&out.stderr));
        assert!(
            said.contains("install-incomplete") || said.contains("kovra-full is missing"),
            "{said}"
        );
        assert!(said.contains("kovra-full"), "{said}");
    }
    let out = Command::new(&front)
        .args(["--json", "list"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["error"]["code"], "install-incomplete", "{v}");
}

#[test]
fn a_front_installed_as_kovra_full_is_named_instead_of_executing_itself_forever() {
    let dir = tempfile::tempdir().unwrap();
    let front = dir.path().join("kovra");
    install_program(&kovra_bin(), &front, 0o755);
    install_program(&kovra_bin(), &dir.path().join("kovra-full"), 0o755);
    let mut child = Command::new(&front)
        .args(["--json", "--version"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("the front handed `--version` over to itself, again and again");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    assert_eq!(v["error"]["code"], "install-incomplete", "{v}");
    let message = v["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("is not kovra-full"), "{v}");
    // The real kovra-full takes the mark as it comes from a front (and forgets it).
    let full = kovra_bin().with_file_name("kovra-full");
    let out = Command::new(&full)
        .env("KOVRA_HANDED_OVER", "1")
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
}

#[test]
fn a_front_refuses_a_daemon_that_is_not_its_kovra_full() {
    // The daemon runs the real kovra-full; this front's kovra-full is another file.
    let h = Home::init();
    let dir = tempfile::tempdir().unwrap();
    let front = dir.path().join("kovra");
    install_program(&kovra_bin(), &front, 0o755);
    let other = dir.path().join("kovra-full");
    write_program(&other, "#!/bin/sh\nexit 0\n");
    let out = h
        .with_env(Command::new(&front))
        .args(["--json", "status"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    if nix::unistd::geteuid().is_root() {
        // Root can read the daemon's executable: the check runs, and refuses.
        assert_ne!(out.status.code(), Some(0), "{}", describe(&out));
        assert_eq!(v["error"]["code"], "daemon-unauthenticated", "{v}");
    } else {
        // A non-dumpable daemon's executable cannot be read by its own user: the lock
        // holder and uid checks remain (crates/kovra-client/src/peer.rs).
        assert!(out.status.success(), "{}", describe(&out));
    }
}

/// Text symbols of `binary` whose demangled name contains `needle`.
fn linked(binary: &std::path::Path, needle: &str) -> usize {
    let out = Command::new("nm")
        .args(["--defined-only", "-C"])
        .arg(binary)
        .output()
        .expect("nm (binutils, installed with gcc) is needed");
    assert!(out.status.success(), "{}", describe(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| {
            let mut f = l.split_whitespace();
            matches!(f.nth(1), Some("t" | "T")) && l.contains(needle)
        })
        .count()
}

#[test]
fn the_front_links_no_daemon_mcp_broker_sharing_store_or_qr_code() {
    let front = kovra_bin();
    let full = front.with_file_name("kovra-full");
    for needle in [
        "kovra_daemon::",
        "kovra_mcp::",
        "kovra_broker::",
        "kovra_share::",
        "kovra_proxy::",
        "sqlite3",
        "qrcode::",
        "clap_mangen::",
        "clap_complete::",
    ] {
        // kovra-full has them all: the count can tell.
        assert!(linked(&full, needle) > 0, "kovra-full links no {needle}?");
        assert_eq!(linked(&front, needle), 0, "the front links {needle}");
    }
}
