//! Forwarding one request: to a pinned host over real TLS with the run's swap, or (under
//! `Egress::Open`) to any other host as plain HTTP. Both scan for misused placeholders first.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode, Uri, Version};
use http_body_util::BodyExt as _;
use hyper::body::Body as _;
use kovra_redact::Redactor;
use zeroize::Zeroizing;

use crate::body::Body;
use crate::response::{self, drop_hop_by_hop, text};
use crate::runs::Live;
use crate::scan::scan_head;
use crate::serve::Shared;
use crate::swap::{Head, apply};
use crate::{Misuse, Place, Use};

/// Bodies up to this size (by their declared length) are scanned whole before forwarding.
const PREFETCH: u64 = 1024 * 1024;

fn place_name(place: &Place) -> String {
    match place {
        Place::Header(h) => format!("the {h} header"),
        Place::Path => "the path".into(),
        Place::Query => "the query".into(),
        Place::Body => "the body".into(),
        Place::ConnectTarget => "the CONNECT target".into(),
    }
}

/// Report a misused placeholder and build the refusal.
pub(crate) fn misuse(
    shared: &Shared,
    run: Option<u64>,
    live: &Live,
    host: &str,
    place: Place,
) -> Response<Body> {
    let msg = format!(
        "a placeholder ({}) cannot go to {host} in {}; refused",
        live.swap().variable,
        place_name(&place)
    );
    report(shared, run, live, host, place);
    text(StatusCode::FORBIDDEN, &msg)
}

fn report(shared: &Shared, run: Option<u64>, live: &Live, host: &str, place: Place) {
    let event = Misuse {
        run,
        owner: live.run.id,
        coordinate: live.swap().coordinate.clone(),
        variable: live.swap().variable.clone(),
        host: host.to_string(),
        place,
    };
    tokio::task::block_in_place(|| shared.judge.misuse(&event));
}

/// Wrap `body` so a placeholder of `foreign` in it fails the upload and is reported.
fn scanned(
    shared: &Arc<Shared>,
    run: Option<u64>,
    host: &str,
    body: Body,
    foreign: Vec<Live>,
    tripped: Arc<AtomicBool>,
) -> Body {
    if foreign.is_empty() {
        return body;
    }
    let shared = shared.clone();
    let host = host.to_string();
    let on_hit = Box::new(move |live: &Live| {
        tripped.store(true, Ordering::SeqCst);
        report(&shared, run, live, &host, Place::Body);
    });
    crate::body::scanned(body, foreign, on_hit)
}

/// Prepare headers for the upstream: no connection headers, no `Host` (the URI names the
/// host), the identity encoding and the whole body (so every form of a value can be
/// scrubbed from the response).
fn upstream_headers(headers: &mut http::HeaderMap, identity: bool) {
    drop_hop_by_hop(headers);
    headers.remove(header::HOST);
    // The proxy reads the child's body as it goes; it does not relay interim responses.
    headers.remove(header::EXPECT);
    if identity {
        headers.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("identity"),
        );
        headers.remove(header::RANGE);
        headers.remove(header::IF_RANGE);
    }
}

/// A request for `host`, which some swap of run `run_id` pins. `path` and `query` come from
/// the request as the child sent it; the host never does (pitfall 3).
pub(crate) async fn pinned(
    shared: Arc<Shared>,
    run_id: u64,
    host: String,
    req: Request<Body>,
    mut path: String,
    mut query: Option<String>,
) -> Response<Body> {
    let Some(run) = shared.runs.by_id(run_id) else {
        return text(StatusCode::FORBIDDEN, "this run has ended");
    };
    let live = shared.runs.live();
    let (mut parts, body) = req.into_parts();
    upstream_headers(&mut parts.headers, true);
    for (l, place) in scan_head(&parts.headers, &path, query.as_deref(), &live) {
        if !l.at_home(run_id, &host) {
            return misuse(&shared, Some(run_id), &l, &host, place);
        }
    }
    let candidates = run.swaps_for(&host);
    let mut audit_path = path.clone();
    for &i in &candidates {
        let s = &run.swaps[i];
        audit_path = audit_path.replace(s.placeholder.as_str(), &format!("{{{}}}", s.variable));
    }
    let applied = match apply(
        &run.swaps,
        &candidates,
        &mut Head {
            headers: &mut parts.headers,
            path: &mut path,
            query: &mut query,
        },
    ) {
        Ok(a) => a,
        Err(why) => return text(StatusCode::BAD_GATEWAY, &why),
    };
    for &i in &applied.swapped {
        let swap = &run.swaps[i];
        let verdict = tokio::task::block_in_place(|| shared.judge.may_swap(run_id, swap, &host));
        if let Err(why) = verdict {
            return text(StatusCode::FORBIDDEN, &format!("refused: {why}"));
        }
    }
    let foreign: Vec<Live> = live
        .iter()
        .filter(|l| !l.at_home(run_id, &host))
        .cloned()
        .collect();
    let tripped = Arc::new(AtomicBool::new(false));
    let body = scanned(&shared, Some(run_id), &host, body, foreign, tripped.clone());
    let target = Zeroizing::new(match &query {
        Some(q) => format!("https://{host}{path}?{q}"),
        None => format!("https://{host}{path}"),
    });
    let Ok(uri) = Uri::try_from(target.as_str()) else {
        return text(
            StatusCode::BAD_REQUEST,
            "the request target is not a valid URL",
        );
    };
    parts.uri = uri;
    // A child speaking h2 gets h2 upstream where the host offers it; hyper's client speaks
    // h2 itself on such a connection, and an HTTP/2 request on an h1 connection would be
    // refused (pitfall 2), so the request is marked HTTP/1.1 either way.
    let client = if parts.version == Version::HTTP_2 {
        &shared.https_h2
    } else {
        &shared.https
    };
    parts.version = Version::HTTP_11;
    let method = parts.method.to_string();
    let resp = match client.request(Request::from_parts(parts, body)).await {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(host = %host, "upstream request failed: {}", e.is_connect());
            return not_sent(&tripped, &host);
        }
    };
    let status = resp.status().as_u16();
    for &i in &applied.swapped {
        let event = Use {
            run: run_id,
            coordinate: run.swaps[i].coordinate.clone(),
            host: host.clone(),
            method: method.clone(),
            path: audit_path.clone(),
            status,
        };
        tokio::task::block_in_place(|| shared.judge.used(&event));
    }
    let auth_headers: Vec<String> = candidates
        .iter()
        .filter_map(|&i| run.swaps[i].provider.auth.header_name())
        .collect();
    let redactor = if applied.swapped.is_empty() {
        None
    } else {
        let mut values: Vec<(&str, &[u8])> = Vec::new();
        for &i in &applied.swapped {
            let s = &run.swaps[i];
            values.push((s.variable.as_str(), s.value.as_slice()));
        }
        let var = run.swaps[applied.swapped[0]].variable.as_str();
        for d in &applied.derived {
            values.push((var, d.as_slice()));
        }
        Some(Arc::new(Redactor::new(values)))
    };
    response::from_pinned(resp, &host, &auth_headers, redactor)
}

/// A plain-HTTP request to a host no swap of the run pins: scanned, then forwarded as it is
/// (`Egress::Open`) or refused.
pub(crate) async fn plain(
    shared: Arc<Shared>,
    run_id: u64,
    open: bool,
    host: String,
    req: Request<Body>,
) -> Response<Body> {
    let live = shared.runs.live();
    let (mut parts, body) = req.into_parts();
    upstream_headers(&mut parts.headers, false);
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().map(str::to_string);
    for (l, place) in scan_head(&parts.headers, &path, query.as_deref(), &live) {
        if !l.at_home(run_id, &host) {
            return misuse(&shared, Some(run_id), &l, &host, place);
        }
    }
    if !open {
        return text(
            StatusCode::FORBIDDEN,
            &format!("this run may only reach its providers' hosts, not {host}"),
        );
    }
    let foreign: Vec<Live> = live.iter().cloned().collect();
    // A body of known, small size is read and scanned before any connection is made, so a
    // placeholder in it is caught (and reported) even when the host cannot be reached.
    let body = match body.size_hint().upper() {
        Some(n) if n <= PREFETCH && !foreign.is_empty() => {
            let Ok(collected) = body.collect().await else {
                return text(StatusCode::BAD_REQUEST, "the request body broke off");
            };
            let bytes = collected.to_bytes();
            if let Some(l) = crate::scan::first_in(&bytes, &foreign) {
                return misuse(&shared, Some(run_id), l, &host, Place::Body);
            }
            crate::body::full(bytes)
        }
        _ => body,
    };
    let tripped = Arc::new(AtomicBool::new(false));
    let body = scanned(&shared, Some(run_id), &host, body, foreign, tripped.clone());
    parts.version = Version::HTTP_11;
    match shared.plain.request(Request::from_parts(parts, body)).await {
        Ok(r) => response::passthrough(r),
        Err(_) => not_sent(&tripped, &host),
    }
}

/// The answer for a request the upstream did not answer: refused when the body scan cut
/// it (`tripped`), unreachable otherwise.
fn not_sent(tripped: &AtomicBool, host: &str) -> Response<Body> {
    if tripped.load(Ordering::SeqCst) {
        text(
            StatusCode::FORBIDDEN,
            &format!("a placeholder cannot go to {host} in the body; refused"),
        )
    } else {
        text(
            StatusCode::BAD_GATEWAY,
            &format!("{host} could not be reached"),
        )
    }
}
