//! The broker over MCP: the `api` and `providers` tools through the official Python SDK.

use super::*;

// ---------------------------------------------------------------------------------------
// The broker over MCP: the `api` and `providers` tools through the official Python SDK
// ---------------------------------------------------------------------------------------

/// Run tests/support/mcp_api_client.py (the `mcp` SDK, stdio client launching `kovra mcp`)
/// against this home, with `canaries` (tag, value) in a fixture file outside the home.
fn mcp_api_client(b: &Broker, canaries: &[(&str, &str)]) -> Output {
    require_python_module("mcp");
    let fixture = b.h.root.join("mcp-api-canaries.json");
    let doc = serde_json::json!({
        "canaries": canaries
            .iter()
            .map(|(t, v)| (t.to_string(), Value::String(v.to_string())))
            .collect::<serde_json::Map<_, _>>()
    });
    std::fs::write(&fixture, doc.to_string()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/mcp_api_client.py");
    let mut py = Command::new("timeout");
    py.args(["300", "python3"])
        .arg(script)
        .arg(kovra_bin())
        .arg(&fixture)
        .current_dir(&b.h.root);
    // The home's environment, test upstream and CA included (`Broker::cmd`).
    let out = b.h.run_with(b.with_env(py), None);
    let _ = std::fs::remove_file(&fixture);
    out
}

#[test]
fn the_python_mcp_client_calls_the_broker_and_never_sees_a_credential() {
    let b = Broker::new();
    for p in ["app", "other"] {
        b.expect(0, &["project", "create", p]);
    }
    let openai = token_canary("mcpopenai");
    let prod = token_canary("mcpprod");
    let ci = token_canary("mcpci");
    let misc = token_canary("mcpmisc");
    let other = token_canary("mcpother");
    let global = token_canary("mcpglobal");
    let app = ["--project", "app"];
    b.add(OPENAI, &openai, &app);
    b.add("secret:prod/openai/openai_api_key", &prod, &app);
    b.add(
        "secret:dev/tools/ci_token",
        &ci,
        &["--project", "app", "--provider", "openai"],
    );
    b.add("secret:dev/misc/token", &misc, &app);
    b.add(OPENAI, &other, &["--project", "other"]);
    b.add("secret://global/dev/openai/openai_api_key", &global, &[]);
    let canaries = [
        ("openai", openai.as_str()),
        ("prod", prod.as_str()),
        ("ci", ci.as_str()),
        ("misc", misc.as_str()),
        ("other", other.as_str()),
        ("global", global.as_str()),
    ];

    let out = mcp_api_client(&b, &canaries);
    for (tag, value) in canaries {
        assert_clean(&format!("mcp_api_client ({tag})"), &out, value);
    }
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let summary = stdout(&out);
    assert!(summary.contains("no canary leaked"), "{}", describe(&out));
    eprintln!("mcp_api_client: {}", summary.trim());

    // The calls the agent made did go out, with the credential, to the pinned host; every
    // refused one (forbidden headers, bad paths, production, out of scope, wrong pin) did not.
    let reqs = b.up.requests();
    let paths: Vec<&str> = reqs.iter().map(|r| r["path"].as_str().unwrap()).collect();
    assert_eq!(
        paths,
        ["/v1/echo", "/v1/encodings", "/v1/headers", "/v1/echo"],
        "{reqs:?}"
    );
    for (i, r) in reqs.iter().enumerate() {
        let key = if i == 3 { &ci } else { &openai };
        assert_bearer(r, key);
        assert_eq!(r["sni"], "api.openai.com", "{r}");
    }
    let first = &reqs[0];
    assert_eq!(first["method"], "POST", "{first}");
    assert_eq!(first["query"], "limit=2", "{first}");
    assert_eq!(
        req_header(first, "x-custom").as_deref(),
        Some("yes"),
        "{first}"
    );
    assert_eq!(first["body"], r#"{"hello":"world"}"#, "{first}");
    let wire = serde_json::to_string(&reqs).unwrap();
    for (tag, value) in [
        ("prod", &prod),
        ("misc", &misc),
        ("other", &other),
        ("global", &global),
    ] {
        assert!(
            !wire.contains(value.as_str()),
            "the {tag} credential was sent"
        );
    }
    assert_eq!(b.second.count(), 0, "{:?}", b.second.requests());

    // The audit trail has the agent's calls and refusals, and no value.
    let (code, v, audit) = b.json(&["audit"]);
    assert_eq!(code, 0, "{}", describe(&audit));
    for (tag, value) in canaries {
        assert_absent(
            &audit.stdout,
            value,
            &format!("the audit trail (canary {tag})"),
        );
    }
    let entries = v["entries"].as_array().unwrap();
    let api: Vec<String> = entries
        .iter()
        .filter(|e| e["action"] == "api")
        .map(|e| e.to_string())
        .collect();
    assert!(
        api.iter()
            .any(|e| e.contains("/v1/encodings") && e.contains("mcp")),
        "no api entry from the MCP surface: {api:?}"
    );
    assert!(
        api.iter()
            .any(|e| e.contains("secret:prod/openai/openai_api_key")),
        "the production attempt is not audited: {api:?}"
    );

    for (_, value) in canaries {
        b.assert_nowhere(value);
    }
}
