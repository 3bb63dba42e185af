//! `sshagent-serve` and `sshagent-sign` (bench/sshagent.sh): signatures through
//! kovra-sshagent against OpenSSH's own `ssh-agent` holding the same key.
//!
//! `sshagent-serve` hosts kovra-sshagent's server with a backend holding one key read from
//! an unencrypted OpenSSH key file, the throwaway key the script made: the daemon's policy
//! and vault are not in this path, so what is measured is the protocol surface the daemon
//! will host (framing, decoding, the bind and signed-data checks, the thread per
//! connection) plus the same ed25519 signature OpenSSH computes. `sshagent-sign` is the
//! client: one connection per agent, batches of sign requests, the agents taking turns
//! batch by batch so a busy moment of the machine falls on both.

use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use kovra_sshagent::ssh_agent_lib::blocking::Client;
use kovra_sshagent::ssh_agent_lib::proto::{PublicCredential, SignRequest as WireSign};
use kovra_sshagent::ssh_key::{PrivateKey, PublicKey, Signature};
use kovra_sshagent::{Backend, Caller, Config, Identity, Refusal, Server, Session, SignRequest};
use serde_json::{Map, Value};
use signature::{Signer, Verifier};

use crate::say;
use crate::stats::Summary;

/// The one-key backend: lists the key, signs any request for it.
struct OneKey {
    key: PrivateKey,
}

impl Backend for OneKey {
    fn identities(&self, _caller: &Caller, _session: &Session) -> Vec<Identity> {
        vec![Identity {
            key: self.key.public_key().key_data().clone(),
            comment: "kovra-bench".into(),
        }]
    }

    fn sign(
        &self,
        _caller: &Caller,
        _session: &Session,
        request: &SignRequest<'_>,
    ) -> Result<Signature, Refusal> {
        if request.key != self.key.public_key().key_data() {
            return Err(Refusal::UnknownKey);
        }
        self.key
            .try_sign(request.data)
            .map_err(|_| Refusal::Unavailable)
    }
}

/// Serves `key` on `socket` until stdin reaches its end (the script holds the pipe, so
/// the server goes when the script does).
pub fn serve(key: &Path, socket: &Path) -> anyhow::Result<()> {
    let key = PrivateKey::read_openssh_file(key).context("reading the bench key")?;
    if key.is_encrypted() {
        bail!("the bench key must be unencrypted");
    }
    let server = Server::start(socket, Arc::new(OneKey { key }), Config::default())?;
    std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink())?;
    server.stop();
    Ok(())
}

pub struct SignOptions<'a> {
    /// `LABEL=SOCKET` for each agent.
    pub agents: &'a [String],
    pub public: &'a Path,
    pub rounds: usize,
    pub batch: usize,
    pub warmup: usize,
    /// Interleaved rounds of one fresh connection per signature (connect, list, sign), as
    /// `ssh-keygen -Y sign` and `git` do; 0 to skip.
    pub fresh: usize,
}

struct Agent {
    label: String,
    socket: String,
    /// Each fresh connection's connect + list + sign time.
    fresh: Vec<Duration>,
    client: Client<UnixStream>,
    /// Each signature's round-trip time.
    samples: Vec<Duration>,
    /// Wall time spent in this agent's batches.
    busy: Duration,
}

pub fn sign(o: &SignOptions<'_>, json: bool) -> anyhow::Result<()> {
    let public = PublicKey::read_openssh_file(o.public).context("reading the public key")?;
    let request = WireSign {
        credential: PublicCredential::Key(public.key_data().clone()),
        // About what `ssh-keygen -Y sign` sends: the SSHSIG preamble and a SHA-512 digest.
        data: vec![0x42; 128],
        flags: 0,
    };
    let mut agents = Vec::new();
    for spec in o.agents {
        let (label, socket) = spec.split_once('=').context("an agent is LABEL=SOCKET")?;
        let stream = UnixStream::connect(socket).with_context(|| format!("connecting {socket}"))?;
        let mut client = Client::new(stream);
        // Untimed: warms both agents, and checks each signature is a real one.
        for _ in 0..o.warmup.max(1) {
            let sig = client.sign(request.clone())?;
            public
                .key_data()
                .verify(&request.data, &sig)
                .with_context(|| format!("{label}: the signature does not verify"))?;
        }
        agents.push(Agent {
            label: label.to_owned(),
            socket: socket.to_owned(),
            fresh: Vec::with_capacity(o.fresh),
            client,
            samples: Vec::with_capacity(o.rounds * o.batch),
            busy: Duration::ZERO,
        });
    }
    let n = agents.len();
    for round in 0..o.rounds {
        for i in 0..n {
            // Each round starts one agent further along, so neither always goes first.
            let Some(agent) = agents.get_mut((round + i) % n) else {
                continue;
            };
            let start = Instant::now();
            for _ in 0..o.batch {
                let t = Instant::now();
                agent.client.sign(request.clone())?;
                agent.samples.push(t.elapsed());
            }
            agent.busy += start.elapsed();
        }
    }
    for round in 0..o.fresh {
        for i in 0..n {
            let Some(agent) = agents.get_mut((round + i) % n) else {
                continue;
            };
            let t = Instant::now();
            let mut client = Client::new(UnixStream::connect(&agent.socket)?);
            client.request_identities()?;
            client.sign(request.clone())?;
            drop(client);
            agent.fresh.push(t.elapsed());
        }
    }
    let mut out = Map::new();
    for agent in &agents {
        if !agent.fresh.is_empty() {
            let fresh = Summary::of(&agent.fresh);
            say(
                json,
                &fresh.line(&format!("{} fresh connection", agent.label)),
            );
            fresh.insert_into(&mut out, &format!("{}_fresh", agent.label));
        }
        if agent.samples.is_empty() {
            continue;
        }
        let per_sec = agent.samples.len() as f64 / agent.busy.as_secs_f64().max(1e-9);
        let summary = Summary::of(&agent.samples);
        say(
            json,
            &format!(
                "{}: {:.0} signatures/s; {}",
                agent.label,
                per_sec,
                summary.line("per signature")
            ),
        );
        out.insert(
            format!("{}_per_sec", agent.label),
            Value::from(per_sec.round() as u64),
        );
        summary.insert_into(&mut out, &agent.label);
    }
    if json {
        println!("{}", Value::Object(out));
    }
    Ok(())
}

/// `LABEL=SOCKET` pairs as clap takes them.
pub fn agent_arg(s: &str) -> Result<String, String> {
    match s.split_once('=') {
        Some((l, p)) if !l.is_empty() && !p.is_empty() => Ok(s.to_owned()),
        _ => Err("expected LABEL=SOCKET".into()),
    }
}
