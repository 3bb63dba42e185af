//! Backups of the vault file, and putting one back.
//!
//! A backup is the database as SQLite's online backup API copies it (one consistent
//! snapshot while the daemon keeps serving), inside a small container:
//!
//! ```text
//! "KOVRA-BACKUP-V1\n" ‖ header JSON ‖ "\n" ‖ database bytes ‖ tag (32)
//! ```
//!
//! The header names the vault, its audit chain's length and head at the copy, the time
//! and the database's length. The tag is HMAC-SHA256 under the root key's `backup` subkey
//! over the magic, the header and the database: a changed byte anywhere, or a header naming
//! another state, is refused. The database holds what the vault file holds: every name,
//! value and audit entry sealed, so a backup is ciphertext only, like the file.
//!
//! **The last acknowledged state.** A backup carries its own audit head, so on its own it
//! cannot tell that it is old. Two facts outside it can: the current vault file's header
//! (when there is one), and `acknowledged.json` beside the vault, which the daemon rewrites
//! with the vault id, audit length and head whenever it locks, backs up, recovers or
//! restores. Neither is inside any backup. A restore whose backup is behind either (fewer
//! audit entries, the same number with another head, or another vault) is a rollback:
//! refused unless asked for, with a proof of presence. The file is a lower bound kept by
//! the daemon, not a secret; deleting it loses only this check, as deleting the vault
//! would lose the vault.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::locked::read_header;
use super::{
    DB_FILE, LockedStore, Result, StoreError, UnlockedStore, ensure_private_dir, hex_lower, io_err,
    now,
};
use crate::audit::AuditEntry;
use crate::crypto::{self, Key};

pub(super) const MAGIC: &[u8; 16] = b"KOVRA-BACKUP-V1\n";
pub(super) const TAG_LEN: usize = 32;
const ACK_FILE: &str = "acknowledged.json";
const STAGING: &str = ".restore-staging";

/// Where a vault's audit chain stands: what a backup holds, and what a restore compares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VaultState {
    pub vault_id: String,
    pub audit_seq: u64,
    pub audit_head: String,
}

/// How a backup's state compares with one the vault home knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// As far along, or further (a vault file that was itself rolled back).
    Current,
    /// Fewer audit entries: older.
    Older,
    /// As many entries, another head: a state that diverged.
    Diverged,
    /// Another vault altogether.
    OtherVault,
}

impl VaultState {
    pub fn compare(&self, known: &VaultState) -> Freshness {
        if self.vault_id != known.vault_id {
            Freshness::OtherVault
        } else if self.audit_seq < known.audit_seq {
            Freshness::Older
        } else if self.audit_seq == known.audit_seq && self.audit_head != known.audit_head {
            Freshness::Diverged
        } else {
            Freshness::Current
        }
    }
}

/// A backup's header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupInfo {
    #[serde(flatten)]
    pub state: VaultState,
    /// Unix seconds.
    pub created: u64,
    pub(super) db_len: u64,
}

fn tag_key(root: &Key) -> Key {
    crypto::subkey(root, "backup")
}

fn tag(key: &Key, header: &[u8], db: &[u8]) -> [u8; 32] {
    crypto::mac(key.as_ref(), &[MAGIC, header, db])
}

fn backup_err(what: impl Into<String>) -> StoreError {
    StoreError::BackupInvalid(what.into())
}

/// Write `bytes` to `path` (0600) without replacing anything there: a temporary file in the
/// same directory, synced, then hard-linked into place (which fails if `path` exists).
fn write_new(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = temp_beside(path, "tmp");
    let written = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::hard_link(&tmp, path)
    })();
    let _ = fs::remove_file(&tmp);
    written.map_err(io_err(path))?;
    sync_dir(path);
    Ok(())
}

fn temp_beside(path: &Path, what: &str) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let nonce = hex_lower(&crypto::random_array::<6>());
    path.with_file_name(format!(".{name}.{what}-{nonce}"))
}

fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent()
        && let Ok(d) = File::open(dir)
    {
        let _ = d.sync_all();
    }
}

impl UnlockedStore {
    /// Where this store's audit chain stands now.
    pub fn state(&self) -> VaultState {
        VaultState {
            vault_id: hex_lower(&self.uuid),
            audit_seq: self.audit_seq,
            audit_head: hex_lower(&self.audit_head),
        }
    }

    /// Record this state as the home's last acknowledged one (`acknowledged.json`).
    pub fn acknowledge(&self) -> Result<()> {
        let Some(home) = self.path.parent() else {
            return Ok(());
        };
        let path = home.join(ACK_FILE);
        let tmp = temp_beside(&path, "tmp");
        let text = serde_json::to_vec(&self.state()).unwrap_or_default();
        let written = (|| {
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(&text)?;
            f.sync_all()?;
            fs::rename(&tmp, &path)
        })();
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        written.map_err(io_err(&path))
    }

    /// Write a backup of the vault to `dest`, which must not exist. `audit` is appended
    /// first, so the backup holds the entry that made it.
    pub fn backup_to(&mut self, dest: &Path, audit: AuditEntry) -> Result<BackupInfo> {
        if dest.exists() {
            return Err(StoreError::AlreadyExists(dest.display().to_string()));
        }
        self.audit(audit)?;
        let copy = temp_beside(dest, "copy");
        let copied = self.copy_to(&copy);
        let db = copied.and_then(|state| {
            let bytes = fs::read(&copy).map_err(io_err(&copy))?;
            Ok((state, bytes))
        });
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let _ = fs::remove_file(format!("{}{suffix}", copy.display()));
        }
        let (state, db) = db?;
        let info = BackupInfo {
            state,
            created: now(),
            db_len: db.len() as u64,
        };
        let header = serde_json::to_vec(&info).unwrap_or_default();
        let mut out = Vec::with_capacity(MAGIC.len() + header.len() + 1 + db.len() + TAG_LEN);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&header);
        out.push(b'\n');
        out.extend_from_slice(&db);
        out.extend_from_slice(&tag(&tag_key(&self.root), &header, &db));
        write_new(dest, &out)?;
        Ok(info)
    }

    /// SQLite's online backup of this connection into a new file at `path`; returns the
    /// state its header records (read from the copy itself).
    fn copy_to(&self, path: &Path) -> Result<VaultState> {
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(io_err(path))?;
        let mut dst = rusqlite::Connection::open(path)?;
        {
            let backup = rusqlite::backup::Backup::new(&self.conn, &mut dst)?;
            backup.run_to_completion(1024, std::time::Duration::ZERO, None)?;
        }
        // One file, no journal beside it: what is read next is the whole database.
        let _: String = dst.query_row("PRAGMA journal_mode=DELETE", [], |r| r.get(0))?;
        let header = read_header(&dst)?;
        Ok(VaultState {
            vault_id: hex_lower(&header.uuid),
            audit_seq: header.audit_seq,
            audit_head: hex_lower(&header.audit_head),
        })
    }
}

/// What a vault home knows of its own state without a key: its vault file's header (when
/// there is one) and its last acknowledged state. A restore compares a backup with each.
/// An unreadable vault file or acknowledgement counts as none: restoring over a damaged
/// vault is what backups are for.
pub fn known_states(home: &Path) -> Vec<VaultState> {
    let mut known = Vec::new();
    let current = LockedStore::open(home).and_then(|locked| read_header(&locked.conn));
    if let Ok(header) = current {
        known.push(VaultState {
            vault_id: hex_lower(&header.uuid),
            audit_seq: header.audit_seq,
            audit_head: hex_lower(&header.audit_head),
        });
    }
    if let Some(ack) = acknowledged(home) {
        known.push(ack);
    }
    known
}

/// The home's last acknowledged state alone (`acknowledged.json`), if it has a readable one.
pub fn acknowledged(home: &Path) -> Option<VaultState> {
    fs::read(home.join(ACK_FILE))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
}

/// A backup file, read and parsed but not yet verified.
pub struct BackupFile {
    pub info: BackupInfo,
    header: Vec<u8>,
    pub(super) db: Vec<u8>,
    tag: Vec<u8>,
}

impl BackupFile {
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = fs::read(path).map_err(io_err(path))?;
        let rest = bytes
            .strip_prefix(MAGIC.as_slice())
            .ok_or_else(|| backup_err("it does not start as a kovra backup does"))?;
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| backup_err("its header is cut off"))?;
        let header = rest[..end].to_vec();
        let info: BackupInfo =
            serde_json::from_slice(&header).map_err(|_| backup_err("its header is unreadable"))?;
        let body = &rest[end + 1..];
        if body.len() as u64 != info.db_len + TAG_LEN as u64 {
            return Err(StoreError::BackupTampered(
                "its length is not the length its header records".into(),
            ));
        }
        let (db, tag) = body.split_at(body.len() - TAG_LEN);
        Ok(BackupFile {
            info,
            header,
            db: db.to_vec(),
            tag: tag.to_vec(),
        })
    }

    /// Check the backup with its passphrase in a staging directory of `home`: the root key
    /// it unwraps must authenticate the tag, the database must unlock (its record index and
    /// header authentic) and its audit chain verify, and its header must be the state the
    /// backup's header names. Nothing of the current vault is touched.
    pub fn stage(self, home: &Path, passphrase: &[u8]) -> Result<Staged> {
        ensure_private_dir(home)?;
        let dir = home.join(STAGING);
        let _ = fs::remove_dir_all(&dir);
        ensure_private_dir(&dir)?;
        let staged = (|| {
            write_new(&dir.join(DB_FILE), &self.db)?;
            let locked = LockedStore::open(&dir).map_err(tampered)?;
            // The cost is read before the tag can be checked: a backup asking for more than
            // any kovra client derives (`proof::MAX_KDF`) is refused before Argon2id runs.
            let kdf = read_header(&locked.conn).map_err(tampered)?.kdf;
            let max = crate::proof::MAX_KDF;
            if kdf.m_kib > max.m_kib || kdf.t > max.t || kdf.p > max.p {
                return Err(StoreError::BackupTampered(
                    "it asks for a key-derivation cost no kovra vault uses".into(),
                ));
            }
            let root = locked.check_passphrase(passphrase)?;
            if !crypto::mac_eq(&tag(&tag_key(&root), &self.header, &self.db), &self.tag) {
                return Err(StoreError::BackupTampered(
                    "its integrity tag does not match its content".into(),
                ));
            }
            let store = locked.unlock(passphrase).map_err(tampered)?;
            if store.state() != self.info.state {
                return Err(StoreError::BackupTampered(
                    "its header names another state than its database holds".into(),
                ));
            }
            if !store.verify_audit()?.ok {
                return Err(StoreError::BackupTampered(
                    "its audit chain does not verify".into(),
                ));
            }
            Ok(store)
        })();
        match staged {
            Ok(store) => Ok(Staged { store, dir }),
            Err(e) => {
                let _ = fs::remove_dir_all(&dir);
                Err(e)
            }
        }
    }
}

/// Anything but the passphrase failing inside a backup whose tag was not yet checked (or
/// did check) means the backup is not what was written.
fn tampered(e: StoreError) -> StoreError {
    match e {
        StoreError::WrongPassphrase => e,
        other => StoreError::BackupTampered(other.to_string()),
    }
}

/// A verified backup, unlocked in its staging directory, ready to take the vault's place.
pub struct Staged {
    store: UnlockedStore,
    dir: PathBuf,
}

impl Staged {
    pub fn state(&self) -> VaultState {
        self.store.state()
    }

    /// Put the backup in the vault's place: `audit` is appended to it, the current vault
    /// file (with its WAL) is renamed aside to `vault.db.replaced-TIME`, and the staged file
    /// renamed in. Returns where the replaced vault went, if there was one.
    pub fn install(mut self, home: &Path, audit: AuditEntry) -> Result<Option<PathBuf>> {
        self.store.audit(audit)?;
        // Everything into the file itself before it moves without its WAL.
        let _: (i64, i64, i64) =
            self.store
                .conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })?;
        let Staged { store, dir } = self;
        drop(store);
        let db = LockedStore::db_path(home);
        let aside = if db.exists() {
            let aside = home.join(format!("{DB_FILE}.replaced-{}", now()));
            for suffix in ["-wal", "-shm"] {
                let from = PathBuf::from(format!("{}{suffix}", db.display()));
                if from.exists() {
                    let to = PathBuf::from(format!("{}{suffix}", aside.display()));
                    fs::rename(&from, &to).map_err(io_err(&from))?;
                }
            }
            fs::rename(&db, &aside).map_err(io_err(&db))?;
            Some(aside)
        } else {
            None
        };
        let staged = dir.join(DB_FILE);
        fs::rename(&staged, &db).map_err(io_err(&staged))?;
        sync_dir(&db);
        let _ = fs::remove_dir_all(&dir);
        Ok(aside)
    }
}
