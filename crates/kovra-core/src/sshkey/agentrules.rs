//! `agent.toml`: the standing rules of kovra's ssh-agent — which vaults and environments'
//! keys it offers, and per key how often the human confirms a signature and which servers
//! it may sign for. Text in, rules out: no file is read here (the daemon reads it), and no
//! error echoes a line of the file, only where it is and which field is wrong.
//!
//! The file may only narrow: an agent can write it. What it says is weighed against the
//! state the human accepted with a proof ([`effective`]); a signature's confirmation is
//! decided by the policy ([`crate::policy::confirm_mode`]) from both.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::coord::{Coordinate, Pin, validate_name};
use crate::model::OperationClass;
use crate::policy::{Confirm, EnvScope, KeyRuleFacts, ProjectScope, Scope};

/// The file's name, beside `config.toml`.
pub const FILE_NAME: &str = "agent.toml";
/// A rules file is a few lines; anything larger is refused unread.
pub const MAX_BYTES: usize = 64 * 1024;
/// The most keys one file names.
pub const MAX_KEYS: usize = 256;
/// The most host keys one key names (as `keygen --host-key`).
pub const MAX_HOSTS: usize = 32;
/// `projects = ["global"]` names the global vault.
pub const GLOBAL: &str = "global";

/// The rules of one `agent.toml` (or of the state the human accepted).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentRules {
    /// The vaults whose keys are offered (`global` and project names); `None`: every vault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projects: Option<BTreeSet<String>>,
    /// The environments whose keys are offered; `None`: every environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environments: Option<BTreeSet<String>>,
    /// Per key rules, by coordinate (`secret:dev/ssh/deploy`, in any offered vault) or by
    /// fingerprint (`SHA256:…`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub keys: BTreeMap<String, KeyRule>,
}

/// What the rules say about one key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm: Option<Confirm>,
    /// The server host keys (`SHA256:…`) the key may sign for, through a verified session
    /// bind; an empty list: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosts: Option<Vec<String>>,
}

impl KeyRule {
    /// Both rules at once: the stricter confirmation, the hosts both lists hold.
    fn and(&self, other: &KeyRule) -> KeyRule {
        KeyRule {
            confirm: match (self.confirm, other.confirm) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            },
            hosts: intersect_hosts(self.hosts.as_deref(), other.hosts.as_deref()),
        }
    }

    /// As facts for the policy.
    pub fn facts(&self) -> KeyRuleFacts<'_> {
        KeyRuleFacts {
            confirm: self.confirm,
            hosts: self.hosts.as_deref(),
        }
    }
}

fn intersect_hosts(a: Option<&[String]>, b: Option<&[String]>) -> Option<Vec<String>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.iter().filter(|h| b.contains(h)).cloned().collect()),
        (a, b) => a.or(b).map(<[String]>::to_vec),
    }
}

fn intersect_names(
    a: Option<&BTreeSet<String>>,
    b: Option<&BTreeSet<String>>,
) -> Option<BTreeSet<String>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.intersection(b).cloned().collect()),
        (a, b) => a.or(b).cloned(),
    }
}

/// Why a rules file was refused: where, and how to fix it. Never a line of the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct AgentRulesError(String);

impl AgentRulesError {
    fn field(field: &str, problem: impl std::fmt::Display) -> Self {
        AgentRulesError(format!("{field}: {problem}"))
    }
}

/// `SHA256:` and 43 base64 characters, as `ssh-keygen -l` prints a fingerprint.
pub fn is_fingerprint(text: &str) -> bool {
    text.strip_prefix("SHA256:").is_some_and(|b64| {
        b64.len() == 43
            && b64
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '/')
    })
}

/// The 1-based line and column of a byte offset.
fn line_col(text: &str, at: usize) -> (usize, usize) {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// Parse and check `agent.toml`.
pub fn parse(text: &str) -> Result<AgentRules, AgentRulesError> {
    if text.len() > MAX_BYTES {
        return Err(AgentRulesError(format!(
            "larger than {} KiB; a rules file is a few lines",
            MAX_BYTES / 1024
        )));
    }
    let rules: AgentRules = toml::from_str(text).map_err(|e| {
        let message = e.message().trim_end().to_string();
        match e.span() {
            Some(span) => {
                let (line, col) = line_col(text, span.start);
                AgentRulesError(format!("line {line}, column {col}: {message}"))
            }
            None => AgentRulesError(message),
        }
    })?;
    rules.checked()
}

impl AgentRules {
    /// Every name well formed, every key selector a coordinate or a fingerprint (stored in
    /// one written form, so lookups compare like with like).
    fn checked(self) -> Result<AgentRules, AgentRulesError> {
        for p in self.projects.iter().flatten() {
            if p != GLOBAL {
                validate_name(p).map_err(|e| {
                    AgentRulesError::field(
                        "projects",
                        format!(
                            "`{p}` is not a project name ({e}); use \"global\" or a project's name"
                        ),
                    )
                })?;
            }
        }
        for env in self.environments.iter().flatten() {
            validate_name(env).map_err(|e| {
                AgentRulesError::field(
                    "environments",
                    format!("`{env}` is not an environment name ({e})"),
                )
            })?;
        }
        if self.keys.len() > MAX_KEYS {
            return Err(AgentRulesError::field(
                "keys",
                format!("more than {MAX_KEYS} keys"),
            ));
        }
        let mut keys = BTreeMap::new();
        for (selector, rule) in self.keys {
            let field = format!("keys.\"{selector}\"");
            let named = if is_fingerprint(&selector) {
                selector
            } else {
                let coord = Coordinate::parse(&selector).map_err(|e| {
                    AgentRulesError::field(
                        &field,
                        format!("neither a coordinate ({e}) nor a fingerprint (`SHA256:` and 43 characters, as `ssh-add -l` prints)"),
                    )
                })?;
                if coord.pin() == Pin::Global {
                    return Err(AgentRulesError::field(
                        &field,
                        "a key is named without a vault (`secret:ENV/GROUP/KEY`, in any offered vault); narrow the vaults with `projects`",
                    ));
                }
                coord.to_string()
            };
            if let Some(hosts) = &rule.hosts {
                if hosts.len() > MAX_HOSTS {
                    return Err(AgentRulesError::field(
                        &format!("{field}.hosts"),
                        format!("more than {MAX_HOSTS} host keys"),
                    ));
                }
                if let Some(bad) = hosts.iter().find(|h| !is_fingerprint(h)) {
                    return Err(AgentRulesError::field(
                        &format!("{field}.hosts"),
                        format!(
                            "`{}` is not a host key fingerprint; use `SHA256:` and 43 characters, as `ssh-keygen -lf` prints for the server's key",
                            bad.chars().take(60).collect::<String>()
                        ),
                    ));
                }
            }
            if keys.insert(named.clone(), rule).is_some() {
                return Err(AgentRulesError::field(
                    &field,
                    format!("`{named}` is named twice"),
                ));
            }
        }
        Ok(AgentRules { keys, ..self })
    }

    /// What the rules let the agent offer: every operation, the named vaults and
    /// environments. Intersected with the agent socket's own scope.
    pub fn scope(&self) -> Scope {
        Scope {
            projects: match &self.projects {
                None => ProjectScope::All,
                Some(names) => {
                    ProjectScope::Only(names.iter().filter(|p| *p != GLOBAL).cloned().collect())
                }
            },
            global: self.projects.as_ref().is_none_or(|p| p.contains(GLOBAL)),
            environments: match &self.environments {
                None => EnvScope::All,
                Some(envs) => EnvScope::Only(envs.clone()),
            },
            operations: OperationClass::ALL.into_iter().collect(),
        }
    }

    /// The rule for one key record (its coordinate and fingerprint): every rule naming it,
    /// taken together; the empty rule when none does.
    pub fn rule_for(&self, coordinate: &Coordinate, fingerprint: &str) -> KeyRule {
        let by_coord = self.keys.get(&coordinate.unpinned().to_string());
        let by_fp = self.keys.get(fingerprint);
        [by_coord, by_fp]
            .into_iter()
            .flatten()
            .fold(KeyRule::default(), |acc, r| acc.and(r))
    }

    /// What both rule sets allow: the vaults and environments both offer, and per key both
    /// rules at once. Confirmations are shown as the stricter of the two; the policy further
    /// holds each key to its default unless the accepted state loosens it.
    pub fn and(&self, other: &AgentRules) -> AgentRules {
        let mut keys = self.keys.clone();
        for (k, r) in &other.keys {
            let merged = keys.get(k).map_or_else(|| r.clone(), |mine| mine.and(r));
            keys.insert(k.clone(), merged);
        }
        AgentRules {
            projects: intersect_names(self.projects.as_ref(), other.projects.as_ref()),
            environments: intersect_names(self.environments.as_ref(), other.environments.as_ref()),
            keys,
        }
    }
}

/// The rules in force: the accepted state and the file, each contributing nothing when
/// absent (none at all: every key offered, each at its default).
pub fn effective(accepted: Option<&AgentRules>, file: Option<&AgentRules>) -> AgentRules {
    match (accepted, file) {
        (Some(a), Some(f)) => a.and(f),
        (a, f) => a.or(f).cloned().unwrap_or_default(),
    }
}

fn names(set: Option<&BTreeSet<String>>) -> String {
    match set {
        None => "all".into(),
        Some(s) if s.is_empty() => "none".into(),
        Some(s) => s.iter().cloned().collect::<Vec<_>>().join(", "),
    }
}

fn rule_text(rule: Option<&KeyRule>) -> String {
    let Some(rule) = rule else {
        return "(no rule)".into();
    };
    let confirm = rule.confirm.map_or("default", Confirm::as_str);
    match &rule.hosts {
        None => format!("confirm {confirm}"),
        Some(h) if h.is_empty() => format!("confirm {confirm}, hosts none"),
        Some(h) => format!("confirm {confirm}, hosts {}", h.join(", ")),
    }
}

/// What accepting `file` changes against the accepted state, one line per change (empty:
/// nothing). For the human who proves presence to accept it.
pub fn changes(accepted: Option<&AgentRules>, file: &AgentRules) -> Vec<String> {
    let none = AgentRules::default();
    let old = accepted.unwrap_or(&none);
    let mut out = Vec::new();
    if old.projects != file.projects {
        out.push(format!(
            "projects: {} -> {}",
            names(old.projects.as_ref()),
            names(file.projects.as_ref())
        ));
    }
    if old.environments != file.environments {
        out.push(format!(
            "environments: {} -> {}",
            names(old.environments.as_ref()),
            names(file.environments.as_ref())
        ));
    }
    let selectors: BTreeSet<&String> = old.keys.keys().chain(file.keys.keys()).collect();
    for k in selectors {
        let (before, after) = (old.keys.get(k), file.keys.get(k));
        if before != after {
            out.push(format!(
                "key {k}: {} -> {}",
                rule_text(before),
                rule_text(after)
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests;
