//! Scans for leaks (`kovra hook pre-commit`, `kovra hook prompt`, `kovra hook tool-output`):
//! texts go to the daemon, which holds the values; only places and names come back.

use serde::{Deserialize, Serialize};

/// One stretch of text, and where its first line sits in its source.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ScanText {
    /// The file (or `prompt`, `tool output`) the text comes from.
    pub label: String,
    /// The line number of the text's first line (1-based).
    pub first_line: u32,
    pub text: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ScanRequest {
    /// `pre-commit`, `prompt` or `tool-output`: for the trail.
    pub purpose: String,
    pub texts: Vec<ScanText>,
}

/// One leak found: where, and what it is (never the text itself).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ScanFinding {
    pub label: String,
    pub line: u32,
    /// 1-based, in characters of the line.
    pub column: u32,
    /// `vault-value` (a value of the vault, or an encoding of one) or `key-format` (a
    /// well-known credential format the vault need not know).
    pub kind: String,
    /// For a vault value: its coordinate, or `redacted` outside the caller's scope. For a
    /// key format: the format (`aws-access-key-id`, `github-token`, …).
    pub what: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ScanReply {
    pub findings: Vec<ScanFinding>,
    /// Bytes scanned.
    pub bytes: u64,
}
