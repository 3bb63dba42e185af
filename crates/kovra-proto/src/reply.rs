//! The daemon's answers: a response (ok, error, needs-proof) and every reply kind, with the
//! views of records, status and listings they carry.

use kovra_core::audit::AuditEntry;
use kovra_core::model::Sensitivity;
use kovra_core::sshkey::agentrules::AgentRules;
use kovra_core::store::AuditReport;
use serde::{Deserialize, Serialize};

use crate::secret::Secret;
use crate::views::*;
use crate::wire::*;

/// The daemon's answer.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Response {
    Ok {
        reply: Box<Reply>,
    },
    /// Policy allows this only with a proof of presence for exactly this request.
    NeedsProof {
        challenge: String,
        code: String,
        message: String,
        /// Seconds until the challenge expires.
        expires_in: u64,
        /// Set when the requester has no terminal: the request is parked under this id
        /// until the human runs `kovra approve ID` (or it expires).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        approval: Option<String>,
        /// How this challenge can be answered.
        #[serde(default)]
        answer: Box<ProofOptions>,
    },
    Error(ErrorReply),
}

/// A refusal or failure: a stable code, a message naming coordinates (never values), a hint.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ErrorReply {
    pub code: crate::ErrorCode,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// A record's metadata as shown to clients.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RecordView {
    pub coordinate: String,
    /// `global` or `project:NAME`.
    pub vault: String,
    pub env: String,
    pub sensitivity: Sensitivity,
    pub revealable: bool,
    pub production: bool,
    pub description: String,
    pub version: u64,
    pub created: u64,
    pub updated: u64,
    /// Set for TOTP credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub totp: Option<kovra_core::totp::TotpParams>,
    /// The broker provider the record is pinned to (bound, or claimed by its name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// The one host it may go to, when bound with a host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_host: Option<String>,
    /// What the record holds (`secret`, `totp`, `ssh-key`, `postgres`). Named `type` on the wire: a
    /// reply's own `kind` tag is beside it (`{"kind":"record",…}`).
    #[serde(default, rename = "type")]
    pub kind: kovra_core::model::RecordKind,
    /// Set for SSH key records: the public half (never the private key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_key: Option<kovra_core::sshkey::SshKeyInfo>,
    /// Set for database connection records: where and as whom it connects (never the
    /// password).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<kovra_core::dbconn::DbConnInfo>,
}

/// A [`RecordView`] serialized from borrowed parts, as the same JSON (a test holds them
/// equal): the daemon streams a listing from the metadata it keeps without copying each
/// record's strings into a view first.
#[derive(Debug, Serialize)]
pub struct RecordViewRef<'a> {
    #[serde(serialize_with = "as_display")]
    pub coordinate: &'a kovra_core::coord::Coordinate,
    pub vault: &'a str,
    pub env: &'a str,
    pub sensitivity: Sensitivity,
    pub revealable: bool,
    pub production: bool,
    pub description: &'a str,
    pub version: u64,
    pub created: u64,
    pub updated: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub totp: Option<kovra_core::totp::TotpParams>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_host: Option<&'a str>,
    #[serde(rename = "type")]
    pub kind: kovra_core::model::RecordKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssh_key: Option<&'a kovra_core::sshkey::SshKeyInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<&'a kovra_core::dbconn::DbConnInfo>,
}

impl From<RecordViewRef<'_>> for RecordView {
    fn from(v: RecordViewRef<'_>) -> Self {
        RecordView {
            coordinate: v.coordinate.to_string(),
            vault: v.vault.to_string(),
            env: v.env.to_string(),
            sensitivity: v.sensitivity,
            revealable: v.revealable,
            production: v.production,
            description: v.description.to_string(),
            version: v.version,
            created: v.created,
            updated: v.updated,
            totp: v.totp,
            provider: v.provider.map(str::to_string),
            provider_host: v.provider_host.map(str::to_string),
            kind: v.kind,
            ssh_key: v.ssh_key.cloned(),
            database: v.database.cloned(),
        }
    }
}

fn as_display<S: serde::Serializer>(
    c: &&kovra_core::coord::Coordinate,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_str(*c)
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StatusInfo {
    pub protocol: u32,
    pub daemon_pid: u32,
    pub home: String,
    pub socket: String,
    pub initialized: bool,
    pub unlocked: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vault_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projects: Option<Vec<String>>,
    pub idle_timeout_secs: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locks_in_secs: Option<u64>,
    pub production_environments: Vec<String>,
    /// Whether a typed passphrase still proves presence to this daemon (false once it was
    /// unlocked with a passphrase from a file or descriptor).
    #[serde(default = "yes")]
    pub passphrase_proofs: bool,
    /// The agent profile this connection's socket is bound to, if it is an agent socket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// The scope this connection's requests are decided under (the request's scope
    /// narrowed by the socket's profile): an MCP server lists only the tools it allows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<kovra_core::policy::Scope>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Listing {
    pub records: Vec<RecordView>,
    /// Rows withheld because they failed authentication.
    pub tampered: usize,
    /// Records the authenticated index knows but the database no longer holds.
    pub missing: usize,
}

/// How many items a [`Page`] carries at most: about 250 KiB of records, so neither end
/// holds a whole listing's frame.
pub const PAGE_ITEMS: usize = 1000;

/// One frame of a streamed reply, after its head. A plain struct, not a tagged enum, so a
/// client parses it straight into its items.
#[derive(Debug, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
}

/// The pages of a stream of `total` items: how many frames follow its head.
pub fn pages_for(total: usize) -> usize {
    total.div_ceil(PAGE_ITEMS)
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Reply {
    Status(StatusInfo),
    Done {
        message: String,
    },
    /// A locked daemon about to exit, and the failed unlocks it counted.
    HandedOver {
        failed_unlocks: u32,
        /// Hook scans bypassed while it was locked (`ScanBypass`), for the next daemon's trail.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        bypasses: Vec<String>,
    },
    /// `proof::tag(proof key, Daemon, nonce, VERIFY_DIGEST)` and how to derive the key.
    Verified {
        kdf: kovra_core::proof::ProofKdf,
        daemon_tag: String,
    },
    Written {
        coordinate: String,
        vault: String,
        version: u64,
    },
    Record(RecordView),
    Records(Listing),
    History {
        coordinate: String,
        versions: Vec<RecordView>,
    },
    Fingerprint {
        coordinate: String,
        fingerprint: String,
    },
    Revealed {
        coordinate: String,
        value: Secret,
    },
    /// A TOTP code. `starts_in` > 0 when it is the next step's code (the client waits that
    /// long before showing it); it then stays valid for `valid_for` seconds.
    Code {
        coordinate: String,
        code: Secret,
        starts_in: u64,
        valid_for: u64,
    },
    Audit {
        entries: Vec<AuditEntry>,
    },
    /// An SSH key record's public half: for `pubkey`, and for `keygen` (with where the new
    /// record went).
    PublicKey {
        coordinate: String,
        #[serde(flatten)]
        key: kovra_core::sshkey::SshKeyInfo,
        /// Set by `keygen`: the vault written (`global` or `project:NAME`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        vault: Option<String>,
        /// Set by `keygen`: the version written.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        version: Option<u64>,
    },
    /// An armored SSHSIG signature (`-----BEGIN SSH SIGNATURE-----`).
    Signed {
        coordinate: String,
        namespace: String,
        fingerprint: String,
        signature: String,
    },
    /// The head of a streamed listing (`ListStream`): `total` records follow in
    /// [`Page`] frames of at most [`PAGE_ITEMS`] each.
    RecordsStream {
        total: usize,
        tampered: usize,
        missing: usize,
    },
    /// The head of a streamed trail (`AuditStream`): `total` entries follow in [`Page`]s.
    AuditStream {
        total: usize,
    },
    AuditVerified(AuditReport),
    Projects {
        projects: Vec<String>,
    },
    /// The run is approved: send the standard descriptors now.
    RunReady {
        injected: Vec<String>,
        /// The client's stdin, stdout and stderr came with the request (before anything was
        /// decided); otherwise the client sends them now.
        #[serde(default)]
        descriptors_received: bool,
    },
    /// The child ended; `code` is its exit code, or 128+N after signal N.
    Exited {
        code: i32,
    },
    Allowlist {
        entries: Vec<AllowEntry>,
    },
    Api(Box<ApiReply>),
    Identity {
        recipient: String,
        signing_key: String,
        fingerprint: String,
        /// Whether this request created it.
        created: bool,
    },
    /// A sealed package. The token goes to the human's terminal only.
    Shared {
        package: String,
        token: Secret,
        package_id: String,
        environment: String,
        coordinates: Vec<String>,
        expires: u64,
        recipient: String,
    },
    /// The package is from a sender this vault has not accepted.
    SenderUnknown {
        fingerprint: String,
        recipient: String,
        package_id: String,
        environment: String,
        records: usize,
    },
    Received {
        package_id: String,
        sender_fingerprint: String,
        environment: String,
        imported: Vec<String>,
        vault: String,
    },
    SecretRequests {
        pending: Vec<SecretRequestView>,
    },
    /// Provider objects in the provider file format, each with an added `origin`.
    Providers {
        providers: Vec<serde_json::Value>,
    },
    Approvals {
        pending: Vec<ApprovalView>,
    },
    /// `approved`, `denied`, `expired` or `pending`.
    ApprovalState {
        id: String,
        state: String,
    },
    Doctor {
        findings: Vec<Finding>,
        errors: usize,
        warnings: usize,
    },
    /// A new recovery kit, shown once (`docs/recovery.md`); `replaced` when an earlier kit
    /// stopped working.
    RecoveryKit {
        kit: Secret,
        replaced: bool,
    },
    /// A new second-factor seed as an `otpauth://` URI, shown once; confirm with a code.
    TwoFactorSetup {
        uri: Secret,
    },
    /// `disabled`, `pending` or `enabled`.
    TwoFactorState {
        state: String,
    },
    Agents {
        agents: Vec<crate::AgentView>,
    },
    SandboxReady(Box<crate::SandboxGrant>),
    /// The daemon's SSH agent socket (`SshAgent`): where it is, and whether it now serves.
    SshAgent {
        socket: String,
        running: bool,
    },
    Ssh(Box<crate::ssh::SshReply>),
    Query(Box<crate::query::QueryReply>),
    Scan(Box<crate::scan::ScanReply>),
    Imported(Box<crate::import::ImportReply>),
    Exported(Box<crate::import::ExportReply>),
    /// A piece of a streamed command's output (`SshRequest::stream`), already scrubbed.
    SshOutput {
        /// From the command's stderr (else its stdout).
        stderr: bool,
        /// Base64 (standard, padded): the bytes as the command wrote them.
        data_base64: String,
    },
    /// A host's key as it presents it now (`SshScan`).
    SshHostKey {
        address: String,
        port: u16,
        algorithm: String,
        fingerprint: String,
    },
    SshHosts {
        hosts: Vec<crate::ssh::SshHost>,
    },
    /// The ssh-agent's standing rules (`SshAgentRules`, `SshAgentAccept`).
    SshAgentRules(Box<AgentRulesReport>),
    /// `NAME=placeholder` lines of a profile, and the lines it does not serve.
    AgentEnv {
        agent: String,
        variables: Vec<(String, String)>,
        skipped: Vec<String>,
        /// Where programs send their requests (the profile's port), if it has one.
        #[serde(default)]
        egress_port: Option<u16>,
    },
    /// The live session grants, soonest to expire first.
    Grants {
        grants: Vec<crate::GrantView>,
    },
    /// An approval that also made a session grant.
    GrantMade {
        approval: String,
        grant: crate::GrantView,
    },
    /// A passkey enrolment started: `options` is the WebAuthn
    /// `PublicKeyCredentialCreationOptions` JSON (for `parseCreationOptionsFromJSON`);
    /// `ceremony` names it in `PasskeyEnrolFinish` (single use, short-lived).
    PasskeyCreation {
        ceremony: String,
        options: serde_json::Value,
    },
    PasskeyEnrolled {
        id: String,
        name: String,
    },
    Passkeys {
        passkeys: Vec<crate::PasskeyView>,
    },
    /// `Ui`: the one-time login link, a credential until its first use (shown once, at the
    /// caller's terminal), and the seconds it lives.
    UiLink {
        url: Secret,
        expires_in: u64,
    },
    /// `Usage`: the refs files that named the record in a run, latest first, and its last
    /// use (unix seconds, and by which surface and origin), since the daemon started.
    Usage {
        coordinate: String,
        refs: Vec<UsageRef>,
        #[serde(default)]
        last_used: Option<u64>,
        #[serde(default)]
        last_by: Option<String>,
    },
}

/// One `.env.refs` file that named a record, and the variable it named it as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageRef {
    pub path: String,
    pub var: String,
    /// Unix seconds of its latest run.
    pub time: u64,
}

/// The ssh-agent's standing rules: the file, the accepted state and the rules in force.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AgentRulesReport {
    /// Where the daemon reads `agent.toml`.
    pub path: String,
    /// The file's rules; `None` when there is no file or it is unusable.
    #[serde(default)]
    pub file: Option<AgentRules>,
    /// The SHA-256 (hex) of the file's bytes, when it could be read.
    #[serde(default)]
    pub file_sha256: Option<String>,
    /// Why the file is unusable (malformed, a link, unreadable): the agent then offers no
    /// key and signs nothing until it is fixed.
    #[serde(default)]
    pub file_error: Option<String>,
    /// The state the human accepted (`kovra ssh-agent --accept`), if any.
    #[serde(default)]
    pub accepted: Option<AgentRules>,
    /// The rules in force (accepted and file); `None` while the file is unusable.
    #[serde(default)]
    pub effective: Option<AgentRules>,
    /// What accepting the file would change (or, after `--accept`, changed).
    #[serde(default)]
    pub changes: Vec<String>,
    /// This reply is to `--accept`, and the file's rules are now the accepted state.
    #[serde(default)]
    pub accepted_now: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use kovra_core::coord::Coordinate;
    use kovra_core::totp::TotpParams;

    #[test]
    fn a_borrowed_view_serializes_as_the_view() {
        let coordinate = Coordinate::parse("secret:prod/a/B_KEY").unwrap();
        let totp: TotpParams =
            serde_json::from_str(r#"{"algorithm":"SHA256","digits":8,"period":60}"#).unwrap();
        for (totp, provider, description) in [
            (None, None, ""),
            (Some(totp), Some("github"), "with \"quotes\" and\ttab"),
        ] {
            let view = RecordView {
                coordinate: coordinate.to_string(),
                vault: "project:app".into(),
                env: coordinate.env().into(),
                sensitivity: Sensitivity::High,
                revealable: false,
                production: true,
                description: description.into(),
                version: 3,
                created: 1,
                updated: 2,
                totp,
                provider: provider.map(String::from),
                provider_host: provider.map(|_| "api.github.com".to_string()),
                kind: if totp.is_some() {
                    kovra_core::model::RecordKind::Totp
                } else {
                    kovra_core::model::RecordKind::Secret
                },
                ssh_key: None,
                database: None,
            };
            let borrowed = RecordViewRef {
                coordinate: &coordinate,
                vault: &view.vault,
                env: coordinate.env(),
                sensitivity: view.sensitivity,
                revealable: view.revealable,
                production: view.production,
                description: &view.description,
                version: view.version,
                created: view.created,
                updated: view.updated,
                totp: view.totp,
                provider: view.provider.as_deref(),
                provider_host: view.provider_host.as_deref(),
                kind: view.kind,
                ssh_key: view.ssh_key.as_ref(),
                database: view.database.as_ref(),
            };
            assert_eq!(
                serde_json::to_string(&borrowed).unwrap(),
                serde_json::to_string(&view).unwrap()
            );
        }
    }
}
