//! What `setup` proposes for the agent's scope, from what the project references: its
//! `.env.refs` (coordinates and the environments they use) and the records in the project
//! and the global vault. The proposal covers those records (the global vault only when
//! records live there), in the environments used, never production unless asked; and the
//! summary says in plain words what the agent will and will not see. Only metadata is read.

use std::collections::{BTreeMap, BTreeSet};

use kovra_core::coord::{CoordinateTemplate, Pin};
use kovra_core::envrefs::RefsFile;
use kovra_proto::{Reply, Request};

use crate::error::CliError;
use crate::session::Session;

/// The records the human sees in the project (its vault and the global one), as metadata.
pub struct Found {
    /// (vault label: `global` or `project:NAME`, environment, production)
    pub records: Vec<(String, String, bool)>,
    pub production_envs: BTreeSet<String>,
}

impl Found {
    /// Ask the daemon, in the project's context (metadata only, nothing is read).
    pub fn gather(project: &str) -> Result<Found, CliError> {
        let mut s = Session::new(Some(project.to_string()))?;
        let production_envs = match s.call(Request::Status)? {
            Reply::Status(info) => info.production_environments.into_iter().collect(),
            _ => kovra_core::model::DEFAULT_PRODUCTION_ENVS
                .iter()
                .map(|e| e.to_string())
                .collect(),
        };
        let records = match s.call(Request::List { env: None })? {
            Reply::Records(listing) => listing
                .records
                .into_iter()
                .map(|r| (r.vault, r.env, r.production))
                .collect(),
            _ => Vec::new(),
        };
        Ok(Found {
            records,
            production_envs,
        })
    }

    /// Nothing known (a dry run before the vault exists).
    pub fn none() -> Found {
        Found {
            records: Vec::new(),
            production_envs: kovra_core::model::DEFAULT_PRODUCTION_ENVS
                .iter()
                .map(|e| e.to_string())
                .collect(),
        }
    }

    fn is_production(&self, env: &str) -> bool {
        self.production_envs.contains(env)
    }
}

/// The scope setup proposes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    /// Whether the global vault is in the scope.
    pub global: bool,
    /// The environments, or `None` for every non-production one.
    pub environments: Option<BTreeSet<String>>,
    /// What `${ENV}` stands for: `env =` in `.env.refs`.
    pub default_env: String,
}

/// The fixed environments a refs file's coordinates name, and whether any holds `${ENV}`
/// or pins the global vault.
fn refs_use(refs: Option<&RefsFile>) -> (BTreeMap<String, usize>, bool, bool) {
    let mut fixed = BTreeMap::new();
    let (mut placeholder, mut pinned_global) = (false, false);
    for entry in refs.map(|r| r.entries.as_slice()).unwrap_or_default() {
        for (text, _) in entry.value.coordinates() {
            let Ok(t) = CoordinateTemplate::parse(text) else {
                continue;
            };
            match t.resolve(None) {
                Ok(c) => {
                    *fixed.entry(c.env().to_string()).or_insert(0) += 1;
                    pinned_global |= c.pin() == Pin::Global;
                }
                Err(_) => {
                    placeholder = true;
                    pinned_global |= text.starts_with("secret://global/");
                }
            }
        }
    }
    (fixed, placeholder, pinned_global)
}

/// The proposal for a project: `environments` is `--environments` as given.
pub fn propose(refs: Option<&RefsFile>, found: &Found, environments: Option<&str>) -> Proposal {
    let (fixed, placeholder, pinned_global) = refs_use(refs);
    // The file's own line, else the non-production environment its coordinates name most,
    // else dev.
    let default_env = refs
        .and_then(|r| r.env.clone())
        .or_else(|| {
            fixed
                .iter()
                .filter(|(e, _)| !found.is_production(e))
                .max_by_key(|(_, n)| **n)
                .map(|(e, _)| e.clone())
        })
        .unwrap_or_else(|| "dev".into());
    let environments = match environments {
        Some(given) => Some(
            given
                .split(',')
                .map(|e| e.trim().to_string())
                .filter(|e| !e.is_empty())
                .collect(),
        ),
        None => {
            let mut used: BTreeSet<String> = fixed.keys().cloned().collect();
            if placeholder || used.is_empty() {
                used.insert(default_env.clone());
            }
            if fixed.is_empty() && !placeholder {
                // No wiring yet: the records there are are what the project references.
                used.extend(found.records.iter().map(|(_, e, _)| e.clone()));
            }
            used.retain(|e| !found.is_production(e));
            (!used.is_empty()).then_some(used)
        }
    };
    let in_envs = |env: &str| match &environments {
        Some(l) if l.contains("*") => true,
        Some(l) => l.contains(env),
        None => !found.is_production(env),
    };
    let global_records = found
        .records
        .iter()
        .any(|(v, e, p)| v == "global" && !p && in_envs(e));
    Proposal {
        global: global_records || pinned_global,
        environments,
        default_env,
    }
}

/// `dev`, `dev and staging` (or `… or …`).
fn joined(items: &[String], word: &str) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} {word} {last}", rest.join(", ")),
    }
}

fn records(n: usize) -> String {
    if n == 1 {
        "1 record".into()
    } else {
        format!("{n} records")
    }
}

/// What the agent will and will not see, in one or two sentences.
pub fn summary(
    agent: &str,
    project: &str,
    proposal: &Proposal,
    operations: Option<&str>,
    found: &Found,
    opted: &[String],
) -> String {
    let all_envs = proposal
        .environments
        .as_ref()
        .is_some_and(|l| l.contains("*"));
    let in_scope = |vault: &str, env: &str, production: bool| {
        let vault_ok =
            vault == "global" && proposal.global || vault == format!("project:{project}");
        let env_ok = match &proposal.environments {
            _ if all_envs => true,
            Some(l) => l.contains(env) && !production,
            None => !production,
        };
        vault_ok && env_ok
    };
    let seen: Vec<&(String, String, bool)> = found
        .records
        .iter()
        .filter(|(v, e, p)| in_scope(v, e, *p))
        .collect();
    let global = seen.iter().filter(|(v, _, _)| v == "global").count();
    let envs: Vec<String> = match &proposal.environments {
        _ if all_envs => vec!["every environment".into()],
        Some(l) => l.iter().cloned().collect(),
        None => vec!["the non-production environments".into()],
    };
    let what = match operations {
        None => String::new(),
        Some(ops) => format!(" and may use them for: {ops}"),
    };
    let mut text = format!(
        "agent {agent} will see metadata of {} in {} (global vault: {global}, project {project}: {}){what}",
        records(seen.len()),
        joined(&envs, "and"),
        seen.len() - global,
    );
    let production = found.records.iter().filter(|(_, _, p)| *p).count();
    let other = found.records.len() - seen.len() - if all_envs { 0 } else { production };
    let mut not = Vec::new();
    if production > 0 && !all_envs {
        not.push(format!("production records ({production})"));
    }
    if other > 0 {
        not.push(format!("{} outside its scope", records(other)));
    }
    not.push(
        if operations.is_some_and(|o| o.contains("reveal") || o.contains('*')) {
            "the values of sensitive records".into()
        } else {
            "any value".into()
        },
    );
    text.push_str(&format!("; it will not see {}", joined(&not, "or")));
    if !opted.is_empty() {
        text.push_str(&format!(
            ", but programs it runs get the values of {} (opted in)",
            joined(opted, "and")
        ));
    }
    if !proposal.global {
        text.push_str(" (the global vault is left out: no record there is in scope; run setup again after adding one)");
    }
    if !operations.is_some_and(|o| o.contains("reveal") || o.contains('*')) {
        let env = proposal.default_env.as_str();
        text.push_str(&format!(
            ".\nIts runs get a value as a placeholder when the record is pinned to a provider, and \
             otherwise only in a program you allow (`kovra allow add PATH`) or a group you opt in \
             (`kovra setup --inject-values {env}/GROUP`, which asks for your passphrase)"
        ));
    }
    text
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn found(records: &[(&str, &str, bool)]) -> Found {
        Found {
            records: records
                .iter()
                .map(|(v, e, p)| (v.to_string(), e.to_string(), *p))
                .collect(),
            production_envs: ["prod".to_string()].into(),
        }
    }

    #[test]
    fn global_records_put_the_global_vault_in_scope_and_production_stays_out() {
        let f = found(&[
            ("global", "dev", false),
            ("global", "dev", false),
            ("global", "prod", true),
            ("project:app", "dev", false),
        ]);
        let p = propose(None, &f, None);
        assert!(p.global);
        assert_eq!(p.default_env, "dev");
        assert_eq!(p.environments, Some(["dev".to_string()].into()));
        let text = summary("claude-code-app", "app", &p, None, &f, &[]);
        assert!(
            text.starts_with("agent claude-code-app will see metadata of 3 records in dev (global vault: 2, project app: 1); it will not see production records (1) or any value.\nIts runs get"),
            "{text}"
        );
    }

    #[test]
    fn the_refs_decide_the_environments_and_the_default() {
        let refs = kovra_core::envrefs::parse(
            "f",
            "A=secret:staging/db/pw\nB=secret:staging/x/y\nC=secret:prod/z/w\n",
        )
        .unwrap();
        let f = found(&[
            ("project:app", "staging", false),
            ("project:app", "qa", false),
        ]);
        let p = propose(Some(&refs), &f, None);
        assert_eq!(p.default_env, "staging");
        assert_eq!(p.environments, Some(["staging".to_string()].into()));
        assert!(!p.global);
        let text = summary("a", "app", &p, None, &f, &[]);
        assert!(text.contains("1 record outside its scope"), "{text}");
        assert!(text.contains("the global vault is left out"), "{text}");
        let refs = kovra_core::envrefs::parse("f", "env = qa\nA=secret:${ENV}/db/pw\n").unwrap();
        let p = propose(Some(&refs), &f, Some("dev,qa"));
        assert_eq!(p.default_env, "qa");
        assert_eq!(p.environments.unwrap().len(), 2);
    }
}
