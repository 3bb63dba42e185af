//! Brokered database queries on the wire (`kovra query`, the MCP `query` tool): the daemon
//! connects with a connection record and returns rows; the caller never sees the connection.

use serde::{Deserialize, Serialize};

use crate::wire::Proof;

/// Run one statement with a connection record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueryRequest {
    pub coordinate: String,
    /// One statement; `$1`, `$2`… are bound to `params`, never interpolated.
    pub sql: String,
    #[serde(default)]
    pub params: Vec<String>,
    /// Run it in a transaction that may write (a proof of presence); by default READ ONLY.
    #[serde(default)]
    pub write: bool,
    /// At most this many rows come back (default 1,000, at most 10,000).
    #[serde(default)]
    pub max_rows: Option<u64>,
    /// The statement's timeout in seconds (default 30, at most 300).
    #[serde(default)]
    pub timeout_secs: Option<u64>,
    #[serde(default)]
    pub proof: Option<Proof>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct QueryColumn {
    pub name: String,
    /// The server's type name (`int4`, `text`, …).
    pub type_name: String,
}

/// The rows, scrubbed of every vault value; each value in PostgreSQL's text form, `null` for
/// SQL NULL.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueryReply {
    pub coordinate: String,
    pub columns: Vec<QueryColumn>,
    pub rows: Vec<Vec<Option<String>>>,
    /// Rows the server produced (a lower bound when `truncated`).
    pub row_count: u64,
    /// More rows or bytes than the caps: the rest was not read.
    pub truncated: bool,
    pub command_tag: String,
    pub duration_ms: u64,
}
