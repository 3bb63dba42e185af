//! Requests. Each `Request` variant is one operation of `docs/protocol.md`; the replies are
//! in `reply.rs`.

use kovra_core::model::{Origin, Sensitivity, Surface};
use kovra_core::policy::Scope;
use serde::{Deserialize, Serialize};

use crate::secret::Secret;
use crate::views::{ApiRequest, RunRequest};

/// Bumped on any incompatible change; the daemon refuses other versions.
pub const PROTOCOL_VERSION: u32 = 1;

/// One request and the facts its surface gathered.
#[derive(Debug, Serialize, Deserialize)]
pub struct Envelope {
    pub v: u32,
    pub context: Context,
    pub request: Request,
}

impl Envelope {
    /// The one way a client wraps a request: this protocol's version, the surface's context.
    pub fn new(context: Context, request: Request) -> Self {
        Envelope {
            v: PROTOCOL_VERSION,
            context,
            request,
        }
    }
}

/// Facts the surface reports. The daemon may only tighten them (origin, scope).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Context {
    pub surface: Surface,
    /// What the client believes; the daemon combines it with what it observes itself.
    pub origin: Origin,
    /// The session's scope; `None` means the full vault (still subject to policy).
    #[serde(default)]
    pub scope: Option<Scope>,
    /// The project a bare `secret:` coordinate resolves in first.
    #[serde(default)]
    pub project: Option<String>,
}

/// A proof of presence for one pending challenge: a MAC derived from the typed passphrase
/// (`kovra_core::proof`; the passphrase itself never travels), or a two-factor code.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Proof {
    pub challenge: String,
    /// Hex `proof::tag(proof key, Client, challenge, digest)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<Secret>,
    /// A WebAuthn assertion from an enrolled passkey: the browser's `credential.toJSON()`
    /// of a `navigator.credentials.get()` made with [`ProofOptions::passkey`] (`docs/passkeys.md`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passkey: Option<serde_json::Value>,
}

/// How a client answers a challenge with a passphrase, and the daemon's own tag showing it
/// holds the proof key for this very challenge and digest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PassphraseChallenge {
    #[serde(flatten)]
    pub kdf: kovra_core::proof::ProofKdf,
    /// Hex `proof::tag(proof key, Daemon, challenge, digest)`.
    pub daemon_tag: String,
}

/// What can answer a challenge, and what the client must bind its answer to.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ProofOptions {
    /// Present when a passphrase typed at the terminal can answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passphrase: Option<PassphraseChallenge>,
    /// Why a passphrase cannot answer, when it cannot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passphrase_refused: Option<String>,
    /// Whether a two-factor code can answer.
    #[serde(default)]
    pub code_accepted: bool,
    /// For a run: the SHA-256 of the executable the daemon would start, which the
    /// digest covers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program: Option<String>,
    /// Present when an enrolled passkey can answer: the WebAuthn
    /// `PublicKeyCredentialRequestOptions` JSON (for `PublicKeyCredential.parseRequestOptionsFromJSON`),
    /// whose challenge is derived from this challenge and the request digest
    /// (`kovra_core::passkey::challenge`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passkey: Option<serde_json::Value>,
}

/// How `generate` draws its characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Charset {
    #[default]
    Alnum,
    Alpha,
    Digits,
    Hex,
    Base64url,
    /// Letters, digits and punctuation.
    Symbols,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Request {
    Status,
    Init {
        passphrase: Secret,
        /// As for `Unlock`.
        #[serde(default)]
        unattended: bool,
    },
    Unlock {
        passphrase: Secret,
        /// The second factor's current code, when two-factor authentication is on.
        #[serde(default)]
        code: Option<Secret>,
        /// The passphrase came from a file or descriptor, not a prompt: any process of the
        /// user could have read it, so it stops counting as a proof of presence.
        #[serde(default)]
        unattended: bool,
        /// Failed unlocks the daemon this one replaced had counted (`Handover`).
        #[serde(default)]
        prior_failures: u32,
        /// Hook scans bypassed while that daemon was locked, for the trail.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        prior_bypasses: Vec<String>,
    },
    Lock,
    /// A locked daemon stops so that a client can start a fresh one and hand it the
    /// passphrase over an inherited socket (never over the socket path). Refused while
    /// unlocked.
    Handover,
    /// Show knowledge of the proof key for the client's nonce: lets a client that has the
    /// passphrase check it talks to this vault's daemon before it sends anything more.
    Verify {
        nonce: String,
        /// The client holds the passphrase from a file or descriptor (an `unlock` of an
        /// already unlocked vault): passphrase proofs stop for this daemon, as after an
        /// unattended unlock. Only tightens.
        #[serde(default)]
        unattended: bool,
    },
    /// Stop the daemon (locking first).
    Shutdown,
    /// Start the daemon's SSH agent socket if it is not serving (`stop`: stop it). One per
    /// daemon, beside its socket ([`crate::paths::Paths::ssh_agent_socket`]); it stops with
    /// the daemon. Needs no unlocked vault: while locked the agent lists no keys and signs
    /// nothing. Refused on an agent profile's socket.
    SshAgent {
        #[serde(default)]
        stop: bool,
    },
    /// Run one statement with a connection record (`crate::query`).
    Query(Box<crate::query::QueryRequest>),
    /// Write a `.env` file's entries in one transaction (`crate::import`).
    Import(Box<crate::import::ImportRequest>),
    /// A non-production environment's records as dotenv entries (`crate::import`).
    Export(Box<crate::import::ExportRequest>),
    /// Run one command on a pinned host (`crate::ssh`).
    Ssh(Box<crate::ssh::SshRequest>),
    /// Connect to `ADDRESS[:PORT]` and report its host key, without logging in.
    SshScan {
        address: String,
    },
    /// Pin a host's key and write its rules (a new host, or a replacement).
    SshHostAdd {
        spec: Box<crate::ssh::SshHostSpec>,
        #[serde(default)]
        proof: Option<Proof>,
    },
    SshHostList,
    SshHostRemove {
        name: String,
    },
    /// The ssh-agent's standing rules (`agent.toml` beside `config.toml`): the file as the
    /// daemon reads it, the state the human accepted, the rules in force, and what accepting
    /// the file would change.
    SshAgentRules,
    /// Accept `agent.toml` as the standing state the file may then only narrow. `sha256` is
    /// the file's as `SshAgentRules` showed it: the daemon refuses if it changed since, so
    /// the proof covers exactly what the human was shown. Needs a proof of presence.
    SshAgentAccept {
        sha256: String,
        #[serde(default)]
        proof: Option<Proof>,
    },
    ProjectCreate {
        name: String,
    },
    ProjectList,
    Add {
        coordinate: String,
        value: Secret,
        #[serde(default)]
        sensitivity: Option<Sensitivity>,
        #[serde(default)]
        description: Option<String>,
        #[serde(default)]
        revealable: bool,
        /// The value is a TOTP seed (base32 or an `otpauth://totp/` URI); codes come from `code`.
        #[serde(default)]
        totp: bool,
        /// Pin the new record to this broker provider.
        #[serde(default)]
        provider: Option<String>,
        /// The value is an OpenSSH private key: the record becomes an SSH key record.
        #[serde(default)]
        ssh_key: bool,
        /// The passphrase of a protected private key (`ssh_key`): the key is decrypted in
        /// the daemon and sealed without it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key_passphrase: Option<Secret>,
        /// With `ssh_key`: restrict the key to these servers' host keys, as `Keygen`'s.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        hosts: Vec<String>,
        /// The value is a connection string for this database engine (`postgres://…` or
        /// libpq's `key=value` form): the record becomes a connection record, its password
        /// sealed and the rest kept as metadata.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        database: Option<kovra_core::dbconn::DbEngine>,
    },
    /// Make an SSH key in the daemon and store it as a new record (`kovra keygen`).
    Keygen {
        coordinate: String,
        #[serde(default)]
        key_type: kovra_core::sshkey::KeyType,
        #[serde(default)]
        sensitivity: Option<Sensitivity>,
        #[serde(default)]
        description: Option<String>,
        /// Restrict the key to these servers' host keys (`SHA256:…`): it then signs only
        /// logins through the ssh-agent bound to one of them.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        hosts: Vec<String>,
    },
    /// An SSH key record's public key (metadata: the private key is not opened).
    PublicKey {
        coordinate: String,
    },
    /// An SSHSIG signature with an SSH key record (`kovra sign`). The data never travels:
    /// the client sends its SHA-512, which is what an SSHSIG signature covers.
    Sign {
        coordinate: String,
        namespace: String,
        /// Hex SHA-512 of the data to sign.
        sha512: String,
        #[serde(default)]
        proof: Option<Proof>,
    },
    Set {
        coordinate: String,
        value: Secret,
        #[serde(default)]
        proof: Option<Proof>,
    },
    Generate {
        coordinate: String,
        length: u32,
        #[serde(default)]
        charset: Charset,
        #[serde(default)]
        sensitivity: Option<Sensitivity>,
        #[serde(default)]
        description: Option<String>,
        #[serde(default)]
        revealable: bool,
        /// Replace the value of an existing record.
        #[serde(default)]
        overwrite: bool,
        /// Pin a new record to this broker provider.
        #[serde(default)]
        provider: Option<String>,
        #[serde(default)]
        proof: Option<Proof>,
    },
    List {
        #[serde(default)]
        env: Option<String>,
    },
    /// `List` answered as a stream (`docs/protocol.md`, "Streamed replies"): a
    /// `records-stream` head with the counts, then the records in [`Page`](crate::Page)
    /// frames. `offset` skips that many of the records the caller may see (sorted as
    /// `list` sorts them); `limit` keeps at most that many after it.
    ListStream {
        #[serde(default)]
        env: Option<String>,
        #[serde(default)]
        offset: usize,
        #[serde(default)]
        limit: Option<usize>,
    },
    Show {
        coordinate: String,
    },
    Fingerprint {
        coordinate: String,
        #[serde(default)]
        proof: Option<Proof>,
    },
    Edit {
        coordinate: String,
        #[serde(default)]
        description: Option<String>,
        #[serde(default)]
        sensitivity: Option<Sensitivity>,
        #[serde(default)]
        revealable: Option<bool>,
        #[serde(default)]
        proof: Option<Proof>,
    },
    Remove {
        coordinate: String,
        #[serde(default)]
        proof: Option<Proof>,
    },
    History {
        coordinate: String,
    },
    /// Move a record with its whole history: to another vault (`to_project`, `to_global`;
    /// `kovra mv`) or to another coordinate in its own vault (`to`; `kovra rename`).
    Move {
        coordinate: String,
        /// The new coordinate; absent: the same one in the destination vault.
        #[serde(default)]
        to: Option<String>,
        /// The destination project vault.
        #[serde(default)]
        to_project: Option<String>,
        /// The destination is the global vault.
        #[serde(default)]
        to_global: bool,
        #[serde(default)]
        proof: Option<Proof>,
    },
    Rollback {
        coordinate: String,
        version: u64,
        #[serde(default)]
        proof: Option<Proof>,
    },
    Reveal {
        coordinate: String,
        #[serde(default)]
        proof: Option<Proof>,
    },
    /// The current code of a TOTP record (never the seed).
    Code {
        coordinate: String,
        /// If fewer seconds than this remain in the current step, answer the next step's code.
        #[serde(default)]
        min_validity: u64,
        #[serde(default)]
        proof: Option<Proof>,
    },
    Audit {
        #[serde(default)]
        coordinate: Option<String>,
        /// Unix seconds.
        #[serde(default)]
        since: Option<u64>,
        #[serde(default)]
        action: Option<String>,
    },
    /// `Audit` answered as a stream: an `audit-stream` head, then the entries, oldest
    /// first, in [`Page`](crate::Page) frames. `limit` keeps only the last that many.
    AuditStream {
        #[serde(default)]
        coordinate: Option<String>,
        /// Unix seconds.
        #[serde(default)]
        since: Option<u64>,
        #[serde(default)]
        action: Option<String>,
        #[serde(default)]
        limit: Option<usize>,
    },
    AuditVerify,
    Passwd {
        old: Secret,
        new: Secret,
    },
    RotateKey {
        #[serde(default)]
        proof: Option<Proof>,
    },
    /// Run a program with `.env.refs` values injected (see `docs/protocol.md` §11). On
    /// `run-ready` the client passes its stdin, stdout and stderr descriptors; then it may
    /// send `signal` and `resize`; the daemon ends with `exited`.
    Run(Box<RunRequest>),
    /// During a run: deliver a signal to the child's process group.
    Signal {
        signal: i32,
    },
    /// During a run: the client's terminal changed size.
    Resize {
        rows: u16,
        cols: u16,
    },
    /// Check a `.env.refs` file against the vault (metadata only).
    Doctor {
        refs: String,
        refs_path: String,
        #[serde(default)]
        env_name: Option<String>,
        /// Names (not values) of the caller's environment variables, to find shadowing.
        #[serde(default)]
        caller_vars: Vec<String>,
    },
    AllowAdd {
        path: String,
        #[serde(default)]
        proof: Option<Proof>,
    },
    AllowList,
    AllowRm {
        path: String,
    },
    /// Plant a canary record (`docs/canaries.md`): a fake key in `like`'s format, stored
    /// and listed as any record; a human's, with a proof of presence.
    CanaryCreate {
        coordinate: String,
        /// The provider whose key format the fake takes (and the record's pin).
        like: String,
        #[serde(default)]
        sensitivity: Option<Sensitivity>,
        #[serde(default)]
        description: Option<String>,
        #[serde(default)]
        proof: Option<Proof>,
    },
    /// Which records are canaries (answered as `Records`); a human's, with a proof.
    CanaryList {
        #[serde(default)]
        proof: Option<Proof>,
    },
    /// The requests parked for out-of-band approval.
    ApprovalList,
    /// Approve one parked request; needs a proof of presence at the approver's terminal.
    Approve {
        id: String,
        #[serde(default)]
        proof: Option<Proof>,
        /// Also let the same run through for a while (a session grant).
        #[serde(default)]
        grant: Option<crate::GrantSpec>,
    },
    /// Make (or with `replace`, replace) an agent profile and open its socket.
    AgentCreate {
        spec: Box<crate::AgentSpec>,
        #[serde(default)]
        proof: Option<Proof>,
    },
    AgentList,
    /// Revoke a profile: its socket closes and every request on it is refused.
    AgentRevoke {
        name: String,
    },
    /// Open a sandbox under a profile (`kovra sandbox`): the reply says how to build it,
    /// and the connection stays open for the sandbox's life.
    SandboxOpen {
        agent: String,
        /// Its pinned lines become placeholders in the sandbox's environment.
        #[serde(flatten)]
        refs: crate::agents::RefsSource,
    },
    /// A profile's placeholders for a refs file (`kovra agent env`): nothing secret.
    AgentEnv {
        agent: String,
        #[serde(flatten)]
        refs: crate::agents::RefsSource,
    },
    /// Refuse one parked request.
    Deny {
        id: String,
    },
    /// Wait (up to two minutes) until a parked request is approved, denied or expired.
    ApprovalWait {
        id: String,
        /// Wait at most this long (never past the approval's own lifetime).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout_secs: Option<u64>,
    },
    /// Texts scanned for the vault's values and well-known key formats (the hooks).
    Scan(Box<crate::scan::ScanRequest>),
    /// A scan refused or skipped on purpose (`KOVRA_HOOK_BYPASS=1`): on the trail, or, while
    /// the vault is locked, kept to be written at the next unlock.
    ScanBypass {
        purpose: String,
        /// Where (a repository path): the human's own words about the bypass.
        place: String,
    },
    /// `kovra confirm TEXT`: succeeds only once the human proved presence for it (at the
    /// requester's terminal, or `kovra approve`). The text is the requester's own words.
    Confirm {
        text: String,
        #[serde(default)]
        proof: Option<Proof>,
    },
    /// Create a second-factor seed (pending until confirmed); needs a proof of presence.
    TwoFactorEnable {
        #[serde(default)]
        proof: Option<Proof>,
    },
    /// Activate the pending seed with one of its codes.
    TwoFactorConfirm {
        code: Secret,
    },
    /// Switch the second factor off: the passphrase and a code are the proof.
    TwoFactorDisable {
        passphrase: Secret,
        code: Secret,
    },
    TwoFactorStatus,
    /// A brokered API call (`docs/broker.md`): the daemon attaches the credential.
    Api(Box<ApiRequest>),
    /// The provider registry (built-in and custom).
    ProviderList,
    ProviderShow {
        name: String,
    },
    /// Store a custom provider (TOML in the provider file format) in the vault.
    ProviderAdd {
        toml: String,
        #[serde(default)]
        proof: Option<Proof>,
    },
    ProviderRemove {
        name: String,
    },
    /// Record that the agent asks the human to store a value at a coordinate.
    SecretRequest {
        coordinate: String,
        description: String,
    },
    /// The value requests still open (a request closes when the record is added).
    SecretRequests,
    /// The vault's sharing identity; `create` makes it when absent.
    Identity {
        #[serde(default)]
        create: bool,
    },
    /// Seal an environment's records for a recipient (`docs/sharing.md`).
    Share {
        env: String,
        #[serde(default)]
        groups: Vec<String>,
        /// `age1…` or `ssh-ed25519 …`.
        to: String,
        ttl_secs: u64,
        #[serde(default)]
        proof: Option<Proof>,
    },
    /// Open a package and import its records.
    Receive {
        /// The armored package.
        package: String,
        token: Secret,
        #[serde(default)]
        force: bool,
        /// Trust this sender fingerprint (needs a proof).
        #[serde(default)]
        accept_sender: Option<String>,
        #[serde(default)]
        proof: Option<Proof>,
    },
    /// Make (or replace) the recovery kit: needs a proof of presence; the reply carries the
    /// kit, once (`docs/recovery.md`).
    RecoveryKit {
        #[serde(default)]
        proof: Option<Proof>,
    },
    /// Replace a forgotten passphrase using the recovery kit (the daemon must be locked).
    Recover {
        kit: Secret,
        passphrase: Secret,
        #[serde(default)]
        unattended: bool,
    },
    /// Write a backup of the vault file to `path` (absolute; must not exist yet).
    Backup {
        path: String,
    },
    /// Verify a backup with its passphrase and put it in the vault's place (the daemon must
    /// be locked); the current vault file is kept aside.
    Restore {
        path: String,
        passphrase: Secret,
        #[serde(default)]
        allow_rollback: bool,
        #[serde(default)]
        unattended: bool,
    },
    /// Pin a record to a provider (optionally to one of its hosts).
    Bind {
        coordinate: String,
        provider: String,
        #[serde(default)]
        host: Option<String>,
        #[serde(default)]
        proof: Option<Proof>,
    },
    /// The live session grants (answered as `Grants`).
    GrantList,
    /// End one session grant now.
    GrantRevoke {
        id: String,
    },
    /// Start enrolling a passkey (`docs/passkeys.md`): needs a proof of presence. `origin` is
    /// the Web UI's (`http://localhost:PORT`), which must be the one the UI registered.
    PasskeyEnrolBegin {
        name: String,
        origin: String,
        #[serde(default)]
        proof: Option<Proof>,
    },
    /// Finish it with the browser's `credential.toJSON()` of `navigator.credentials.create()`.
    PasskeyEnrolFinish {
        ceremony: String,
        credential: serde_json::Value,
    },
    PasskeyList,
    /// Remove an enrolled passkey by id: needs a proof of presence.
    PasskeyRemove {
        id: String,
        #[serde(default)]
        proof: Option<Proof>,
    },
    /// Start the daemon's web UI unless it is serving (on 127.0.0.1:`port`; absent or 0: a
    /// free port) and mint a one-time login link for the caller (`kovra ui`, `docs/web.md`).
    /// The link's session keeps the origin the daemon observed for the caller. Needs no
    /// unlocked vault. Refused on an agent profile's socket.
    Ui {
        #[serde(default)]
        port: Option<u16>,
    },
    /// Where a record has been used since the daemon started: the `.env.refs` files that
    /// named it in a run (paths and variable names, never values) and its last use.
    /// Decided as a metadata read of the record, like `History` (answered as `Usage`).
    Usage {
        coordinate: String,
    },
}

impl Request {
    /// Where a request kind keeps its proof; `None` for kinds that never need one.
    fn proof_slot(&mut self) -> Option<&mut Option<Proof>> {
        match self {
            Request::Set { proof, .. }
            | Request::Generate { proof, .. }
            | Request::Edit { proof, .. }
            | Request::Remove { proof, .. }
            | Request::Move { proof, .. }
            | Request::Rollback { proof, .. }
            | Request::Reveal { proof, .. }
            | Request::Code { proof, .. }
            | Request::Sign { proof, .. }
            | Request::RotateKey { proof }
            | Request::AllowAdd { proof, .. }
            | Request::CanaryCreate { proof, .. }
            | Request::CanaryList { proof }
            | Request::ProviderAdd { proof, .. }
            | Request::SshAgentAccept { proof, .. }
            | Request::Confirm { proof, .. }
            | Request::Share { proof, .. }
            | Request::Receive { proof, .. }
            | Request::Bind { proof, .. }
            | Request::Fingerprint { proof, .. }
            | Request::TwoFactorEnable { proof }
            | Request::RecoveryKit { proof }
            | Request::Approve { proof, .. }
            | Request::AgentCreate { proof, .. }
            | Request::PasskeyEnrolBegin { proof, .. }
            | Request::PasskeyRemove { proof, .. } => Some(proof),
            Request::Run(run) => Some(&mut run.proof),
            Request::Api(api) => Some(&mut api.proof),
            Request::Ssh(ssh) => Some(&mut ssh.proof),
            Request::Query(q) => Some(&mut q.proof),
            Request::Import(i) => Some(&mut i.proof),
            Request::Export(e) => Some(&mut e.proof),
            Request::SshHostAdd { proof, .. } => Some(proof),
            _ => None,
        }
    }

    /// Attach a proof (used by clients retrying after a challenge).
    pub fn set_proof(&mut self, new: Proof) {
        if let Some(slot) = self.proof_slot() {
            *slot = Some(new);
        }
    }

    /// Remove and return the proof, leaving the request as it was before the challenge
    /// (the form its digest is computed over).
    pub fn take_proof(&mut self) -> Option<Proof> {
        self.proof_slot().and_then(Option::take)
    }
}

/// How long the daemon waits before it answers a wrong passphrase, after `failures` of them
/// in a row: doubling from half a second up to 8 s. Part of the protocol, so that a client
/// can say how long its next try will take.
pub fn wrong_passphrase_pause(failures: u32) -> std::time::Duration {
    std::time::Duration::from_millis(250u64 << failures.min(5))
}
