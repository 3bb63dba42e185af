//! `kovra import` and `kovra export` on the wire: a `.env` file's entries go to the daemon
//! as coordinates and values, and are written in one transaction or not at all; the reply
//! names what was (or would be) written, never a value.

use kovra_core::model::Sensitivity;
use serde::{Deserialize, Serialize};

use crate::secret::Secret;
use crate::wire::Proof;

/// Write every entry as a new record (or, with `force`, a new version) in one transaction.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImportRequest {
    pub records: Vec<ImportItem>,
    /// Every record's sensitivity; by default each gets the daemon's suggestion.
    #[serde(default)]
    pub sensitivity: Option<Sensitivity>,
    /// Replace records that exist (each decided as an overwrite).
    #[serde(default)]
    pub force: bool,
    /// Decide and answer the plan without writing anything.
    #[serde(default)]
    pub dry_run: bool,
    /// The dotenvx private key (`kovra import --from-dotenvx`): values written
    /// `encrypted:…` are opened in the daemon with it, and it is dropped after the import.
    #[serde(default)]
    pub dotenvx_key: Option<Secret>,
    /// The file's name, for the audit entry (never its content).
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub proof: Option<Proof>,
}

/// One entry: its coordinate and its value.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImportItem {
    pub coordinate: String,
    pub value: Secret,
}

/// Why a record gets a provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PinSource {
    /// The provider claims the variable name (the record is pinned by its key).
    Name,
    /// The value has the provider's key format (the record is born pinned).
    Format,
}

/// What happens to one record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImportRow {
    pub coordinate: String,
    pub sensitivity: Sensitivity,
    #[serde(default)]
    pub provider: Option<String>,
    #[serde(default)]
    pub pin: Option<PinSource>,
    /// An existing record gets a new version.
    #[serde(default)]
    pub replaces: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImportReply {
    pub vault: String,
    pub rows: Vec<ImportRow>,
    /// False for a dry run.
    pub written: bool,
}

/// Every record of one environment that this session addresses, as `NAME=value` pairs for
/// a dotenv file. Never for a production environment.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExportRequest {
    pub env: String,
    #[serde(default)]
    pub group: Option<String>,
    #[serde(default)]
    pub proof: Option<Proof>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExportEntry {
    pub coordinate: String,
    pub name: String,
    pub value: Secret,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExportReply {
    pub env: String,
    pub entries: Vec<ExportEntry>,
}
