//! Agent profiles: what one agent session may address and where its programs may connect,
//! fixed by the human when the profile is made. The daemon binds a socket to each profile, so
//! the scope travels with the socket, not with anything the agent can write.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::coord::{self, CoordError, Coordinate};
use crate::model::OperationClass;
use crate::policy::{EnvScope, Scope};

/// Where programs in an agent's sandbox may connect, besides the hosts of pinned providers
/// (which the egress proxy always serves, swapping placeholders).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "domains")]
pub enum EgressPolicy {
    /// Only the pinned providers' hosts.
    #[default]
    PinnedOnly,
    /// Those, and the listed domains with their subdomains (package registries, say).
    Domains(BTreeSet<String>),
    /// Any host (still through the proxy, which scans for placeholders).
    Any,
}

impl EgressPolicy {
    /// Whether a connection to `host` (no port) is allowed for a host no pinned provider has.
    pub fn allows_unpinned(&self, host: &str) -> bool {
        match self {
            EgressPolicy::PinnedOnly => false,
            EgressPolicy::Any => true,
            EgressPolicy::Domains(list) => domain_listed(list, host),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            EgressPolicy::PinnedOnly => "pinned-only".into(),
            EgressPolicy::Any => "any".into(),
            EgressPolicy::Domains(d) => {
                format!(
                    "pinned + {}",
                    d.iter().cloned().collect::<Vec<_>>().join(",")
                )
            }
        }
    }
}

/// Whether `host` is one of `domains` or a subdomain of one (`domains` lower-case). An IP
/// address has no subdomains: it matches only an entry equal to it (else an entry `0.1`
/// would admit `127.0.0.1`).
pub fn domain_listed<S: AsRef<str>>(domains: impl IntoIterator<Item = S>, host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let address = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::IpAddr>()
        .is_ok();
    domains.into_iter().any(|d| {
        let d = d.as_ref();
        host == d || (!address && host.strip_suffix(d).is_some_and(|rest| rest.ends_with('.')))
    })
}

/// A domain as an egress allowlist names it: lower-case DNS labels, no scheme, port or path.
pub fn validate_domain(domain: &str) -> Result<String, String> {
    let d = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    let ok = !d.is_empty()
        && d.len() <= 253
        && d.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    if ok {
        Ok(d)
    } else {
        Err(format!(
            "`{domain}` is not a domain name (write it like `pypi.org`, without scheme, port or path)"
        ))
    }
}

/// One agent profile, sealed in the system vault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentProfile {
    pub name: String,
    pub scope: Scope,
    #[serde(default)]
    pub egress: EgressPolicy,
    /// Where injecting a value (not a placeholder) into an unallowlisted program is allowed
    /// for this profile: `ENV/GROUP` for a group, or a full coordinate. Empty by default:
    /// a value handed to a program the agent started is a value the agent can print.
    #[serde(default)]
    pub value_injections: BTreeSet<String>,
    /// Unix seconds.
    pub created: u64,
    /// Unix seconds; `None` for a profile that lasts until revoked.
    #[serde(default)]
    pub expires: Option<u64>,
    /// A loopback port the egress proxy serves this profile on (for sandboxes that can only
    /// name a proxy port, like Claude Code's); `None` when the profile has none.
    #[serde(default)]
    pub egress_port: Option<u16>,
    /// Hex of 32 random bytes: the profile's placeholders are derived from it, so they stay
    /// the same for the profile's life and die with it.
    #[serde(default)]
    pub placeholder_seed: String,
}

impl AgentProfile {
    pub fn validate_name(name: &str) -> Result<(), CoordError> {
        coord::validate_name(name)
    }

    pub fn expired(&self, now: u64) -> bool {
        self.expires.is_some_and(|e| now >= e)
    }

    /// Whether the profile opted in to values (not placeholders) for this record.
    pub fn injects_value_of(&self, coordinate: &Coordinate) -> bool {
        let group = format!("{}/{}", coordinate.env(), coordinate.group());
        self.value_injections.contains(&group)
            || self
                .value_injections
                .contains(&coordinate.unpinned().to_string())
    }

    /// Whether this profile grants more than the narrow default: metadata and inject on
    /// non-production environments, placeholders only, pinned hosts (or listed domains).
    /// Making a profile that widens needs a proof of presence.
    pub fn widens(&self) -> bool {
        !self.widening().is_empty()
    }

    /// What this profile grants beyond the narrow default, in words (empty when nothing):
    /// what a proof prompt names, so the human knows what the passphrase approves.
    pub fn widening(&self) -> Vec<String> {
        let mut wider = Vec::new();
        let ops: Vec<&str> = self
            .scope
            .operations
            .iter()
            .filter(|o| !matches!(o, OperationClass::Metadata | OperationClass::Inject))
            .map(|o| match o {
                OperationClass::Reveal => "reveal",
                OperationClass::Write => "write",
                _ => "other",
            })
            .collect();
        if !ops.is_empty() {
            wider.push(format!("operations {}", ops.join(", ")));
        }
        if !matches!(
            self.scope.environments,
            EnvScope::NonProduction | EnvScope::OnlyNonProduction(_)
        ) {
            wider.push("production environments".into());
        }
        if !self.value_injections.is_empty() {
            let groups: Vec<&str> = self.value_injections.iter().map(String::as_str).collect();
            wider.push(format!("values of {}", groups.join(", ")));
        }
        if self.egress == EgressPolicy::Any {
            wider.push("egress to any host".into());
        }
        wider
    }

    /// Check an opt-in entry: `ENV/GROUP` or `secret:ENV/GROUP/NAME`.
    pub fn parse_value_injection(entry: &str) -> Result<String, String> {
        if entry.starts_with("secret:") {
            return Coordinate::parse(entry)
                .map(|c| c.unpinned().to_string())
                .map_err(|e| format!("`{entry}`: {e}"));
        }
        let mut parts = entry.split('/');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(env), Some(group), None)
                if coord::validate_name(env).is_ok() && coord::validate_name(group).is_ok() =>
            {
                Ok(format!("{env}/{group}"))
            }
            _ => Err(format!(
                "`{entry}` is neither ENV/GROUP nor a coordinate (secret:ENV/GROUP/NAME)"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::ProjectScope;

    fn profile(ops: &[OperationClass], env: EnvScope) -> AgentProfile {
        AgentProfile {
            name: "a".into(),
            scope: Scope {
                operations: ops.iter().copied().collect(),
                projects: ProjectScope::All,
                global: true,
                environments: env,
            },
            egress: EgressPolicy::PinnedOnly,
            value_injections: BTreeSet::new(),
            created: 0,
            expires: None,
            egress_port: None,
            placeholder_seed: String::new(),
        }
    }

    #[test]
    fn the_narrow_default_does_not_widen_and_each_loosening_does() {
        let narrow = profile(
            &[OperationClass::Metadata, OperationClass::Inject],
            EnvScope::NonProduction,
        );
        assert!(!narrow.widens());
        let reveal = profile(&[OperationClass::Reveal], EnvScope::NonProduction);
        assert!(reveal.widens());
        let prod = profile(&[OperationClass::Metadata], EnvScope::All);
        assert!(prod.widens());
        let mut values = narrow.clone();
        values.value_injections.insert("dev/db".into());
        assert!(values.widens());
        let mut any = narrow.clone();
        any.egress = EgressPolicy::Any;
        assert!(any.widens());
        let mut domains = narrow;
        domains.egress = EgressPolicy::Domains(["pypi.org".to_string()].into());
        assert!(!domains.widens());
    }

    #[test]
    fn domains_match_themselves_and_subdomains_only() {
        let p = EgressPolicy::Domains(["pypi.org".to_string()].into());
        assert!(p.allows_unpinned("pypi.org"));
        assert!(p.allows_unpinned("files.PYPI.org."));
        assert!(!p.allows_unpinned("evilpypi.org"));
        assert!(!p.allows_unpinned("pypi.org.evil.com"));
        assert!(!EgressPolicy::PinnedOnly.allows_unpinned("pypi.org"));
        assert!(validate_domain("https://x.org").is_err());
        // An address has no subdomains: a numeric entry matches only itself.
        let p = EgressPolicy::Domains(["0.1".to_string(), "10.0.0.5".to_string()].into());
        assert!(
            !p.allows_unpinned("127.0.0.1"),
            "127.0.0.1 as a 'subdomain' of 0.1"
        );
        assert!(!p.allows_unpinned("192.168.0.1"));
        assert!(p.allows_unpinned("10.0.0.5"));
        assert!(!p.allows_unpinned("110.0.0.5"));
        assert_eq!(validate_domain("PyPI.org.").unwrap(), "pypi.org");
    }

    #[test]
    fn opt_ins_name_a_group_or_a_coordinate() {
        let mut p = profile(&[OperationClass::Inject], EnvScope::NonProduction);
        p.value_injections
            .insert(AgentProfile::parse_value_injection("dev/db").unwrap());
        p.value_injections
            .insert(AgentProfile::parse_value_injection("secret://global/dev/app/token").unwrap());
        let c = |s: &str| Coordinate::parse(s).unwrap();
        assert!(p.injects_value_of(&c("secret:dev/db/password")));
        assert!(p.injects_value_of(&c("secret:dev/app/token")));
        assert!(!p.injects_value_of(&c("secret:dev/app/other")));
        assert!(!p.injects_value_of(&c("secret:staging/db/password")));
        assert!(AgentProfile::parse_value_injection("dev").is_err());
    }
}
