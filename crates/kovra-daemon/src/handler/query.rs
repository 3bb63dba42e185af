//! Brokered queries' side of the gate (`kovra query`, the MCP `query` tool): the core's
//! `decide` on the connection record (operation `query`, or `query-write` when the caller
//! asks to write), the connection opened only with its decision's token, and the plan the
//! connection thread carries out outside the state lock (`crate::queryexec`).

use std::time::Duration;

use kovra_core::model::Operation;
use kovra_proto::{ErrorCode, Fact, QueryRequest};

use super::{Gate, Op};
use crate::error::{GateError, parse_coord};
use crate::queryexec::QueryPlan;

/// Hard limits a request cannot pass.
pub const MAX_ROWS: u64 = 10_000;
pub const MAX_TIMEOUT_SECS: u64 = 300;
const MAX_SQL: usize = 64 * 1024;
const MAX_PARAMS: usize = 256;

fn invalid(message: String) -> GateError {
    GateError::new(ErrorCode::SqlInvalid, message)
}

impl Gate<'_> {
    pub(super) fn prepare_query(&mut self, req: &QueryRequest) -> Result<QueryPlan, GateError> {
        if req.sql.trim().is_empty() {
            return Err(invalid("the statement is empty".into()));
        }
        if req.sql.len() > MAX_SQL {
            return Err(invalid(format!(
                "the statement is longer than {MAX_SQL} bytes"
            )));
        }
        if req.params.len() > MAX_PARAMS {
            return Err(invalid(format!("more than {MAX_PARAMS} parameters")));
        }
        let max_rows = match req.max_rows {
            None => 1000,
            Some(n) if (1..=MAX_ROWS).contains(&n) => n,
            Some(n) => {
                return Err(invalid(format!(
                    "--max-rows must be 1 to {MAX_ROWS}, not {n}"
                )));
            }
        };
        let timeout = match req.timeout_secs {
            None => 30,
            Some(s) if (1..=MAX_TIMEOUT_SECS).contains(&s) => s,
            Some(s) => {
                return Err(GateError::new(
                    ErrorCode::TimeoutInvalid,
                    format!("the timeout must be 1 to {MAX_TIMEOUT_SECS} seconds, not {s}"),
                ));
            }
        };
        let coord = parse_coord(&req.coordinate)?;
        let operation = if req.write {
            Operation::QueryWrite
        } else {
            Operation::Query
        };
        // What a person approving it reads: the statement is the requester's own text.
        self.facts.push(Fact {
            name: "statement".into(),
            value: req.sql.clone(),
            untrusted: true,
        });
        if req.write {
            self.facts.push(Fact {
                name: "mode".into(),
                value: "may write (not read-only)".into(),
                untrusted: false,
            });
        }
        let mut located = self.locate(&coord, &[Op::plain(operation)], false)?;
        let allowed = self.admit("query", &coord, &mut located, operation)?;
        let Some(vault) = located.vault else {
            return Err(GateError::not_found(&coord));
        };
        let redactor = self.scrubber()?;
        let (_, url) = self.open(&allowed, None)?;
        let fingerprint = kovra_pgquery::fingerprint(&req.sql);
        let mut entry = self.allowed("query", &coord, &vault);
        entry.detail = Some(format!(
            "statement {fingerprint} {} params {}",
            if req.write { "read-write" } else { "read-only" },
            req.params.len()
        ));
        self.store.audit(entry)?;
        let mut result = self
            .info
            .entry("query-result", Some(&coord), Some(&vault), "allow");
        result.detail = Some(format!("statement {fingerprint}"));
        Ok(QueryPlan {
            coordinate: coord.unpinned().to_string(),
            url,
            sql: req.sql.clone(),
            params: req.params.clone(),
            write: req.write,
            max_rows: usize::try_from(max_rows).unwrap_or(1000),
            timeout: Duration::from_secs(timeout),
            redactor,
            audit: result,
        })
    }
}
