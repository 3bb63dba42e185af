//! Scrubbing: the credential goes on the wire and never comes back, in any encoding,
//! across stream chunks, in response headers, through redirects, or past headers that
//! would defeat the scrubber.

use super::*;

// ---------------------------------------------------------------------------------------
// (a) echo
// ---------------------------------------------------------------------------------------

#[test]
fn echo_via_openai_sends_the_bearer_credential_and_scrubs_it_from_the_response() {
    let (b, key) = Broker::with_openai_key("openai");
    let out = b.expect(
        0,
        &[
            "api",
            "openai",
            "POST",
            "/v1/echo",
            "--body",
            r#"{"hello":"world"}"#,
            "-q",
            "limit=2",
            "-H",
            "X-Custom: yes",
        ],
    );
    assert_clean("echo", &out, &key);
    let echo: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("the echo is not JSON ({e}): {}", describe(&out)));
    assert_eq!(echo["method"], "POST", "{echo}");
    assert_eq!(echo["path"], "/v1/echo", "{echo}");
    assert_eq!(echo["query"], "limit=2", "{echo}");
    assert!(echo["body"].as_str().unwrap().contains("world"), "{echo}");
    let echoed = echo.to_string();
    assert!(
        echoed.contains(MARK_OPENAI),
        "no scrub marker in the echo: {echo}"
    );

    // The credential did go out, on the wire, to the pinned host name.
    let reqs = b.up.requests();
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    let r = &reqs[0];
    assert_bearer(r, &key);
    assert_eq!(r["sni"], "api.openai.com", "{r}");
    let host = req_header(r, "host").unwrap_or_default();
    assert!(
        host == "api.openai.com" || host == "api.openai.com:443",
        "host {host:?}"
    );
    assert_eq!(req_header(r, "x-custom").as_deref(), Some("yes"), "{r}");
    assert!(
        req_header(r, "content-type").is_some_and(|c| c.starts_with("application/json")),
        "--body must set content-type: {r}"
    );
    assert_eq!(r["body"], r#"{"hello":"world"}"#, "{r}");

    // A body from stdin.
    let out = b.run_stdin(
        &["api", "openai", "POST", "/v1/echo", "--body-file", "-"],
        br#"{"from":"stdin"}"#,
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_clean("stdin body", &out, &key);
    assert_eq!(b.up.requests()[1]["body"], r#"{"from":"stdin"}"#);

    // The --json form.
    let (v, out) = b.json_ok(&api("openai", "GET", "/v1/echo"));
    assert_clean("echo --json", &out, &key);
    assert_eq!(v["status"], 200, "{v}");
    assert_eq!(v["host"], "api.openai.com", "{v}");
    assert_eq!(v["coordinate"], OPENAI, "{v}");
    assert!(v["duration_ms"].is_u64(), "{v}");
    let body = v["body"].as_str().unwrap_or_else(|| panic!("no body: {v}"));
    assert!(body.contains(MARK_OPENAI), "{v}");
    assert!(
        v["headers"].as_array().unwrap().iter().any(|kv| kv[0]
            .as_str()
            .is_some_and(|k| k.eq_ignore_ascii_case("content-type"))),
        "{v}"
    );
    assert_eq!(b.up.count(), 3);
    b.assert_nowhere(&key);
}

// ---------------------------------------------------------------------------------------
// (b) every encoding, split across stream chunks
// ---------------------------------------------------------------------------------------

#[test]
fn every_encoding_of_the_credential_is_scrubbed_across_stream_chunks() {
    let (b, key) = Broker::with_openai_key("enc");
    let out = b.expect(0, &api("openai", "GET", "/v1/encodings"));
    assert_eq!(b.up.count(), 1);
    assert!(
        out.stdout.len() > 15 * 200 * 1024,
        "short body: {} bytes",
        out.stdout.len()
    );
    assert!(out.stdout.ends_with(b"end\n"), "the body was cut short");
    assert_absent(&out.stdout, &key, "the streamed body");
    assert_absent(&out.stderr, &key, "stderr");
    // Each labelled line was rewritten to the marker, not dropped or mangled.
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('.'))
        .collect();
    let labelled: Vec<&&str> = lines.iter().filter(|l| l.contains(": ")).collect();
    assert_eq!(labelled.len(), 15, "{lines:?}");
    for l in labelled {
        assert!(l.contains(MARK_OPENAI), "not scrubbed to the marker: {l}");
    }
    // The padding survived unchanged.
    let dots = out.stdout.iter().filter(|&&c| c == b'.').count();
    assert!(dots >= 15 * 200 * 1024, "{dots} padding bytes");
    b.assert_nowhere(&key);
}

// ---------------------------------------------------------------------------------------
// (c) response headers
// ---------------------------------------------------------------------------------------

#[test]
fn credential_response_headers_are_removed_and_the_rest_scrubbed() {
    let (b, key) = Broker::with_openai_key("hdr");

    let out = b.expect(0, &["api", "openai", "GET", "/v1/headers", "--include"]);
    assert_clean("--include", &out, &key);
    let text = stdout(&out);
    let (head, body) = text
        .split_once("\n\n")
        .or_else(|| text.split_once("\r\n\r\n"))
        .unwrap_or_else(|| panic!("no blank line after the headers: {text}"));
    let mut lines = head.lines();
    let first = lines.next().unwrap_or_default().trim();
    assert!(first.starts_with("HTTP") && first.contains("200"), "{text}");
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (k, v) = l
                .split_once(':')
                .unwrap_or_else(|| panic!("header line {l:?}"));
            (k.trim().to_ascii_lowercase(), v.trim().to_string())
        })
        .collect();
    for gone in ["set-cookie", "www-authenticate"] {
        assert!(
            !headers.iter().any(|(k, _)| k == gone),
            "{gone} was not removed: {text}"
        );
    }
    let echo = headers
        .iter()
        .find(|(k, _)| k == "x-echo-auth")
        .unwrap_or_else(|| panic!("x-echo-auth dropped instead of scrubbed: {text}"));
    assert!(echo.1.contains(MARK_OPENAI), "x-echo-auth: {:?}", echo.1);
    assert!(
        headers
            .iter()
            .any(|(k, v)| k == "x-plain" && v == "kept-header-value"),
        "{text}"
    );
    assert!(body.contains(r#"{"headers":"sent"}"#), "{text}");

    let (v, out) = b.json_ok(&api("openai", "GET", "/v1/headers"));
    assert_clean("headers --json", &out, &key);
    let removed: Vec<String> = v["removed_headers"]
        .as_array()
        .unwrap_or_else(|| panic!("no removed_headers: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_ascii_lowercase())
        .collect();
    assert!(removed.contains(&"set-cookie".to_string()), "{v}");
    assert!(removed.contains(&"www-authenticate".to_string()), "{v}");
    let hs = v["headers"].as_array().unwrap();
    assert!(
        !hs.iter().any(|kv| {
            let k = kv[0].as_str().unwrap().to_ascii_lowercase();
            k == "set-cookie" || k == "www-authenticate"
        }),
        "{v}"
    );
    assert!(
        hs.iter().any(
            |kv| kv[0].as_str().unwrap().eq_ignore_ascii_case("x-echo-auth")
                && kv[1].as_str().unwrap().contains(MARK_OPENAI)
        ),
        "{v}"
    );
    // The upstream did send the credential back in that header (so the test can fail).
    assert_eq!(b.up.count(), 2);
    assert!(!contains(&b.h.transcript.borrow(), b"kovra-test-session"));
    b.assert_nowhere(&key);
}

// ---------------------------------------------------------------------------------------
// (d) redirects
// ---------------------------------------------------------------------------------------

#[test]
fn redirects_come_back_to_the_caller_and_are_never_followed() {
    let (b, key) = Broker::with_openai_key("redir");
    let location = format!("https://second.test:{}/steal", b.second.port);

    let out = b.expect(0, &api("openai", "GET", "/v1/redirect"));
    assert_clean("redirect", &out, &key);
    let err = stderr(&out);
    assert!(
        err.contains("HTTP 302")
            && err.contains("api.openai.com")
            && err.contains(&location)
            && err.contains("not followed"),
        "{}",
        describe(&out)
    );

    let (v, _) = b.json_ok(&api("openai", "GET", "/v1/redirect"));
    assert_eq!(v["status"], 302, "{v}");
    assert!(
        v["headers"].as_array().unwrap().iter().any(|kv| {
            kv[0].as_str().unwrap().eq_ignore_ascii_case("location") && kv[1] == location.as_str()
        }),
        "{v}"
    );
    // A location holding the credential is scrubbed, on stderr and in the headers.
    let out = b.expect(0, &api("openai", "GET", "/v1/redirect-leak"));
    assert_clean("redirect-leak", &out, &key);
    assert_contains(&stderr(&out), "HTTP 302", &out);
    let (v, out) = b.json_ok(&api("openai", "GET", "/v1/redirect-leak"));
    assert_clean("redirect-leak --json", &out, &key);
    assert!(v.to_string().contains(MARK_OPENAI), "{v}");

    // The upstreams log each request before answering it, so a followed redirect would be in
    // the second one's log before `kovra api` returned. And the daemon has answered a later
    // call since, so nothing of those four calls is still under way.
    let out = b.expect(0, &api("openai", "GET", "/v1/echo"));
    assert_clean("a later call", &out, &key);
    assert_eq!(b.second.count(), 0, "{:?}", b.second.requests());
    let reqs = b.up.requests();
    assert_eq!(reqs.len(), 5, "{reqs:?}");
    assert!(
        reqs[..4]
            .iter()
            .all(|r| r["path"] == "/v1/redirect" || r["path"] == "/v1/redirect-leak"),
        "{reqs:?}"
    );
    assert_eq!(reqs[4]["path"], "/v1/echo", "{reqs:?}");
    b.assert_nowhere(&key);
}

// ---------------------------------------------------------------------------------------
// What would carry the credential past the scrubber: encodings, ranges, overrides
// ---------------------------------------------------------------------------------------

#[test]
fn headers_that_defeat_scrubbing_are_the_brokers_and_unscrubbable_responses_are_withheld() {
    let (b, key) = Broker::with_openai_key("unscrub");
    let base = ["api", "openai", "GET", "/v1/echo"];
    // A compressed or partial body could carry the credential past the scrubber; an override
    // could change the method or target after the capability check.
    for h in [
        "Accept-Encoding: gzip",
        "accept-encoding: br",
        "Range: bytes=0-10",
        "If-Range: x",
        "X-HTTP-Method-Override: DELETE",
        "x_http_method_override: DELETE",
        "X-Forwarded-Host: evil",
        "Forwarded: host=evil",
        "x_api_key: y",
    ] {
        let mut args = base.to_vec();
        args.extend(["-H", h]);
        let (code, v, out) = b.json(&args);
        assert_eq!(code, 2, "-H {h:?}: {}", describe(&out));
        assert!(
            v["error"]["code"] == "header-invalid" || v["error"]["code"] == "header-forbidden",
            "-H {h:?}: {v}"
        );
        assert!(!v.to_string().contains(&key), "{v}");
    }
    assert_eq!(b.up.count(), 0, "{:?}", b.up.requests());

    // The broker asks for the identity encoding itself.
    b.expect(0, &base);
    let reqs = b.up.requests();
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    assert_eq!(
        req_header(&reqs[0], "accept-encoding").as_deref(),
        Some("identity"),
        "{}",
        reqs[0]
    );

    // An upstream that compresses anyway, or answers with a range: withheld, not scrubbed.
    for (path, what) in [("/v1/gzip", "gzip"), ("/v1/partial", "partial")] {
        let (code, v, out) = b.json(&api("openai", "GET", path));
        assert_ne!(code, 0, "{what}: {}", describe(&out));
        assert_eq!(
            v["error"]["code"],
            "response-unscrubbable",
            "{what}: {}",
            describe(&out)
        );
        assert_clean(what, &out, &key);
        let out = b.run(&api("openai", "GET", path));
        assert_ne!(out.status.code(), Some(0), "{what}: {}", describe(&out));
        assert!(
            stderr(&out).contains("response-unscrubbable"),
            "{what}: {}",
            describe(&out)
        );
        assert_clean(what, &out, &key);
        let out = b.run(&["api", "openai", "GET", path, "--include"]);
        assert_ne!(out.status.code(), Some(0), "{what}: {}", describe(&out));
        assert_clean(what, &out, &key);
    }
    // Half the credential (the partial body) was printed nowhere either.
    let half = &key[..key.len() / 2];
    assert!(
        !contains(&b.h.transcript.borrow(), half.as_bytes()),
        "a piece of the credential was printed"
    );
    // They did reach the upstream, asking for the identity encoding, with the credential.
    let reqs = b.up.requests();
    assert_eq!(reqs.len(), 7, "{reqs:?}");
    for r in &reqs {
        assert_eq!(
            req_header(r, "accept-encoding").as_deref(),
            Some("identity"),
            "{r}"
        );
        assert_bearer(r, &key);
    }
    b.assert_nowhere(&key);
}

#[test]
fn a_response_header_named_after_the_credential_is_scrubbed() {
    let b = Broker::new();
    // A valid header-name token (letters, digits, dashes), lower-case as it comes back.
    let key = format!("sk-canary-hname-{}", random_hex(16));
    b.add(OPENAI, &key, &[]);

    let out = b.expect(0, &["api", "openai", "GET", "/v1/headername", "--include"]);
    assert_clean("--include", &out, &key);
    let text = stdout(&out);
    assert!(
        text.lines()
            .any(|l| l.contains(MARK_OPENAI) && l.contains(": 1")),
        "no scrubbed header name: {text}"
    );
    assert!(
        text.to_ascii_lowercase().contains("x-plain: kept"),
        "{text}"
    );

    let (v, out) = b.json_ok(&api("openai", "GET", "/v1/headername"));
    assert_clean("--json", &out, &key);
    let hs = v["headers"].as_array().unwrap();
    assert!(
        hs.iter()
            .any(|kv| kv[0].as_str().unwrap().contains(MARK_OPENAI) && kv[1] == "1"),
        "{v}"
    );
    // The upstream did get the credential (so it could send it back as a name).
    let reqs = b.up.requests();
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    assert_bearer(&reqs[0], &key);
    b.assert_nowhere(&key);
}
