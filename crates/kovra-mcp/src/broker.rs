//! The `api` and `providers` tools' arguments and results: a brokered call through the
//! daemon, so the credential never enters the model's context.

use kovra_proto::ErrorCode;
use std::collections::BTreeMap;

use base64::Engine as _;
use kovra_proto::{ApiReply, ApiRequest};
use rmcp::schemars;
use serde::{Deserialize, Serialize};

use crate::args::check_coordinate;
use crate::outcome::{Failure, invalid};

/// Largest request body accepted from the model (the broker's own limit).
const MAX_BODY: usize = 512 * 1024;

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiArgs {
    /// A provider name from the `providers` tool, e.g. `github`.
    pub provider: String,
    /// GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS.
    pub method: String,
    /// The API path, e.g. `/user/repos` (the host comes from the registry, never from you).
    pub path: String,
    /// Query parameters.
    #[serde(default)]
    pub query: Option<BTreeMap<String, String>>,
    /// Extra request headers (auth headers are refused: kovra adds the credential).
    #[serde(default)]
    pub headers: Option<BTreeMap<String, String>>,
    /// A JSON request body (sent with `content-type: application/json` unless set).
    #[serde(default)]
    pub body: Option<serde_json::Value>,
    /// The record to use; by default `secret:ENV/PROVIDER/NAME` for a name the provider claims.
    #[serde(default)]
    pub secret: Option<String>,
    /// The environment of the default record (default: the `env =` line of `./.env.refs`,
    /// then KOVRA_ENV, then `dev`).
    #[serde(default)]
    pub env: Option<String>,
    /// Seconds to wait for the upstream (default 30, at most 300).
    #[serde(default)]
    pub timeout_secs: Option<u64>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ApiOut {
    pub status: u16,
    pub host: String,
    /// The record whose credential kovra attached (never its value).
    pub coordinate: String,
    pub headers: Vec<(String, String)>,
    /// The response body (scrubbed of the credential), when it is UTF-8.
    pub body: Option<String>,
    pub body_base64: Option<String>,
    /// Response headers removed because they carry credentials.
    pub removed_headers: Vec<String>,
    pub duration_ms: u64,
}

impl From<ApiReply> for ApiOut {
    fn from(r: ApiReply) -> Self {
        ApiOut {
            status: r.status,
            host: r.host,
            coordinate: r.coordinate,
            headers: r.headers,
            body: r.body,
            body_base64: r.body_base64,
            removed_headers: r.removed_headers,
            duration_ms: r.duration_ms,
        }
    }
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProvidersArgs {
    /// One provider's details; all providers when absent.
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ProvidersOut {
    /// Provider objects: name, title, hosts, auth kind, claimed variable names, capabilities.
    pub providers: Vec<serde_json::Value>,
}

impl ApiArgs {
    /// The daemon request, after the checks that need no daemon.
    pub fn into_request(self) -> Result<ApiRequest, Failure> {
        if let Some(c) = &self.secret {
            check_coordinate(c)?;
        }
        for (what, text, max) in [
            ("provider", &self.provider, 64),
            ("method", &self.method, 16),
            ("path", &self.path, 2048),
        ] {
            if text.len() > max {
                return Err(invalid(format!("{what} is longer than {max} bytes")));
            }
        }
        let mut headers: Vec<(String, String)> =
            self.headers.unwrap_or_default().into_iter().collect();
        let body = match self.body {
            None => None,
            Some(v) => {
                let bytes = serde_json::to_vec(&v)
                    .map_err(|e| invalid(format!("body cannot be encoded: {e}")))?;
                if bytes.len() > MAX_BODY {
                    return Err(Failure::new(
                        ErrorCode::BodyTooLarge,
                        format!("the body is {} bytes; the limit is {MAX_BODY}", bytes.len()),
                    ));
                }
                if !headers
                    .iter()
                    .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
                {
                    headers.push(("content-type".into(), "application/json".into()));
                }
                Some(base64::engine::general_purpose::STANDARD.encode(bytes))
            }
        };
        Ok(ApiRequest {
            provider: self.provider,
            method: self.method,
            path: self.path,
            query: self.query.unwrap_or_default().into_iter().collect(),
            headers,
            body_base64: body,
            secret: self.secret,
            env_name: crate::run::env_name(self.env, crate::run::local_refs().as_deref()),
            timeout_secs: self.timeout_secs,
            proof: None,
        })
    }
}
