//! The kovra daemon's brokered PostgreSQL queries (`kovra query COORD -- 'SQL'`, the MCP
//! `query` tool): connect with a connection record's URL, run one statement, hand back its
//! rows as text. The agent sends SQL and gets rows; the URL and its password stay in the
//! daemon.
//!
//! How one [`query`] runs, and why:
//! - a fresh connection per call (TLS as the URL's `sslmode` says: see `target.rs`), closed
//!   when the call returns, so no session state carries from one agent call to the next;
//! - `BEGIN` (`READ ONLY` for [`Mode::ReadOnly`]), then `SET LOCAL statement_timeout` and
//!   `SET LOCAL idle_in_transaction_session_timeout`, so the server ends a runaway statement
//!   or an abandoned transaction by itself;
//! - the caller's SQL through the extended protocol only (Parse/Bind/Execute): the server
//!   refuses more than one statement there (SQLSTATE 42601, [`QueryError::TooManyStatements`]).
//!   Through the simple-query protocol `COMMIT; BEGIN READ WRITE; …` would escape the
//!   read-only transaction (CRATES.md §13.9, pitfall 9);
//! - parameters bound as text (`$1`, `$2`, …): the server parses them as the types it
//!   inferred, and they are data, never SQL;
//! - rows fetched from a portal in batches, and no further once [`Limits::max_rows`] or
//!   [`Limits::max_bytes`] is passed, so a huge result costs bounded memory and time;
//! - `ROLLBACK` for [`Mode::ReadOnly`], `COMMIT` for [`Mode::ReadWrite`].
//!
//! READ ONLY is a guard against mistakes, not the boundary: functions with side effects
//! (`dblink`, `pg_terminate_backend`, …) still run. The boundary is the role in the URL:
//! give read-only records a role with only SELECT grants.
//!
//! Statements that cannot run inside a transaction block (`VACUUM`, `CREATE DATABASE`,
//! `CREATE INDEX CONCURRENTLY`) fail with their SQLSTATE (25001).
//!
//! What this crate does *not* do: decide whether a statement may run, or in which mode.
//! That is policy, decided by `kovra_core::decide` in the daemon before it calls [`query`].
//!
//! The API is blocking because the daemon serves requests on plain threads; each call runs
//! its own current-thread tokio runtime and leaves nothing running when it returns. Called
//! from inside a tokio runtime it refuses (an error, not tokio's panic): use `spawn_blocking`.

mod errors;
mod fingerprint;
mod render;
mod run;
mod target;

use std::time::Duration;

use zeroize::Zeroizing;

pub use errors::QueryError;
pub use fingerprint::{fingerprint, normalize};
pub use target::{Binding, Endpoint, endpoint};

/// Where to connect: a connection record's sealed parts, opened by the daemon for one call.
/// No `Debug`: the URL holds the password.
pub struct Target<'a> {
    /// A libpq URL: `postgresql://USER:PASSWORD@HOST:PORT/DB?sslmode=…&sslrootcert=…`.
    /// Query parameters understood: `sslmode`, `sslrootcert` (a file, or `system`),
    /// `channel_binding`, `application_name`, `user`, `password`, `dbname`, `host`, `port`,
    /// `connect_timeout` (ignored: [`Limits::connect_timeout`] decides). Any other is refused.
    pub url: &'a Zeroizing<String>,
    /// The CA (PEM) that signed the server's certificate, when the record holds it; it is
    /// used instead of the URL's `sslrootcert`.
    pub ca_pem: Option<&'a [u8]>,
}

/// Bounds on one [`query`], so a slow server or a huge result cannot hold a daemon thread or
/// its memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// From the TCP connect until the session is ready (TLS and authentication included).
    pub connect_timeout: Duration,
    /// The server's `statement_timeout` for the statement (and each batch of rows fetched).
    /// The whole query phase is also bounded on the client at this plus [`CLIENT_GRACE`]:
    /// past that the statement is cancelled and, should it survive the cancel (a function
    /// can catch it), its backend is ended with `pg_terminate_backend` from a second session
    /// of the same role. In [`Mode::ReadWrite`] a timeout that strikes during `COMMIT`
    /// leaves unknown whether the commit happened.
    pub statement_timeout: Duration,
    /// Rows handed back; past it [`QueryResult::truncated`] is set and no more are fetched.
    pub max_rows: usize,
    /// Bytes of the rows' text handed back (the values' UTF-8, NULLs counting nothing); the
    /// same. Each row is read whole before it is measured, so one row larger than this
    /// (PostgreSQL allows values up to 1 GB) is still held in memory while it is dropped.
    pub max_bytes: usize,
}

/// How long past [`Limits::statement_timeout`] the client waits before it gives up on the
/// server (cancels the statement and drops the connection).
pub const CLIENT_GRACE: Duration = Duration::from_secs(2);

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            connect_timeout: Duration::from_secs(10),
            statement_timeout: Duration::from_secs(30),
            max_rows: 1000,
            max_bytes: 1 << 20,
        }
    }
}

/// In which kind of transaction the statement runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `BEGIN READ ONLY` … `ROLLBACK`.
    ReadOnly,
    /// `BEGIN` … `COMMIT`.
    ReadWrite,
}

/// A result column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    /// PostgreSQL's name for its type (`int4`, `text`, `timestamptz`, `_int4` for `int4[]`…).
    pub type_name: String,
}

/// What a statement produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryResult {
    pub columns: Vec<Column>,
    /// Each value as text (`None` for NULL); see `render.rs` for the forms. A type this crate
    /// cannot render shows as `<type name>`.
    pub rows: Vec<Vec<Option<String>>>,
    /// Rows the statement produced (for INSERT/UPDATE/DELETE/MERGE, rows it touched). When
    /// [`QueryResult::truncated`] is set it is a *lower bound*: the rows read before fetching
    /// stopped (the cap plus at least one), since counting the rest would mean reading them.
    pub row_count: u64,
    /// Rows were left out because of [`Limits::max_rows`] or [`Limits::max_bytes`]. Only
    /// the rows handed back are cut: a writing statement (`UPDATE … RETURNING`) has done all
    /// its writes, and in [`Mode::ReadWrite`] they are committed.
    pub truncated: bool,
    /// The statement's command tag as `psql` prints it (`SELECT 3`, `INSERT 0 1`, `UPDATE 2`),
    /// made from the statement's first keyword and the count the server reported:
    /// tokio-postgres hands over the count, not the tag's text.
    pub command_tag: String,
    /// The whole call, from the TCP connect to the end of the transaction.
    pub elapsed: Duration,
}

/// Run `sql`, one statement with `params` bound as text to `$1`, `$2`…, on `target` in a
/// `mode` transaction within `limits`.
pub fn query(
    target: &Target,
    sql: &str,
    params: &[String],
    mode: Mode,
    limits: &Limits,
) -> Result<QueryResult, QueryError> {
    let connection = target::parse(target, limits.connect_timeout)?;
    runtime()?.block_on(run::query(connection, sql, params, mode, limits))
}

/// A runtime for one call: current-thread, so the call's tasks run on the calling thread
/// only while it waits, and dropping it at the end cancels the connection's task.
fn runtime() -> Result<tokio::runtime::Runtime, QueryError> {
    // tokio panics on a `block_on` inside another runtime's thread; say so instead.
    if tokio::runtime::Handle::try_current().is_ok() {
        return Err(QueryError::Protocol(
            "called from inside an async runtime (use spawn_blocking)".into(),
        ));
    }
    tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| QueryError::Protocol(format!("cannot start the I/O runtime: {e}")))
}
