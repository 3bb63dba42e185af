//! The catalogue of error codes: every code kovra reports, its exit code and its usual hint.
//!
//! The code is the contract (`docs/errors.md`): scripts and agents match on the kebab-case
//! string, so the strings never change. Surfaces name a code through this enum, never a
//! literal, and the CLI's exit code comes from [`ErrorCode::exit_code`], so the table exists
//! once. A test checks `docs/errors.md` against [`ErrorCode::ALL`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Declares the enum and its tables from one list, so a code, its exit code and its hint
/// cannot drift apart.
macro_rules! catalogue {
    ($($variant:ident = $code:literal, $exit:literal, $hint:expr;)+) => {
        /// A stable error code (`docs/errors.md` §3).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ErrorCode {
            $(
                #[doc = concat!("`", $code, "`")]
                $variant,
            )+
        }

        impl ErrorCode {
            /// Every code, in the order of the list.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),+];

            /// The kebab-case string that travels on the wire.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $code,)+
                }
            }

            /// The CLI's exit code for this error (`docs/errors.md` §2).
            pub const fn exit_code(self) -> u8 {
                match self {
                    $(ErrorCode::$variant => $exit,)+
                }
            }

            /// The hint shown when the site that reports the error has no better one.
            pub const fn hint(self) -> Option<&'static str> {
                match self {
                    $(ErrorCode::$variant => $hint,)+
                }
            }
        }

        impl FromStr for ErrorCode {
            type Err = UnknownCode;

            fn from_str(s: &str) -> Result<Self, UnknownCode> {
                match s {
                    $($code => Ok(ErrorCode::$variant),)+
                    _ => Err(UnknownCode),
                }
            }
        }
    };
}

catalogue! {
    TwoFactorAlreadyEnabled = "2fa-already-enabled", 1, Some("`kovra 2fa disable` first to replace the seed");
    TwoFactorCodeInvalid = "2fa-code-invalid", 1, Some("wait for the next code in your authenticator app and try again");
    TwoFactorCodeRequired = "2fa-code-required", 1, Some("give the current code from your authenticator app (prompted at a terminal, or --code-file)");
    TwoFactorNotEnabled = "2fa-not-enabled", 1, None;
    TwoFactorNotPending = "2fa-not-pending", 1, Some("run `kovra 2fa enable` first");
    AllowlistHashMismatch = "allowlist-hash-mismatch", 1, None;
    AllowlistWritable = "allowlist-writable", 1, None;
    AlreadyExists = "already-exists", 1, Some("use `kovra set` to replace its value");
    AlreadyInitialized = "already-initialized", 1, Some("use `kovra unlock`; to start over, move the home away first");
    AgentExists = "agent-exists", 1, Some("pass --replace to replace it, or choose another name");
    AgentInvalid = "agent-invalid", 2, None;
    AgentRevoked = "agent-revoked", 4, Some("the human revoked this agent profile or it expired: ask them for a new one (`kovra agent create`)");
    AgentSocketRefused = "agent-socket-refused", 4, Some("an agent profile's socket serves only that profile's requests: the human does this at their own terminal");
    AgentUnknown = "agent-unknown", 3, Some("`kovra agent list` shows the agent profiles");
    ApprovalDenied = "approval-denied", 4, None;
    ApprovalExpired = "approval-expired", 4, None;
    ApprovalNeeded = "approval-needed", 5, None;
    ApprovalUnknown = "approval-unknown", 1, None;
    AuditBroken = "audit-broken", 8, Some("the trail was edited outside kovra; keep this vault file for investigation");
    AuditFailed = "audit-failed", 1, Some("unlock the vault and check `kovra audit verify`");
    BadRequest = "bad-request", 1, Some("use a kovra client of the same version");
    BodyInvalid = "body-invalid", 2, None;
    BodyTooLarge = "body-too-large", 2, Some("send a smaller body");
    BootLost = "boot-lost", 1, Some("check `kovra status`; restart with `kovra daemon stop` and retry");
    BrokerUnavailable = "broker-unavailable", 1, None;
    CapabilityDenied = "capability-denied", 2, Some("`kovra providers show NAME` lists the methods and paths a provider allows");
    CodeUnreadable = "code-unreadable", 1, None;
    CommandNotFound = "command-not-found", 127, None;
    ConfigInvalid = "config-invalid", 1, Some("fix or remove the config file");
    ConnectionInvalid = "connection-invalid", 1, Some("give a postgres://user:password@host:port/database URL or libpq key=value parameters (host=… port=… dbname=… user=… password=…)");
    CoordinateInvalid = "coordinate-invalid", 2, None;
    CwdInvalid = "cwd-invalid", 1, None;
    DaemonFailed = "daemon-failed", 1, None;
    DotenvInvalid = "dotenv-invalid", 1, Some("fix the line named, or quote the value so python-dotenv and Node dotenv read it alike");
    DaemonRefused = "daemon-refused", 1, Some("start it from a clean environment (no LD_*, MALLOC_* or GLIBC_TUNABLES variables), not under a debugger");
    DaemonRunning = "daemon-running", 1, Some("`kovra status` shows the running daemon; `kovra daemon stop` stops it");
    DaemonTraced = "daemon-traced", 1, Some("stop the tracing process, then `kovra daemon stop` and retry");
    DaemonUnauthenticated = "daemon-unauthenticated", 8, Some("another process may stand between you and the daemon: do not type secrets; find the process (ps, /proc/PID), stop it, then `kovra daemon stop` and retry");
    DaemonUnreachable = "daemon-unreachable", 7, None;
    DaemonTimeout = "daemon-timeout", 7, Some("the daemon did not answer in time: check `kovra status`; `kovra daemon stop` restarts it on the next command");
    DatabaseCorrupt = "database-corrupt", 8, Some("the database file is damaged; restore it from a backup");
    DemoFailed = "demo-failed", 1, None;
    DescriptionInvalid = "description-invalid", 1, None;
    DescriptionTooLong = "description-too-long", 1, None;
    DoctorFoundErrors = "doctor-found-errors", 1, None;
    EmptyValue = "empty-value", 1, None;
    EnvNeeded = "env-needed", 1, Some("add `env = dev` to .env.refs or set KOVRA_ENV=dev (or pass --env; over MCP, the `env` argument)");
    EnvUnset = "env-unset", 1, None;
    ExecutableChanged = "executable-changed", 1, None;
    FallbackRefused = "fallback-refused", 1, None;
    FingerprintMismatch = "fingerprint-mismatch", 1, Some("compare with what install.sh printed on the new machine");
    GrantUnknown = "grant-unknown", 1, Some("`kovra grants` lists the live ones");
    HeaderForbidden = "header-forbidden", 2, Some("drop it: kovra attaches the credential bound to this provider");
    HeaderInvalid = "header-invalid", 2, None;
    HostInvalid = "host-invalid", 2, Some("`kovra providers show NAME` lists its hosts");
    HttpError = "http-error", 1, None;
    IdentityInvalid = "identity-invalid", 1, None;
    InputUnreadable = "input-unreadable", 1, None;
    InstallIncomplete = "install-incomplete", 1, Some("reinstall kovra: bash scripts/install.sh");
    Internal = "internal", 1, None;
    InvalidArgument = "invalid-argument", 1, None;
    IoError = "io-error", 1, None;
    KeepEnvRefused = "keep-env-refused", 1, None;
    KitInvalid = "kit-invalid", 1, None;
    LengthInvalid = "length-invalid", 1, None;
    McpFailed = "mcp-failed", 1, None;
    MethodInvalid = "method-invalid", 2, None;
    MinValidityInvalid = "min-validity-invalid", 1, Some("give at most the period");
    NeedsProof = "needs-proof", 5, None;
    NoCodeSource = "no-code-source", 1, Some("use --code-file PATH or --code-fd N");
    NoCredential = "no-credential", 3, Some("add one with `kovra add COORD`, or name a record with --secret");
    NoHome = "no-home", 1, Some("set KOVRA_HOME");
    NoIdentity = "no-identity", 1, Some("run `kovra identity` to create it");
    NoPassphraseSource = "no-passphrase-source", 1, Some("use --passphrase-file PATH, --passphrase-fd N or KOVRA_PASSPHRASE_FILE");
    NoRun = "no-run", 1, None;
    NoSuchVersion = "no-such-version", 1, Some("`kovra history COORD` lists the versions");
    NoTerminal = "no-terminal", 1, None;
    NoValueSource = "no-value-source", 1, Some("pipe the value in and pass --stdin");
    NotExecutable = "not-executable", 126, None;
    NotFound = "not-found", 3, Some("`kovra list` shows the records you can address; `kovra add` creates one");
    NotInitialized = "not-initialized", 6, None;
    NotText = "not-text", 1, None;
    NotTotp = "not-totp", 1, Some("add TOTP seeds with `kovra add COORD --totp`");
    NotSshKey = "not-ssh-key", 1, Some("make one with `kovra keygen COORD`, or import one with `kovra add COORD --ssh-key`");
    SshKeyInvalid = "ssh-key-invalid", 1, Some("give the OpenSSH private key file ssh-keygen wrote (e.g. ~/.ssh/id_ed25519, not the .pub)");
    SshKeyPassphraseNeeded = "ssh-key-passphrase-needed", 1, Some("type it at the prompt, or pass --key-passphrase-file PATH");
    SshKeyPassphraseWrong = "ssh-key-passphrase-wrong", 1, Some("check the key's passphrase with `ssh-keygen -y -f KEY`");
    SshKeyUnsupported = "ssh-key-unsupported", 1, Some("use an ed25519, ecdsa-p256 or rsa key");
    QueryReadOnly = "query-read-only", 4, Some("the statement writes: run it again with --write (MCP: write: true); that needs a proof of presence, and an agent's waits for `kovra approve`");
    SqlInvalid = "sql-invalid", 2, Some("send one statement, with a --param for each $1, $2…");
    QueryFailed = "query-failed", 1, None;
    QueryTimeout = "query-timeout", 1, Some("the statement ran past its timeout and was cancelled; narrow it, or raise --timeout (up to 300 s)");
    DbUnreachable = "db-unreachable", 1, Some("check the host and port the record names (`kovra show COORD`) and that the server runs");
    DbAuthRefused = "db-auth-refused", 1, Some("the stored password or user is not accepted: replace it with `kovra set COORD`");
    DbTls = "db-tls", 1, Some("the server's certificate did not verify for the record's sslmode: check sslrootcert and the host name");
    SshHostUnknown = "ssh-host-unknown", 3, Some("add it with `kovra ssh-host add NAME ADDRESS` (you accept its host key with a proof); `kovra ssh-host list` shows the known ones");
    SshHostInvalid = "ssh-host-invalid", 2, Some("`kovra ssh-host add --help` shows each field's form");
    SshHostKeyChanged = "ssh-host-key-changed", 8, Some("the host presents a key nobody accepted: check it out of band before trusting it; if it really was reinstalled, `kovra ssh-host add NAME ADDRESS` pins the new key (with a proof)");
    SshUnreachable = "ssh-unreachable", 1, Some("check the address and port (`kovra ssh-host list`) and that sshd runs there");
    SshAuthRefused = "ssh-auth-refused", 1, Some("put the key's public half (`kovra pubkey COORD`) in the user's ~/.ssh/authorized_keys on the host");
    SshTimeout = "ssh-timeout", 1, Some("the command ran past its timeout and was stopped; raise it with --timeout (up to the host's limit)");
    SshFailed = "ssh-failed", 1, None;
    NamespaceInvalid = "namespace-invalid", 1, Some("name what the signature is for, e.g. --namespace file or --namespace git");
    AgentRulesInvalid = "agent-rules-invalid", 1, Some("fix agent.toml as the message says; `kovra ssh-agent --rules` shows what the daemon reads");
    AgentRulesChanged = "agent-rules-changed", 1, Some("agent.toml changed after it was shown; run `kovra ssh-agent --accept` again and check what it shows");
    NothingToChange = "nothing-to-change", 1, None;
    NothingToShare = "nothing-to-share", 3, Some("`kovra list --env ENV` shows what there is");
    Output = "output", 1, None;
    OutputExists = "output-exists", 1, Some("pass another --out, or move the file away");
    OutputFailed = "output-failed", 1, None;
    PackageAlreadyReceived = "package-already-received", 1, Some("ask the sender for a new package");
    PackageExpired = "package-expired", 1, None;
    PackageInvalid = "package-invalid", 1, None;
    PackageNotForUs = "package-not-for-us", 1, Some("it was sealed to another identity; ask the sender to share to `kovra identity`'s recipient");
    PasskeyInvalid = "passkey-invalid", 1, Some("start the enrolment again in `kovra ui`");
    PasskeyUnknown = "passkey-unknown", 3, Some("`kovra passkey list` shows the enrolled passkeys");
    PassphraseEmpty = "passphrase-empty", 1, None;
    PassphraseMismatch = "passphrase-mismatch", 1, Some("run the command again");
    PassphraseUnreadable = "passphrase-unreadable", 1, None;
    PassphraseWeak = "passphrase-weak", 1, None;
    PathInvalid = "path-invalid", 2, Some("give the path as the API documents it, starting with `/`, without `.` or `..` segments; put the query in --query");
    PeerRefused = "peer-refused", 4, None;
    PolicyDenied = "policy-denied", 4, None;
    ProjectExists = "project-exists", 1, Some("pick another name, or use the existing project");
    ProjectInvalid = "project-invalid", 1, None;
    ProofInvalid = "proof-invalid", 4, Some("retry the command to get a new challenge");
    ProtocolVersion = "protocol-version", 1, Some("restart the daemon with `kovra daemon stop`, then retry with the same kovra binary");
    ProviderBuiltin = "provider-builtin", 1, Some("`kovra providers` lists them, with their origin");
    ProviderExists = "provider-exists", 1, Some("pick another name, or `kovra providers rm NAME` a custom one first");
    ProviderInvalid = "provider-invalid", 2, None;
    QueryForbidden = "query-forbidden", 2, Some("drop it: kovra attaches the credential bound to this provider");
    QueryInvalid = "query-invalid", 2, None;
    RateLimited = "rate-limited", 1, Some("wait, then retry");
    RecipientInvalid = "recipient-invalid", 2, Some("give an age1… recipient (`kovra identity` on the other side) or an ssh-ed25519 public key");
    RecordExists = "record-exists", 1, Some("receive into another project with --project, or replace them with --force (asks for your passphrase)");
    RecordTampered = "record-tampered", 8, None;
    BackupInvalid = "backup-invalid", 1, Some("give the file `kovra backup` wrote");
    BackupTampered = "backup-tampered", 8, Some("the backup was changed after it was written (or is another backup's parts): use another backup");
    BackupOlder = "backup-older", 1, Some("this backup is behind the vault's last acknowledged state: restore a newer one, or pass --allow-rollback (with a proof) to go back on purpose");
    RecoveryKitInvalid = "recovery-kit-invalid", 2, Some("type the 40 characters exactly as written down (case, dashes and spaces do not matter)");
    RecoveryKitMissing = "recovery-kit-missing", 1, None;
    RecoveryKitWrong = "recovery-kit-wrong", 1, Some("use the newest kit made for this vault; an older one stopped working when it was replaced");
    RefsInvalid = "refs-invalid", 1, None;
    RefsMissing = "refs-missing", 1, None;
    ResponseTooLarge = "response-too-large", 1, None;
    ResponseUnscrubbable = "response-unscrubbable", 1, None;
    RunFailed = "run-failed", 1, None;
    SandboxUnavailable = "sandbox-unavailable", 1, Some("`kovra doctor --system` says what is missing; kovra never runs the command unconfined instead");
    SealFailed = "seal-failed", 1, None;
    SenderUnknown = "sender-unknown", 5, Some("compare the fingerprint with the sender, then receive again at a terminal or with --accept-sender FINGERPRINT");
    SetupFailed = "setup-failed", 1, None;
    SetupInvalidJson = "setup-invalid-json", 1, Some("fix the file (or move it away), then run `kovra setup` again");
    SetupInvalidToml = "setup-invalid-toml", 1, Some("fix the file (or move it away), then run `kovra setup` again");
    StdoutClosed = "stdout-closed", 0, None;
    DiskFull = "disk-full", 1, Some("free space on the disk that holds the vault (`df` on the kovra home), then retry; nothing was written");
    VaultBusy = "vault-busy", 1, Some("another process has the vault database open and locked (sqlite3, a backup or sync tool): close it, then retry");
    VaultReadOnly = "vault-read-only", 1, Some("make the vault writable again (remount its filesystem read-write, or give the file back to its owner with mode 0600), then retry");
    Traced = "traced", 1, Some("stop the tracing process and run the command again");
    SignatureInvalid = "signature-invalid", 1, None;
    SinceInvalid = "since-invalid", 1, Some("use an RFC 3339 time (2026-11-23T10:00:00Z) or a duration (90m, 2h, 3days)");
    TooManyConnections = "too-many-connections", 7, Some("a process of yours holds many connections to the daemon: find it (`ss -xp`), stop it, and retry");
    TimeoutInvalid = "timeout-invalid", 2, None;
    TokenInvalid = "token-invalid", 1, Some("type the token exactly as the sender received it (spaces and case do not matter)");
    TotpAlgorithmUnsupported = "totp-algorithm-unsupported", 1, None;
    TotpBase32Invalid = "totp-base32-invalid", 1, Some("give the base32 seed or the otpauth://totp/ URI your service showed");
    TotpDigitsInvalid = "totp-digits-invalid", 1, None;
    TotpPeriodInvalid = "totp-period-invalid", 1, None;
    TotpUriInvalid = "totp-uri-invalid", 1, None;
    TtlInvalid = "ttl-invalid", 2, None;
    UnknownProject = "unknown-project", 1, Some("create it with `kovra project create NAME`, or check `kovra project list`");
    UnknownProvider = "unknown-provider", 3, None;
    Unresolved = "unresolved", 1, None;
    UpstreamTimeout = "upstream-timeout", 1, Some("retry, or raise --timeout (at most 300 s)");
    UpstreamTls = "upstream-tls", 1, None;
    UpstreamUnreachable = "upstream-unreachable", 1, None;
    Usage = "usage", 2, Some("see `kovra --help`");
    ValueNotText = "value-not-text", 1, None;
    ValueTooLarge = "value-too-large", 1, None;
    VaultLocked = "vault-locked", 6, Some("run `kovra unlock`");
    VaultTampered = "vault-tampered", 8, Some("the vault file was changed outside kovra; restore it from a backup");
    VaultUnlocked = "vault-unlocked", 1, Some("`kovra lock` or `kovra daemon stop` first");
    WrongPassphrase = "wrong-passphrase", 1, Some("try again; the passphrase is case-sensitive");
}

/// What each exit code means, in a word (`docs/errors.md` §2): the CLI's help is written
/// from this, so it cannot miss a code the catalogue uses.
pub const EXIT_MEANINGS: &[(u8, &str)] = &[
    (0, "ok"),
    (1, "error"),
    (2, "usage or invalid input"),
    (3, "not found"),
    (4, "refused by policy"),
    (5, "needs a proof at a terminal"),
    (6, "vault locked or not initialised"),
    (7, "daemon unreachable"),
    (8, "integrity failure"),
    (126, "command not executable"),
    (127, "command not found"),
];

/// One line per exit code, for a help text.
pub fn exit_code_help() -> String {
    let mut text = String::from("Exit codes:\n");
    for (code, meaning) in EXIT_MEANINGS {
        text.push_str(&format!("  {code:>3}  {meaning}\n"));
    }
    text.push_str("See docs/errors.md.");
    text
}

/// A string that names no code of this catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownCode;

impl fmt::Display for UnknownCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unknown error code")
    }
}

impl std::error::Error for UnknownCode {}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(d)?;
        text.parse()
            .map_err(|_| serde::de::Error::custom("unknown error code"))
    }
}

/// The code the surfaces report for a store error. A caller's mistake is `internal`: the
/// daemon checks its requests before it writes, so reaching the store with one is a bug.
impl From<&kovra_core::store::StoreError> for ErrorCode {
    fn from(e: &kovra_core::store::StoreError) -> Self {
        use kovra_core::store::StoreError;
        match e {
            StoreError::NotInitialized(_) => ErrorCode::NotInitialized,
            StoreError::AlreadyInitialized(_) => ErrorCode::AlreadyInitialized,
            StoreError::WrongPassphrase => ErrorCode::WrongPassphrase,
            StoreError::RecordTampered(_) => ErrorCode::RecordTampered,
            StoreError::VaultTampered(_) => ErrorCode::VaultTampered,
            StoreError::UnknownProject(_) => ErrorCode::UnknownProject,
            StoreError::ProjectExists(_) => ErrorCode::ProjectExists,
            StoreError::AlreadyExists(_) => ErrorCode::AlreadyExists,
            StoreError::NoSuchVersion(..) => ErrorCode::NoSuchVersion,
            StoreError::Corrupt(_) => ErrorCode::DatabaseCorrupt,
            StoreError::DiskFull(_) => ErrorCode::DiskFull,
            StoreError::Busy(_) => ErrorCode::VaultBusy,
            StoreError::ReadOnly(_) => ErrorCode::VaultReadOnly,
            StoreError::Kdf(_)
            | StoreError::DuplicateInWrite(_)
            | StoreError::NoValueToKeep(_)
            | StoreError::NotAllowed { .. } => ErrorCode::Internal,
            StoreError::Io { .. } => ErrorCode::IoError,
            StoreError::NoRecoveryKit => ErrorCode::RecoveryKitMissing,
            StoreError::BackupInvalid(_) => ErrorCode::BackupInvalid,
            StoreError::BackupTampered(_) => ErrorCode::BackupTampered,
            StoreError::WrongRecoveryKit => ErrorCode::RecoveryKitWrong,
        }
    }
}

/// The code of a connection string the user gave that was refused (every refusal is the
/// same code; its message names the field).
impl From<kovra_core::dbconn::DbConnError> for ErrorCode {
    fn from(_: kovra_core::dbconn::DbConnError) -> Self {
        ErrorCode::ConnectionInvalid
    }
}

/// The code of an SSH key the user gave that could not be read or used.
impl From<kovra_core::sshkey::SshKeyError> for ErrorCode {
    fn from(e: kovra_core::sshkey::SshKeyError) -> Self {
        use kovra_core::sshkey::SshKeyError;
        match e {
            SshKeyError::NotAKey | SshKeyError::PublicKeyGiven | SshKeyError::LegacyFormat => {
                ErrorCode::SshKeyInvalid
            }
            SshKeyError::PassphraseNeeded => ErrorCode::SshKeyPassphraseNeeded,
            SshKeyError::WrongPassphrase => ErrorCode::SshKeyPassphraseWrong,
            SshKeyError::Unsupported | SshKeyError::Sha1 => ErrorCode::SshKeyUnsupported,
            SshKeyError::Namespace => ErrorCode::NamespaceInvalid,
            SshKeyError::Crypto => ErrorCode::Internal,
        }
    }
}

/// The code of a TOTP seed the user gave that does not parse.
impl From<kovra_core::totp::TotpError> for ErrorCode {
    fn from(e: kovra_core::totp::TotpError) -> Self {
        use kovra_core::totp::TotpError;
        match e {
            TotpError::Base32 => ErrorCode::TotpBase32Invalid,
            TotpError::Uri => ErrorCode::TotpUriInvalid,
            TotpError::Algorithm => ErrorCode::TotpAlgorithmUnsupported,
            TotpError::Digits => ErrorCode::TotpDigitsInvalid,
            TotpError::Period => ErrorCode::TotpPeriodInvalid,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_through_its_string() {
        for &code in ErrorCode::ALL {
            assert_eq!(code.as_str().parse::<ErrorCode>(), Ok(code));
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(serde_json::from_str::<ErrorCode>(&json).unwrap(), code);
        }
    }

    #[test]
    fn codes_are_unique_kebab_case() {
        let mut seen = std::collections::HashSet::new();
        for &code in ErrorCode::ALL {
            let s = code.as_str();
            assert!(seen.insert(s), "{s} listed twice");
            assert!(
                s.split('-').all(|p| !p.is_empty()
                    && p.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())),
                "{s} is not kebab-case"
            );
        }
    }

    #[test]
    fn every_exit_code_has_a_meaning() {
        for &code in ErrorCode::ALL {
            let exit = code.exit_code();
            assert!(
                EXIT_MEANINGS.iter().any(|(c, _)| *c == exit),
                "{code} exits with {exit}, which EXIT_MEANINGS does not explain"
            );
        }
    }

    #[test]
    fn an_unknown_string_is_refused() {
        assert_eq!("no-such-code".parse::<ErrorCode>(), Err(UnknownCode));
        assert!(serde_json::from_str::<ErrorCode>("\"no-such-code\"").is_err());
    }
}
