//! The `--json` contract (`docs/errors.md` §1, the README's command table): one document on
//! stdout. Every document is a serialize-only type of this module (a reply's: `reply.rs`),
//! built from the daemon's reply, so the contract changes only when this module does, never
//! with the wire types. Field order is the contract's (serde_json keeps insertion order
//! here); a reply's document carries its `kind` first. `tests.rs` pins the shapes.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use kovra_proto::Reply;
use serde::{Serialize, Serializer};
use zeroize::Zeroizing;

use super::{
    BROKEN_PIPE, ListingCounts, NextPage, View, integrity, line, out, page::for_each_item, pull,
    stdout_failure,
};
use crate::error::CliError;

mod docs;
mod reply;
mod stream;

use docs::{ApiDoc, AuditEntryDoc, RecordDoc, RecordIn};
use reply::ReplyDoc;

/// Print one document.
fn write<T: Serialize>(doc: &T) -> Result<(), CliError> {
    line(&Zeroizing::new(
        serde_json::to_string_pretty(doc).unwrap_or_default(),
    ))
}

#[derive(Serialize)]
struct ErrorDoc<'a> {
    code: &'a str,
    message: &'a str,
    hint: Option<&'a str>,
}

impl<'a> From<&'a CliError> for ErrorDoc<'a> {
    fn from(e: &'a CliError) -> Self {
        ErrorDoc {
            code: e.code.as_str(),
            message: &e.message,
            hint: e.hint.as_deref(),
        }
    }
}

#[derive(Serialize)]
struct ErrorOnly<'a> {
    error: ErrorDoc<'a>,
}

/// `{"error": {...}}`. Only a closed stdout is reported back: the error is the outcome anyway.
pub(super) fn error(e: &CliError) -> Result<(), CliError> {
    match write(&ErrorOnly { error: e.into() }) {
        Err(w) if w.code == BROKEN_PIPE => Err(w),
        _ => Ok(()),
    }
}

pub(super) fn show(view: &View<'_>) -> Result<(), CliError> {
    match *view {
        View::Reply(reply) => self::reply(reply),
        View::Offline {
            home,
            socket,
            initialized,
        } => write(&OfflineDoc {
            kind: "status",
            daemon: "not-running",
            home: home.display().to_string(),
            socket: socket.display().to_string(),
            initialized,
            unlocked: false,
        }),
        View::Api { reply, .. } => write(&ApiDoc::from(reply)),
        View::Providers(providers) => write(&ProvidersDoc { providers }),
        View::Provider(provider) => write(provider),
        View::Identity {
            recipient,
            signing_key,
            fingerprint,
            created,
        } => write(&IdentityDoc {
            recipient,
            signing_key,
            fingerprint,
            created,
        }),
        View::Sealed {
            file,
            package_id,
            environment,
            records,
            expires,
            recipient,
        } => write(&SealedDoc {
            file: file.display().to_string(),
            package_id,
            environment,
            records,
            expires,
            recipient,
        }),
        View::Received {
            package_id,
            sender,
            environment,
            imported,
            vault,
        } => write(&ReceivedDoc {
            package_id,
            sender,
            environment,
            imported,
            vault,
        }),
        View::SystemChecks(checks) => write(&ChecksDoc { checks }),
        View::Scaffold(proposal) => write(&ScaffoldDoc {
            kind: "scaffold",
            proposal,
        }),
    }
}

/// One document, always: a failure the reply carries is embedded in it as `error`.
fn reply(reply: &Reply) -> Result<(), CliError> {
    let doc = match reply {
        Reply::Revealed { coordinate, value } => {
            return match std::str::from_utf8(value.expose()) {
                Ok(value) => write(&RevealedText { coordinate, value }),
                Err(_) => write(&RevealedBytes {
                    coordinate,
                    value_base64: Base64(value.expose()),
                }),
            };
        }
        Reply::Code {
            coordinate,
            code,
            valid_for,
            ..
        } => {
            let code = Zeroizing::new(String::from_utf8_lossy(code.expose()).into_owned());
            return write(&CodeDoc {
                kind: "code",
                coordinate,
                code: &code,
                valid_for: *valid_for,
            });
        }
        Reply::Shared { package_id, .. } => return Err(super::unprintable_package(package_id)),
        other => ReplyDoc::from(other),
    };
    let failure = integrity(reply);
    match &failure {
        Ok(()) => write(&doc)?,
        Err(e) => write(&WithError {
            reply: doc,
            error: e.into(),
        })?,
    }
    failure.map_err(CliError::already_reported)
}

/// A streamed listing as the `records` document, printed page by page. A failure the head
/// carries (withheld records) is embedded last, as for a one-frame reply.
pub(super) fn records_stream(head: ListingCounts, next: NextPage<'_>) -> Result<(), CliError> {
    let failure = integrity(&Reply::Records(kovra_proto::Listing {
        records: Vec::new(),
        tampered: head.tampered,
        missing: head.missing,
    }));
    // Each page is parsed borrowing its strings from the frame's bytes.
    let page = |s: &mut stream::DocStream<Out>, raw: &[u8]| {
        for_each_item(raw, |r: RecordIn<'_>| {
            s.item(&RecordDoc::from(&r)).map_err(failed)
        })
    };
    streamed("records", "records", head.total, next, page, |tail| {
        tail.field("tampered", &head.tampered)?;
        tail.field("missing", &head.missing)?;
        if let Err(e) = &failure {
            tail.field("error", &ErrorDoc::from(e))?;
        }
        Ok(())
    })?;
    failure.map_err(CliError::already_reported)
}

/// A streamed trail as the `audit` document, printed page by page.
pub(super) fn audit_stream(total: usize, next: NextPage<'_>) -> Result<(), CliError> {
    let page = |s: &mut stream::DocStream<Out>, raw: &[u8]| {
        for_each_item(raw, |e: kovra_core::audit::AuditEntry| {
            s.item(&AuditEntryDoc::from(&e)).map_err(failed)
        })
    };
    streamed("audit", "entries", total, next, page, |_| Ok(()))
}

/// Where a streamed document goes: stdout, in large writes.
type Out = out::Chunked<std::io::StdoutLock<'static>>;

fn failed(e: std::io::Error) -> CliError {
    stdout_failure(e, kovra_proto::ErrorCode::Output)
}

/// Write `{"kind": KIND, "FIELD": [items…], tail…}` as the pages arrive. A failure after the
/// document began (the daemon went away mid-stream) cannot become a second document: it
/// goes to stderr, and the exit code says so.
fn streamed(
    kind: &str,
    field: &str,
    total: usize,
    next: NextPage<'_>,
    mut page: impl FnMut(&mut stream::DocStream<Out>, &[u8]) -> Result<usize, CliError>,
    tail: impl FnOnce(&mut stream::DocTail<Out>) -> std::io::Result<()>,
) -> Result<(), CliError> {
    let out: Out = out::Chunked::new(std::io::stdout().lock());
    let mut items = stream::DocStream::begin(out, kind, field).map_err(failed)?;
    let pulled = pull(total, next, |raw| page(&mut items, raw));
    if let Err(e) = pulled {
        // Dropping the writer flushes what was printed so far.
        drop(items);
        if e.code == BROKEN_PIPE {
            return Err(e);
        }
        eprintln!("kovra: error: {}", e.message);
        return Err(e.already_reported());
    }
    let mut rest = items.end_items().map_err(failed)?;
    tail(&mut rest).map_err(failed)?;
    let mut out = rest.finish().map_err(failed)?;
    std::io::Write::flush(&mut out).map_err(failed)
}

#[derive(Serialize)]
struct WithError<'a> {
    #[serde(flatten)]
    reply: ReplyDoc<'a>,
    error: ErrorDoc<'a>,
}

/// Bytes as standard base64 with padding, as secret fields are on the wire.
struct Base64<'a>(&'a [u8]);

impl Serialize for Base64<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&Zeroizing::new(STANDARD.encode(self.0)))
    }
}

#[derive(Serialize)]
struct RevealedText<'a> {
    coordinate: &'a str,
    value: &'a str,
}

#[derive(Serialize)]
struct RevealedBytes<'a> {
    coordinate: &'a str,
    value_base64: Base64<'a>,
}

#[derive(Serialize)]
struct CodeDoc<'a> {
    kind: &'static str,
    coordinate: &'a str,
    code: &'a str,
    valid_for: u64,
}

#[derive(Serialize)]
struct OfflineDoc {
    kind: &'static str,
    daemon: &'static str,
    home: String,
    socket: String,
    initialized: bool,
    unlocked: bool,
}

#[derive(Serialize)]
struct ProvidersDoc<'a> {
    providers: &'a [serde_json::Value],
}

#[derive(Serialize)]
struct IdentityDoc<'a> {
    recipient: &'a str,
    signing_key: &'a str,
    fingerprint: &'a str,
    created: bool,
}

#[derive(Serialize)]
struct SealedDoc<'a> {
    file: String,
    package_id: &'a str,
    environment: &'a str,
    records: &'a [String],
    expires: u64,
    recipient: &'a str,
}

#[derive(Serialize)]
struct ReceivedDoc<'a> {
    package_id: &'a str,
    sender: &'a str,
    environment: &'a str,
    imported: &'a [String],
    vault: &'a str,
}

/// `kovra scaffold --json`: the proposal's fields after `kind` (`crate::scaffold::Proposal`).
#[derive(Serialize)]
struct ScaffoldDoc<'a> {
    kind: &'static str,
    #[serde(flatten)]
    proposal: &'a crate::scaffold::Proposal,
}

#[derive(Serialize)]
struct ChecksDoc<'a> {
    checks: &'a [crate::commands::system_check::Check],
}

/// The human printer's fallback for replies whose command renders them itself.
pub(super) fn compact(reply: &Reply) -> String {
    serde_json::to_string(&ReplyDoc::from(reply)).unwrap_or_default()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
