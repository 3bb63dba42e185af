//! Agent profiles for people: one block per profile.

use kovra_proto::{AgentView, EnvScope, ProjectScope};

use super::line;
use crate::error::CliError;

fn joined<'a>(items: impl IntoIterator<Item = &'a String>) -> String {
    let v: Vec<&str> = items.into_iter().map(String::as_str).collect();
    if v.is_empty() {
        "-".into()
    } else {
        v.join(",")
    }
}

fn when(secs: u64) -> String {
    let now = kovra_core::store::now();
    if secs > now {
        format!("in {}", span(secs - now))
    } else {
        format!("{} ago", span(now - secs))
    }
}

fn span(s: u64) -> String {
    match s {
        0..120 => format!("{s}s"),
        120..7200 => format!("{}m", s / 60),
        7200..172_800 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

pub fn agents(list: &[AgentView]) -> Result<(), CliError> {
    if list.is_empty() {
        return line("no agent profiles (`kovra agent create NAME` makes one)");
    }
    for a in list {
        let ops: Vec<String> = a
            .scope
            .operations
            .iter()
            .map(|o| format!("{o:?}").to_lowercase())
            .collect();
        let projects = match &a.scope.projects {
            ProjectScope::All => "*".to_string(),
            ProjectScope::Only(set) => joined(set),
        };
        let projects = if a.scope.global {
            format!("{projects} + global")
        } else {
            projects
        };
        let envs = match &a.scope.environments {
            EnvScope::All => "* (production included)".to_string(),
            EnvScope::NonProduction => "non-production".to_string(),
            EnvScope::Only(set) => joined(set),
            EnvScope::OnlyNonProduction(set) => format!("{} (non-production)", joined(set)),
        };
        line(&format!("agent {}", a.name))?;
        line(&format!("  operations:   {}", ops.join(",")))?;
        line(&format!("  projects:     {projects}"))?;
        line(&format!("  environments: {envs}"))?;
        line(&format!("  egress:       {}", a.egress.describe()))?;
        if !a.value_injections.is_empty() {
            line(&format!("  values for:   {}", joined(&a.value_injections)))?;
        }
        if let Some(e) = a.expires {
            line(&format!("  expires:      {}", when(e)))?;
        }
        if let Some(p) = a.egress_port {
            line(&format!("  egress port:  127.0.0.1:{p}"))?;
        }
        line(&format!("  socket:       {}", a.socket))?;
        line(&format!(
            "  activity:     {} request(s){}, {} sandbox(es) running",
            a.requests,
            a.last_request
                .map(|t| format!(", last {}", when(t)))
                .unwrap_or_default(),
            a.sandboxes
        ))?;
    }
    Ok(())
}

/// Dotenv lines on stdout (placeholders are no secrets); what was left out on stderr.
pub fn agent_env(
    variables: &[(String, String)],
    skipped: &[String],
    egress_port: Option<u16>,
) -> Result<(), CliError> {
    for (k, v) in variables {
        line(&format!("{k}={v}"))?;
    }
    for why in skipped {
        eprintln!("kovra: no placeholder for {why}");
    }
    match egress_port {
        Some(p) => eprintln!(
            "kovra: these work through kovra's proxy at http://127.0.0.1:{p} (HTTPS_PROXY), towards each record's provider only"
        ),
        None => eprintln!(
            "kovra: these work inside `kovra sandbox`, or with a profile egress port (`kovra agent create --egress-port 0 --replace`)"
        ),
    }
    Ok(())
}
