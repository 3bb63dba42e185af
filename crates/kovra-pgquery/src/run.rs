//! One query on one fresh connection: the transaction, the statement, the rows.

use std::cell::Cell;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::time::timeout;
use tokio_postgres::types::{Format, IsNull, ToSql, Type, to_sql_checked};
use tokio_postgres::{Client, NoTls, Row, SimpleQueryMessage, Statement};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::errors::{connecting, running};
use crate::render::{Raw, render};
use crate::target::Connection;
use crate::{Column, Limits, Mode, QueryError, QueryResult};

/// Rows asked of the portal per round trip, at most.
const BATCH: usize = 1000;

pub(crate) async fn query(
    connection: Connection,
    sql: &str,
    params: &[String],
    mode: Mode,
    limits: &Limits,
) -> Result<QueryResult, QueryError> {
    let start = Instant::now();
    let Connection { config, tls } = connection;
    let mut client = timeout(limits.connect_timeout, open(&config, tls.as_ref()))
        .await
        .map_err(|_| QueryError::Connect("timed out".into()))?
        .map_err(|e| connecting(&e))?;
    let cancel = client.cancel_token();
    let backend = Cell::new(None);
    let run = transaction(&mut client, sql, params, mode, limits, &backend);
    futures_util::pin_mut!(run);
    let bound = limits.statement_timeout + crate::CLIENT_GRACE;
    let result = match tokio::time::timeout(bound, &mut run).await {
        Ok(result) => result,
        Err(_) => {
            // The server has not ended the statement by itself (a function can catch the
            // timeout's cancel and carry on). Ask it to cancel, wait briefly, and failing
            // that end the backend from a second session of the same role: dropping the
            // connection alone would leave it running until it next writes to us.
            let _ = match &tls {
                Some(tls) => timeout(LAST_WAIT, cancel.cancel_query(tls.clone())).await,
                None => timeout(LAST_WAIT, cancel.cancel_query(NoTls)).await,
            };
            if timeout(LAST_WAIT, &mut run).await.is_err()
                && let Some(pid) = backend.get()
            {
                let _ = timeout(
                    limits.connect_timeout + LAST_WAIT,
                    terminate(&config, tls.as_ref(), pid),
                )
                .await;
            }
            Err(QueryError::Timeout)
        }
    };
    result.map(|mut r| {
        r.elapsed = start.elapsed();
        r
    })
}

/// How long a cancel or a last wait for the server may take.
const LAST_WAIT: Duration = Duration::from_secs(1);

/// A session, its connection driven by a task on this call's runtime.
async fn open(
    config: &tokio_postgres::Config,
    tls: Option<&MakeRustlsConnect>,
) -> Result<Client, tokio_postgres::Error> {
    Ok(match tls {
        Some(tls) => {
            let (client, conn) = config.connect(tls.clone()).await?;
            tokio::spawn(conn);
            client
        }
        None => {
            let (client, conn) = config.connect(NoTls).await?;
            tokio::spawn(conn);
            client
        }
    })
}

/// `pg_terminate_backend(pid)` from a new session: a role may end its own backends.
async fn terminate(
    config: &tokio_postgres::Config,
    tls: Option<&MakeRustlsConnect>,
    pid: i32,
) -> Result<(), tokio_postgres::Error> {
    open(config, tls)
        .await?
        .execute("select pg_terminate_backend($1)", &[&pid])
        .await
        .map(|_| ())
}

async fn transaction(
    client: &mut Client,
    sql: &str,
    params: &[String],
    mode: Mode,
    limits: &Limits,
    backend: &Cell<Option<i32>>,
) -> Result<QueryResult, QueryError> {
    let err = |e: tokio_postgres::Error| running(&e, params);
    let tx = client
        .build_transaction()
        .read_only(mode == Mode::ReadOnly)
        .start()
        .await
        .map_err(err)?;
    // Milliseconds, at least 1 (0 would mean none), at most what the settings hold (i32).
    let ms = |d: Duration| d.as_millis().clamp(1, i32::MAX as u128);
    let statement_ms = ms(limits.statement_timeout);
    let idle_ms = ms(limits.statement_timeout + crate::CLIENT_GRACE);
    // Our own fixed text with integers: the simple-query protocol is fine for it. The
    // backend's pid is for ending it should it outlive the client's bound;
    // client_connection_check_interval has it notice a client that has gone.
    let answers = tx
        .simple_query(&format!(
            "SET LOCAL statement_timeout = {statement_ms}; \
             SET LOCAL idle_in_transaction_session_timeout = {idle_ms}; \
             SET LOCAL client_connection_check_interval = 1000; \
             SELECT pg_backend_pid()"
        ))
        .await
        .map_err(err)?;
    backend.set(answers.iter().find_map(|m| match m {
        SimpleQueryMessage::Row(row) => row.get(0).and_then(|pid| pid.parse().ok()),
        _ => None,
    }));
    let statement = tx.prepare(sql).await.map_err(err)?;
    if statement.params().len() != params.len() {
        return Err(QueryError::Params {
            expected: statement.params().len(),
            given: params.len(),
        });
    }
    let portal = tx
        .bind_raw(&statement, params.iter().map(|p| TextParam(p.as_str())))
        .await
        .map_err(err)?;
    let mut rows = Vec::new();
    let mut seen: u64 = 0;
    let mut bytes = 0usize;
    let mut truncated = false;
    let affected = loop {
        // The rows still wanted, plus one to learn whether there are more.
        let want = limits.max_rows.saturating_sub(rows.len()).saturating_add(1);
        let batch = i32::try_from(want.min(BATCH)).unwrap_or(1);
        let stream = tx.query_portal_raw(&portal, batch).await.map_err(err)?;
        futures_util::pin_mut!(stream);
        while let Some(row) = stream.next().await {
            let row = row.map_err(err)?;
            seen += 1;
            if truncated || rows.len() >= limits.max_rows {
                truncated = true;
                continue;
            }
            let values = values(&row, &statement);
            let size: usize = values.iter().flatten().map(String::len).sum();
            if bytes + size <= limits.max_bytes {
                bytes += size;
                rows.push(values);
            } else {
                truncated = true;
            }
        }
        // A count comes with CommandComplete; PortalSuspended (more rows wait) brings none.
        if let Some(n) = stream.rows_affected() {
            break Some(n);
        }
        if truncated {
            break None;
        }
    };
    match mode {
        Mode::ReadOnly => tx.rollback().await.map_err(err)?,
        Mode::ReadWrite => tx.commit().await.map_err(err)?,
    }
    // A SELECT's tag counts the rows of its last fetch only; a statement without rows
    // (INSERT, UPDATE…) has its count in the tag of its only Execute.
    let row_count = if statement.columns().is_empty() {
        affected.unwrap_or(0)
    } else {
        seen
    };
    Ok(QueryResult {
        columns: statement
            .columns()
            .iter()
            .map(|c| Column {
                name: c.name().to_string(),
                type_name: c.type_().name().to_string(),
            })
            .collect(),
        rows,
        row_count,
        truncated,
        command_tag: command_tag(sql, row_count),
        elapsed: Duration::ZERO,
    })
}

fn values(row: &Row, statement: &Statement) -> Vec<Option<String>> {
    statement
        .columns()
        .iter()
        .enumerate()
        .map(|(i, c)| match row.try_get::<_, Option<Raw>>(i) {
            Ok(Some(raw)) => Some(render(c.type_(), raw.0)),
            Ok(None) => None,
            Err(_) => Some(format!("<{}>", c.type_().name())),
        })
        .collect()
}

/// `psql`'s tag: the first keyword, with `0` for INSERT's historical oid.
fn command_tag(sql: &str, count: u64) -> String {
    let normalized = crate::normalize(sql);
    let verb = normalized
        .split(|c: char| !c.is_alphanumeric() && c != '_')
        .find(|w| !w.is_empty())
        .unwrap_or("")
        .to_uppercase();
    match verb.as_str() {
        "INSERT" => format!("INSERT 0 {count}"),
        "SELECT" | "UPDATE" | "DELETE" | "MERGE" | "FETCH" | "MOVE" | "COPY" | "VALUES"
        | "TABLE" | "WITH" => {
            let verb = if matches!(verb.as_str(), "VALUES" | "TABLE" | "WITH") {
                "SELECT"
            } else {
                verb.as_str()
            };
            format!("{verb} {count}")
        }
        _ => verb,
    }
}

/// A parameter sent in the text format whatever type the server inferred for it, as `psql`
/// sends them: the server parses it, so `'1; drop table x'` for an `int4` is an error and
/// for a `text` is that text.
#[derive(Debug)]
struct TextParam<'a>(&'a str);

impl ToSql for TextParam<'_> {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.extend_from_slice(self.0.as_bytes());
        Ok(IsNull::No)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    fn encode_format(&self, _: &Type) -> Format {
        Format::Text
    }

    to_sql_checked!();
}
