//! The sealed SQLite store. Every name, description, flag and value is sealed; rows are
//! found by keyed lookups, so the file shows only counts and sizes. Every write is one
//! transaction that also appends its audit entry: a write that cannot be audited does not
//! happen.

use std::collections::HashMap;
use std::fs::{self, DirBuilder, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::audit::{AuditEntry, AuditKeys, ChainBreak, GENESIS};
use crate::coord::Coordinate;
use crate::crypto::{self, KdfParams, Key};
use crate::model::{Metadata, VaultName};
use crate::proof;

pub const DB_FILE: &str = "vault.db";
const FORMAT: i64 = 1;

type Lookup = [u8; 32];

/// What can go wrong in the store. Messages name coordinates, never values.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
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
    #[error("the vault database is unreadable or corrupt: {0}")]
    Corrupt(String),
    #[error("cannot write the vault at {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl StoreError {
    /// The stable machine code (see docs/errors.md).
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::NotInitialized(_) => "not-initialized",
            StoreError::AlreadyInitialized(_) => "already-initialized",
            StoreError::WrongPassphrase => "wrong-passphrase",
            StoreError::RecordTampered(_) => "record-tampered",
            StoreError::VaultTampered(_) => "vault-tampered",
            StoreError::UnknownProject(_) => "unknown-project",
            StoreError::ProjectExists(_) => "project-exists",
            StoreError::AlreadyExists(_) => "already-exists",
            StoreError::NoSuchVersion(..) => "no-such-version",
            StoreError::Corrupt(_) => "database-corrupt",
            StoreError::Io { .. } => "io-error",
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// One sealed record version waiting for its transaction.
struct PreparedPut {
    rlookup: Lookup,
    vlookup: Lookup,
    version: u64,
    sealed_meta: Vec<u8>,
    sealed_value: Vec<u8>,
    old_elem: Option<[u8; 32]>,
    new_elem: [u8; 32],
}

impl PreparedPut {
    fn apply(self, p: &mut Pending<'_>, tx: &Transaction<'_>) -> Result<()> {
        tx.execute(
            "INSERT INTO versions (record, version, meta, value) VALUES (?1, ?2, ?3, ?4)",
            params![
                self.rlookup.as_slice(),
                self.version as i64,
                self.sealed_meta,
                self.sealed_value
            ],
        )?;
        tx.execute(
            "INSERT INTO records (lookup, vault, version) VALUES (?1, ?2, ?3)
             ON CONFLICT (lookup) DO UPDATE SET version = excluded.version, vault = excluded.vault",
            params![
                self.rlookup.as_slice(),
                self.vlookup.as_slice(),
                self.version as i64
            ],
        )?;
        if let Some(old) = self.old_elem {
            xor_into(&mut p.state_tag, &old);
        }
        xor_into(&mut p.state_tag, &self.new_elem);
        p.index_changes
            .push((self.rlookup, Some((self.vlookup, self.version))));
        Ok(())
    }
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A vault home whose key is not (yet) available.
pub struct LockedStore {
    conn: Connection,
    path: PathBuf,
}

/// The header row: what is needed to unwrap the root key.
struct Header {
    uuid: Vec<u8>,
    kdf: KdfParams,
    salt: Vec<u8>,
    wrapped_root: Vec<u8>,
    state_mac: Vec<u8>,
    audit_seq: u64,
    audit_head: Vec<u8>,
}

fn root_aad(uuid: &[u8], kdf: &KdfParams, salt: &[u8]) -> Vec<u8> {
    let mut aad = b"kovra-root-v1".to_vec();
    aad.extend_from_slice(uuid);
    aad.extend_from_slice(&kdf.m_kib.to_be_bytes());
    aad.extend_from_slice(&kdf.t.to_be_bytes());
    aad.extend_from_slice(&kdf.p.to_be_bytes());
    aad.extend_from_slice(salt);
    aad
}

/// Authenticates the header's mutable part: the record-set tag (never stored), the audit
/// chain's length and head. Kept secret from the file, so no delta between two observed
/// headers lets anyone forge a third.
fn header_mac(
    key: &Key,
    uuid: &[u8],
    tag: &[u8; 32],
    audit_seq: u64,
    audit_head: &[u8; 32],
) -> [u8; 32] {
    crypto::mac(
        key.as_ref(),
        &[
            b"kovra-header-v1",
            uuid,
            tag,
            &audit_seq.to_be_bytes(),
            audit_head,
        ],
    )
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
            let kek = crypto::derive_kek(passphrase, &salt, kdf)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let wrapped = crypto::seal(&kek, &root_aad(&uuid, &kdf, &salt), root.as_ref());
            let state_mac = header_mac(
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
        let proof = ProofVerifier::new(&kek, &header);
        UnlockedStore::new(self.conn, self.path, root, header, proof)
    }
}

fn read_header(conn: &Connection) -> Result<Header> {
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

/// The root key and the key-encryption key that opened it.
fn unwrap_root(header: &Header, passphrase: &[u8]) -> Result<(Key, Key)> {
    let kek = crypto::derive_kek(passphrase, &header.salt, header.kdf)
        .map_err(|_| StoreError::WrongPassphrase)?;
    let aad = root_aad(&header.uuid, &header.kdf, &header.salt);
    let opened =
        crypto::open(&kek, &aad, &header.wrapped_root).map_err(|_| StoreError::WrongPassphrase)?;
    let root = crypto::key_from_slice(&opened).map_err(|_| StoreError::WrongPassphrase)?;
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
    fn new(kek: &Key, header: &Header) -> Self {
        ProofVerifier {
            key: proof::key_from_kek(kek),
            kdf: proof::ProofKdf {
                salt: hex_lower(&header.salt),
                kdf: header.kdf,
            },
        }
    }
}

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

/// A record's current metadata, with the vault that holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub vault: VaultName,
    pub meta: Metadata,
}

/// A plaintext value, wiped on drop.
pub type Value = Zeroizing<Vec<u8>>;

/// The result of listing one vault: authentic records, plus counts of what was withheld.
#[derive(Debug, Default)]
pub struct Listing {
    pub records: Vec<Record>,
    /// Rows that failed authentication (edited, swapped or replayed).
    pub tampered: usize,
    /// Records the authenticated index knows but the database no longer holds.
    pub missing: usize,
}

/// The outcome of verifying the audit chain.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuditReport {
    pub entries: u64,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<ChainBreak>,
}

struct Keys {
    index: Key,
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
}

fn xor_into(acc: &mut [u8; 32], x: &[u8; 32]) {
    for (a, b) in acc.iter_mut().zip(x) {
        *a ^= b;
    }
}

fn lookup_from(v: Vec<u8>) -> Result<Lookup> {
    v.try_into()
        .map_err(|_| StoreError::Corrupt("a lookup column has the wrong length".into()))
}

impl UnlockedStore {
    fn new(
        conn: Connection,
        path: PathBuf,
        root: Key,
        header: Header,
        proof: ProofVerifier,
    ) -> Result<Self> {
        let keys = Keys {
            index: crypto::subkey(&root, "index"),
            state: crypto::subkey(&root, "state"),
            wrap: crypto::subkey(&root, "wrap"),
            fingerprint: crypto::subkey(&root, "fingerprint"),
            header: crypto::subkey(&root, "header"),
            audit: AuditKeys::from_root(&root),
        };
        let audit_head: [u8; 32] = header
            .audit_head
            .clone()
            .try_into()
            .map_err(|_| StoreError::Corrupt("audit head has the wrong length".into()))?;
        let mut store = UnlockedStore {
            conn,
            path,
            root,
            uuid: header.uuid.clone(),
            keys,
            index: HashMap::new(),
            state_tag: [0u8; 32],
            audit_seq: header.audit_seq,
            audit_head,
            deks: HashMap::new(),
            proof,
        };
        // Rebuild the index and check it against the authenticated state tag: a deleted,
        // added or rolled-back row changes the tag.
        let mut tag = [0u8; 32];
        let mut stmt = store
            .conn
            .prepare("SELECT lookup, vault, version FROM records")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, Vec<u8>>(0)?,
                r.get::<_, Vec<u8>>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })?;
        let mut index = HashMap::new();
        for row in rows {
            let (lookup, vault, version) = row?;
            let (lookup, vault) = (lookup_from(lookup)?, lookup_from(vault)?);
            xor_into(
                &mut tag,
                &store.state_element(&lookup, &vault, version as u64),
            );
            index.insert(lookup, (vault, version as u64));
        }
        drop(stmt);
        let expected = header_mac(
            &store.keys.header,
            &store.uuid,
            &tag,
            header.audit_seq,
            &audit_head,
        );
        if !crypto::mac_eq(&expected, &header.state_mac) {
            return Err(StoreError::VaultTampered(
                "a record row was added, deleted or replaced with an older version, or the audit head was moved, outside kovra"
                    .into(),
            ));
        }
        store.index = index;
        store.state_tag = tag;
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn record_count(&self) -> usize {
        self.index.len()
    }

    /// A stable identifier of this vault home (not secret).
    pub fn vault_id(&self) -> String {
        hex_lower(&self.uuid)
    }

    /// Check a passphrase against the stored wrapping (used for proofs of presence).
    /// The header is read from the file, which anyone with the user's rights can replace;
    /// so the unwrapped key must also be the very key this store holds.
    pub fn check_passphrase(&self, passphrase: &[u8]) -> Result<()> {
        let header = read_header(&self.conn)?;
        let (root, _) = unwrap_root(&header, passphrase)?;
        if crypto::mac_eq(root.as_ref(), self.root.as_ref()) {
            Ok(())
        } else {
            Err(StoreError::WrongPassphrase)
        }
    }

    fn state_element(&self, record: &Lookup, vault: &Lookup, version: u64) -> [u8; 32] {
        crypto::mac(
            self.keys.state.as_ref(),
            &[record, vault, &version.to_be_bytes()],
        )
    }

    fn vault_lookup(&self, vault: &VaultName) -> Lookup {
        crypto::mac(
            self.keys.index.as_ref(),
            &[b"vault", vault.label().as_bytes()],
        )
    }

    fn record_lookup(&self, vault: &VaultName, coord: &Coordinate) -> Lookup {
        crypto::mac(
            self.keys.index.as_ref(),
            &[b"record", vault.label().as_bytes(), coord.path().as_bytes()],
        )
    }

    fn dek_aad(&self, vault: &Lookup) -> Vec<u8> {
        [b"kovra-dek-v1".as_slice(), &self.uuid, vault].concat()
    }

    fn record_aad(&self, part: &[u8], vault: &Lookup, record: &Lookup, version: u64) -> Vec<u8> {
        [part, &self.uuid, vault, record, &version.to_be_bytes()].concat()
    }

    /// The data key of a vault, unwrapped once and cached.
    fn dek(&mut self, vault: &VaultName) -> Result<Option<(Lookup, Key)>> {
        let lookup = self.vault_lookup(vault);
        if let Some(k) = self.deks.get(&lookup) {
            return Ok(Some((lookup, k.clone())));
        }
        let wrapped: Option<Vec<u8>> = self
            .conn
            .query_row(
                "SELECT wrapped_dek FROM vaults WHERE lookup = ?1",
                [lookup.as_slice()],
                |r| r.get(0),
            )
            .optional()?;
        let Some(wrapped) = wrapped else {
            return Ok(None);
        };
        let opened =
            crypto::open(&self.keys.wrap, &self.dek_aad(&lookup), &wrapped).map_err(|_| {
                StoreError::VaultTampered(format!(
                    "the data key of the {vault} vault does not authenticate"
                ))
            })?;
        let key = crypto::key_from_slice(&opened).map_err(|_| {
            StoreError::VaultTampered(format!("the data key of the {vault} vault is malformed"))
        })?;
        self.deks.insert(lookup, key.clone());
        Ok(Some((lookup, key)))
    }

    fn require_dek(&mut self, vault: &VaultName) -> Result<(Lookup, Key)> {
        match self.dek(vault)? {
            Some(k) => Ok(k),
            None => Err(match vault {
                VaultName::Project(p) => StoreError::UnknownProject(p.clone()),
                VaultName::Global | VaultName::System => {
                    StoreError::Corrupt(format!("the {vault} vault is missing"))
                }
            }),
        }
    }

    pub fn vault_exists(&mut self, vault: &VaultName) -> Result<bool> {
        Ok(self.dek(vault)?.is_some())
    }

    /// Create a vault (the global one on first use, or a project), audited in the same transaction.
    pub fn create_vault(&mut self, vault: &VaultName, audit: AuditEntry) -> Result<()> {
        if self.vault_exists(vault)? {
            return Err(match vault {
                VaultName::Project(p) => StoreError::ProjectExists(p.clone()),
                VaultName::Global | VaultName::System => {
                    StoreError::AlreadyExists(format!("the {vault} vault"))
                }
            });
        }
        let lookup = self.vault_lookup(vault);
        let dek = crypto::random_key();
        let wrapped = crypto::seal(&self.keys.wrap, &self.dek_aad(&lookup), dek.as_ref());
        let name_json = serde_json::to_vec(vault).unwrap_or_default();
        let sealed_name = crypto::seal(
            &self.keys.wrap,
            &[b"kovra-vault-name-v1".as_slice(), &lookup].concat(),
            &name_json,
        );
        self.write(|s, tx| {
            tx.execute(
                "INSERT INTO vaults (lookup, sealed_name, wrapped_dek) VALUES (?1, ?2, ?3)",
                params![lookup.as_slice(), sealed_name, wrapped],
            )?;
            s.append_audit_tx(tx, audit)
        })?;
        Ok(())
    }

    /// Every vault's name (global and projects).
    pub fn vaults(&self) -> Result<Vec<VaultName>> {
        let mut stmt = self
            .conn
            .prepare("SELECT lookup, sealed_name FROM vaults")?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Vec<u8>>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (lookup, sealed) = row?;
            let aad = [b"kovra-vault-name-v1".as_slice(), &lookup].concat();
            let json = crypto::open(&self.keys.wrap, &aad, &sealed).map_err(|_| {
                StoreError::VaultTampered("a vault name does not authenticate".into())
            })?;
            let name: VaultName = serde_json::from_slice(&json)
                .map_err(|_| StoreError::Corrupt("unreadable vault name".into()))?;
            out.push(name);
        }
        Ok(out)
    }

    /// Run `f` in one immediate transaction; the in-memory state follows only a commit.
    fn write<T>(
        &mut self,
        f: impl FnOnce(&mut Pending, &Transaction<'_>) -> Result<T>,
    ) -> Result<T> {
        let mut pending = Pending {
            audit: &self.keys.audit,
            audit_seq: self.audit_seq,
            audit_head: self.audit_head,
            state_tag: self.state_tag,
            index_changes: Vec::new(),
        };
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let out = f(&mut pending, &tx)?;
        tx.execute(
            "UPDATE header SET state_mac = ?1, audit_seq = ?2, audit_head = ?3 WHERE id = 1",
            params![
                header_mac(
                    &self.keys.header,
                    &self.uuid,
                    &pending.state_tag,
                    pending.audit_seq,
                    &pending.audit_head
                )
                .as_slice(),
                pending.audit_seq as i64,
                pending.audit_head.as_slice()
            ],
        )?;
        tx.commit()?;
        let Pending {
            audit_seq,
            audit_head,
            state_tag,
            index_changes,
            ..
        } = pending;
        self.audit_seq = audit_seq;
        self.audit_head = audit_head;
        self.state_tag = state_tag;
        for (lookup, entry) in index_changes {
            match entry {
                Some(e) => self.index.insert(lookup, e),
                None => self.index.remove(&lookup),
            };
        }
        Ok(out)
    }

    /// Append one audit entry in its own transaction. Fails if it cannot be written.
    pub fn audit(&mut self, entry: AuditEntry) -> Result<()> {
        self.write(|p, tx| p.append_audit_tx(tx, entry))
    }

    /// Append several entries in one transaction (one sync for a whole run's injections).
    pub fn audit_all(&mut self, entries: Vec<AuditEntry>) -> Result<()> {
        self.write(|p, tx| {
            entries
                .into_iter()
                .try_for_each(|e| p.append_audit_tx(tx, e))
        })
    }

    /// Find a record's current metadata in one vault. `Ok(None)` if absent.
    pub fn find(&mut self, vault: &VaultName, coord: &Coordinate) -> Result<Option<Record>> {
        let Some((vlookup, dek)) = self.dek(vault)? else {
            return Ok(None);
        };
        let rlookup = self.record_lookup(vault, coord);
        let Some(&(ivault, version)) = self.index.get(&rlookup) else {
            return Ok(None);
        };
        if ivault != vlookup {
            return Err(StoreError::RecordTampered(coord.to_string()));
        }
        let (meta, _) = self.load_version(&dek, &vlookup, &rlookup, version, false, coord)?;
        Ok(Some(Record {
            vault: vault.clone(),
            meta,
        }))
    }

    /// Read the plaintext of a record's current (or a given) version. Callers must have a
    /// policy decision that allows it.
    pub fn read_value(
        &mut self,
        vault: &VaultName,
        coord: &Coordinate,
        version: Option<u64>,
    ) -> Result<(Metadata, Value)> {
        let (vlookup, dek) = self.require_dek(vault)?;
        let rlookup = self.record_lookup(vault, coord);
        let Some(&(ivault, current)) = self.index.get(&rlookup) else {
            return Err(StoreError::RecordTampered(coord.to_string()));
        };
        if ivault != vlookup {
            return Err(StoreError::RecordTampered(coord.to_string()));
        }
        let version = version.unwrap_or(current);
        if version == 0 || version > current {
            return Err(StoreError::NoSuchVersion(coord.to_string(), version));
        }
        let (meta, value) = self.load_version(&dek, &vlookup, &rlookup, version, true, coord)?;
        Ok((meta, value.unwrap_or_default()))
    }

    fn load_version(
        &self,
        dek: &Key,
        vlookup: &Lookup,
        rlookup: &Lookup,
        version: u64,
        with_value: bool,
        coord: &Coordinate,
    ) -> Result<(Metadata, Option<Value>)> {
        let row: Option<(Vec<u8>, Vec<u8>)> = self
            .conn
            .query_row(
                "SELECT meta, value FROM versions WHERE record = ?1 AND version = ?2",
                params![rlookup.as_slice(), version as i64],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let tampered = || StoreError::RecordTampered(coord.to_string());
        let Some((sealed_meta, sealed_value)) = row else {
            // The index says this version exists: a missing row was deleted outside kovra.
            return Err(tampered());
        };
        let meta_aad = self.record_aad(b"kovra-meta-v1", vlookup, rlookup, version);
        let meta_json = crypto::open(dek, &meta_aad, &sealed_meta).map_err(|_| tampered())?;
        let meta: Metadata = serde_json::from_slice(&meta_json).map_err(|_| tampered())?;
        if meta.version != version || meta.coordinate != coord.unpinned() {
            return Err(tampered());
        }
        let value = if with_value {
            let aad = [
                self.record_aad(b"kovra-value-v1", vlookup, rlookup, version),
                crypto::sha256(&[&sealed_meta]).to_vec(),
            ]
            .concat();
            Some(crypto::open(dek, &aad, &sealed_value).map_err(|_| tampered())?)
        } else {
            None
        };
        Ok((meta, value))
    }

    /// Write a new version of a record: its metadata, and `value` (or the current value when
    /// `None`). Creates the record when absent. Returns the new version number.
    pub fn put(
        &mut self,
        vault: &VaultName,
        meta: Metadata,
        value: Option<&[u8]>,
        audit: AuditEntry,
    ) -> Result<u64> {
        let prepared = self.prepare_put(vault, meta, value)?;
        let version = prepared.version;
        self.write(|p, tx| {
            prepared.apply(p, tx)?;
            p.append_audit_tx(tx, audit)
        })?;
        Ok(version)
    }

    /// Write several records (each a new version) and their audit entries in one
    /// transaction: all of them are acknowledged, or none. A record may appear once.
    pub fn put_many(
        &mut self,
        items: Vec<(VaultName, Metadata, Option<&[u8]>)>,
        audit: Vec<AuditEntry>,
    ) -> Result<Vec<u64>> {
        let mut prepared: Vec<PreparedPut> = Vec::with_capacity(items.len());
        for (vault, meta, value) in items {
            let coord = meta.coordinate.unpinned();
            let p = self.prepare_put(&vault, meta, value)?;
            if prepared.iter().any(|q| q.rlookup == p.rlookup) {
                return Err(StoreError::Corrupt(format!(
                    "{coord} appears twice in one write"
                )));
            }
            prepared.push(p);
        }
        let versions = prepared.iter().map(|p| p.version).collect();
        self.write(|p, tx| {
            for item in prepared {
                item.apply(p, tx)?;
            }
            for entry in audit {
                p.append_audit_tx(tx, entry)?;
            }
            Ok(())
        })?;
        Ok(versions)
    }

    /// Seal one new version of a record, ready to be written inside a transaction.
    fn prepare_put(
        &mut self,
        vault: &VaultName,
        mut meta: Metadata,
        value: Option<&[u8]>,
    ) -> Result<PreparedPut> {
        let (vlookup, dek) = self.require_dek(vault)?;
        let coord = meta.coordinate.unpinned();
        let rlookup = self.record_lookup(vault, &coord);
        let current = self.index.get(&rlookup).map(|&(_, v)| v);
        let kept: Option<Value> = match (value, current) {
            (Some(_), _) => None,
            (None, Some(_)) => Some(self.read_value(vault, &coord, None)?.1),
            (None, None) => {
                return Err(StoreError::Corrupt(format!("{coord} has no value to keep")));
            }
        };
        let value: &[u8] = match (&kept, value) {
            (Some(k), _) => k.as_slice(),
            (None, Some(v)) => v,
            (None, None) => &[],
        };
        if current.is_some()
            && let Some(existing) = self.find(vault, &coord)?
            && existing.meta.provider.is_some()
        {
            // A provider pin lasts for the record's life: no later version can drop or move it.
            meta.provider = existing.meta.provider;
            meta.provider_host = existing.meta.provider_host;
        }
        let version = current.unwrap_or(0) + 1;
        meta.version = version;
        meta.coordinate = coord.clone();
        let meta_json = serde_json::to_vec(&meta).unwrap_or_default();
        let sealed_meta = crypto::seal(
            &dek,
            &self.record_aad(b"kovra-meta-v1", &vlookup, &rlookup, version),
            &meta_json,
        );
        let value_aad = [
            self.record_aad(b"kovra-value-v1", &vlookup, &rlookup, version),
            crypto::sha256(&[&sealed_meta]).to_vec(),
        ]
        .concat();
        let sealed_value = crypto::seal(&dek, &value_aad, value);
        let old_elem = current.map(|v| self.state_element(&rlookup, &vlookup, v));
        let new_elem = self.state_element(&rlookup, &vlookup, version);
        Ok(PreparedPut {
            rlookup,
            vlookup,
            version,
            sealed_meta,
            sealed_value,
            old_elem,
            new_elem,
        })
    }

    /// Delete a record and its history.
    pub fn delete(
        &mut self,
        vault: &VaultName,
        coord: &Coordinate,
        audit: AuditEntry,
    ) -> Result<()> {
        let vlookup = self.vault_lookup(vault);
        let rlookup = self.record_lookup(vault, coord);
        let Some(&(_, version)) = self.index.get(&rlookup) else {
            return Err(StoreError::RecordTampered(coord.to_string()));
        };
        let elem = self.state_element(&rlookup, &vlookup, version);
        self.write(|p, tx| {
            tx.execute(
                "DELETE FROM versions WHERE record = ?1",
                [rlookup.as_slice()],
            )?;
            tx.execute(
                "DELETE FROM records WHERE lookup = ?1",
                [rlookup.as_slice()],
            )?;
            xor_into(&mut p.state_tag, &elem);
            p.index_changes.push((rlookup, None));
            p.append_audit_tx(tx, audit)
        })
    }

    /// Every version's metadata, oldest first.
    pub fn history(&mut self, vault: &VaultName, coord: &Coordinate) -> Result<Vec<Metadata>> {
        let (vlookup, dek) = self.require_dek(vault)?;
        let rlookup = self.record_lookup(vault, coord);
        let Some(&(_, current)) = self.index.get(&rlookup) else {
            return Err(StoreError::RecordTampered(coord.to_string()));
        };
        let mut out = Vec::new();
        for v in 1..=current {
            out.push(
                self.load_version(&dek, &vlookup, &rlookup, v, false, coord)?
                    .0,
            );
        }
        Ok(out)
    }

    /// The current metadata of every record in one vault.
    pub fn list(&mut self, vault: &VaultName) -> Result<Listing> {
        let Some((vlookup, dek)) = self.dek(vault)? else {
            return Err(match vault {
                VaultName::Project(p) => StoreError::UnknownProject(p.clone()),
                VaultName::Global | VaultName::System => return Ok(Listing::default()),
            });
        };
        let mut listing = Listing::default();
        let mut stmt = self.conn.prepare_cached(
            "SELECT r.lookup, r.version, v.meta FROM records r
             LEFT JOIN versions v ON v.record = r.lookup AND v.version = r.version
             WHERE r.vault = ?1",
        )?;
        let mut seen = 0usize;
        let mut rows = stmt.query([vlookup.as_slice()])?;
        while let Some(row) = rows.next()? {
            seen += 1;
            let rlookup = lookup_from(row.get(0)?)?;
            let version = row.get::<_, i64>(1)? as u64;
            let sealed_meta: Option<Vec<u8>> = row.get(2)?;
            let authentic = self.index.get(&rlookup) == Some(&(vlookup, version));
            let meta = sealed_meta.filter(|_| authentic).and_then(|sealed| {
                let aad = self.record_aad(b"kovra-meta-v1", &vlookup, &rlookup, version);
                let json = crypto::open(&dek, &aad, &sealed).ok()?;
                let meta: Metadata = serde_json::from_slice(&json).ok()?;
                let expected = self.record_lookup(vault, &meta.coordinate);
                (meta.version == version && expected == rlookup).then_some(meta)
            });
            match meta {
                Some(meta) => listing.records.push(Record {
                    vault: vault.clone(),
                    meta,
                }),
                None => listing.tampered += 1,
            }
        }
        let known = self.index.values().filter(|(v, _)| *v == vlookup).count();
        listing.missing = known.saturating_sub(seen);
        listing
            .records
            .sort_by_cached_key(|r| r.meta.coordinate.path());
        Ok(listing)
    }

    /// A keyed fingerprint of the current value: equal values compare equal within this
    /// vault home, and a guess cannot be confirmed without the key.
    pub fn fingerprint(&mut self, vault: &VaultName, coord: &Coordinate) -> Result<String> {
        let (_, value) = self.read_value(vault, coord, None)?;
        let mac = crypto::mac(self.keys.fingerprint.as_ref(), &[value.as_slice()]);
        Ok(format!("kfp:{}", hex_lower(&mac[..12])))
    }

    /// Re-wrap the root key under a new passphrase.
    pub fn change_passphrase(
        &mut self,
        new_passphrase: &[u8],
        kdf: KdfParams,
        audit: AuditEntry,
    ) -> Result<()> {
        let salt: [u8; 16] = crypto::random_array();
        let kek = crypto::derive_kek(new_passphrase, &salt, kdf)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let wrapped = crypto::seal(&kek, &root_aad(&self.uuid, &kdf, &salt), self.root.as_ref());
        let kdf_json = serde_json::to_string(&kdf).unwrap_or_default();
        self.write(|p, tx| {
            tx.execute(
                "UPDATE header SET kdf = ?1, salt = ?2, wrapped_root = ?3 WHERE id = 1",
                params![kdf_json, salt.as_slice(), wrapped],
            )?;
            p.append_audit_tx(tx, audit)
        })?;
        self.proof = ProofVerifier {
            key: proof::key_from_kek(&kek),
            kdf: proof::ProofKdf {
                salt: hex_lower(&salt),
                kdf,
            },
        };
        Ok(())
    }

    /// The verifier of passphrase proofs for the passphrase this store was opened with.
    pub fn proof_verifier(&self) -> &ProofVerifier {
        &self.proof
    }

    /// Give every vault a new data key and re-seal every version of every record under it,
    /// all in one transaction. Returns how many versions were re-sealed.
    pub fn rotate_data_keys(&mut self, audit: AuditEntry) -> Result<u64> {
        let vaults: Vec<(Lookup, Vec<u8>)> = {
            let mut stmt = self
                .conn
                .prepare("SELECT lookup, wrapped_dek FROM vaults")?;
            let rows = stmt.query_map([], |r| {
                Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Vec<u8>>(1)?))
            })?;
            let mut v = Vec::new();
            for row in rows {
                let (l, w) = row?;
                v.push((lookup_from(l)?, w));
            }
            v
        };
        let mut new_deks: HashMap<Lookup, Key> = HashMap::new();
        let mut resealed = 0u64;
        let uuid = self.uuid.clone();
        let wrap = self.keys.wrap.clone();
        let aad = |part: &[u8], v: &Lookup, r: &Lookup, ver: u64| -> Vec<u8> {
            [part, &uuid, v, r, &ver.to_be_bytes()].concat()
        };
        self.write(|p, tx| {
            for (vlookup, wrapped) in &vaults {
                let dek_aad = [b"kovra-dek-v1".as_slice(), &uuid, vlookup].concat();
                let old = crypto::open(&wrap, &dek_aad, wrapped)
                    .map_err(|_| StoreError::VaultTampered("a vault data key does not authenticate".into()))?;
                let old = crypto::key_from_slice(&old)
                    .map_err(|_| StoreError::VaultTampered("a vault data key is malformed".into()))?;
                let new = crypto::random_key();
                tx.execute(
                    "UPDATE vaults SET wrapped_dek = ?1 WHERE lookup = ?2",
                    params![crypto::seal(&wrap, &dek_aad, new.as_ref()), vlookup.as_slice()],
                )?;
                let mut stmt = tx.prepare(
                    "SELECT v.record, v.version, v.meta, v.value FROM versions v JOIN records r ON r.lookup = v.record
                     WHERE r.vault = ?1",
                )?;
                let rows = stmt.query_map([vlookup.as_slice()], |r| {
                    Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, i64>(1)?, r.get::<_, Vec<u8>>(2)?, r.get::<_, Vec<u8>>(3)?))
                })?;
                let mut updates = Vec::new();
                for row in rows {
                    let (rl, ver, meta, value) = row?;
                    let rl = lookup_from(rl)?;
                    let ver = ver as u64;
                    let tampered = || StoreError::VaultTampered("a record failed authentication during rotation".into());
                    let maad = aad(b"kovra-meta-v1", vlookup, &rl, ver);
                    let meta_plain = crypto::open(&old, &maad, &meta).map_err(|_| tampered())?;
                    let vaad = [aad(b"kovra-value-v1", vlookup, &rl, ver), crypto::sha256(&[&meta]).to_vec()].concat();
                    let value_plain = crypto::open(&old, &vaad, &value).map_err(|_| tampered())?;
                    let new_meta = crypto::seal(&new, &maad, &meta_plain);
                    let new_vaad = [aad(b"kovra-value-v1", vlookup, &rl, ver), crypto::sha256(&[&new_meta]).to_vec()].concat();
                    let new_value = crypto::seal(&new, &new_vaad, &value_plain);
                    updates.push((rl, ver, new_meta, new_value));
                }
                drop(stmt);
                for (rl, ver, m, v) in updates {
                    tx.execute(
                        "UPDATE versions SET meta = ?1, value = ?2 WHERE record = ?3 AND version = ?4",
                        params![m, v, rl.as_slice(), ver as i64],
                    )?;
                    resealed += 1;
                }
                new_deks.insert(*vlookup, new);
            }
            p.append_audit_tx(tx, AuditEntry { detail: Some(format!("{resealed} versions re-sealed")), ..audit })
        })?;
        self.deks = new_deks;
        Ok(resealed)
    }

    /// Every audit entry, oldest first (entries that fail authentication are skipped;
    /// `verify_audit` reports them).
    pub fn audit_entries(&self) -> Result<Vec<AuditEntry>> {
        let mut stmt = self
            .conn
            .prepare("SELECT seq, entry FROM audit ORDER BY seq")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, sealed) = row?;
            if let Ok(e) = self.keys.audit.open_entry(seq as u64, &sealed) {
                out.push(e);
            }
        }
        Ok(out)
    }

    /// Walk the chain from genesis and compare its end with the recorded head.
    pub fn verify_audit(&self) -> Result<AuditReport> {
        let header = read_header(&self.conn)?;
        let mut stmt = self
            .conn
            .prepare("SELECT seq, entry, link FROM audit ORDER BY seq")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, Vec<u8>>(1)?,
                r.get::<_, Vec<u8>>(2)?,
            ))
        })?;
        let mut prev = GENESIS;
        let mut expected = 1u64;
        let fail = |entries, problem| {
            Ok(AuditReport {
                entries,
                ok: false,
                problem: Some(problem),
            })
        };
        for row in rows {
            let (seq, sealed, link) = row?;
            let seq = seq as u64;
            if seq != expected {
                return fail(
                    expected - 1,
                    ChainBreak::Gap {
                        expected,
                        found: seq,
                    },
                );
            }
            let want = self.keys.audit.link(&prev, seq, &sealed);
            if !crypto::mac_eq(&want, &link) {
                return fail(seq - 1, ChainBreak::BadLink { seq });
            }
            if self.keys.audit.open_entry(seq, &sealed).is_err() {
                return fail(seq - 1, ChainBreak::Unreadable { seq });
            }
            prev = want;
            expected += 1;
        }
        let last = expected - 1;
        // The daemon's memory and the header both record the head; either catching a
        // truncation is enough.
        let recorded = self.audit_seq.max(header.audit_seq);
        if last < recorded {
            return fail(
                last,
                ChainBreak::Truncated {
                    expected_last: recorded,
                    found_last: last,
                },
            );
        }
        let header_ok = crypto::mac_eq(
            &header_mac(
                &self.keys.header,
                &self.uuid,
                &self.state_tag,
                header.audit_seq,
                &self.audit_head,
            ),
            &header.state_mac,
        );
        if !header_ok
            || !crypto::mac_eq(&prev, &self.audit_head)
            || !crypto::mac_eq(&prev, &header.audit_head)
        {
            return fail(last, ChainBreak::HeadMismatch);
        }
        Ok(AuditReport {
            entries: last,
            ok: true,
            problem: None,
        })
    }
}

/// State a write transaction builds up; applied to the store only after commit.
struct Pending<'a> {
    audit: &'a AuditKeys,
    audit_seq: u64,
    audit_head: [u8; 32],
    state_tag: [u8; 32],
    index_changes: Vec<(Lookup, Option<(Lookup, u64)>)>,
}

impl Pending<'_> {
    fn append_audit_tx(&mut self, tx: &Transaction<'_>, mut entry: AuditEntry) -> Result<()> {
        let seq = self.audit_seq + 1;
        entry.seq = seq;
        if entry.time == 0 {
            entry.time = now();
        }
        let sealed = self.audit.seal_entry(&entry);
        let link = self.audit.link(&self.audit_head, seq, &sealed);
        tx.execute(
            "INSERT INTO audit (seq, entry, link) VALUES (?1, ?2, ?3)",
            params![seq as i64, sealed, link.as_slice()],
        )?;
        self.audit_seq = seq;
        self.audit_head = link;
        Ok(())
    }
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAST: KdfParams = KdfParams {
        m_kib: 8,
        t: 1,
        p: 1,
    };

    fn entry(action: &str) -> AuditEntry {
        AuditEntry {
            action: action.into(),
            ..AuditEntry::default()
        }
    }

    fn meta(coord: &str) -> Metadata {
        Metadata {
            coordinate: Coordinate::parse(coord).unwrap(),
            sensitivity: crate::model::Sensitivity::Low,
            revealable: true,
            description: String::new(),
            created: 0,
            updated: 0,
            version: 0,
            totp: None,
            provider: None,
            provider_host: None,
        }
    }

    #[test]
    fn put_many_writes_all_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = LockedStore::create(dir.path(), b"pass phrase", FAST).unwrap();
        store
            .create_vault(&VaultName::Global, entry("init"))
            .unwrap();
        let g = VaultName::Global;
        // The same record twice: refused before anything is written.
        let dup = vec![
            (g.clone(), meta("secret:dev/a/one"), Some(b"v1".as_slice())),
            (g.clone(), meta("secret:dev/a/one"), Some(b"v2".as_slice())),
        ];
        assert!(store.put_many(dup, vec![entry("receive")]).is_err());
        assert_eq!(store.record_count(), 0);
        let audit_before = store.audit_entries().unwrap().len();
        let ok = vec![
            (g.clone(), meta("secret:dev/a/one"), Some(b"v1".as_slice())),
            (g.clone(), meta("secret:dev/a/two"), Some(b"v2".as_slice())),
        ];
        assert_eq!(
            store
                .put_many(ok, vec![entry("receive"), entry("receive")])
                .unwrap(),
            vec![1, 1]
        );
        assert_eq!(store.record_count(), 2);
        assert_eq!(store.audit_entries().unwrap().len(), audit_before + 2);
        drop(store);
        // Still consistent after reopening: the header MAC covers both rows.
        let reopened = LockedStore::open(dir.path()).unwrap();
        let mut unlocked = reopened.unlock(b"pass phrase").unwrap();
        let two = Coordinate::parse("secret:dev/a/two").unwrap();
        assert_eq!(&*unlocked.read_value(&g, &two, None).unwrap().1, b"v2");
    }

    #[test]
    fn a_provider_pin_survives_every_later_version() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = LockedStore::create(dir.path(), b"pass phrase", FAST).unwrap();
        store
            .create_vault(&VaultName::Global, entry("init"))
            .unwrap();
        let mut pinned = meta("secret:dev/a/b");
        pinned.provider = Some("openai".into());
        pinned.provider_host = Some("api.openai.com".into());
        store
            .put(&VaultName::Global, pinned, Some(b"one"), entry("add"))
            .unwrap();
        // A later version written without the pin (set, edit, rollback) keeps it.
        for v in [Some(b"two".as_slice()), None] {
            let mut other = meta("secret:dev/a/b");
            other.provider = if v.is_none() {
                Some("github".into())
            } else {
                None
            };
            store
                .put(&VaultName::Global, other, v, entry("set"))
                .unwrap();
            let r = store
                .find(
                    &VaultName::Global,
                    &Coordinate::parse("secret:dev/a/b").unwrap(),
                )
                .unwrap()
                .unwrap();
            assert_eq!(r.meta.provider.as_deref(), Some("openai"));
            assert_eq!(r.meta.provider_host.as_deref(), Some("api.openai.com"));
        }
    }

    #[test]
    fn a_foreign_header_does_not_pass_as_the_passphrase() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let store = LockedStore::create(a.path(), b"owner passphrase", FAST).unwrap();
        drop(LockedStore::create(b.path(), b"attacker passphrase", FAST).unwrap());
        // Copy the attacker's key wrapping into the live vault's header.
        let theirs = Connection::open(b.path().join(DB_FILE)).unwrap();
        let (uuid, kdf, salt, wrapped): (Vec<u8>, String, Vec<u8>, Vec<u8>) = theirs
            .query_row(
                "SELECT vault_uuid, kdf, salt, wrapped_root FROM header",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap();
        store
            .conn
            .execute(
                "UPDATE header SET vault_uuid = ?1, kdf = ?2, salt = ?3, wrapped_root = ?4",
                params![uuid, kdf, salt, wrapped],
            )
            .unwrap();
        assert!(matches!(
            store.check_passphrase(b"attacker passphrase"),
            Err(StoreError::WrongPassphrase)
        ));
    }

    #[test]
    fn rolling_back_a_record_row_is_detected_at_unlock() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = LockedStore::create(dir.path(), b"pass phrase", FAST).unwrap();
        store
            .create_vault(&VaultName::Global, entry("init"))
            .unwrap();
        for v in [b"one".as_slice(), b"two", b"three"] {
            store
                .put(
                    &VaultName::Global,
                    meta("secret:dev/a/b"),
                    Some(v),
                    entry("put"),
                )
                .unwrap();
        }
        drop(store);
        let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
        conn.execute("UPDATE records SET version = 1", []).unwrap();
        let reopened = LockedStore::open(dir.path())
            .unwrap()
            .unlock(b"pass phrase");
        assert!(matches!(reopened, Err(StoreError::VaultTampered(_))));
    }

    #[test]
    fn truncating_the_audit_trail_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = LockedStore::create(dir.path(), b"pass phrase", FAST).unwrap();
        for i in 0..5 {
            store.audit(entry(&format!("e{i}"))).unwrap();
        }
        assert!(store.verify_audit().unwrap().ok);
        // Drop the newest entries and move the header's head back to the last one kept.
        let (seq, link): (i64, Vec<u8>) = store
            .conn
            .query_row("SELECT seq, link FROM audit WHERE seq = 3", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        store
            .conn
            .execute("DELETE FROM audit WHERE seq > 3", [])
            .unwrap();
        store
            .conn
            .execute(
                "UPDATE header SET audit_seq = ?1, audit_head = ?2",
                params![seq, link],
            )
            .unwrap();
        assert!(!store.verify_audit().unwrap().ok);
        drop(store);
        let reopened = LockedStore::open(dir.path())
            .unwrap()
            .unlock(b"pass phrase");
        assert!(matches!(reopened, Err(StoreError::VaultTampered(_))));
    }
}
