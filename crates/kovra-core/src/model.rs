//! The vocabulary every surface shares: sensitivity, origin, surface, operations, metadata.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::coord::Coordinate;

/// How carefully a value is handled. Ordered: each level is stricter than the one before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Sensitivity {
    Low,
    Medium,
    High,
    /// Usable by injection only; never revealed to anyone.
    InjectOnly,
}

impl Sensitivity {
    pub const ALL: [Sensitivity; 4] = [
        Sensitivity::Low,
        Sensitivity::Medium,
        Sensitivity::High,
        Sensitivity::InjectOnly,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Sensitivity::Low => "low",
            Sensitivity::Medium => "medium",
            Sensitivity::High => "high",
            Sensitivity::InjectOnly => "inject-only",
        }
    }
}

impl fmt::Display for Sensitivity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Sensitivity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Sensitivity::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| {
                format!("unknown sensitivity `{s}`; use low, medium, high or inject-only")
            })
    }
}

/// Who is believed to be asking. A hint that can only tighten.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    Human,
    Agent,
}

impl Origin {
    /// Combine two observations: agent wins, so no observer can loosen another's verdict.
    pub fn tighten(self, other: Origin) -> Origin {
        if self == Origin::Agent || other == Origin::Agent {
            Origin::Agent
        } else {
            Origin::Human
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Human => "human",
            Origin::Agent => "agent",
        }
    }
}

/// The surface a request arrived through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Surface {
    Cli,
    Mcp,
    Web,
    SshAgent,
    Broker,
    /// A proxy of a run's: the egress proxy swapping a placeholder for the value on the
    /// wire, or the database proxy opening a session with the stored password.
    Proxy,
}

impl Surface {
    pub fn as_str(self) -> &'static str {
        match self {
            Surface::Cli => "cli",
            Surface::Mcp => "mcp",
            Surface::Web => "web",
            Surface::SshAgent => "ssh-agent",
            Surface::Broker => "broker",
            Surface::Proxy => "proxy",
        }
    }
}

/// What a request wants to do with a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Operation {
    /// Read metadata (list, show, history).
    Metadata,
    /// A keyed fingerprint of the value: metadata, but derived from the value, so it can
    /// confirm a guess and is guarded like a weak reveal.
    Fingerprint,
    /// Hand the value to a process kovra spawns or a call kovra makes.
    Inject,
    /// Return the plaintext to the requester.
    Reveal,
    /// Return the current code of a TOTP record (derived from the seed, short-lived).
    Code,
    Create,
    /// Replace the value (set, generate over an existing record, rollback of the value).
    Update,
    Delete,
    ChangeSensitivity,
    ChangeRevealable,
    EditDescription,
    /// Use the value in a call kovra makes to the provider the record is pinned to.
    Broker,
    /// Pin the record to a provider, so the broker may send it to that provider's hosts.
    Bind,
    /// Ask the human to store a value at a coordinate (records the request, reads nothing).
    RequestValue,
    /// Seal the value into a package for another vault (`kovra share`).
    Export,
    /// Write a value received in a package (`kovra receive`): create, or replace with --force.
    Import,
    /// Sign with an SSH key record's private key (`kovra sign`, later the ssh-agent): a use
    /// of the value that hands out only a signature.
    Sign,
    /// Run one statement in a read-only transaction on a connection record's database
    /// (`kovra query`): the connection is used, only the rows come back.
    Query,
    /// The same, allowed to write.
    QueryWrite,
    /// Hand the plaintext of a whole environment to the human as a dotenv file (`kovra
    /// export`): leaving kovra must be possible, but never with production values.
    DotenvExport,
}

impl Operation {
    pub const ALL: [Operation; 20] = [
        Operation::Metadata,
        Operation::Fingerprint,
        Operation::Inject,
        Operation::Reveal,
        Operation::Code,
        Operation::Create,
        Operation::Update,
        Operation::Delete,
        Operation::ChangeSensitivity,
        Operation::ChangeRevealable,
        Operation::EditDescription,
        Operation::Broker,
        Operation::Bind,
        Operation::RequestValue,
        Operation::Export,
        Operation::Import,
        Operation::Sign,
        Operation::Query,
        Operation::QueryWrite,
        Operation::DotenvExport,
    ];

    /// The scope class an operation belongs to.
    pub fn class(self) -> OperationClass {
        match self {
            Operation::Metadata | Operation::Fingerprint | Operation::RequestValue => {
                OperationClass::Metadata
            }
            // A brokered call uses the value without handing it to anyone: an inject class.
            // So does a signature: it proves the key was used, and gives nothing of it.
            // A query uses the connection without handing it over: the inject class too.
            Operation::Inject
            | Operation::Broker
            | Operation::Sign
            | Operation::Query
            | Operation::QueryWrite => OperationClass::Inject,
            // A code is derived from the seed and goes back to the requester: a reveal class.
            // A package hands the plaintext to another party: a reveal class too.
            Operation::Reveal | Operation::Code | Operation::Export | Operation::DotenvExport => {
                OperationClass::Reveal
            }
            _ => OperationClass::Write,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Metadata => "metadata",
            Operation::Fingerprint => "fingerprint",
            Operation::Inject => "inject",
            Operation::Reveal => "reveal",
            Operation::Code => "code",
            Operation::Create => "create",
            Operation::Update => "update",
            Operation::Delete => "delete",
            Operation::ChangeSensitivity => "change-sensitivity",
            Operation::ChangeRevealable => "change-revealable",
            Operation::EditDescription => "edit-description",
            Operation::Broker => "broker",
            Operation::Bind => "bind",
            Operation::RequestValue => "request-value",
            Operation::Export => "export",
            Operation::Import => "import",
            Operation::Sign => "sign",
            Operation::Query => "query",
            Operation::QueryWrite => "query-write",
            Operation::DotenvExport => "dotenv-export",
        }
    }
}

/// The four operation classes a scope grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OperationClass {
    Metadata,
    Inject,
    Reveal,
    Write,
}

impl OperationClass {
    pub const ALL: [OperationClass; 4] = [
        OperationClass::Metadata,
        OperationClass::Inject,
        OperationClass::Reveal,
        OperationClass::Write,
    ];
}

/// What is stored about a record besides its value. Sealed and authenticated at rest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    /// The vault-relative coordinate (`secret:env/group/key`).
    pub coordinate: Coordinate,
    pub sensitivity: Sensitivity,
    pub revealable: bool,
    pub description: String,
    /// Unix seconds.
    pub created: u64,
    /// Unix seconds.
    pub updated: u64,
    pub version: u64,
    /// Set for a TOTP credential: the value is the raw seed, and codes are derived with these
    /// parameters. Absent in vaults written before TOTP records existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub totp: Option<crate::totp::TotpParams>,
    /// The broker provider this record is pinned to. Once set it is kept by every later
    /// version (the store carries it forward), so a pin lasts for the record's life.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// The one host of the provider this record may go to, when bound with a host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_host: Option<String>,
    /// Set for an SSH key record: the value is the OpenSSH private key, and this is its public
    /// half. Absent in vaults written before SSH key records existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_key: Option<crate::sshkey::SshKeyInfo>,
    /// Set for a database connection record: the value is the connection URL with its
    /// password, and this is everything else about it. Absent in vaults written before
    /// connection records existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<crate::dbconn::DbConnInfo>,
}

impl Metadata {
    /// What the record holds, as its metadata says.
    pub fn kind(&self) -> RecordKind {
        if let Some(db) = &self.database {
            RecordKind::of_engine(db.engine)
        } else if self.ssh_key.is_some() {
            RecordKind::SshKey
        } else if self.totp.is_some() {
            RecordKind::Totp
        } else {
            RecordKind::Secret
        }
    }
}

/// What a record holds: a plain secret, a TOTP seed, an SSH private key, or a database
/// connection (one kind per engine, so a listing says which client a record needs). Decided
/// by its metadata ([`Metadata::kind`]), so knowing it never opens the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RecordKind {
    #[default]
    Secret,
    Totp,
    SshKey,
    Postgres,
}

impl RecordKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Secret => "secret",
            RecordKind::Totp => "totp",
            RecordKind::SshKey => "ssh-key",
            RecordKind::Postgres => "postgres",
        }
    }

    /// The kind of a connection record for `engine`.
    pub fn of_engine(engine: crate::dbconn::DbEngine) -> RecordKind {
        match engine {
            crate::dbconn::DbEngine::Postgres => RecordKind::Postgres,
        }
    }

    /// Whether the record is a database connection (of any engine).
    pub fn is_database(self) -> bool {
        matches!(self, RecordKind::Postgres)
    }
}

impl fmt::Display for RecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which vault holds a record.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "name")]
pub enum VaultName {
    Global,
    Project(String),
    /// kovra's own settings (the executable allowlist): no scope can address it.
    System,
}

impl VaultName {
    /// The stable label used in keyed lookups.
    pub fn label(&self) -> String {
        match self {
            VaultName::Global => "global".to_string(),
            VaultName::System => "system".to_string(),
            VaultName::Project(p) => format!("project:{p}"),
        }
    }
}

impl fmt::Display for VaultName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VaultName::Global => f.write_str("global"),
            VaultName::System => f.write_str("system"),
            VaultName::Project(p) => write!(f, "project {p}"),
        }
    }
}

/// Environments whose records are production whatever else is said. Configuration may add
/// to this list, never remove from it (a config file is writable by the agent).
pub const DEFAULT_PRODUCTION_ENVS: [&str; 2] = ["prod", "production"];
