//! The session's scope, read from `KOVRA_MCP_*` and `KOVRA_PROJECT`: what the daemon will
//! intersect every request of this server with.

use std::collections::BTreeSet;

use kovra_proto::OperationClass;
use kovra_proto::{EnvScope, ProjectScope, Scope};

/// A comma-separated variable's non-empty items; `None` when unset or empty.
pub(crate) fn env_list(name: &str) -> Option<Vec<String>> {
    let raw = std::env::var(name).ok()?;
    let items: Vec<String> = raw
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    if items.is_empty() { None } else { Some(items) }
}

/// The scope and current project this session works under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeConfig {
    pub scope: Scope,
    pub project: Option<String>,
}

/// Build the session scope from `KOVRA_MCP_OPERATIONS`, `KOVRA_MCP_PROJECTS`,
/// `KOVRA_MCP_ENVIRONMENTS` and `KOVRA_PROJECT` (passed in, for testing).
pub fn scope_from(
    operations: Option<Vec<String>>,
    projects: Option<Vec<String>>,
    environments: Option<Vec<String>>,
    current: Option<String>,
) -> anyhow::Result<ScopeConfig> {
    let operations: BTreeSet<OperationClass> = match operations {
        None => [OperationClass::Metadata, OperationClass::Inject]
            .into_iter()
            .collect(),
        Some(list) if list.iter().any(|s| s == "*") => OperationClass::ALL.into_iter().collect(),
        Some(list) => list
            .iter()
            .map(|s| match s.to_ascii_lowercase().as_str() {
                "metadata" => Ok(OperationClass::Metadata),
                "inject" => Ok(OperationClass::Inject),
                "reveal" => Ok(OperationClass::Reveal),
                "write" => Ok(OperationClass::Write),
                other => Err(anyhow::anyhow!(
                    "KOVRA_MCP_OPERATIONS: unknown operation `{other}` (use metadata, inject, reveal, write or *)"
                )),
            })
            .collect::<anyhow::Result<_>>()?,
    };
    let (project_scope, global, first) = match &projects {
        Some(list) if list.iter().any(|s| s == "*") => (ProjectScope::All, true, None),
        Some(list) => {
            let global = list.iter().any(|s| s == "global");
            let names: BTreeSet<String> = list.iter().filter(|s| *s != "global").cloned().collect();
            let first = list.iter().find(|s| *s != "global").cloned();
            (ProjectScope::Only(names), global, first)
        }
        None => (ProjectScope::Only(BTreeSet::new()), false, None),
    };
    let project = current.filter(|p| !p.is_empty()).or(first);
    let project_scope = match (project_scope, &projects, &project) {
        // Default: the current project only.
        (ProjectScope::Only(_), None, Some(p)) => ProjectScope::Only([p.clone()].into()),
        (s, _, _) => s,
    };
    let environments = match environments {
        None => EnvScope::NonProduction,
        Some(list) if list.iter().any(|s| s == "*") => EnvScope::All,
        Some(list) => EnvScope::Only(list.into_iter().collect()),
    };
    Ok(ScopeConfig {
        scope: Scope {
            operations,
            projects: project_scope,
            global,
            environments,
        },
        project,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(s: &str) -> Option<Vec<String>> {
        Some(s.split(',').map(str::to_string).collect())
    }

    #[test]
    fn default_scope_is_metadata_and_inject_in_non_production_of_the_project() {
        let c = scope_from(None, None, None, Some("app".into())).unwrap_or_else(|e| {
            unreachable!("{e}");
        });
        assert_eq!(c.project.as_deref(), Some("app"));
        assert_eq!(
            c.scope.operations,
            [OperationClass::Metadata, OperationClass::Inject].into()
        );
        assert_eq!(
            c.scope.projects,
            ProjectScope::Only(["app".to_string()].into())
        );
        assert!(!c.scope.global);
        assert_eq!(c.scope.environments, EnvScope::NonProduction);
    }

    #[test]
    fn global_only_when_listed() {
        let c = scope_from(None, list("app,global"), list("dev,staging"), None)
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert!(c.scope.global);
        assert_eq!(c.project.as_deref(), Some("app"));
        assert_eq!(
            c.scope.projects,
            ProjectScope::Only(["app".to_string()].into())
        );
        let all = scope_from(list("*"), list("*"), list("*"), None)
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert!(all.scope.is_full());
        assert_eq!(all.scope.operations.len(), 4);
        assert!(scope_from(list("metadata,everything"), None, None, None).is_err());
    }
}
