//! The policy gate: every request is turned into facts, decided by `kovra_core::policy::decide`,
//! audited, and only then carried out. This is the one place requests touch the store.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use kovra_core::audit::AuditEntry;
use kovra_core::coord::{self, Coordinate};
use kovra_core::crypto::{self, KdfParams};
use kovra_core::model::{Metadata, Operation, Origin, Sensitivity, VaultName};
use kovra_core::policy::{self, Decision, Presence, RecordFacts, Scope};
use kovra_core::proof;
use kovra_core::store::{self, LockedStore, Record, StoreError, UnlockedStore};
use kovra_core::totp;
use kovra_proto::paths::Paths;
use kovra_proto::{
    ApprovalView, Charset, Context, Envelope, ErrorReply, Fact, Listing, PROTOCOL_VERSION,
    PassphraseChallenge, Proof, ProofOptions, RecordView, Reply, Request, Response, Secret,
    StatusInfo,
};

use crate::approvals::{Approvals, Outcome};
use crate::broker::Plan;
use crate::config::Config;
use crate::os::Peer;
use crate::proof::{CHALLENGE_TTL, ChallengeError, Challenges};

mod broker;
mod refs;
mod requests;
mod sharing;
mod system;
mod twofactor;

const MAX_VALUE: usize = 256 * 1024;
const MAX_DESCRIPTION: usize = 1024;
const MIN_PASSPHRASE: usize = 8;

/// The daemon's shared state. One mutex: requests are short, and a vault has one writer.
pub struct Daemon {
    pub paths: Paths,
    pub config: Config,
    pub kdf: KdfParams,
    inner: Mutex<Inner>,
    /// The compiled-in providers.
    registry: kovra_broker::Registry,
    /// One HTTP client for the daemon's life, built on first use.
    broker: std::sync::OnceLock<Result<kovra_broker::Broker, String>>,
}

struct Inner {
    store: Option<UnlockedStore>,
    challenges: Challenges,
    approvals: Approvals,
    /// Failed unlocks and proofs since the last success; drives the back-off delay.
    failures: u32,
    /// Failed unlocks while locked, written to the trail at the next unlock.
    failed_unlocks_while_locked: u32,
    last_activity: Instant,
    /// Built-in plus the vault's custom providers, while unlocked. Only this daemon writes
    /// the vault, so clearing it on every provider change (and on lock) keeps it exact.
    registry: Option<std::sync::Arc<kovra_broker::Registry>>,
    /// False once this daemon was unlocked (or created) with a passphrase read from a file
    /// or descriptor: any process of the user could have read it, so for the rest of this
    /// daemon's life only a second-factor code proves presence.
    passphrase_proofs: bool,
}

/// What the kernel told us about the caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub peer: Peer,
    pub exe: Option<String>,
    pub tty: bool,
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

/// The facts of one request, after the daemon tightened what the surface claimed.
struct Info {
    context: Context,
    origin: Origin,
    scope: Scope,
    project: Option<String>,
    pid: u32,
    exe: Option<String>,
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

fn error(code: &str, message: impl Into<String>, hint: Option<&str>) -> Response {
    Response::Error(ErrorReply {
        code: code.to_string(),
        message: message.into(),
        hint: hint.map(str::to_string),
    })
}

fn ok(reply: Reply) -> Response {
    Response::Ok {
        reply: Box::new(reply),
    }
}

fn store_error(e: &StoreError) -> Response {
    let hint = match e {
        StoreError::NotInitialized(_) => Some("run `kovra init` to create a vault"),
        StoreError::AlreadyInitialized(_) => {
            Some("use `kovra unlock`; to start over, move the home away first")
        }
        StoreError::WrongPassphrase => Some("try again; the passphrase is case-sensitive"),
        StoreError::RecordTampered(_) => Some(
            "the row was changed outside kovra; restore the vault from a backup or remove the record",
        ),
        StoreError::VaultTampered(_) => {
            Some("the vault file was changed outside kovra; restore it from a backup")
        }
        StoreError::UnknownProject(_) => {
            Some("create it with `kovra project create NAME`, or check `kovra project list`")
        }
        StoreError::ProjectExists(_) => Some("pick another name, or use the existing project"),
        StoreError::AlreadyExists(_) => Some("use `kovra set` to replace its value"),
        StoreError::NoSuchVersion(..) => Some("`kovra history COORD` lists the versions"),
        StoreError::Corrupt(_) => Some("the database file is damaged; restore it from a backup"),
        _ => None,
    };
    error(e.code(), e.to_string(), hint)
}

fn locked() -> Response {
    error(
        "vault-locked",
        "the vault is locked",
        Some("run `kovra unlock`"),
    )
}

fn not_found(coord: &Coordinate) -> Response {
    error(
        "not-found",
        format!("no record at {coord} in this scope"),
        Some("`kovra list` shows the records you can address; `kovra add` creates one"),
    )
}

fn parse_coord(text: &str) -> Result<Coordinate, Response> {
    Coordinate::parse(text).map_err(|e| {
        error(
            "coordinate-invalid",
            format!("invalid coordinate: {e}"),
            Some(e.hint()),
        )
    })
}

/// A TOTP seed as the user gave it, refused with a stable code that never echoes it.
fn parse_totp(value: &Secret) -> Result<(zeroize::Zeroizing<Vec<u8>>, totp::TotpParams), Response> {
    totp::parse_seed(value.expose()).map_err(|e| {
        error(
            e.code(),
            e.to_string(),
            Some("give the base32 seed or the otpauth://totp/ URI your service showed"),
        )
    })
}

/// The sensitivity a record is born with: production environments are at least high.
fn birth_sensitivity(requested: Option<Sensitivity>, production: bool) -> Sensitivity {
    let s = requested.unwrap_or(Sensitivity::Medium);
    if production {
        s.max(Sensitivity::High)
    } else {
        s
    }
}

/// One operation on a record, with the change it would make.
#[derive(Clone, Copy)]
struct Op {
    operation: Operation,
    new_sensitivity: Option<Sensitivity>,
    new_revealable: Option<bool>,
}

impl Op {
    fn plain(operation: Operation) -> Self {
        Op {
            operation,
            new_sensitivity: None,
            new_revealable: None,
        }
    }
}

/// Where a coordinate landed and what policy said about it.
struct Located {
    vault: Option<VaultName>,
    record: Option<Record>,
    decision: Decision,
}

impl Daemon {
    pub fn new(paths: Paths, config: Config, kdf: KdfParams) -> Self {
        Daemon {
            paths,
            config,
            kdf,
            inner: Mutex::new(Inner {
                store: None,
                challenges: Challenges::default(),
                approvals: Approvals::default(),
                failures: 0,
                failed_unlocks_while_locked: 0,
                last_activity: Instant::now(),
                registry: None,
                passphrase_proofs: true,
            }),
            registry: kovra_broker::Registry::builtin(),
            broker: std::sync::OnceLock::new(),
        }
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
        }
        inner.challenges.clear();
        inner.approvals.clear();
        inner.registry = None;
    }

    /// Handle one request. Returns the reply and a delay to apply before sending it
    /// (the back-off after failed proofs, applied outside the lock).
    /// Handle one request. Returns the reply, a delay to apply before sending it (the
    /// back-off after failed proofs, applied outside the lock), and for an approved `run`
    /// the plan the connection then carries out.
    pub fn handle(
        &self,
        envelope: Envelope,
        caller: &Caller,
    ) -> (Response, Duration, Option<Plan>) {
        if envelope.v != PROTOCOL_VERSION {
            return (
                error(
                    "protocol-version",
                    format!(
                        "the daemon speaks protocol {PROTOCOL_VERSION}, the client sent {}",
                        envelope.v
                    ),
                    Some(
                        "restart the daemon with `kovra daemon stop`, then retry with the same kovra binary",
                    ),
                ),
                Duration::ZERO,
                None,
            );
        }
        let Envelope {
            context,
            mut request,
            ..
        } = envelope;
        if let Request::ApprovalWait { id } = &request {
            return (self.wait_for_approval(id), Duration::ZERO, None);
        }
        let observed = if caller.tty {
            Origin::Human
        } else {
            Origin::Agent
        };
        let scope = match &context.scope {
            Some(s) => Scope::full().intersect(s),
            None => Scope::full(),
        };
        if let Some(p) = &context.project
            && let Err(e) = coord::validate_name(p)
        {
            return (
                error(
                    "project-invalid",
                    format!("invalid project name: {e}"),
                    None,
                ),
                Duration::ZERO,
                None,
            );
        }
        let info = Info {
            origin: context.origin.tighten(observed),
            scope,
            project: context.project.clone(),
            pid: caller.peer.pid,
            exe: caller.exe.clone(),
            context,
        };
        let proof = request.take_proof();
        // A run's executable is opened and hashed before anything is decided: the digest
        // covers its content, and the run later executes this very descriptor.
        let program = match &request {
            Request::Run(run) => Some(crate::program::for_run(run)),
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
        let (response, plan) = self.dispatch(&mut inner, &info, request, proof, digest, program);
        let delay = if inner.failures > failures_before {
            Duration::from_millis(250u64.saturating_mul(1 << inner.failures.min(5)))
        } else {
            Duration::ZERO
        };
        (response, delay, plan)
    }

    fn dispatch(
        &self,
        inner: &mut Inner,
        info: &Info,
        request: Request,
        proof: Option<Proof>,
        digest: [u8; 32],
        program: Option<Result<crate::program::Program, Response>>,
    ) -> (Response, Option<Plan>) {
        let response = match request {
            Request::Status => ok(Reply::Status(self.status(inner, &info.scope))),
            Request::Init {
                passphrase,
                unattended,
            } => self.init(inner, info, &passphrase, unattended),
            Request::Unlock {
                passphrase,
                code,
                unattended,
                prior_failures,
            } => {
                // Carried over from the locked daemon this one replaced, so a guess made
                // there still shows at the next unlock.
                inner.failed_unlocks_while_locked = inner
                    .failed_unlocks_while_locked
                    .saturating_add(prior_failures.min(1000));
                inner.failures = inner.failures.max(prior_failures.min(5));
                self.unlock(inner, info, &passphrase, code.as_ref(), unattended)
            }
            Request::Lock => {
                Self::lock_now(inner, "requested");
                ok(Reply::Done {
                    message: "vault locked".into(),
                })
            }
            Request::Shutdown => {
                Self::lock_now(inner, "shutdown");
                ok(Reply::Done {
                    message: "daemon stopping".into(),
                })
            }
            Request::Handover => match inner.store {
                Some(_) => error(
                    "vault-unlocked",
                    "this daemon is unlocked; it hands over only while locked",
                    Some("`kovra lock` or `kovra daemon stop` first"),
                ),
                None => ok(Reply::HandedOver {
                    failed_unlocks: inner.failed_unlocks_while_locked,
                }),
            },
            Request::Verify { nonce, unattended } => match inner.store.as_ref() {
                Some(store) => {
                    if unattended {
                        inner.passphrase_proofs = false;
                    }
                    let verifier = store.proof_verifier();
                    ok(Reply::Verified {
                        kdf: verifier.kdf.clone(),
                        daemon_tag: hex::encode(proof::tag(
                            &verifier.key,
                            proof::Role::Daemon,
                            &nonce,
                            &proof::VERIFY_DIGEST,
                        )),
                    })
                }
                None => locked(),
            },
            other => {
                let Some(store) = inner.store.as_mut() else {
                    let resp = if LockedStore::exists(&self.paths.home) {
                        locked()
                    } else {
                        store_error(&StoreError::NotInitialized(self.paths.home.clone()))
                    };
                    return (resp, None);
                };
                let facts = describe(&other);
                let mut gate = Gate {
                    daemon: self,
                    store,
                    challenges: &mut inner.challenges,
                    approvals: &mut inner.approvals,
                    facts,
                    failures: &mut inner.failures,
                    info,
                    digest,
                    presence: Presence::None,
                    project: info.project.clone(),
                    allowlisted: false,
                    totp_params: None,
                    registry: None,
                    registry_cache: &mut inner.registry,
                    pin_target: None,
                    new_pin: None,
                    program,
                    program_sha: None,
                    passphrase_proofs: inner.passphrase_proofs,
                };
                gate.program_sha = gate
                    .program
                    .as_ref()
                    .and_then(|p| p.as_ref().ok())
                    .map(crate::program::Program::fingerprint);
                // An out-of-band approval of this very request counts as its proof, once.
                if proof.is_none()
                    && let Some(id) = gate.approvals.take_approved(&digest)
                {
                    let mut e = info.entry("approval-used", None, None, "allow");
                    e.detail = Some(format!("approval {id}"));
                    if let Err(err) = gate.store.audit(e) {
                        return (store_error(&err), None);
                    }
                    gate.presence = Presence::Proven;
                }
                if let Some(p) = proof {
                    match gate.verify_proof(&p) {
                        Ok(()) => {
                            *gate.failures = 0;
                            gate.presence = Presence::Proven;
                        }
                        Err(resp) => {
                            *gate.failures += 1;
                            return (resp, None);
                        }
                    }
                }
                return gate.run(other);
            }
        };
        (response, None)
    }

    /// Block (without holding the state lock) until a parked request is decided or expires.
    fn wait_for_approval(&self, id: &str) -> Response {
        let deadline = Instant::now() + crate::approvals::APPROVAL_TTL + Duration::from_secs(2);
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
            return ok(Reply::ApprovalState {
                id: id.to_string(),
                state: state.into(),
            });
        }
    }

    fn status(&self, inner: &mut Inner, scope: &Scope) -> StatusInfo {
        let idle = self.config.idle_timeout_secs;
        let (vault_id, records, projects, locks_in) = match inner.store.as_mut() {
            Some(s) => {
                let projects = s.vaults().ok().map(|v| {
                    v.into_iter()
                        .filter(|n| scope.addresses_vault(n))
                        .filter_map(|n| match n {
                            VaultName::Project(p) => Some(p),
                            VaultName::Global | VaultName::System => None,
                        })
                        .collect()
                });
                let left = idle.saturating_sub(inner.last_activity.elapsed().as_secs());
                (
                    Some(s.vault_id()),
                    Some(s.record_count()),
                    projects,
                    Some(left),
                )
            }
            None => (None, None, None, None),
        };
        StatusInfo {
            protocol: PROTOCOL_VERSION,
            daemon_pid: std::process::id(),
            home: self.paths.home.display().to_string(),
            socket: self.paths.socket.display().to_string(),
            initialized: LockedStore::exists(&self.paths.home),
            unlocked: inner.store.is_some(),
            vault_id,
            records,
            projects,
            idle_timeout_secs: idle,
            locks_in_secs: locks_in,
            production_environments: self.config.production_envs.iter().cloned().collect(),
            passphrase_proofs: inner.passphrase_proofs,
        }
    }

    /// Refuse to take a passphrase while traced (the daemon refused to start traced, but
    /// look again before a key comes into memory).
    fn before_passphrase() -> Option<Response> {
        let tracer = crate::os::own_tracer().filter(|t| *t != 0)?;
        tracing::error!(tracer, "traced: refusing to take a passphrase");
        Some(error(
            "daemon-traced",
            format!("the daemon is being traced by pid {tracer}; it will not take a passphrase"),
            Some("stop the tracing process, then `kovra daemon stop` and retry"),
        ))
    }

    /// A correct passphrase that came from a file or descriptor (or from a caller without a
    /// terminal) is known to whatever could read that file: from now on only a second
    /// factor proves presence to this daemon.
    fn passphrase_accepted(inner: &mut Inner, info: &Info, unattended: bool) {
        if unattended || info.origin == Origin::Agent {
            inner.passphrase_proofs = false;
        }
    }

    /// What a new or opened vault says after an unattended unlock without a second factor.
    fn unattended_note(inner: &Inner, store: &mut UnlockedStore) -> &'static str {
        if inner.passphrase_proofs || twofactor::active(store) {
            ""
        } else {
            "; the passphrase came from a file, so a typed passphrase no longer proves presence to this daemon and no second factor is enrolled: stop the daemon and unlock at a terminal, then `kovra 2fa enable` so a code can answer after unattended unlocks"
        }
    }

    fn init(
        &self,
        inner: &mut Inner,
        info: &Info,
        passphrase: &Secret,
        unattended: bool,
    ) -> Response {
        if let Some(refused) = Self::before_passphrase() {
            return refused;
        }
        if passphrase.len() < MIN_PASSPHRASE {
            return error(
                "passphrase-weak",
                format!("the passphrase must be at least {MIN_PASSPHRASE} characters"),
                Some("choose a longer passphrase; a weak passphrase is weak protection"),
            );
        }
        let mut store = match LockedStore::create(&self.paths.home, passphrase.expose(), self.kdf) {
            Ok(s) => s,
            Err(e) => return store_error(&e),
        };
        if let Err(e) = store.create_vault(
            &VaultName::Global,
            info.entry("init", None, Some(&VaultName::Global), "ok"),
        ) {
            return store_error(&e);
        }
        let id = store.vault_id();
        Self::passphrase_accepted(inner, info, unattended);
        let note = Self::unattended_note(inner, &mut store);
        inner.store = Some(store);
        ok(Reply::Done {
            message: format!("vault {id} created and unlocked{note}"),
        })
    }

    fn unlock(
        &self,
        inner: &mut Inner,
        info: &Info,
        passphrase: &Secret,
        code: Option<&Secret>,
        unattended: bool,
    ) -> Response {
        if let Some(refused) = Self::before_passphrase() {
            return refused;
        }
        if let Some(store) = inner.store.as_mut() {
            // Still a passphrase (and code) check: "already unlocked" must not answer every
            // guess with yes.
            if let Err(e) = store.check_passphrase(passphrase.expose()) {
                inner.failures += 1;
                return store_error(&e);
            }
            let entry = info.entry("unlock", None, None, "ok");
            return match twofactor::unlock_check(store, code, &entry) {
                Ok(()) => {
                    Self::passphrase_accepted(inner, info, unattended);
                    ok(Reply::Done {
                        message: "vault already unlocked".into(),
                    })
                }
                Err((resp, failed)) => {
                    if failed {
                        inner.failures += 1;
                    }
                    resp
                }
            };
        }
        let locked = match LockedStore::open(&self.paths.home) {
            Ok(l) => l,
            Err(e) => return store_error(&e),
        };
        match locked.unlock(passphrase.expose()) {
            Ok(mut store) => {
                let failed = std::mem::take(&mut inner.failed_unlocks_while_locked);
                inner.failures = 0;
                let mut entry = info.entry("unlock", None, None, "ok");
                if failed > 0 {
                    entry.detail = Some(format!(
                        "{failed} failed unlock attempt(s) since the last unlock"
                    ));
                }
                // The second factor is inside the vault: checked once the passphrase opened
                // it; on failure the opened store is dropped (and its keys zeroized).
                if let Err((resp, failed)) = twofactor::unlock_check(&mut store, code, &entry) {
                    if failed {
                        inner.failures += 1;
                        inner.failed_unlocks_while_locked += 1;
                    }
                    return resp;
                }
                if let Err(e) = store.audit(entry) {
                    return store_error(&e);
                }
                Self::passphrase_accepted(inner, info, unattended);
                let note = Self::unattended_note(inner, &mut store);
                inner.store = Some(store);
                ok(Reply::Done {
                    message: format!("vault unlocked{note}"),
                })
            }
            Err(e) => {
                if matches!(e, StoreError::WrongPassphrase) {
                    inner.failures += 1;
                    inner.failed_unlocks_while_locked += 1;
                }
                store_error(&e)
            }
        }
    }
}

/// One request's passage through policy, with the unlocked store.
struct Gate<'a> {
    daemon: &'a Daemon,
    store: &'a mut UnlockedStore,
    challenges: &'a mut Challenges,
    approvals: &'a mut Approvals,
    /// What the human is shown if this request is parked for approval.
    facts: Vec<Fact>,
    /// Failed proofs and passphrases, for the back-off.
    failures: &'a mut u32,
    info: &'a Info,
    digest: [u8; 32],
    presence: Presence,
    /// The project bare coordinates resolve in (the request's, or a `.env.refs` file's).
    project: Option<String>,
    /// For injections: whether the receiving executable is allowlisted.
    allowlisted: bool,
    /// For a TOTP record being created: its parameters.
    totp_params: Option<totp::TotpParams>,
    /// The provider registry, once a broker-related request loaded it.
    registry: Option<std::sync::Arc<kovra_broker::Registry>>,
    /// The daemon's copy of it, shared between requests while unlocked.
    registry_cache: &'a mut Option<std::sync::Arc<kovra_broker::Registry>>,
    /// For `broker` and `bind` decisions: the provider the request names.
    pin_target: Option<String>,
    /// For a record being created with `--provider`: its pin.
    new_pin: Option<String>,
    /// For a run: its executable, opened and hashed (or why it could not be).
    program: Option<Result<crate::program::Program, Response>>,
    /// Its hash, which the digest covers and a challenge shows.
    program_sha: Option<String>,
    /// Whether a passphrase can still prove presence to this daemon.
    passphrase_proofs: bool,
}

impl Gate<'_> {
    fn verify_proof(&mut self, proof: &Proof) -> Result<(), Response> {
        let refused = |gate: &mut Self, why: &str| {
            let mut e = gate.info.entry("proof", None, None, "deny");
            e.reason = Some(why.to_string());
            if let Err(err) = gate.store.audit(e) {
                return store_error(&err);
            }
            error(
                "proof-invalid",
                format!("the proof of presence was refused: {why}"),
                Some("retry the command to get a new challenge"),
            )
        };
        match self.challenges.take(&proof.challenge, &self.digest) {
            Ok(()) => {}
            Err(ChallengeError::Unknown) => {
                return Err(refused(self, "unknown, expired or already used challenge"));
            }
            Err(ChallengeError::WrongRequest) => {
                return Err(refused(
                    self,
                    "the challenge was issued for another request",
                ));
            }
        }
        let config = &self.daemon.config;
        let (by_passphrase, by_code) = (config.proof_by_passphrase, config.proof_by_code);
        if let Some(code) = &proof.code {
            if !by_code {
                return Err(refused(
                    self,
                    "a two-factor code is not accepted as a proof here (proof_kinds)",
                ));
            }
            if self.proof_by_code(code.expose())? {
                return Ok(());
            }
            return Err(refused(self, "wrong, used or expired two-factor code"));
        }
        let Some(mac) = &proof.mac else {
            return Err(refused(
                self,
                "the proof carries neither a passphrase proof nor a code",
            ));
        };
        if !by_passphrase {
            return Err(refused(
                self,
                "only a TOTP code is accepted as a proof here (proof_kinds)",
            ));
        }
        if !self.passphrase_proofs {
            return Err(refused(
                self,
                "this daemon was unlocked with a passphrase read from a file or descriptor, so a passphrase no longer proves presence; answer with a two-factor code",
            ));
        }
        let key = &self.store.proof_verifier().key;
        if !proof::verify(
            key,
            proof::Role::Client,
            &proof.challenge,
            &self.digest,
            mac,
        ) {
            return Err(refused(self, "wrong passphrase"));
        }
        Ok(())
    }

    fn production(&self, env: &str) -> bool {
        self.daemon.config.is_production(env)
    }

    fn view(&self, record: &Record) -> RecordView {
        let m = &record.meta;
        RecordView {
            coordinate: m.coordinate.to_string(),
            vault: record.vault.label(),
            env: m.coordinate.env().to_string(),
            sensitivity: m.sensitivity,
            revealable: m.revealable,
            production: self.production(m.coordinate.env()),
            description: m.description.clone(),
            version: m.version,
            created: m.created,
            updated: m.updated,
            totp: m.totp,
            provider: self.pinned_provider(m),
            provider_host: m.provider_host.clone(),
        }
    }

    fn facts(record: &Record) -> RecordFacts {
        RecordFacts {
            sensitivity: record.meta.sensitivity,
            revealable: record.meta.revealable,
        }
    }

    fn decide_one(
        &self,
        vault: &VaultName,
        coord: &Coordinate,
        record: Option<&Record>,
        op: Op,
    ) -> Decision {
        if matches!(op.operation, Operation::Broker | Operation::Bind) {
            let req = self.request_facts(vault, coord, record.map(Self::facts), op);
            return broker::pin_decision(self, record, req);
        }
        self.decide_facts(vault, coord, record.map(Self::facts), op)
    }

    /// Decide from record facts alone (what an environment-wide or package check needs).
    fn decide_facts(
        &self,
        vault: &VaultName,
        coord: &Coordinate,
        facts: Option<RecordFacts>,
        op: Op,
    ) -> Decision {
        policy::decide(
            &self.request_facts(vault, coord, facts, op),
            &self.info.scope,
        )
    }

    fn request_facts<'r>(
        &self,
        vault: &'r VaultName,
        coord: &'r Coordinate,
        facts: Option<RecordFacts>,
        op: Op,
    ) -> policy::Request<'r> {
        policy::Request {
            operation: op.operation,
            vault,
            env: coord.env(),
            production: self.production(coord.env()),
            record: facts,
            new_sensitivity: op.new_sensitivity,
            new_revealable: op.new_revealable,
            surface: self.info.context.surface,
            origin: self.info.origin,
            presence: self.presence,
            allowlisted: self.allowlisted,
            pin: None,
        }
    }

    fn decide_all(
        &self,
        vault: &VaultName,
        coord: &Coordinate,
        record: Option<&Record>,
        ops: &[Op],
    ) -> Decision {
        ops.iter().fold(Decision::Allow, |acc, op| {
            acc.and(self.decide_one(vault, coord, record, *op))
        })
    }

    /// Resolve a coordinate through the scope's vault order and decide.
    fn locate(
        &mut self,
        coord: &Coordinate,
        ops: &[Op],
        create: bool,
    ) -> Result<Located, StoreError> {
        let order =
            policy::resolution_order(coord.pin(), self.project.as_deref(), &self.info.scope);
        // Only a project the scope can address may be reported as unknown; any other is
        // answered like an absent record.
        if let Some(VaultName::Project(p)) = order.first()
            && self
                .info
                .scope
                .addresses_vault(&VaultName::Project(p.clone()))
            && !self.store.vault_exists(&VaultName::Project(p.clone()))?
        {
            return Err(StoreError::UnknownProject(p.clone()));
        }
        if create {
            let Some(vault) = order.into_iter().next() else {
                return Ok(Located {
                    vault: None,
                    record: None,
                    decision: Decision::Unaddressable,
                });
            };
            let record = self.store.find(&vault, coord)?;
            let decision = self.decide_all(&vault, coord, record.as_ref(), ops);
            return Ok(Located {
                vault: Some(vault),
                record,
                decision,
            });
        }
        for vault in order {
            if let Some(record) = self.store.find(&vault, coord)? {
                let decision = self.decide_all(&vault, coord, Some(&record), ops);
                if decision != Decision::Unaddressable {
                    return Ok(Located {
                        vault: Some(vault),
                        record: Some(record),
                        decision,
                    });
                }
            }
        }
        Ok(Located {
            vault: None,
            record: None,
            decision: Decision::Unaddressable,
        })
    }

    /// Turn a non-Allow decision into its audited reply. `Ok(())` means go ahead.
    fn enforce(
        &mut self,
        action: &str,
        coord: &Coordinate,
        located: &Located,
    ) -> Result<(), Response> {
        let vault = located.vault.as_ref();
        let (decision, reason, reply) = match located.decision {
            Decision::Allow => return Ok(()),
            Decision::Unaddressable => ("unaddressable", None, not_found(coord)),
            Decision::Deny(r) => (
                "deny",
                Some(r),
                error(
                    "policy-denied",
                    format!("{action} {coord} refused: {}", r.message()),
                    Some(r.hint()),
                ),
            ),
            Decision::NeedsProof(r) => {
                let record = located.record.as_ref().map(|rec| {
                    format!(
                        "sensitivity {}{}, {} vault",
                        rec.meta.sensitivity,
                        if self.production(coord.env()) {
                            ", production"
                        } else {
                            ""
                        },
                        rec.vault
                    )
                });
                if !self.facts.iter().any(|f| f.name == coord.to_string()) {
                    self.facts.push(Fact {
                        name: coord.to_string(),
                        value: record.unwrap_or_default(),
                        untrusted: false,
                    });
                }
                (
                    "needs-proof",
                    Some(r),
                    self.challenge_reply(action, r, format!("{action} {coord}: {}", r.message())),
                )
            }
        };
        let mut entry = self.info.entry(action, Some(coord), vault, decision);
        entry.reason = reason.map(|r| r.code().to_string());
        if let Response::NeedsProof {
            approval: Some(id), ..
        } = &reply
        {
            entry.detail = Some(format!("parked for approval {id}"));
        }
        if let Err(e) = self.store.audit(entry) {
            return Err(store_error(&e));
        }
        Err(reply)
    }

    fn allowed(&self, action: &str, coord: &Coordinate, vault: &VaultName) -> AuditEntry {
        let mut e = self.info.entry(action, Some(coord), Some(vault), "allow");
        if self.presence == Presence::Proven {
            e.reason = Some("proof-of-presence".into());
        }
        e
    }

    fn run(mut self, request: Request) -> (Response, Option<Plan>) {
        let result = match request {
            Request::Run(run) => {
                return match self.prepare_run(*run) {
                    Ok((plan, injected)) => (
                        ok(Reply::RunReady {
                            injected,
                            descriptors_received: false,
                        }),
                        Some(Plan::Run(Box::new(plan))),
                    ),
                    Err(resp) => (resp, None),
                };
            }
            Request::Doctor {
                refs,
                refs_path,
                env_name,
                caller_vars,
            } => self.doctor(&refs, &refs_path, env_name.as_deref(), &caller_vars),
            Request::AllowAdd { path, .. } => self.allow_add(&path),
            Request::AllowList => self.allow_list(),
            Request::AllowRm { path } => self.allow_rm(&path),
            Request::ApprovalList => self.approval_list(),
            Request::Approve { id, .. } => self.approval_decide(&id, true),
            Request::Deny { id } => self.approval_decide(&id, false),
            Request::ApprovalWait { .. } => Err(error(
                "internal",
                "approval-wait is answered before the gate",
                None,
            )),
            Request::Signal { .. } | Request::Resize { .. } => Err(error(
                "no-run",
                "signal and resize are only valid during a run",
                None,
            )),
            Request::TwoFactorEnable { .. } => self.two_factor_enable(),
            Request::TwoFactorConfirm { code } => self.two_factor_confirm(&code),
            Request::TwoFactorDisable { passphrase, code } => {
                self.two_factor_disable(&passphrase, &code)
            }
            Request::TwoFactorStatus => self.two_factor_status(),
            Request::ProjectCreate { name } => self.project_create(&name),
            Request::ProjectList => self.project_list(),
            Request::Add {
                coordinate,
                value,
                sensitivity,
                description,
                revealable,
                totp,
                provider,
            } => self
                .pin_new(&coordinate, provider.as_deref())
                .and_then(|()| {
                    self.add(
                        &coordinate,
                        value,
                        sensitivity,
                        description,
                        revealable,
                        totp,
                    )
                }),
            Request::Set {
                coordinate, value, ..
            } => self.set(&coordinate, value),
            Request::Generate {
                coordinate,
                length,
                charset,
                sensitivity,
                description,
                revealable,
                overwrite,
                provider,
                ..
            } => self
                .pin_new(&coordinate, provider.as_deref())
                .and_then(|()| {
                    self.generate(
                        &coordinate,
                        length,
                        charset,
                        sensitivity,
                        description,
                        revealable,
                        overwrite,
                    )
                }),
            Request::Api(api) => {
                return match self.prepare_api(*api) {
                    Ok(plan) => (
                        error("internal", "a brokered call is answered by its plan", None),
                        Some(Plan::Api(Box::new(plan))),
                    ),
                    Err(resp) => (resp, None),
                };
            }
            Request::SecretRequest {
                coordinate,
                description,
            } => self.secret_request(&coordinate, &description),
            Request::SecretRequests => self.secret_requests(),
            Request::Identity { create } => self.identity(create),
            Request::Share {
                env,
                groups,
                to,
                ttl_secs,
                ..
            } => self.share(&env, &groups, &to, ttl_secs),
            Request::Receive {
                package,
                token,
                force,
                accept_sender,
                ..
            } => self.receive(&package, &token, force, accept_sender.as_deref()),
            Request::ProviderList => self.provider_list(),
            Request::ProviderShow { name } => self.provider_show(&name),
            Request::ProviderAdd { toml, .. } => self.provider_add(&toml),
            Request::ProviderRemove { name } => self.provider_remove(&name),
            Request::Bind {
                coordinate,
                provider,
                host,
                ..
            } => self.bind(&coordinate, &provider, host.as_deref()),
            Request::List { env } => self.list(env.as_deref()),
            Request::Show { coordinate } => self.show(&coordinate),
            Request::Fingerprint { coordinate, .. } => self.fingerprint(&coordinate),
            Request::Edit {
                coordinate,
                description,
                sensitivity,
                revealable,
                ..
            } => self.edit(&coordinate, description, sensitivity, revealable),
            Request::Remove { coordinate, .. } => self.remove(&coordinate),
            Request::History { coordinate } => self.history(&coordinate),
            Request::Rollback {
                coordinate,
                version,
                ..
            } => self.rollback(&coordinate, version),
            Request::Reveal { coordinate, .. } => self.reveal(&coordinate),
            Request::Code {
                coordinate,
                min_validity,
                ..
            } => self.code(&coordinate, min_validity),
            Request::Audit {
                coordinate,
                since,
                action,
            } => self.audit(coordinate, since, action),
            Request::AuditVerify => self.audit_verify(),
            Request::Passwd { old, new } => self.passwd(&old, &new),
            Request::RotateKey { .. } => self.rotate_key(),
            Request::Status
            | Request::Init { .. }
            | Request::Unlock { .. }
            | Request::Lock
            | Request::Shutdown
            | Request::Handover
            | Request::Verify { .. } => Err(error(
                "internal",
                "request routed to the wrong handler",
                None,
            )),
        };
        (result.unwrap_or_else(|resp| resp), None)
    }

    /// Ask for a proof of presence. At a terminal the requester answers the challenge; an
    /// agent has none, so the request is also parked for the human to approve out of band.
    fn challenge_reply(
        &mut self,
        action: &str,
        reason: policy::Reason,
        message: String,
    ) -> Response {
        let challenge = self.challenges.issue(self.digest);
        // Approving is itself the attended step: it is never parked for someone else.
        let approval = (self.info.origin == Origin::Agent && action != "approve").then(|| {
            let mut facts = vec![Fact {
                name: "reason".into(),
                value: reason.message().into(),
                untrusted: false,
            }];
            facts.extend(self.facts.iter().cloned());
            facts.extend(crate::approvals::process_chain(self.info.pid));
            let view = ApprovalView {
                id: String::new(),
                action: action.to_string(),
                surface: self.info.context.surface.as_str().to_string(),
                origin: self.info.origin.as_str().to_string(),
                created: 0,
                expires_in: crate::approvals::APPROVAL_TTL.as_secs(),
                facts,
            };
            let id = self.approvals.park(self.digest, view);
            crate::approvals::notify(&id, action);
            id
        });
        let config = &self.daemon.config;
        let passphrase = (config.proof_by_passphrase && self.passphrase_proofs).then(|| {
            let verifier = self.store.proof_verifier();
            PassphraseChallenge {
                kdf: verifier.kdf.clone(),
                daemon_tag: hex::encode(proof::tag(
                    &verifier.key,
                    proof::Role::Daemon,
                    &challenge,
                    &self.digest,
                )),
            }
        });
        let passphrase_refused = if !config.proof_by_passphrase {
            Some("only a TOTP code is accepted as a proof here (proof_kinds)".to_string())
        } else if !self.passphrase_proofs {
            Some("this daemon was unlocked with a passphrase read from a file or descriptor, so a typed passphrase no longer proves presence to it".to_string())
        } else {
            None
        };
        let code_accepted = config.proof_by_code && twofactor::active(self.store);
        Response::NeedsProof {
            challenge,
            code: reason.code().to_string(),
            message,
            expires_in: CHALLENGE_TTL.as_secs(),
            approval,
            answer: Box::new(ProofOptions {
                passphrase,
                passphrase_refused,
                code_accepted,
                program: self.program_sha.clone(),
            }),
        }
    }

    fn approval_list(&mut self) -> Result<Response, Response> {
        self.vault_gate(policy::VaultOperation::ReadApprovals, "approval-list")?;
        Ok(ok(Reply::Approvals {
            pending: self.approvals.pending(),
        }))
    }

    /// Approve (with a proof of presence) or deny one parked request.
    fn approval_decide(&mut self, id: &str, approve: bool) -> Result<Response, Response> {
        let Some(view) = self.approvals.view(id) else {
            return Err(error(
                "approval-unknown",
                format!("no pending request {id} (unknown, expired or already decided)"),
                Some("`kovra approve` lists what is pending; expired requests must be asked again"),
            ));
        };
        let (op, action) = if approve {
            (policy::VaultOperation::ApproveRequest, "approve")
        } else {
            (policy::VaultOperation::DenyRequest, "deny")
        };
        self.vault_gate(op, action)?;
        self.approvals.decide(id, approve);
        let mut e = self.info.entry(action, None, None, "ok");
        e.detail = Some(format!(
            "request {id}: {} ({} via {})",
            view.action, view.origin, view.surface
        ));
        self.store.audit(e).map_err(|e| store_error(&e))?;
        Ok(ok(Reply::ApprovalState {
            id: id.to_string(),
            state: if approve { "approved" } else { "denied" }.into(),
        }))
    }

    /// Gate a vault-wide operation through the core's decision, auditing a refusal.
    fn vault_gate(&mut self, op: policy::VaultOperation, action: &str) -> Result<(), Response> {
        match policy::decide_vault(op, &self.info.scope, self.presence, self.info.origin) {
            Decision::Allow => Ok(()),
            Decision::NeedsProof(r) => {
                let reply = self.challenge_reply(action, r, format!("{action}: {}", r.message()));
                let mut e = self.info.entry(action, None, None, "needs-proof");
                e.reason = Some(r.code().to_string());
                if let Response::NeedsProof {
                    approval: Some(id), ..
                } = &reply
                {
                    e.detail = Some(format!("parked for approval {id}"));
                }
                self.store.audit(e).map_err(|e| store_error(&e))?;
                Err(reply)
            }
            other => {
                let reason = match other {
                    Decision::Deny(r) | Decision::NeedsProof(r) => r,
                    _ => policy::Reason::OperationOutOfScope,
                };
                let mut e = self.info.entry(action, None, None, "deny");
                e.reason = Some(reason.code().to_string());
                self.store.audit(e).map_err(|e| store_error(&e))?;
                Err(error(
                    "policy-denied",
                    format!("{action} refused: {}", reason.message()),
                    None,
                ))
            }
        }
    }

    fn project_create(&mut self, name: &str) -> Result<Response, Response> {
        self.vault_gate(policy::VaultOperation::CreateProject, "project-create")?;
        coord::validate_name(name).map_err(|e| {
            error(
                "project-invalid",
                format!("invalid project name: {e}"),
                None,
            )
        })?;
        let vault = VaultName::Project(name.to_string());
        self.store
            .create_vault(
                &vault,
                self.info.entry("project-create", None, Some(&vault), "ok"),
            )
            .map_err(|e| store_error(&e))?;
        Ok(ok(Reply::Done {
            message: format!("project {name} created"),
        }))
    }

    fn project_list(&mut self) -> Result<Response, Response> {
        self.vault_gate(policy::VaultOperation::ListProjects, "project-list")?;
        let mut projects: Vec<String> = self
            .store
            .vaults()
            .map_err(|e| store_error(&e))?
            .into_iter()
            .filter_map(|v| match v {
                VaultName::Project(p)
                    if self
                        .info
                        .scope
                        .addresses_vault(&VaultName::Project(p.clone())) =>
                {
                    Some(p)
                }
                _ => None,
            })
            .collect();
        projects.sort();
        Ok(ok(Reply::Projects { projects }))
    }

    fn check_value(coord: &Coordinate, value: &Secret) -> Result<(), Response> {
        if value.is_empty() {
            return Err(error(
                "empty-value",
                format!("no value was given for {coord}"),
                Some("type the value at the prompt, or pipe it to --stdin"),
            ));
        }
        if value.len() > MAX_VALUE {
            return Err(error(
                "value-too-large",
                format!("the value for {coord} exceeds {MAX_VALUE} bytes"),
                None,
            ));
        }
        Ok(())
    }

    /// Parse the coordinate only to check a requested pin; `create` parses it again.
    fn pin_new(&mut self, coordinate: &str, provider: Option<&str>) -> Result<(), Response> {
        if provider.is_none() {
            return Ok(());
        }
        let coord = parse_coord(coordinate)?;
        self.creation_pin(&coord, provider)
    }

    fn check_description(d: &Option<String>) -> Result<(), Response> {
        match d {
            Some(d) if d.chars().count() > MAX_DESCRIPTION => Err(error(
                "description-too-long",
                format!("descriptions are limited to {MAX_DESCRIPTION} characters"),
                None,
            )),
            Some(d) if d.chars().any(|c| c.is_control() && c != '\t') => Err(error(
                "description-invalid",
                "descriptions may not contain control characters",
                Some("use plain text on one line"),
            )),
            _ => Ok(()),
        }
    }

    fn add(
        &mut self,
        coordinate: &str,
        value: Secret,
        sensitivity: Option<Sensitivity>,
        description: Option<String>,
        revealable: bool,
        totp: bool,
    ) -> Result<Response, Response> {
        let coord = parse_coord(coordinate)?;
        Self::check_value(&coord, &value)?;
        Self::check_description(&description)?;
        if totp {
            let (seed, params) = parse_totp(&value)?;
            self.totp_params = Some(params);
            return self.create(&coord, &seed, sensitivity, description, revealable, "add");
        }
        self.create(
            &coord,
            value.expose(),
            sensitivity,
            description,
            revealable,
            "add",
        )
    }

    /// The current code of a TOTP record, audited like a reveal; the seed never leaves.
    fn code(&mut self, coordinate: &str, min_validity: u64) -> Result<Response, Response> {
        let coord = parse_coord(coordinate)?;
        let located = self
            .locate(&coord, &[Op::plain(Operation::Code)], false)
            .map_err(|e| store_error(&e))?;
        // Whether a record is TOTP is metadata: checked only once policy let us address it.
        if located.decision == Decision::Allow
            && let Some(record) = &located.record
            && record.meta.totp.is_none()
        {
            return Err(error(
                "not-totp",
                format!("{coord} is not a TOTP record"),
                Some("add TOTP seeds with `kovra add COORD --totp`"),
            ));
        }
        self.enforce("code", &coord, &located)?;
        let vault = located.vault.ok_or_else(|| not_found(&coord))?;
        let (meta, seed) = self
            .store
            .read_value(&vault, &coord.unpinned(), None)
            .map_err(|e| store_error(&e))?;
        let Some(params) = meta.totp else {
            return Err(error(
                "not-totp",
                format!("{coord} is not a TOTP record"),
                None,
            ));
        };
        if min_validity > params.period {
            return Err(error(
                "min-validity-invalid",
                format!(
                    "--min-validity {min_validity} is longer than the record's period of {}s",
                    params.period
                ),
                Some("give at most the period"),
            ));
        }
        let now = store::now();
        let left = totp::remaining(params, now);
        let (at, starts_in, valid_for) = if left < min_validity {
            (now + left, left, params.period)
        } else {
            (now, 0, left)
        };
        let code = totp::code_at(&seed, params, at);
        self.store
            .audit(self.allowed("code", &coord, &vault))
            .map_err(|e| store_error(&e))?;
        Ok(ok(Reply::Code {
            coordinate: coord.to_string(),
            code: Secret::new(code.as_bytes().to_vec()),
            starts_in,
            valid_for,
        }))
    }

    fn create(
        &mut self,
        coord: &Coordinate,
        value: &[u8],
        sensitivity: Option<Sensitivity>,
        description: Option<String>,
        revealable: bool,
        action: &str,
    ) -> Result<Response, Response> {
        let production = self.production(coord.env());
        let born = birth_sensitivity(sensitivity, production);
        // A new record's flags loosen nothing that existed: creation is one operation.
        let located = self
            .locate(coord, &[Op::plain(Operation::Create)], true)
            .map_err(|e| store_error(&e))?;
        // An addressable existing record is a plain conflict, not a request to overwrite.
        if located.record.is_some() && located.decision != Decision::Unaddressable {
            return Err(store_error(&StoreError::AlreadyExists(coord.to_string())));
        }
        self.enforce(action, coord, &located)?;
        let vault = located.vault.clone().ok_or_else(|| not_found(coord))?;
        let now = store::now();
        let meta = Metadata {
            coordinate: coord.unpinned(),
            sensitivity: born,
            revealable,
            description: description.unwrap_or_default(),
            created: now,
            updated: now,
            version: 0,
            totp: self.totp_params.take(),
            provider: self.new_pin.take(),
            provider_host: None,
        };
        let version = self
            .store
            .put(
                &vault,
                meta,
                Some(value),
                self.allowed(action, coord, &vault),
            )
            .map_err(|e| store_error(&e))?;
        self.close_request(coord, &vault);
        Ok(ok(Reply::Written {
            coordinate: coord.unpinned().to_string(),
            vault: vault.label(),
            version,
        }))
    }

    fn update_value(
        &mut self,
        coord: &Coordinate,
        value: &[u8],
        action: &str,
    ) -> Result<Response, Response> {
        let located = self
            .locate(coord, &[Op::plain(Operation::Update)], false)
            .map_err(|e| store_error(&e))?;
        self.enforce(action, coord, &located)?;
        let (Some(vault), Some(record)) = (located.vault, located.record) else {
            return Err(not_found(coord));
        };
        // A TOTP record's new value is a new seed, parsed like the first one.
        let mut seed = None;
        let mut meta = Metadata {
            updated: store::now(),
            ..record.meta
        };
        if meta.totp.is_some() {
            let (s, params) = parse_totp(&Secret::new(value.to_vec()))?;
            meta.totp = Some(params);
            seed = Some(s);
        }
        let value = seed.as_deref().map_or(value, |s| s.as_slice());
        let version = self
            .store
            .put(
                &vault,
                meta,
                Some(value),
                self.allowed(action, coord, &vault),
            )
            .map_err(|e| store_error(&e))?;
        self.close_request(coord, &vault);
        Ok(ok(Reply::Written {
            coordinate: coord.unpinned().to_string(),
            vault: vault.label(),
            version,
        }))
    }

    fn set(&mut self, coordinate: &str, value: Secret) -> Result<Response, Response> {
        let coord = parse_coord(coordinate)?;
        Self::check_value(&coord, &value)?;
        self.update_value(&coord, value.expose(), "set")
    }

    #[allow(clippy::too_many_arguments)]
    fn generate(
        &mut self,
        coordinate: &str,
        length: u32,
        charset: Charset,
        sensitivity: Option<Sensitivity>,
        description: Option<String>,
        revealable: bool,
        overwrite: bool,
    ) -> Result<Response, Response> {
        let coord = parse_coord(coordinate)?;
        if !(8..=4096).contains(&length) {
            return Err(error(
                "length-invalid",
                format!("--length must be between 8 and 4096, not {length}"),
                None,
            ));
        }
        Self::check_description(&description)?;
        let value = generate_value(length as usize, charset);
        if overwrite {
            self.update_value(&coord, &value, "generate")
        } else {
            self.create(
                &coord,
                &value,
                sensitivity,
                description,
                revealable,
                "generate",
            )
        }
    }

    fn list(&mut self, env: Option<&str>) -> Result<Response, Response> {
        let mut vaults = self.store.vaults().map_err(|e| store_error(&e))?;
        if let Some(p) = &self.info.project {
            let pv = VaultName::Project(p.clone());
            if !vaults.contains(&pv) && self.info.scope.addresses_vault(&pv) {
                return Err(store_error(&StoreError::UnknownProject(p.clone())));
            }
            vaults.retain(|v| *v == pv || *v == VaultName::Global);
        }
        // Vaults outside the scope are not read at all, so their counts cannot leak either.
        vaults.retain(|v| self.info.scope.addresses_vault(v));
        vaults.sort_by_key(|v| v.label());
        self.registry()?;
        let mut out = Listing {
            records: Vec::new(),
            tampered: 0,
            missing: 0,
        };
        for vault in vaults {
            let listing = self.store.list(&vault).map_err(|e| store_error(&e))?;
            out.tampered += listing.tampered;
            out.missing += listing.missing;
            for record in listing.records {
                let c = &record.meta.coordinate;
                if env.is_some_and(|e| e != c.env()) {
                    continue;
                }
                if self.decide_one(&vault, c, Some(&record), Op::plain(Operation::Metadata))
                    == Decision::Allow
                {
                    out.records.push(self.view(&record));
                }
            }
        }
        let mut entry = self.info.entry("list", None, None, "allow");
        entry.detail = Some(format!("{} records shown", out.records.len()));
        self.store.audit(entry).map_err(|e| store_error(&e))?;
        Ok(ok(Reply::Records(out)))
    }

    fn metadata_of(
        &mut self,
        coordinate: &str,
        action: &str,
        operation: Operation,
    ) -> Result<(Coordinate, VaultName, Record), Response> {
        let coord = parse_coord(coordinate)?;
        let located = self
            .locate(&coord, &[Op::plain(operation)], false)
            .map_err(|e| store_error(&e))?;
        self.enforce(action, &coord, &located)?;
        let (Some(vault), Some(record)) = (located.vault, located.record) else {
            return Err(not_found(&coord));
        };
        Ok((coord, vault, record))
    }

    fn show(&mut self, coordinate: &str) -> Result<Response, Response> {
        let (coord, vault, record) = self.metadata_of(coordinate, "show", Operation::Metadata)?;
        // The pin shown includes a claim by name, which the registry knows.
        self.registry()?;
        self.store
            .audit(self.allowed("show", &coord, &vault))
            .map_err(|e| store_error(&e))?;
        Ok(ok(Reply::Record(self.view(&record))))
    }

    fn fingerprint(&mut self, coordinate: &str) -> Result<Response, Response> {
        let (coord, vault, _) =
            self.metadata_of(coordinate, "fingerprint", Operation::Fingerprint)?;
        let fp = self
            .store
            .fingerprint(&vault, &coord.unpinned())
            .map_err(|e| store_error(&e))?;
        self.store
            .audit(self.allowed("fingerprint", &coord, &vault))
            .map_err(|e| store_error(&e))?;
        Ok(ok(Reply::Fingerprint {
            coordinate: coord.to_string(),
            fingerprint: fp,
        }))
    }

    fn history(&mut self, coordinate: &str) -> Result<Response, Response> {
        let (coord, vault, _) = self.metadata_of(coordinate, "history", Operation::Metadata)?;
        let versions = self
            .store
            .history(&vault, &coord.unpinned())
            .map_err(|e| store_error(&e))?;
        self.store
            .audit(self.allowed("history", &coord, &vault))
            .map_err(|e| store_error(&e))?;
        let versions = versions
            .into_iter()
            .map(|meta| {
                self.view(&Record {
                    vault: vault.clone(),
                    meta,
                })
            })
            .collect();
        Ok(ok(Reply::History {
            coordinate: coord.to_string(),
            versions,
        }))
    }

    /// The operations that turn `from` into `to`, for policy.
    fn change_ops(
        from: &Metadata,
        to_sensitivity: Sensitivity,
        to_revealable: bool,
        to_description: &str,
    ) -> Vec<Op> {
        let mut ops = vec![Op::plain(Operation::Metadata)];
        if to_sensitivity != from.sensitivity {
            ops.push(Op {
                operation: Operation::ChangeSensitivity,
                new_sensitivity: Some(to_sensitivity),
                new_revealable: None,
            });
        }
        if to_revealable != from.revealable {
            ops.push(Op {
                operation: Operation::ChangeRevealable,
                new_sensitivity: None,
                new_revealable: Some(to_revealable),
            });
        }
        if to_description != from.description {
            ops.push(Op::plain(Operation::EditDescription));
        }
        ops
    }

    fn edit(
        &mut self,
        coordinate: &str,
        description: Option<String>,
        sensitivity: Option<Sensitivity>,
        revealable: Option<bool>,
    ) -> Result<Response, Response> {
        let coord = parse_coord(coordinate)?;
        Self::check_description(&description)?;
        if description.is_none() && sensitivity.is_none() && revealable.is_none() {
            return Err(error(
                "nothing-to-change",
                "edit needs at least one of --description, --sensitivity, --revealable/--no-revealable",
                None,
            ));
        }
        // Locate with metadata first, then decide on the concrete change.
        let located = self
            .locate(&coord, &[Op::plain(Operation::Metadata)], false)
            .map_err(|e| store_error(&e))?;
        let Some(record) = located.record.clone() else {
            self.enforce("edit", &coord, &located)?;
            return Err(not_found(&coord));
        };
        let m = &record.meta;
        let new_s = sensitivity.unwrap_or(m.sensitivity);
        let new_r = revealable.unwrap_or(m.revealable);
        let new_d = description.clone().unwrap_or_else(|| m.description.clone());
        let ops = Self::change_ops(m, new_s, new_r, &new_d);
        let vault = located.vault.clone().ok_or_else(|| not_found(&coord))?;
        let decided = Located {
            decision: self.decide_all(&vault, &coord, Some(&record), &ops),
            vault: Some(vault.clone()),
            record: Some(record.clone()),
        };
        self.enforce("edit", &coord, &decided)?;
        let meta = Metadata {
            sensitivity: new_s,
            revealable: new_r,
            description: new_d,
            updated: store::now(),
            ..record.meta
        };
        let version = self
            .store
            .put(&vault, meta, None, self.allowed("edit", &coord, &vault))
            .map_err(|e| store_error(&e))?;
        Ok(ok(Reply::Written {
            coordinate: coord.unpinned().to_string(),
            vault: vault.label(),
            version,
        }))
    }

    fn remove(&mut self, coordinate: &str) -> Result<Response, Response> {
        let coord = parse_coord(coordinate)?;
        let located = self
            .locate(&coord, &[Op::plain(Operation::Delete)], false)
            .map_err(|e| store_error(&e))?;
        self.enforce("rm", &coord, &located)?;
        let vault = located.vault.ok_or_else(|| not_found(&coord))?;
        self.store
            .delete(
                &vault,
                &coord.unpinned(),
                self.allowed("rm", &coord, &vault),
            )
            .map_err(|e| store_error(&e))?;
        Ok(ok(Reply::Done {
            message: format!("{} removed from the {vault} vault", coord.unpinned()),
        }))
    }

    fn rollback(&mut self, coordinate: &str, version: u64) -> Result<Response, Response> {
        let coord = parse_coord(coordinate)?;
        let located = self
            .locate(&coord, &[Op::plain(Operation::Metadata)], false)
            .map_err(|e| store_error(&e))?;
        let Some(record) = located.record.clone() else {
            self.enforce("rollback", &coord, &located)?;
            return Err(not_found(&coord));
        };
        let vault = located.vault.clone().ok_or_else(|| not_found(&coord))?;
        if version == 0 || version >= record.meta.version {
            return Err(store_error(&StoreError::NoSuchVersion(
                coord.to_string(),
                version,
            )));
        }
        let (old, value) = self
            .store
            .read_value(&vault, &coord.unpinned(), Some(version))
            .map_err(|e| store_error(&e))?;
        // Restoring an old version replaces the value and may restore weaker metadata:
        // policy sees every part of that change.
        let production = self.production(coord.env());
        let target_s = if production {
            old.sensitivity.max(Sensitivity::High)
        } else {
            old.sensitivity
        };
        let mut ops = Self::change_ops(&record.meta, target_s, old.revealable, &old.description);
        ops.push(Op::plain(Operation::Update));
        let decided = Located {
            decision: self.decide_all(&vault, &coord, Some(&record), &ops),
            vault: Some(vault.clone()),
            record: Some(record.clone()),
        };
        self.enforce("rollback", &coord, &decided)?;
        let meta = Metadata {
            sensitivity: target_s,
            revealable: old.revealable,
            description: old.description,
            updated: store::now(),
            totp: old.totp,
            ..record.meta
        };
        let mut entry = self.allowed("rollback", &coord, &vault);
        entry.detail = Some(format!("restored version {version}"));
        let new_version = self
            .store
            .put(&vault, meta, Some(&value), entry)
            .map_err(|e| store_error(&e))?;
        Ok(ok(Reply::Written {
            coordinate: coord.unpinned().to_string(),
            vault: vault.label(),
            version: new_version,
        }))
    }

    fn reveal(&mut self, coordinate: &str) -> Result<Response, Response> {
        let coord = parse_coord(coordinate)?;
        let located = self
            .locate(&coord, &[Op::plain(Operation::Reveal)], false)
            .map_err(|e| store_error(&e))?;
        self.enforce("reveal", &coord, &located)?;
        if located
            .record
            .as_ref()
            .is_some_and(|r| r.meta.sensitivity == Sensitivity::Medium)
        {
            crate::approvals::notify_medium_use("reveal", &coord.to_string());
        }
        let vault = located.vault.ok_or_else(|| not_found(&coord))?;
        let (_, value) = self
            .store
            .read_value(&vault, &coord.unpinned(), None)
            .map_err(|e| store_error(&e))?;
        // The reveal is on the trail before the value leaves the daemon.
        self.store
            .audit(self.allowed("reveal", &coord, &vault))
            .map_err(|e| store_error(&e))?;
        Ok(ok(Reply::Revealed {
            coordinate: coord.to_string(),
            value: Secret::from(value),
        }))
    }

    fn audit(
        &mut self,
        coordinate: Option<String>,
        since: Option<u64>,
        action: Option<String>,
    ) -> Result<Response, Response> {
        self.vault_gate(policy::VaultOperation::ReadAudit, "audit")?;
        let filter_coord = match coordinate.as_deref() {
            Some(c) => Some(parse_coord(c)?.unpinned().path()),
            None => None,
        };
        let entries = self.store.audit_entries().map_err(|e| store_error(&e))?;
        let entries = entries
            .into_iter()
            .filter(|e| self.audit_entry_in_scope(e))
            .filter(|e| since.is_none_or(|s| e.time >= s))
            .filter(|e| action.as_deref().is_none_or(|a| e.action == a))
            .filter(|e| {
                filter_coord.as_deref().is_none_or(|want| {
                    e.coordinate
                        .as_deref()
                        .and_then(|c| Coordinate::parse(c).ok())
                        .is_some_and(|c| c.path() == want)
                })
            })
            .collect();
        Ok(ok(Reply::Audit { entries }))
    }

    /// A scoped session reads only entries about what it can address; vault-wide entries
    /// (unlock, lock, passwd) are shown only to a full scope.
    fn audit_entry_in_scope(&self, e: &kovra_core::audit::AuditEntry) -> bool {
        if self.info.scope.is_full() {
            return true;
        }
        let vault = match e.vault.as_deref() {
            Some("global") => VaultName::Global,
            Some(label) => match label.strip_prefix("project:") {
                Some(p) => VaultName::Project(p.to_string()),
                None => return false,
            },
            None => return false,
        };
        let Some(coord) = e
            .coordinate
            .as_deref()
            .and_then(|c| Coordinate::parse(c).ok())
        else {
            return self.info.scope.addresses_vault(&vault);
        };
        self.info
            .scope
            .addresses(&vault, coord.env(), self.production(coord.env()))
    }

    fn audit_verify(&mut self) -> Result<Response, Response> {
        self.vault_gate(policy::VaultOperation::VerifyAudit, "audit-verify")?;
        let report = self.store.verify_audit().map_err(|e| store_error(&e))?;
        Ok(ok(Reply::AuditVerified(report)))
    }

    fn passwd(&mut self, old: &Secret, new: &Secret) -> Result<Response, Response> {
        self.vault_gate(policy::VaultOperation::ChangePassphrase, "passwd")?;
        if self.store.check_passphrase(old.expose()).is_err() {
            *self.failures += 1;
            let mut e = self.info.entry("passwd", None, None, "deny");
            e.reason = Some("wrong passphrase".into());
            self.store.audit(e).map_err(|e| store_error(&e))?;
            return Err(store_error(&StoreError::WrongPassphrase));
        }
        if new.len() < MIN_PASSPHRASE {
            return Err(error(
                "passphrase-weak",
                format!("the new passphrase must be at least {MIN_PASSPHRASE} characters"),
                None,
            ));
        }
        let entry = self.info.entry("passwd", None, None, "ok");
        self.store
            .change_passphrase(new.expose(), self.daemon.kdf, entry)
            .map_err(|e| store_error(&e))?;
        Ok(ok(Reply::Done {
            message: "passphrase changed".into(),
        }))
    }

    fn rotate_key(&mut self) -> Result<Response, Response> {
        self.vault_gate(policy::VaultOperation::RotateKeys, "rotate-key")?;
        let entry = self.info.entry("rotate-key", None, None, "ok");
        let n = self
            .store
            .rotate_data_keys(entry)
            .map_err(|e| store_error(&e))?;
        Ok(ok(Reply::Done {
            message: format!("data keys rotated; {n} versions re-sealed"),
        }))
    }
}

/// Draw `length` characters uniformly from the charset (rejection sampling, no modulo bias).
fn generate_value(length: usize, charset: Charset) -> zeroize::Zeroizing<Vec<u8>> {
    const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    const SYMBOLS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$%&()*+,-./:;<=>?@[]^_{|}~";
    let alphabet: &[u8] = match charset {
        Charset::Alnum => ALNUM,
        Charset::Alpha => &ALNUM[..52],
        Charset::Digits => b"0123456789",
        Charset::Hex => b"0123456789abcdef",
        Charset::Base64url => b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
        Charset::Symbols => SYMBOLS,
    };
    let limit = 256 - (256 % alphabet.len());
    let mut out = zeroize::Zeroizing::new(Vec::with_capacity(length));
    let mut buf = zeroize::Zeroizing::new([0u8; 64]);
    while out.len() < length {
        crypto::fill_random(buf.as_mut());
        for &b in buf.iter() {
            if (b as usize) < limit && out.len() < length {
                out.push(alphabet[b as usize % alphabet.len()]);
            }
        }
    }
    out
}

/// The facts of a request as its requester stated them, for the human who approves it.
fn describe(request: &Request) -> Vec<Fact> {
    let fact = |name: &str, value: String, untrusted: bool| Fact {
        name: name.into(),
        value,
        untrusted,
    };
    let mut out = Vec::new();
    match request {
        Request::Run(run) => {
            out.push(fact("command", run.argv.join(" "), true));
            out.push(fact("working directory", run.cwd.clone(), true));
            if let Some(e) = &run.env_name {
                out.push(fact("environment", e.clone(), false));
            }
            if let Some(path) = &run.refs_path {
                out.push(fact("refs file", path.clone(), true));
            }
            if !run.only.is_empty() {
                out.push(fact("only", run.only.join(", "), false));
            }
        }
        Request::Edit {
            coordinate,
            description,
            sensitivity,
            revealable,
            ..
        } => {
            out.push(fact("coordinate", coordinate.clone(), false));
            if let Some(s) = sensitivity {
                out.push(fact("new sensitivity", s.to_string(), false));
            }
            if let Some(r) = revealable {
                out.push(fact("new revealable", r.to_string(), false));
            }
            if let Some(d) = description {
                out.push(fact("new description", d.clone(), true));
            }
        }
        Request::Rollback {
            coordinate,
            version,
            ..
        } => {
            out.push(fact("coordinate", coordinate.clone(), false));
            out.push(fact("restore version", version.to_string(), false));
        }
        Request::Set { coordinate, .. }
        | Request::Generate { coordinate, .. }
        | Request::Remove { coordinate, .. }
        | Request::Reveal { coordinate, .. }
        | Request::Code { coordinate, .. }
        | Request::Fingerprint { coordinate, .. } => {
            out.push(fact("coordinate", coordinate.clone(), false))
        }
        Request::AllowAdd { path, .. } => out.push(fact("executable", path.clone(), true)),
        Request::Share {
            env, groups, to, ..
        } => {
            out.push(fact("environment", env.clone(), false));
            if !groups.is_empty() {
                out.push(fact("groups", groups.join(", "), false));
            }
            out.push(fact("recipient", to.clone(), true));
        }
        Request::Api(api) => {
            out.push(fact("provider", api.provider.clone(), false));
            out.push(fact(
                "request",
                format!("{} {}", api.method, api.path),
                true,
            ));
        }
        Request::Bind {
            coordinate,
            provider,
            host,
            ..
        } => {
            out.push(fact("coordinate", coordinate.clone(), false));
            out.push(fact("provider", provider.clone(), false));
            if let Some(h) = host {
                out.push(fact("host", h.clone(), true));
            }
        }
        Request::ProviderAdd { toml, .. } => {
            // What the daemon will store, from the parsed file (never from its raw lines).
            match kovra_broker::Provider::from_toml(toml) {
                Ok(p) => {
                    out.push(fact("provider", format!("{} ({})", p.name, p.title), true));
                    out.push(fact(
                        "hosts credentials may go to",
                        p.hosts.join(", "),
                        true,
                    ));
                    out.push(fact("default host", p.host().to_string(), true));
                    out.push(fact("claims variables", p.secrets.join(", "), true));
                    out.push(fact(
                        "auth",
                        match p.auth.header_name() {
                            Some(h) => format!("{} (header {h})", p.auth.kind()),
                            None => p.auth.kind().to_string(),
                        },
                        true,
                    ));
                    if !p.headers.is_empty() {
                        let fixed: Vec<String> = p.headers.keys().cloned().collect();
                        out.push(fact("fixed headers", fixed.join(", "), true));
                    }
                }
                Err(_) => out.push(fact("provider file", "invalid".into(), true)),
            }
        }
        _ => {}
    }
    out
}
