//! The human printer's brokered side: a brokered response, and the provider registry
//! (`kovra providers`). Split from `human.rs`.

use std::io::IsTerminal;

use base64::Engine as _;
use kovra_proto::{ApiReply, ErrorCode};

use super::width::fit;
use super::write_stdout;
use crate::error::CliError;

/// A brokered response: the body (with `include`, the status line and headers first), then a
/// note on stderr for an error status or a redirect not followed.
pub(super) fn api(r: &ApiReply, include: bool) -> Result<(), CliError> {
    let mut text = Vec::new();
    if include {
        text.extend_from_slice(format!("HTTP {}\n", r.status).as_bytes());
        for (k, v) in &r.headers {
            text.extend_from_slice(format!("{k}: {v}\n").as_bytes());
        }
        text.push(b'\n');
    }
    match (&r.body, &r.body_base64) {
        (Some(b), _) => text.extend_from_slice(b.as_bytes()),
        (None, Some(b)) => text.extend(
            base64::engine::general_purpose::STANDARD
                .decode(b)
                .unwrap_or_default(),
        ),
        (None, None) => {}
    }
    if std::io::stdout().is_terminal() {
        // An upstream's bytes must not drive the user's terminal (escape sequences).
        text = escape_controls(&text);
        if !text.ends_with(b"\n") && !text.is_empty() {
            text.push(b'\n');
        }
    }
    write_stdout(&text, true, ErrorCode::OutputFailed)?;
    if r.status >= 400 {
        eprintln!("kovra: HTTP {} from {}", r.status, r.host);
    } else if (300..400).contains(&r.status) {
        let location = r
            .headers
            .iter()
            .find(|(k, _)| k == "location")
            .map_or("(none)", |(_, v)| v.as_str());
        eprintln!(
            "kovra: HTTP {} from {}: redirect to {location} not followed",
            r.status, r.host
        );
    }
    Ok(())
}

/// Show control bytes other than newline and tab as `\xNN`.
fn escape_controls(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    for &b in bytes {
        if (b < 0x20 && b != b'\n' && b != b'\t') || b == 0x7f {
            out.extend_from_slice(format!("\\x{b:02x}").as_bytes());
        } else {
            out.push(b);
        }
    }
    out
}

pub(super) fn providers(
    providers: &[serde_json::Value],
    width: Option<usize>,
) -> Result<(), CliError> {
    let mut lines = vec![format!(
        "{:<20} {:<8} {:<8} {}",
        "PROVIDER", "AUTH", "ORIGIN", "HOSTS"
    )];
    for p in providers {
        lines.push(format!(
            "{:<20} {:<8} {:<8} {}",
            p["name"].as_str().unwrap_or(""),
            p["auth"]["kind"].as_str().unwrap_or(""),
            p["origin"].as_str().unwrap_or(""),
            list(&p["hosts"]),
        ));
    }
    // Hosts come last; `kovra providers show NAME` lists them all.
    let lines: Vec<String> = lines.iter().map(|l| fit(l, width)).collect();
    print_lines(&lines)
}

pub(super) fn provider(p: &serde_json::Value) -> Result<(), CliError> {
    let mut lines = vec![
        format!(
            "provider:   {} ({})",
            p["name"].as_str().unwrap_or(""),
            p["title"].as_str().unwrap_or("")
        ),
        format!("origin:     {}", p["origin"].as_str().unwrap_or("")),
        format!("host:       {}", p["host"].as_str().unwrap_or("")),
        format!("hosts:      {}", list(&p["hosts"])),
        format!("auth:       {}", auth(&p["auth"])),
        format!("claims:     {}", list(&p["secrets"])),
        format!(
            "rate limit: {} per {} s",
            p["rate_limit"]["requests"], p["rate_limit"]["per_seconds"]
        ),
    ];
    if let Some(d) = p["docs"].as_str() {
        lines.push(format!("docs:       {d}"));
    }
    lines.push("capabilities:".into());
    for c in p["capabilities"].as_array().into_iter().flatten() {
        lines.push(format!(
            "  {:<24} {}",
            list(&c["methods"]),
            list(&c["paths"])
        ));
    }
    print_lines(&lines)
}

fn list(v: &serde_json::Value) -> String {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// How the credential is attached, without any value (there is none in the registry).
fn auth(a: &serde_json::Value) -> String {
    let kind = a["kind"].as_str().unwrap_or("");
    match kind {
        "bearer" => "bearer (authorization header)".into(),
        "header" => format!("header {}", a["name"].as_str().unwrap_or("")),
        "query" => format!("query parameter {}", a["param"].as_str().unwrap_or("")),
        "basic" => "basic".into(),
        "path" => format!("path prefix {}", a["prefix"].as_str().unwrap_or("")),
        other => other.to_string(),
    }
}

fn print_lines(lines: &[String]) -> Result<(), CliError> {
    for l in lines {
        write_stdout(format!("{l}\n").as_bytes(), false, ErrorCode::OutputFailed)?;
    }
    Ok(())
}
