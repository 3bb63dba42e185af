//! The misuse scan: where, in a request, a live placeholder appears. Placeholders use
//! URL-safe alphabets, but a path or query is also read percent-decoded, and a `Basic`
//! credential base64-decoded, so neither encoding hides one.

use http::HeaderMap;

use crate::Place;
use crate::auth::basic_pair;
use crate::runs::Live;

pub(crate) fn contains(hay: &[u8], needle: &[u8]) -> bool {
    find(hay, needle).is_some()
}

pub(crate) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

fn decoded(text: &str) -> Vec<u8> {
    percent_encoding::percent_decode_str(text).collect()
}

/// Every live placeholder in the request head, with where it was seen.
pub(crate) fn scan_head(
    headers: &HeaderMap,
    path: &str,
    query: Option<&str>,
    live: &[Live],
) -> Vec<(Live, Place)> {
    let mut hits = Vec::new();
    let path_decoded = decoded(path);
    let query_decoded = query.map(|q| decoded(&q.replace('+', " ")));
    for l in live {
        let p = l.placeholder().as_bytes();
        for (name, value) in headers {
            let in_basic = basic_pair(value.as_bytes()).is_some_and(|pair| contains(&pair, p));
            if contains(value.as_bytes(), p) || in_basic {
                hits.push((l.clone(), Place::Header(name.as_str().to_string())));
            }
        }
        if contains(path.as_bytes(), p) || contains(&path_decoded, p) {
            hits.push((l.clone(), Place::Path));
        }
        if let (Some(q), Some(qd)) = (query, &query_decoded)
            && (contains(q.as_bytes(), p) || contains(qd, p))
        {
            hits.push((l.clone(), Place::Query));
        }
    }
    hits
}

/// The first of `live` found in `buf`.
pub(crate) fn first_in<'a>(buf: &[u8], live: &'a [Live]) -> Option<&'a Live> {
    live.iter()
        .find(|l| contains(buf, l.placeholder().as_bytes()))
}
