//! `kovra doctor`: the daemon checks a refs file against the vault and the caller's
//! environment (`doctor --system` is `system_check.rs`).

use std::path::PathBuf;

use kovra_proto::{Finding, QueryRequest, Reply, Request};

use super::run::read_refs;
use crate::error::CliError;
use crate::render::Renderer;
use crate::session::Session;

pub fn run(
    s: &mut Session,
    env_name: Option<String>,
    refs: Option<PathBuf>,
    connect: bool,
    out: &Renderer,
) -> Result<(), CliError> {
    let (text, path) = read_refs(refs)?;
    // Only the names: whether a refs variable would shadow one the caller already has.
    let caller_vars = std::env::vars_os()
        .filter_map(|(k, _)| k.into_string().ok())
        .collect();
    let env_name = super::run::env_name(env_name, Some(&text));
    let mut reply = s.call(Request::Doctor {
        refs: text,
        refs_path: path,
        env_name,
        caller_vars,
    })?;
    if connect {
        try_connections(s, &mut reply);
    }
    out.reply(&reply)
}

/// One `select 1` per connection the refs file names through the proxy, through the daemon's
/// own `query` (the same decision, audit and TLS checks); each outcome is a finding.
fn try_connections(s: &mut Session, reply: &mut Reply) {
    let Reply::Doctor {
        findings,
        errors,
        warnings: _,
    } = reply
    else {
        return;
    };
    let mut coordinates: Vec<(String, Option<usize>)> = Vec::new();
    for f in findings.iter().filter(|f| f.kind == "database-proxy") {
        if let Some(c) = &f.coordinate
            && !coordinates.iter().any(|(seen, _)| seen == c)
        {
            coordinates.push((c.clone(), f.line));
        }
    }
    for (coordinate, line) in coordinates {
        let asked = s.call(Request::Query(Box::new(QueryRequest {
            coordinate: coordinate.clone(),
            sql: "select 1".into(),
            params: Vec::new(),
            write: false,
            max_rows: Some(1),
            timeout_secs: Some(10),
            proof: None,
        })));
        let (level, kind, message) = match asked {
            Ok(Reply::Query(r)) => (
                "info",
                "connection-ok",
                format!(
                    "{coordinate}: connected; `select 1` answered in {} ms",
                    r.duration_ms
                ),
            ),
            Ok(_) => (
                "error",
                "connection-failed",
                format!("{coordinate}: no answer"),
            ),
            Err(e) => (
                "error",
                "connection-failed",
                format!("{coordinate}: {} ({})", e.message, e.code.as_str()),
            ),
        };
        if level == "error" {
            *errors += 1;
        }
        findings.push(Finding {
            level: level.into(),
            kind: kind.into(),
            message,
            line,
            coordinate: Some(coordinate),
        });
    }
}
