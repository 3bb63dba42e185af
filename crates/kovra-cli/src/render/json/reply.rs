//! Replies as documents: one serialize-only type per reply, tagged with its `kind`; the
//! records it carries are documents of their own (`docs.rs`).

use kovra_proto::Reply;
use std::borrow::Cow;

use serde::Serialize;

use super::Base64;
use super::docs::*;

/// A reply, tagged with its `kind`.
#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub(super) enum ReplyDoc<'a> {
    Status(StatusDoc<'a>),
    Done {
        message: &'a str,
    },
    HandedOver {
        failed_unlocks: u32,
    },
    Verified {
        kdf: KdfDoc<'a>,
        daemon_tag: &'a str,
    },
    Written {
        coordinate: &'a str,
        vault: &'a str,
        version: u64,
    },
    Record(RecordDoc<'a>),
    Records(ListingDoc<'a>),
    History {
        coordinate: &'a str,
        versions: Vec<RecordDoc<'a>>,
    },
    Fingerprint {
        coordinate: &'a str,
        fingerprint: &'a str,
    },
    /// `pubkey` and `keygen` (with `vault` and `version`).
    PublicKey {
        coordinate: &'a str,
        algorithm: &'a str,
        fingerprint: &'a str,
        public_key: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        vault: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        version: Option<u64>,
    },
    Signed {
        coordinate: &'a str,
        namespace: &'a str,
        fingerprint: &'a str,
        signature: &'a str,
    },
    /// `ssh-agent`: the socket, and whether it now serves.
    SshAgent {
        socket: &'a str,
        running: bool,
    },
    /// `ssh-agent --rules` / `--accept`: the file, the accepted state, the effective rules.
    SshAgentRules(&'a kovra_proto::AgentRulesReport),
    Audit {
        entries: Vec<AuditEntryDoc<'a>>,
    },
    AuditVerified(AuditReportDoc),
    Projects {
        projects: &'a [String],
    },
    RunReady {
        injected: &'a [String],
        descriptors_received: bool,
    },
    Exited {
        code: i32,
    },
    Allowlist {
        entries: Vec<AllowDoc<'a>>,
    },
    Api(ApiDoc<'a>),
    Identity {
        recipient: &'a str,
        signing_key: &'a str,
        fingerprint: &'a str,
        created: bool,
    },
    SenderUnknown {
        fingerprint: &'a str,
        recipient: &'a str,
        package_id: &'a str,
        environment: &'a str,
        records: usize,
    },
    Received {
        package_id: &'a str,
        sender_fingerprint: &'a str,
        environment: &'a str,
        imported: &'a [String],
        vault: &'a str,
    },
    SecretRequests {
        pending: Vec<SecretRequestDoc<'a>>,
    },
    Ssh(&'a kovra_proto::SshReply),
    Query(&'a kovra_proto::QueryReply),
    Scan(&'a kovra_proto::ScanReply),
    Imported(&'a kovra_proto::import::ImportReply),
    SshOutput {
        stderr: bool,
        data_base64: &'a str,
    },
    SshHostKey {
        address: &'a str,
        port: u16,
        algorithm: &'a str,
        fingerprint: &'a str,
    },
    SshHosts {
        hosts: &'a [kovra_proto::SshHost],
    },
    Providers {
        providers: &'a [serde_json::Value],
    },
    Approvals {
        pending: Vec<ApprovalDoc<'a>>,
    },
    ApprovalState {
        id: &'a str,
        state: &'a str,
    },
    Doctor {
        findings: Vec<FindingDoc<'a>>,
        errors: usize,
        warnings: usize,
    },
    TwoFactorSetup {
        uri: Base64<'a>,
    },
    /// `ui`: the one-time login link (printed once, to whoever ran the command).
    UiLink {
        url: Cow<'a, str>,
        expires_in: u64,
    },
    TwoFactorState {
        state: &'a str,
    },
    /// `usage`: where a record was used (the web UI's record detail).
    Usage {
        coordinate: &'a str,
        refs: &'a [kovra_proto::UsageRef],
        last_used: Option<u64>,
        last_by: Option<&'a str>,
    },
    Agents {
        agents: &'a [kovra_proto::AgentView],
    },
    AgentEnv {
        agent: &'a str,
        variables: &'a [(String, String)],
        skipped: &'a [String],
        egress_port: Option<u16>,
    },
    Grants {
        grants: &'a [kovra_proto::GrantView],
    },
    GrantMade {
        approval: &'a str,
        grant: &'a kovra_proto::GrantView,
    },
    PasskeyCreation {
        ceremony: &'a str,
        options: &'a serde_json::Value,
    },
    PasskeyEnrolled {
        id: &'a str,
        name: &'a str,
    },
    Passkeys {
        passkeys: &'a [kovra_proto::PasskeyView],
    },
    /// Never printed: `reply` writes these itself, and `Renderer::show` refuses a package.
    #[serde(skip)]
    Unprinted,
}

impl<'a> From<&'a Reply> for ReplyDoc<'a> {
    fn from(reply: &'a Reply) -> Self {
        match reply {
            Reply::Status(s) => ReplyDoc::Status(s.into()),
            Reply::Done { message } => ReplyDoc::Done { message },
            Reply::HandedOver { failed_unlocks, .. } => ReplyDoc::HandedOver {
                failed_unlocks: *failed_unlocks,
            },
            Reply::Verified { kdf, daemon_tag } => ReplyDoc::Verified {
                kdf: KdfDoc {
                    salt: &kdf.salt,
                    kdf: KdfParamsDoc {
                        m_kib: kdf.kdf.m_kib,
                        t: kdf.kdf.t,
                        p: kdf.kdf.p,
                    },
                },
                daemon_tag,
            },
            Reply::Written {
                coordinate,
                vault,
                version,
            } => ReplyDoc::Written {
                coordinate,
                vault,
                version: *version,
            },
            Reply::Record(r) => ReplyDoc::Record(r.into()),
            Reply::Records(l) => ReplyDoc::Records(l.into()),
            Reply::History {
                coordinate,
                versions,
            } => ReplyDoc::History {
                coordinate,
                versions: versions.iter().map(RecordDoc::from).collect(),
            },
            Reply::Fingerprint {
                coordinate,
                fingerprint,
            } => ReplyDoc::Fingerprint {
                coordinate,
                fingerprint,
            },
            Reply::PublicKey {
                coordinate,
                key,
                vault,
                version,
            } => ReplyDoc::PublicKey {
                coordinate,
                algorithm: &key.algorithm,
                fingerprint: &key.fingerprint,
                public_key: &key.public_key,
                vault: vault.as_deref(),
                version: *version,
            },
            Reply::Signed {
                coordinate,
                namespace,
                fingerprint,
                signature,
            } => ReplyDoc::Signed {
                coordinate,
                namespace,
                fingerprint,
                signature,
            },
            Reply::SshAgent { socket, running } => ReplyDoc::SshAgent {
                socket,
                running: *running,
            },
            Reply::SshAgentRules(r) => ReplyDoc::SshAgentRules(r),
            Reply::Audit { entries } => ReplyDoc::Audit {
                entries: entries.iter().map(AuditEntryDoc::from).collect(),
            },
            Reply::AuditVerified(r) => ReplyDoc::AuditVerified(r.into()),
            Reply::Projects { projects } => ReplyDoc::Projects { projects },
            Reply::RunReady {
                injected,
                descriptors_received,
            } => ReplyDoc::RunReady {
                injected,
                descriptors_received: *descriptors_received,
            },
            Reply::Exited { code } => ReplyDoc::Exited { code: *code },
            Reply::Allowlist { entries } => ReplyDoc::Allowlist {
                entries: entries.iter().map(AllowDoc::from).collect(),
            },
            Reply::Api(r) => ReplyDoc::Api(r.as_ref().into()),
            Reply::Identity {
                recipient,
                signing_key,
                fingerprint,
                created,
            } => ReplyDoc::Identity {
                recipient,
                signing_key,
                fingerprint,
                created: *created,
            },
            Reply::SenderUnknown {
                fingerprint,
                recipient,
                package_id,
                environment,
                records,
            } => ReplyDoc::SenderUnknown {
                fingerprint,
                recipient,
                package_id,
                environment,
                records: *records,
            },
            Reply::Received {
                package_id,
                sender_fingerprint,
                environment,
                imported,
                vault,
            } => ReplyDoc::Received {
                package_id,
                sender_fingerprint,
                environment,
                imported,
                vault,
            },
            Reply::SecretRequests { pending } => ReplyDoc::SecretRequests {
                pending: pending.iter().map(SecretRequestDoc::from).collect(),
            },
            Reply::Providers { providers } => ReplyDoc::Providers { providers },
            Reply::Ssh(r) => ReplyDoc::Ssh(r),
            Reply::Query(r) => ReplyDoc::Query(r),
            Reply::Scan(r) => ReplyDoc::Scan(r),
            Reply::Imported(r) => ReplyDoc::Imported(r),
            // Values are printed by `kovra export` itself, as dotenv, never in a document.
            Reply::Exported(_) => ReplyDoc::Done {
                message: "exported",
            },
            Reply::SshOutput {
                stderr,
                data_base64,
            } => ReplyDoc::SshOutput {
                stderr: *stderr,
                data_base64,
            },
            Reply::SshHostKey {
                address,
                port,
                algorithm,
                fingerprint,
            } => ReplyDoc::SshHostKey {
                address,
                port: *port,
                algorithm,
                fingerprint,
            },
            Reply::SshHosts { hosts } => ReplyDoc::SshHosts { hosts },
            Reply::Approvals { pending } => ReplyDoc::Approvals {
                pending: pending.iter().map(ApprovalDoc::from).collect(),
            },
            Reply::ApprovalState { id, state } => ReplyDoc::ApprovalState { id, state },
            Reply::Doctor {
                findings,
                errors,
                warnings,
            } => ReplyDoc::Doctor {
                findings: findings.iter().map(FindingDoc::from).collect(),
                errors: *errors,
                warnings: *warnings,
            },
            Reply::TwoFactorSetup { uri } => ReplyDoc::TwoFactorSetup {
                uri: Base64(uri.expose()),
            },
            Reply::TwoFactorState { state } => ReplyDoc::TwoFactorState { state },
            Reply::Usage {
                coordinate,
                refs,
                last_used,
                last_by,
            } => ReplyDoc::Usage {
                coordinate,
                refs,
                last_used: *last_used,
                last_by: last_by.as_deref(),
            },
            Reply::UiLink { url, expires_in } => ReplyDoc::UiLink {
                url: String::from_utf8_lossy(url.expose()),
                expires_in: *expires_in,
            },
            Reply::Agents { agents } => ReplyDoc::Agents { agents },
            Reply::PasskeyCreation { ceremony, options } => {
                ReplyDoc::PasskeyCreation { ceremony, options }
            }
            Reply::PasskeyEnrolled { id, name } => ReplyDoc::PasskeyEnrolled { id, name },
            Reply::Passkeys { passkeys } => ReplyDoc::Passkeys { passkeys },
            Reply::AgentEnv {
                agent,
                variables,
                skipped,
                egress_port,
            } => ReplyDoc::AgentEnv {
                agent,
                variables,
                skipped,
                egress_port: *egress_port,
            },
            Reply::Grants { grants } => ReplyDoc::Grants { grants },
            Reply::GrantMade { approval, grant } => ReplyDoc::GrantMade { approval, grant },
            Reply::Revealed { .. }
            | Reply::Code { .. }
            | Reply::Shared { .. }
            | Reply::RecoveryKit { .. }
            | Reply::SandboxReady(_) => ReplyDoc::Unprinted,
            // A stream's head: its command prints the pages (`Renderer::records_stream`).
            Reply::RecordsStream { .. } | Reply::AuditStream { .. } => ReplyDoc::Unprinted,
        }
    }
}

#[derive(Serialize)]
pub(super) struct KdfDoc<'a> {
    salt: &'a str,
    kdf: KdfParamsDoc,
}

#[derive(Serialize)]
pub(super) struct KdfParamsDoc {
    m_kib: u32,
    t: u32,
    p: u32,
}
