//! Which tools a session's scope allows: the one table that both `tools/list` and the call
//! path read, so a tool is listed exactly when a call to it can get past the scope.
//!
//! This is not a policy decision: the daemon still decides every call under the same scope
//! (`kovra_core::policy`). It only spares the model tools that could never succeed. The
//! classes are those `kovra_core::model::Operation::class` gives each tool's request.

use kovra_proto::{ErrorCode, OperationClass, Scope};

use crate::outcome::Failure;
use crate::results::wire_name;

use OperationClass::{Inject, Metadata, Reveal, Write};

/// Every tool and the operation classes its calls need (all of them). A tool missing here
/// is never listed and always refused (a test keeps the table and the router in step).
pub(crate) const TOOLS: &[(&str, &[OperationClass])] = &[
    // Vault state and this session's own scope: always useful, needs no record access.
    ("status", &[]),
    ("list", &[Metadata]),
    ("fingerprint", &[Metadata]),
    // Recording a request reads nothing (`Operation::RequestValue` is a metadata class).
    ("request_secret", &[Metadata]),
    ("run", &[Inject]),
    // A brokered call uses the value without handing it over: the inject class.
    ("api", &[Inject]),
    // Reading the registry is metadata, but it only serves `api`.
    ("providers", &[Metadata, Inject]),
    // A brokered command signs with a key without handing it over: the inject class.
    ("ssh", &[Inject]),
    // A query uses a connection record without handing it over: the inject class.
    ("query", &[Inject]),
    ("ssh_hosts", &[Metadata, Inject]),
    ("reveal", &[Reveal]),
    ("generate", &[Write]),
    ("edit_metadata", &[Write]),
    ("delete", &[Write]),
];

/// The classes `tool` needs; `None` for a tool not in the table.
fn needs(tool: &str) -> Option<&'static [OperationClass]> {
    TOOLS
        .iter()
        .find(|(name, _)| *name == tool)
        .map(|(_, classes)| *classes)
}

/// Whether `scope` lets `tool` be listed and called.
pub(crate) fn allows(scope: &Scope, tool: &str) -> bool {
    needs(tool).is_some_and(|classes| classes.iter().all(|c| scope.operations.contains(c)))
}

/// The refusal for a call to a tool the scope does not list.
pub(crate) fn refusal(scope: &Scope, tool: &str) -> Failure {
    let names = |classes: &mut dyn Iterator<Item = &OperationClass>| {
        let list: Vec<String> = classes.filter_map(wire_name).collect();
        if list.is_empty() {
            "none".to_string()
        } else {
            list.join(", ")
        }
    };
    let has = names(&mut scope.operations.iter());
    let message = match needs(tool) {
        Some(classes) => format!(
            "this session's scope does not offer the `{tool}` tool: it needs the {} operation, and this session has {has}. The scope is the human's choice: if you need it, ask them to widen it in their terminal (`kovra setup --operations …`, or for an agent profile `kovra agent create NAME --operations … --replace`); `status` shows what this session may do",
            names(&mut classes.iter())
        ),
        None => format!("there is no `{tool}` tool; the tools list shows what this session offers"),
    };
    Failure::new(ErrorCode::PolicyDenied, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kovra_proto::{EnvScope, ProjectScope};

    fn scope(ops: &[OperationClass]) -> Scope {
        Scope {
            operations: ops.iter().copied().collect(),
            projects: ProjectScope::All,
            global: true,
            environments: EnvScope::All,
        }
    }

    #[test]
    fn every_tool_the_server_has_is_in_the_table_and_back() {
        let router: std::collections::BTreeSet<String> = crate::KovraMcp::tool_router()
            .list_all()
            .into_iter()
            .map(|t| t.name.to_string())
            .collect();
        let table: std::collections::BTreeSet<String> =
            TOOLS.iter().map(|(n, _)| n.to_string()).collect();
        assert_eq!(router, table);
    }

    #[test]
    fn a_narrow_scope_offers_only_its_tools() {
        let metadata = scope(&[Metadata]);
        let offered: Vec<&str> = TOOLS
            .iter()
            .map(|(n, _)| *n)
            .filter(|n| allows(&metadata, n))
            .collect();
        assert_eq!(offered, ["status", "list", "fingerprint", "request_secret"]);
        assert!(allows(&scope(&OperationClass::ALL), "delete"));
        assert!(!allows(&scope(&[Metadata, Inject]), "reveal"));
        assert!(!allows(&scope(&OperationClass::ALL), "no_such_tool"));
        assert!(allows(&scope(&[]), "status"));
    }
}
