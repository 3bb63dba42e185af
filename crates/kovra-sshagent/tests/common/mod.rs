//! A test backend holding in-memory keys, and helpers to run the agent and talk to it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kovra_sshagent::ssh_key::public::KeyData;
use kovra_sshagent::ssh_key::{Algorithm, EcdsaCurve, HashAlg, PrivateKey, Signature};
use kovra_sshagent::{
    Backend, Caller, Config, Identity, Passphrase, Refusal, Rejected, Server, Session, SignRequest,
    Signed,
};
use signature::Signer;

/// A canary that must never appear in anything the backend records.
pub const LOCK_CANARY: &str = "kovra-canary-lock-7f3a9c";

/// What the backend saw, for the tests to assert on.
#[derive(Debug, Clone)]
pub struct Signing {
    pub key: String,
    pub signed: Signed,
    /// (host key fingerprint, forwarding) of each bind on the connection at sign time.
    pub binds: Vec<(String, bool)>,
    pub caller: Caller,
}

#[derive(Default)]
pub struct Seen {
    pub signings: Vec<Signing>,
    pub rejected: Vec<Rejected>,
    /// `{:?}` of each lock passphrase handed over.
    pub locks: Vec<String>,
    /// Whether each lock passphrase's bytes were the canary, exactly.
    pub lock_is_canary: Vec<bool>,
    /// (host key fingerprint, forwarding) of each bind on the connection, at each listing.
    pub listed_with_binds: Vec<Vec<(String, bool)>>,
}

pub struct TestBackend {
    pub keys: Vec<(PrivateKey, String)>,
    pub seen: Mutex<Seen>,
}

impl TestBackend {
    /// One ed25519 key and one ECDSA P-256 key, made fresh for each test.
    pub fn new() -> Self {
        let mut rng = kovra_sshagent::ssh_key::rand_core::OsRng;
        let ed = PrivateKey::random(&mut rng, Algorithm::Ed25519).unwrap();
        let ec = PrivateKey::random(
            &mut rng,
            Algorithm::Ecdsa {
                curve: EcdsaCurve::NistP256,
            },
        )
        .unwrap();
        Self {
            keys: vec![
                (ed, "kovra-test-ed25519".into()),
                (ec, "kovra-test-p256".into()),
            ],
            seen: Mutex::new(Seen::default()),
        }
    }

    pub fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap()
    }

    pub fn fingerprint(&self, i: usize) -> String {
        fingerprint(self.keys[i].0.public_key().key_data())
    }

    pub fn openssh_public(&self, i: usize) -> String {
        self.keys[i].0.public_key().to_openssh().unwrap()
    }
}

pub fn fingerprint(key: &KeyData) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

fn binds(session: &Session) -> Vec<(String, bool)> {
    session
        .binds()
        .iter()
        .map(|b| (fingerprint(b.host_key()), b.forwarding()))
        .collect()
}

impl Backend for TestBackend {
    fn identities(&self, _caller: &Caller, session: &Session) -> Vec<Identity> {
        self.seen().listed_with_binds.push(binds(session));
        self.keys
            .iter()
            .map(|(k, comment)| Identity {
                key: k.public_key().key_data().clone(),
                comment: comment.clone(),
            })
            .collect()
    }

    fn sign(
        &self,
        caller: &Caller,
        session: &Session,
        request: &SignRequest<'_>,
    ) -> Result<Signature, Refusal> {
        let (key, _) = self
            .keys
            .iter()
            .find(|(k, _)| k.public_key().key_data() == request.key)
            .ok_or(Refusal::UnknownKey)?;
        self.seen().signings.push(Signing {
            key: fingerprint(request.key),
            signed: request.signed.clone(),
            binds: binds(session),
            caller: caller.clone(),
        });
        key.try_sign(request.data).map_err(|_| Refusal::Unavailable)
    }

    fn rejected(&self, _caller: &Caller, why: Rejected) {
        self.seen().rejected.push(why);
    }

    fn lock(&self, _caller: &Caller, passphrase: &Passphrase) -> Result<(), Refusal> {
        let mut seen = self.seen();
        seen.locks.push(format!("{passphrase:?}"));
        seen.lock_is_canary
            .push(passphrase.expose() == LOCK_CANARY.as_bytes());
        Err(Refusal::Unsupported)
    }
}

/// A running agent in a fresh private directory.
pub struct Agent {
    pub dir: tempfile::TempDir,
    pub backend: Arc<TestBackend>,
    pub server: Option<Server>,
}

impl Agent {
    pub fn start() -> Self {
        Self::with_config(Config::default())
    }

    pub fn with_config(config: Config) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let backend = Arc::new(TestBackend::new());
        let server =
            Server::start(&dir.path().join("agent.sock"), Arc::clone(&backend), config).unwrap();
        Self {
            dir,
            backend,
            server: Some(server),
        }
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("agent.sock")
    }

    pub fn connect(&self) -> UnixStream {
        let s = UnixStream::connect(self.socket()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s
    }

    /// Writes a public key file next to the socket, as `ssh` and `ssh-keygen` take them.
    pub fn public_key_file(&self, i: usize) -> PathBuf {
        let path = self.dir.path().join(format!("key{i}.pub"));
        std::fs::write(&path, format!("{}\n", self.backend.openssh_public(i))).unwrap();
        path
    }
}

/// Sends one raw frame body and reads one reply body.
pub fn roundtrip(stream: &mut UnixStream, body: &[u8]) -> Vec<u8> {
    send(stream, body);
    recv(stream).expect("a reply")
}

pub fn send(stream: &mut UnixStream, body: &[u8]) {
    let mut frame = (body.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(body);
    stream.write_all(&frame).unwrap();
}

/// One reply body, or `None` when the agent closed the connection.
pub fn recv(stream: &mut UnixStream) -> Option<Vec<u8>> {
    let mut len = [0u8; 4];
    if stream.read_exact(&mut len).is_err() {
        return None;
    }
    let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
    stream.read_exact(&mut body).ok()?;
    Some(body)
}

/// Whether the agent closed the connection (EOF or reset) without replying.
pub fn closed(stream: &mut UnixStream) -> bool {
    let mut b = [0u8; 1];
    matches!(stream.read(&mut b), Ok(0) | Err(_))
}

pub const FAILURE: &[u8] = &[5];
pub const SUCCESS: &[u8] = &[6];
pub const REQUEST_IDENTITIES: &[u8] = &[11];

/// Runs a program with the agent as `SSH_AUTH_SOCK`; panics with its output when it cannot start.
pub fn run(agent: &Path, program: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(program)
        .args(args)
        .env("SSH_AUTH_SOCK", agent)
        .env_remove("SSH_AGENT_PID")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{program} could not start: {e}"))
}

/// Writes an executable script by a child process: a file this process held open for writing
/// could be inherited by another test thread's fork, and executing it would then fail with
/// ETXTBSY ("Text file busy") until that child execs.
pub fn write_program(path: &Path, text: &str) {
    let mut child = std::process::Command::new("sh")
        .args(["-c", "cat > \"$1\" && chmod 700 \"$1\"", "sh"])
        .arg(path)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("spawn sh");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success(), "write {}", path.display());
}

pub fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}
