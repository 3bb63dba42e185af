//! The tools' structured results (their output schemas): what the daemon answered, in the
//! shape the agent reads. Never a value (only `reveal` returns one, as text).

use rmcp::schemars;
use serde::Serialize;

/// A value's name on the wire (`inject-only`, `metadata`, ...); `None` if it has none.
pub(crate) fn wire_name<T: Serialize>(value: &T) -> Option<String> {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
}

/// Inlined in `list`'s schema rather than referenced: clients validate every record of a
/// page against it, and resolving a `$ref` per record is a fifth of that work (jsonschema).
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[schemars(inline)]
pub struct RecordOut {
    pub coordinate: String,
    /// `global` or `project:NAME`.
    pub vault: String,
    pub env: String,
    pub sensitivity: String,
    pub revealable: bool,
    pub production: bool,
    pub description: String,
    pub version: u64,
    pub updated: u64,
    pub totp: bool,
}

impl From<kovra_proto::RecordView> for RecordOut {
    fn from(r: kovra_proto::RecordView) -> Self {
        RecordOut {
            coordinate: r.coordinate,
            vault: r.vault,
            env: r.env,
            sensitivity: wire_name(&r.sensitivity).unwrap_or_default(),
            revealable: r.revealable,
            production: r.production,
            description: r.description,
            version: r.version,
            updated: r.updated,
            totp: r.totp.is_some(),
        }
    }
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ListOut {
    /// This page of records, ordered by vault then coordinate.
    pub records: Vec<RecordOut>,
    /// Rows withheld because they failed authentication (in the whole listing).
    pub tampered: usize,
    /// Records the index knows that the database no longer holds (in the whole listing).
    pub missing: usize,
    /// Records in the whole listing, every page together.
    pub total: usize,
    /// Set when more records follow: call `list` again with this as `cursor` (and the same
    /// `env`). Opaque: pass it unchanged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    /// The position of this page's first record in the listing (from 1), for the summary.
    #[serde(skip)]
    pub(crate) first: usize,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct StatusOut {
    pub initialized: bool,
    pub unlocked: bool,
    /// The project vaults this session may address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub projects: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locks_in_secs: Option<u64>,
    pub production_environments: Vec<String>,
    /// The project bare coordinates resolve in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// This session's operations.
    pub operations: Vec<String>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct FingerprintOut {
    pub coordinate: String,
    pub fingerprint: String,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct RunOut {
    /// The exit code, or 128+N after signal N.
    pub exit_code: i32,
    /// Redacted standard output.
    pub stdout: String,
    /// Redacted standard error.
    pub stderr: String,
    /// Whether output beyond `max_output_bytes` was dropped.
    pub truncated: bool,
    /// Whether the program was stopped at its timeout.
    pub timed_out: bool,
    /// The names (not values) of the variables injected.
    pub injected: Vec<String>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct WrittenOut {
    pub coordinate: String,
    pub vault: String,
    pub version: u64,
}
