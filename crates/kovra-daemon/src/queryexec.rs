//! Carrying out a decided query outside the daemon's state lock: `kovra-pgquery` connects
//! with the record's URL (which leaves the daemon only towards the database), runs the one
//! statement, and the rows are scrubbed of every vault value before they go back. The
//! outcome is audited (row count, truncation, duration; never a row).

use std::sync::Arc;
use std::time::Duration;

use kovra_core::audit::AuditEntry;
use kovra_core::secret::SecretBytes;
use kovra_pgquery::{Limits, Mode, QueryError, Target};
use kovra_proto::{ErrorCode, QueryColumn, QueryReply, Reply, Response};
use kovra_redact::Redactor;
use zeroize::Zeroizing;

use crate::error::GateError;
use crate::handler::Daemon;

/// One decided query. Dropped (and the URL wiped) when it is done.
pub struct QueryPlan {
    pub coordinate: String,
    /// The record's value: the normalized connection URL, password included.
    pub url: SecretBytes,
    pub sql: String,
    pub params: Vec<String>,
    pub write: bool,
    pub max_rows: usize,
    pub timeout: Duration,
    pub redactor: Arc<Redactor>,
    /// The `query-result` entry, completed with the outcome.
    pub audit: AuditEntry,
}

fn from_query(e: &QueryError, coordinate: &str) -> GateError {
    match e {
        QueryError::ReadOnlyViolation => GateError::new(
            ErrorCode::QueryReadOnly,
            format!(
                "{coordinate}: the statement writes, and it ran read-only: nothing was written"
            ),
        ),
        QueryError::Timeout => GateError::new(
            ErrorCode::QueryTimeout,
            format!("{coordinate}: the statement ran past its timeout and was cancelled"),
        ),
        QueryError::Connect(why) => GateError::new(
            ErrorCode::DbUnreachable,
            format!("{coordinate}: cannot reach the database: {why}"),
        ),
        QueryError::Tls(why) => {
            GateError::new(ErrorCode::DbTls, format!("{coordinate}: TLS: {why}"))
        }
        QueryError::Auth => GateError::new(
            ErrorCode::DbAuthRefused,
            format!("{coordinate}: the database refused the stored credentials"),
        ),
        QueryError::TooManyStatements => GateError::new(
            ErrorCode::SqlInvalid,
            "send one statement at a time (no `;` between statements)",
        ),
        QueryError::Params { expected, given } => GateError::new(
            ErrorCode::SqlInvalid,
            format!("the statement has {expected} parameters and {given} were given"),
        ),
        QueryError::Sql { code, message } => GateError::new(
            ErrorCode::QueryFailed,
            format!("{coordinate}: SQLSTATE {code}: {message}"),
        ),
        QueryError::Protocol(why) => {
            GateError::new(ErrorCode::QueryFailed, format!("{coordinate}: {why}"))
        }
    }
}

fn scrub(redactor: &Redactor, text: &str) -> String {
    String::from_utf8_lossy(&redactor.redact_all(text.as_bytes())).into_owned()
}

pub fn execute(daemon: &Daemon, plan: QueryPlan) -> Response {
    let QueryPlan {
        coordinate,
        url,
        sql,
        params,
        write,
        max_rows,
        timeout,
        redactor,
        mut audit,
    } = plan;
    let url_text = match std::str::from_utf8(url.expose()) {
        Ok(text) => Zeroizing::new(text.to_string()),
        Err(_) => {
            return GateError::new(
                ErrorCode::ConnectionInvalid,
                format!("{coordinate} does not hold a connection URL"),
            )
            .into_response();
        }
    };
    drop(url);
    let limits = Limits {
        statement_timeout: timeout,
        max_rows,
        ..Limits::default()
    };
    let mode = if write {
        Mode::ReadWrite
    } else {
        Mode::ReadOnly
    };
    let target = Target {
        url: &url_text,
        ca_pem: None,
    };
    let result = kovra_pgquery::query(&target, &sql, &params, mode, &limits);
    drop(url_text);
    match result {
        Ok(r) => {
            audit.detail = Some(format!(
                "{} rows {}{} in {} ms",
                audit.detail.take().unwrap_or_default(),
                r.row_count,
                if r.truncated { " truncated" } else { "" },
                r.elapsed.as_millis()
            ));
            daemon.audit_outcome(audit);
            let reply = QueryReply {
                coordinate,
                columns: r
                    .columns
                    .iter()
                    .map(|c| QueryColumn {
                        name: scrub(&redactor, &c.name),
                        type_name: c.type_name.clone(),
                    })
                    .collect(),
                rows: r
                    .rows
                    .iter()
                    .map(|row| {
                        row.iter()
                            .map(|v| v.as_deref().map(|v| scrub(&redactor, v)))
                            .collect()
                    })
                    .collect(),
                row_count: r.row_count,
                truncated: r.truncated,
                command_tag: r.command_tag,
                duration_ms: u64::try_from(r.elapsed.as_millis()).unwrap_or(u64::MAX),
            };
            Response::Ok {
                reply: Box::new(Reply::Query(Box::new(reply))),
            }
        }
        Err(e) => {
            let error = from_query(&e, &coordinate);
            audit.decision = "error".into();
            audit.reason = Some(error.code().as_str().to_string());
            daemon.audit_outcome(audit);
            let message = scrub(&redactor, error.message());
            GateError::new(error.code(), message).into_response()
        }
    }
}
