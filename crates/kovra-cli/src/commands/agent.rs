//! `kovra agent create|list|revoke` and `kovra status --agents`.

use std::collections::BTreeSet;

use kovra_proto::{AgentSpec, EgressPolicy, EnvScope, ErrorCode, Request};

use crate::cli_agent::{AgentCommand, AgentCreateArgs};
use crate::error::CliError;
use crate::render::Renderer;
use crate::session::Session;

pub fn run(s: &mut Session, cmd: AgentCommand, out: &Renderer) -> Result<(), CliError> {
    match cmd {
        AgentCommand::Create(args) => {
            let spec = spec_of(args)?;
            out.reply(&s.call(Request::AgentCreate {
                spec: Box::new(spec),
                proof: None,
            })?)
        }
        AgentCommand::List => out.reply(&s.call(Request::AgentList)?),
        AgentCommand::Revoke { name } => out.reply(&s.call(Request::AgentRevoke { name })?),
        AgentCommand::Env {
            name,
            refs,
            env_name,
        } => {
            let (refs, refs_path) = optional_refs(refs)?;
            let env_name = super::run::env_name(env_name, refs.as_deref());
            out.reply(&s.call(Request::AgentEnv {
                agent: name,
                refs: kovra_proto::RefsSource {
                    refs,
                    refs_path,
                    env_name,
                },
            })?)
        }
    }
}

/// The refs file named, or `./.env.refs` when there is one (none is not an error).
pub fn optional_refs(
    path: Option<std::path::PathBuf>,
) -> Result<(Option<String>, Option<String>), CliError> {
    let explicit = path.is_some();
    match super::run::read_refs(path) {
        Ok((text, path)) => Ok((Some(text), Some(path))),
        Err(e) if !explicit && e.code == ErrorCode::RefsMissing => Ok((None, None)),
        Err(e) => Err(e),
    }
}

fn invalid(message: String) -> CliError {
    CliError::new(ErrorCode::AgentInvalid, message, None)
}

fn list(raw: &str) -> Vec<String> {
    raw.split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// `45m`, `8h`, `7d`, `90s` or plain seconds.
pub fn parse_duration(raw: &str) -> Result<u64, CliError> {
    let raw = raw.trim();
    let (digits, unit) = match raw.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => raw.split_at(i),
        None => (raw, "s"),
    };
    let n: u64 = digits.parse().map_err(|_| {
        invalid(format!(
            "`{raw}` is not a duration (write 45m, 8h, 7d or seconds)"
        ))
    })?;
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(invalid(format!("`{raw}`: the unit must be s, m, h or d"))),
    };
    Ok(n.saturating_mul(scale))
}

/// The egress policy as typed: `pinned-only`, `any`, or domains.
pub fn parse_egress(raw: &str) -> Result<EgressPolicy, CliError> {
    match raw.trim() {
        "pinned-only" | "pinned" => Ok(EgressPolicy::PinnedOnly),
        "any" => Ok(EgressPolicy::Any),
        other => {
            let domains = list(other)
                .iter()
                .map(|d| kovra_core::agent::validate_domain(d).map_err(invalid))
                .collect::<Result<BTreeSet<_>, _>>()?;
            if domains.is_empty() {
                return Err(invalid(
                    "--egress needs pinned-only, any, or domains".into(),
                ));
            }
            Ok(EgressPolicy::Domains(domains))
        }
    }
}

/// The narrow default: metadata and inject on every non-production environment of every
/// project, placeholders only, pinned hosts only.
pub fn narrow(name: &str) -> AgentSpec {
    AgentSpec {
        name: name.to_string(),
        operations: [
            kovra_proto::OperationClass::Metadata,
            kovra_proto::OperationClass::Inject,
        ]
        .into(),
        projects: kovra_proto::ProjectScope::All,
        global: true,
        environments: EnvScope::NonProduction,
        egress: EgressPolicy::PinnedOnly,
        value_injections: Vec::new(),
        ttl_secs: None,
        egress_port: None,
        replace: false,
    }
}

fn spec_of(a: AgentCreateArgs) -> Result<AgentSpec, CliError> {
    let scope = kovra_mcp::scope_from(
        a.operations.as_deref().map(list),
        Some(list(a.projects.as_deref().unwrap_or("*"))),
        None,
        None,
    )
    .map_err(|e| {
        invalid(
            e.to_string()
                .replace("KOVRA_MCP_OPERATIONS", "--operations"),
        )
    })?;
    let environments = match (a.environments.as_deref().map(list), a.production) {
        (None, false) => EnvScope::NonProduction,
        (None, true) => EnvScope::All,
        (Some(l), _) if l.iter().any(|e| e == "*") => {
            if a.production {
                EnvScope::All
            } else {
                EnvScope::NonProduction
            }
        }
        (Some(l), false) => EnvScope::OnlyNonProduction(l.into_iter().collect()),
        (Some(l), true) => EnvScope::Only(l.into_iter().collect()),
    };
    Ok(AgentSpec {
        name: a.name,
        operations: scope.scope.operations,
        projects: scope.scope.projects,
        global: scope.scope.global,
        environments,
        egress: match &a.egress {
            Some(e) => parse_egress(e)?,
            None => EgressPolicy::PinnedOnly,
        },
        value_injections: a.inject_values.as_deref().map(list).unwrap_or_default(),
        ttl_secs: a.ttl.as_deref().map(parse_duration).transpose()?,
        egress_port: a.egress_port,
        replace: a.replace,
    })
}

/// `kovra status --agents`: the status, then the profiles (when the daemon runs).
pub fn status_agents(s: &mut Session, out: &Renderer) -> Result<(), CliError> {
    if let Some(reply) = s.call_if_running(Request::AgentList)? {
        out.reply(&reply)?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_egress_parse_or_say_why() {
        assert_eq!(parse_duration("45m").unwrap(), 2700);
        assert_eq!(parse_duration("8h").unwrap(), 28_800);
        assert_eq!(parse_duration("90").unwrap(), 90);
        assert!(parse_duration("8w").is_err());
        assert_eq!(parse_egress("any").unwrap(), EgressPolicy::Any);
        assert!(matches!(
            parse_egress("pypi.org, files.pythonhosted.org").unwrap(),
            EgressPolicy::Domains(d) if d.len() == 2
        ));
        assert!(parse_egress("https://pypi.org").is_err());
    }
}
