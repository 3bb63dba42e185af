//! The one policy decision. Every surface gathers facts, the daemon calls [`decide`], and
//! nothing else in kovra decides whether a record may be read, used or changed.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::coord::Pin;
use crate::model::{
    Operation, OperationClass, Origin, RecordKind, Sensitivity, Surface, VaultName,
};

mod allowed;
mod canary;
mod grant;
mod proofs;
mod reason;
mod rules;
mod standing;
mod vault;

pub use allowed::{Allowed, Obligations, authorize};
pub use canary::{audit_shows, trips_canary};
pub use grant::{
    DEFAULT_GRANT_MINUTES, Grant, GrantKind, GrantSpecFacts, MAX_GRANT_MINUTES, RunFacts,
    decide_grant, grant_stands_in,
};
pub use proofs::{
    ProofKind, ProofKinds, ProofNeed, ProofRules, accepted_proofs, parks_for_passkey,
};
pub use reason::Reason;
pub use rules::{
    DESCRIPTION_MAX_CHARS, KeyPart, NameFacts, Offered, birth_sensitivity, delivery_for,
    fallback_refused, imported_metadata, injected_facts, line_enforced, parks_for_approval,
    production_floor, relocation, run_allowed,
};
pub use standing::{Confirm, KeyRuleFacts, StandingRules, confirm_mode};
pub use vault::{VaultOperation, decide_vault};

/// Which projects a scope may address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "names")]
pub enum ProjectScope {
    All,
    Only(BTreeSet<String>),
}

/// Which environments a scope may address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "names")]
pub enum EnvScope {
    All,
    NonProduction,
    Only(BTreeSet<String>),
    /// The listed environments, and only those that are not production.
    OnlyNonProduction(BTreeSet<String>),
}

/// What a session may address and do. A scope only ever narrows what policy allows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    pub operations: BTreeSet<OperationClass>,
    pub projects: ProjectScope,
    /// Whether the global vault is addressable.
    pub global: bool,
    pub environments: EnvScope,
}

impl Scope {
    /// The whole vault: what a human at the CLI works with.
    pub fn full() -> Self {
        Scope {
            operations: OperationClass::ALL.into_iter().collect(),
            projects: ProjectScope::All,
            global: true,
            environments: EnvScope::All,
        }
    }

    /// Whether a vault may be addressed at all (whatever the environment).
    pub fn addresses_vault(&self, vault: &VaultName) -> bool {
        match vault {
            VaultName::Global => self.global,
            VaultName::System => false,
            VaultName::Project(p) => match &self.projects {
                ProjectScope::All => true,
                ProjectScope::Only(set) => set.contains(p),
            },
        }
    }

    /// Whether a record in `vault` and `env` may be addressed at all.
    pub fn addresses(&self, vault: &VaultName, env: &str, production: bool) -> bool {
        let env_ok = match &self.environments {
            EnvScope::All => true,
            EnvScope::NonProduction => !production,
            EnvScope::Only(set) => set.contains(env),
            EnvScope::OnlyNonProduction(set) => set.contains(env) && !production,
        };
        self.addresses_vault(vault) && env_ok
    }

    /// Whether this scope is the whole vault (what vault-wide operations need).
    pub fn is_full(&self) -> bool {
        self.projects == ProjectScope::All && self.global && self.environments == EnvScope::All
    }

    /// Narrow this scope by another: the result addresses only what both address.
    pub fn intersect(&self, other: &Scope) -> Scope {
        let operations = self
            .operations
            .intersection(&other.operations)
            .copied()
            .collect();
        let projects = match (&self.projects, &other.projects) {
            (ProjectScope::All, p) | (p, ProjectScope::All) => p.clone(),
            (ProjectScope::Only(a), ProjectScope::Only(b)) => {
                ProjectScope::Only(a.intersection(b).cloned().collect())
            }
        };
        let environments = match (&self.environments, &other.environments) {
            (EnvScope::All, e) | (e, EnvScope::All) => e.clone(),
            (EnvScope::NonProduction, EnvScope::NonProduction) => EnvScope::NonProduction,
            (EnvScope::Only(a), EnvScope::Only(b)) => {
                EnvScope::Only(a.intersection(b).cloned().collect())
            }
            (EnvScope::Only(a), EnvScope::NonProduction)
            | (EnvScope::NonProduction, EnvScope::Only(a))
            | (EnvScope::OnlyNonProduction(a), EnvScope::NonProduction)
            | (EnvScope::NonProduction, EnvScope::OnlyNonProduction(a)) => {
                EnvScope::OnlyNonProduction(a.clone())
            }
            (
                EnvScope::OnlyNonProduction(a),
                EnvScope::Only(b) | EnvScope::OnlyNonProduction(b),
            )
            | (EnvScope::Only(a), EnvScope::OnlyNonProduction(b)) => {
                EnvScope::OnlyNonProduction(a.intersection(b).cloned().collect())
            }
        };
        Scope {
            operations,
            projects,
            global: self.global && other.global,
            environments,
        }
    }
}

/// The vaults a coordinate may resolve in, in order. A project scope reaches the global vault
/// only when the global vault is in scope; a `secret://global/` pin reaches nothing else.
pub fn resolution_order(pin: Pin, project: Option<&str>, scope: &Scope) -> Vec<VaultName> {
    match pin {
        Pin::Global => vec![VaultName::Global],
        Pin::Scope => {
            let mut order = Vec::with_capacity(2);
            if let Some(p) = project {
                order.push(VaultName::Project(p.to_string()));
            }
            if scope.global {
                order.push(VaultName::Global);
            }
            order
        }
    }
}

/// The stored facts of an existing record that policy depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordFacts {
    pub sensitivity: Sensitivity,
    pub revealable: bool,
    /// What the record holds: an SSH private key is never revealed to an agent.
    pub kind: RecordKind,
}

/// Whether a proof of presence for this exact request was verified by the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    None,
    Proven,
    /// A session grant the human made with a proof (`kovra approve ID --grant 15m`) covers
    /// this request. It stands in for a proof only where [`grant_stands_in`] says so (a
    /// non-production injection); everywhere else it is no presence at all.
    Granted,
}

/// One request, as facts. Built by the daemon from what the surface sent and what the store holds.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub operation: Operation,
    pub vault: &'a VaultName,
    pub env: &'a str,
    /// Whether `env` is a production environment (per the vault's list).
    pub production: bool,
    /// `None` when no record exists at the coordinate.
    pub record: Option<RecordFacts>,
    /// For `ChangeSensitivity`: the new sensitivity.
    pub new_sensitivity: Option<Sensitivity>,
    /// For `ChangeRevealable`: the new flag.
    pub new_revealable: Option<bool>,
    pub surface: Surface,
    pub origin: Origin,
    pub presence: Presence,
    /// For `Inject`: whether the receiving executable is on the allowlist (pinned path and
    /// content hash). Only allowlisted executables ever receive high or production values.
    pub allowlisted: bool,
    /// For `Broker` and `Bind`: the provider the record is pinned to and the one the request
    /// names. For `Inject`: the record's pin (target = the pin itself).
    pub pin: Option<PinFacts<'a>>,
    /// For `Inject`: the value itself, or a placeholder (see [`delivery_for`]).
    pub delivery: Delivery,
    /// The agent profile the request arrived under (an agent socket), if any.
    pub profile: Option<ProfileFacts>,
    /// For `Sign`: where the key may sign and where this signature goes.
    pub destination: Option<Destination<'a>>,
    /// For `Sign` by the broker (`kovra ssh`): the host and the command the signature logs in for.
    pub remote: Option<RemoteFacts>,
    /// The record at the coordinate is a canary (`kovra canary create`): a realistic fake
    /// planted to catch misuse. The daemon sets this from its sealed canary set, never from
    /// the record's metadata (which must look like any other record's).
    pub canary: bool,
}

/// A brokered ssh command (`kovra ssh`, MCP `ssh`), as the daemon established it against the
/// host's standing rules (`crate::sshhost`). The host's key is already pinned: a host nobody
/// accepted is refused before any decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoteFacts {
    /// The host is tagged production.
    pub production: bool,
    /// The command matches one of the host's patterns.
    pub command_allowed: bool,
    /// The login user is one of the host's users.
    pub user_allowed: bool,
}

/// Where an SSH key may sign, and where a signature goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Destination<'a> {
    /// The host key fingerprints the record restricts the key to; empty: no restriction.
    pub allowed: &'a [String],
    /// The host key of the session the signature is for, as a verified
    /// `session-bind@openssh.com` established it; `None` without one (`kovra sign`,
    /// `ssh-keygen -Y sign`, a client too old to bind).
    pub bound: Option<&'a str>,
    /// The ssh-agent's standing rules (`agent.toml`) for this key: none for `kovra sign`.
    pub rules: StandingRules<'a>,
}

/// What an agent profile says about the record at hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProfileFacts {
    /// The human opted this record (or its group) in to value injections for the profile.
    pub value_opt_in: bool,
}

/// How an injected record reaches a run's child: the value itself, a placeholder that the
/// egress proxy swaps for the value on the wire, only towards the record's pinned provider,
/// or (a database connection record, `#url`) a URL of kovra's database proxy with a token of
/// the run's, the proxy authenticating to the database itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Delivery {
    #[default]
    Value,
    Placeholder,
    Proxied,
}

/// Whether a run's connections through the database proxy open read-only
/// (`default_transaction_read_only`): an agent's are; origin only tightens.
pub fn proxied_read_only(origin: Origin) -> bool {
    origin == Origin::Agent
}

/// What the person starting a run asked for (`--values`, `--placeholders`, or neither).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeliveryChoice {
    #[default]
    Default,
    Values,
    Placeholders,
}

/// A record's provider pin and the provider a request wants to use it with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PinFacts<'a> {
    /// Bound explicitly, or claimed by the record's name; `None` when neither.
    pub pinned: Option<&'a str>,
    pub target: &'a str,
}

/// The outcome of [`decide`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    NeedsProof(Reason),
    Deny(Reason),
    /// Out of scope or absent: answered identically, so scope does not leak existence.
    Unaddressable,
}

impl Decision {
    /// A total order from most to least permissive, used to combine several decisions.
    fn strictness(self) -> u8 {
        match self {
            Decision::Allow => 0,
            Decision::NeedsProof(_) => 1,
            Decision::Deny(_) => 2,
            Decision::Unaddressable => 3,
        }
    }

    /// The stricter of two decisions (the first one wins a tie).
    pub fn and(self, other: Decision) -> Decision {
        if other.strictness() > self.strictness() {
            other
        } else {
            self
        }
    }

    /// Several decisions about one request (each part of a change), combined with [`and`]:
    /// the strictest, the first of equals; `Allow` when there are none.
    ///
    /// [`and`]: Decision::and
    pub fn all(decisions: impl IntoIterator<Item = Decision>) -> Decision {
        decisions.into_iter().fold(Decision::Allow, Decision::and)
    }

    /// Decisions about several records used together (the lines of one run): the first
    /// `Deny`, else the first `NeedsProof`, else `Allow`. `Unaddressable` does not count
    /// here, since a line may fall back; [`line_enforced`] judges each line.
    pub fn worst(decisions: impl IntoIterator<Item = Decision>) -> Decision {
        decisions
            .into_iter()
            .fold(Decision::Allow, |acc, d| match (acc, d) {
                (Decision::Deny(_), _) => acc,
                (_, Decision::Deny(r)) => Decision::Deny(r),
                (Decision::NeedsProof(_), _) => acc,
                (_, d @ Decision::NeedsProof(_)) => d,
                _ => acc,
            })
    }
}

/// Decide one request under one scope. Pure: the same facts always give the same answer.
pub fn decide(req: &Request<'_>, scope: &Scope) -> Decision {
    // 1. Scope first: out of scope is indistinguishable from absent.
    if !scope.addresses(req.vault, req.env, req.production) {
        return Decision::Unaddressable;
    }
    let record = match (req.record, req.operation) {
        (Some(r), _) => r,
        (None, Operation::Create | Operation::RequestValue | Operation::Import) => RecordFacts {
            sensitivity: Sensitivity::Low,
            revealable: false,
            kind: RecordKind::Secret,
        },
        (None, _) => return Decision::Unaddressable,
    };
    // 2. A canary: any use trips it, whatever else holds (the surface answers as for a
    // missing record). Reading its metadata, and the human's changes to it, stay as for
    // any record, so that nothing sets a canary apart.
    if req.canary && req.record.is_some() && trips_canary(req.operation) {
        return Decision::Deny(Reason::CanaryTripped);
    }
    // 3. Operation.
    if !scope.operations.contains(&req.operation.class()) {
        return Decision::Deny(Reason::OperationOutOfScope);
    }
    let proven = req.presence == Presence::Proven
        || (req.presence == Presence::Granted && grant_stands_in(req));
    let protected = record.sensitivity >= Sensitivity::High || req.production;
    let needs = |reason| {
        if proven {
            Decision::Allow
        } else {
            Decision::NeedsProof(reason)
        }
    };
    match req.operation {
        Operation::Metadata | Operation::EditDescription | Operation::RequestValue => {
            Decision::Allow
        }
        Operation::Fingerprint => {
            // A terminal is no proof (an agent can fake one): a human also proves presence.
            if !protected {
                Decision::Allow
            } else if req.origin == Origin::Agent {
                Decision::Deny(Reason::AgentCannotFingerprintProtected)
            } else {
                needs(Reason::FingerprintNeedsPresence)
            }
        }
        Operation::Create if req.record.is_none() => Decision::Allow,
        Operation::Create | Operation::Update => {
            if protected {
                needs(Reason::OverwriteProtectedNeedsPresence)
            } else {
                Decision::Allow
            }
        }
        Operation::Delete => {
            if protected {
                needs(Reason::DeleteProtectedNeedsPresence)
            } else {
                Decision::Allow
            }
        }
        // A connection record reaches its database through kovra (the coming db proxy),
        // never a process: a connection URL in an environment is printed by every tool that
        // reports its configuration, and a process holding it holds the password.
        // Through the proxy (`#url`) the child holds a token of its run's, never the
        // password: as a query, allowed, and attended on production.
        Operation::Inject if record.kind.is_database() => match req.delivery {
            Delivery::Proxied if req.production => needs(Reason::ProxiedProductionNeedsPresence),
            Delivery::Proxied => Decision::Allow,
            Delivery::Value | Delivery::Placeholder => {
                Decision::Deny(Reason::ConnectionNotInjected)
            }
        },
        Operation::Inject if req.delivery == Delivery::Proxied => {
            Decision::Deny(Reason::ProxyNeedsConnection)
        }
        Operation::Inject => {
            let pinned = req.pin.is_some_and(|p| p.pinned.is_some());
            match req.delivery {
                // The child never holds the value: it goes only to the pinned provider, as a
                // brokered call's does, so the allowlist (which guards the child) is moot.
                Delivery::Placeholder if !pinned => Decision::Deny(Reason::NotBoundToProvider),
                Delivery::Placeholder if req.production => {
                    needs(Reason::PlaceholderProductionNeedsPresence)
                }
                Delivery::Placeholder => Decision::Allow,
                // (Decided above for every record kind.)
                Delivery::Proxied => Decision::Deny(Reason::ProxyNeedsConnection),
                Delivery::Value => {
                    let value = if !protected {
                        Decision::Allow
                    } else if !req.allowlisted {
                        Decision::Deny(Reason::ExecutableNotAllowlisted)
                    } else {
                        needs(Reason::InjectNeedsPresence)
                    };
                    // A program an agent started can print what it was given, in any encoding:
                    // for a profile, handing it a value it could not reveal is a reveal. It
                    // could reveal only a revealable, unprotected record, and only with the
                    // reveal class in its scope.
                    let could_reveal = record.revealable
                        && !protected
                        && record.sensitivity != Sensitivity::InjectOnly
                        && scope.operations.contains(&OperationClass::Reveal);
                    let reveal_by_proxy = req.profile.is_some_and(|p| !p.value_opt_in)
                        && !req.allowlisted
                        && !could_reveal;
                    let value = if reveal_by_proxy {
                        value.and(Decision::Deny(Reason::AgentInjectionIsReveal))
                    } else {
                        value
                    };
                    if pinned && req.origin == Origin::Agent {
                        value.and(needs(Reason::AgentValueOfPinnedNeedsPresence))
                    } else {
                        value
                    }
                }
            }
        }
        Operation::Reveal => {
            // 4. Sensitivity, environment and origin.
            if record.sensitivity == Sensitivity::InjectOnly {
                Decision::Deny(Reason::InjectOnlyNeverRevealed)
            } else if record.kind == RecordKind::SshKey {
                // A private key is the identity itself: an agent signs with it through the
                // daemon, never holds it; a human sees it only after a proof, whatever the
                // record's sensitivity and flag say.
                match req.origin {
                    Origin::Agent => Decision::Deny(Reason::AgentNeverGetsPrivateKey),
                    Origin::Human => needs(Reason::RevealNeedsPresence),
                }
            } else if protected || !record.revealable {
                match req.origin {
                    Origin::Agent => Decision::Deny(Reason::AgentCannotRevealProtected),
                    Origin::Human => needs(Reason::RevealNeedsPresence),
                }
            } else {
                Decision::Allow
            }
        }
        Operation::Code => {
            // A code is short-lived but still a login factor: agents get codes only from low
            // records; a human gets low and medium freely, high and production with a proof.
            if record.sensitivity == Sensitivity::InjectOnly {
                Decision::Deny(Reason::InjectOnlyNeverRevealed)
            } else if req.origin == Origin::Agent {
                if record.sensitivity == Sensitivity::Low && !req.production {
                    Decision::Allow
                } else {
                    Decision::Deny(Reason::AgentCannotGetProtectedCode)
                }
            } else if protected {
                needs(Reason::CodeNeedsPresence)
            } else {
                Decision::Allow
            }
        }
        Operation::ChangeSensitivity => {
            let new = req.new_sensitivity.unwrap_or(record.sensitivity);
            if req.production && new < Sensitivity::High {
                Decision::Deny(Reason::ProductionFloorIsHigh)
            } else if new < record.sensitivity {
                needs(Reason::LoweringNeedsPresence)
            } else {
                Decision::Allow
            }
        }
        Operation::ChangeRevealable => {
            if req.new_revealable == Some(true) && !record.revealable {
                needs(Reason::SettingRevealableNeedsPresence)
            } else {
                Decision::Allow
            }
        }
        // A query runs only on a connection record, and only the rows come back. Reading is
        // the record's use (as a brokered call's); production is attended; a write is
        // attended whoever asks (a terminal is no proof).
        Operation::Query | Operation::QueryWrite if !record.kind.is_database() => {
            Decision::Deny(Reason::QueryNeedsConnection)
        }
        Operation::Query if req.production => needs(Reason::QueryProductionNeedsPresence),
        Operation::Query => Decision::Allow,
        Operation::QueryWrite => needs(Reason::QueryWriteNeedsPresence),
        // An SSH private key is never an API credential: it signs, and is sent nowhere.
        Operation::Broker | Operation::Bind if record.kind == RecordKind::SshKey => {
            Decision::Deny(Reason::SshKeyNeverBrokered)
        }
        // Nor is a database connection: its password goes to its database, not to an API.
        Operation::Broker | Operation::Bind if record.kind.is_database() => {
            Decision::Deny(Reason::ConnectionNeverBrokered)
        }
        Operation::Broker => {
            // The value goes only to its pinned provider; what the caller names cannot move it.
            match req.pin {
                Some(PinFacts {
                    pinned: Some(p),
                    target,
                }) if p == target => {
                    if req.production {
                        needs(Reason::BrokerProductionNeedsPresence)
                    } else {
                        Decision::Allow
                    }
                }
                Some(PinFacts {
                    pinned: Some(_), ..
                }) => Decision::Deny(Reason::PinnedToOtherProvider),
                _ => Decision::Deny(Reason::NotBoundToProvider),
            }
        }
        Operation::Sign => {
            // A key restricted to some servers signs only for a session bound to one of them:
            // no proof widens that, since the restriction is the human's own standing rule.
            let restricted = req.destination.filter(|d| !d.allowed.is_empty());
            // A signature gives nothing of the key away, but it acts as its owner: signing
            // with a high or production key is attended, as injecting it would be. An agent
            // has no terminal, so its request is parked for the human to approve.
            let key = if let Some(d) = restricted
                && d.bound.is_none()
            {
                Decision::Deny(Reason::SignNeedsBoundHost)
            } else if let Some(d) = restricted
                && !d.bound.is_some_and(|b| d.allowed.iter().any(|a| a == b))
            {
                Decision::Deny(Reason::SignHostNotAllowed)
            } else {
                standing::sign(req, protected, proven)
            };
            key.and(remote_decision(req, proven))
        }
        Operation::Export => {
            if req.production {
                Decision::Deny(Reason::ProductionNeverShared)
            } else if record.sensitivity == Sensitivity::InjectOnly {
                Decision::Deny(Reason::InjectOnlyNeverShared)
            } else if record.kind == RecordKind::SshKey {
                Decision::Deny(Reason::SshKeyNeverShared)
            } else if record.kind.is_database() {
                // A package carries no record kind yet: received, it would be a plain secret,
                // injectable where the connection is not.
                Decision::Deny(Reason::ConnectionNeverShared)
            } else {
                needs(Reason::ExportNeedsPresence)
            }
        }
        // Leaving must be possible: a human takes a non-production environment's values
        // with a proof. Production values leave one at a time, by `reveal`.
        Operation::DotenvExport => {
            if req.production {
                Decision::Deny(Reason::ProductionNeverExported)
            } else if req.origin == Origin::Agent {
                Decision::Deny(Reason::DotenvExportHumanOnly)
            } else if record.sensitivity == Sensitivity::InjectOnly {
                Decision::Deny(Reason::InjectOnlyNeverRevealed)
            } else {
                needs(Reason::DotenvExportNeedsPresence)
            }
        }
        Operation::Import => {
            if req.production {
                Decision::Deny(Reason::ProductionNeverShared)
            } else if req.record.is_some() {
                needs(Reason::ImportOverwriteNeedsPresence)
            } else {
                Decision::Allow
            }
        }
        Operation::Bind => match req.pin {
            Some(PinFacts {
                pinned: Some(p),
                target,
            }) if p == target => Decision::Allow,
            Some(PinFacts {
                pinned: Some(_), ..
            }) => Decision::Deny(Reason::PinnedToOtherProvider),
            _ => needs(Reason::BindNeedsPresence),
        },
    }
}

/// The host's part of a brokered ssh command: production hosts are attended; only the
/// commands the host's patterns allow run unattended, as one of its users. For everyone: a
/// terminal is no proof (an agent can fake one), so origin cannot widen the patterns.
fn remote_decision(req: &Request<'_>, proven: bool) -> Decision {
    let Some(remote) = req.remote else {
        return Decision::Allow;
    };
    let needs = |reason| {
        if proven {
            Decision::Allow
        } else {
            Decision::NeedsProof(reason)
        }
    };
    let host = if remote.production {
        needs(Reason::SshProductionNeedsPresence)
    } else {
        Decision::Allow
    };
    let command = if !(remote.command_allowed && remote.user_allowed) {
        needs(Reason::SshCommandNeedsApproval)
    } else {
        Decision::Allow
    };
    host.and(command)
}
