//! The agent profile `setup` keeps for each client: made with the proposed scope, updated
//! while it still holds what setup gave it, and left as it is (with a note) once the human
//! changed it with `kovra agent create --replace`.

use kovra_proto::{EnvScope, ErrorCode, ProjectScope, Reply, Request};
use serde_json::{Value, json};

use super::state;
use crate::error::CliError;
use crate::session::Session;

/// What an agent profile may reach: the scope its MCP server is started with.
pub struct ProfileScope {
    pub project: String,
    /// Whether the global vault is in it (records live there).
    pub global: bool,
    /// A comma list, or `None` for every non-production environment.
    pub environments: Option<String>,
    /// `None`: the MCP server's default (metadata and inject).
    pub operations: Option<String>,
    /// `--environments` as given: what a setup before this one (without state) wrote.
    pub legacy_environments: Option<String>,
    /// `--inject-values`: opt-ins added to the profile's own (never removed here).
    pub inject_values: Vec<String>,
}

fn list(raw: &str) -> Vec<String> {
    raw.split(',')
        .map(|x| x.trim().to_string())
        .filter(|x| !x.is_empty())
        .collect()
}

fn environments(raw: Option<&str>) -> EnvScope {
    match raw.map(list) {
        None => EnvScope::NonProduction,
        Some(l) if l.iter().any(|e| e == "*") => EnvScope::All,
        Some(l) => EnvScope::OnlyNonProduction(l.into_iter().collect()),
    }
}

/// The parts of a profile's scope setup sets, as one comparable value.
fn scope_value(spec: &kovra_proto::AgentSpec) -> Value {
    json!({
        "operations": spec.operations,
        "projects": spec.projects,
        "global": spec.global,
        "environments": spec.environments,
    })
}

/// What `ensure` did: the egress port, the scope setup gave (for `state.rs`), and notes.
pub struct Ensured {
    pub port: Option<u16>,
    /// The profile's value opt-ins (`ENV/GROUP`) after this run.
    pub value_injections: Vec<String>,
    /// Whether the profile was made or changed.
    pub updated: bool,
    pub written: Value,
    pub notes: Vec<String>,
}

/// Make sure the agent profile `name` exists with `scope`; with `sandbox_port`, give it a
/// loopback egress port (Claude Code's sandbox sends every connection there). `base` is the
/// scope setup gave it last time.
pub fn ensure(
    s: &mut Session,
    name: &str,
    scope: &ProfileScope,
    sandbox_port: bool,
    base: Option<&Value>,
) -> Result<Ensured, CliError> {
    let mut spec = crate::commands::agent::narrow(name);
    spec.projects = ProjectScope::Only([scope.project.clone()].into());
    spec.global = scope.global;
    if let Some(ops) = &scope.operations {
        spec.operations = kovra_mcp::scope_from(Some(list(ops)), None, None, None)
            .map_err(|e| {
                CliError::new(
                    ErrorCode::AgentInvalid,
                    e.to_string()
                        .replace("KOVRA_MCP_OPERATIONS", "--operations"),
                    None,
                )
            })?
            .scope
            .operations;
    }
    spec.environments = environments(scope.environments.as_deref());
    let ours = scope_value(&spec);
    let mut legacy = spec.clone();
    legacy.global = true;
    legacy.environments = environments(scope.legacy_environments.as_deref());
    let legacy = scope_value(&legacy);

    let existing = match s.call(Request::AgentList)? {
        Reply::Agents { agents } => agents.into_iter().find(|a| a.name == name),
        _ => None,
    };
    // Keep a port once given: Claude Code's settings name it.
    spec.egress_port = match (&existing, sandbox_port) {
        (Some(a), true) if a.egress_port.is_some() => a.egress_port,
        (_, true) => Some(0),
        (Some(a), false) => a.egress_port,
        (None, false) => None,
    };
    let mut notes = Vec::new();
    if let Some(a) = &existing {
        // What setup does not decide stays as the human set it.
        spec.value_injections = a.value_injections.clone();
        for group in &scope.inject_values {
            if !spec.value_injections.contains(group) {
                spec.value_injections.push(group.clone());
            }
        }
        spec.egress = a.egress.clone();
        let mut theirs = spec.clone();
        theirs.operations = a.scope.operations.clone();
        theirs.projects = a.scope.projects.clone();
        theirs.global = a.scope.global;
        theirs.environments = a.scope.environments.clone();
        let theirs_value = scope_value(&theirs);
        let (step, conflict) = state::decide(Some(&theirs_value), Some(&ours), base, Some(&legacy));
        if conflict {
            notes.push(format!(
                "agent profile {name}: kept the scope you gave it ({}); setup would give it {} (`kovra agent create {name} --replace …` to change it)",
                describe(&theirs),
                describe(&spec),
            ));
            spec = theirs;
        }
        let same = step == state::Step::Keep
            && a.egress_port == spec.egress_port
            && a.expires.is_none()
            && spec.value_injections == a.value_injections;
        if same {
            return Ok(Ensured {
                port: a.egress_port,
                value_injections: spec.value_injections,
                updated: false,
                written: ours,
                notes,
            });
        }
    }
    if existing.is_none() {
        spec.value_injections = scope.inject_values.clone();
    }
    spec.replace = existing.is_some();
    let value_injections = spec.value_injections.clone();
    let made = s.call(Request::AgentCreate {
        spec: Box::new(spec),
        proof: None,
    })?;
    Ok(Ensured {
        port: match made {
            Reply::Agents { agents } => agents.first().and_then(|a| a.egress_port),
            _ => None,
        },
        value_injections,
        updated: true,
        written: ours,
        notes,
    })
}

/// A scope in a few words: `projects app + global vault; environments dev; metadata, inject`.
fn describe(spec: &kovra_proto::AgentSpec) -> String {
    let projects = match &spec.projects {
        ProjectScope::All => "every project".to_string(),
        ProjectScope::Only(p) => p.iter().cloned().collect::<Vec<_>>().join(", "),
    };
    let global = if spec.global { " + global vault" } else { "" };
    let envs = match &spec.environments {
        EnvScope::All => "all".to_string(),
        EnvScope::NonProduction => "non-production".to_string(),
        EnvScope::Only(l) | EnvScope::OnlyNonProduction(l) => {
            l.iter().cloned().collect::<Vec<_>>().join(", ")
        }
    };
    let ops: Vec<String> = spec
        .operations
        .iter()
        .map(|o| format!("{o:?}").to_ascii_lowercase())
        .collect();
    format!(
        "projects {projects}{global}; environments {envs}; {}",
        ops.join(", ")
    )
}
