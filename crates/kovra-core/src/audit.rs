//! Audit entries and their chain. Each entry is sealed (coordinates are secrets of a kind
//! too) and chained with an HMAC over the previous link, so an edit, a deletion, a reorder
//! or a truncation is detected by `verify`.

use serde::{Deserialize, Serialize};

use crate::crypto::{self, AuthError, Key};

/// One audited event. Never holds a value, a passphrase or a header value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct AuditEntry {
    /// Position in the chain, from 1. Set by the store when appended.
    #[serde(default)]
    pub seq: u64,
    /// Unix seconds.
    pub time: u64,
    /// What happened: `add`, `reveal`, `unlock`, `list`…
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coordinate: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vault: Option<String>,
    pub surface: String,
    pub origin: String,
    /// `allow`, `needs-proof`, `deny`, `unaddressable`, `ok`, `error`.
    pub decision: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exe: Option<String>,
    /// Free-form, value-free detail (a version number, a count).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The agent profile whose socket the request came through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
}

/// The chain's genesis link.
pub const GENESIS: [u8; 32] = [0u8; 32];

/// The keys an audit chain needs, both derived from the root key.
pub struct AuditKeys {
    pub seal: Key,
    pub mac: Key,
}

impl AuditKeys {
    pub fn from_root(root: &Key) -> Self {
        AuditKeys {
            seal: crypto::subkey(root, "audit-seal"),
            mac: crypto::subkey(root, "audit-mac"),
        }
    }

    pub fn seal_entry(&self, entry: &AuditEntry) -> Vec<u8> {
        // Serializing plain strings and integers cannot fail.
        let json = serde_json::to_vec(entry).unwrap_or_default();
        crypto::seal(&self.seal, &entry.seq.to_be_bytes(), &json)
    }

    pub fn open_entry(&self, seq: u64, sealed: &[u8]) -> Result<AuditEntry, AuthError> {
        let json = crypto::open(&self.seal, &seq.to_be_bytes(), sealed)?;
        let entry: AuditEntry = serde_json::from_slice(&json).map_err(|_| AuthError)?;
        if entry.seq != seq {
            return Err(AuthError);
        }
        Ok(entry)
    }

    /// The link after `prev` for the sealed entry at `seq`.
    pub fn link(&self, prev: &[u8; 32], seq: u64, sealed: &[u8]) -> [u8; 32] {
        crypto::mac(self.mac.as_ref(), &[prev, &seq.to_be_bytes(), sealed])
    }
}

/// Where a chain stops being trustworthy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "problem")]
pub enum ChainBreak {
    /// A sequence number is missing or out of order (a deleted or reordered row).
    Gap { expected: u64, found: u64 },
    /// A row's link does not follow from the previous one (an edited row).
    BadLink { seq: u64 },
    /// A row does not open under the audit key.
    Unreadable { seq: u64 },
    /// The chain ends before the head the vault recorded (truncated).
    Truncated { expected_last: u64, found_last: u64 },
    /// The last link differs from the recorded head.
    HeadMismatch,
}

impl std::fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChainBreak::Gap { expected, found } => {
                write!(f, "entry {expected} is missing (next found: {found})")
            }
            ChainBreak::BadLink { seq } => write!(
                f,
                "entry {seq} was altered (its chain link does not verify)"
            ),
            ChainBreak::Unreadable { seq } => write!(f, "entry {seq} does not authenticate"),
            ChainBreak::Truncated {
                expected_last,
                found_last,
            } => {
                write!(
                    f,
                    "the trail ends at entry {found_last} but {expected_last} were written"
                )
            }
            ChainBreak::HeadMismatch => {
                f.write_str("the last entry does not match the recorded chain head")
            }
        }
    }
}
