//! The swap, per auth kind, through real curl over real TLS (h1 and h2), and the scrubbing
//! of everything that comes back.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use kovra_proxy::Egress;

const CANARY: &str = "sk-real-CANARY-0f3a9c71e2";

fn assert_clean(out: &Curl) {
    assert!(
        !out.body.contains(CANARY),
        "the value reached the child: {}",
        out.body
    );
}

#[test]
fn bearer_is_swapped_over_h1_and_h2_and_the_echo_is_scrubbed() {
    let f = fixture();
    let s = swap(bearer(), CANARY);
    let ph = s.placeholder.clone();
    f.proxy.register(grant(1, "tok-one", Egress::Open, vec![s]));
    for h1 in [true, false] {
        let auth = format!("Authorization: Bearer {ph}");
        let out = f.curl(
            Some("tok-one"),
            h1,
            &["-i", "-H", &auth, "https://api.example.test/v1/echo?x=1"],
        );
        assert_eq!(out.status, 200, "{out:?}");
        assert_clean(&out);
        assert!(out.body.contains("[kovra:BEARER_KEY]"), "{}", out.body);
        let lower = out.body.to_ascii_lowercase();
        assert!(!lower.contains("set-cookie"), "{}", out.body);
        assert!(lower.contains("www-authenticate"), "{}", out.body);
    }
    let seen = f.upstream.seen();
    assert_eq!(seen.len(), 2);
    for s in &seen {
        assert_eq!(
            s.header("authorization").unwrap(),
            format!("Bearer {CANARY}")
        );
        assert_eq!(s.header("accept-encoding").unwrap(), "identity");
        assert!(s.header("proxy-authorization").is_none());
        assert_eq!(s.path, "/v1/echo");
    }
    let uses = f.uses();
    assert_eq!(uses.len(), 2);
    assert_eq!(uses[0].host, "api.example.test");
    assert_eq!(uses[0].path, "/v1/echo");
    assert_eq!(uses[0].status, 200);
}

#[test]
fn header_kind_swaps_its_header_only() {
    let f = fixture();
    let ph = f.one_run(header(), CANARY);
    let h = format!("x-api-key: {ph}");
    // The same placeholder elsewhere, towards its own host, is harmless and left alone.
    let other = format!("x-note: {ph}");
    let out = f.curl(
        Some("tok"),
        false,
        &["-H", &h, "-H", &other, "https://hdr.example.test/echo"],
    );
    assert_eq!(out.status, 200, "{out:?}");
    assert_clean(&out);
    let seen = &f.upstream.seen()[0];
    assert_eq!(seen.header("x-api-key").unwrap(), CANARY);
    assert_eq!(seen.header("x-note").unwrap(), ph);
}

#[test]
fn query_kind_swaps_its_parameter() {
    let f = fixture();
    let ph = f.one_run(query(), CANARY);
    let url = format!("https://q.example.test/echo?a=1&key={ph}&b=2");
    let out = f.curl(Some("tok"), true, &["-i", &url]);
    assert_eq!(out.status, 200, "{out:?}");
    // The upstream echoes its query in a header and the body: both scrubbed.
    assert_clean(&out);
    let seen = &f.upstream.seen()[0];
    assert_eq!(seen.query, format!("a=1&key={CANARY}&b=2"));
    let uses = f.uses();
    assert_eq!(uses[0].path, "/echo");
}

#[test]
fn basic_kind_swaps_inside_the_pair_like_git_sends_it() {
    let f = fixture();
    let ph = f.one_run(basic(), CANARY);
    // git's first request has no credential: forwarded as is, the challenge kept.
    let out = f.curl(
        Some("tok"),
        false,
        &["-i", "https://git.example.test/repo/challenge"],
    );
    assert_eq!(out.status, 401, "{out:?}");
    let lower = out.body.to_ascii_lowercase();
    assert!(
        lower.contains("www-authenticate: basic realm"),
        "{}",
        out.body
    );
    assert!(!lower.contains("set-cookie"), "{}", out.body);
    let user = format!("x:{ph}");
    let out = f.curl(
        Some("tok"),
        false,
        &["-u", &user, "https://git.example.test/repo/echo"],
    );
    assert_eq!(out.status, 200, "{out:?}");
    assert_clean(&out);
    use base64::Engine as _;
    let expected = base64::engine::general_purpose::STANDARD.encode(format!("x:{CANARY}"));
    let seen = f.upstream.seen();
    assert!(seen[0].header("authorization").is_none());
    assert_eq!(
        seen[1].header("authorization").unwrap(),
        format!("Basic {expected}")
    );
    assert!(!out.body.contains(&expected), "{}", out.body);
}

#[test]
fn path_kind_swaps_the_prefix_segment() {
    let f = fixture();
    let ph = f.one_run(path(), CANARY);
    let url = format!("https://tg.example.test/bot{ph}/echo");
    let out = f.curl(Some("tok"), false, &[&url]);
    assert_eq!(out.status, 200, "{out:?}");
    assert_clean(&out);
    assert_eq!(f.upstream.seen()[0].path, format!("/bot{CANARY}/echo"));
    let uses = f.uses();
    assert_eq!(uses[0].path, "/bot{PATH_KEY}/echo");
}

#[test]
fn base_url_mode_needs_no_proxy_and_no_ca() {
    let f = fixture();
    let p = bearer();
    let s = swap(p.clone(), CANARY);
    let ph = s.placeholder.clone();
    f.proxy
        .register(grant(1, "tok-base", Egress::PinnedOnly, vec![s]));
    let base = f.proxy.base_url("tok-base", &p);
    assert!(
        base.ends_with("/kovra/tok-base/bearer/v1"),
        "{}",
        base.as_str()
    );
    let mut c = curl_cmd();
    let auth = format!("Authorization: Bearer {ph}");
    c.args(["-H", &auth, "-d", "hello"])
        .arg(format!("{}/chat/completions?stream=1", base.as_str()));
    let out = run_curl(c);
    assert_eq!(out.status, 200, "{out:?}");
    assert_clean(&out);
    let seen = &f.upstream.seen()[0];
    assert_eq!(seen.path, "/v1/chat/completions");
    assert_eq!(seen.query, "stream=1");
    assert_eq!(seen.body, b"hello");
    assert_eq!(
        seen.header("authorization").unwrap(),
        format!("Bearer {CANARY}")
    );
    // An unknown token or provider says nothing more.
    for bad in [
        "/kovra/nope/bearer/v1/x",
        "/kovra/tok-base/nope/v1/x",
        "/elsewhere",
    ] {
        let mut c = curl_cmd();
        c.arg(format!("http://{}{bad}", f.proxy.addr()));
        assert_eq!(run_curl(c).status, 404);
    }
}

#[test]
fn plain_http_to_a_pinned_host_goes_over_tls() {
    let f = fixture();
    let ph = f.one_run(bearer(), CANARY);
    let auth = format!("Authorization: Bearer {ph}");
    let out = f.curl(
        Some("tok"),
        true,
        &["-H", &auth, "http://api.example.test/v1/echo"],
    );
    assert_eq!(out.status, 200, "{out:?}");
    assert_clean(&out);
    assert_eq!(
        f.upstream.seen()[0].header("authorization").unwrap(),
        format!("Bearer {CANARY}")
    );
}

#[test]
fn redirects_are_handed_back_not_followed() {
    let f = fixture();
    let ph = f.one_run(bearer(), CANARY);
    let auth = format!("Authorization: Bearer {ph}");
    let out = f.curl(
        Some("tok"),
        false,
        &["-i", "-H", &auth, "https://api.example.test/redirect"],
    );
    assert_eq!(out.status, 302, "{out:?}");
    assert!(out.body.contains("other.example.test/landing"));
    assert_eq!(f.upstream.seen().len(), 1);
}

#[test]
fn sse_streams_through_incrementally() {
    use std::io::Read as _;
    use std::time::{Duration, Instant};
    let f = fixture();
    let ph = f.one_run(bearer(), CANARY);
    let mut c = curl_cmd();
    let auth = format!("Authorization: Bearer {ph}");
    c.arg("-x")
        .arg(f.proxy.proxy_url("tok").as_str())
        .arg("--cacert")
        .arg(&f.bundle)
        .args(["-N", "-H", &auth, "https://api.example.test/sse"])
        .stdout(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut got = Vec::new();
    let mut first = None;
    let mut buf = [0u8; 256];
    let start = Instant::now();
    loop {
        let n = stdout.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
        if first.is_none() && String::from_utf8_lossy(&got).contains("event 0") {
            first = Some(start.elapsed());
        }
    }
    let last = start.elapsed();
    child.wait().unwrap();
    let text = String::from_utf8_lossy(&got);
    assert!(text.contains("event 4"), "{text}");
    let first = first.unwrap();
    assert!(
        last - first >= Duration::from_millis(250),
        "first {first:?}, last {last:?}"
    );
}

#[test]
fn big_bodies_stream_both_ways() {
    let f = fixture();
    let ph = f.one_run(bearer(), CANARY);
    let out = f.bearer_get(&ph, "/big");
    assert_eq!(out.status, 200);
    assert_eq!(out.body.len(), 4 * 1024 * 1024);
    // An upload bigger than any buffer, scanned on its way.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("up.bin");
    std::fs::write(&file, "z".repeat(3 * 1024 * 1024 + 7)).unwrap();
    let at = format!("@{}", file.display());
    let auth = format!("Authorization: Bearer {ph}");
    let out = f.curl(
        Some("tok"),
        true,
        &[
            "-H",
            &auth,
            "--data-binary",
            &at,
            "https://api.example.test/up",
        ],
    );
    assert_eq!(out.status, 200, "{}", out.status);
    assert_eq!(f.upstream.seen()[1].body.len(), 3 * 1024 * 1024 + 7);
}

#[test]
fn a_compressed_response_is_refused() {
    let f = fixture();
    let ph = f.one_run(bearer(), CANARY);
    let out = f.bearer_get(&ph, "/gzip");
    assert_eq!(out.status, 502, "{out:?}");
    assert!(out.body.contains("compressed"), "{}", out.body);
}

#[test]
fn a_refused_swap_never_reaches_the_upstream() {
    let f = fixture();
    let ph = f.one_run(bearer(), CANARY);
    *f.judge.deny.lock().unwrap() = Some("policy says no".into());
    let out = f.bearer_get(&ph, "/echo");
    assert_eq!(out.status, 403, "{out:?}");
    assert!(out.body.contains("policy says no"), "{}", out.body);
    assert!(f.upstream.seen().is_empty());
    assert!(f.uses().is_empty());
}

#[test]
fn a_partial_response_is_refused() {
    let f = fixture();
    let ph = f.one_run(bearer(), CANARY);
    let out = f.bearer_get(&ph, "/partial");
    assert_eq!(out.status, 502, "{out:?}");
    assert!(out.body.contains("partial"), "{}", out.body);
    assert!(!out.body.contains(&CANARY[..CANARY.len() / 2]));
}
