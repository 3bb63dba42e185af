//! The daemon's side of the egress proxy (`kovra-proxy`): the local CA sealed in the system
//! vault, the proxy started with the first run that has placeholders, each run's grant, the
//! child's proxy and trust variables, and the [`kovra_proxy::Judge`] that asks the core's
//! `decide` (surface `proxy`) before every swap and writes the trail.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use kovra_core::audit::AuditEntry;
use kovra_core::coord::Coordinate;
use kovra_core::model::{Operation, Origin, Surface, VaultName};
use kovra_core::policy::{self, Decision, Delivery, PinFacts, Presence, RecordFacts, Scope};
use kovra_core::secret::{SecretBytes, SecretString};
use kovra_proto::{DeliveryChoice, EgressChoice, ErrorCode};
use kovra_proxy::{Misuse, Place, Swap, Use};
use zeroize::Zeroizing;

use super::refs::Line;
use super::{Daemon, Inner, Located, Op};
use crate::error::GateError;

/// What a swap of a record out of the grant's reach is told (and a canary's, alike).
const OUT_OF_SCOPE: &str = "the record is out of this run's scope";

/// Where the CA lives: a record of the system vault, which no scope addresses.
const CA_RECORD: &str = "secret:kovra/egress/ca";

/// Where a run's child finds the system roots to which kovra's CA is added. Read from
/// fixed places, never from the caller's environment (which an agent writes).
const SYSTEM_BUNDLES: [&str; 4] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
    "/etc/ssl/ca-bundle.pem",
];

/// Variables naming a CA bundle, each set to the system roots plus kovra's CA.
const BUNDLE_VARS: [&str; 7] = [
    "SSL_CERT_FILE",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "NODE_EXTRA_CA_CERTS",
    "GIT_SSL_CAINFO",
    "AWS_CA_BUNDLE",
    "PIP_CERT",
];
const PROXY_VARS: [&str; 6] = [
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// The running proxy and what goes with it, for the daemon's life.
pub(crate) struct EgressHost {
    pub(super) proxy: kovra_proxy::Proxy,
    judge: Arc<RunJudge>,
    pub(super) bundle: PathBuf,
    next_run: AtomicU64,
}

impl EgressHost {
    /// A fresh grant id and its proxy credential.
    pub(super) fn new_grant(&self) -> (u64, Zeroizing<String>) {
        let id = self.next_run.fetch_add(1, Ordering::Relaxed);
        let token = Zeroizing::new(kovra_proxy::mint_placeholder(
            &kovra_broker::registry::PlaceholderSpec::default(),
        ));
        (id, token)
    }

    /// Tell the judge how an agent profile's grant `id` was decided: each swap is decided
    /// again, under the profile, as it happens.
    pub(super) fn judge_profile(
        &self,
        id: u64,
        scope: Scope,
        agent: &str,
        lines: HashMap<String, LineFacts>,
    ) {
        lock(&self.judge.runs).insert(
            id,
            JudgeRun {
                scope,
                origin: Origin::Agent,
                presence: Presence::None,
                pid: 0,
                exe: Some(format!("agent profile {agent}")),
                agent: Some(agent.to_string()),
                lines,
                audited: HashSet::new(),
            },
        );
    }

    /// The variables that route a process through the proxy with `token` and make it trust
    /// kovra's CA, then the base-URL variables.
    pub(super) fn route_env(
        &self,
        token: &str,
        base_urls: Vec<(String, Zeroizing<String>)>,
    ) -> Vec<(String, Zeroizing<String>)> {
        let url = self.proxy.proxy_url(token);
        let mut out: Vec<(String, Zeroizing<String>)> = Vec::new();
        for k in PROXY_VARS {
            out.push((k.into(), url.clone()));
        }
        for k in ["NO_PROXY", "no_proxy"] {
            out.push((k.into(), Zeroizing::new(String::new())));
        }
        let bundle = self.bundle.display().to_string();
        for k in BUNDLE_VARS {
            out.push((k.into(), Zeroizing::new(bundle.clone())));
        }
        out.push(("NODE_USE_ENV_PROXY".into(), Zeroizing::new("1".into())));
        out.extend(base_urls);
        out
    }
}

/// One run's hold on the proxy: dropped when the run's child has exited (or the run never
/// started), and its placeholders stop working at that moment.
pub struct EgressTicket {
    pub(super) host: Arc<EgressHost>,
    pub(super) id: u64,
}

impl Drop for EgressTicket {
    fn drop(&mut self) {
        self.host.proxy.unregister(self.id);
        self.host.judge.forget(self.id);
    }
}

/// The facts one placeholder line was decided with, kept to decide each swap the same way.
pub(super) struct LineFacts {
    pub(super) vault: VaultName,
    pub(super) env: String,
    pub(super) production: bool,
    pub(super) record: RecordFacts,
    pub(super) pinned: String,
    /// The record is a canary: its placeholder is served as a real record's would be, and
    /// any swap of it trips it.
    pub(super) canary: bool,
}

/// The placeholders one run was issued, and the facts each was decided with.
#[derive(Default)]
pub(super) struct Issued {
    pub(super) swaps: Vec<Swap>,
    lines: HashMap<String, LineFacts>,
}

/// The facts of one run, for the judge.
struct JudgeRun {
    scope: Scope,
    origin: Origin,
    presence: Presence,
    pid: u32,
    exe: Option<String>,
    /// The agent profile the run (or the profile's own grant) was decided under.
    agent: Option<String>,
    lines: HashMap<String, LineFacts>,
    /// (coordinate, host) pairs already on the trail for this run.
    audited: HashSet<(String, String)>,
}

/// The policy and audit side of the proxy.
struct RunJudge {
    inner: Arc<Mutex<Inner>>,
    runs: Mutex<HashMap<u64, JudgeRun>>,
}

impl RunJudge {
    fn forget(&self, run: u64) {
        lock(&self.runs).remove(&run);
    }

    fn entry(&self, run: Option<&JudgeRun>, action: &str, coordinate: &str) -> AuditEntry {
        AuditEntry {
            action: action.into(),
            coordinate: Some(coordinate.to_string()),
            surface: Surface::Proxy.as_str().into(),
            origin: run.map_or(Origin::Agent, |r| r.origin).as_str().into(),
            pid: run.map(|r| r.pid),
            exe: run.and_then(|r| r.exe.clone()),
            agent: run.and_then(|r| r.agent.clone()),
            ..AuditEntry::default()
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A swap decided as what it is: the record's value going to its pinned provider (surface
/// proxy), with the facts the run was decided with.
fn swap_decision(facts: &JudgeRun, line: &LineFacts, swap: &Swap) -> Decision {
    policy::decide(
        &policy::Request {
            operation: Operation::Broker,
            vault: &line.vault,
            env: &line.env,
            production: line.production,
            record: Some(line.record),
            new_sensitivity: None,
            new_revealable: None,
            surface: Surface::Proxy,
            origin: facts.origin,
            presence: facts.presence,
            allowlisted: false,
            pin: Some(PinFacts {
                pinned: Some(&line.pinned),
                target: &swap.provider.name,
            }),
            delivery: policy::Delivery::Value,
            profile: None,
            destination: None,
            remote: None,
            canary: line.canary,
        },
        &facts.scope,
    )
}

impl kovra_proxy::Judge for RunJudge {
    fn may_swap(&self, run: u64, swap: &Swap, host: &str) -> Result<(), String> {
        // Lock order: never hold `runs` while taking `inner` (a run being prepared holds
        // `inner` and then registers in `runs`).
        let (refused, entry, tripped) = {
            let runs = lock(&self.runs);
            let Some(facts) = runs.get(&run) else {
                return Err("the run this placeholder belongs to has ended".into());
            };
            let Some(line) = facts.lines.get(&swap.coordinate) else {
                return Err("this placeholder was not issued to this run".into());
            };
            let decision = swap_decision(facts, line, swap);
            let tripped = decision == Decision::Deny(policy::Reason::CanaryTripped);
            let refused = match decision {
                Decision::Allow => None,
                // A canary answers as a record out of reach (its trip is on the trail).
                _ if tripped => Some(OUT_OF_SCOPE.into()),
                Decision::NeedsProof(r) | Decision::Deny(r) => Some(r.message().to_string()),
                Decision::Unaddressable => Some(OUT_OF_SCOPE.into()),
            };
            let first = !facts
                .audited
                .contains(&(swap.coordinate.clone(), host.to_string()));
            let entry = (refused.is_some() || first).then(|| {
                let action = if tripped {
                    "canary-tripped"
                } else {
                    "proxy-use"
                };
                let mut e = self.entry(Some(facts), action, &swap.coordinate);
                if tripped {
                    e.reason = Some(policy::Reason::CanaryTripped.code().into());
                }
                e.vault = Some(line.vault.label());
                match &refused {
                    Some(why) => {
                        e.decision = "deny".into();
                        e.detail = Some(format!("{} to {host} (run {run}): {why}", swap.variable));
                    }
                    None => {
                        e.decision = "allow".into();
                        e.detail = Some(format!(
                            "{} to {host} (run {run}; later uses in this run are not listed)",
                            swap.variable
                        ));
                    }
                }
                e
            });
            (refused, entry, tripped)
        };
        let mut inner = lock(&self.inner);
        let Some(store) = inner.store.as_mut() else {
            return Err("the vault is locked: unlock it (`kovra unlock`), then retry".into());
        };
        if let Some(why) = refused {
            if let Some(e) = entry {
                let _ = store.audit(e);
            }
            drop(inner);
            if tripped {
                crate::approvals::notify_canary_tripped(
                    &swap.coordinate,
                    &format!("brokered through the egress proxy to {host} (grant {run})"),
                );
            }
            return Err(why);
        }
        if let Some(e) = entry {
            store
                .audit(e)
                .map_err(|_| "the audit trail cannot be written".to_string())?;
            drop(inner);
            if let Some(facts) = lock(&self.runs).get_mut(&run) {
                facts
                    .audited
                    .insert((swap.coordinate.clone(), host.to_string()));
            }
            inner = lock(&self.inner);
        }
        inner.last_activity = Instant::now();
        Ok(())
    }

    fn misuse(&self, event: &Misuse) {
        if event.owner == super::canary::CANARY_GRANT {
            // A canary's value, in a request of the run `event.run` (its facts on the trail).
            let entry = {
                let runs = lock(&self.runs);
                let requester = event.run.and_then(|r| runs.get(&r));
                self.entry(requester, "canary-tripped", &event.coordinate)
            };
            let mut inner = lock(&self.inner);
            let place = format!("a request to {} through the egress proxy", event.host);
            super::canary::report_seen(&mut inner, entry, &event.coordinate, &place);
            return;
        }
        let runs = lock(&self.runs);
        let owner = runs.get(&event.owner);
        let mut e = self.entry(owner, "placeholder-misuse", &event.coordinate);
        e.decision = "deny".into();
        let place = match &event.place {
            Place::Header(name) => format!("header {name}"),
            Place::Path => "the path".into(),
            Place::Query => "the query".into(),
            Place::Body => "the body".into(),
            Place::ConnectTarget => "a CONNECT target".into(),
        };
        let through = match event.run {
            Some(r) if r != event.owner => format!(", sent through run {r}"),
            Some(_) => String::new(),
            None => ", sent without a run's credential".into(),
        };
        e.detail = Some(format!(
            "{} of run {} seen in {place} of a request to {}{through}; refused",
            event.variable, event.owner, event.host
        ));
        drop(runs);
        let mut inner = lock(&self.inner);
        match inner.store.as_mut() {
            Some(store) => {
                let _ = store.audit(e);
            }
            None => tracing::warn!(
                coordinate = %event.coordinate,
                host = %event.host,
                "placeholder misuse while the vault is locked (not on the trail)"
            ),
        }
        drop(inner);
        crate::approvals::notify_placeholder_misuse(&event.coordinate, &event.host);
    }

    fn used(&self, event: &Use) {
        tracing::debug!(run = event.run, host = %event.host, status = event.status, "proxied");
    }
}

impl Daemon {
    /// The proxy, started on first use with the CA `ca` gives (called only then).
    pub(super) fn egress_host(
        &self,
        ca: impl FnOnce() -> Result<kovra_proxy::Ca, GateError>,
    ) -> Result<Arc<EgressHost>, GateError> {
        let mut slot = lock(&self.egress);
        if let Some(h) = slot.as_ref() {
            return Ok(Arc::clone(h));
        }
        let unavailable = |why: String| {
            GateError::new(
                ErrorCode::BrokerUnavailable,
                format!("the egress proxy: {why}"),
            )
        };
        let ca = ca()?;
        let judge = Arc::new(RunJudge {
            inner: Arc::clone(&self.inner),
            runs: Mutex::new(HashMap::new()),
        });
        let test = super::test_upstream().map_err(unavailable)?;
        let proxy =
            kovra_proxy::Proxy::start(ca, test, Arc::clone(&judge) as Arc<dyn kovra_proxy::Judge>)
                .map_err(|e| unavailable(e.to_string()))?;
        let bundle = write_bundle(&self.paths.home, &proxy.ca_pem())
            .map_err(|e| unavailable(format!("cannot write the CA bundle: {e}")))?;
        let host = Arc::new(EgressHost {
            proxy,
            judge,
            bundle,
            next_run: AtomicU64::new(1),
        });
        *slot = Some(Arc::clone(&host));
        Ok(host)
    }
}

/// The system roots plus kovra's CA, in the vault home (the child reads it; nothing in it
/// is secret, and a replaced bundle can only make the child trust someone who then sees
/// placeholders).
fn write_bundle(home: &std::path::Path, ca_pem: &str) -> std::io::Result<PathBuf> {
    let mut text = String::new();
    if let Some(system) = SYSTEM_BUNDLES
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
    {
        text.push_str(&system);
        if !text.ends_with('\n') {
            text.push('\n');
        }
    }
    text.push_str(ca_pem);
    let path = home.join("egress-ca-bundle.pem");
    let tmp = home.join(".egress-ca-bundle.pem.tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

impl super::Gate<'_> {
    /// How a located line is delivered ([`policy::delivery_for`]); a placeholder is decided
    /// again as one, so the decision (and its token) is about what the child will get.
    pub(super) fn delivered(
        &self,
        coord: &Coordinate,
        located: Located,
        asked: DeliveryChoice,
    ) -> (Located, Delivery) {
        let pinned = located
            .record
            .as_ref()
            .is_some_and(|r| self.pinned_provider(&r.meta).is_some());
        let delivery = policy::delivery_for(
            pinned,
            self.info.origin,
            asked,
            self.daemon.config.placeholders_by_default,
        );
        match (delivery, &located.vault, &located.record) {
            (Delivery::Placeholder, Some(vault), Some(record)) => {
                let (vault, record) = (vault.clone(), record.clone());
                let again = self.decide_all(&vault, coord, Some(record), &[Op::inject(delivery)]);
                (again, delivery)
            }
            _ => (located, Delivery::Value),
        }
    }

    /// What `kovra doctor` says of a line pinned to a provider: whether a run gets a
    /// placeholder or the value. `None` for an unpinned (or absent) record: always the value.
    pub(super) fn delivery_note(&self, located: &Located, variable: &str) -> Option<String> {
        let record = located.record.as_ref()?;
        let provider = self.pinned_provider(&record.meta)?;
        let by_default = self.daemon.config.placeholders_by_default;
        Some(
            match policy::delivery_for(true, self.info.origin, DeliveryChoice::Default, by_default)
            {
                Delivery::Placeholder => format!(
                    "{variable} gets a placeholder (pinned to {provider}; the egress proxy puts the value on the wire to its hosts only)"
                ),
                // (`delivery_for` never chooses the database proxy.)
                Delivery::Value | Delivery::Proxied => format!(
                    "{variable} gets the real value in your runs (pinned to {provider}); an agent's run, or `kovra run --placeholders`, gets a placeholder"
                ),
            },
        )
    }

    /// A placeholder for one line's value: the value goes to the run's grant (daemon
    /// memory, for the run's life), the placeholder to the child.
    pub(super) fn issue_placeholder(
        &mut self,
        line: &Line,
        value: SecretBytes,
        variable: &str,
        issued: &mut Issued,
    ) -> Result<Zeroizing<Vec<u8>>, GateError> {
        let internal = |why: &str| GateError::new(ErrorCode::Internal, why.to_string());
        let (record, vault) = line.record_in_vault("a placeholder")?;
        let pinned = self
            .pinned_provider(&record.meta)
            .ok_or_else(|| internal("a placeholder for an unpinned record"))?;
        let provider = self.registry()?.get(&pinned).cloned().ok_or_else(|| {
            GateError::new(
                ErrorCode::UnknownProvider,
                format!(
                    "{}: pinned to provider {pinned}, which no longer exists",
                    line.coord
                ),
            )
        })?;
        let placeholder = kovra_proxy::mint_placeholder(&provider.placeholder());
        let coordinate = line.coord.to_string();
        issued.lines.insert(
            coordinate.clone(),
            LineFacts {
                env: line.coord.env().to_string(),
                production: self.production(line.coord.env()),
                record: Self::facts(record),
                pinned,
                vault,
                // A run's line of a canary was refused (tripped) before it got here.
                canary: false,
            },
        );
        let stand_in = Zeroizing::new(placeholder.clone().into_bytes());
        issued.swaps.push(Swap {
            placeholder,
            value: value.into_zeroizing(),
            variable: variable.to_string(),
            coordinate,
            host: record.meta.provider_host.clone(),
            provider,
        });
        Ok(stand_in)
    }

    /// The vault's egress CA: read from the system vault, or made and sealed there on first
    /// use. Its key is never written anywhere else.
    pub(super) fn egress_ca(&mut self) -> Result<kovra_proxy::Ca, GateError> {
        let coord = Coordinate::parse(CA_RECORD)
            .map_err(|e| GateError::new(ErrorCode::Internal, e.to_string()))?;
        if let Some(raw) = super::system::load_raw(self.store, &coord)? {
            return decode_ca(raw.expose()).ok_or_else(|| {
                GateError::new(
                    ErrorCode::VaultTampered,
                    "the egress CA record is unreadable",
                )
            });
        }
        let ca = kovra_proxy::new_ca()
            .map_err(|e| GateError::new(ErrorCode::BrokerUnavailable, e.to_string()))?;
        let mut audit = self.info.entry(
            "egress-ca-create",
            Some(&coord),
            Some(&VaultName::System),
            "ok",
        );
        audit.detail = Some("the local CA the egress proxy signs intercepted hosts with".into());
        super::system::ensure_vault(self.store, &audit)?;
        let meta = super::system::meta(self.store, &coord, "the egress proxy's local CA")?;
        let bytes = encode_ca(&ca);
        self.store
            .put(&VaultName::System, meta, Some(&bytes), audit)
            .map_err(GateError::from)?;
        Ok(ca)
    }

    /// Start (if needed) the proxy, register this run's placeholders, and give the child
    /// the variables that route it through kovra.
    pub(super) fn egress_for_run(
        &mut self,
        issued: Issued,
        egress: EgressChoice,
        env: &mut Vec<(String, SecretString)>,
    ) -> Result<EgressTicket, GateError> {
        let Issued { swaps, lines } = issued;
        let daemon = self.daemon;
        let host = daemon.egress_host(|| self.egress_ca())?;
        let (id, token) = host.new_grant();
        let mut base_urls = Vec::new();
        for s in &swaps {
            if let Some(var) = &s.provider.placeholder().base_url_variable
                && !base_urls.iter().any(|(v, _)| v == var)
            {
                base_urls.push((var.clone(), host.proxy.base_url(&token, &s.provider)));
            }
        }
        lock(&host.judge.runs).insert(
            id,
            JudgeRun {
                scope: self.info.scope.clone(),
                origin: self.info.origin,
                presence: self.presence_for(kovra_core::policy::ProofNeed::default()),
                pid: self.info.pid,
                exe: self.info.exe.clone(),
                agent: self.info.agent.as_ref().map(|p| p.name.clone()),
                lines,
                audited: HashSet::new(),
            },
        );
        let routes = host.route_env(&token, base_urls);
        self.canaries_to_proxy(&host)?;
        host.proxy.register(kovra_proxy::RunGrant {
            id,
            token,
            egress: match egress {
                EgressChoice::Open => kovra_proxy::Egress::Open,
                EgressChoice::PinnedOnly => kovra_proxy::Egress::PinnedOnly,
            },
            swaps,
        });
        for (k, v) in routes {
            env.retain(|(name, _)| *name != k);
            env.push((k, SecretString::new(v.to_string())));
        }
        Ok(EgressTicket { host, id })
    }
}

/// The CA record's bytes: the certificate's length (4 bytes, big-endian), the certificate,
/// then the key. Hand-written because it is two byte strings; no format is needed.
fn encode_ca(ca: &kovra_proxy::Ca) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(4 + ca.cert_der.len() + ca.key_der.len()));
    out.extend_from_slice(&u32::try_from(ca.cert_der.len()).unwrap_or(0).to_be_bytes());
    out.extend_from_slice(&ca.cert_der);
    out.extend_from_slice(&ca.key_der);
    out
}

fn decode_ca(bytes: &[u8]) -> Option<kovra_proxy::Ca> {
    let len = u32::from_be_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
    let cert = bytes.get(4..4 + len)?;
    let key = bytes.get(4 + len..)?;
    if key.is_empty() {
        return None;
    }
    Some(kovra_proxy::Ca {
        cert_der: cert.to_vec(),
        key_der: Zeroizing::new(key.to_vec()),
    })
}
