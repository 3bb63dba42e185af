//! `kovra api` and `kovra providers`: gather the request (never a credential, never a host),
//! send it to the daemon's broker, render what comes back.

use std::io::{IsTerminal, Read, Write};

use base64::Engine as _;
use kovra_proto::{ApiReply, ApiRequest, Reply, Request};
use serde_json::json;

use crate::cli::{ApiArgs, ProvidersArgs, ProvidersCommand};
use crate::error::CliError;
use crate::output;
use crate::session::Session;

/// The largest body the CLI reads before the daemon's own limit applies (`docs/broker.md`).
const MAX_BODY: usize = 512 * 1024;

fn usage(code: &str, message: String, hint: &str) -> CliError {
    CliError::new(code, message, Some(hint))
}

fn header(text: &str) -> Result<(String, String), CliError> {
    match text.split_once(':') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.trim().to_string())),
        _ => Err(usage(
            "header-invalid",
            "a --header must look like `NAME: VALUE`".into(),
            "for example -H 'accept: application/json'",
        )),
    }
}

fn query(text: &str) -> Result<(String, String), CliError> {
    match text.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(usage(
            "query-invalid",
            "a --query must look like `NAME=VALUE`".into(),
            "for example -q per_page=10",
        )),
    }
}

fn too_large(size: usize) -> CliError {
    usage(
        "body-too-large",
        format!("the request body is {size} bytes; the limit is {MAX_BODY}"),
        "send a smaller body",
    )
}

/// The body, and whether it is JSON (so the content type can default to it).
fn body(args: &ApiArgs) -> Result<Option<(Vec<u8>, bool)>, CliError> {
    if let Some(text) = &args.body {
        if serde_json::from_str::<serde_json::Value>(text).is_err() {
            return Err(usage(
                "body-invalid",
                "--body is not valid JSON".into(),
                "pass JSON, or raw bytes with --body-file",
            ));
        }
        if text.len() > MAX_BODY {
            return Err(too_large(text.len()));
        }
        return Ok(Some((text.as_bytes().to_vec(), true)));
    }
    let Some(path) = &args.body_file else {
        return Ok(None);
    };
    let mut bytes = Vec::new();
    let read = if path.as_os_str() == "-" {
        std::io::stdin()
            .lock()
            .take(MAX_BODY as u64 + 1)
            .read_to_end(&mut bytes)
    } else {
        std::fs::File::open(path).and_then(|f| f.take(MAX_BODY as u64 + 1).read_to_end(&mut bytes))
    };
    read.map_err(|e| {
        usage(
            "body-invalid",
            format!("cannot read {}: {e}", path.display()),
            "check the path",
        )
    })?;
    if bytes.len() > MAX_BODY {
        return Err(too_large(bytes.len()));
    }
    let is_json = serde_json::from_slice::<serde_json::Value>(&bytes).is_ok();
    Ok(Some((bytes, is_json)))
}

pub fn api(s: &mut Session, args: ApiArgs, json: bool) -> Result<(), CliError> {
    let mut headers = args
        .headers
        .iter()
        .map(|h| header(h))
        .collect::<Result<Vec<_>, _>>()?;
    let query = args
        .query
        .iter()
        .map(|q| query(q))
        .collect::<Result<Vec<_>, _>>()?;
    let body = body(&args)?;
    if let Some((_, true)) = &body
        && !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
    {
        headers.push(("content-type".into(), "application/json".into()));
    }
    if let Some(c) = &args.secret {
        kovra_core::coord::Coordinate::parse(c)?;
    }
    let reply = s.call(Request::Api(Box::new(ApiRequest {
        provider: args.provider,
        method: args.method,
        path: args.path,
        query,
        headers,
        body_base64: body.map(|(b, _)| base64::engine::general_purpose::STANDARD.encode(b)),
        secret: args.secret,
        env_name: args.env_name,
        timeout_secs: args.timeout,
        proof: None,
    })))?;
    let Reply::Api(r) = reply else {
        return Err(CliError::new("internal", "unexpected reply", None));
    };
    render(&r, args.include, json)?;
    if r.status >= 400 {
        if !json {
            eprintln!("kovra: HTTP {} from {}", r.status, r.host);
        }
        return Err(CliError::new(
            "http-error",
            format!("HTTP {} from {}", r.status, r.host),
            None,
        )
        .already_reported());
    }
    if (300..400).contains(&r.status) && !json {
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

fn render(r: &ApiReply, include: bool, as_json: bool) -> Result<(), CliError> {
    if as_json {
        return output::json(&json!({
            "status": r.status,
            "host": r.host,
            "coordinate": r.coordinate,
            "headers": r.headers,
            "body": r.body,
            "body_base64": r.body_base64,
            "removed_headers": r.removed_headers,
            "duration_ms": r.duration_ms,
        }));
    }
    let mut out = std::io::stdout().lock();
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
    if out.is_terminal() {
        // An upstream's bytes must not drive the user's terminal (escape sequences).
        text = escape_controls(&text);
        if !text.ends_with(b"\n") && !text.is_empty() {
            text.push(b'\n');
        }
    }
    match out.write_all(&text).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => Err(CliError::new("output-failed", e.to_string(), None)),
    }
}

pub fn providers(s: &mut Session, args: ProvidersArgs, json: bool) -> Result<(), CliError> {
    match args.command {
        None => {
            let Reply::Providers { providers } = s.call(Request::ProviderList)? else {
                return Err(CliError::new("internal", "unexpected reply", None));
            };
            if json {
                return output::json(&json!({ "providers": providers }));
            }
            let mut lines = vec![format!(
                "{:<20} {:<8} {:<8} {}",
                "PROVIDER", "AUTH", "ORIGIN", "HOSTS"
            )];
            for p in &providers {
                lines.push(format!(
                    "{:<20} {:<8} {:<8} {}",
                    p["name"].as_str().unwrap_or(""),
                    p["auth"]["kind"].as_str().unwrap_or(""),
                    p["origin"].as_str().unwrap_or(""),
                    list(&p["hosts"]),
                ));
            }
            print_lines(&lines)
        }
        Some(ProvidersCommand::Show { name }) => {
            let Reply::Providers { providers } = s.call(Request::ProviderShow { name })? else {
                return Err(CliError::new("internal", "unexpected reply", None));
            };
            let Some(p) = providers.first() else {
                return Err(CliError::new("internal", "empty reply", None));
            };
            if json {
                return output::json(p);
            }
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
        Some(ProvidersCommand::Add { file }) => {
            let text = std::fs::read_to_string(&file).map_err(|e| {
                usage(
                    "provider-invalid",
                    format!("cannot read {}: {e}", file.display()),
                    "give the path of a provider TOML file",
                )
            })?;
            output::reply(
                &s.call(Request::ProviderAdd {
                    toml: text,
                    proof: None,
                })?,
                json,
            )
        }
        Some(ProvidersCommand::Rm { name }) => {
            output::reply(&s.call(Request::ProviderRemove { name })?, json)
        }
    }
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
    let mut out = std::io::stdout().lock();
    for l in lines {
        if let Err(e) = writeln!(out, "{l}") {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
            return Err(CliError::new("output-failed", e.to_string(), None));
        }
    }
    Ok(())
}
