//! `agent.toml`, the standing rules of `kovra ssh-agent`, against OpenSSH itself: what
//! `ssh-add -l` lists, what `ssh-keygen -Y sign` and `ssh` get signed, what `--accept`
//! changes, and what a file that widens or breaks does (never more than before). The
//! once-per-session case is driven by hand-made agent frames on one connection, since one
//! `ssh` login asks for one signature.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use kovra_sshagent::ssh_agent_lib::proto::extension::SessionBind;
use kovra_sshagent::ssh_agent_lib::proto::{self, Extension, PublicCredential, Request, Response};
use kovra_sshagent::ssh_agent_lib::ssh_encoding::{Decode, Encode};
use kovra_sshagent::ssh_key::public::KeyData;
use kovra_sshagent::ssh_key::{Algorithm, PrivateKey, PublicKey};
use kovra_testsshd::Sshd;
use signature::Signer;

use crate::harness::*;
use crate::sshkey::{canaries, made_by_openssh};

const LOW: &str = "secret:dev/ssh/low";
const HIGH: &str = "secret:dev/ssh/high";
const STAGING: &str = "secret:staging/ssh/stage";
const SHOP: &str = "secret:dev/ssh/shop";
const LOGIN: &str = "echo kovra-agent-login-ok";

fn start_agent(h: &Home) -> PathBuf {
    let line = stdout(&h.ok(&["ssh-agent"]));
    let path = line
        .trim_end()
        .strip_prefix("SSH_AUTH_SOCK=")
        .and_then(|rest| rest.strip_suffix("; export SSH_AUTH_SOCK;"))
        .unwrap_or_else(|| panic!("not an sh line: {line:?}"));
    PathBuf::from(path)
}

fn rules_file(h: &Home) -> PathBuf {
    h.home.join("agent.toml")
}

fn write_rules(h: &Home, text: &str) {
    std::fs::write(rules_file(h), text).unwrap();
}

fn openssh(program: &str, sock: &Path, args: &[&str], seen: &mut Vec<u8>) -> Output {
    let out = Command::new(program)
        .args(args)
        .env("SSH_AUTH_SOCK", sock)
        .stdin(Stdio::null())
        .output()
        .expect("OpenSSH client tools are installed");
    seen.extend_from_slice(&out.stdout);
    seen.extend_from_slice(&out.stderr);
    out
}

/// The coordinates (comments) `ssh-add -l` lists, sorted.
fn listed(sock: &Path, seen: &mut Vec<u8>) -> Vec<String> {
    let out = openssh("ssh-add", sock, &["-l"], seen);
    let mut coords: Vec<String> = stdout(&out)
        .lines()
        .filter(|l| {
            l.split_whitespace()
                .nth(1)
                .is_some_and(|f| f.starts_with("SHA256:"))
        })
        .filter_map(|l| l.split_whitespace().nth(2).map(str::to_string))
        .collect();
    coords.sort();
    coords
}

fn public_key_file(h: &Home, project: Option<&str>, coord: &str) -> PathBuf {
    let path = h
        .root
        .join(format!("{}.pub", coord.replace(['/', ':'], "_")));
    let mut args = Vec::new();
    if let Some(p) = project {
        args.extend(["--project", p]);
    }
    args.extend(["pubkey", coord]);
    std::fs::write(&path, stdout(&h.ok(&args))).unwrap();
    path
}

/// `ssh-keygen -Y sign` of a fresh file through the agent, in the background.
fn sign_child(h: &Home, sock: &Path, public: &Path, name: &str) -> std::process::Child {
    let data = h.root.join(name);
    std::fs::write(&data, b"signed through the agent\n").unwrap();
    Command::new("ssh-keygen")
        .args(["-Y", "sign", "-n", "file", "-f"])
        .arg(public)
        .arg(&data)
        .env("SSH_AUTH_SOCK", sock)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn finish(child: std::process::Child, seen: &mut Vec<u8>) -> Output {
    let out = child.wait_with_output().unwrap();
    seen.extend_from_slice(&out.stdout);
    seen.extend_from_slice(&out.stderr);
    out
}

/// The id of the first parked request, waiting up to 20 s for one.
fn nothing_pending(h: &Home) -> bool {
    let (_, v) = h.json(&["approve"]);
    v["pending"].as_array().is_none_or(Vec::is_empty)
}

/// `--accept` at a terminal, typing the passphrase as the proof.
fn accept(h: &Home) -> Output {
    let out = h.run_pty(&["ssh-agent", "--accept"], &[PASSPHRASE]);
    assert!(
        out.status.success(),
        "--accept: {}\ndaemon log: {}",
        describe(&out),
        std::fs::read_to_string(h.home.join("daemon.log")).unwrap_or_default()
    );
    out
}

#[test]
fn agent_toml_narrows_what_is_offered_and_only_an_accepted_state_loosens() {
    let h = Home::init();
    let mut seen = Vec::new();
    h.ok(&["project", "create", "shop"]);
    // A low key imported from OpenSSH (its private half known, for the canary scan).
    let pem_path = made_by_openssh(&h.root, "id_low", "ed25519", "");
    let pem = std::fs::read_to_string(&pem_path).unwrap();
    let out = h.add(LOW, pem.as_bytes(), &["--ssh-key", "--sensitivity", "low"]);
    assert!(out.status.success(), "add --ssh-key: {}", describe(&out));
    std::fs::remove_file(&pem_path).unwrap();
    h.ok(&["keygen", HIGH]);
    h.ok(&["keygen", STAGING, "--sensitivity", "low"]);
    h.ok(&["--project", "shop", "keygen", SHOP, "--sensitivity", "low"]);
    let sock = start_agent(&h);
    assert_eq!(listed(&sock, &mut seen), [HIGH, LOW, SHOP, STAGING]);

    // Without a file, `--rules` says so and everything is offered.
    let (code, v) = h.json(&["ssh-agent", "--rules"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["kind"], "ssh-agent-rules");
    assert!(v["file"].is_null() && v["accepted"].is_null(), "{v}");

    // The file alone narrows the listing to the global vault's dev keys.
    write_rules(&h, "projects = [\"global\"]\nenvironments = [\"dev\"]\n");
    assert_eq!(listed(&sock, &mut seen), [HIGH, LOW]);
    let (_, v) = h.json(&["ssh-agent", "--rules"]);
    assert_eq!(v["effective"]["projects"], serde_json::json!(["global"]));
    assert_eq!(v["effective"]["environments"], serde_json::json!(["dev"]));

    // A file-only `confirm = "never"` does not let a high key sign unattended: it parks.
    write_rules(
        &h,
        "projects = [\"global\"]\nenvironments = [\"dev\"]\n[keys.\"secret:dev/ssh/high\"]\nconfirm = \"never\"\n",
    );
    let high = public_key_file(&h, None, HIGH);
    let child = sign_child(&h, &sock, &high, "one.txt");
    let id = h.wait_for_pending();
    h.ok(&["deny", &id]);
    assert!(
        !finish(child, &mut seen).status.success(),
        "signed unattended"
    );

    // `--rules` shows what accepting would change; `--accept` with a proof stores it.
    let shown = stdout(&h.ok(&["ssh-agent", "--rules"]));
    assert!(shown.contains("not yet accepted"), "{shown}");
    assert!(
        shown.contains("key secret:dev/ssh/high: (no rule) -> confirm never"),
        "{shown}"
    );
    let out = accept(&h);
    assert!(stdout(&out).contains("accepted"), "{}", describe(&out));
    let trail = audit(&h, &["--action", "ssh-agent-accept"]);
    let decisions: Vec<&str> = trail
        .iter()
        .filter_map(|e| e["decision"].as_str())
        .collect();
    assert_eq!(decisions, ["needs-proof", "allow"], "{trail:?}");
    assert_eq!(trail[1]["reason"], "proof-of-presence");
    assert!(
        trail[1]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("confirm never")),
        "{trail:?}"
    );
    // Now the high key signs without an approval.
    let child = sign_child(&h, &sock, &high, "two.txt");
    let out = finish(child, &mut seen);
    assert!(out.status.success(), "after --accept: {}", describe(&out));
    assert!(nothing_pending(&h));

    // A file that widens after acceptance is held to the accepted state: deleting the
    // project and environment restrictions does not offer the shop or staging keys.
    write_rules(&h, "[keys.\"secret:dev/ssh/high\"]\nconfirm = \"never\"\n");
    assert_eq!(listed(&sock, &mut seen), [HIGH, LOW]);
    // The file still narrows: `every-signature` on the low key parks its signature.
    write_rules(
        &h,
        "[keys.\"secret:dev/ssh/low\"]\nconfirm = \"every-signature\"\n",
    );
    let low = public_key_file(&h, None, LOW);
    let child = sign_child(&h, &sock, &low, "three.txt");
    let id = h.wait_for_pending();
    let (_, pending) = h.json(&["approve"]);
    assert!(
        pending["pending"][0]["facts"]
            .to_string()
            .contains("agent.toml"),
        "{pending}"
    );
    h.ok(&["deny", &id]);
    assert!(!finish(child, &mut seen).status.success());
    // And dropping the accepted `never` from the file does not loosen past the accepted
    // state either (the high key still signs: the file said nothing about it).
    let child = sign_child(&h, &sock, &high, "four.txt");
    assert!(finish(child, &mut seen).status.success());

    // A malformed file: a clear error naming the line, and the agent offers nothing.
    write_rules(&h, "projects = [\"global\"]\nconfirm = \"never\"\n");
    let out = h.run(&["ssh-agent", "--rules"]);
    assert_exit(&out, 1, "--rules with a malformed file");
    assert_contains(&stderr(&out), "line 2", &out);
    assert_contains(&stderr(&out), "agent.toml", &out);
    let (code, v) = h.json(&["ssh-agent", "--rules"]);
    assert_eq!(code, 1);
    assert_eq!(v["error"]["code"], "agent-rules-invalid", "{v}");
    assert_eq!(listed(&sock, &mut seen), Vec::<String>::new());
    let child = sign_child(&h, &sock, &low, "five.txt");
    assert!(!finish(child, &mut seen).status.success());
    let refused = audit(&h, &["--action", "ssh-agent-list"]);
    assert!(
        refused
            .iter()
            .any(|e| e["decision"] == "deny" && e["reason"] == "agent-rules-invalid"),
        "{refused:?}"
    );
    // `--accept` of a malformed file is refused before any proof is asked.
    let out = h.run(&["ssh-agent", "--accept"]);
    assert_exit(&out, 1, "--accept of a malformed file");
    // A link in its place is unusable too, whatever it points to.
    std::fs::remove_file(rules_file(&h)).unwrap();
    let target = h.root.join("elsewhere.toml");
    std::fs::write(&target, "").unwrap();
    std::os::unix::fs::symlink(&target, rules_file(&h)).unwrap();
    let out = h.run(&["ssh-agent", "--rules"]);
    assert_exit(&out, 1, "--rules with a link");
    assert_contains(&stderr(&out), "symbolic link", &out);
    assert_eq!(listed(&sock, &mut seen), Vec::<String>::new());
    // Removed, the accepted state alone is in force.
    std::fs::remove_file(rules_file(&h)).unwrap();
    assert_eq!(listed(&sock, &mut seen), [HIGH, LOW]);

    // The private key is nowhere: not in what anything printed, not on the trail.
    let needles: Vec<Vec<u8>> = canaries(&pem).into_iter().map(String::into_bytes).collect();
    let trail = serde_json::to_vec(&audit(&h, &[])).unwrap();
    for n in &needles {
        assert!(!contains(&seen, n), "the private key in OpenSSH's output");
        assert!(!contains(&trail, n), "the private key on the trail");
    }
    assert!(!h.transcript_contains(&needles), "the private key printed");
}

#[test]
fn hosts_in_agent_toml_hold_a_key_to_its_servers() {
    let h = Home::init();
    let mut seen = Vec::new();
    let allowed = Sshd::start("", "ed25519");
    let other = Sshd::start("", "ed25519");
    h.ok(&["keygen", LOW, "--sensitivity", "low"]);
    let public = stdout(&h.ok(&["pubkey", LOW]));
    for sshd in [&allowed, &other] {
        sshd.authorize(&public);
    }
    let sock = start_agent(&h);
    let key = public_key_file(&h, None, LOW);
    write_rules(
        &h,
        &format!(
            "[keys.\"secret:dev/ssh/low\"]\nhosts = [\"{}\"]\n",
            allowed.host_fingerprint()
        ),
    );
    let login = |sshd: &Sshd, seen: &mut Vec<u8>| {
        let out = sshd.ssh(&sock, &key, &[], LOGIN).output().unwrap();
        seen.extend_from_slice(&out.stdout);
        seen.extend_from_slice(&out.stderr);
        out
    };
    let out = login(&allowed, &mut seen);
    assert!(
        out.status.success() && stdout(&out).contains("kovra-agent-login-ok"),
        "ssh to the allowed server: {}\nsshd: {}",
        describe(&out),
        allowed.log()
    );
    let out = login(&other, &mut seen);
    assert!(!out.status.success(), "logged in to another server");
    // An unbound SSHSIG is refused too: a key with a host list signs only for a session.
    let child = sign_child(&h, &sock, &key, "data.txt");
    assert!(!finish(child, &mut seen).status.success());
    let signs = audit(&h, &["--action", "ssh-agent-sign"]);
    let reasons: Vec<&str> = signs.iter().filter_map(|e| e["reason"].as_str()).collect();
    assert!(reasons.contains(&"sign-host-not-allowed"), "{signs:?}");
    assert!(reasons.contains(&"sign-host-unbound"), "{signs:?}");
    // The file alone narrowed: no proof was needed to hold the key to the server.
    assert!(nothing_pending(&h));
}

// ---- once-per-session, with hand-made frames on one connection ----------------------------

fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = (body.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

fn roundtrip(stream: &mut UnixStream, request: &Request) -> Response {
    let mut body = Vec::new();
    request.encode(&mut body).unwrap();
    stream.write_all(&frame(&body)).unwrap();
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).unwrap();
    let mut reply = vec![0u8; u32::from_be_bytes(len) as usize];
    stream.read_exact(&mut reply).unwrap();
    Response::decode(&mut &reply[..]).unwrap()
}

/// A connection bound (for authentication) to a session with `host`, as `ssh` binds it.
fn bound_connection(sock: &Path, host: &PrivateKey, session_id: &[u8]) -> UnixStream {
    let mut s = UnixStream::connect(sock).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(90))).unwrap();
    let bind = SessionBind {
        host_key: host.public_key().key_data().clone(),
        session_id: session_id.to_vec(),
        signature: host.try_sign(session_id).unwrap(),
        is_forwarding: false,
    };
    let reply = roundtrip(
        &mut s,
        &Request::Extension(Extension::new_message(bind).unwrap()),
    );
    assert!(matches!(reply, Response::Success), "{reply:?}");
    s
}

/// A host-bound login's signature request for `user` on the bound session.
fn login_request(session_id: &[u8], key: &KeyData, host: &KeyData, user: &str) -> Request {
    let mut data = Vec::new();
    session_id.to_vec().encode(&mut data).unwrap();
    50u8.encode(&mut data).unwrap();
    user.encode(&mut data).unwrap();
    "ssh-connection".encode(&mut data).unwrap();
    "publickey-hostbound-v00@openssh.com"
        .encode(&mut data)
        .unwrap();
    1u8.encode(&mut data).unwrap();
    key.algorithm().as_str().encode(&mut data).unwrap();
    key.encode_prefixed(&mut data).unwrap();
    host.encode_prefixed(&mut data).unwrap();
    Request::SignRequest(proto::SignRequest {
        credential: PublicCredential::Key(key.clone()),
        data,
        flags: 0,
    })
}

fn signed(r: &Response) -> bool {
    matches!(r, Response::SignResponse(_))
}

#[test]
fn once_per_session_lets_one_approval_serve_the_connection_it_was_given_on() {
    let h = Home::init();
    h.ok(&["keygen", HIGH]);
    let sock = start_agent(&h);
    let key = PublicKey::from_openssh(stdout(&h.ok(&["pubkey", HIGH])).trim())
        .unwrap()
        .key_data()
        .clone();
    let host = PrivateKey::random(
        &mut kovra_sshagent::ssh_key::rand_core::OsRng,
        Algorithm::Ed25519,
    )
    .unwrap();
    let host_pub = host.public_key().key_data().clone();
    write_rules(
        &h,
        "[keys.\"secret:dev/ssh/high\"]\nconfirm = \"once-per-session\"\n",
    );
    // The file alone does not loosen a high key: accepted, it does.
    accept(&h);

    let sid = b"session one, 32 bytes of hash..".to_vec();
    let mut conn = bound_connection(&sock, &host, &sid);
    let first = {
        let request = login_request(&sid, &key, &host_pub, "alice");
        let mut c = conn.try_clone().unwrap();
        std::thread::spawn(move || roundtrip(&mut c, &request))
    };
    let id = h.wait_for_pending();
    let out = h.run_pty(&["approve", &id], &[PASSPHRASE]);
    assert!(out.status.success(), "approve: {}", describe(&out));
    assert!(signed(&first.join().unwrap()), "the approved signature");
    // The same key, the same server, the same connection: no new approval.
    let again = roundtrip(&mut conn, &login_request(&sid, &key, &host_pub, "bob"));
    assert!(signed(&again), "{again:?}");
    assert!(nothing_pending(&h));
    let allowed: Vec<_> = audit(&h, &["--action", "ssh-agent-sign"])
        .into_iter()
        .filter(|e| e["decision"] == "allow")
        .collect();
    assert_eq!(allowed.len(), 2, "{allowed:?}");
    assert_eq!(allowed[0]["reason"], "proof-of-presence");
    assert!(
        allowed[1]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("approved earlier on this connection")),
        "{allowed:?}"
    );

    // Another connection (another `ssh`) asks again.
    let sid2 = b"session two, 32 bytes of hash..".to_vec();
    let mut conn2 = bound_connection(&sock, &host, &sid2);
    let second = {
        let request = login_request(&sid2, &key, &host_pub, "alice");
        std::thread::spawn(move || roundtrip(&mut conn2, &request))
    };
    let id = h.wait_for_pending();
    h.ok(&["deny", &id]);
    assert!(
        !signed(&second.join().unwrap()),
        "signed on a new connection"
    );

    // Under `every-signature` (the file tightens), the first connection asks again too.
    write_rules(
        &h,
        "[keys.\"secret:dev/ssh/high\"]\nconfirm = \"every-signature\"\n",
    );
    let third = {
        let request = login_request(&sid, &key, &host_pub, "carol");
        std::thread::spawn(move || roundtrip(&mut conn, &request))
    };
    let id = h.wait_for_pending();
    h.ok(&["deny", &id]);
    assert!(!signed(&third.join().unwrap()));
}
