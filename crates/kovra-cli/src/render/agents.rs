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

pub fn agents(list: &[AgentView], width: Option<usize>) -> Result<(), CliError> {
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
        line(&wrapped("  operations:   ", &ops, width))?;
        line(&format!("  projects:     {projects}"))?;
        line(&format!("  environments: {envs}"))?;
        line(&format!("  egress:       {}", a.egress.describe()))?;
        if !a.value_injections.is_empty() {
            line(&wrapped("  values for:   ", &a.value_injections, width))?;
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

/// `label` then `items` joined by commas, continued on lines indented under the first item
/// where they would pass `width`: nothing is cut (each item is a name to act on).
fn wrapped(label: &str, items: &[String], width: Option<usize>) -> String {
    if items.is_empty() {
        return format!("{label}-");
    }
    let indent = " ".repeat(label.chars().count());
    let mut out = label.to_string();
    let mut col = out.chars().count();
    for (i, item) in items.iter().enumerate() {
        let piece = if i + 1 < items.len() {
            format!("{item},")
        } else {
            item.clone()
        };
        let n = piece.chars().count();
        if i > 0 && width.is_some_and(|w| col + n > w) {
            out.push('\n');
            out.push_str(&indent);
            col = indent.len();
        }
        out.push_str(&piece);
        col += n;
    }
    out
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn long_lists_wrap_under_their_first_item_and_lose_nothing() {
        let items: Vec<String> = (0..30).map(|i| format!("operation{i}")).collect();
        let text = wrapped("  operations:   ", &items, Some(80));
        assert!(text.lines().count() > 1, "{text}");
        assert!(text.lines().all(|l| l.chars().count() <= 80), "{text}");
        assert!(text.lines().skip(1).all(|l| l.starts_with(&" ".repeat(16))));
        let joined: String = text.split_whitespace().skip(1).collect();
        assert_eq!(joined, items.join(","));
        assert_eq!(wrapped("  x: ", &[], Some(80)), "  x: -");
    }
}
