//! Agent profiles: made by the human (`kovra agent create`), sealed in the system vault as one
//! record, each served on its own socket. A request on such a socket is decided with origin
//! `agent` and the profile's scope, whatever the client claims; proofs are never answered
//! there (an approval is parked for the human instead).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use kovra_core::agent::{AgentProfile, EgressPolicy};
use kovra_core::coord::Coordinate;
use kovra_core::model::VaultName;
use kovra_core::policy::{self, EnvScope, ProjectScope, Scope};
use kovra_core::store;
use kovra_proto::{AgentSpec, AgentView, ErrorCode, Reply, Request};

use super::{Caller, Daemon, Gate, Inner, system};
use crate::error::GateError;

/// Every profile, by name.
pub(crate) type Profiles = BTreeMap<String, Arc<AgentProfile>>;

/// Where the profiles live: one record of the system vault, which no scope addresses.
const PROFILES_RECORD: &str = "secret:kovra/agents/profiles";

/// The longest a profile may live when a TTL is given (a year).
const MAX_TTL_SECS: u64 = 366 * 24 * 3600;

fn record() -> Result<Coordinate, GateError> {
    Coordinate::parse(PROFILES_RECORD)
        .map_err(|e| GateError::new(ErrorCode::Internal, e.to_string()))
}

/// A scope that addresses nothing: what a locked daemon knows of a profile.
fn nothing() -> Scope {
    Scope {
        operations: BTreeSet::new(),
        projects: ProjectScope::Only(BTreeSet::new()),
        global: false,
        environments: EnvScope::Only(BTreeSet::new()),
    }
}

impl Daemon {
    /// The profile (and scope) a request is decided under. On an agent socket the profile
    /// replaces what the client claimed; the claim can only narrow it further.
    pub(super) fn bind_agent(
        &self,
        caller: &Caller,
        request: &Request,
        claimed: Scope,
    ) -> Result<(Option<Arc<AgentProfile>>, Scope), GateError> {
        let Some(name) = &caller.agent else {
            return Ok((None, claimed));
        };
        let refused = |what: &str| {
            GateError::new(
                ErrorCode::AgentSocketRefused,
                format!("`{what}` is not served on an agent profile's socket"),
            )
        };
        match request {
            Request::Init { .. } => return Err(refused("init")),
            Request::Unlock { .. } | Request::Verify { .. } => return Err(refused("unlock")),
            Request::Lock => return Err(refused("lock")),
            Request::Shutdown | Request::Handover => return Err(refused("daemon stop")),
            Request::SandboxOpen { .. } => return Err(refused("sandbox")),
            // The human's, however wide the profile: a full-scope profile would otherwise
            // make profiles (and loopback ports) of its own, revoke others', or park an
            // approval of an approval.
            Request::AgentCreate { .. } => return Err(refused("agent create")),
            Request::AgentRevoke { .. } => return Err(refused("agent revoke")),
            Request::Approve { .. } => return Err(refused("approve")),
            _ => {}
        }
        let now = store::now();
        let inner = self.lock_inner();
        let Some(profiles) = inner.profiles.clone() else {
            // Locked: nothing can be decided yet; `status` still says whose socket this is.
            let stub = AgentProfile {
                name: name.to_string(),
                scope: nothing(),
                egress: EgressPolicy::PinnedOnly,
                value_injections: BTreeSet::new(),
                created: 0,
                expires: None,
                egress_port: None,
                placeholder_seed: String::new(),
            };
            return Ok((Some(Arc::new(stub)), nothing()));
        };
        drop(inner);
        match profiles.get(&**name) {
            Some(p) if p.expired(now) => Err(GateError::new(
                ErrorCode::AgentRevoked,
                format!("agent profile `{name}` expired"),
            )),
            Some(p) => {
                self.agents.note_request(name, now);
                Ok((Some(Arc::clone(p)), p.scope.intersect(&claimed)))
            }
            None => Err(GateError::new(
                ErrorCode::AgentRevoked,
                format!("agent profile `{name}` was revoked"),
            )),
        }
    }

    /// Profile `name`'s grant id and proxy credential: made once, kept for the daemon's life.
    pub(super) fn grant_id(
        &self,
        name: &str,
        host: &super::egress::EgressHost,
    ) -> (u64, zeroize::Zeroizing<String>) {
        let mut ids = self.grant_ids.lock().unwrap_or_else(|p| p.into_inner());
        let (id, token) = ids
            .entry(name.to_string())
            .or_insert_with(|| host.new_grant());
        (*id, token.clone())
    }

    /// End what profiles whose TTL ran out still have: their grants (the proxy forgets their
    /// values; their egress ports and sandboxes' sockets serve nobody) and their sockets.
    /// Called by the daemon's watch thread; a request on such a socket meanwhile is refused
    /// by [`Daemon::bind_agent`] already.
    pub fn expire_profiles(&self) {
        let now = store::now();
        let mut inner = self.lock_inner();
        let Some(profiles) = inner.profiles.clone() else {
            return;
        };
        let expired: Vec<String> = profiles
            .values()
            .filter(|p| {
                p.expired(now)
                    && (inner.grants.contains_key(&p.name) || self.agents.is_open(&p.name))
            })
            .map(|p| p.name.clone())
            .collect();
        for name in expired {
            inner.grants.remove(&name);
            self.forget_grant_id(&name);
            self.agents.close(&name);
            if let Some(store) = inner.store.as_mut() {
                let _ = store.audit(kovra_core::audit::AuditEntry {
                    action: "agent-expired".into(),
                    vault: Some(VaultName::System.label()),
                    surface: "daemon".into(),
                    origin: "daemon".into(),
                    decision: "ok".into(),
                    agent: Some(name.clone()),
                    detail: Some(format!(
                        "agent profile {name}: its TTL ran out; grant dropped, socket closed"
                    )),
                    ..kovra_core::audit::AuditEntry::default()
                });
            }
        }
    }

    /// Forget profile `name`'s grant id and credential (revoked, or made anew): its next
    /// grant gets fresh ones.
    pub(super) fn forget_grant_id(&self, name: &str) {
        self.grant_ids
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
    }

    /// A gate for the daemon's own work after an unlock (no request, no proof, the digest of
    /// nothing: no challenge it could issue would fit a request).
    fn internal_gate<R>(
        &self,
        inner: &mut Inner,
        info: &super::Info,
        work: impl FnOnce(&mut Gate<'_>) -> R,
    ) -> Option<R> {
        let mut gate = Gate::over(self, inner, info, [0u8; 32], Vec::new(), None)?;
        Some(work(&mut gate))
    }

    /// After an unlock (or init): read the sealed profiles and serve exactly their sockets,
    /// and the grants of those with an egress port or a sandbox still running.
    pub(super) fn load_profiles(&self, inner: &mut Inner, info: &super::Info) {
        let Some(store) = inner.store.as_mut() else {
            return;
        };
        let loaded = record().and_then(|c| {
            system::load::<BTreeMap<String, AgentProfile>>(store, &c, "agent profiles")
        });
        let profiles: Profiles = match loaded {
            Ok(Some(map)) => map.into_iter().map(|(k, v)| (k, Arc::new(v))).collect(),
            Ok(None) => Profiles::new(),
            Err(_) => {
                tracing::warn!("agent profiles unreadable; serving none");
                Profiles::new()
            }
        };
        let now = store::now();
        let live: BTreeSet<String> = profiles
            .values()
            .filter(|p| !p.expired(now))
            .map(|p| p.name.clone())
            .collect();
        let serving: Vec<Arc<AgentProfile>> = profiles
            .values()
            .filter(|p| live.contains(&p.name))
            .filter(|p| p.egress_port.is_some() || self.agents.activity(&p.name).sandboxes > 0)
            .cloned()
            .collect();
        inner.profiles = Some(Arc::new(profiles));
        self.agents.reconcile(&live);
        self.internal_gate(inner, info, |gate| {
            for p in &serving {
                if let Err(e) = gate.refresh_grant(p) {
                    tracing::warn!(agent = %p.name, error = %e, "cannot serve the profile's grant");
                }
            }
        });
    }

    pub(super) fn agent_view(&self, p: &AgentProfile) -> AgentView {
        let activity = self.agents.activity(&p.name);
        AgentView {
            name: p.name.clone(),
            scope: p.scope.clone(),
            egress: p.egress.clone(),
            value_injections: p.value_injections.iter().cloned().collect(),
            created: p.created,
            expires: p.expires,
            socket: self.agents.socket_of(&p.name).display().to_string(),
            egress_port: p.egress_port,
            requests: activity.requests,
            last_request: activity.last_request,
            sandboxes: activity.sandboxes,
        }
    }
}

fn random_seed() -> Result<[u8; 32], GateError> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| {
        GateError::new(
            ErrorCode::Internal,
            format!("the system random generator failed: {e}"),
        )
    })?;
    Ok(seed)
}

/// A loopback port free now, for a profile's egress (kept for the profile's life).
fn free_port() -> Result<u16, GateError> {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| GateError::new(ErrorCode::IoError, format!("no free loopback port: {e}")))
}

/// A spec checked and turned into a profile.
fn profile_of(spec: AgentSpec, now: u64) -> Result<AgentProfile, GateError> {
    let invalid = |m: String| GateError::new(ErrorCode::AgentInvalid, m);
    AgentProfile::validate_name(&spec.name)
        .map_err(|e| invalid(format!("invalid agent profile name `{}`: {e}", spec.name)))?;
    if spec.operations.is_empty() {
        return Err(invalid(
            "an agent profile needs at least one operation".into(),
        ));
    }
    if let ProjectScope::Only(set) = &spec.projects {
        for p in set {
            kovra_core::coord::validate_name(p)
                .map_err(|e| invalid(format!("invalid project name `{p}`: {e}")))?;
        }
    }
    let egress = match spec.egress {
        EgressPolicy::Domains(list) => EgressPolicy::Domains(
            list.iter()
                .map(|d| kovra_core::agent::validate_domain(d).map_err(&invalid))
                .collect::<Result<_, _>>()?,
        ),
        other => other,
    };
    let value_injections = spec
        .value_injections
        .iter()
        .map(|e| AgentProfile::parse_value_injection(e).map_err(&invalid))
        .collect::<Result<_, _>>()?;
    let expires = match spec.ttl_secs {
        Some(0) => return Err(invalid("--ttl must be positive".into())),
        Some(t) if t > MAX_TTL_SECS => {
            return Err(invalid(
                "--ttl is at most a year; revoke and recreate to go longer".into(),
            ));
        }
        Some(t) => Some(now + t),
        None => None,
    };
    Ok(AgentProfile {
        name: spec.name,
        scope: Scope {
            operations: spec.operations,
            projects: spec.projects,
            global: spec.global,
            environments: spec.environments,
        },
        egress,
        value_injections,
        created: now,
        expires,
        egress_port: spec.egress_port,
        placeholder_seed: String::new(),
    })
}

impl Gate<'_> {
    fn profiles(&mut self) -> Result<BTreeMap<String, AgentProfile>, GateError> {
        Ok(system::load(self.store, &record()?, "agent profiles")?.unwrap_or_default())
    }

    fn save_profiles(
        &mut self,
        profiles: &BTreeMap<String, AgentProfile>,
        audit: kovra_core::audit::AuditEntry,
    ) -> Result<(), GateError> {
        system::save(
            self.store,
            &record()?,
            "agent profiles (kovra agent create)",
            None,
            profiles,
            audit,
        )?;
        *self.profiles_cache = Some(Arc::new(
            profiles
                .iter()
                .map(|(k, v)| (k.clone(), Arc::new(v.clone())))
                .collect(),
        ));
        Ok(())
    }

    pub(super) fn agent_create(&mut self, spec: AgentSpec) -> Result<Reply, GateError> {
        let replace = spec.replace;
        let profile = profile_of(spec, store::now())?;
        self.vault_gate(
            policy::VaultOperation::CreateAgent {
                widens: profile.widens(),
            },
            "agent-create",
        )
        .map_err(|e| {
            // The prompt is what the human reads before proving: name what they approve.
            let said = format!(
                "agent-create {}: {}; {}",
                profile.name,
                profile.widening().join("; "),
                e.message().trim_start_matches("agent-create: ")
            );
            if e.code() == ErrorCode::NeedsProof {
                e.saying(said)
            } else {
                e
            }
        })?;
        let mut all = self.profiles()?;
        let mut profile = profile;
        match all.get(&profile.name) {
            Some(_) if !replace => {
                return Err(GateError::new(
                    ErrorCode::AgentExists,
                    format!("an agent profile named `{}` exists", profile.name),
                ));
            }
            // Replacing keeps the placeholders (files may hold them).
            Some(old) => profile.placeholder_seed = old.placeholder_seed.clone(),
            // A new profile, perhaps under a name used before: new placeholders, and a new
            // proxy credential (whatever held the old one holds nothing of this one).
            None => {
                profile.placeholder_seed = hex::encode(random_seed()?);
                self.daemon.forget_grant_id(&profile.name);
            }
        }
        if profile.egress_port == Some(0) {
            profile.egress_port = Some(free_port()?);
        }
        let mut audit = self
            .info
            .entry("agent-create", None, Some(&VaultName::System), "allow");
        audit.detail = Some(format!(
            "{}: operations {}, egress {}{}",
            profile.name,
            profile
                .scope
                .operations
                .iter()
                .map(|o| format!("{o:?}").to_lowercase())
                .collect::<Vec<_>>()
                .join(","),
            profile.egress.describe(),
            if profile.value_injections.is_empty() {
                String::new()
            } else {
                format!(
                    ", values for {}",
                    profile
                        .value_injections
                        .iter()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(",")
                )
            }
        ));
        all.insert(profile.name.clone(), profile.clone());
        self.save_profiles(&all, audit)?;
        self.daemon.agents.open(&profile.name).map_err(|e| {
            GateError::new(
                ErrorCode::IoError,
                format!("the profile was saved, but its socket could not be opened: {e}"),
            )
        })?;
        if profile.egress_port.is_some() || self.grants.contains_key(&profile.name) {
            self.refresh_grant(&profile)?;
        }
        Ok(Reply::Agents {
            agents: vec![self.daemon.agent_view(&profile)],
        })
    }

    pub(super) fn agent_list(&mut self) -> Result<Reply, GateError> {
        self.vault_gate(policy::VaultOperation::ReadAgents, "agent-list")?;
        let all = self.profiles()?;
        // Under a profile, only itself.
        let mine = self.info.agent.as_ref().map(|p| p.name.clone());
        Ok(Reply::Agents {
            agents: all
                .values()
                .filter(|p| mine.as_ref().is_none_or(|m| *m == p.name))
                .map(|p| self.daemon.agent_view(p))
                .collect(),
        })
    }

    pub(super) fn agent_revoke(&mut self, name: &str) -> Result<Reply, GateError> {
        self.vault_gate(policy::VaultOperation::RevokeAgent, "agent-revoke")?;
        let mut all = self.profiles()?;
        if all.remove(name).is_none() {
            return Err(GateError::new(
                ErrorCode::AgentUnknown,
                format!("no agent profile named `{name}`"),
            ));
        }
        let mut audit = self
            .info
            .entry("agent-revoke", None, Some(&VaultName::System), "allow");
        audit.detail = Some(name.to_string());
        self.save_profiles(&all, audit)?;
        self.grants.remove(name);
        self.daemon.forget_grant_id(name);
        self.daemon.agents.close(name);
        Ok(Reply::Done {
            message: format!("agent profile {name} revoked; its socket is closed"),
        })
    }

    /// Give profile `name` a placeholder seed (sealed with the profile) and return it.
    pub(super) fn seed_profile(&mut self, name: &str) -> Result<Vec<u8>, GateError> {
        let seed = random_seed()?;
        let mut all = self.profiles()?;
        if let Some(p) = all.get_mut(name) {
            p.placeholder_seed = hex::encode(seed);
        }
        let mut audit = self
            .info
            .entry("agent-seed", None, Some(&VaultName::System), "ok");
        audit.detail = Some(name.to_string());
        self.save_profiles(&all, audit)?;
        Ok(seed.to_vec())
    }

    /// Rebuild every live grant after a change to records (a value, a pin, a sensitivity).
    pub(super) fn refresh_grants(&mut self) {
        let names: Vec<String> = self.grants.keys().cloned().collect();
        for name in names {
            match self.profile_named(&name) {
                Ok(p) => {
                    if let Err(e) = self.refresh_grant(&p) {
                        tracing::warn!(agent = %name, error = %e, "cannot refresh the profile's grant");
                        self.grants.remove(&name);
                    }
                }
                Err(_) => {
                    self.grants.remove(&name);
                }
            }
        }
    }

    /// What `kovra doctor` says of the profiles that loosen the defaults: value opt-ins
    /// (values their programs can print) and open egress. (kind, message) pairs.
    pub(super) fn profile_findings(&mut self) -> Vec<(&'static str, String)> {
        let Ok(all) = self.profiles() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for p in all.values() {
            if !p.value_injections.is_empty() {
                out.push((
                    "agent-value-opt-in",
                    format!(
                        "agent profile {}: programs its agents start receive the values of {} (an agent can print them)",
                        p.name,
                        p.value_injections.iter().cloned().collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
            if p.egress == EgressPolicy::Any {
                out.push((
                    "agent-egress-any",
                    format!(
                        "agent profile {}: its sandboxes may connect to any host (through the proxy)",
                        p.name
                    ),
                ));
            }
        }
        out
    }

    /// `kovra agent env NAME`: the profile's placeholders for a refs file.
    pub(super) fn agent_env(
        &mut self,
        agent: &str,
        refs: &kovra_proto::RefsSource,
    ) -> Result<Reply, GateError> {
        self.vault_gate(policy::VaultOperation::ReadAgents, "agent-env")?;
        if let Some(mine) = &self.info.agent
            && mine.name != agent
        {
            return Err(GateError::new(
                ErrorCode::AgentUnknown,
                format!("no agent profile named `{agent}`"),
            ));
        }
        let profile = self.profile_named(agent)?;
        let env = self.grant_env(&profile, refs)?;
        Ok(Reply::AgentEnv {
            agent: profile.name,
            variables: env.variables,
            skipped: env.skipped,
            egress_port: profile.egress_port,
        })
    }

    /// The profile named `name`, for a sandbox or a setup; `agent-unknown` if none.
    pub(super) fn profile_named(&mut self, name: &str) -> Result<AgentProfile, GateError> {
        let now = store::now();
        match self.profiles()?.remove(name) {
            Some(p) if p.expired(now) => Err(GateError::new(
                ErrorCode::AgentRevoked,
                format!("agent profile `{name}` expired"),
            )),
            Some(p) => Ok(p),
            None => Err(GateError::new(
                ErrorCode::AgentUnknown,
                format!("no agent profile named `{name}`"),
            )
            .hint("create it with `kovra agent create NAME`")),
        }
    }
}
