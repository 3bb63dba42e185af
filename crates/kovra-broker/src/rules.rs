//! What a caller may ask of the broker. Every rule here runs before any connection is made;
//! a request that breaks one is refused, never silently repaired.

use crate::error::BrokerError;
use crate::registry::{Auth, Provider};

/// Largest request body the broker forwards.
pub const MAX_BODY: usize = 512 * 1024;
/// Largest response body the broker returns.
pub const MAX_RESPONSE: usize = 8 * 1024 * 1024;
pub const MAX_PATH: usize = 2048;
const MAX_HEADERS: usize = 64;
const MAX_HEADER_BYTES: usize = 16 * 1024;
const MAX_QUERY: usize = 128;

/// Headers that carry credentials on any API: a caller never sends them.
const AUTH_HEADERS: [&str; 14] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "x-api-key",
    "api-key",
    "x-auth-token",
    "x-access-token",
    "private-token",
    "x-goog-api-key",
    "dd-api-key",
    "dd-application-key",
    "x-figma-token",
    "x-postmark-server-token",
    "x-csrf-token",
];

/// Headers the HTTP layer owns.
const FRAMING_HEADERS: [&str; 9] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "upgrade",
    "expect",
];

/// Headers the broker owns because scrubbing depends on them: a compressed or partial body
/// could carry the credential past the scrubber (in pieces, or encoded), so the broker asks
/// for the identity encoding and the whole body itself.
const SCRUB_HEADERS: [&str; 3] = ["accept-encoding", "range", "if-range"];

/// Headers some servers and proxies obey to change the method or target after the
/// capability check: refused, so what was checked is what runs.
const OVERRIDE_HEADERS: [&str; 7] = [
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
    "x-original-url",
    "x-rewrite-url",
    "x-original-method",
    "forwarded",
];

/// Whether a header is the broker's to set (framing, scrubbing, overrides): refused from
/// callers and from provider files alike.
pub fn is_broker_owned_header(name: &str) -> bool {
    let lower = name.to_ascii_lowercase().replace('_', "-");
    FRAMING_HEADERS.contains(&lower.as_str())
        || SCRUB_HEADERS.contains(&lower.as_str())
        || OVERRIDE_HEADERS.contains(&lower.as_str())
        || lower.starts_with("proxy-")
        || lower.starts_with("x-forwarded-")
}

/// Response headers that carry or solicit credentials: removed before the caller sees them.
pub const AUTH_RESPONSE_HEADERS: [&str; 7] = [
    "set-cookie",
    "set-cookie2",
    "authorization",
    "proxy-authorization",
    "www-authenticate",
    "proxy-authenticate",
    "cookie",
];

/// Whether `name` is an auth-class header, generally or for this provider.
pub fn is_auth_class_header(name: &str, provider_header: Option<&str>) -> bool {
    // Some servers read `x_api_key` as `x-api-key`: compare with underscores as dashes.
    let norm = |s: &str| s.to_ascii_lowercase().replace('_', "-");
    let lower = norm(name);
    AUTH_HEADERS.contains(&lower.as_str()) || provider_header.is_some_and(|h| norm(h) == lower)
}

/// A request as the caller described it.
#[derive(Debug, Clone, Default)]
pub struct CallerRequest {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
}

/// A request that passed every rule, for one provider.
#[derive(Debug, Clone)]
pub struct Checked {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
}

impl Checked {
    pub fn request_bytes(&self) -> usize {
        self.body.as_ref().map_or(0, Vec::len)
    }
}

/// Apply every rule: method, path, capability, headers, query, body size.
pub fn check(provider: &Provider, req: CallerRequest) -> Result<Checked, BrokerError> {
    let method = req.method.to_ascii_uppercase();
    if !["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"].contains(&method.as_str()) {
        return Err(BrokerError::MethodInvalid(req.method));
    }
    check_path(&req.path)?;
    if provider.capability_for(&method, &req.path).is_none() {
        return Err(BrokerError::CapabilityDenied {
            provider: provider.name.clone(),
            method,
            path: req.path,
        });
    }
    let auth_header = provider.auth.header_name();
    if req.headers.len() > MAX_HEADERS {
        return Err(BrokerError::HeaderInvalid(format!(
            "count {} is over the limit of {MAX_HEADERS}",
            req.headers.len()
        )));
    }
    let total: usize = req.headers.iter().map(|(k, v)| k.len() + v.len()).sum();
    if total > MAX_HEADER_BYTES {
        return Err(BrokerError::HeaderInvalid(format!(
            "bytes {total} are over the limit of {MAX_HEADER_BYTES}"
        )));
    }
    for (name, value) in &req.headers {
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
        {
            return Err(BrokerError::HeaderInvalid(format!(
                "name `{}` is not a valid header name",
                printable(name)
            )));
        }
        if is_auth_class_header(name, auth_header.as_deref()) {
            return Err(BrokerError::HeaderForbidden(name.to_ascii_lowercase()));
        }
        let lower = name.to_ascii_lowercase();
        if is_broker_owned_header(&lower) {
            return Err(BrokerError::HeaderInvalid(format!(
                "`{lower}` is set by the broker"
            )));
        }
        if value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
            return Err(BrokerError::HeaderInvalid(format!(
                "`{lower}` has a control character in its value"
            )));
        }
    }
    if req.query.len() > MAX_QUERY {
        return Err(BrokerError::QueryInvalid(format!(
            "has {} parameters; the limit is {MAX_QUERY}",
            req.query.len()
        )));
    }
    for (name, _) in &req.query {
        if name.is_empty() {
            return Err(BrokerError::QueryInvalid(
                "has a parameter without a name".into(),
            ));
        }
        let own =
            matches!(&provider.auth, Auth::Query { param } if param.eq_ignore_ascii_case(name));
        if own || name.eq_ignore_ascii_case("access_token") {
            return Err(BrokerError::QueryForbidden(name.clone()));
        }
    }
    if let Some(b) = &req.body
        && b.len() > MAX_BODY
    {
        return Err(BrokerError::BodyTooLarge {
            size: b.len(),
            limit: MAX_BODY,
        });
    }
    Ok(Checked {
        method,
        path: req.path,
        query: req.query,
        headers: req.headers,
        body: req.body,
    })
}

/// A path is taken as given, or refused: it must start with `/`, use only URL path
/// characters, and hold no `.` or `..` segment and no encoded `/` or `\`, in any
/// percent-encoding depth. Nothing is rewritten, so what was checked is what is sent.
pub fn check_path(path: &str) -> Result<(), BrokerError> {
    let bad = |why: String| BrokerError::PathInvalid(format!("path `{}` {why}", printable(path)));
    if !path.starts_with('/') {
        return Err(bad("must start with `/`".into()));
    }
    if path.len() > MAX_PATH {
        return Err(bad(format!("is longer than {MAX_PATH} bytes")));
    }
    if let Some((i, c)) = path.char_indices().find(|(_, c)| !is_path_char(*c)) {
        let what = match c {
            '?' | '#' => "starts a query or fragment (use --query)".to_string(),
            '\\' => "holds a backslash".to_string(),
            c => format!("holds the character U+{:04X}", c as u32),
        };
        return Err(bad(format!("{what} at byte {i}")));
    }
    let segments: Vec<&str> = path[1..].split('/').collect();
    let last = segments.len() - 1;
    for (n, seg) in segments.iter().enumerate() {
        if seg.is_empty() {
            if n == last {
                continue;
            }
            return Err(bad("has an empty segment (`//`)".into()));
        }
        let decoded = decode_fully(seg).ok_or_else(|| bad("has a malformed %-escape".into()))?;
        if decoded == "." || decoded == ".." {
            return Err(bad("has a `.` or `..` segment".into()));
        }
        if decoded.contains('/') || decoded.contains('\\') {
            return Err(bad("has an encoded `/` or `\\`".into()));
        }
        if decoded.bytes().any(|b| b < 0x20 || b == 0x7f) {
            return Err(bad("has an encoded control character".into()));
        }
    }
    Ok(())
}

fn is_path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=:@/%".contains(c)
}

/// Percent-decode until nothing changes (at most four rounds): `%252e` is a dot too.
fn decode_fully(seg: &str) -> Option<String> {
    let mut cur = seg.to_string();
    for _ in 0..4 {
        if !cur.contains('%') {
            return Some(cur);
        }
        let bytes = cur.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' {
                let h = bytes.get(i + 1..i + 3)?;
                let v = u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()?;
                out.push(v);
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        let next = String::from_utf8_lossy(&out).into_owned();
        if next == cur {
            return Some(cur);
        }
        cur = next;
    }
    // Still encoded after four rounds: nobody needs that, and it hides what it is.
    None
}

/// Echo caller text in an error without control characters, and short.
fn printable(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(200)
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect();
    if s.chars().count() > 200 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_that_defeat_scrubbing_or_the_capability_check_are_the_brokers() {
        for h in [
            "Accept-Encoding",
            "range",
            "If-Range",
            "X-HTTP-Method-Override",
            "x_http_method_override",
            "X-Forwarded-Host",
            "Forwarded",
            "Host",
            "Proxy-Connection",
        ] {
            assert!(is_broker_owned_header(h), "{h}");
        }
        assert!(!is_broker_owned_header("accept"));
        assert!(!is_broker_owned_header("content-type"));
    }

    #[test]
    fn auth_headers_are_recognised_in_any_case_and_with_underscores() {
        for h in [
            "Authorization",
            "X_API_KEY",
            "x-Api-Key",
            "PRIVATE_TOKEN",
            "cookie",
        ] {
            assert!(is_auth_class_header(h, None), "{h}");
        }
        assert!(is_auth_class_header(
            "X_Internal_Token",
            Some("x-internal-token")
        ));
        assert!(!is_auth_class_header(
            "x-request-id",
            Some("x-internal-token")
        ));
    }

    #[test]
    fn dot_segments_are_refused_in_every_encoding() {
        for p in [
            "/v1/../../etc/passwd",
            "/v1/./models",
            "/v1/%2e%2e/x",
            "/v1/%2E%2E/x",
            "/v1/.%2e/x",
            "/v1/%2e/x",
            "/v1/%252e%252e/x",
            "/v1/%25252e%25252e/x",
            "/..",
            "/v1/a%2fb",
            "/v1/a%5cb",
            "/v1\\..\\x",
            "v1/models",
            "/v1//models",
            "/v1/models?x=1",
            "/v1/models#x",
            "/v1/mo dels",
            "/v1/%zz",
            "/v1/%0a",
        ] {
            assert!(check_path(p).is_err(), "{p} was accepted");
        }
        for p in [
            "/v1/models",
            "/v1/models/",
            "/",
            "/v1/a%20b",
            "/v1/x:y@z",
            "/v1/..a",
            "/v1/a.b",
        ] {
            assert!(check_path(p).is_ok(), "{p} was refused");
        }
    }
}
