//! Putting a value where its placeholder stands, and only in the one place the provider's
//! auth spec names. A placeholder anywhere else is left as it is.

use http::{HeaderMap, HeaderName, HeaderValue};
use kovra_broker::registry::Auth;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC};
use zeroize::Zeroizing;

use crate::Swap;
use crate::auth::{basic_pair, encode_basic};
use crate::scan::{contains, find};

/// Characters left as they are in a query value or path segment.
const KEEP: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
/// A path segment may also hold `:` (Telegram's `bot123:ABC`) and `@`.
const KEEP_PATH: &AsciiSet = &KEEP.remove(b':').remove(b'@');

/// What a swap changed: which swaps, and the forms the value went out in (to scrub).
#[derive(Default)]
pub(crate) struct Applied {
    pub(crate) swapped: Vec<usize>,
    pub(crate) derived: Vec<Zeroizing<Vec<u8>>>,
}

/// The request head a swap works on.
pub(crate) struct Head<'a> {
    pub(crate) headers: &'a mut HeaderMap,
    pub(crate) path: &'a mut String,
    pub(crate) query: &'a mut Option<String>,
}

pub(crate) fn replace(hay: &[u8], needle: &[u8], with: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(hay.len() + with.len()));
    let mut rest = hay;
    while let Some(at) = find(rest, needle) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(with);
        rest = &rest[at + needle.len()..];
    }
    out.extend_from_slice(rest);
    out
}

/// Swap each of `candidates` (indexes into `swaps`) in `head`.
pub(crate) fn apply(
    swaps: &[Swap],
    candidates: &[usize],
    head: &mut Head<'_>,
) -> Result<Applied, String> {
    let mut applied = Applied::default();
    for &i in candidates {
        let swap = &swaps[i];
        let before = applied.derived.len();
        let done = match &swap.provider.auth {
            Auth::Bearer => swap_header(head.headers, "authorization", swap, true, &mut applied)?,
            Auth::Header { name, .. } => swap_header(
                head.headers,
                &name.to_ascii_lowercase(),
                swap,
                false,
                &mut applied,
            )?,
            Auth::Basic { .. } => swap_basic(head.headers, swap, &mut applied)?,
            Auth::Query { param } => swap_query(head.query, param, swap, &mut applied),
            Auth::Path { prefix } => swap_path(head.path, prefix, swap, &mut applied),
        };
        if done {
            applied.swapped.push(i);
            applied.derived.push(Zeroizing::new(swap.value.to_vec()));
            if let Some(at) = swap.value.iter().position(|&b| b == b':') {
                applied
                    .derived
                    .push(Zeroizing::new(swap.value[..at].to_vec()));
                applied
                    .derived
                    .push(Zeroizing::new(swap.value[at + 1..].to_vec()));
            }
        } else {
            applied.derived.truncate(before);
        }
    }
    Ok(applied)
}

fn header_value(bytes: &[u8]) -> Result<HeaderValue, String> {
    let mut v = HeaderValue::from_bytes(bytes)
        .map_err(|_| "the credential cannot be sent in a header".to_string())?;
    v.set_sensitive(true);
    Ok(v)
}

fn swap_header(
    headers: &mut HeaderMap,
    name: &str,
    swap: &Swap,
    bearer: bool,
    applied: &mut Applied,
) -> Result<bool, String> {
    let Ok(name) = HeaderName::try_from(name) else {
        return Ok(false);
    };
    let ph = swap.placeholder.as_bytes();
    let mut values: Vec<HeaderValue> = headers.get_all(&name).iter().cloned().collect();
    let mut done = false;
    for v in &mut values {
        let raw = v.as_bytes();
        let is_bearer = raw.len() > 7 && raw[..7].eq_ignore_ascii_case(b"bearer ");
        if (bearer && !is_bearer) || !contains(raw, ph) {
            continue;
        }
        let new = replace(raw, ph, &swap.value);
        *v = header_value(&new)?;
        applied.derived.push(new);
        done = true;
    }
    if done {
        headers.remove(&name);
        for v in values {
            headers.append(name.clone(), v);
        }
    }
    Ok(done)
}

fn swap_basic(headers: &mut HeaderMap, swap: &Swap, applied: &mut Applied) -> Result<bool, String> {
    let ph = swap.placeholder.as_bytes();
    let Some(value) = headers.get(http::header::AUTHORIZATION) else {
        return Ok(false);
    };
    let Some(pair) = basic_pair(value.as_bytes()) else {
        return Ok(false);
    };
    if !contains(&pair, ph) {
        return Ok(false);
    }
    let new_pair = replace(&pair, ph, &swap.value);
    let encoded = encode_basic(&new_pair);
    headers.insert(
        http::header::AUTHORIZATION,
        header_value(encoded.as_bytes())?,
    );
    applied
        .derived
        .push(Zeroizing::new(encoded.as_bytes().to_vec()));
    applied.derived.push(new_pair);
    Ok(true)
}

fn swap_query(query: &mut Option<String>, param: &str, swap: &Swap, applied: &mut Applied) -> bool {
    let Some(q) = query.as_ref() else {
        return false;
    };
    let ph = swap.placeholder.as_bytes();
    let mut done = false;
    let mut parts: Vec<Zeroizing<String>> = Vec::new();
    for pair in q.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let key: Vec<u8> = percent_encoding::percent_decode_str(k).collect();
        let val: Zeroizing<Vec<u8>> =
            Zeroizing::new(percent_encoding::percent_decode_str(&v.replace('+', " ")).collect());
        if key == param.as_bytes() && contains(&val, ph) {
            let new = replace(&val, ph, &swap.value);
            let enc = Zeroizing::new(percent_encoding::percent_encode(&new, KEEP).to_string());
            applied
                .derived
                .push(Zeroizing::new(enc.as_bytes().to_vec()));
            parts.push(Zeroizing::new(format!("{k}={}", enc.as_str())));
            done = true;
        } else {
            parts.push(Zeroizing::new(pair.to_string()));
        }
    }
    if done {
        let joined: Vec<&str> = parts.iter().map(|p| p.as_str()).collect();
        *query = Some(joined.join("&"));
    }
    done
}

fn swap_path(path: &mut String, prefix: &str, swap: &Swap, applied: &mut Applied) -> bool {
    // The prefix template names the first N segments (`/bot{secret}` is one).
    let segments = prefix.matches('/').count();
    let mut end = path.len();
    let mut seen = 0;
    for (i, c) in path.char_indices() {
        if c == '/' {
            seen += 1;
            if seen == segments + 1 {
                end = i;
                break;
            }
        }
    }
    let (head, tail) = path.split_at(end);
    let ph = swap.placeholder.as_str();
    if !head.contains(ph) {
        return false;
    }
    let enc = Zeroizing::new(percent_encoding::percent_encode(&swap.value, KEEP_PATH).to_string());
    let new = Zeroizing::new(format!("{}{tail}", head.replace(ph, &enc)));
    applied
        .derived
        .push(Zeroizing::new(enc.as_bytes().to_vec()));
    *path = new.to_string();
    true
}
