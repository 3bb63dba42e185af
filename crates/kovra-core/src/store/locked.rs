//! Opening and creating the vault file, its header, and unwrapping the root key.

use std::fs::{self, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};

use super::{
    DB_FILE, LockedStore, Result, StoreError, UnlockedStore, ensure_private_dir, hex_lower, layout,
};
use crate::audit::GENESIS;
use crate::crypto::{self, KdfParams, Key};
use crate::proof;

const FORMAT: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE header (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  format INTEGER NOT NULL,
  vault_uuid BLOB NOT NULL,
  kdf TEXT NOT NULL,
  salt BLOB NOT NULL,
  wrapped_root BLOB NOT NULL,
  state_mac BLOB NOT NULL,
  audit_seq INTEGER NOT NULL,
  audit_head BLOB NOT NULL
);
CREATE TABLE vaults (lookup BLOB PRIMARY KEY, sealed_name BLOB NOT NULL, wrapped_dek BLOB NOT NULL);
CREATE TABLE records (lookup BLOB PRIMARY KEY, vault BLOB NOT NULL, version INTEGER NOT NULL);
CREATE INDEX records_by_vault ON records (vault);
CREATE TABLE versions (
  record BLOB NOT NULL,
  version INTEGER NOT NULL,
  meta BLOB NOT NULL,
  value BLOB NOT NULL,
  PRIMARY KEY (record, version)
);
CREATE TABLE audit (seq INTEGER PRIMARY KEY, entry BLOB NOT NULL, link BLOB NOT NULL);
";

/// The header row: what is needed to unwrap the root key.
pub(super) struct Header {
    pub uuid: Vec<u8>,
    pub kdf: KdfParams,
    pub salt: Vec<u8>,
    pub wrapped_root: Vec<u8>,
    pub state_mac: Vec<u8>,
    pub audit_seq: u64,
    pub audit_head: Vec<u8>,
}

fn connect(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    // WAL with synchronous=FULL: a commit is durable once it returns.
    let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Corrupt(format!(
            "journal mode {mode} instead of wal"
        )));
    }
    // Map the file rather than copy pages through a small cache: listings read every row.
    conn.execute_batch(
        "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA mmap_size=268435456;",
    )?;
    Ok(conn)
}

impl LockedStore {
    pub fn db_path(home: &Path) -> PathBuf {
        home.join(DB_FILE)
    }

    pub fn exists(home: &Path) -> bool {
        Self::db_path(home).exists()
    }

    /// Open an existing vault home.
    pub fn open(home: &Path) -> Result<Self> {
        let path = Self::db_path(home);
        if !path.exists() {
            return Err(StoreError::NotInitialized(home.to_path_buf()));
        }
        // Check the file is a database before SQLite touches it: opening in WAL mode would
        // otherwise turn an empty or foreign file into a fresh database.
        let mut magic = [0u8; 16];
        let is_sqlite = std::fs::File::open(&path)
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
            .is_ok()
            && &magic == b"SQLite format 3\0";
        if !is_sqlite {
            return Err(StoreError::Corrupt(format!(
                "{} is not a kovra vault database",
                path.display()
            )));
        }
        let conn = connect(&path)?;
        let store = LockedStore { conn, path };
        store.header()?;
        Ok(store)
    }

    /// Create a new vault home with a fresh root key wrapped under `passphrase`.
    pub fn create(home: &Path, passphrase: &[u8], kdf: KdfParams) -> Result<UnlockedStore> {
        ensure_private_dir(home)?;
        let path = Self::db_path(home);
        // Create the file ourselves so it is 0600 from the first byte; SQLite gives its
        // -wal and -shm files the same mode.
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    StoreError::AlreadyInitialized(home.to_path_buf())
                } else {
                    StoreError::Io {
                        path: path.clone(),
                        source: e,
                    }
                }
            })?;
        let created = (|| -> Result<()> {
            let mut conn = connect(&path)?;
            let root = crypto::random_key();
            let uuid: [u8; 16] = crypto::random_array();
            let salt: [u8; 16] = crypto::random_array();
            let kek = crypto::derive_kek(passphrase, &salt, kdf).map_err(StoreError::Kdf)?;
            let wrapped = layout::wrap_root(&kek, &uuid, &kdf, &salt, &root);
            let state_mac = layout::header_mac(
                &crypto::subkey(&root, "header"),
                &uuid,
                &[0u8; 32],
                0,
                &GENESIS,
            );
            let tx = conn.transaction()?;
            tx.execute_batch(SCHEMA)?;
            tx.execute(
                "INSERT INTO header (id, format, vault_uuid, kdf, salt, wrapped_root, state_mac, audit_seq, audit_head)
                 VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, 0, ?7)",
                params![
                    FORMAT,
                    uuid.as_slice(),
                    serde_json::to_string(&kdf).unwrap_or_default(),
                    salt.as_slice(),
                    wrapped,
                    state_mac.as_slice(),
                    GENESIS.as_slice()
                ],
            )?;
            tx.commit()?;
            Ok(())
        })();
        if let Err(e) = created {
            let _ = fs::remove_file(&path);
            return Err(e);
        }
        let locked = LockedStore::open(home)?;
        let unlocked = locked.unlock(passphrase)?;
        Ok(unlocked)
    }

    fn header(&self) -> Result<Header> {
        read_header(&self.conn)
    }

    /// Check a passphrase without consuming the store.
    pub fn check_passphrase(&self, passphrase: &[u8]) -> Result<Key> {
        unwrap_root(&self.header()?, passphrase).map(|(root, _)| root)
    }

    /// Unwrap the root key and verify the record index against its authenticated state.
    pub fn unlock(self, passphrase: &[u8]) -> Result<UnlockedStore> {
        let header = self.header()?;
        let (root, kek) = unwrap_root(&header, passphrase)?;
        let proof = ProofVerifier::new(&kek, &header.salt, header.kdf);
        UnlockedStore::new(self.conn, self.path, root, header, proof)
    }
}

pub(super) fn read_header(conn: &Connection) -> Result<Header> {
    let row = conn
        .query_row(
            "SELECT format, vault_uuid, kdf, salt, wrapped_root, state_mac, audit_seq, audit_head FROM header WHERE id = 1",
            [],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Vec<u8>>(3)?,
                    r.get::<_, Vec<u8>>(4)?,
                    r.get::<_, Vec<u8>>(5)?,
                    r.get::<_, i64>(6)?,
                    r.get::<_, Vec<u8>>(7)?,
                ))
            },
        )
        .optional()?
        .ok_or_else(|| StoreError::Corrupt("the header row is missing".into()))?;
    let (format, uuid, kdf, salt, wrapped_root, state_mac, audit_seq, audit_head) = row;
    if format != FORMAT {
        return Err(StoreError::Corrupt(format!(
            "unsupported vault format {format}"
        )));
    }
    let kdf: KdfParams = serde_json::from_str(&kdf)
        .map_err(|_| StoreError::Corrupt("unreadable KDF parameters".into()))?;
    Ok(Header {
        uuid,
        kdf,
        salt,
        wrapped_root,
        state_mac,
        audit_seq: audit_seq as u64,
        audit_head,
    })
}

/// The root key and the key-encryption key that opened it. A KDF failure here means the
/// stored parameters do not derive, which the AEAD tag would refuse anyway: both are the
/// same `WrongPassphrase`, so the header cannot be probed.
pub(super) fn unwrap_root(header: &Header, passphrase: &[u8]) -> Result<(Key, Key)> {
    let kek = crypto::derive_kek(passphrase, &header.salt, header.kdf)
        .map_err(|_| StoreError::WrongPassphrase)?;
    let root = layout::unwrap_root(
        &kek,
        &header.uuid,
        &header.kdf,
        &header.salt,
        &header.wrapped_root,
    )
    .map_err(|_| StoreError::WrongPassphrase)?;
    Ok((root, kek))
}

/// What checks a passphrase-derived proof of presence (`crate::proof`) without the
/// passphrase: the proof key derived at unlock, and the public salt and cost a client needs
/// to derive it again.
pub struct ProofVerifier {
    pub key: Key,
    pub kdf: proof::ProofKdf,
}

impl ProofVerifier {
    pub(super) fn new(kek: &Key, salt: &[u8], kdf: KdfParams) -> Self {
        ProofVerifier {
            key: proof::key_from_kek(kek),
            kdf: proof::ProofKdf {
                salt: hex_lower(salt),
                kdf,
            },
        }
    }
}
