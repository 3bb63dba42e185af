//! The cases the policy laws range over: one request's owned facts, and strategies drawing
//! every operation, sensitivity, flag, surface, origin, presence, pin and delivery.
#![allow(dead_code)]

use std::collections::BTreeSet;

use kovra_core::model::{
    Operation, OperationClass, Origin, RecordKind, Sensitivity, Surface, VaultName,
};
use kovra_core::policy::{
    Confirm, Decision, Delivery, Destination, EnvScope, KeyRuleFacts, PinFacts, Presence,
    ProfileFacts, ProjectScope, RecordFacts, RemoteFacts, Request, Scope, StandingRules, decide,
};
use proptest::prelude::*;

/// At least 2048 per the test plan; `decide` is cheap, so take twice that.
pub const CASES: u32 = 4096;

/// Project names a request may name; scopes draw from these plus one no request uses.
pub const PROJECTS: [&str; 3] = ["app", "api", "web"];
pub const SCOPE_PROJECTS: [&str; 4] = ["app", "api", "web", "other"];
/// Environment names a request may name; scopes draw from these plus one no request uses.
pub const ENVS: [&str; 4] = ["dev", "staging", "prod", "production"];
pub const SCOPE_ENVS: [&str; 5] = ["dev", "staging", "prod", "production", "qa"];

pub const SURFACES: [Surface; 6] = [
    Surface::Cli,
    Surface::Mcp,
    Surface::Web,
    Surface::SshAgent,
    Surface::Broker,
    Surface::Proxy,
];
pub const DELIVERIES: [Delivery; 3] = [Delivery::Value, Delivery::Placeholder, Delivery::Proxied];
pub const ORIGINS: [Origin; 2] = [Origin::Human, Origin::Agent];
pub const PRESENCES: [Presence; 2] = [Presence::None, Presence::Proven];
pub const PROVIDERS: [&str; 3] = ["openai", "github", "internal-api"];

/// One request with owned facts, so strategies can produce it and properties can vary it.
#[derive(Debug, Clone)]
pub struct Case {
    pub operation: Operation,
    pub vault: VaultName,
    pub env: String,
    pub production: bool,
    pub record: Option<RecordFacts>,
    pub new_sensitivity: Option<Sensitivity>,
    pub new_revealable: Option<bool>,
    pub surface: Surface,
    pub origin: Origin,
    pub presence: Presence,
    pub allowlisted: bool,
    /// For broker and bind: the record's pin and the provider the request names.
    pub pinned: Option<&'static str>,
    pub target: &'static str,
    /// For inject: the value or a placeholder.
    pub delivery: Delivery,
    /// The agent profile the request arrived under, if any.
    pub profile: Option<ProfileFacts>,
    /// For sign: the host keys the record allows, and the session's bound host key.
    pub allowed_hosts: Vec<String>,
    pub bound_host: Option<String>,
    /// For a brokered ssh command: the host's facts.
    pub remote: Option<RemoteFacts>,
    /// For sign: the ssh-agent's standing rules (`agent.toml`) for the key.
    pub rules: RulesCase,
    /// The record is a canary.
    pub canary: bool,
}

/// The standing rules of a sign case, owned: the accepted state's and the file's rule for
/// the key, and whether the connection already holds an approval for it.
#[derive(Debug, Clone, Default)]
pub struct RulesCase {
    pub accepted_confirm: Option<Confirm>,
    pub accepted_hosts: Option<Vec<String>>,
    pub file_confirm: Option<Confirm>,
    pub file_hosts: Option<Vec<String>>,
    pub session_approved: bool,
}

impl RulesCase {
    pub fn facts(&self) -> StandingRules<'_> {
        StandingRules {
            accepted: KeyRuleFacts {
                confirm: self.accepted_confirm,
                hosts: self.accepted_hosts.as_deref(),
            },
            file: KeyRuleFacts {
                confirm: self.file_confirm,
                hosts: self.file_hosts.as_deref(),
            },
            session_approved: self.session_approved,
        }
    }
}

impl Case {
    pub fn request(&self) -> Request<'_> {
        Request {
            operation: self.operation,
            vault: &self.vault,
            env: &self.env,
            production: self.production,
            record: self.record,
            new_sensitivity: self.new_sensitivity,
            new_revealable: self.new_revealable,
            surface: self.surface,
            origin: self.origin,
            presence: self.presence,
            allowlisted: self.allowlisted,
            pin: Some(PinFacts {
                pinned: self.pinned,
                target: self.target,
            }),
            delivery: self.delivery,
            profile: self.profile,
            destination: Some(Destination {
                allowed: &self.allowed_hosts,
                bound: self.bound_host.as_deref(),
                rules: self.rules.facts(),
            }),
            remote: self.remote,
            canary: self.canary,
        }
    }

    pub fn decide(&self, scope: &Scope) -> Decision {
        decide(&self.request(), scope)
    }

    pub fn addressed_by(&self, scope: &Scope) -> bool {
        scope.addresses(&self.vault, &self.env, self.production)
    }

    /// The same request with one or more facts changed.
    pub fn with(&self, change: impl FnOnce(&mut Case)) -> Case {
        let mut c = self.clone();
        change(&mut c);
        c
    }
}

pub fn arb_operation() -> impl Strategy<Value = Operation> {
    prop::sample::select(Operation::ALL.to_vec())
}

pub fn arb_sensitivity() -> impl Strategy<Value = Sensitivity> {
    prop::sample::select(Sensitivity::ALL.to_vec())
}

pub fn arb_facts() -> impl Strategy<Value = RecordFacts> {
    let kinds = vec![
        RecordKind::Secret,
        RecordKind::Totp,
        RecordKind::SshKey,
        RecordKind::Postgres,
    ];
    (
        arb_sensitivity(),
        any::<bool>(),
        prop::sample::select(kinds),
    )
        .prop_map(|(sensitivity, revealable, kind)| RecordFacts {
            sensitivity,
            revealable,
            kind,
        })
}

pub fn arb_vault() -> impl Strategy<Value = VaultName> {
    prop_oneof![
        Just(VaultName::Global),
        prop::sample::select(PROJECTS.to_vec()).prop_map(|p| VaultName::Project(p.to_string())),
    ]
}

pub fn arb_env() -> impl Strategy<Value = String> {
    prop::sample::select(ENVS.to_vec()).prop_map(str::to_string)
}

pub fn arb_case() -> impl Strategy<Value = Case> {
    (
        arb_operation(),
        arb_vault(),
        arb_env(),
        any::<bool>(),
        prop::option::of(arb_facts()),
        prop::option::of(arb_sensitivity()),
        prop::option::of(any::<bool>()),
        prop::sample::select(SURFACES.to_vec()),
        prop::sample::select(ORIGINS.to_vec()),
        prop::sample::select(PRESENCES.to_vec()),
        any::<bool>(),
        (
            prop::option::of(prop::sample::select(PROVIDERS.to_vec())),
            prop::sample::select(PROVIDERS.to_vec()),
            prop::sample::select(DELIVERIES.to_vec()),
            prop::option::of(any::<bool>().prop_map(|value_opt_in| ProfileFacts { value_opt_in })),
            arb_rules(),
        ),
    )
        .prop_map(
            |(
                operation,
                vault,
                env,
                production,
                record,
                new_sensitivity,
                new_revealable,
                surface,
                origin,
                presence,
                allowlisted,
                (pinned, target, delivery, profile, rules),
            )| Case {
                operation,
                vault,
                env,
                production,
                record,
                new_sensitivity,
                new_revealable,
                surface,
                origin,
                presence,
                allowlisted,
                pinned,
                target,
                delivery,
                profile,
                allowed_hosts: Vec::new(),
                bound_host: None,
                remote: None,
                rules,
                canary: false,
            },
        )
}

/// Host key fingerprints sign cases draw from.
pub const HOST_KEYS: [&str; 2] = [
    "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    "SHA256:BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB",
];
pub const CONFIRMS: [Confirm; 3] = [
    Confirm::Never,
    Confirm::OncePerSession,
    Confirm::EverySignature,
];

/// No list, or a list of some of [`HOST_KEYS`] (possibly empty).
pub fn arb_host_list() -> impl Strategy<Value = Option<Vec<String>>> {
    prop::option::of(prop::sample::subsequence(HOST_KEYS.to_vec(), 0..=2))
        .prop_map(|h| h.map(|v| v.into_iter().map(str::to_string).collect()))
}

/// Any standing rules for a key: each source's confirmation and host list, and whether the
/// connection holds an approval.
pub fn arb_rules() -> impl Strategy<Value = RulesCase> {
    let confirm = || prop::option::of(prop::sample::select(CONFIRMS.to_vec()));
    (
        confirm(),
        arb_host_list(),
        confirm(),
        arb_host_list(),
        any::<bool>(),
    )
        .prop_map(
            |(accepted_confirm, accepted_hosts, file_confirm, file_hosts, session_approved)| {
                RulesCase {
                    accepted_confirm,
                    accepted_hosts,
                    file_confirm,
                    file_hosts,
                    session_approved,
                }
            },
        )
}

/// A case about an existing record.
pub fn arb_existing_case() -> impl Strategy<Value = Case> {
    (arb_case(), arb_facts()).prop_map(|(c, facts)| c.with(|c| c.record = Some(facts)))
}

pub fn name_set(names: &'static [&'static str]) -> impl Strategy<Value = BTreeSet<String>> {
    prop::sample::subsequence(names.to_vec(), 0..=names.len())
        .prop_map(|v| v.into_iter().map(str::to_string).collect())
}

pub fn arb_random_scope() -> impl Strategy<Value = Scope> {
    let operations = prop::sample::subsequence(OperationClass::ALL.to_vec(), 0..=4)
        .prop_map(|v| v.into_iter().collect::<BTreeSet<_>>());
    let projects = prop_oneof![
        Just(ProjectScope::All),
        name_set(&SCOPE_PROJECTS).prop_map(ProjectScope::Only),
    ];
    let environments = prop_oneof![
        Just(EnvScope::All),
        Just(EnvScope::NonProduction),
        name_set(&SCOPE_ENVS).prop_map(EnvScope::Only),
        name_set(&SCOPE_ENVS).prop_map(EnvScope::OnlyNonProduction),
    ];
    (operations, projects, any::<bool>(), environments).prop_map(
        |(operations, projects, global, environments)| Scope {
            operations,
            projects,
            global,
            environments,
        },
    )
}

/// Random scopes, with the full scope often enough that every branch past scope is reached.
pub fn arb_scope() -> impl Strategy<Value = Scope> {
    prop_oneof![
        1 => Just(Scope::full()),
        3 => arb_random_scope(),
    ]
}

/// A human at the CLI asking for `operation` in a project vault, no proof, no profile.
pub fn example(
    operation: Operation,
    env: &str,
    production: bool,
    record: Option<RecordFacts>,
) -> Case {
    Case {
        operation,
        vault: VaultName::Project("app".to_string()),
        env: env.to_string(),
        production,
        record,
        new_sensitivity: None,
        new_revealable: None,
        surface: Surface::Cli,
        origin: Origin::Human,
        presence: Presence::None,
        allowlisted: false,
        pinned: None,
        target: "openai",
        delivery: Delivery::Value,
        profile: None,
        allowed_hosts: Vec::new(),
        bound_host: None,
        remote: None,
        rules: RulesCase::default(),
        canary: false,
    }
}

/// A secret's facts.
pub fn facts(sensitivity: Sensitivity, revealable: bool) -> Option<RecordFacts> {
    Some(RecordFacts {
        sensitivity,
        revealable,
        kind: RecordKind::Secret,
    })
}

/// An injection of a value from an existing dev record in the global vault, by a human,
/// into an unallowlisted program, with no proof and no profile.
pub fn example_inject(sensitivity: Sensitivity, revealable: bool) -> Case {
    Case {
        vault: VaultName::Global,
        ..example(
            Operation::Inject,
            "dev",
            false,
            facts(sensitivity, revealable),
        )
    }
}
