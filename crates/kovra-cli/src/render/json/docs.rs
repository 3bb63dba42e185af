//! The records a reply carries, as documents (status, record, listing, audit entry and
//! report, allowlist entry, brokered reply, request, approval, fact, finding): serialize-only
//! types mirroring the wire's, field for field. `reply.rs` wraps them in `ReplyDoc`.

use kovra_core::audit::{AuditEntry, ChainBreak};
use kovra_core::store::AuditReport;
use kovra_proto::{
    AllowEntry, ApiReply, ApprovalView, Fact, Finding, Listing, RecordView, SecretRequestView,
    StatusInfo,
};
use std::borrow::{Borrow, Cow};

use serde::{Deserialize, Serialize};

#[derive(Serialize)]
pub(super) struct StatusDoc<'a> {
    protocol: u32,
    daemon_pid: u32,
    home: &'a str,
    socket: &'a str,
    initialized: bool,
    unlocked: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    vault_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    records: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    projects: Option<&'a [String]>,
    idle_timeout_secs: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    locks_in_secs: Option<u64>,
    production_environments: &'a [String],
    passphrase_proofs: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    agent: Option<&'a str>,
}

impl<'a> From<&'a StatusInfo> for StatusDoc<'a> {
    fn from(s: &'a StatusInfo) -> Self {
        StatusDoc {
            protocol: s.protocol,
            daemon_pid: s.daemon_pid,
            home: &s.home,
            socket: &s.socket,
            initialized: s.initialized,
            unlocked: s.unlocked,
            vault_id: s.vault_id.as_deref(),
            records: s.records,
            projects: s.projects.as_deref(),
            idle_timeout_secs: s.idle_timeout_secs,
            locks_in_secs: s.locks_in_secs,
            production_environments: &s.production_environments,
            passphrase_proofs: s.passphrase_proofs,
            agent: s.agent.as_deref(),
        }
    }
}

#[derive(Serialize)]
pub(super) struct TotpDoc {
    algorithm: &'static str,
    digits: u8,
    period: u64,
}

#[derive(Serialize)]
pub(super) struct RecordDoc<'a> {
    coordinate: &'a str,
    vault: &'a str,
    env: &'a str,
    sensitivity: &'static str,
    revealable: bool,
    production: bool,
    description: &'a str,
    version: u64,
    created: u64,
    updated: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    totp: Option<TotpDoc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    provider: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    provider_host: Option<&'a str>,
    /// `secret`, `totp`, `ssh-key` or `postgres` (beside a reply's own `kind` tag).
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    ssh_key: Option<&'a kovra_core::sshkey::SshKeyInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    database: Option<&'a kovra_core::dbconn::DbConnInfo>,
}

/// A [`RecordDoc`] from anything with a record view's fields ([`RecordView`], [`RecordIn`]).
macro_rules! record_doc {
    ($r:expr) => {{
        let r = $r;
        RecordDoc {
            coordinate: &r.coordinate,
            vault: &r.vault,
            env: &r.env,
            sensitivity: r.sensitivity.as_str(),
            revealable: r.revealable,
            production: r.production,
            description: &r.description,
            version: r.version,
            created: r.created,
            updated: r.updated,
            totp: r.totp.map(|t| TotpDoc {
                algorithm: t.algorithm.as_str(),
                digits: t.digits,
                period: t.period,
            }),
            provider: r.provider.as_deref(),
            provider_host: r.provider_host.as_deref(),
            kind: r.kind.as_str(),
            ssh_key: r.ssh_key.as_ref().map(Borrow::borrow),
            database: r.database.as_ref().map(Borrow::borrow),
        }
    }};
}

impl<'a> From<&'a RecordView> for RecordDoc<'a> {
    fn from(r: &'a RecordView) -> Self {
        record_doc!(r)
    }
}

/// A record view as a streamed page carries it, read borrowing its strings from the page's
/// bytes (a string with an escape is copied). Read only to build a [`RecordDoc`]; the same
/// fields as [`RecordView`], and a test holds the two documents equal.
#[derive(Deserialize)]
pub(super) struct RecordIn<'a> {
    #[serde(borrow)]
    coordinate: Cow<'a, str>,
    #[serde(borrow)]
    vault: Cow<'a, str>,
    #[serde(borrow)]
    env: Cow<'a, str>,
    sensitivity: kovra_core::model::Sensitivity,
    revealable: bool,
    production: bool,
    #[serde(borrow)]
    description: Cow<'a, str>,
    version: u64,
    created: u64,
    updated: u64,
    #[serde(default)]
    totp: Option<kovra_core::totp::TotpParams>,
    #[serde(default, borrow)]
    provider: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    provider_host: Option<Cow<'a, str>>,
    #[serde(default, rename = "type")]
    kind: kovra_core::model::RecordKind,
    // Boxed: most records have neither, and an item of 400 bytes was moved twice per record
    // with `memcpy` (a tenth of the musl front's `list --json`).
    #[serde(default)]
    ssh_key: Option<Box<kovra_core::sshkey::SshKeyInfo>>,
    #[serde(default)]
    database: Option<Box<kovra_core::dbconn::DbConnInfo>>,
}

impl<'a> From<&'a RecordIn<'a>> for RecordDoc<'a> {
    fn from(r: &'a RecordIn<'a>) -> Self {
        record_doc!(r)
    }
}

#[derive(Serialize)]
pub(super) struct ListingDoc<'a> {
    records: Vec<RecordDoc<'a>>,
    tampered: usize,
    missing: usize,
}

impl<'a> From<&'a Listing> for ListingDoc<'a> {
    fn from(l: &'a Listing) -> Self {
        ListingDoc {
            records: l.records.iter().map(RecordDoc::from).collect(),
            tampered: l.tampered,
            missing: l.missing,
        }
    }
}

#[derive(Serialize)]
pub(super) struct AuditEntryDoc<'a> {
    seq: u64,
    time: u64,
    action: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    coordinate: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    vault: Option<&'a str>,
    surface: &'a str,
    origin: &'a str,
    decision: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exe: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'a str>,
    /// The agent profile whose socket the request came through.
    #[serde(skip_serializing_if = "Option::is_none")]
    agent: Option<&'a str>,
}

impl<'a> From<&'a AuditEntry> for AuditEntryDoc<'a> {
    fn from(e: &'a AuditEntry) -> Self {
        AuditEntryDoc {
            seq: e.seq,
            time: e.time,
            action: &e.action,
            coordinate: e.coordinate.as_deref(),
            vault: e.vault.as_deref(),
            surface: &e.surface,
            origin: &e.origin,
            decision: &e.decision,
            reason: e.reason.as_deref(),
            pid: e.pid,
            exe: e.exe.as_deref(),
            detail: e.detail.as_deref(),
            agent: e.agent.as_deref(),
        }
    }
}

#[derive(Serialize)]
pub(super) struct AuditReportDoc {
    entries: u64,
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    problem: Option<ChainBreakDoc>,
}

impl From<&AuditReport> for AuditReportDoc {
    fn from(r: &AuditReport) -> Self {
        AuditReportDoc {
            entries: r.entries,
            ok: r.ok,
            problem: r.problem.as_ref().map(ChainBreakDoc::from),
        }
    }
}

/// Where the audit chain breaks; `problem` names the kind.
#[derive(Serialize)]
#[serde(tag = "problem", rename_all = "kebab-case")]
pub(super) enum ChainBreakDoc {
    Gap { expected: u64, found: u64 },
    BadLink { seq: u64 },
    Unreadable { seq: u64 },
    Truncated { expected_last: u64, found_last: u64 },
    HeadMismatch,
}

impl From<&ChainBreak> for ChainBreakDoc {
    fn from(b: &ChainBreak) -> Self {
        match *b {
            ChainBreak::Gap { expected, found } => ChainBreakDoc::Gap { expected, found },
            ChainBreak::BadLink { seq } => ChainBreakDoc::BadLink { seq },
            ChainBreak::Unreadable { seq } => ChainBreakDoc::Unreadable { seq },
            ChainBreak::Truncated {
                expected_last,
                found_last,
            } => ChainBreakDoc::Truncated {
                expected_last,
                found_last,
            },
            ChainBreak::HeadMismatch => ChainBreakDoc::HeadMismatch,
        }
    }
}

#[derive(Serialize)]
pub(super) struct AllowDoc<'a> {
    path: &'a str,
    sha256: &'a str,
    added: u64,
}

impl<'a> From<&'a AllowEntry> for AllowDoc<'a> {
    fn from(e: &'a AllowEntry) -> Self {
        AllowDoc {
            path: &e.path,
            sha256: &e.sha256,
            added: e.added,
        }
    }
}

/// A brokered response, as `kovra api --json` prints it.
#[derive(Serialize)]
pub(super) struct ApiDoc<'a> {
    status: u16,
    host: &'a str,
    coordinate: &'a str,
    headers: &'a [(String, String)],
    body: Option<&'a str>,
    body_base64: Option<&'a str>,
    removed_headers: &'a [String],
    duration_ms: u64,
}

impl<'a> From<&'a ApiReply> for ApiDoc<'a> {
    fn from(r: &'a ApiReply) -> Self {
        ApiDoc {
            status: r.status,
            host: &r.host,
            coordinate: &r.coordinate,
            headers: &r.headers,
            body: r.body.as_deref(),
            body_base64: r.body_base64.as_deref(),
            removed_headers: &r.removed_headers,
            duration_ms: r.duration_ms,
        }
    }
}

#[derive(Serialize)]
pub(super) struct SecretRequestDoc<'a> {
    coordinate: &'a str,
    vault: &'a str,
    description: &'a str,
    requested: u64,
    by: &'a str,
}

impl<'a> From<&'a SecretRequestView> for SecretRequestDoc<'a> {
    fn from(r: &'a SecretRequestView) -> Self {
        SecretRequestDoc {
            coordinate: &r.coordinate,
            vault: &r.vault,
            description: &r.description,
            requested: r.requested,
            by: &r.by,
        }
    }
}

#[derive(Serialize)]
pub(super) struct ApprovalDoc<'a> {
    id: &'a str,
    action: &'a str,
    surface: &'a str,
    origin: &'a str,
    created: u64,
    expires_in: u64,
    facts: Vec<FactDoc<'a>>,
}

impl<'a> From<&'a ApprovalView> for ApprovalDoc<'a> {
    fn from(v: &'a ApprovalView) -> Self {
        ApprovalDoc {
            id: &v.id,
            action: &v.action,
            surface: &v.surface,
            origin: &v.origin,
            created: v.created,
            expires_in: v.expires_in,
            facts: v.facts.iter().map(FactDoc::from).collect(),
        }
    }
}

#[derive(Serialize)]
pub(super) struct FactDoc<'a> {
    name: &'a str,
    value: &'a str,
    untrusted: bool,
}

impl<'a> From<&'a Fact> for FactDoc<'a> {
    fn from(f: &'a Fact) -> Self {
        FactDoc {
            name: &f.name,
            value: &f.value,
            untrusted: f.untrusted,
        }
    }
}

#[derive(Serialize)]
pub(super) struct FindingDoc<'a> {
    level: &'a str,
    kind: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<usize>,
}

impl<'a> From<&'a Finding> for FindingDoc<'a> {
    fn from(f: &'a Finding) -> Self {
        FindingDoc {
            level: &f.level,
            kind: &f.kind,
            message: &f.message,
            line: f.line,
        }
    }
}
