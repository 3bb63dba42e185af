//! Refusals and failures: caller credentials, bad headers, queries and paths are refused
//! before any connection; upstream errors, timeouts and bad certificates are reported
//! without the credential.

use super::*;

// ---------------------------------------------------------------------------------------
// (e) caller credentials and bad headers / query
// ---------------------------------------------------------------------------------------

#[test]
fn caller_credential_headers_and_queries_are_refused_before_any_connection() {
    let (b, key) = Broker::with_openai_key("callerhdr");
    let base = ["api", "openai", "GET", "/v1/echo"];
    for (flag, arg, code) in [
        ("-H", "Authorization: Bearer x", "header-forbidden"),
        ("-H", "authorization: Basic eDp5", "header-forbidden"),
        ("-H", "x-api-key: y", "header-forbidden"),
        ("-H", "Cookie: a=b", "header-forbidden"),
        ("-H", "Proxy-Authorization: Basic eDp5", "header-forbidden"),
        ("-H", "Private-Token: z", "header-forbidden"),
        ("-H", "Host: evil.test", "header-invalid"),
        ("-H", "Content-Length: 5", "header-invalid"),
        ("-H", "Transfer-Encoding: chunked", "header-invalid"),
        ("-H", "Connection: close", "header-invalid"),
        ("-q", "access_token=x", "query-forbidden"),
    ] {
        let mut args = base.to_vec();
        args.extend([flag, arg]);
        b.refused_without(&key, 2, code, &args);
    }
    assert_eq!(b.up.count(), 0, "{:?}", b.up.requests());
    // The same call without them goes through (the upstream was reachable all along).
    b.expect(0, &base);
    assert_eq!(b.up.count(), 1);
    b.assert_nowhere(&key);
}

// ---------------------------------------------------------------------------------------
// (f) paths
// ---------------------------------------------------------------------------------------

#[test]
fn traversal_and_encoded_separators_in_paths_are_refused() {
    let (b, key) = Broker::with_openai_key("path");
    for path in [
        "/v1/../../etc/passwd",
        "/v1/%2e%2e/x",
        "/v1/%2E%2E/x",
        "/v1/%252e%252e/x",
        "/v1/./x",
        "/v1/a%2fb",
        "/v1/a%2Fb",
        "/v1/a%252fb",
        "/v1/a%5cb",
        "/v1/a\\b",
        "/v1//x",
        "/v1/x?y=1",
        "/v1/x#frag",
        "v1/x",
        "/v1/..",
    ] {
        b.refused_without(&key, 2, "path-invalid", &["api", "openai", "GET", path]);
    }
    assert_eq!(b.up.count(), 0, "{:?}", b.up.requests());
    b.expect(0, &api("openai", "GET", "/v1/echo"));
    let reqs = b.up.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0]["target"], "/v1/echo", "sent exactly as checked");
}

// ---------------------------------------------------------------------------------------
// (i) bad input and upstream failures
// ---------------------------------------------------------------------------------------

#[test]
fn bad_requests_are_refused_with_their_codes_before_any_connection() {
    let b = Broker::new();
    // No record yet: no-credential, naming what it looked for.
    let e = b.refused(3, "no-credential", &api("openai", "GET", "/v1/echo"));
    assert!(e["message"].as_str().unwrap().contains(OPENAI), "{e}");

    let key = b.openai_key("bad");
    let big = b.h.root.join("big.json");
    let mut body = String::from("{\"pad\":\"");
    body.push_str(&"a".repeat(512 * 1024 + 16));
    body.push_str("\"}");
    std::fs::write(&big, &body).unwrap();
    let big = big.display().to_string();
    let none: &[&str] = &[];
    for (exit, code, provider, method, path, extra) in [
        (
            3,
            "unknown-provider",
            "no-such-provider",
            "GET",
            "/v1/echo",
            none,
        ),
        (2, "capability-denied", "openai", "PUT", "/v1/echo", none),
        (2, "capability-denied", "openai", "PATCH", "/v1/echo", none),
        (2, "capability-denied", "openai", "GET", "/v2/echo", none),
        (2, "capability-denied", "openai", "GET", "/v1", none),
        (2, "method-invalid", "openai", "TRACE", "/v1/echo", none),
        (2, "method-invalid", "openai", "CONNECT", "/v1/echo", none),
        (
            2,
            "body-too-large",
            "openai",
            "POST",
            "/v1/echo",
            &["--body-file", big.as_str()],
        ),
        (
            2,
            "body-invalid",
            "openai",
            "POST",
            "/v1/echo",
            &["--body", "not json"],
        ),
    ] {
        let mut args = api(provider, method, path).to_vec();
        args.extend_from_slice(extra);
        b.refused_without(&key, exit, code, &args);
    }
    // A --secret that names no record.
    let (code, v, out) = b.json(&echo_with("secret:dev/openai/nope"));
    assert_eq!(code, 3, "{}", describe(&out));
    assert!(
        v["error"]["code"] == "not-found" || v["error"]["code"] == "no-credential",
        "{v}"
    );
    assert_eq!(b.up.count(), 0, "{:?}", b.up.requests());
    // 512 KiB exactly is fine.
    let mut ok = String::from("{\"pad\":\"");
    ok.push_str(&"a".repeat(512 * 1024 - 10));
    ok.push_str("\"}");
    assert_eq!(ok.len(), 512 * 1024);
    let f = b.h.root.join("ok.json");
    std::fs::write(&f, &ok).unwrap();
    b.expect(
        0,
        &[
            "api",
            "openai",
            "POST",
            "/v1/echo",
            "--body-file",
            f.to_str().unwrap(),
        ],
    );
    assert_eq!(b.up.count(), 1);
    b.assert_nowhere(&key);
}

#[test]
fn upstream_errors_timeouts_and_oversized_responses_are_reported_without_the_credential() {
    let (b, key) = Broker::with_openai_key("upfail");

    // 404: exit 1, the body still printed, a note on stderr.
    let out = b.expect(1, &api("openai", "GET", "/v1/status404"));
    assert_contains(&stderr(&out), "HTTP 404 from api.openai.com", &out);
    assert_contains(&stdout(&out), "not found", &out);
    assert_clean("404", &out, &key);
    assert!(stdout(&out).contains(MARK_OPENAI), "{}", describe(&out));
    let (code, v, out) = b.json(&api("openai", "GET", "/v1/status404"));
    assert_eq!(code, 1, "{}", describe(&out));
    assert_eq!(v["status"], 404, "{v}");

    assert_clean("404", &out, &key);
    assert!(v["body"].as_str().unwrap().contains(MARK_OPENAI), "{v}");

    // A body that is not UTF-8 comes back as base64, scrubbed before encoding.
    let (v, out) = b.json_ok(&api("openai", "GET", "/v1/binary"));
    assert_clean("binary --json", &out, &key);
    assert!(v["body"].is_null(), "{v}");
    let raw = STANDARD
        .decode(
            v["body_base64"]
                .as_str()
                .unwrap_or_else(|| panic!("no body_base64: {v}")),
        )
        .unwrap();
    assert_absent(&raw, &key, "the decoded body");
    assert!(contains(&raw, MARK_OPENAI.as_bytes()), "{raw:?}");
    assert!(raw.starts_with(b"\xff\xfe\x00binary:"), "{raw:?}");
    let out = b.expect(0, &api("openai", "GET", "/v1/binary"));
    assert_clean("binary", &out, &key);
    assert!(
        out.stdout.starts_with(b"\xff\xfe\x00binary:"),
        "{:?}",
        out.stdout
    );

    // Slow upstream, short timeout.
    let t = Instant::now();
    let e = b.refused(
        1,
        "upstream-timeout",
        &["api", "openai", "GET", "/v1/slow", "--timeout", "1"],
    );
    let took = t.elapsed();
    assert!(
        took < Duration::from_millis(4500),
        "the timeout took {took:?}"
    );
    assert!(!e.to_string().contains(&key), "{e}");

    // 9 MiB response.
    b.refused_without(
        &key,
        1,
        "response-too-large",
        &api("openai", "GET", "/v1/big"),
    );
    // They all reached the upstream (so these are upstream failures, not refusals).
    assert_eq!(b.up.count(), 6, "{:?}", b.up.requests());
    b.assert_nowhere(&key);
}

#[test]
fn an_upstream_that_is_not_listening_is_unreachable() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let b = Broker::with(|dir, _| {
        Some((
            format!("127.0.0.1:{port}"),
            dir.join("t-ca.pem").display().to_string(),
        ))
    });
    let key = b.openai_key("unreach");
    b.refused_without(
        &key,
        1,
        "upstream-unreachable",
        &api("openai", "GET", "/v1/echo"),
    );
    assert_eq!(b.up.count(), 0);
    b.assert_nowhere(&key);
}

#[test]
fn an_upstream_whose_certificate_is_not_from_the_trusted_ca_fails_tls_without_the_credential() {
    let b = Broker::with(|dir, port| {
        let other = make_pki(dir, "other");
        Some((format!("127.0.0.1:{port}"), other.ca.display().to_string()))
    });
    let key = b.openai_key("tls");
    b.refused_without(&key, 1, "upstream-tls", &api("openai", "GET", "/v1/echo"));
    // The handshake failed, so no request was ever logged.
    assert_eq!(b.up.count(), 0, "{:?}", b.up.requests());
    b.assert_nowhere(&key);
}

/// A record named as the provider file spells the variable (`OPENAI_API_KEY`) is claimed by
/// the provider whatever the case, and `kovra api` finds it without `--secret` too.
#[test]
fn a_claimed_name_in_upper_case_is_found_by_api() {
    let b = Broker::new();
    let key = token_canary("upper");
    b.add("secret:dev/openai/OPENAI_API_KEY", &key, &[]);
    b.expect(0, &api("openai", "GET", "/v1/echo"));
    let reqs = b.up.requests();
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    assert_bearer(&reqs[0], &key);
}
