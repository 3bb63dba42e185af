//! Proxy authentication: `Proxy-Authorization: Basic base64("kovra:" + token)`.

use base64::Engine as _;
use http::HeaderMap;
use zeroize::Zeroizing;

/// The token in a `Basic` proxy credential for the user `kovra`, if there is one.
pub(crate) fn proxy_token(headers: &HeaderMap) -> Option<Zeroizing<Vec<u8>>> {
    let value = headers.get(http::header::PROXY_AUTHORIZATION)?;
    basic_pair(value.as_bytes()).and_then(|pair| {
        pair.strip_prefix(b"kovra:")
            .map(|t| Zeroizing::new(t.to_vec()))
    })
}

/// The decoded `user:password` of a `Basic` credential.
pub(crate) fn basic_pair(value: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    let text = std::str::from_utf8(value).ok()?.trim();
    let (scheme, rest) = text.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()
        .map(Zeroizing::new)
}

pub(crate) fn encode_basic(pair: &[u8]) -> Zeroizing<String> {
    Zeroizing::new(format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    ))
}
