//! Policy around brokered calls: the audit trail, production records, rate limits.

use super::providers::custom_provider;
use super::*;

// ---------------------------------------------------------------------------------------
// (j) audit
// ---------------------------------------------------------------------------------------

#[test]
fn brokered_calls_are_audited_without_values() {
    let (b, key) = Broker::with_openai_key("audit");
    b.expect(
        0,
        &["api", "openai", "POST", "/v1/echo", "--body", r#"{"a":1}"#],
    );
    b.expect(1, &api("openai", "GET", "/v1/status404"));
    b.refused(2, "path-invalid", &api("openai", "GET", "/v1/../x"));
    b.refused(
        1,
        "upstream-timeout",
        &["api", "openai", "GET", "/v1/slow", "--timeout", "1"],
    );

    let (v, out) = b.json_ok(&["audit"]);
    assert_absent(&out.stdout, &key, "the audit trail");
    let entries = v["entries"].as_array().unwrap();
    let of = |action: &str| -> Vec<String> {
        entries
            .iter()
            .filter(|e| e["action"] == action)
            .map(|e| e.to_string())
            .collect()
    };
    let calls = of("api");
    let results = of("api-result");
    assert!(calls.len() >= 2, "api entries: {calls:?}");
    assert!(results.len() >= 2, "api-result entries: {results:?}");
    assert!(
        calls.iter().any(|e| e.contains("openai")
            && e.contains("api.openai.com")
            && e.contains("/v1/echo")
            && e.contains("POST")
            && e.contains(OPENAI)),
        "{calls:?}"
    );
    assert!(results.iter().any(|e| e.contains("200")), "{results:?}");
    assert!(results.iter().any(|e| e.contains("404")), "{results:?}");
    assert!(
        results.iter().any(|e| e.contains("upstream-timeout")),
        "the timeout's api-result names no error code: {results:?}"
    );
    // Neither bodies nor header values.
    let all = v.to_string();
    assert!(
        !all.contains("\\\"a\\\":1"),
        "a body in the audit trail: {all}"
    );
    b.assert_nowhere(&key);
}

// ---------------------------------------------------------------------------------------
// production records
// ---------------------------------------------------------------------------------------

#[test]
fn production_credentials_need_a_proof_of_presence() {
    let b = Broker::new();
    let key = token_canary("prod");
    b.add("secret:prod/openai/openai_api_key", &key, &[]);
    let by_env = ["api", "openai", "GET", "/v1/echo", "--env", "prod"];
    for args in [&by_env[..], &echo_with("secret:prod/openai/openai_api_key")] {
        let out = b.needs_proof(args);
        assert_clean("prod", &out, &key);
    }
    assert_eq!(b.up.count(), 0, "{:?}", b.up.requests());
    // A human at a terminal proves presence and the call goes through, scrubbed.
    let out = b.human(0, &by_env);
    assert_clean("prod, human", &out, &key);
    let reqs = b.up.requests();
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    assert_bearer(&reqs[0], &key);
    b.assert_nowhere(&key);
}

// ---------------------------------------------------------------------------------------
// Rate limits
// ---------------------------------------------------------------------------------------

#[test]
fn a_providers_rate_limit_refuses_calls_beyond_it() {
    let b = Broker::new();
    let limit = "rate_limit = { requests = 2, per_seconds = 3600 }\n\n";
    let file = custom_provider(&b, "limited", "LIMITED_TOKEN", limit);
    b.human(0, &["providers", "add", &file]);
    let key = token_canary("limited");
    b.add("secret:dev/limited/limited_token", &key, &[]);
    b.expect(0, &api("limited", "GET", "/api/echo"));
    b.expect(0, &api("limited", "GET", "/api/echo"));
    b.refused_without(&key, 1, "rate-limited", &api("limited", "GET", "/api/echo"));
    assert_eq!(b.up.count(), 2, "{:?}", b.up.requests());
    // Per provider: openai is not affected.
    let okey = b.openai_key("notlimited");
    b.expect(0, &api("openai", "GET", "/v1/echo"));
    assert_eq!(b.up.count(), 3);
    b.assert_nowhere(&key);
    b.assert_nowhere(&okey);
}
