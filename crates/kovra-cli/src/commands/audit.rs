//! `kovra audit [verify]`: the trail of decisions (never a value), and its HMAC chain.

use kovra_proto::ErrorCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kovra_proto::Request;

use super::coord;
use crate::cli::{AuditArgs, AuditCommand};
use crate::error::CliError;
use crate::render::Renderer;
use crate::session::Session;

pub fn run(s: &mut Session, args: AuditArgs, out: &Renderer) -> Result<(), CliError> {
    let out = &out.wide(args.wide);
    match args.command {
        Some(AuditCommand::Verify) => out.reply(&s.call(Request::AuditVerify)?),
        None => {
            let since = args.since.as_deref().map(parse_since).transpose()?;
            let coordinate = args.coordinate.as_deref().map(coord).transpose()?;
            let head = s.call(Request::AuditStream {
                coordinate,
                since,
                action: args.action,
                limit: args.limit,
            })?;
            let kovra_proto::Reply::AuditStream { total } = head else {
                return out.reply(&head);
            };
            let conn = s.connection()?;
            let mut next = |buf: &mut _| Ok(conn.receive_raw_page(buf)?);
            out.audit_stream(total, &mut next)
        }
    }
}

/// `--since`: an RFC 3339 time, or a duration back from now.
fn parse_since(text: &str) -> Result<u64, CliError> {
    if let Ok(t) = humantime::parse_rfc3339_weak(text) {
        return Ok(t
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0));
    }
    let d: Duration = humantime::parse_duration(text).map_err(|_| {
        CliError::new(
            ErrorCode::SinceInvalid,
            format!("cannot read `{text}` as a time or a duration"),
            Some("use an RFC 3339 time (2026-11-23T10:00:00Z) or a duration (90m, 2h, 3days)"),
        )
    })?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    Ok(now.saturating_sub(d.as_secs()))
}
