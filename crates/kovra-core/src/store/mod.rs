//! The sealed SQLite store. Every name, description, flag and value is sealed; rows are
//! found by keyed lookups, so the file shows only counts and sizes. Every write is one
//! transaction that also appends its audit entry: a write that cannot be audited does not
//! happen.
//!
//! - `layout`: the on-disk format — every lookup, every AAD, every seal and open.
//! - `locked`: opening and creating the file, the header, unwrapping the root key.
//! - `unlocked`: the unlocked store, its authenticated index and its write transaction.
//! - `records`: reading and writing records.
//! - `listed`: the opened metadata of listed vaults, kept until a write changes it.
//! - `relocate`: moving a record, with its history, to another coordinate or vault.
//! - `maintenance`: passphrase change, key rotation and the audit trail.
//! - `recovery`: the root key's second wrapping, under a recovery kit.
//! - `backup`: consistent copies of the file with an integrity tag, and restoring one.

use std::collections::HashMap;
use std::fs::{self, DirBuilder};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::audit::{AuditKeys, ChainBreak};
use crate::crypto::{KdfError, Key, KeyedMac};
use crate::model::{Metadata, VaultName};

mod backup;
#[cfg(test)]
mod backup_tests;
#[cfg(test)]
mod faults;
mod layout;
mod listed;
mod locked;
mod maintenance;
mod records;
mod recovery;
#[cfg(test)]
mod recovery_tests;
mod relocate;
#[cfg(test)]
mod snapshot_tests;
#[cfg(test)]
mod tests;
mod unlocked;

pub use backup::{
    BackupFile, BackupInfo, Freshness, Staged, VaultState, acknowledged, known_states,
};
pub use listed::Rendered;
pub use locked::ProofVerifier;
pub use relocate::Place;

use layout::Lookup;

pub const DB_FILE: &str = "vault.db";

/// What can go wrong in the store. Messages name coordinates, never values.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no vault at {0}")]
    NotInitialized(PathBuf),
    #[error("a vault already exists at {0}")]
    AlreadyInitialized(PathBuf),
    #[error("wrong passphrase")]
    WrongPassphrase,
    #[error("record {0} failed authentication and is refused")]
    RecordTampered(String),
    #[error("the vault's record index does not match its authenticated state ({0})")]
    VaultTampered(String),
    #[error("no project named `{0}`")]
    UnknownProject(String),
    #[error("project `{0}` already exists")]
    ProjectExists(String),
    #[error("{0} already exists")]
    AlreadyExists(String),
    #[error("{0} has no version {1}")]
    NoSuchVersion(String, u64),
    /// The file itself: SQLite failed, or what it holds has the wrong shape. Only for what
    /// the file did, never for what a caller asked.
    #[error("the vault database is unreadable or corrupt: {0}")]
    Corrupt(String),
    /// The disk (or the database's size limit) is full: nothing of the write was kept.
    #[error("the disk holding the vault is full; nothing was written ({0})")]
    DiskFull(String),
    /// Another process holds a lock on the database file for longer than the store waits.
    #[error("another process holds the vault database locked ({0})")]
    Busy(String),
    /// The file or its filesystem cannot be written.
    #[error("the vault database cannot be written: it or its filesystem is read-only ({0})")]
    ReadOnly(String),
    /// The key-derivation parameters given for a new wrapping are not usable (a caller's
    /// parameters, not the file's).
    #[error("cannot derive a key: {0}")]
    Kdf(KdfError),
    /// A caller asked to write the same record twice in one transaction.
    #[error("{0} appears twice in one write")]
    DuplicateInWrite(String),
    /// A caller asked to keep the current value of a record that has none.
    #[error("{0} has no value to keep")]
    NoValueToKeep(String),
    /// A caller's `Allowed` token is for another operation than the one it used it for.
    #[error("{coordinate}: the decision allowed {operation}, not this")]
    NotAllowed {
        coordinate: String,
        operation: String,
    },
    /// `recover` on a vault that never had a recovery kit made.
    #[error("this vault has no recovery kit")]
    NoRecoveryKit,
    /// The kit is well formed but does not open this vault's recovery wrapping.
    #[error(
        "the recovery kit does not open this vault (it is another vault's, or was replaced by a newer kit)"
    )]
    WrongRecoveryKit,
    /// The file given to restore is not a kovra backup (or is cut short).
    #[error("not a kovra backup: {0}")]
    BackupInvalid(String),
    /// The backup does not verify: changed after it was written, or assembled from parts.
    #[error("the backup failed verification and is refused: {0}")]
    BackupTampered(String),
    #[error("cannot write the vault at {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// SQLite says why it failed; only a failure of the file itself is `Corrupt`. A full disk,
/// a lock held elsewhere or a read-only file are conditions to fix, and advice to restore
/// a backup would be wrong for them.
impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode as Sqlite;
        let code = match &e {
            rusqlite::Error::SqliteFailure(failure, _) => Some(failure.code),
            _ => None,
        };
        match code {
            Some(Sqlite::DiskFull) => StoreError::DiskFull(e.to_string()),
            Some(Sqlite::DatabaseBusy | Sqlite::DatabaseLocked) => StoreError::Busy(e.to_string()),
            Some(Sqlite::ReadOnly) => StoreError::ReadOnly(e.to_string()),
            _ => StoreError::Corrupt(e.to_string()),
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Create `dir` (and parents) with mode 0700, and tighten it if it already exists.
pub fn ensure_private_dir(dir: &Path) -> Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io_err(dir))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io_err(dir))
}

/// A vault home whose key is not (yet) available.
pub struct LockedStore {
    conn: Connection,
    path: PathBuf,
}

/// A record's current metadata, with the vault that holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub vault: VaultName,
    pub meta: Metadata,
}

/// A plaintext value, wiped on drop. Inside the store only: what leaves it is a
/// [`SecretBytes`](crate::secret::SecretBytes), read with a decision's token.
pub(crate) type Value = Zeroizing<Vec<u8>>;

/// The result of listing one vault: authentic records, plus counts of what was withheld.
#[derive(Debug, Default, Clone)]
pub struct Listing {
    pub records: Vec<Record>,
    /// Rows that failed authentication (edited, swapped or replayed).
    pub tampered: usize,
    /// Records the authenticated index knows but the database no longer holds.
    pub missing: usize,
    /// Each record rendered once by the reader of a kept listing ([`Listing::rendered`]).
    rendered: std::sync::OnceLock<Rendered>,
}

/// The outcome of verifying the audit chain.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuditReport {
    pub entries: u64,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<ChainBreak>,
}

/// The purpose keys derived from the root key.
struct Keys {
    /// Keyed once at unlock: a run computes a vault and a record lookup per value, and
    /// hashing the key again for each was half of every lookup's cost.
    index: KeyedMac,
    state: Key,
    wrap: Key,
    fingerprint: Key,
    header: Key,
    audit: AuditKeys,
}

/// The unlocked store. Holds the root key; lives only inside the daemon.
pub struct UnlockedStore {
    conn: Connection,
    path: PathBuf,
    root: Key,
    uuid: Vec<u8>,
    keys: Keys,
    /// The authenticated record index: lookup → (vault lookup, version).
    index: HashMap<Lookup, (Lookup, u64)>,
    state_tag: [u8; 32],
    audit_seq: u64,
    audit_head: [u8; 32],
    deks: HashMap<Lookup, Key>,
    proof: ProofVerifier,
    /// Each listed vault's opened metadata, kept for the next `list` (see `listed.rs`).
    listed: Listed,
}

/// Opened listings by vault lookup, and the SQLite `data_version` they were read at.
///
/// Metadata is kept *plain* in the daemon's memory, not sealed again: it is what `list`
/// shows to any client allowed to list; it sits in the same non-dumpable process as the root
/// key that opens it, so a reader of this memory would have the key anyway; and re-opening
/// 100,000 sealed rows (a keyed lookup and an AEAD open each) per `list` is what made a large
/// list slow. Values are never kept here. The whole map is dropped with the store on lock
/// (`docs/design/daemon.md` §1).
#[derive(Default)]
struct Listed {
    vaults: HashMap<Lookup, Arc<Listing>>,
    /// Vaults found not to exist (no settings yet, a project never created): every run
    /// asks for the system vault's allowlist, and the miss was a query each time.
    absent: std::collections::HashSet<Lookup>,
    data_version: i64,
    snapshot: Snapshot,
}

/// Whether reads share one read transaction (`listed.rs`), and whether `data_version` was
/// checked in it.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
enum Snapshot {
    #[default]
    None,
    Open,
    Checked,
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
