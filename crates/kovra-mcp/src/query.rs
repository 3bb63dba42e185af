//! The `query` tool's arguments and result: one SQL statement run by the daemon with a
//! connection record, so the model gets rows and never the connection string.

use kovra_proto::{QueryReply, QueryRequest};
use rmcp::schemars;
use serde::{Deserialize, Serialize};

use crate::args::check_coordinate;
use crate::outcome::{Failure, invalid};

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QueryArgs {
    /// The connection record (`list` shows records of type `postgres`), e.g. `secret:dev/app/db`.
    pub coordinate: String,
    /// One SQL statement; use `$1`, `$2`… with `params` for values.
    pub sql: String,
    /// Values for `$1`, `$2`…, bound by the server (never pasted into the SQL).
    #[serde(default)]
    pub params: Vec<String>,
    /// The statement may write. Without it the statement runs READ ONLY; with it, the human
    /// approves first (you get an approval id; call again with the same arguments).
    #[serde(default)]
    pub write: bool,
    /// Rows to return at most (default 1000, at most 10000).
    #[serde(default)]
    pub max_rows: Option<u64>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct QueryOut {
    pub coordinate: String,
    /// Column names and their PostgreSQL types.
    pub columns: Vec<(String, String)>,
    /// Each value in PostgreSQL's text form, null for NULL; scrubbed of vault values.
    pub rows: Vec<Vec<Option<String>>>,
    /// Rows the statement produced (a lower bound when truncated).
    pub row_count: u64,
    /// More rows than returned: narrow the statement or raise max_rows.
    pub truncated: bool,
    pub command_tag: String,
    pub duration_ms: u64,
}

impl From<QueryReply> for QueryOut {
    fn from(r: QueryReply) -> Self {
        QueryOut {
            coordinate: r.coordinate,
            columns: r
                .columns
                .into_iter()
                .map(|c| (c.name, c.type_name))
                .collect(),
            rows: r.rows,
            row_count: r.row_count,
            truncated: r.truncated,
            command_tag: r.command_tag,
            duration_ms: r.duration_ms,
        }
    }
}

impl QueryArgs {
    pub fn into_request(self) -> Result<QueryRequest, Failure> {
        check_coordinate(&self.coordinate)?;
        if self.sql.trim().is_empty() {
            return Err(invalid("sql is empty"));
        }
        if self.sql.len() > 64 * 1024 {
            return Err(invalid("sql is longer than 64 KiB"));
        }
        Ok(QueryRequest {
            coordinate: self.coordinate,
            sql: self.sql,
            params: self.params,
            write: self.write,
            max_rows: self.max_rows,
            timeout_secs: None,
            proof: None,
        })
    }
}
