//! `kovra ssh-agent` against OpenSSH itself: `ssh-add` lists the keys, `ssh-keygen -Y sign`
//! signs through the socket, and `ssh` logs in to a real `sshd` started here on a loopback
//! port as the current user. Commands here run without a terminal, so the daemon sees an
//! agent: low keys sign freely, a high key's signature waits for `kovra approve`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use kovra_testsshd::Sshd;

use crate::harness::*;
use crate::sshkey::{canaries, key_of, made_by_openssh};

const LOW: &str = "secret:dev/ssh/low";
const HIGH: &str = "secret:dev/ssh/high";
const ID: &str = "me@example.com";
/// What the test logins run on the server, and look for in their output.
const LOGIN: &str = "echo kovra-agent-login-ok";

/// `kovra ssh-agent`: the socket from the sh line it prints (checked word for word).
fn start_agent(h: &Home) -> PathBuf {
    let out = h.ok(&["ssh-agent"]);
    let line = stdout(&out);
    let path = line
        .trim_end()
        .strip_prefix("SSH_AUTH_SOCK=")
        .and_then(|rest| rest.strip_suffix("; export SSH_AUTH_SOCK;"))
        .unwrap_or_else(|| panic!("not an sh line: {line:?}"));
    PathBuf::from(path)
}

/// An OpenSSH tool talking to `sock` (and to nothing else: no terminal, no other agent).
fn openssh(program: &str, sock: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(program);
    c.args(args)
        .env("SSH_AUTH_SOCK", sock)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

fn run(mut c: Command, seen: &mut Vec<u8>) -> Output {
    let out = c.output().expect("OpenSSH client tools are installed");
    seen.extend_from_slice(&out.stdout);
    seen.extend_from_slice(&out.stderr);
    out
}

/// `SHA256:…` of each key `ssh-add -l` lists.
fn listed(sock: &Path, seen: &mut Vec<u8>) -> (Option<i32>, Vec<String>) {
    let out = run(openssh("ssh-add", sock, &["-l"]), seen);
    let fps = stdout(&out)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1).map(str::to_string))
        .filter(|f| f.starts_with("SHA256:"))
        .collect();
    (out.status.code(), fps)
}

fn fingerprint_of(h: &Home, coord: &str) -> String {
    let (_, v) = h.json(&["pubkey", coord]);
    v["fingerprint"].as_str().unwrap().to_string()
}

/// The public key of `coord` in a file, as `ssh -i` and `ssh-keygen -Y sign -f` name a key.
fn public_key_file(h: &Home, coord: &str) -> PathBuf {
    let path = h
        .root
        .join(format!("{}.pub", coord.replace(['/', ':'], "_")));
    std::fs::write(&path, stdout(&h.ok(&["pubkey", coord]))).unwrap();
    path
}

/// `ssh-keygen -Y sign` through the agent, then `ssh-keygen -Y verify` of the signature.
fn sign_through_agent(h: &Home, sock: &Path, public: &Path, seen: &mut Vec<u8>) -> Output {
    let data = h.root.join("data.txt");
    std::fs::write(&data, b"signed through the agent\n").unwrap();
    let _ = std::fs::remove_file(h.root.join("data.txt.sig"));
    run(
        openssh(
            "ssh-keygen",
            sock,
            &[
                "-Y",
                "sign",
                "-f",
                public.to_str().unwrap(),
                "-n",
                "file",
                data.to_str().unwrap(),
            ],
        ),
        seen,
    )
}

fn verifies(h: &Home, coord: &str) -> bool {
    let allowed = h.root.join("allowed_signers");
    let public = stdout(&h.ok(&["pubkey", coord]));
    std::fs::write(&allowed, format!("{ID} {}\n", key_of(&public))).unwrap();
    let data = h.root.join("data.txt");
    Command::new("ssh-keygen")
        .args(["-Y", "verify", "-f"])
        .arg(&allowed)
        .args(["-I", ID, "-n", "file", "-s"])
        .arg(h.root.join("data.txt.sig"))
        .stdin(std::fs::File::open(&data).unwrap())
        .output()
        .unwrap()
        .status
        .success()
}

#[test]
fn the_agent_lists_signs_logs_in_refuses_adds_and_follows_the_lock() {
    let h = Home::init();
    let mut seen = Vec::new();
    // A low key imported from OpenSSH (so its private half is known, for the canary scan),
    // a high key made in the vault, and a plain secret the agent must not list.
    let pem_path = made_by_openssh(&h.root, "id_low", "ed25519", "");
    let pem = std::fs::read_to_string(&pem_path).unwrap();
    let out = h.add(LOW, pem.as_bytes(), &["--ssh-key", "--sensitivity", "low"]);
    assert!(out.status.success(), "add --ssh-key: {}", describe(&out));
    std::fs::remove_file(&pem_path).unwrap();
    h.ok(&["keygen", HIGH]);
    h.add_ok("secret:dev/db/password", b"not-a-key-value", &[]);

    let sock = start_agent(&h);
    assert!(sock.exists(), "{}", sock.display());
    // Asked again, the same socket; csh syntax on request.
    assert_eq!(start_agent(&h), sock);
    let csh = stdout(&h.ok(&["ssh-agent", "-c"]));
    assert_eq!(
        csh.trim_end(),
        format!("setenv SSH_AUTH_SOCK {};", sock.display())
    );

    // Exactly the two keys, with the fingerprints `kovra pubkey` gives.
    let (code, mut fps) = listed(&sock, &mut seen);
    assert_eq!(code, Some(0));
    fps.sort();
    let mut want = vec![fingerprint_of(&h, LOW), fingerprint_of(&h, HIGH)];
    want.sort();
    assert_eq!(fps, want);

    // An SSHSIG through the agent with the low key verifies.
    let low_public = public_key_file(&h, LOW);
    let out = sign_through_agent(&h, &sock, &low_public, &mut seen);
    assert!(
        out.status.success(),
        "ssh-keygen -Y sign: {}",
        describe(&out)
    );
    assert!(verifies(&h, LOW), "the agent's signature does not verify");

    // A login to a real sshd that knows only the low key.
    let sshd = Sshd::start(&stdout(&h.ok(&["pubkey", LOW])), "ed25519");
    let out = run(sshd.ssh(&sock, &low_public, &[], LOGIN), &mut seen);
    assert!(
        out.status.success() && stdout(&out).contains("kovra-agent-login-ok"),
        "ssh: {}\nsshd: {}",
        describe(&out),
        sshd.log()
    );
    // Audited with the key, the verified destination and the user; never the data.
    let signs = audit(&h, &["--action", "ssh-agent-sign"]);
    let login = signs
        .iter()
        .find(|e| {
            e["detail"]
                .as_str()
                .is_some_and(|d| d.contains(sshd.host_fingerprint()))
        })
        .unwrap_or_else(|| panic!("no login on the trail: {signs:?}"));
    assert_eq!(login["decision"], "allow");
    assert_eq!(login["coordinate"], LOW);
    assert_eq!(login["surface"], "ssh-agent");
    let detail = login["detail"].as_str().unwrap();
    assert!(
        detail.contains(&fingerprint_of(&h, LOW)) && detail.contains("login user"),
        "{detail}"
    );
    assert!(
        signs.iter().any(|e| e["detail"]
            .as_str()
            .is_some_and(|d| d.contains("namespace file"))),
        "{signs:?}"
    );

    // Adding a key through the socket is refused, and on the trail.
    let foreign = made_by_openssh(&h.root, "id_foreign", "ed25519", "");
    let out = run(
        openssh("ssh-add", &sock, &[foreign.to_str().unwrap()]),
        &mut seen,
    );
    assert!(!out.status.success(), "ssh-add KEY: {}", describe(&out));
    let refused = audit(&h, &["--action", "ssh-agent-refused"]);
    assert!(
        refused
            .iter()
            .any(|e| e["detail"] == "AddIdentity" && e["decision"] == "deny"),
        "{refused:?}"
    );
    let (_, fps) = listed(&sock, &mut seen);
    assert_eq!(fps.len(), 2, "a refused key was listed: {fps:?}");

    // The private key is nowhere: not in what anything printed, not in a file, not on the
    // trail.
    let needles: Vec<Vec<u8>> = canaries(&pem).into_iter().map(String::into_bytes).collect();
    let trail = serde_json::to_vec(&audit(&h, &[])).unwrap();
    for n in &needles {
        assert!(!contains(&seen, n), "the private key in OpenSSH's output");
        assert!(!contains(&trail, n), "the private key on the trail");
    }
    assert!(!h.transcript_contains(&needles), "the private key printed");
    assert_eq!(h.files_containing(&needles), Vec::<PathBuf>::new());

    // Locked, the agent lists nothing and signs nothing.
    h.ok(&["lock"]);
    let (code, fps) = listed(&sock, &mut seen);
    assert_eq!((code, fps.len()), (Some(1), 0), "listed while locked");
    let out = sign_through_agent(&h, &sock, &low_public, &mut seen);
    assert!(!out.status.success(), "signed while locked");

    // Unlocked again (at a terminal, a new daemon takes over the home): the same socket
    // lists the keys again, without a new `kovra ssh-agent`.
    h.unlock_typed();
    let (code, fps) = listed(&sock, &mut seen);
    assert_eq!((code, fps.len()), (Some(0), 2), "after unlock");
    // And the new daemon signs through it too.
    let out = sign_through_agent(&h, &sock, &low_public, &mut seen);
    assert!(
        out.status.success(),
        "ssh-keygen -Y sign after the handover: {}",
        describe(&out)
    );
    assert!(
        verifies(&h, LOW),
        "the signature after the handover does not verify"
    );

    // Stopped, the socket is gone and the sh line unsets the variable.
    let out = h.ok(&["ssh-agent", "--stop"]);
    assert_eq!(stdout(&out).trim_end(), "unset SSH_AUTH_SOCK;");
    assert!(!sock.exists(), "the socket outlived --stop");
    // Started again, it goes with the daemon.
    let sock = start_agent(&h);
    h.stop();
    assert!(!sock.exists(), "the socket outlived the daemon");
}

#[test]
fn a_high_key_signs_only_after_the_human_approves() {
    let h = Home::init();
    let mut seen = Vec::new();
    h.ok(&["keygen", HIGH]);
    let sock = start_agent(&h);
    let sshd = Sshd::start(&stdout(&h.ok(&["pubkey", HIGH])), "ed25519");
    let key = public_key_file(&h, HIGH);

    // A login waits, parked, showing the server it goes to and the user.
    let child = sshd.ssh(&sock, &key, &[], LOGIN).spawn().unwrap();
    let id = h.wait_for_pending();
    let (_, pending) = h.json(&["approve"]);
    let view = &pending["pending"][0];
    assert_eq!(view["action"], "ssh-agent-sign");
    assert_eq!(view["origin"], "agent");
    let facts = view["facts"].to_string();
    assert!(
        facts.contains(sshd.host_fingerprint()) && facts.contains("login user"),
        "{facts}"
    );
    std::thread::sleep(Duration::from_millis(500));
    let mut child = child;
    assert!(child.try_wait().unwrap().is_none(), "ssh did not wait");
    assert_eq!(
        audit(&h, &["--action", "ssh-agent-sign"])
            .iter()
            .filter(|e| e["decision"] == "allow")
            .count(),
        0,
        "signed before approval"
    );
    // The human's proof at their terminal approves it; the login then goes through.
    let out = h.run_pty(&["approve", &id], &[PASSPHRASE]);
    assert!(out.status.success(), "approve: {}", describe(&out));
    let out = finish(child, &mut seen);
    assert!(
        out.status.success() && stdout(&out).contains("kovra-agent-login-ok"),
        "ssh after approval: {}\nsshd: {}",
        describe(&out),
        sshd.log()
    );
    let signs = audit(&h, &["--action", "ssh-agent-sign"]);
    let allowed: Vec<_> = signs.iter().filter(|e| e["decision"] == "allow").collect();
    assert_eq!(allowed.len(), 1, "{signs:?}");
    assert_eq!(allowed[0]["reason"], "proof-of-presence");

    // A denied signature fails, and nothing is signed.
    let mut c = openssh("ssh-keygen", &sock, &["-Y", "sign", "-f"]);
    let data = h.root.join("data.txt");
    std::fs::write(&data, b"denied\n").unwrap();
    c.arg(&key).args(["-n", "file"]).arg(&data);
    let child = c.spawn().unwrap();
    let id = h.wait_for_pending();
    h.ok(&["deny", &id]);
    let out = finish(child, &mut seen);
    assert!(!out.status.success(), "signed after a denial");
    assert!(!h.root.join("data.txt.sig").exists());
}

fn finish(child: Child, seen: &mut Vec<u8>) -> Output {
    let out = child.wait_with_output().unwrap();
    seen.extend_from_slice(&out.stdout);
    seen.extend_from_slice(&out.stderr);
    out
}

/// An RSA key logs in whichever of OpenSSH's two RSA signature algorithms the client asks
/// the agent for (`rsa-sha2-256` or `rsa-sha2-512`): a signature of the other one would be
/// rejected by the client.
#[test]
fn an_rsa_key_signs_with_the_hash_the_client_asks_for() {
    const RSA: &str = "secret:dev/ssh/rsa";
    let h = Home::init();
    let mut seen = Vec::new();
    h.ok(&["keygen", RSA, "--type", "rsa-3072", "--sensitivity", "low"]);
    let sock = start_agent(&h);
    let sshd = Sshd::start(&stdout(&h.ok(&["pubkey", RSA])), "ed25519");
    let key = public_key_file(&h, RSA);
    for alg in ["rsa-sha2-256", "rsa-sha2-512"] {
        let only = format!("PubkeyAcceptedAlgorithms={alg}");
        let out = run(sshd.ssh(&sock, &key, &["-o", &only], LOGIN), &mut seen);
        assert!(
            out.status.success() && stdout(&out).contains("kovra-agent-login-ok"),
            "ssh with {alg}: {}\nsshd: {}",
            describe(&out),
            sshd.log()
        );
    }
    let signs = audit(&h, &["--action", "ssh-agent-sign"]);
    assert_eq!(
        signs.iter().filter(|e| e["decision"] == "allow").count(),
        2,
        "{signs:?}"
    );
}

/// A key made for one server signs logins to it and nothing else: not a login to another
/// server, not an SSHSIG through the agent, not `kovra sign`.
#[test]
fn a_key_restricted_to_one_server_signs_for_it_alone() {
    let h = Home::init();
    let mut seen = Vec::new();
    let allowed = Sshd::start("", "ed25519");
    let other = Sshd::start("", "ed25519");
    let out = h.run(&[
        "keygen",
        LOW,
        "--sensitivity",
        "low",
        "--host-key",
        allowed.host_fingerprint(),
    ]);
    assert!(
        out.status.success(),
        "keygen --host-key: {}",
        describe(&out)
    );
    let public = stdout(&h.ok(&["pubkey", LOW]));
    for sshd in [&allowed, &other] {
        sshd.authorize(&public);
    }
    let shown = stdout(&h.ok(&["show", LOW]));
    assert!(shown.contains(allowed.host_fingerprint()), "{shown}");
    let sock = start_agent(&h);
    let key = public_key_file(&h, LOW);

    let out = run(allowed.ssh(&sock, &key, &[], LOGIN), &mut seen);
    assert!(
        out.status.success() && stdout(&out).contains("kovra-agent-login-ok"),
        "ssh to the allowed server: {}\nsshd: {}",
        describe(&out),
        allowed.log()
    );
    let out = run(other.ssh(&sock, &key, &[], LOGIN), &mut seen);
    assert!(!out.status.success(), "logged in to another server");
    let out = sign_through_agent(&h, &sock, &key, &mut seen);
    assert!(!out.status.success(), "an unbound SSHSIG was signed");
    let data = h.root.join("data.txt");
    let out = h.run(&["sign", LOW, data.to_str().unwrap(), "-n", "file"]);
    assert!(!out.status.success(), "kovra sign with a restricted key");
    assert_contains(&stderr(&out), "restricted to some servers", &out);

    let signs = audit(&h, &["--action", "ssh-agent-sign"]);
    let reasons: Vec<&str> = signs.iter().filter_map(|e| e["reason"].as_str()).collect();
    assert!(reasons.contains(&"sign-host-not-allowed"), "{signs:?}");
    assert!(reasons.contains(&"sign-host-unbound"), "{signs:?}");
    assert_eq!(
        signs.iter().filter(|e| e["decision"] == "allow").count(),
        1,
        "{signs:?}"
    );

    // An imported key takes the same restriction.
    let pem = std::fs::read(made_by_openssh(&h.root, "id_imported", "ed25519", "")).unwrap();
    let imported = "secret:dev/ssh/imported";
    let out = h.add(
        imported,
        &pem,
        &[
            "--ssh-key",
            "--sensitivity",
            "low",
            "--host-key",
            allowed.host_fingerprint(),
        ],
    );
    assert!(out.status.success(), "add --host-key: {}", describe(&out));
    let (_, shown) = h.json(&["show", imported]);
    assert_eq!(
        shown["ssh_key"]["hosts"],
        serde_json::json!([allowed.host_fingerprint()])
    );
    let out = h.run(&["sign", imported, data.to_str().unwrap(), "-n", "file"]);
    assert!(!out.status.success(), "kovra sign with a restricted import");

    // A fingerprint that is not one is refused, and no key is made.
    let out = h.run(&["keygen", HIGH, "--host-key", "github.com"]);
    assert!(!out.status.success());
    assert!(!h.run(&["pubkey", HIGH]).status.success());
}
