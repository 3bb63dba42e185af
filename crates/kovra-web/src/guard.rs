//! What every request passes before a handler sees it, and what every response carries.
//!
//! - `Host` must be exactly `localhost:PORT`: a page on another site whose name was
//!   re-pointed at 127.0.0.1 (DNS rebinding) sends its own name, and is refused (421).
//! - A request that may change something (any method but GET and HEAD) must carry
//!   `Origin: http://localhost:PORT`; absent or foreign is refused (403). With the cookie's
//!   `SameSite=Strict` this is the CSRF defence; `Sec-Fetch-Site`, when the browser sends it,
//!   must say `same-origin` for writes and for every API call.
//! - Every response: a Content-Security-Policy allowing only this origin's own script and
//!   style files (no inline script, no inline style, no frames, no forms elsewhere),
//!   `nosniff`, no referrer (the login path holds a token), no caching, no framing.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::Shared;

pub(crate) const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// A JSON error document, shaped as the daemon's own `error` responses.
pub(crate) fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({ "status": "error", "code": code, "message": message });
    (status, axum::Json(body)).into_response()
}

fn header_is(headers: &HeaderMap, name: header::HeaderName, want: &str) -> bool {
    let mut values = headers.get_all(name).iter();
    matches!((values.next(), values.next()), (Some(v), None) if v.as_bytes() == want.as_bytes())
}

pub(crate) async fn check(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    let headers = request.headers();
    if !header_is(headers, header::HOST, &shared.host) {
        return error(
            StatusCode::MISDIRECTED_REQUEST,
            "web-host-refused",
            "this server answers only to its own name: open the link `kovra ui` printed",
        );
    }
    let writes = !matches!(*request.method(), Method::GET | Method::HEAD);
    if writes && !header_is(headers, header::ORIGIN, &shared.origin) {
        return error(
            StatusCode::FORBIDDEN,
            "web-origin-refused",
            "a change must come from this UI's own pages (the Origin header is missing or foreign)",
        );
    }
    let api = request.uri().path().starts_with("/api/");
    if (writes || api)
        && let Some(site) = headers.get("sec-fetch-site")
        && site.as_bytes() != b"same-origin"
    {
        return error(
            StatusCode::FORBIDDEN,
            "web-origin-refused",
            "the browser says this request comes from another site",
        );
    }
    next.run(request).await
}

pub(crate) async fn secure_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    let set = |h: &mut HeaderMap, name: &'static str, value: &'static str| {
        h.insert(name, HeaderValue::from_static(value));
    };
    set(h, "content-security-policy", CSP);
    set(h, "x-content-type-options", "nosniff");
    set(h, "referrer-policy", "no-referrer");
    set(h, "cache-control", "no-store");
    set(h, "x-frame-options", "DENY");
    set(h, "cross-origin-opener-policy", "same-origin");
    set(h, "cross-origin-resource-policy", "same-origin");
    response
}
