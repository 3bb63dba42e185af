//! Placeholders where they do not belong: refused, reported to the Judge, never swapped;
//! proxy authentication; egress modes; the end of a run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use kovra_proxy::{Egress, Place};

const CANARY: &str = "sk-real-CANARY-77d1e0b5aa";
const OTHER: &str = "hk-real-OTHER-5c3e9a1b02";

#[test]
fn a_request_without_or_with_a_wrong_token_gets_407() {
    let f = fixture();
    f.proxy.register(grant(
        1,
        "right",
        Egress::Open,
        vec![swap(bearer(), CANARY)],
    ));
    for token in [None, Some("wrong")] {
        let out = f.curl(token, false, &["https://api.example.test/echo"]);
        assert_eq!(out.connect_status, 407, "{out:?}");
        let out = f.curl(token, false, &["-i", "http://api.example.test/echo"]);
        assert_eq!(out.status, 407, "{out:?}");
        assert!(
            out.body
                .to_ascii_lowercase()
                .contains("proxy-authenticate: basic realm=\"kovra\""),
            "{}",
            out.body
        );
    }
    // curl --proxy-anyauth sends the credential only after the 407 challenge, like git.
    let mut c = curl_cmd();
    c.arg("-x")
        .arg(format!("http://{}", f.proxy.addr()))
        .args(["--proxy-user", "kovra:right", "--proxy-anyauth", "--cacert"])
        .arg(&f.bundle)
        .arg("https://api.example.test/echo");
    assert_eq!(run_curl(c).status, 200);
    assert!(f.upstream.seen().len() == 1);
}

#[test]
fn another_runs_placeholder_is_misuse_and_not_swapped() {
    let f = fixture();
    let a = swap(bearer(), CANARY);
    let a_ph = a.placeholder.clone();
    f.proxy.register(grant(1, "tok-a", Egress::Open, vec![a]));
    f.proxy
        .register(grant(2, "tok-b", Egress::Open, vec![swap(bearer(), OTHER)]));
    let auth = format!("Authorization: Bearer {a_ph}");
    let out = f.curl(
        Some("tok-b"),
        false,
        &["-H", &auth, "https://api.example.test/echo"],
    );
    assert_eq!(out.status, 403, "{out:?}");
    assert!(f.upstream.seen().is_empty());
    let m = &f.misuses()[0];
    assert_eq!((m.run, m.owner), (Some(2), 1));
    assert_eq!(m.place, Place::Header("authorization".into()));
    assert_eq!(m.variable, "BEARER_KEY");
    assert_eq!(m.coordinate, "secret:dev/test/bearer");
    assert_eq!(m.host, "api.example.test");
}

#[test]
fn after_unregister_the_token_and_placeholders_are_dead() {
    let f = fixture();
    let a = swap(bearer(), CANARY);
    let a_ph = a.placeholder.clone();
    f.proxy.register(grant(1, "tok-a", Egress::Open, vec![a]));
    f.proxy
        .register(grant(2, "tok-b", Egress::Open, vec![swap(bearer(), OTHER)]));
    f.proxy.unregister(1);
    let auth = format!("Authorization: Bearer {a_ph}");
    let out = f.curl(
        Some("tok-a"),
        false,
        &["-H", &auth, "https://api.example.test/echo"],
    );
    assert_eq!(out.connect_status, 407, "{out:?}");
    let mut c = curl_cmd();
    c.args(["-H", &auth]).arg(format!(
        "http://{}/kovra/tok-a/bearer/v1/echo",
        f.proxy.addr()
    ));
    assert_eq!(run_curl(c).status, 404);
    // Run B's request carrying A's old placeholder goes out untouched: nothing to swap.
    let out = f.curl(
        Some("tok-b"),
        false,
        &["-H", &auth, "https://api.example.test/echo"],
    );
    assert_eq!(out.status, 200, "{out:?}");
    assert!(!f.upstream.seen_any(CANARY));
    assert_eq!(
        f.upstream.seen()[0].header("authorization").unwrap(),
        format!("Bearer {a_ph}")
    );
}

#[test]
fn a_placeholder_towards_another_host_in_header_query_or_body_is_refused() {
    let f = fixture();
    let a = swap(bearer(), CANARY);
    let a_ph = a.placeholder.clone();
    let h = swap(header(), OTHER);
    f.proxy.register(grant(1, "tok", Egress::Open, vec![a, h]));
    let hdr = format!("x-forward: {a_ph}");
    // In the clear to a host nobody pins, and inside a tunnel to another provider's host.
    for (url, host) in [
        ("http://other.example.test/echo", "other.example.test"),
        ("https://hdr.example.test/echo", "hdr.example.test"),
    ] {
        let before = f.misuses().len();
        let out = f.curl(Some("tok"), false, &["-H", &hdr, url]);
        assert_eq!(out.status, 403, "{out:?}");
        let q = format!("{url}?next={a_ph}");
        assert_eq!(f.curl(Some("tok"), false, &[&q]).status, 403);
        let m = f.misuses();
        assert_eq!(m.len(), before + 2, "{m:?}");
        assert_eq!(m[before].place, Place::Header("x-forward".into()));
        assert_eq!(m[before + 1].place, Place::Query);
        assert!(m[before..].iter().all(|e| e.host == host && e.owner == 1));
    }
    // A body is scanned as it streams; the body towards a host that does not resolve never
    // leaves at all, so the intercepted host shows the refusal.
    let body = format!("{{\"key\":\"{a_ph}\"}}");
    let out = f.curl(
        Some("tok"),
        true,
        &["-d", &body, "https://hdr.example.test/echo"],
    );
    assert_eq!(out.status, 403, "{out:?}");
    let last = f.misuses().pop().unwrap();
    assert_eq!(
        (last.place, last.host.as_str()),
        (Place::Body, "hdr.example.test")
    );
    assert!(!f.upstream.seen_any(&a_ph), "{:?}", f.upstream.seen());
}

#[test]
fn a_placeholder_late_in_a_big_body_stops_the_upload_before_it() {
    let f = fixture();
    let a = swap(bearer(), CANARY);
    let a_ph = a.placeholder.clone();
    let h = swap(header(), OTHER);
    let h_ph = h.placeholder.clone();
    f.proxy.register(grant(1, "tok", Egress::Open, vec![a, h]));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("up.bin");
    let mut body = "y".repeat(2 * 1024 * 1024);
    body.push_str(&a_ph);
    body.push_str("tail");
    std::fs::write(&file, body).unwrap();
    let at = format!("@{}", file.display());
    let key = format!("x-api-key: {h_ph}");
    for h1 in [true, false] {
        let out = f.curl(
            Some("tok"),
            h1,
            &[
                "-H",
                &key,
                "--data-binary",
                &at,
                "https://hdr.example.test/up",
            ],
        );
        assert!(
            out.status == 403 || out.status == 0 || out.status == 502,
            "{out:?}"
        );
    }
    assert!(!f.upstream.seen_any(&a_ph));
    assert!(f.misuses().iter().all(|m| m.place == Place::Body));
    assert_eq!(f.misuses().len(), 2);
}

#[test]
fn a_placeholder_in_the_connect_target_is_refused() {
    let f = fixture();
    let a_ph = f.one_run(bearer(), CANARY);
    let url = format!("https://{a_ph}.example.test/echo");
    let out = f.curl(Some("tok"), false, &[&url]);
    assert_eq!(out.connect_status, 403, "{out:?}");
    assert_eq!(f.misuses()[0].place, Place::ConnectTarget);
}

#[test]
fn pinned_only_refuses_other_tunnels_and_open_passes_them_untouched() {
    let f = fixture();
    let a = swap(bearer(), CANARY);
    let a_ph = a.placeholder.clone();
    f.proxy.register(grant(1, "open", Egress::Open, vec![a]));
    f.proxy.register(grant(
        2,
        "pinned",
        Egress::PinnedOnly,
        vec![swap(bearer(), OTHER)],
    ));
    // The test upstream's certificate also names 127.0.0.1; the tunnel uses normal routing.
    let url = format!("https://127.0.0.1:{}/echo", f.upstream.addr.port());
    let out = f.curl(Some("pinned"), false, &[&url]);
    assert_eq!(out.connect_status, 403, "{out:?}");
    let out = f.curl(Some("pinned"), false, &["http://other.example.test/echo"]);
    assert_eq!(out.status, 403, "{out:?}");
    assert!(f.upstream.seen().is_empty());
    let auth = format!("Authorization: Bearer {a_ph}");
    let out = f.curl(Some("open"), false, &["-H", &auth, &url]);
    assert_eq!(out.status, 200, "{out:?}");
    // A tunnel is opaque: the placeholder arrives as the child sent it.
    assert_eq!(
        f.upstream.seen()[0].header("authorization").unwrap(),
        format!("Bearer {a_ph}")
    );
    assert!(!f.upstream.seen_any(CANARY));
}

#[test]
fn the_inner_host_header_cannot_steer_an_intercepted_request() {
    let f = fixture();
    let a_ph = f.one_run(bearer(), CANARY);
    let auth = format!("Authorization: Bearer {a_ph}");
    let out = f.curl(
        Some("tok"),
        true,
        &[
            "-H",
            &auth,
            "-H",
            "Host: other.example.test",
            "https://api.example.test/echo",
        ],
    );
    assert_eq!(out.status, 200, "{out:?}");
    // The TLS name the proxy used towards the upstream was the CONNECT host's (the test
    // upstream answers every name, so check the upstream saw the CONNECT host's authority).
    let seen = &f.upstream.seen()[0];
    let host = seen.header("host").unwrap_or_default();
    assert!(host.is_empty() || host == "api.example.test", "{host}");
}

#[test]
fn a_tls_name_other_than_the_connect_host_fails_the_handshake() {
    let f = fixture();
    let a_ph = f.one_run(bearer(), CANARY);
    // CONNECT api.example.test (pinned), but the TLS name asks for other.example.test.
    let auth = format!("Authorization: Bearer {a_ph}");
    let out = f.curl(
        Some("tok"),
        false,
        &[
            "--connect-to",
            "other.example.test:443:api.example.test:443",
            "-H",
            &auth,
            "https://other.example.test/echo",
        ],
    );
    assert_eq!(out.connect_status, 200, "{out:?}");
    assert_ne!(out.code, 0, "{out:?}");
    assert!(f.upstream.seen().is_empty());
}

#[test]
fn open_egress_forwards_plain_http_after_the_scan() {
    let f = fixture();
    let a_ph = f.one_run(bearer(), CANARY);
    let url = format!("http://{}/echo", f.upstream.plain_addr);
    let out = f.curl(
        Some("tok"),
        true,
        &["-H", "x-hello: yes", "-d", "plain body", &url],
    );
    assert_eq!(out.status, 200, "{out:?}");
    let seen = &f.upstream.seen()[0];
    assert_eq!(seen.header("x-hello").unwrap(), "yes");
    assert!(seen.header("proxy-authorization").is_none());
    assert_eq!(seen.body, b"plain body");
    // A placeholder in the streamed body stops the upload and is reported.
    let mut body = "p".repeat(300 * 1024);
    body.push_str(&a_ph);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("b.bin");
    std::fs::write(&file, body).unwrap();
    let at = format!("@{}", file.display());
    let out = f.curl(Some("tok"), true, &["--data-binary", &at, &url]);
    assert_eq!(out.status, 403, "{out:?}");
    assert_eq!(f.misuses()[0].place, Place::Body);
    assert!(!f.upstream.seen_any(&a_ph));
}

#[test]
fn a_base_url_sent_through_the_proxy_still_works() {
    let f = fixture();
    let p = bearer();
    let a = swap(p.clone(), CANARY);
    let a_ph = a.placeholder.clone();
    f.proxy
        .register(grant(1, "tok", Egress::PinnedOnly, vec![a]));
    // A child with HTTP_PROXY set sends its base-URL request to the proxy in absolute form.
    let url = format!("{}/echo", f.proxy.base_url("tok", &p).as_str());
    let auth = format!("Authorization: Bearer {a_ph}");
    let out = f.curl(Some("tok"), true, &["-H", &auth, &url]);
    assert_eq!(out.status, 200, "{out:?}");
    assert!(!out.body.contains(CANARY));
    assert_eq!(f.upstream.seen()[0].path, "/v1/echo");
    assert_eq!(
        f.upstream.seen()[0].header("authorization").unwrap(),
        format!("Bearer {CANARY}")
    );
}
