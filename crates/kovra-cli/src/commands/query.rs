//! `kovra query`: the daemon runs the statement; the CLI renders the rows as a table, CSV
//! or the `--json` document.

use std::io::Write;

use kovra_proto::{ErrorCode, QueryReply, QueryRequest, Reply, Request};

use crate::cli_query::QueryArgs;
use crate::error::CliError;
use crate::render::Renderer;
use crate::session::Session;

pub fn query(s: &mut Session, args: QueryArgs, out: &Renderer) -> Result<(), CliError> {
    kovra_core::coord::Coordinate::parse(&args.coordinate)?;
    let reply = s.call(Request::Query(Box::new(QueryRequest {
        coordinate: args.coordinate,
        sql: args.sql.join(" "),
        params: args.params,
        write: args.write,
        max_rows: args.max_rows,
        timeout_secs: args.timeout,
        proof: None,
    })))?;
    let Reply::Query(r) = &reply else {
        return Err(CliError::new(ErrorCode::Internal, "unexpected reply", None));
    };
    if out.is_json() {
        return out.reply(&reply);
    }
    let text = if args.csv { csv(r) } else { table(r) };
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
    if r.truncated {
        eprintln!(
            "kovra: truncated: {} rows shown; the statement produced more (raise --max-rows, or narrow it)",
            r.rows.len()
        );
    } else if !args.csv {
        eprintln!("kovra: {} ({} ms)", r.command_tag, r.duration_ms);
    }
    Ok(())
}

fn cell(v: &Option<String>) -> String {
    // Control characters would redraw the terminal: shown escaped.
    v.as_deref().map_or_else(
        || "NULL".to_string(),
        |s| s.chars().flat_map(char::escape_debug).collect::<String>(),
    )
}

fn table(r: &QueryReply) -> String {
    let head: Vec<String> = r.columns.iter().map(|c| c.name.clone()).collect();
    let rows: Vec<Vec<String>> = r
        .rows
        .iter()
        .map(|row| row.iter().map(cell).collect())
        .collect();
    let mut widths: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (i, v) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(v.chars().count());
            }
        }
    }
    let line = |cells: &[String]| {
        let mut s = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ");
        s.truncate(s.trim_end().len());
        s.push('\n');
        s
    };
    let mut out = line(&head);
    out.push_str(&line(
        &widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>(),
    ));
    for row in &rows {
        out.push_str(&line(row));
    }
    out
}

/// RFC 4180: a field with a comma, quote or line break is quoted, quotes doubled; NULL is
/// an empty field.
fn csv(r: &QueryReply) -> String {
    let field = |s: &str| {
        if s.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    };
    let mut out = r
        .columns
        .iter()
        .map(|c| field(&c.name))
        .collect::<Vec<_>>()
        .join(",");
    out.push_str("\r\n");
    for row in &r.rows {
        let line = row
            .iter()
            .map(|v| v.as_deref().map(field).unwrap_or_default())
            .collect::<Vec<_>>()
            .join(",");
        out.push_str(&line);
        out.push_str("\r\n");
    }
    out
}
