//! The agent's wire behaviour with hand-made frames: malformed input gets failures and the
//! connection (or, when the stream cannot be trusted, the server) keeps serving; session
//! binds are verified before they count; limits hold under a flood.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{
    Agent, FAILURE, LOCK_CANARY, REQUEST_IDENTITIES, SUCCESS, TestBackend, closed, recv, roundtrip,
};
use kovra_sshagent::ssh_agent_lib::proto::extension::SessionBind;
use kovra_sshagent::ssh_agent_lib::proto::{self, Extension, PublicCredential, Request, Response};
use kovra_sshagent::ssh_agent_lib::ssh_encoding::{Decode, Encode};
use kovra_sshagent::ssh_key::public::KeyData;
use kovra_sshagent::ssh_key::{Algorithm, PrivateKey};
use kovra_sshagent::{BindError, Config, MAX_FRAME, Rejected, ServeError, Server, Signed};
use signature::Signer;

fn encode(request: &Request) -> Vec<u8> {
    let mut out = Vec::new();
    request.encode(&mut out).unwrap();
    out
}

fn host_key() -> PrivateKey {
    PrivateKey::random(
        &mut kovra_sshagent::ssh_key::rand_core::OsRng,
        Algorithm::Ed25519,
    )
    .unwrap()
}

/// A `session-bind@openssh.com` request, signed by `host` over `session_id`.
fn bind(host: &PrivateKey, session_id: &[u8], forwarding: bool) -> Vec<u8> {
    let bind = SessionBind {
        host_key: host.public_key().key_data().clone(),
        session_id: session_id.to_vec(),
        signature: host.try_sign(session_id).unwrap(),
        is_forwarding: forwarding,
    };
    encode(&Request::Extension(Extension::new_message(bind).unwrap()))
}

/// The bytes `ssh` asks an agent to sign for a host-bound public-key login.
fn userauth(session_id: &[u8], key: &KeyData, host: &KeyData) -> Vec<u8> {
    let mut out = Vec::new();
    session_id.to_vec().encode(&mut out).unwrap();
    50u8.encode(&mut out).unwrap();
    "alice".encode(&mut out).unwrap();
    "ssh-connection".encode(&mut out).unwrap();
    "publickey-hostbound-v00@openssh.com"
        .encode(&mut out)
        .unwrap();
    1u8.encode(&mut out).unwrap();
    key.algorithm().as_str().encode(&mut out).unwrap();
    key.encode_prefixed(&mut out).unwrap();
    host.encode_prefixed(&mut out).unwrap();
    out
}

fn sign(key: &KeyData, data: Vec<u8>) -> Vec<u8> {
    encode(&Request::SignRequest(proto::SignRequest {
        credential: PublicCredential::Key(key.clone()),
        data,
        flags: 0,
    }))
}

fn is_signature(reply: &[u8]) -> bool {
    matches!(
        Response::decode(&mut &reply[..]),
        Ok(Response::SignResponse(_))
    )
}

/// The connection still answers a well-formed request.
fn still_serves(stream: &mut UnixStream) {
    let reply = roundtrip(stream, REQUEST_IDENTITIES);
    assert!(
        matches!(Response::decode(&mut &reply[..]), Ok(Response::IdentitiesAnswer(ids)) if ids.len() == 2),
        "{reply:?}"
    );
}

#[test]
fn malformed_messages_get_failures_and_the_connection_keeps_serving() {
    let agent = Agent::start();
    let mut s = agent.connect();
    let ed = agent.backend.keys[0].0.public_key().key_data().clone();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty message", vec![]),
        ("unknown message type", vec![200, 1, 2, 3]),
        ("SSH1 request", vec![1]),
        ("identities with trailing bytes", vec![11, 0]),
        (
            "truncated sign request",
            sign(&ed, b"data".to_vec())[..12].to_vec(),
        ),
        (
            "sign with trailing bytes",
            [sign(&ed, b"x".to_vec()), vec![0]].concat(),
        ),
        ("unknown extension", {
            let mut m = vec![27];
            "frobnicate@example.com".encode(&mut m).unwrap();
            m
        }),
        ("garbage session bind", {
            let mut m = vec![27];
            "session-bind@openssh.com".encode(&mut m).unwrap();
            m.extend_from_slice(&[0xff; 40]);
            m
        }),
        (
            "extension name longer than the message",
            vec![27, 0, 0, 1, 0, b'a'],
        ),
        (
            "lock with a short passphrase string",
            vec![22, 0, 0, 0, 9, b'x'],
        ),
    ];
    for (what, body) in cases {
        assert_eq!(roundtrip(&mut s, &body), FAILURE, "{what}");
        still_serves(&mut s);
    }
    // A signature for a key the backend does not hold is a failure too.
    let other = host_key().public_key().key_data().clone();
    assert_eq!(roundtrip(&mut s, &sign(&other, b"x".to_vec())), FAILURE);
    // …and a valid request on the same connection still signs.
    assert!(is_signature(&roundtrip(&mut s, &sign(&ed, b"x".to_vec()))));
}

#[test]
fn an_oversized_frame_gets_a_failure_and_a_close_and_the_server_keeps_serving() {
    let agent = Agent::start();
    let mut s = agent.connect();
    s.write_all(&((MAX_FRAME as u32) + 1).to_be_bytes())
        .unwrap();
    assert_eq!(recv(&mut s).as_deref(), Some(FAILURE));
    assert!(closed(&mut s));
    // A frame of exactly the cap is read (and refused as a message, not as a frame).
    let mut s = agent.connect();
    let mut body = vec![200u8];
    body.resize(MAX_FRAME, 0);
    assert_eq!(roundtrip(&mut s, &body), FAILURE);
    still_serves(&mut s);
    // A frame cut short by the peer ends that connection only.
    let mut s = agent.connect();
    s.write_all(&[0, 0, 0, 10, 11, 0]).unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    assert!(closed(&mut s));
    still_serves(&mut agent.connect());
}

#[test]
fn a_session_bind_counts_only_when_the_host_signature_verifies() {
    let agent = Agent::start();
    let ed = agent.backend.keys[0].0.public_key().key_data().clone();
    let host = host_key();
    let host_pub = host.public_key().key_data().clone();
    let sid = [7u8; 32];

    // A bind whose signature is over another session identifier is refused.
    let mut s = agent.connect();
    let mut forged = SessionBind::decode(&mut &bind(&host, &sid, false)[29..]).unwrap();
    forged.signature = host.try_sign(&[8u8; 32]).unwrap();
    let forged = encode(&Request::Extension(Extension::new_message(forged).unwrap()));
    assert_eq!(roundtrip(&mut s, &forged), FAILURE);
    // Signed by a different key than the one it names: refused.
    let mut impostor = SessionBind::decode(&mut &bind(&host, &sid, false)[29..]).unwrap();
    impostor.signature = host_key().try_sign(&sid).unwrap();
    let impostor = encode(&Request::Extension(
        Extension::new_message(impostor).unwrap(),
    ));
    assert_eq!(roundtrip(&mut s, &impostor), FAILURE);
    // Nothing was recorded: a userauth signature for any session goes to the backend unbound.
    assert!(is_signature(&roundtrip(
        &mut s,
        &sign(&ed, userauth(&[1; 32], &ed, &host_pub))
    )));
    assert!(agent.backend.seen().signings[0].binds.is_empty());

    // A good bind is recorded, and then pins userauth signatures to its session and host.
    let mut s = agent.connect();
    assert_eq!(roundtrip(&mut s, &bind(&host, &sid, false)), SUCCESS);
    // The same bind again is accepted and recorded once.
    assert_eq!(roundtrip(&mut s, &bind(&host, &sid, false)), SUCCESS);
    // A second session on a connection bound for authentication is refused.
    assert_eq!(roundtrip(&mut s, &bind(&host, &[9u8; 32], false)), FAILURE);
    let other_host = host_key().public_key().key_data().clone();
    assert_eq!(
        roundtrip(&mut s, &sign(&ed, userauth(&[1; 32], &ed, &host_pub))),
        FAILURE,
        "a userauth signature for another session"
    );
    assert_eq!(
        roundtrip(&mut s, &sign(&ed, userauth(&sid, &ed, &other_host))),
        FAILURE,
        "a host-bound userauth naming another host key"
    );
    assert!(is_signature(&roundtrip(
        &mut s,
        &sign(&ed, userauth(&sid, &ed, &host_pub))
    )));
    let seen = agent.backend.seen();
    let last = seen.signings.last().unwrap();
    assert_eq!(
        last.binds,
        vec![(common::fingerprint(&host_pub), false)],
        "exactly the verified bind"
    );
    assert!(
        matches!(&last.signed, Signed::Userauth(a) if a.session_id == sid && a.user == "alice")
    );
    assert_eq!(seen.signings.len(), 2);
    // Each refusal reached the backend for its audit trail, in order.
    assert_eq!(
        seen.rejected,
        vec![
            Rejected::Bind(BindError::BadSignature),
            Rejected::Bind(BindError::BadSignature),
            Rejected::Bind(BindError::AlreadyAuthenticating),
            Rejected::NotTheBoundSession,
            Rejected::NotTheBoundSession,
        ]
    );
}

#[test]
fn forwarding_binds_stack_and_are_capped() {
    let agent = Agent::start();
    let host = host_key();
    let mut s = agent.connect();
    for i in 0..kovra_sshagent::MAX_BINDS {
        assert_eq!(
            roundtrip(&mut s, &bind(&host, &[i as u8; 32], true)),
            SUCCESS
        );
    }
    assert_eq!(roundtrip(&mut s, &bind(&host, &[0xee; 32], true)), FAILURE);
    // The same session identifier with another host key is refused.
    assert_eq!(
        roundtrip(&mut s, &bind(&host_key(), &[0u8; 32], true)),
        FAILURE
    );
    still_serves(&mut s);
    assert_eq!(
        agent.backend.seen().rejected,
        vec![
            Rejected::Bind(BindError::TooMany),
            Rejected::Bind(BindError::Rebound)
        ]
    );
}

#[test]
fn a_lock_passphrase_reaches_the_backend_wiped_and_unprintable() {
    let agent = Agent::start();
    let mut s = agent.connect();
    let mut body = vec![22];
    LOCK_CANARY.encode(&mut body).unwrap();
    assert_eq!(
        roundtrip(&mut s, &body),
        FAILURE,
        "the test backend refuses"
    );
    let seen = agent.backend.seen();
    assert_eq!(seen.locks, vec!["Passphrase([redacted])".to_owned()]);
    assert_eq!(
        seen.lock_is_canary,
        vec![true],
        "the passphrase arrives intact"
    );
    assert!(!format!("{:?}", seen.locks).contains(LOCK_CANARY));
}

#[test]
fn idle_and_trickling_peers_are_dropped() {
    let agent = Agent::with_config(Config {
        idle_timeout: Duration::from_millis(300),
        frame_timeout: Duration::from_millis(300),
        ..Config::default()
    });
    let mut idle = agent.connect();
    let started = Instant::now();
    assert!(closed(&mut idle));
    assert!(started.elapsed() < Duration::from_secs(5));
    // One byte every 200 ms: each read is within the idle timeout, the frame is not.
    let mut slow = agent.connect();
    let started = Instant::now();
    let mut dropped = false;
    for b in [0u8, 0, 0, 5, 11, 0, 0, 0, 0] {
        if slow.write_all(&[b]).is_err() {
            dropped = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        dropped || closed(&mut slow),
        "a trickled frame must not be served"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn the_socket_is_private_replaces_only_stale_sockets_and_goes_away_on_stop() {
    use std::os::unix::fs::FileTypeExt;
    let agent = Agent::start();
    let path = agent.socket();
    let meta = std::fs::symlink_metadata(&path).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let backend = Arc::new(TestBackend::new());
    // A live agent at the path is not displaced.
    assert!(matches!(
        Server::start(&path, Arc::clone(&backend), Config::default()),
        Err(ServeError::InUse(_))
    ));
    // Stopping removes the socket and ends live connections.
    let mut live = agent.connect();
    still_serves(&mut live);
    let Agent { dir, server, .. } = agent;
    let stop = server.as_ref().unwrap().stop_handle();
    stop.stop();
    assert!(!path.exists());
    assert!(closed(&mut live));
    drop(server);

    // A stale socket (no one listening) is replaced.
    let stale = std::os::unix::net::UnixListener::bind(&path).unwrap();
    drop(stale);
    let again = Server::start(&path, Arc::clone(&backend), Config::default()).unwrap();
    still_serves(&mut UnixStream::connect(&path).unwrap());
    again.stop();
    // Anything else at the path is refused and left alone.
    std::fs::write(&path, b"not a socket").unwrap();
    assert!(matches!(
        Server::start(&path, Arc::clone(&backend), Config::default()),
        Err(ServeError::NotASocket(_))
    ));
    assert_eq!(std::fs::read(&path).unwrap(), b"not a socket");
    // A directory others can write to is refused.
    let shared = dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
    assert!(matches!(
        Server::start(&shared.join("a.sock"), backend, Config::default()),
        Err(ServeError::UnsafeDirectory(_))
    ));
}

/// Another user's connection is closed before anything is read. Connecting as `nobody`
/// takes root (setpriv), as kovra-cli's peer test does.
#[test]
fn another_users_connection_is_closed() {
    let agent = Agent::start();
    // Let `nobody` reach the socket so only the agent's own check stands in the way.
    std::fs::set_permissions(agent.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(agent.socket(), std::fs::Permissions::from_mode(0o666)).unwrap();
    let out = std::process::Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "ssh-add",
            "-l",
        ])
        .env("SSH_AUTH_SOCK", agent.socket())
        .output()
        .unwrap();
    // Closed before the request is read: ssh-add dies of SIGPIPE writing it, or reports
    // "communication with agent failed" when the close wins the race; it never lists.
    use std::os::unix::process::ExitStatusExt;
    let stderr = common::text(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        out.status.signal() == Some(13) || stderr.contains("communication with agent failed"),
        "{:?}: {stderr}",
        out.status
    );
    assert!(out.stdout.is_empty(), "{}", common::text(&out.stdout));
    // The owner is still served.
    still_serves(&mut agent.connect());
}
