//! `kovra api` and `kovra providers`: gather the request (never a credential, never a host),
//! send it to the daemon's broker, render what comes back.

use kovra_proto::ErrorCode;
use std::io::Read;

use base64::Engine as _;
use kovra_proto::{ApiRequest, Reply, Request};

use crate::cli::{ApiArgs, ProvidersArgs, ProvidersCommand};
use crate::error::CliError;
use crate::render::{Renderer, View};
use crate::session::Session;

/// The largest body the CLI reads before the daemon's own limit applies (`docs/broker.md`).
const MAX_BODY: usize = 512 * 1024;

fn usage(code: ErrorCode, message: String, hint: &str) -> CliError {
    CliError::new(code, message, Some(hint))
}

fn header(text: &str) -> Result<(String, String), CliError> {
    match text.split_once(':') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.trim().to_string())),
        _ => Err(usage(
            ErrorCode::HeaderInvalid,
            "a --header must look like `NAME: VALUE`".into(),
            "for example -H 'accept: application/json'",
        )),
    }
}

fn query(text: &str) -> Result<(String, String), CliError> {
    match text.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(usage(
            ErrorCode::QueryInvalid,
            "a --query must look like `NAME=VALUE`".into(),
            "for example -q per_page=10",
        )),
    }
}

fn too_large(size: usize) -> CliError {
    usage(
        ErrorCode::BodyTooLarge,
        format!("the request body is {size} bytes; the limit is {MAX_BODY}"),
        "send a smaller body",
    )
}

/// The body, and whether it is JSON (so the content type can default to it).
fn body(args: &ApiArgs) -> Result<Option<(Vec<u8>, bool)>, CliError> {
    if let Some(text) = &args.body {
        if serde_json::from_str::<serde_json::Value>(text).is_err() {
            return Err(usage(
                ErrorCode::BodyInvalid,
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
            ErrorCode::BodyInvalid,
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

pub fn api(s: &mut Session, args: ApiArgs, out: &Renderer) -> Result<(), CliError> {
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
    // The default record's environment follows the `${ENV}` rule (`./.env.refs` if any).
    let refs = super::agent::optional_refs(None).ok().and_then(|(t, _)| t);
    let env_name = super::run::env_name(args.env_name, refs.as_deref());
    let reply = s.call(Request::Api(Box::new(ApiRequest {
        provider: args.provider,
        method: args.method,
        path: args.path,
        query,
        headers,
        body_base64: body.map(|(b, _)| base64::engine::general_purpose::STANDARD.encode(b)),
        secret: args.secret,
        env_name,
        timeout_secs: args.timeout,
        proof: None,
    })))?;
    let Reply::Api(r) = reply else {
        return Err(CliError::new(ErrorCode::Internal, "unexpected reply", None));
    };
    out.show(View::Api {
        reply: &r,
        include: args.include,
    })?;
    if r.status >= 400 {
        // The response is the output; the status still decides the exit code.
        return Err(CliError::new(
            ErrorCode::HttpError,
            format!("HTTP {} from {}", r.status, r.host),
            None,
        )
        .already_reported());
    }
    Ok(())
}

pub fn providers(s: &mut Session, args: ProvidersArgs, out: &Renderer) -> Result<(), CliError> {
    match args.command {
        None => {
            let Reply::Providers { providers } = s.call(Request::ProviderList)? else {
                return Err(CliError::new(ErrorCode::Internal, "unexpected reply", None));
            };
            out.show(View::Providers(&providers))
        }
        Some(ProvidersCommand::Show { name }) => {
            let Reply::Providers { providers } = s.call(Request::ProviderShow { name })? else {
                return Err(CliError::new(ErrorCode::Internal, "unexpected reply", None));
            };
            let Some(p) = providers.first() else {
                return Err(CliError::new(ErrorCode::Internal, "empty reply", None));
            };
            out.show(View::Provider(p))
        }
        Some(ProvidersCommand::Add { file }) => {
            let text = std::fs::read_to_string(&file).map_err(|e| {
                usage(
                    ErrorCode::ProviderInvalid,
                    format!("cannot read {}: {e}", file.display()),
                    "give the path of a provider TOML file",
                )
            })?;
            out.reply(&s.call(Request::ProviderAdd {
                toml: text,
                proof: None,
            })?)
        }
        Some(ProvidersCommand::Rm { name }) => {
            out.reply(&s.call(Request::ProviderRemove { name })?)
        }
    }
}
