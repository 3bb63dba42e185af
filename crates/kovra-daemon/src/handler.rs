//! The policy gate: every request is turned into facts, decided by `kovra_core::policy::decide`,
//! audited, and only then carried out. This is the one place requests touch the store, and
//! a value is opened only with the `Allowed` token an allowing decision minted
//! (`Gate::admit`, then `Gate::open`): nothing is read before the decision.
//!
//! This file holds the daemon's state, `handle` (where a handler's result becomes the wire
//! reply); `dispatch` (its own file) and `route` send a request that passed them to its
//! handler. Each idea
//! has its own room: `lifecycle` (status, init, unlock), `gate` (facts, proofs, the policy
//! call and its audited refusals), `challenge` (asking for a proof), `records`, `vault`
//! (projects, audit, passphrase, keys), `approval`, `agent` (profiles and their sockets),
//! `agent_grant` (their egress grants), `sandbox`, and the surfaces' own: `refs` (runs),
//! `doctor`, `broker`, `egress`, `sharing`, `requests`, `twofactor`, `sshkey`.

use kovra_proto::ErrorCode;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use kovra_core::audit::AuditEntry;
use kovra_core::coord::Coordinate;
use kovra_core::crypto::KdfParams;
use kovra_core::model::{Origin, VaultName};
use kovra_core::policy::{Presence, Scope};
use kovra_core::proof;
use kovra_core::store::{LockedStore, StoreError, UnlockedStore};
use kovra_proto::paths::Paths;
use kovra_proto::{Context, Envelope, PROTOCOL_VERSION, Proof, Reply, Request, Response};

use crate::approvals::{Approvals, Outcome};
use crate::broker::Plan;
use crate::config::Config;
use crate::error::GateError;
use crate::os::Peer;
use crate::proof::Challenges;

mod agent;
mod agent_grant;
mod allowlist;
mod approval;
mod broker;
mod canary;
mod challenge;
mod confirm;
mod dbconn;
mod dbproxy;
mod dispatch;
mod doctor;
mod egress;
mod export;
mod gate;
mod import;
mod lifecycle;
mod passkey;
mod query;
mod records;
mod recovery;
mod refs;
mod relocate;
mod requests;
mod route;
mod sandbox;
mod scan;
mod scrub;
mod session_grant;
mod sharing;
mod ssh_agent;
mod ssh_agent_rules;
mod ssh_broker;
mod sshkey;
mod system;
#[cfg(test)]
mod tests;
mod twofactor;
mod ui;
mod vault;

use approval::describe;
pub use dbproxy::DbTicket;
pub use egress::EgressTicket;
use gate::{Gate, Located, Op};
pub use sandbox::SandboxTicket;
pub use ssh_agent::{AgentAsk, AgentSigned};

const MAX_VALUE: usize = 256 * 1024;
/// In characters: the core's limit, which a received record is cut to.
const MAX_DESCRIPTION: usize = kovra_core::policy::DESCRIPTION_MAX_CHARS;
const MIN_PASSPHRASE: usize = 8;

/// The daemon's shared state. One mutex: requests are short, and a vault has one writer.
pub struct Daemon {
    pub paths: Paths,
    pub config: Config,
    pub kdf: KdfParams,
    /// Shared with the egress proxy's judge, which writes the trail from the proxy's threads.
    inner: std::sync::Arc<Mutex<Inner>>,
    /// The egress proxy, started with the first run that has placeholders.
    egress: Mutex<Option<std::sync::Arc<egress::EgressHost>>>,
    /// The database proxy, started with the first run that has a `#url` line.
    dbproxy: Mutex<Option<std::sync::Arc<dbproxy::DbHost>>>,
    /// The compiled-in providers.
    registry: kovra_broker::Registry,
    /// One HTTP client for the daemon's life, built on first use.
    broker: std::sync::OnceLock<Result<kovra_broker::Broker, String>>,
    /// The agent profiles' sockets.
    agents: crate::agents::AgentSockets,
    /// Each profile's grant id and proxy credential, stable for the daemon's life (sockets
    /// bound to a grant outlive a lock and an unlock).
    grant_ids: Mutex<std::collections::HashMap<String, (u64, zeroize::Zeroizing<String>)>>,
    /// The ssh-agent socket (`kovra ssh-agent`), when started.
    ssh_agent: crate::sshagent::SshAgentHost,
    /// The origin the Web UI serves (`http://localhost:PORT`) while it runs: the one origin
    /// passkeys are enrolled from and assertions accepted from.
    web_origin: Mutex<Option<String>>,
    /// The web UI (`kovra ui`), when started.
    web: crate::web::WebHost,
    /// Where records were used by runs (`Request::Usage`): paths, never values.
    usage: crate::usage::UsageIndex,
}

struct Inner {
    store: Option<UnlockedStore>,
    challenges: Challenges,
    approvals: Approvals,
    /// Failed unlocks and proofs since the last success; drives the back-off delay.
    failures: u32,
    /// Failed unlocks while locked, written to the trail at the next unlock.
    failed_unlocks_while_locked: u32,
    /// Hook scans bypassed while locked (`ScanBypass`): written at the next unlock.
    bypasses_while_locked: Vec<String>,
    last_activity: Instant,
    /// Built-in plus the vault's custom providers, while unlocked. Only this daemon writes
    /// the vault, so clearing it on every provider change (and on lock) keeps it exact.
    registry: Option<std::sync::Arc<kovra_broker::Registry>>,
    /// False once this daemon was unlocked (or created) with a passphrase read from a file
    /// or descriptor: any process of the user could have read it, so for the rest of this
    /// daemon's life only a second-factor code proves presence.
    passphrase_proofs: bool,
    /// The agent profiles sealed in the vault, while unlocked.
    profiles: Option<std::sync::Arc<agent::Profiles>>,
    /// The profiles' grants on the egress proxy (values included), while unlocked.
    grants: std::collections::HashMap<String, agent_grant::ProfileGrant>,
    /// Runs' redactors, built once per value set while unlocked (`crate::redactors`).
    redactors: std::sync::Arc<crate::redactors::Redactors>,
    /// Which records are canaries (`canary::CanarySet`), while unlocked.
    canaries: Option<std::sync::Arc<canary::CanarySet>>,
    /// Passkey enrolments in flight (memory only).
    ceremonies: crate::passkey::Ceremonies,
    /// Whether a passkey is enrolled, while unlocked (`None`: not read yet).
    passkeys_enrolled: Option<bool>,
    /// How many times the vault locked: the web UI's sessions die when it moves.
    locks: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

/// What the kernel told us about the caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub peer: Peer,
    pub exe: Option<String>,
    pub tty: bool,
    /// The agent profile whose socket the connection arrived on.
    pub agent: Option<std::sync::Arc<str>>,
    /// The caller's namespaces when they are not the daemon's (a sandbox): its runs are
    /// looked up and started inside them.
    pub namespaces: crate::nsjoin::Namespaces,
}

/// The origin the daemon observes of a connecting process, whatever it claims: a process
/// with a controlling terminal is the human's, any other is an agent's, and a connection on
/// an agent profile's socket is the agent's. Every socket the daemon serves (its own, the
/// profiles', the ssh-agent's) uses this one rule.
fn observed_origin(caller: &Caller) -> Origin {
    if caller.agent.is_some() || !caller.tty {
        Origin::Agent
    } else {
        Origin::Human
    }
}

/// An audit entry of the daemon's own doing (no caller behind it).
fn daemon_entry(action: &str, decision: &str) -> AuditEntry {
    AuditEntry {
        action: action.into(),
        surface: "daemon".into(),
        origin: "daemon".into(),
        decision: decision.into(),
        ..AuditEntry::default()
    }
}

/// A reply on the wire.
fn ok(reply: Reply) -> Response {
    Response::Ok {
        reply: Box::new(reply),
    }
}

/// The facts of one request, after the daemon tightened what the surface claimed.
struct Info {
    context: Context,
    origin: Origin,
    scope: Scope,
    project: Option<String>,
    pid: u32,
    exe: Option<String>,
    /// The profile of the agent socket the request came through: its scope and origin
    /// replaced whatever the client claimed.
    agent: Option<std::sync::Arc<kovra_core::agent::AgentProfile>>,
    namespaces: crate::nsjoin::Namespaces,
}

impl Info {
    fn entry(
        &self,
        action: &str,
        coordinate: Option<&Coordinate>,
        vault: Option<&VaultName>,
        decision: &str,
    ) -> AuditEntry {
        AuditEntry {
            action: action.to_string(),
            coordinate: coordinate.map(|c| c.to_string()),
            vault: vault.map(|v| v.label()),
            surface: self.context.surface.as_str().to_string(),
            origin: self.origin.as_str().to_string(),
            decision: decision.to_string(),
            pid: Some(self.pid),
            exe: self.exe.clone(),
            agent: self.agent.as_ref().map(|p| p.name.clone()),
            ..AuditEntry::default()
        }
    }
}

#[cfg(any(debug_assertions, feature = "test-upstream"))]
fn test_upstream() -> Result<Option<kovra_broker::TestUpstream>, String> {
    let (Ok(addr), Ok(ca)) = (
        std::env::var("KOVRA_BROKER_TEST_UPSTREAM"),
        std::env::var("KOVRA_BROKER_TEST_CA"),
    ) else {
        return Ok(None);
    };
    let addr: std::net::SocketAddr = addr
        .parse()
        .map_err(|_| "KOVRA_BROKER_TEST_UPSTREAM is not an address:port".to_string())?;
    if !addr.ip().is_loopback() {
        return Err("KOVRA_BROKER_TEST_UPSTREAM must be a loopback address".into());
    }
    let ca_pem = std::fs::read(&ca).map_err(|e| format!("KOVRA_BROKER_TEST_CA: {e}"))?;
    Ok(Some(kovra_broker::TestUpstream { addr, ca_pem }))
}

#[cfg(not(any(debug_assertions, feature = "test-upstream")))]
fn test_upstream() -> Result<Option<kovra_broker::TestUpstream>, String> {
    Ok(None)
}

impl Daemon {
    /// A daemon for this home. The cost of the key derivation for new passphrases is the
    /// daemon's own choice (`KdfParams::default()`), never a client's.
    pub fn new(paths: Paths, config: Config) -> Self {
        Self::with_kdf(paths, config, KdfParams::default())
    }

    /// With another key-derivation cost: for in-process tests, which may go down to the
    /// minimum the proofs accept.
    pub fn with_kdf(paths: Paths, config: Config, kdf: KdfParams) -> Self {
        let paths_agents = paths.agents_dir();
        Daemon {
            paths,
            config,
            kdf,
            egress: Mutex::new(None),
            dbproxy: Mutex::new(None),
            inner: std::sync::Arc::new(Mutex::new(Inner {
                store: None,
                challenges: Challenges::default(),
                approvals: Approvals::default(),
                failures: 0,
                failed_unlocks_while_locked: 0,
                bypasses_while_locked: Vec::new(),
                last_activity: Instant::now(),
                registry: None,
                passphrase_proofs: true,
                profiles: None,
                grants: std::collections::HashMap::new(),
                redactors: std::sync::Arc::default(),
                canaries: None,
                ceremonies: crate::passkey::Ceremonies::default(),
                passkeys_enrolled: None,
                locks: std::sync::Arc::default(),
            })),
            registry: kovra_broker::Registry::builtin(),
            broker: std::sync::OnceLock::new(),
            agents: crate::agents::AgentSockets::new(paths_agents),
            grant_ids: Mutex::new(std::collections::HashMap::new()),
            ssh_agent: crate::sshagent::SshAgentHost::default(),
            web_origin: Mutex::new(None),
            web: crate::web::WebHost::default(),
            usage: crate::usage::UsageIndex::default(),
        }
    }

    /// The Web UI calls this when it starts serving (`Some("http://localhost:PORT")`) and
    /// when it stops (`None`). Passkeys are enrolled only from that origin, and an
    /// assertion from any other is refused. An origin that is not `http(s)://localhost:PORT`
    /// is refused.
    pub fn set_web_origin(&self, origin: Option<String>) -> Result<(), String> {
        if let Some(o) = &origin {
            crate::passkey::parse_origin(o)?;
        }
        *self.web_origin.lock().unwrap_or_else(|e| e.into_inner()) = origin;
        Ok(())
    }

    /// The Web UI's origin, while it runs.
    pub fn web_origin(&self) -> Option<String> {
        self.web_origin
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The web UI's host (the server hands it the daemon once it is shared).
    pub fn web_host(&self) -> &crate::web::WebHost {
        &self.web
    }

    /// The ssh-agent socket's host (the server hands it the daemon once it is shared).
    pub fn ssh_agent_host(&self) -> &crate::sshagent::SshAgentHost {
        &self.ssh_agent
    }

    /// The agent profiles' sockets (the server serves them).
    pub fn agents(&self) -> &crate::agents::AgentSockets {
        &self.agents
    }

    pub fn builtin_registry(&self) -> &kovra_broker::Registry {
        &self.registry
    }

    /// The broker's client. A debug build honours the loopback test upstream
    /// (`docs/broker.md` §5); a release build has no such switch.
    pub fn broker(&self) -> Result<&kovra_broker::Broker, String> {
        self.broker
            .get_or_init(|| kovra_broker::Broker::new(test_upstream()?).map_err(|e| e.to_string()))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Append an audit entry from outside a request (a brokered call's result).
    pub fn audit_outside(&self, entry: AuditEntry) -> Result<(), String> {
        let mut inner = self.lock_inner();
        match inner.store.as_mut() {
            Some(store) => store.audit(entry).map_err(|e| e.to_string()),
            None => Err("the vault was locked during the call".into()),
        }
    }

    fn lock_inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic in another request must not wedge the daemon: recover the state.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Lock if idle for longer than the timeout. Returns true if it locked now.
    pub fn lock_if_idle(&self) -> bool {
        let mut inner = self.lock_inner();
        if inner.store.is_some()
            && inner.last_activity.elapsed() >= Duration::from_secs(self.config.idle_timeout_secs)
        {
            Self::lock_now(&mut inner, "idle-timeout");
            return true;
        }
        false
    }

    /// Drop the key and every cached data key (they zeroize on drop).
    pub fn lock(&self, why: &str) {
        let mut inner = self.lock_inner();
        Self::lock_now(&mut inner, why);
    }

    /// Lock, remove the socket and exit, holding the state lock so no request starts
    /// between the lock and the exit.
    pub fn lock_and_exit(&self, why: &str) -> ! {
        self.stop(why, true)
    }

    fn stop(&self, why: &str, remove_socket: bool) -> ! {
        // The ssh-agent socket goes with the daemon (its threads end with the process); on a
        // handover its file stays, for the successor to serve again.
        self.ssh_agent.forget_socket(why == "handover");
        let mut inner = self.lock_inner();
        Self::lock_now(&mut inner, why);
        if remove_socket {
            let _ = std::fs::remove_file(&self.paths.socket);
        }
        tracing::info!(reason = why, "stopped");
        std::process::exit(0)
    }

    /// The socket path (or the lock file) no longer names what this daemon bound: another
    /// process may be relaying between clients and us. Record it, tell the human, lock and
    /// stop, so no client keeps talking through the relay.
    pub fn socket_replaced(&self, what: &str) -> ! {
        {
            let mut inner = self.lock_inner();
            if let Some(s) = inner.store.as_mut() {
                let _ = s.audit(AuditEntry {
                    detail: Some(what.to_string()),
                    ..daemon_entry("socket-replaced", "lock")
                });
            }
        }
        tracing::warn!(what, "socket or lock file replaced; locking and stopping");
        crate::approvals::notify_socket_replaced(what);
        // The path is no longer ours: leave whatever is there for the human to find (the
        // next client refuses to talk to it) rather than clear the way for it.
        self.stop("socket-replaced", false)
    }

    fn lock_now(inner: &mut Inner, why: &str) {
        if let Some(mut s) = inner.store.take() {
            let _ = s.audit(AuditEntry {
                reason: Some(why.to_string()),
                ..daemon_entry("lock", "ok")
            });
            // Where the chain stood, for a later restore to compare backups with.
            let _ = s.acknowledge();
        }
        inner
            .locks
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        inner.challenges.clear();
        inner.approvals.clear();
        inner.registry = None;
        inner.profiles = None;
        inner.canaries = None;
        inner.ceremonies.clear();
        inner.passkeys_enrolled = None;
        // Dropping a grant unregisters it: the proxy forgets its values.
        inner.grants.clear();
        // Dropping the cached redactors wipes their patterns (the values' encodings).
        inner.redactors.clear();
    }

    /// Handle one request. Returns the reply, a delay to apply before sending it (the
    /// back-off after failed proofs, applied outside the lock), and for an approved `run`
    /// the plan the connection then carries out.
    pub fn handle(
        &self,
        envelope: Envelope,
        caller: &Caller,
    ) -> (Response, Duration, Option<Plan>) {
        let (result, delay, plan) = self.answer(envelope, caller);
        // The one place a handler's result becomes the wire reply.
        let response = match result {
            Ok(reply) => ok(reply),
            Err(refused) => refused.into_response(),
        };
        (response, delay, plan)
    }

    fn answer(
        &self,
        envelope: Envelope,
        caller: &Caller,
    ) -> (Result<Reply, GateError>, Duration, Option<Plan>) {
        if envelope.v != PROTOCOL_VERSION {
            return (
                Err(GateError::new(
                    ErrorCode::ProtocolVersion,
                    format!(
                        "the daemon speaks protocol {PROTOCOL_VERSION}, the client sent {}",
                        envelope.v
                    ),
                )
                .hint(
                    "restart the daemon with `kovra daemon stop`, then retry with the same kovra binary",
                )),
                Duration::ZERO,
                None,
            );
        }
        let Envelope {
            context,
            mut request,
            ..
        } = envelope;
        if let Request::ApprovalWait { id, timeout_secs } = &request {
            let up_to = timeout_secs.map(Duration::from_secs);
            return (Ok(self.wait_for_approval(id, up_to)), Duration::ZERO, None);
        }
        // Outside the state lock: stopping the agent waits for its connections, which may
        // be waiting for that lock.
        if let Request::SshAgent { stop } = &request {
            return (
                self.ssh_agent_request(caller, context.surface, *stop),
                Duration::ZERO,
                None,
            );
        }
        if let Request::Ui { port } = &request {
            return (
                self.ui_request(caller, &context, *port),
                Duration::ZERO,
                None,
            );
        }
        // Outside the state lock too: the host may take seconds to answer.
        if let Request::SshScan { address } = &request {
            return (
                self.ssh_scan(caller, context.surface, address),
                Duration::ZERO,
                None,
            );
        }
        let observed = observed_origin(caller);
        let claimed = match &context.scope {
            Some(s) => Scope::full().intersect(s),
            None => Scope::full(),
        };
        let (agent, scope) = match self.bind_agent(caller, &request, claimed) {
            Ok(bound) => bound,
            Err(refused) => {
                self.audit_agent_refusal(caller, &context, &refused);
                return (Err(refused), Duration::ZERO, None);
            }
        };
        if let Some(p) = &context.project
            && let Err(e) = crate::error::check_project(p)
        {
            return (Err(e), Duration::ZERO, None);
        }
        let origin = if agent.is_some() {
            Origin::Agent
        } else {
            context.origin.tighten(observed)
        };
        let info = Info {
            origin,
            scope,
            project: context.project.clone(),
            pid: caller.peer.pid,
            exe: caller.exe.clone(),
            agent,
            namespaces: caller.namespaces.clone(),
            context,
        };
        let proof = request.take_proof();
        if proof.is_some() && caller.agent.is_some() {
            let refused = GateError::new(
                ErrorCode::AgentSocketRefused,
                "a proof of presence is never answered on an agent profile's socket",
            )
            .hint("the human approves the parked request with `kovra approve ID` at their own terminal");
            self.audit_agent_refusal(caller, &info.context, &refused);
            return (Err(refused), Duration::ZERO, None);
        }
        // A run's executable is opened and hashed before anything is decided: the digest
        // covers its content, and the run later executes this very descriptor.
        let program = match &request {
            Request::Run(run) => Some(crate::program::for_run(run, &info.namespaces)),
            _ => None,
        };
        let program_sha = program
            .as_ref()
            .and_then(|p| p.as_ref().ok())
            .map(crate::program::Program::fingerprint);
        let digest =
            kovra_proto::digest::request_digest(&info.context, &request, program_sha.as_deref());
        let mut inner = self.lock_inner();
        // Only work with the vault keeps it unlocked; polling `status` does not.
        if !matches!(
            request,
            Request::Status | Request::Lock | Request::Shutdown | Request::Handover
        ) {
            inner.last_activity = Instant::now();
        }
        let failures_before = inner.failures;
        let (result, plan) = self.dispatch(&mut inner, &info, request, proof, digest, program);
        let delay = if inner.failures > failures_before {
            kovra_proto::wrong_passphrase_pause(inner.failures)
        } else {
            Duration::ZERO
        };
        (result, delay, plan)
    }

    /// Put a request an agent socket refused before the gate (a lifecycle request, a proof, a
    /// revoked or expired profile) on the trail under the profile, when the vault is open.
    /// The entry holds the refusal's message, never what the request carried.
    fn audit_agent_refusal(&self, caller: &Caller, context: &Context, refused: &GateError) {
        let Some(name) = &caller.agent else {
            return;
        };
        let mut inner = self.lock_inner();
        if let Some(store) = inner.store.as_mut() {
            let _ = store.audit(AuditEntry {
                action: "agent-socket-refused".into(),
                surface: context.surface.as_str().into(),
                origin: Origin::Agent.as_str().into(),
                decision: "deny".into(),
                pid: Some(caller.peer.pid),
                exe: caller.exe.clone(),
                agent: Some(name.to_string()),
                detail: Some(refused.message().to_string()),
                ..AuditEntry::default()
            });
        }
    }

    /// Block (without holding the state lock) until a parked request is decided or expires.
    fn wait_for_approval(&self, id: &str, up_to: Option<Duration>) -> Reply {
        let longest = crate::approvals::APPROVAL_TTL + Duration::from_secs(2);
        let deadline = Instant::now() + up_to.map_or(longest, |d| d.min(longest));
        loop {
            let outcome = self.lock_inner().approvals.outcome(id);
            let state = match outcome {
                Outcome::Pending if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(150));
                    continue;
                }
                Outcome::Pending | Outcome::Expired => "expired",
                Outcome::Approved => "approved",
                Outcome::Denied => "denied",
            };
            return Reply::ApprovalState {
                id: id.to_string(),
                state: state.into(),
            };
        }
    }
}
