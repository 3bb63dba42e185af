//! What goes back to the child: short plain-text refusals, and upstream responses stripped
//! of what carries or solicits credentials, then scrubbed of every form of the value.

use std::sync::Arc;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Response, StatusCode};
use hyper::body::Incoming;
use kovra_broker::rules::AUTH_RESPONSE_HEADERS;
use kovra_redact::Redactor;

use crate::body::{Body, boxed, full, scrubbed};

/// Headers of one connection, never forwarded either way.
pub(crate) const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "proxy-authenticate",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// A short plain-text answer. Callers never put a value or a query in `msg`.
pub(crate) fn text(status: StatusCode, msg: &str) -> Response<Body> {
    let mut r = Response::new(full(format!("kovra: {msg}\n")));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// 407 with the challenge clients that wait for one (git) need before they send a credential.
pub(crate) fn proxy_auth_required() -> Response<Body> {
    let mut r = text(
        StatusCode::PROXY_AUTHENTICATION_REQUIRED,
        "this proxy needs the run's credential (Proxy-Authorization: Basic kovra:TOKEN)",
    );
    r.headers_mut().insert(
        header::PROXY_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"kovra\""),
    );
    r
}

/// Remove the hop-by-hop headers, and those the `Connection` header names.
pub(crate) fn drop_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::try_from(n.trim()).ok())
        .collect();
    for n in named {
        headers.remove(n);
    }
    for n in HOP_BY_HOP {
        headers.remove(n);
    }
}

/// An upstream response of a plain forward (no value was involved): only the connection's
/// own headers go.
pub(crate) fn passthrough(resp: Response<Incoming>) -> Response<Body> {
    let (mut parts, body) = resp.into_parts();
    drop_hop_by_hop(&mut parts.headers);
    Response::from_parts(parts, boxed(body))
}

/// An upstream response from a pinned host. `auth_headers` are the providers' own auth
/// header names; `redactor` masks the values sent (None when nothing was swapped).
pub(crate) fn from_pinned(
    resp: Response<Incoming>,
    host: &str,
    auth_headers: &[String],
    redactor: Option<Arc<Redactor>>,
) -> Response<Body> {
    let encoded = resp
        .headers()
        .get_all(header::CONTENT_ENCODING)
        .iter()
        .any(|v| !v.as_bytes().eq_ignore_ascii_case(b"identity"));
    if encoded {
        return text(
            StatusCode::BAD_GATEWAY,
            &format!(
                "the response from {host} is compressed (content-encoding), so it cannot be scrubbed"
            ),
        );
    }
    // A part of a body can hold part of the value, which no scrubber recognises. The proxy
    // removes the child's range headers, so a partial response was not asked for.
    let partial = resp.status() == StatusCode::PARTIAL_CONTENT
        || resp.headers().contains_key(header::CONTENT_RANGE);
    if partial && redactor.is_some() {
        return text(
            StatusCode::BAD_GATEWAY,
            &format!(
                "the response from {host} is a partial body (range), so it cannot be scrubbed"
            ),
        );
    }
    let (mut parts, body) = resp.into_parts();
    drop_hop_by_hop(&mut parts.headers);
    for n in AUTH_RESPONSE_HEADERS {
        // git needs the 401 challenge to send its credential; it is scrubbed below.
        if n != "www-authenticate" {
            parts.headers.remove(n);
        }
    }
    for n in auth_headers {
        if n != "www-authenticate" {
            parts.headers.remove(n.as_str());
        }
    }
    let Some(redactor) = redactor.filter(|r| !r.is_empty()) else {
        return Response::from_parts(parts, boxed(body));
    };
    // Scrubbing changes the length.
    parts.headers.remove(header::CONTENT_LENGTH);
    let mut clean = HeaderMap::with_capacity(parts.headers.len());
    for (name, value) in &parts.headers {
        let masked = redactor.redact_all(value.as_bytes());
        if let Ok(v) = HeaderValue::from_bytes(&masked) {
            clean.append(name.clone(), v);
        }
    }
    parts.headers = clean;
    Response::from_parts(parts, scrubbed(boxed(body), redactor))
}
