//! The vault's life: lock and unlock, the idle timeout, termination signals, passphrase change,
//! key rotation, history and rollback, projects, file modes, and one daemon per home.

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::*;
use crate::leak::*;

fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn stop_and_wait(h: &Home) {
    let pid = h.daemon_pid();
    h.stop();
    wait_until("the daemon to stop", Duration::from_secs(10), || {
        socket_files(h).is_empty() && !pid.is_some_and(alive)
    });
}

fn pass_arg(h: &Home) -> String {
    h.pass_file.to_str().unwrap().to_string()
}

fn unlock_with(h: &Home, file: &Path) -> std::process::Output {
    h.run(&[
        "--json",
        "unlock",
        "--passphrase-file",
        file.to_str().unwrap(),
    ])
}

fn status(h: &Home) -> Value {
    let (code, v) = h.json(&["status"]);
    assert_eq!(code, 0, "{v}");
    v
}

fn fingerprint(h: &Home, coord: &str) -> String {
    stdout(&h.ok(&["fingerprint", coord])).trim().to_string()
}

fn add(h: &Home, coord: &str, value: &str, extra: &[&str]) {
    let out = h.add(coord, value.as_bytes(), extra);
    assert!(out.status.success(), "add {coord}: {}", describe(&out));
}

fn set(h: &Home, coord: &str, value: &str, extra: &[&str]) {
    let mut args = vec!["set", coord, "--stdin"];
    args.extend_from_slice(extra);
    let out = h.run_stdin(&args, value.as_bytes());
    assert!(out.status.success(), "set {coord}: {}", describe(&out));
}

fn error_code(out: &std::process::Output) -> String {
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", describe(out)));
    v["error"]["code"].as_str().unwrap_or_default().to_string()
}

fn audit_verifies(h: &Home) -> u64 {
    let (code, v) = h.json(&["audit", "verify"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["ok"], true, "{v}");
    v["entries"].as_u64().unwrap()
}

#[test]
fn lock_and_unlock() {
    let h = Home::init();
    add(&h, "secret:dev/db/password", &canary("lock"), &[]);
    let fp = fingerprint(&h, "secret:dev/db/password");
    let s = status(&h);
    assert_eq!(s["unlocked"], true, "{s}");
    assert_eq!(s["records"], 1, "{s}");
    assert!(s["locks_in_secs"].as_u64().is_some(), "{s}");
    let out = h.ok(&["lock"]);
    assert_contains(&stderr(&out), "vault locked", &out);
    let s = status(&h);
    assert_eq!(s["unlocked"], false, "{s}");
    assert!(
        s["records"].is_null(),
        "a locked daemon told the record count: {s}"
    );
    assert!(s["vault_id"].is_null(), "{s}");
    h.ok(&["lock"]);
    let out = h.run(&["--json", "fingerprint", "secret:dev/db/password"]);
    assert_eq!(out.status.code(), Some(6), "{}", describe(&out));
    let out = unlock_with(&h, &h.pass_file);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let out = unlock_with(&h, &h.pass_file);
    assert_contains(&stdout(&out), "already unlocked", &out);
    assert_eq!(status(&h)["unlocked"], true);
    assert_eq!(fingerprint(&h, "secret:dev/db/password"), fp);
    let locks = audit(&h, &["--action", "lock"]);
    assert_eq!(locks.len(), 1, "{locks:?}");
    assert_eq!(locks[0]["reason"], "requested");
    // `lock` with no daemon running says so and starts none.
    stop_and_wait(&h);
    let out = h.ok(&["lock"]);
    assert_contains(&stderr(&out), "no daemon is running", &out);
    assert!(socket_files(&h).is_empty(), "lock started a daemon");
}

#[test]
fn the_idle_timeout_locks_the_vault() {
    let h = Home::new();
    std::fs::create_dir_all(&h.home).unwrap();
    std::fs::set_permissions(&h.home, std::fs::Permissions::from_mode(0o700)).unwrap();
    // Five seconds: long enough that a loaded machine's slow `list` cannot outlast it.
    std::fs::write(h.home.join("config.toml"), "idle_timeout_secs = 5\n").unwrap();
    h.ok(&["init", "--passphrase-file", &pass_arg(&h)]);
    add(&h, "secret:dev/db/password", &canary("idle"), &[]);
    let s = status(&h);
    assert_eq!(s["idle_timeout_secs"], 5, "{s}");
    assert_eq!(s["unlocked"], true, "{s}");
    // Work with the vault keeps it open past the timeout: each request restarts the clock.
    let start = Instant::now();
    let mut last_use = start;
    while start.elapsed() < Duration::from_millis(6500) {
        std::thread::sleep(Duration::from_millis(400));
        last_use = Instant::now();
        let out = h.run(&["--json", "list"]);
        assert_exit(&out, 0, "locked while in use");
    }
    // Left alone it locks; polling `status` does not count as use. The clock restarted when
    // the daemon handled the last `list`, which was after `last_use`.
    wait_until("the idle lock", Duration::from_secs(15), || {
        status(&h)["unlocked"] == false
    });
    assert!(
        last_use.elapsed() >= Duration::from_millis(4500),
        "locked after only {:?} idle",
        last_use.elapsed()
    );
    // The daemon logs after it locks, so a `status` can see the lock before the line is in.
    let log = || std::fs::read_to_string(h.home.join("daemon.log")).unwrap();
    wait_until("the idle lock's log line", Duration::from_secs(5), || {
        log().contains("locked after the idle timeout")
    });
    let out = h.run(&["--json", "list"]);
    assert_eq!(out.status.code(), Some(6), "{}", describe(&out));
    assert_eq!(error_code(&out), "vault-locked");
    h.ok(&["unlock", "--passphrase-file", &pass_arg(&h)]);
    let locks = audit(&h, &["--action", "lock"]);
    assert_eq!(locks.last().unwrap()["reason"], "idle-timeout", "{locks:?}");
    assert_eq!(locks.last().unwrap()["origin"], "daemon", "{locks:?}");
}

/// The daemon a command starts keeps no directory: not the one that command ran in (a
/// project on a disk to unmount), nor any other but `/`, on any of its threads.
#[test]
fn an_autostarted_daemon_keeps_no_directory_busy() {
    let h = Home::init();
    h.ok(&["daemon", "stop"]);
    let project = h.root.join("a project");
    std::fs::create_dir(&project).unwrap();
    let mut cmd = h.cmd(&["unlock", "--passphrase-file", &pass_arg(&h)]);
    cmd.current_dir(&project);
    let out = h.run_with(cmd, None);
    assert!(out.status.success(), "{}", describe(&out));
    let pid = h.daemon_pid().expect("the autostarted daemon");
    let tasks: Vec<_> = std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .map(|t| t.unwrap().path())
        .collect();
    assert!(!tasks.is_empty());
    for task in tasks {
        let cwd = std::fs::read_link(task.join("cwd")).unwrap();
        assert_eq!(
            cwd,
            Path::new("/"),
            "{} keeps {}",
            task.display(),
            cwd.display()
        );
    }
}

#[test]
fn termination_signals_lock_and_remove_the_socket() {
    let h = Home::init();
    add(&h, "secret:dev/db/password", &canary("sig"), &[]);
    let fp = fingerprint(&h, "secret:dev/db/password");
    for (n, sig) in [
        nix::sys::signal::Signal::SIGTERM,
        nix::sys::signal::Signal::SIGINT,
        nix::sys::signal::Signal::SIGHUP,
    ]
    .into_iter()
    .enumerate()
    {
        let pid = h.daemon_pid().expect("a running daemon");
        let sockets = socket_files(&h);
        assert_eq!(sockets.len(), 1, "{sockets:?}");
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), sig).unwrap();
        wait_until("the daemon to exit", Duration::from_secs(10), || {
            !alive(pid)
        });
        assert!(!sockets[0].exists(), "{sig}: the socket was left behind");
        let mut c = h.cmd(&["--json", "status"]);
        c.env("KOVRA_NO_AUTOSTART", "1");
        let out = h.run_with(c, None);
        let s: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(s["daemon"], "not-running", "{sig}: {s}");
        // A new daemon starts locked; the lock is on the trail.
        let out = h.run(&["--json", "list"]);
        assert_exit(&out, 6, sig);
        h.ok(&["unlock", "--passphrase-file", &pass_arg(&h)]);
        let locks = audit(&h, &["--action", "lock"]);
        assert_eq!(locks.len(), n + 1, "{sig}: {locks:?}");
        assert_eq!(locks[n]["reason"], "signal", "{sig}: {locks:?}");
        assert_eq!(fingerprint(&h, "secret:dev/db/password"), fp);
    }
    audit_verifies(&h);
}

#[test]
fn passwd_replaces_the_passphrase() {
    let h = Home::init();
    let value = canary("passwd");
    add(
        &h,
        "secret:staging/api/key",
        &value,
        &["--sensitivity", "high"],
    );
    let fp = human_fingerprint(&h, &[], "secret:staging/api/key", PASSPHRASE);
    let new = h.root.join("new-passphrase");
    let new_pass = "a completely different passphrase";
    std::fs::write(&new, format!("{new_pass}\n")).unwrap();
    std::fs::set_permissions(&new, std::fs::Permissions::from_mode(0o600)).unwrap();
    let wrong = h.root.join("wrong-passphrase");
    std::fs::write(&wrong, "not the passphrase\n").unwrap();
    std::fs::set_permissions(&wrong, std::fs::Permissions::from_mode(0o600)).unwrap();
    let short = h.root.join("short-passphrase");
    std::fs::write(&short, "short\n").unwrap();
    std::fs::set_permissions(&short, std::fs::Permissions::from_mode(0o600)).unwrap();
    let passwd = |old: &Path, new: &Path| {
        h.run(&[
            "--json",
            "passwd",
            "--passphrase-file",
            old.to_str().unwrap(),
            "--new-passphrase-file",
            new.to_str().unwrap(),
        ])
    };
    // A wrong current passphrase or a weak new one changes nothing.
    let out = passwd(&wrong, &new);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert_eq!(error_code(&out), "wrong-passphrase");
    // The CLI checks the current passphrase against the daemon's key first (`verify`), so
    // a wrong one, and the new one with it, never leave the CLI.
    let denied = audit(&h, &["--action", "passwd"]);
    assert!(denied.is_empty(), "{denied:?}");
    assert!(
        stderr(&out).contains("nothing was sent") || stdout(&out).contains("nothing was sent"),
        "{}",
        describe(&out)
    );
    let out = passwd(&h.pass_file, &short);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert_eq!(error_code(&out), "passphrase-weak");
    // The real change.
    let out = passwd(&h.pass_file, &new);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    // Proofs of presence now take the new passphrase.
    let out = h.run_pty(&["reveal", "secret:staging/api/key"], &[PASSPHRASE]);
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    assert!(!stdout(&out).contains(&value));
    let out = h.run_pty(&["reveal", "secret:staging/api/key"], &[new_pass]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_contains(&stdout(&out), &value, &out);
    // The old one no longer unlocks, in this daemon or the next one.
    for restart in [false, true] {
        if restart {
            stop_and_wait(&h);
        } else {
            h.ok(&["lock"]);
        }
        let out = unlock_with(&h, &h.pass_file);
        assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
        assert_eq!(error_code(&out), "wrong-passphrase");
        assert_eq!(status(&h)["unlocked"], false);
        // Typed, so that the passphrase still proves presence to this daemon.
        h.unlock_typed_with(new_pass);
        assert_eq!(
            human_fingerprint(&h, &[], "secret:staging/api/key", new_pass),
            fp
        );
    }
    audit_verifies(&h);
}

#[test]
fn rotate_key_keeps_every_value_and_version() {
    let h = Home::init();
    h.ok(&["project", "create", "web"]);
    let coords = [
        (
            "secret:dev/app/token",
            &["--sensitivity", "low", "--revealable"][..],
        ),
        ("secret:dev/db/password", &[][..]),
        ("secret:staging/api/key", &["--sensitivity", "high"][..]),
        (
            "secret:dev/signing/key",
            &["--sensitivity", "inject-only"][..],
        ),
        ("secret:prod/db/password", &[][..]),
        ("secret:dev/web/only", &["--project", "web"][..]),
    ];
    for (c, extra) in coords {
        add(&h, c, &canary("rot"), extra);
    }
    let low_value = canary("low-v2");
    let first_fp = fingerprint(&h, "secret:dev/app/token");
    set(&h, "secret:dev/app/token", &low_value, &[]);
    set(&h, "secret:dev/db/password", &canary("rot-v2"), &[]);
    h.ok(&["edit", "secret:dev/db/password", "--description", "edited"]);
    let fps = |h: &Home| -> Vec<String> {
        coords
            .iter()
            .map(|(c, extra)| {
                let project: &[&str] = if extra.contains(&"--project") {
                    &["--project", "web"]
                } else {
                    &[]
                };
                human_fingerprint(h, project, c, PASSPHRASE)
            })
            .collect()
    };
    let before = fps(&h);
    let (_, list) = h.json(&["list"]);
    let versions: u64 = list["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["version"].as_u64().unwrap())
        .sum();
    let records_before = list["records"].clone();
    for round in 0..2 {
        let out = h.ok(&["rotate-key"]);
        assert!(
            stderr(&out).contains(&format!("{versions} versions re-sealed")),
            "round {round}: {}",
            describe(&out)
        );
        assert_eq!(fps(&h), before, "round {round}: a value changed");
    }
    let (_, list) = h.json(&["list"]);
    assert_eq!(list["records"], records_before);
    assert_eq!(list["tampered"], 0);
    // The new keys are what the next daemon unlocks with.
    stop_and_wait(&h);
    h.unlock_typed();
    assert_eq!(fps(&h), before);
    assert_eq!(
        h.ok(&["reveal", "secret:dev/app/token"]).stdout,
        low_value.as_bytes()
    );
    audit_verifies(&h);
    assert_eq!(audit(&h, &["--action", "rotate-key"]).len(), 2);
    // Old versions were re-sealed too.
    h.ok(&["rollback", "secret:dev/app/token", "1"]);
    assert_eq!(fingerprint(&h, "secret:dev/app/token"), first_fp);
}

#[test]
fn history_and_rollback() {
    let h = Home::init();
    let coord = "secret:dev/db/password";
    let values = [canary("v1"), canary("v2"), canary("v3")];
    add(
        &h,
        coord,
        &values[0],
        &[
            "--sensitivity",
            "low",
            "--revealable",
            "--description",
            "first",
        ],
    );
    let mut fps = vec![fingerprint(&h, coord)];
    for v in &values[1..] {
        set(&h, coord, v, &[]);
        fps.push(fingerprint(&h, coord));
    }
    assert_ne!(fps[0], fps[1]);
    assert_ne!(fps[1], fps[2]);
    let (code, hist) = h.json(&["history", coord]);
    assert_eq!(code, 0, "{hist}");
    let numbers: Vec<u64> = hist["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, vec![1, 2, 3], "{hist}");
    assert_eq!(hist["versions"][0]["description"], "first");
    let out = h.ok(&["history", coord]);
    let text = stdout(&out);
    assert!(text.starts_with(&format!("history of {coord}")), "{text}");
    for v in ["v1", "v2", "v3"] {
        assert!(text.contains(v), "{text}");
    }
    // The current version is marked, and only it.
    assert!(text.contains("* v3"), "{text}");
    assert!(!text.contains("* v1") && !text.contains("* v2"), "{text}");
    for v in &values {
        assert!(
            !text.contains(v.as_str()),
            "history printed a value: {text}"
        );
    }
    // Rollback restores an old value as a new version.
    let out = h.run(&["--json", "rollback", coord, "1"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let reply: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(reply["version"], 4, "{reply}");
    assert_eq!(fingerprint(&h, coord), fps[0]);
    assert_eq!(h.ok(&["reveal", coord]).stdout, values[0].as_bytes());
    // As history prints it: `v2`.
    h.ok(&["rollback", coord, "v2"]);
    assert_eq!(fingerprint(&h, coord), fps[1]);
    let out = h.run(&["rollback", coord, "version-two"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(stderr(&out).contains("like 3 or v3"), "{}", describe(&out));
    let (_, shown) = h.json(&["show", coord]);
    assert_eq!(shown["version"], 5);
    let (_, hist) = h.json(&["history", coord]);
    assert_eq!(hist["versions"].as_array().unwrap().len(), 5);
    let rollbacks = audit(&h, &["--action", "rollback", "--coordinate", coord]);
    assert_eq!(rollbacks.len(), 2, "{rollbacks:?}");
    assert_eq!(rollbacks[0]["detail"], "restored version 1");
    // --limit keeps the last entries.
    let last = audit(
        &h,
        &[
            "--action",
            "rollback",
            "--coordinate",
            coord,
            "--limit",
            "1",
        ],
    );
    assert_eq!(last.len(), 1, "{last:?}");
    assert_eq!(last[0]["seq"], rollbacks[1]["seq"], "{last:?}");
    audit_verifies(&h);
}

#[test]
fn projects_shadow_and_fall_through_to_global() {
    let h = Home::init();
    let (g_shared, p_shared, g_only, p_only) = (
        canary("g-shared"),
        canary("p-shared"),
        canary("g-only"),
        canary("p-only"),
    );
    let low = ["--sensitivity", "low", "--revealable"];
    add(&h, "secret:dev/db/password", &g_shared, &low);
    add(&h, "secret:dev/global/only", &g_only, &low);
    h.ok(&["project", "create", "web"]);
    h.ok(&["project", "create", "api"]);
    let (_, projects) = h.json(&["project", "list"]);
    assert_eq!(projects["projects"], serde_json::json!(["api", "web"]));
    // --project web add creates in the project, even where global has the coordinate.
    let out = h.run_stdin(
        &[
            "--json",
            "--project",
            "web",
            "add",
            "secret:dev/db/password",
            "--stdin",
            "--sensitivity",
            "low",
            "--revealable",
        ],
        p_shared.as_bytes(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let written: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(written["vault"], "project:web", "{written}");
    add(
        &h,
        "secret:dev/web/only",
        &p_only,
        &["--project", "web", "--sensitivity", "low", "--revealable"],
    );

    let in_web = |args: &[&str]| {
        let mut full = vec!["--project", "web"];
        full.extend_from_slice(args);
        h.ok(&full).stdout
    };
    let vault_of = |project: Option<&str>, coord: &str| {
        let mut args = vec![];
        if let Some(p) = project {
            args.extend(["--project", p]);
        }
        args.extend(["show", coord]);
        let (code, v) = h.json(&args);
        assert_eq!(code, 0, "{args:?}: {v}");
        v["vault"].as_str().unwrap().to_string()
    };
    // The project record shadows the global one.
    assert_eq!(
        vault_of(Some("web"), "secret:dev/db/password"),
        "project:web"
    );
    assert_eq!(
        in_web(&["reveal", "secret:dev/db/password"]),
        p_shared.as_bytes()
    );
    // A record only in global is reached through the project.
    assert_eq!(vault_of(Some("web"), "secret:dev/global/only"), "global");
    assert_eq!(
        in_web(&["reveal", "secret:dev/global/only"]),
        g_only.as_bytes()
    );
    // secret://global/ always reaches global.
    assert_eq!(
        vault_of(Some("web"), "secret://global/dev/db/password"),
        "global"
    );
    assert_eq!(
        in_web(&["reveal", "secret://global/dev/db/password"]),
        g_shared.as_bytes()
    );
    // Without a project, and from another project, the project's records are not there.
    assert_eq!(vault_of(None, "secret:dev/db/password"), "global");
    assert_eq!(
        h.ok(&["reveal", "secret:dev/db/password"]).stdout,
        g_shared.as_bytes()
    );
    assert_eq!(vault_of(Some("api"), "secret:dev/db/password"), "global");
    for args in [
        &["--json", "show", "secret:dev/web/only"][..],
        &["--json", "--project", "api", "show", "secret:dev/web/only"],
        &[
            "--json",
            "--project",
            "web",
            "show",
            "secret://global/dev/web/only",
        ],
    ] {
        let out = h.run(args);
        assert_exit(&out, 3, format!("{args:?}"));
    }
    // KOVRA_PROJECT works like --project.
    let mut c = h.cmd(&["reveal", "secret:dev/db/password"]);
    c.env("KOVRA_PROJECT", "web");
    assert_eq!(h.run_with(c, None).stdout, p_shared.as_bytes());
    // Fingerprints tell the two values apart without showing them.
    let web_fp = stdout(&h.ok(&["--project", "web", "fingerprint", "secret:dev/db/password"]));
    assert_ne!(
        web_fp,
        stdout(&h.ok(&["fingerprint", "secret:dev/db/password"]))
    );
    // The project listing shows the project's records and the global ones.
    let (_, list) = h.json(&["--project", "web", "list"]);
    let mut seen: Vec<(String, String)> = list["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["vault"].as_str().unwrap().to_string(),
                r["coordinate"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        vec![
            ("global".to_string(), "secret:dev/db/password".to_string()),
            ("global".into(), "secret:dev/global/only".into()),
            ("project:web".into(), "secret:dev/db/password".into()),
            ("project:web".into(), "secret:dev/web/only".into()),
        ]
    );
    let (_, list) = h.json(&["--project", "api", "list"]);
    assert!(
        list["records"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["vault"] == "global"),
        "{list}"
    );
    // Removing the project record uncovers the global one again.
    h.ok(&["--project", "web", "rm", "secret:dev/db/password"]);
    assert_eq!(vault_of(Some("web"), "secret:dev/db/password"), "global");
}

#[test]
fn files_are_private() {
    let h = Home::init();
    add(&h, "secret:dev/db/password", &canary("modes"), &[]);
    h.ok(&["list"]);
    let sock = socket_files(&h);
    assert_eq!(sock.len(), 1, "{sock:?}");
    let mode = |p: &Path| std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777;
    let expect: Vec<(PathBuf, u32)> = vec![
        (h.home.clone(), 0o700),
        (h.runtime.join("kovra"), 0o700),
        (h.home.join("vault.db"), 0o600),
        (h.home.join("vault.db-wal"), 0o600),
        (h.home.join("vault.db-shm"), 0o600),
        (h.home.join("daemon.log"), 0o600),
        (h.home.join("daemon.lock"), 0o600),
        (sock[0].clone(), 0o600),
    ];
    for (p, want) in &expect {
        assert!(p.exists(), "{} is missing", p.display());
        assert_eq!(mode(p), *want, "{} has mode {:o}", p.display(), mode(p));
    }
    assert!(
        std::fs::symlink_metadata(&sock[0])
            .unwrap()
            .file_type()
            .is_socket()
    );
    // And everything else kovra made under the home and runtime dirs.
    fn check(dir: &Path, mode: &dyn Fn(&Path) -> u32) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            let m = mode(&p);
            if p.is_dir() {
                assert_eq!(m, 0o700, "{} has mode {m:o}", p.display());
                check(&p, mode);
            } else {
                assert_eq!(m, 0o600, "{} has mode {m:o}", p.display());
            }
        }
    }
    check(&h.home, &mode);
    check(&h.runtime, &mode);
    // The modes survive a restart and a checkpoint.
    stop_and_wait(&h);
    h.ok(&["unlock", "--passphrase-file", &pass_arg(&h)]);
    check(&h.home, &mode);
    assert_eq!(mode(&h.home.join("vault.db")), 0o600);
}

#[test]
fn status_without_a_daemon_does_not_start_one() {
    // Fresh: nothing is created.
    let h = Home::new();
    let out = h.ok(&["status"]);
    let text = stdout(&out);
    assert!(text.contains("not running"), "{text}");
    assert!(text.contains("not initialised"), "{text}");
    assert!(!h.home.exists(), "status created the home");
    // Initialised, daemon stopped.
    let h = Home::init();
    stop_and_wait(&h);
    let out = h.ok(&["status"]);
    let text = stdout(&out);
    assert!(text.contains("daemon:      not running"), "{text}");
    assert!(text.contains("initialised, locked"), "{text}");
    let (code, s) = h.json(&["status"]);
    assert_eq!(code, 0);
    assert_eq!(s["daemon"], "not-running", "{s}");
    assert_eq!(s["initialized"], true, "{s}");
    assert_eq!(s["unlocked"], false, "{s}");
    // A daemon `status` spawned would be a process before `status` returned, listening or not.
    assert!(daemons_of(&h).is_empty(), "status started a daemon");
    assert!(socket_files(&h).is_empty(), "status started a daemon");
}

#[test]
fn one_daemon_per_home() {
    let h = Home::new();
    std::fs::create_dir_all(&h.home).unwrap();
    std::fs::set_permissions(&h.home, std::fs::Permissions::from_mode(0o700)).unwrap();
    // The flag wins over the config file.
    std::fs::write(h.home.join("config.toml"), "idle_timeout_secs = 600\n").unwrap();
    let mut first = h
        .cmd(&["daemon", "--idle-timeout", "7"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until("the first daemon's socket", Duration::from_secs(10), || {
        !socket_files(&h).is_empty()
    });
    let s = status(&h);
    assert_eq!(s["daemon_pid"], first.id(), "{s}");
    assert_eq!(s["idle_timeout_secs"], 7, "{s}");
    let out = h.run(&["--json", "daemon"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert_eq!(error_code(&out), "daemon-running");
    let out = h.run(&["daemon"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert_contains(&stderr(&out), "already running", &out);
    // `init` hands the passphrase only to a daemon it starts itself: the first one, locked,
    // hands over and exits cleanly, and the new one serves the home alone.
    h.ok(&["init", "--passphrase-file", &pass_arg(&h)]);
    let code = first.wait().unwrap();
    assert!(code.success(), "{code:?}");
    let s = status(&h);
    assert_ne!(s["daemon_pid"], first.id(), "{s}");
    assert_eq!(s["unlocked"], true, "{s}");
    h.stop();
    wait_until("the socket to go", Duration::from_secs(10), || {
        socket_files(&h).is_empty()
    });
}

/// A daemon that cannot start (here: an invalid config file) is reported with its reason as
/// soon as it exits, not after the client's ten-second wait for its socket.
#[test]
fn an_autostarted_daemon_that_exits_is_reported_with_its_reason() {
    let h = Home::init();
    stop_and_wait(&h);
    std::fs::write(h.home.join("config.toml"), "proof_kinds = [\"anything\"]\n").unwrap();
    let out = h.run(&["list"]);
    assert!(!out.status.success(), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("the daemon it started exited"),
        "{}",
        describe(&out)
    );
    assert!(err.contains("proof_kinds"), "{}", describe(&out));
}

/// The C library's tunables and allocator switches steer how the key holder allocates and
/// runs, as the loader's variables steer what it loads: a daemon started with one refuses to
/// run, and the CLI starts its daemon without them, so a shell that sets one still unlocks.
#[test]
fn the_daemon_runs_without_the_c_librarys_tunables() {
    let h = Home::init();
    stop_and_wait(&h);
    for (name, value) in [
        ("GLIBC_TUNABLES", "glibc.malloc.perturb=165"),
        ("MALLOC_PERTURB_", "165"),
    ] {
        let out = h
            .cmd(&["--json", "daemon"])
            .env(name, value)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{name}: {}", describe(&out));
        assert_eq!(error_code(&out), "daemon-refused", "{name}");
        assert_contains(&String::from_utf8_lossy(&out.stdout), name, &out);
        assert!(
            socket_files(&h).is_empty(),
            "{name}: a refused daemon left a socket"
        );

        let out = h
            .cmd(&["--json", "unlock", "--passphrase-file", &pass_arg(&h)])
            .env(name, value)
            .output()
            .unwrap();
        assert!(out.status.success(), "{name}: {}", describe(&out));
        assert_eq!(status(&h)["unlocked"], true, "{name}");
        stop_and_wait(&h);
    }
}
