//! Agent profiles and sandboxes on the wire (`docs/protocol.md` §13).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use kovra_core::agent::EgressPolicy;
use kovra_core::model::OperationClass;
use kovra_core::policy::{EnvScope, ProjectScope, Scope};

/// What the human asks an agent profile to be (`kovra agent create`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentSpec {
    pub name: String,
    pub operations: BTreeSet<OperationClass>,
    pub projects: ProjectScope,
    /// Whether the global vault is addressable.
    pub global: bool,
    pub environments: EnvScope,
    #[serde(default)]
    pub egress: EgressPolicy,
    /// `ENV/GROUP` or `secret:ENV/GROUP/NAME` entries that may be injected as values.
    #[serde(default)]
    pub value_injections: Vec<String>,
    #[serde(default)]
    pub ttl_secs: Option<u64>,
    /// Serve the profile's egress on a fixed loopback port (Claude Code's sandbox names a
    /// proxy port); 0 lets the daemon choose one.
    #[serde(default)]
    pub egress_port: Option<u16>,
    /// Replace a profile of the same name (otherwise that is an error).
    #[serde(default)]
    pub replace: bool,
}

/// A project's `.env.refs` as a client read it: its text and path, and the `${ENV}` value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefsSource {
    #[serde(default)]
    pub refs: Option<String>,
    #[serde(default)]
    pub refs_path: Option<String>,
    #[serde(default)]
    pub env_name: Option<String>,
}

/// One agent profile as `kovra agent list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentView {
    pub name: String,
    pub scope: Scope,
    pub egress: EgressPolicy,
    pub value_injections: Vec<String>,
    /// Unix seconds.
    pub created: u64,
    #[serde(default)]
    pub expires: Option<u64>,
    /// The socket bound to this profile (what `KOVRA_AGENT_SOCKET` names).
    pub socket: String,
    #[serde(default)]
    pub egress_port: Option<u16>,
    /// Requests served on its socket since the daemon started.
    #[serde(default)]
    pub requests: u64,
    /// Unix seconds of the last one.
    #[serde(default)]
    pub last_request: Option<u64>,
    /// Sandboxes running under it now.
    #[serde(default)]
    pub sandboxes: u32,
}

/// What `kovra sandbox` needs from the daemon to build the sandbox. Nothing here is secret:
/// the proxy token only names the sandbox to the proxy, whose listener already knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxGrant {
    pub agent: String,
    /// The directory holding the profile's socket (`daemon.sock`) and the sandbox's egress
    /// socket; bind-mounted into the sandbox.
    pub socket_dir: String,
    /// The egress socket's file name inside `socket_dir`.
    pub egress_socket: String,
    /// The loopback port the sandbox's bridge listens on inside its network namespace (the
    /// proxy's own port, so a run's `HTTPS_PROXY` works inside unchanged).
    pub proxy_port: u16,
    /// Variables for the sandboxed command: proxies, trust bundle, base URLs, placeholders.
    pub env: Vec<(String, String)>,
    /// Files the sandbox must show read-only even where their directory is hidden (the CA
    /// bundle in the vault home).
    pub read_only: Vec<String>,
    /// Paths the sandbox hides: the vault home, the daemon's socket directory.
    pub hidden: Vec<String>,
    /// Refs variables the sandbox's environment does not get (and why).
    #[serde(default)]
    pub skipped: Vec<String>,
}
