//! Why a query failed, in words that never hold the URL or its password: nothing here is
//! made from the connection's configuration, only from what the server or the network said.

use std::error::Error as _;

/// Why a [`crate::query`] failed.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// No session: the URL is not usable, the host did not resolve, the TCP connect failed or
    /// timed out, or the server closed the connection during start-up. (A server's refusal
    /// with a SQLSTATE during start-up, such as 3D000 for a database that does not exist, is
    /// [`QueryError::Sql`]; a refused login is [`QueryError::Auth`].)
    #[error("cannot connect: {0}")]
    Connect(String),
    /// The TLS handshake failed (the certificate did not verify, or no TLS on offer), or the
    /// CA could not be used.
    #[error("TLS: {0}")]
    Tls(String),
    /// The server refused the user or the password (SQLSTATE 28P01 or 28000), or wanted a
    /// password the URL does not hold.
    #[error("the server refused the login")]
    Auth,
    /// The statement tried to write in a read-only transaction (SQLSTATE 25006).
    #[error("the statement writes, and the transaction is read-only")]
    ReadOnlyViolation,
    /// The server's `statement_timeout` ended the statement (SQLSTATE 57014), or the server
    /// did not answer within the client's bound.
    #[error("the statement timed out")]
    Timeout,
    /// The server refused the statement. `message` is the server's primary message: it may
    /// quote the SQL (the caller's own), never the URL; a parameter's value it quotes is
    /// replaced by `$N`.
    #[error("{message} (SQLSTATE {code})")]
    Sql { code: String, message: String },
    /// More than one statement in the SQL (SQLSTATE 42601 from the extended protocol).
    #[error("only one statement may run per query")]
    TooManyStatements,
    /// The statement has a different number of `$n` placeholders than parameters given.
    #[error("the statement takes {expected} parameters, {given} were given")]
    Params { expected: usize, given: usize },
    /// Anything else between client and server (the connection dropped mid-query, an
    /// unexpected message).
    #[error("protocol: {0}")]
    Protocol(String),
}

/// A tokio-postgres error met while connecting.
pub(crate) fn connecting(e: &tokio_postgres::Error) -> QueryError {
    if let Some(db) = e.as_db_error() {
        return match db.code().code() {
            "28P01" | "28000" => QueryError::Auth,
            _ => from_db(db, &[]),
        };
    }
    let text = chain(e);
    if text.starts_with("error performing TLS handshake") {
        QueryError::Tls(text)
    } else if text.starts_with("invalid configuration: password missing")
        || text.starts_with("authentication error")
    {
        QueryError::Auth
    } else {
        QueryError::Connect(text)
    }
}

/// A tokio-postgres error met once connected; `params` are scrubbed from the server's message.
pub(crate) fn running(e: &tokio_postgres::Error, params: &[String]) -> QueryError {
    match e.as_db_error() {
        Some(db) => from_db(db, params),
        None => QueryError::Protocol(chain(e)),
    }
}

fn from_db(db: &tokio_postgres::error::DbError, params: &[String]) -> QueryError {
    match db.code().code() {
        "25006" => QueryError::ReadOnlyViolation,
        "57014" => QueryError::Timeout,
        "42601" if db.message().contains("multiple commands") => QueryError::TooManyStatements,
        code => QueryError::Sql {
            code: code.to_string(),
            message: scrub(db.message(), params),
        },
    }
}

/// `message` with each parameter's value (of 3 characters or more: shorter ones would
/// replace ordinary words and digits) replaced by its placeholder. The server quotes a value
/// it cannot parse (`invalid input syntax for type integer: "…"`); a parameter may be
/// something the caller does not want in an error log.
fn scrub(message: &str, params: &[String]) -> String {
    let mut out = message.to_string();
    for (i, p) in params.iter().enumerate() {
        if p.chars().count() >= 3 {
            out = out.replace(p.as_str(), &format!("${}", i + 1));
        }
    }
    out
}

/// The error's text with its causes, `a: b: c`.
fn chain(e: &tokio_postgres::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
