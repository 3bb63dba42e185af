//! Printing what a command produced. A command builds a [`View`] and hands it to the
//! [`Renderer`], which picks one of two printers: `human` (text for a person) or `json` (the
//! documented `--json` contract, in its own serialize-only types, so a change to the daemon's
//! wire types cannot silently change it). stdout carries data only; confirmations and warnings
//! go to stderr. With `--json`, stdout holds exactly one JSON document.

mod agents;
mod api;
mod audit;
mod grants;
mod human;
mod json;
mod out;
mod page;
mod table;
mod width;

use kovra_proto::ErrorCode;
use std::io::Write;
use std::path::Path;

use zeroize::Zeroizing;

use kovra_proto::{ApiReply, AuditEntry, Listing, Reply};

/// The head of a streamed listing: how many records follow, and what was withheld.
#[derive(Debug, Clone, Copy)]
pub struct ListingCounts {
    pub total: usize,
    pub tampered: usize,
    pub missing: usize,
}

use crate::commands::system_check::Check;
use crate::error::CliError;

pub use human::{approval, two_factor_setup};

/// What a command has to show. Most commands show a daemon reply as it came; the rest build
/// one of the other shapes from what they did.
pub enum View<'a> {
    Reply(&'a Reply),
    /// `status` when no daemon is running.
    Offline {
        home: &'a Path,
        socket: &'a Path,
        initialized: bool,
    },
    /// A brokered response; `include` prints the status line and headers before the body.
    Api {
        reply: &'a ApiReply,
        include: bool,
    },
    /// `kovra providers`: provider objects in the provider file format.
    Providers(&'a [serde_json::Value]),
    /// `kovra providers show NAME`.
    Provider(&'a serde_json::Value),
    Identity {
        recipient: &'a str,
        signing_key: &'a str,
        fingerprint: &'a str,
        created: bool,
    },
    /// A package written by `share` or `kit seal`.
    Sealed {
        file: &'a Path,
        package_id: &'a str,
        environment: &'a str,
        records: &'a [String],
        expires: u64,
        recipient: &'a str,
    },
    Received {
        package_id: &'a str,
        sender: &'a str,
        environment: &'a str,
        imported: &'a [String],
        vault: &'a str,
    },
    /// `doctor --system`.
    SystemChecks(&'a [Check]),
    /// `scaffold`: the proposed `.env.refs` (names and coordinates, never a value).
    Scaffold(&'a crate::scaffold::Proposal),
}

/// The printer the command line asked for.
#[derive(Debug, Clone, Copy)]
pub struct Renderer {
    json: bool,
    /// Columns a human table may use; `None` with `--wide`.
    width: Option<usize>,
}

impl Renderer {
    pub fn new(json: bool) -> Self {
        Renderer {
            json,
            width: width::columns(false),
        }
    }

    /// The same printer, without truncation when `wide` (a command's `--wide`).
    pub fn wide(self, wide: bool) -> Self {
        Renderer {
            width: width::columns(wide),
            ..self
        }
    }

    /// Print a view. Returns an error where the view itself reports a failure (a withheld
    /// record, a broken audit chain), so the exit code says so.
    pub fn show(&self, view: View<'_>) -> Result<(), CliError> {
        if self.json {
            json::show(&view)
        } else {
            human::show(&view, self.width)
        }
    }

    /// Whether output is the `--json` document (a command with its own human wording
    /// asks before printing it).
    pub fn is_json(&self) -> bool {
        self.json
    }

    pub fn reply(&self, reply: &Reply) -> Result<(), CliError> {
        self.show(View::Reply(reply))
    }

    /// A streamed listing (`records-stream` and its pages). With `--json` each page is
    /// printed as it comes, so a listing of any size takes the memory of one page; the
    /// document is the one a `records` reply prints.
    pub fn records_stream(&self, head: ListingCounts, next: NextPage<'_>) -> Result<(), CliError> {
        if self.json {
            json::records_stream(head, next)
        } else {
            let mut table = table::Table::new();
            pull(head.total, next, |raw| {
                page::for_each_item(raw, |row: table::Row<'_>| {
                    table.push(&row);
                    Ok(())
                })
            })?;
            human::print_table(&table, self.width)?;
            integrity(&Reply::Records(Listing {
                records: Vec::new(),
                tampered: head.tampered,
                missing: head.missing,
            }))
        }
    }

    /// A streamed trail (`audit-stream` and its pages), as [`records_stream`](Self::records_stream).
    pub fn audit_stream(&self, total: usize, next: NextPage<'_>) -> Result<(), CliError> {
        if self.json {
            json::audit_stream(total, next)
        } else {
            let mut trail = audit::Trail::new();
            pull(total, next, |raw| {
                page::for_each_item(raw, |e: AuditEntry| {
                    trail.push(&e);
                    Ok(())
                })
            })?;
            audit::print(&trail, self.width)
        }
    }

    /// Report a failure: on stderr for a person, as the one `--json` document on stdout.
    /// Fails only when stdout is closed (see [`is_broken_pipe`]).
    pub fn error(&self, e: &CliError) -> Result<(), CliError> {
        if e.reported {
            return Ok(());
        }
        if self.json {
            json::error(e)
        } else {
            human::error(e);
            Ok(())
        }
    }
}

/// The code of the error a closed stdout becomes. It is never printed: `main` ends quietly.
const BROKEN_PIPE: ErrorCode = ErrorCode::StdoutClosed;

/// A closed pipe (`kovra list | head`): `main` ends quietly with exit 0, as any Unix filter.
pub fn is_broken_pipe(e: &CliError) -> bool {
    e.code == BROKEN_PIPE
}

/// Write to stdout; `failure` is the code of any error but a closed pipe.
fn write_stdout(bytes: &[u8], flush: bool, failure: ErrorCode) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| if flush { out.flush() } else { Ok(()) })
        .map_err(|e| stdout_failure(e, failure))
}

/// Print through a 64 KiB buffer flushed at the end, so a long table goes out in large
/// writes rather than a write per line.
fn buffered(
    print: impl FnOnce(&mut out::Chunked<std::io::StdoutLock<'static>>) -> std::io::Result<()>,
) -> Result<(), CliError> {
    let mut out = out::Chunked::new(std::io::stdout().lock());
    print(&mut out)
        .and_then(|()| out.flush())
        .map_err(|e| stdout_failure(e, ErrorCode::Output))
}

/// A failed write to stdout: a closed pipe, or `failure`.
fn stdout_failure(e: std::io::Error, failure: ErrorCode) -> CliError {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        CliError::new(BROKEN_PIPE, "stdout was closed", None)
    } else {
        CliError::new(failure, e.to_string(), None)
    }
}

/// Read the next page of a streamed reply into the buffer given, as its frame's JSON
/// (`Client::receive_raw_page`). One buffer serves every page of a stream.
pub type NextPage<'a> = &'a mut dyn FnMut(&mut Zeroizing<Vec<u8>>) -> Result<(), CliError>;

/// Pull pages until `total` items came. `each` parses and handles one page and says how
/// many items it held; a page that brings none, or too many, is an error.
fn pull(
    total: usize,
    next: NextPage<'_>,
    mut each: impl FnMut(&[u8]) -> Result<usize, CliError>,
) -> Result<(), CliError> {
    let mut raw = Zeroizing::new(Vec::new());
    let mut got = 0usize;
    while got < total {
        next(&mut raw)?;
        let n = each(&raw)?;
        if n == 0 || got + n > total {
            return Err(CliError::new(
                ErrorCode::Internal,
                format!(
                    "the daemon's streamed reply held {got} of {total} items, then a page of {n}"
                ),
                Some("use a kovra client of the same version as the daemon"),
            ));
        }
        got += n;
    }
    Ok(())
}

/// Every item of a stream, gathered (a person's table needs all rows for its widths;
/// `scaffold` matches names against every record).
pub(crate) fn gather<T: serde::de::DeserializeOwned>(
    total: usize,
    next: NextPage<'_>,
) -> Result<Vec<T>, CliError> {
    let mut all = Vec::with_capacity(total.min(1 << 20));
    pull(total, next, |raw| {
        page::for_each_item(raw, |item: T| {
            all.push(item);
            Ok(())
        })
    })?;
    Ok(all)
}

/// One line of data on stdout.
pub fn line(s: &str) -> Result<(), CliError> {
    write_stdout(format!("{s}\n").as_bytes(), false, ErrorCode::Output)
}

/// One line of secret material on stdout, written from its own bytes (no formatted copy).
pub fn secret_line(bytes: &[u8]) -> Result<(), CliError> {
    write_stdout(bytes, false, ErrorCode::Output)?;
    write_stdout(b"\n", false, ErrorCode::Output)
}

/// Text on stdout as it is (a diff, a narrative).
pub fn text(s: &str) -> Result<(), CliError> {
    write_stdout(s.as_bytes(), false, ErrorCode::Output)
}

/// The token belongs on the terminal only (`commands/share.rs`); no printer shows a package.
fn unprintable_package(package_id: &str) -> CliError {
    CliError::new(
        ErrorCode::Internal,
        format!("package {package_id} must be rendered by the share command"),
        None,
    )
}

/// Failures a successful reply can carry.
fn integrity(reply: &Reply) -> Result<(), CliError> {
    match reply {
        Reply::Records(l) if l.tampered > 0 || l.missing > 0 => Err(CliError::new(
            ErrorCode::RecordTampered,
            format!(
                "{} record(s) failed authentication and {} record(s) are missing; they were withheld",
                l.tampered, l.missing
            ),
            Some("the vault file was changed outside kovra; restore it from a backup"),
        )),
        Reply::Doctor { errors, .. } if *errors > 0 => Err(CliError::new(
            ErrorCode::DoctorFoundErrors,
            format!("{errors} error(s) in the refs file"),
            Some("fix the lines named above; `kovra list` shows what exists"),
        )),
        Reply::AuditVerified(r) if !r.ok => Err(CliError::new(
            ErrorCode::AuditBroken,
            format!(
                "the audit trail does not verify: {}",
                r.problem
                    .as_ref()
                    .map(|p| p.to_string())
                    .unwrap_or_else(|| "unknown problem".into())
            ),
            Some("the trail was edited outside kovra; keep this vault file for investigation"),
        )),
        _ => Ok(()),
    }
}
