//! kovra's ssh-agent, used by a same-user, non-root process as an agent would: it gets the
//! signatures policy allows through the socket, and never the key. The key lives only in the
//! daemon, whose memory the same user cannot read, and in no file or output.

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

use crate::harness::{Home, describe, stdout};
use crate::nonroot::test_user;

const KEY: &str = "secret:dev/ssh/deploy";

#[test]
fn a_same_user_process_gets_allowed_signatures_through_the_agent_but_never_the_key() {
    if test_user(
        "ssh_agent::a_same_user_process_gets_allowed_signatures_through_the_agent_but_never_the_key",
    ) {
        return;
    }
    let h = Home::init();
    // A key made by OpenSSH, so its private half is known here and can be looked for.
    let pem = crate::common::openssh_key_in_vault(&h, KEY);
    let public = h.root.join("id_deploy.pub");

    let line = stdout(&h.ok(&["ssh-agent"]));
    let sock = line
        .strip_prefix("SSH_AUTH_SOCK=")
        .and_then(|l| l.split(';').next())
        .unwrap_or_else(|| panic!("no socket in {line:?}"))
        .to_string();
    let mut seen = Vec::new();
    let listed = Command::new("ssh-add")
        .arg("-l")
        .env("SSH_AUTH_SOCK", &sock)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(listed.status.success(), "ssh-add -l: {}", describe(&listed));
    assert!(stdout(&listed).contains(KEY), "{}", stdout(&listed));
    seen.extend_from_slice(&listed.stdout);
    seen.extend_from_slice(&listed.stderr);

    // A signature the policy allows (a low key), from a process without a terminal.
    let data = h.root.join("data.txt");
    std::fs::write(&data, b"signed by the agent\n").unwrap();
    let signed = Command::new("ssh-keygen")
        .args(["-Y", "sign", "-n", "file", "-f"])
        .arg(&public)
        .arg(&data)
        .env("SSH_AUTH_SOCK", &sock)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        signed.status.success(),
        "ssh-keygen -Y sign: {}",
        describe(&signed)
    );
    seen.extend_from_slice(&signed.stdout);
    seen.extend_from_slice(&signed.stderr);
    assert!(h.root.join("data.txt.sig").exists());

    // The daemon that holds the key is closed to this same user.
    let pid = h.daemon_pid().expect("the daemon's pid");
    for file in ["mem", "environ"] {
        let path = format!("/proc/{pid}/{file}");
        assert!(
            std::fs::read(&path).is_err(),
            "{path} is readable by the daemon's own user"
        );
    }

    // The private key's lines are in no output, file or audit entry.
    let needles: Vec<Vec<u8>> = pem
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() > 16)
        .map(|l| l.as_bytes().to_vec())
        .collect();
    assert!(!needles.is_empty());
    let trail = h.ok(&["audit", "--json"]).stdout;
    for n in &needles {
        assert!(
            !seen.windows(n.len()).any(|w| w == n.as_slice()),
            "in OpenSSH's output"
        );
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

/// `agent.toml` is writable by the same user, so what such a process writes there can only
/// narrow: a `never` on a high key still parks its signature, `--accept` from it is parked
/// for the human and changes nothing, and a file it makes unreadable (as a non-root user
/// cannot read a mode-000 file) or a link it puts there makes the agent offer nothing.
#[test]
fn a_same_user_process_cannot_widen_the_agent_through_agent_toml() {
    if test_user("ssh_agent::a_same_user_process_cannot_widen_the_agent_through_agent_toml") {
        return;
    }
    const HIGH: &str = "secret:dev/ssh/high";
    let h = Home::init();
    h.ok(&["keygen", HIGH]);
    let public = h.root.join("high.pub");
    std::fs::write(&public, stdout(&h.ok(&["pubkey", HIGH]))).unwrap();
    let line = stdout(&h.ok(&["ssh-agent"]));
    let sock = line
        .strip_prefix("SSH_AUTH_SOCK=")
        .and_then(|l| l.split(';').next())
        .unwrap_or_else(|| panic!("no socket in {line:?}"))
        .to_string();
    let rules = h.home.join("agent.toml");
    std::fs::write(
        &rules,
        "[keys.\"secret:dev/ssh/high\"]\nconfirm = \"never\"\n",
    )
    .unwrap();

    // The file alone does not let the high key sign: the signature is parked.
    let data = h.root.join("data.txt");
    std::fs::write(&data, b"signed by the agent\n").unwrap();
    let child = Command::new("ssh-keygen")
        .args(["-Y", "sign", "-n", "file", "-f"])
        .arg(&public)
        .arg(&data)
        .env("SSH_AUTH_SOCK", &sock)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let id = pending(&h);
    h.ok(&["deny", &id]);
    assert!(!child.wait_with_output().unwrap().status.success());

    // `--accept` without a terminal is parked for the human, and accepts nothing.
    let out = h.run(&["ssh-agent", "--accept"]);
    assert!(!out.status.success(), "accepted: {}", describe(&out));
    let id = pending(&h);
    h.ok(&["deny", &id]);
    let rules_json = h.ok(&["ssh-agent", "--rules", "--json"]).stdout;
    let v: serde_json::Value = serde_json::from_slice(&rules_json).unwrap();
    assert!(v["accepted"].is_null(), "{v}");

    // A file the daemon's user cannot read, and a link, offer nothing.
    let listed = || {
        let out = Command::new("ssh-add")
            .arg("-l")
            .env("SSH_AUTH_SOCK", &sock)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        stdout(&out).contains(HIGH)
    };
    assert!(listed());
    std::fs::set_permissions(&rules, std::fs::Permissions::from_mode(0o000)).unwrap();
    assert!(!listed(), "listed with an unreadable agent.toml");
    let out = h.run(&["ssh-agent", "--rules"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot be read"),
        "{}",
        describe(&out)
    );
    std::fs::remove_file(&rules).unwrap();
    let open = h.root.join("open.toml");
    std::fs::write(&open, "").unwrap();
    std::os::unix::fs::symlink(&open, &rules).unwrap();
    assert!(!listed(), "listed through a linked agent.toml");
    std::fs::remove_file(&rules).unwrap();
    assert!(listed());
    h.stop();
}

/// The id of the first parked request, waiting up to 20 s for one.
fn pending(h: &Home) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let out = h.ok(&["approve", "--json"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        if let Some(id) = v["pending"][0]["id"].as_str() {
            return id.to_string();
        }
        assert!(std::time::Instant::now() < deadline, "nothing was parked");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
