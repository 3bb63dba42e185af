//! The plain records some requests carry and some replies list: a run's facts, a brokered
//! call, an approval's facts, an enrolled passkey. Split from `wire.rs`, whose `Request`
//! names them.

use serde::{Deserialize, Serialize};

use crate::wire::Proof;

/// An enrolled passkey as listed: never its key.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PasskeyView {
    /// The credential id, base64url without padding.
    pub id: String,
    pub name: String,
    /// Unix seconds.
    pub created: u64,
    /// Unix seconds of the last accepted assertion, if any.
    #[serde(default)]
    pub last_used: Option<u64>,
}

/// Everything `kovra api` sends: no credential, and no host.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiRequest {
    pub provider: String,
    pub method: String,
    pub path: String,
    #[serde(default)]
    pub query: Vec<(String, String)>,
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// Base64 (standard, padded), so any bytes fit in a JSON frame.
    #[serde(default)]
    pub body_base64: Option<String>,
    /// The record to use; by default `secret:ENV/PROVIDER/NAME` for each claimed name.
    #[serde(default)]
    pub secret: Option<String>,
    #[serde(default)]
    pub env_name: Option<String>,
    #[serde(default)]
    pub timeout_secs: Option<u64>,
    #[serde(default)]
    pub proof: Option<Proof>,
}

/// An open request for the human to add a value. The description is the requester's words.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SecretRequestView {
    pub coordinate: String,
    /// `global` or `project:NAME`.
    pub vault: String,
    pub description: String,
    /// Unix seconds.
    pub requested: u64,
    /// Surface and origin of the requester, e.g. `mcp/agent`.
    pub by: String,
}

/// A brokered call's response, already stripped of auth headers and scrubbed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiReply {
    pub status: u16,
    pub host: String,
    pub coordinate: String,
    pub headers: Vec<(String, String)>,
    /// The body when it is UTF-8.
    pub body: Option<String>,
    /// The body in base64 when it is not.
    pub body_base64: Option<String>,
    pub removed_headers: Vec<String>,
    pub duration_ms: u64,
}

/// A terminal's size, sent when the client runs on one (the child then gets a PTY).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TermSize {
    pub rows: u16,
    pub cols: u16,
}

/// Everything `kovra run` sends: the facts of the process to start, never a value.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRequest {
    pub argv: Vec<String>,
    pub cwd: String,
    /// The caller's environment; the child gets it minus every `KOVRA_*` variable.
    pub env: Vec<(String, String)>,
    /// The `.env.refs` text and where it came from (for error messages); `None` without one.
    #[serde(default)]
    pub refs: Option<String>,
    #[serde(default)]
    pub refs_path: Option<String>,
    /// Substituted for `${ENV}` in coordinates.
    #[serde(default)]
    pub env_name: Option<String>,
    /// Inject only these variables (all when empty).
    #[serde(default)]
    pub only: Vec<String>,
    #[serde(default)]
    pub no_secrets: bool,
    /// Variables (besides the clean set) a run with protected values may keep.
    #[serde(default)]
    pub keep_env: Vec<String>,
    /// Present when the client is on a terminal.
    #[serde(default)]
    pub tty: Option<TermSize>,
    #[serde(default)]
    pub proof: Option<Proof>,
    /// Values or placeholders for records pinned to a provider (`docs/placeholders.md`).
    #[serde(default)]
    pub delivery: crate::DeliveryChoice,
    /// Which other hosts the child may reach through the egress proxy.
    #[serde(default)]
    pub egress: EgressChoice,
}

/// `kovra run --egress`: what the egress proxy does with a tunnel to a host no placeholder
/// of the run is pinned to.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum EgressChoice {
    /// Tunnelled untouched.
    #[default]
    Open,
    /// Refused.
    PinnedOnly,
}

/// An executable pinned by path and content.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AllowEntry {
    pub path: String,
    pub sha256: String,
    pub added: u64,
}

/// One finding of `kovra doctor`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Finding {
    /// `error` or `warning`.
    pub level: String,
    /// A stable kind: `unresolved`, `unused-record`, `production-fallback`, `shadows-caller`,
    /// `shadows-global`, `parse-error`.
    pub kind: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// The record a finding is about, where one is (`database-proxy`: the connection
    /// `doctor --connect` tries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coordinate: Option<String>,
}

/// One fact shown to the human who approves a request. `untrusted` marks text the requester
/// chose (command lines, arguments, descriptions), which is shown fenced.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Fact {
    pub name: String,
    pub value: String,
    #[serde(default)]
    pub untrusted: bool,
}

/// A request parked for out-of-band approval.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ApprovalView {
    pub id: String,
    pub action: String,
    pub surface: String,
    pub origin: String,
    pub created: u64,
    pub expires_in: u64,
    pub facts: Vec<Fact>,
}
