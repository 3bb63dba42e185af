//! The agent against the real OpenSSH tools: `ssh-add`, `ssh-keygen -Y`, and `ssh` logging
//! in to a real `sshd` started here as the current user.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::{Command, Output, Stdio};

use common::{Agent, fingerprint, run, text};
use kovra_sshagent::ssh_key::PublicKey;
use kovra_sshagent::{Rejected, Signed};
use kovra_testsshd::Sshd;

#[test]
fn ssh_add_lists_both_keys_with_their_fingerprints_and_public_keys() {
    let agent = Agent::start();
    let out = run(&agent.socket(), "ssh-add", &["-l"]);
    assert!(out.status.success(), "ssh-add -l: {}", text(&out.stderr));
    let listed = text(&out.stdout);
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 2, "{listed}");
    assert_eq!(
        lines[0],
        format!(
            "256 {} kovra-test-ed25519 (ED25519)",
            agent.backend.fingerprint(0)
        )
    );
    assert_eq!(
        lines[1],
        format!(
            "256 {} kovra-test-p256 (ECDSA)",
            agent.backend.fingerprint(1)
        )
    );

    let out = run(&agent.socket(), "ssh-add", &["-L"]);
    assert!(out.status.success(), "ssh-add -L: {}", text(&out.stderr));
    let keys = text(&out.stdout);
    let lines: Vec<&str> = keys.lines().collect();
    assert_eq!(
        lines,
        vec![
            format!("{} kovra-test-ed25519", agent.backend.openssh_public(0)),
            format!("{} kovra-test-p256", agent.backend.openssh_public(1)),
        ]
    );
}

#[test]
fn ssh_keygen_signs_through_the_agent_and_the_signature_verifies() {
    let agent = Agent::start();
    let dir = agent.dir.path();
    for i in 0..2 {
        let pubkey = agent.public_key_file(i);
        let message = dir.join(format!("message{i}.txt"));
        std::fs::write(&message, b"signed through kovra's agent\n").unwrap();
        let out = run(
            &agent.socket(),
            "ssh-keygen",
            &[
                "-Y",
                "sign",
                "-f",
                pubkey.to_str().unwrap(),
                "-n",
                "file",
                message.to_str().unwrap(),
            ],
        );
        assert!(out.status.success(), "-Y sign: {}", text(&out.stderr));
        let sig = dir.join(format!("message{i}.txt.sig"));
        assert!(sig.exists());

        let allowed = dir.join("allowed_signers");
        std::fs::write(
            &allowed,
            format!("kovra@test {}\n", agent.backend.openssh_public(i)),
        )
        .unwrap();
        let verify = Command::new("ssh-keygen")
            .args(["-Y", "verify", "-f"])
            .arg(&allowed)
            .args(["-I", "kovra@test", "-n", "file", "-s"])
            .arg(&sig)
            .stdin(std::fs::File::open(&message).unwrap())
            .output()
            .unwrap();
        assert!(
            verify.status.success(),
            "-Y verify: {}",
            text(&verify.stderr)
        );
        assert!(
            text(&verify.stdout).contains(&agent.backend.fingerprint(i)),
            "{}",
            text(&verify.stdout)
        );
        // A different message must not verify with that signature: the check can fail.
        let tampered = Command::new("ssh-keygen")
            .args(["-Y", "verify", "-f"])
            .arg(&allowed)
            .args(["-I", "kovra@test", "-n", "file", "-s"])
            .arg(&sig)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                c.stdin.take().unwrap().write_all(b"something else\n")?;
                c.wait()
            })
            .unwrap();
        assert!(!tampered.success());
    }
    let seen = agent.backend.seen();
    assert_eq!(seen.signings.len(), 2);
    for (i, s) in seen.signings.iter().enumerate() {
        assert_eq!(s.key, agent.backend.fingerprint(i));
        assert!(
            matches!(&s.signed, Signed::Sshsig { namespace, .. } if namespace == "file"),
            "{:?}",
            s.signed
        );
        assert!(s.binds.is_empty(), "ssh-keygen does not bind");
        assert_eq!(s.caller.uid, nix_euid());
        let exe = s.caller.exe.as_ref().expect("the caller's executable");
        assert!(exe.ends_with("ssh-keygen"), "{}", exe.display());
    }
}

#[test]
fn ssh_add_of_a_private_key_is_refused_and_the_key_never_listed() {
    let agent = Agent::start();
    let key = agent.dir.path().join("extra");
    let made = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "extra", "-f"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(made.status.success());
    let out = run(&agent.socket(), "ssh-add", &[key.to_str().unwrap()]);
    assert!(!out.status.success(), "ssh-add KEY must fail");
    let out = run(&agent.socket(), "ssh-add", &["-D"]);
    assert!(!out.status.success(), "ssh-add -D must fail");
    let seen = agent.backend.seen();
    assert_eq!(
        seen.rejected,
        vec![Rejected::AddIdentity, Rejected::RemoveAll]
    );
    drop(seen);
    let listed = text(&run(&agent.socket(), "ssh-add", &["-l"]).stdout);
    assert!(!listed.contains("extra"), "{listed}");
}

/// `ssh-add -x` hands the agent a lock passphrase: the test backend refuses, and the
/// passphrase (a canary, typed through SSH_ASKPASS) shows up nowhere it records.
#[test]
fn ssh_add_lock_reaches_the_backend_and_the_passphrase_is_never_printed() {
    let agent = Agent::start();
    let askpass = agent.dir.path().join("askpass");
    common::write_program(
        &askpass,
        &format!("#!/bin/sh\necho {}\n", common::LOCK_CANARY),
    );
    let out = Command::new("ssh-add")
        .arg("-x")
        .env("SSH_AUTH_SOCK", agent.socket())
        .env("SSH_ASKPASS", &askpass)
        .env("SSH_ASKPASS_REQUIRE", "force")
        .env("DISPLAY", ":0")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success(), "the test backend refuses to lock");
    assert!(
        text(&out.stderr).contains("Failed to lock agent"),
        "{}",
        text(&out.stderr)
    );
    let seen = agent.backend.seen();
    assert_eq!(seen.locks, vec!["Passphrase([redacted])".to_owned()]);
    assert_eq!(
        seen.lock_is_canary,
        vec![true],
        "the passphrase arrives intact"
    );
    for output in [
        text(&out.stdout),
        text(&out.stderr),
        format!("{:?}", seen.locks),
    ] {
        assert!(!output.contains(common::LOCK_CANARY));
    }
}

fn nix_euid() -> u32 {
    // The test process's effective uid, read the way the agent checks it.
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
        .unwrap()
}

/// `ssh` to `sshd` as the current user, with only the agent's key `key`.
fn ssh(sshd: &Sshd, agent: &Agent, key: usize, extra: &[&str], command: &str) -> Output {
    sshd.ssh(&agent.socket(), &agent.public_key_file(key), extra, command)
        .output()
        .unwrap()
}

/// The test server's host key.
fn host_key(sshd: &Sshd) -> PublicKey {
    PublicKey::from_openssh(sshd.host_public()).unwrap()
}

fn user() -> String {
    text(&Command::new("id").arg("-un").output().unwrap().stdout)
        .trim()
        .to_owned()
}

#[test]
fn ssh_logs_in_to_a_real_sshd_through_the_agent_after_a_verified_session_bind() {
    login(0, "ed25519");
}

/// The ECDSA key, toward a server whose only host key is RSA: the bind's RSA signature is
/// verified too.
#[test]
fn ssh_logs_in_with_the_ecdsa_key_to_an_sshd_with_an_rsa_host_key() {
    login(1, "rsa");
}

/// Logs in with the agent's key `key` to a fresh sshd with a `host_type` host key, then
/// checks what the backend saw.
fn login(key: usize, host_type: &str) {
    let agent = Agent::start();
    let sshd = Sshd::start(&agent.backend.openssh_public(key), host_type);
    let user = user();
    let out = ssh(&sshd, &agent, key, &[], "echo kovra-agent-login-ok");
    assert!(
        out.status.success(),
        "ssh: {}\nsshd: {}",
        text(&out.stderr),
        sshd.log()
    );
    assert_eq!(text(&out.stdout).trim(), "kovra-agent-login-ok");

    let host_fp = fingerprint(host_key(&sshd).key_data());
    let seen = agent.backend.seen();
    let login = seen
        .signings
        .iter()
        .find(|s| matches!(s.signed, Signed::Userauth(_)))
        .unwrap_or_else(|| panic!("no userauth signature: {:?}", seen.signings));
    assert_eq!(login.key, agent.backend.fingerprint(key));
    assert_eq!(login.binds, vec![(host_fp.clone(), false)]);
    let Signed::Userauth(auth) = &login.signed else {
        unreachable!()
    };
    assert_eq!(auth.user, user);
    // OpenSSH 9.2 authenticates host-bound: the request names the same host key.
    let named = auth.host_key.as_ref().map(fingerprint);
    assert_eq!(named.as_deref(), Some(host_fp.as_str()));
    assert!(
        seen.listed_with_binds
            .iter()
            .all(|b| b == &[(host_fp.clone(), false)]),
        "listed before the bind: {:?}",
        seen.listed_with_binds
    );
}

/// `ssh -A host ssh-add -l`: the far side lists keys through the forwarded agent, on a
/// connection the client bound with `is_forwarding` to that host's key.
#[test]
fn a_forwarded_agent_connection_is_bound_as_forwarding() {
    let agent = Agent::start();
    let sshd = Sshd::start(&agent.backend.openssh_public(0), "ed25519");
    let out = ssh(&sshd, &agent, 0, &["-A"], "ssh-add -l");
    assert!(
        out.status.success(),
        "ssh -A: {}\nsshd: {}",
        text(&out.stderr),
        sshd.log()
    );
    assert!(
        text(&out.stdout).contains(&agent.backend.fingerprint(0)),
        "{}",
        text(&out.stdout)
    );
    let host_fp = fingerprint(host_key(&sshd).key_data());
    let seen = agent.backend.seen();
    assert!(
        seen.listed_with_binds.contains(&vec![(host_fp, true)]),
        "{:?}",
        seen.listed_with_binds
    );
}
