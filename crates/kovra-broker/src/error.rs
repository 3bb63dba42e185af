//! Broker refusals and failures, each with a stable code. Messages name providers, hosts,
//! paths and header names, never a value.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum BrokerError {
    #[error("unknown provider `{0}`")]
    UnknownProvider(String),
    #[error("provider `{name}` is invalid: {why}")]
    ProviderInvalid { name: String, why: String },
    #[error("{0}")]
    PathInvalid(String),
    #[error("{method} {path} is outside every capability of provider `{provider}`")]
    CapabilityDenied {
        provider: String,
        method: String,
        path: String,
    },
    #[error("method `{0}` is not supported (use GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS)")]
    MethodInvalid(String),
    #[error("header `{0}` carries credentials; the broker adds the provider's auth itself")]
    HeaderForbidden(String),
    #[error("header {0}")]
    HeaderInvalid(String),
    #[error("query parameter `{0}` carries the provider's credential; the broker adds it itself")]
    QueryForbidden(String),
    #[error("query {0}")]
    QueryInvalid(String),
    #[error("the request body is {size} bytes; the limit is {limit}")]
    BodyTooLarge { size: usize, limit: usize },
    #[error("the response from {host} is {what}: kovra cannot scrub it, so it is withheld")]
    ResponseUnscrubbable { host: String, what: String },
    #[error("the response from {host} is larger than {limit} bytes")]
    ResponseTooLarge { host: String, limit: usize },
    #[error("{host} did not answer within {secs} s")]
    Timeout { host: String, secs: u64 },
    #[error("cannot reach {host}: {why}")]
    Unreachable { host: String, why: String },
    #[error("TLS with {host} failed: {why}")]
    Tls { host: String, why: String },
    #[error(
        "provider `{provider}` allows {requests} calls per {per_seconds} s; retry in {retry_after} s"
    )]
    RateLimited {
        provider: String,
        requests: u32,
        per_seconds: u32,
        retry_after: u64,
    },
    #[error("the broker cannot start: {0}")]
    Setup(String),
}

impl BrokerError {
    pub fn hint(&self) -> Option<&'static str> {
        Some(match self {
            BrokerError::UnknownProvider(_) => "`kovra providers` lists every provider",
            BrokerError::CapabilityDenied { .. } => {
                "`kovra providers show NAME` lists the methods and paths a provider allows"
            }
            BrokerError::PathInvalid(_) => {
                "give the path as the API documents it, starting with `/`, without `.` or `..` segments; pass query parameters separately (--query, or the tool's query argument)"
            }
            BrokerError::HeaderForbidden(_) | BrokerError::QueryForbidden(_) => {
                "drop it: kovra attaches the credential bound to this provider"
            }
            BrokerError::BodyTooLarge { .. } => "send a smaller body",
            BrokerError::RateLimited { .. } => "wait, then retry",
            BrokerError::Timeout { .. } => "retry, or raise --timeout (at most 300 s)",
            _ => return None,
        })
    }
}
