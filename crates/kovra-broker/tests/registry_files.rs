//! The provider files on disk: each one matches `providers/schema.json`, parses, passes
//! `Provider::validate`, is compiled into the binary, and claims variable names no other
//! provider claims. The schema and the validator are also checked to refuse bad input.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kovra_broker::registry::builtin_files;
use kovra_broker::{Auth, Provider, Registry};
use serde_json::{Value, json};

const REQUIRED: [&str; 20] = [
    "openai",
    "anthropic",
    "github",
    "gitlab",
    "stripe",
    "slack",
    "linear",
    "notion",
    "sentry",
    "cloudflare",
    "vercel",
    "netlify",
    "openrouter",
    "mistral",
    "huggingface",
    "sendgrid",
    "twilio",
    "datadog",
    "pagerduty",
    "telegram",
];

fn providers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("providers")
}

/// Every `*.toml` under `providers/`, as (file name, text), sorted by name.
fn provider_files() -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = std::fs::read_dir(providers_dir())
        .expect("read providers/")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .map(|p| {
            let name = p
                .file_name()
                .and_then(|n| n.to_str())
                .expect("utf-8 file name")
                .to_string();
            let text =
                std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
            (name, text)
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no provider files found");
    files
}

fn schema() -> Value {
    let path = providers_dir().join("schema.json");
    let text = std::fs::read_to_string(&path).expect("read providers/schema.json");
    serde_json::from_str(&text).expect("schema.json is JSON")
}

fn validator() -> jsonschema::Validator {
    jsonschema::validator_for(&schema()).expect("schema.json compiles")
}

fn toml_to_json(file: &str, text: &str) -> Value {
    toml::from_str::<Value>(text).unwrap_or_else(|e| panic!("{file}: not TOML: {e}"))
}

fn parse(file: &str, text: &str) -> Provider {
    Provider::from_toml(text).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// A small provider that passes both the schema and `validate`; negative cases edit it.
fn good() -> Value {
    json!({
        "name": "example",
        "title": "Example",
        "docs": "https://example.com/docs",
        "secrets": ["EXAMPLE_API_KEY"],
        "hosts": ["api.example.com", "*.eu.example.com"],
        "default_host": "api.example.com",
        "rate_limit": { "requests": 10, "per_seconds": 60 },
        "auth": { "kind": "header", "name": "x-api-key", "template": "Key {secret}" },
        "headers": { "Example-Version": "2024-01-01" },
        "capabilities": [
            { "description": "All of v1", "methods": ["GET", "POST"], "paths": ["/v1/"] }
        ]
    })
}

/// The TOML text of a JSON value, for feeding `Provider::from_toml`.
fn to_toml(v: &Value) -> String {
    toml::to_string(v).expect("serialise to TOML")
}

/// Parse without validating, so a refusal below is `validate`'s and not serde's.
fn deserialize(v: &Value) -> Provider {
    toml::from_str(&to_toml(v)).expect("deserialises as a Provider")
}

#[test]
fn schema_is_a_valid_draft_2020_12_schema() {
    let schema = schema();
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    if let Err(e) = jsonschema::meta::validate(&schema) {
        panic!("schema.json breaks its meta-schema: {e}");
    }
}

#[test]
fn every_provider_file_matches_the_schema() {
    let v = validator();
    for (file, text) in provider_files() {
        let doc = toml_to_json(&file, &text);
        let errors: Vec<String> = v
            .iter_errors(&doc)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{file} breaks schema.json:\n{}",
            errors.join("\n")
        );
    }
}

#[test]
fn every_provider_file_parses_validates_and_is_named_after_its_file() {
    for (file, text) in provider_files() {
        let p = parse(&file, &text);
        p.validate().unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(
            format!("{}.toml", p.name),
            file,
            "file name must be NAME.toml"
        );
        assert!(
            p.docs.as_deref().is_some_and(|d| d.starts_with("https://")),
            "{file}: give an https docs URL"
        );
    }
}

#[test]
fn providers_with_several_exact_hosts_name_a_default_host() {
    for (file, text) in provider_files() {
        let p = parse(&file, &text);
        let exact = p.hosts.iter().filter(|h| !h.starts_with("*.")).count();
        if exact != 1 {
            let host = p
                .default_host
                .as_deref()
                .unwrap_or_else(|| panic!("{file}: {exact} exact hosts but no default_host"));
            assert!(
                p.hosts.iter().any(|h| h == host),
                "{file}: default_host not listed"
            );
        }
    }
}

#[test]
fn builtin_registry_holds_every_file_on_disk() {
    let on_disk = provider_files();
    let compiled: Vec<&str> = builtin_files().iter().map(|(n, _)| *n).collect();
    let disk_names: Vec<&str> = on_disk.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        compiled, disk_names,
        "build.rs compiled a different set of files"
    );
    let registry = Registry::builtin();
    for (file, text) in &on_disk {
        let p = parse(file, text);
        let built = registry
            .get(&p.name)
            .unwrap_or_else(|| panic!("{file}: skipped by Registry::builtin()"));
        assert_eq!(
            built, &p,
            "{file}: the compiled copy differs from the file on disk"
        );
    }
    assert_eq!(registry.iter().count(), on_disk.len());
}

#[test]
fn required_providers_are_present() {
    let registry = Registry::builtin();
    let count = registry.iter().count();
    assert!(count >= 20, "only {count} providers");
    for name in REQUIRED {
        assert!(registry.get(name).is_some(), "missing provider `{name}`");
    }
}

#[test]
fn no_variable_name_is_claimed_twice() {
    // Claims match case-insensitively, so compare upper-cased.
    let mut owner: BTreeMap<String, String> = BTreeMap::new();
    for (file, text) in provider_files() {
        let p = parse(&file, &text);
        for s in &p.secrets {
            if let Some(other) = owner.insert(s.to_ascii_uppercase(), p.name.clone()) {
                panic!("`{s}` is claimed by both `{other}` and `{}`", p.name);
            }
        }
    }
    let registry = Registry::builtin();
    for (var, name) in &owner {
        let claimant = registry
            .claimant(&var.to_ascii_lowercase())
            .map(|p| &p.name);
        assert_eq!(
            claimant,
            Some(name),
            "`{var}` resolves to the wrong provider"
        );
    }
}

#[test]
fn known_auth_facts_hold() {
    let registry = Registry::builtin();
    let get = |n: &str| registry.get(n).unwrap_or_else(|| panic!("missing `{n}`"));
    let anthropic = get("anthropic");
    assert_eq!(
        anthropic.auth,
        Auth::Header {
            name: "x-api-key".into(),
            template: "{secret}".into()
        }
    );
    assert_eq!(
        anthropic
            .headers
            .get("anthropic-version")
            .map(String::as_str),
        Some("2023-06-01")
    );
    assert!(get("notion").headers.contains_key("Notion-Version"));
    assert_eq!(
        get("telegram").auth,
        Auth::Path {
            prefix: "/bot{secret}".into()
        }
    );
    assert_eq!(
        get("gemini").auth,
        Auth::Query {
            param: "key".into()
        }
    );
    assert_eq!(get("github").auth, Auth::Bearer);
    assert!(get("github").claims("GH_TOKEN"));
    assert_eq!(
        get("gitlab").auth.header_name().as_deref(),
        Some("private-token")
    );
    assert_eq!(
        get("datadog").auth.header_name().as_deref(),
        Some("dd-api-key")
    );
    assert_eq!(
        get("twilio").auth,
        Auth::Basic {
            username: "{secret.user}".into(),
            password: "{secret.password}".into()
        }
    );
}

#[test]
fn schema_and_validate_accept_the_baseline() {
    let doc = good();
    assert!(validator().is_valid(&doc), "baseline breaks the schema");
    Provider::from_toml(&to_toml(&doc)).expect("baseline passes validate");
}

#[test]
fn schema_rejects_an_unknown_key() {
    let v = validator();
    let mut doc = good();
    doc["colour"] = json!("blue");
    assert!(!v.is_valid(&doc));
    let mut doc = good();
    doc["capabilities"][0]["verbs"] = json!(["GET"]);
    assert!(!v.is_valid(&doc));
    let mut doc = good();
    doc["rate_limit"]["burst"] = json!(5);
    assert!(!v.is_valid(&doc));
    let mut doc = good();
    doc["auth"] = json!({ "kind": "bearer", "name": "x-api-key" });
    assert!(!v.is_valid(&doc), "a field of another auth kind");
}

#[test]
fn schema_rejects_a_bad_name() {
    let v = validator();
    for name in ["", "Example", "ex_ample", "ex ample", &"a".repeat(41)] {
        let mut doc = good();
        doc["name"] = json!(name);
        assert!(!v.is_valid(&doc), "accepted name {name:?}");
    }
}

#[test]
fn schema_rejects_a_bad_method() {
    let v = validator();
    for method in ["get", "TRACE", "CONNECT", ""] {
        let mut doc = good();
        doc["capabilities"][0]["methods"] = json!([method]);
        assert!(!v.is_valid(&doc), "accepted method {method:?}");
    }
    let mut doc = good();
    doc["capabilities"][0]["methods"] = json!([]);
    assert!(!v.is_valid(&doc), "accepted no methods");
}

#[test]
fn schema_rejects_missing_or_malformed_auth() {
    let v = validator();
    let mut doc = good();
    doc.as_object_mut().unwrap().remove("auth");
    assert!(!v.is_valid(&doc), "accepted a provider without auth");
    for auth in [
        json!({ "kind": "cookie" }),
        json!({ "name": "x-api-key" }),
        json!({ "kind": "header" }),
        json!({ "kind": "header", "name": "x-api-key", "template": "static" }),
        json!({ "kind": "query" }),
        json!({ "kind": "basic", "username": "api", "password": "fixed" }),
        json!({ "kind": "path", "prefix": "bot{secret}" }),
        json!({ "kind": "path", "prefix": "/bot{secret}/" }),
    ] {
        let mut doc = good();
        doc["auth"] = auth.clone();
        assert!(!v.is_valid(&doc), "accepted auth {auth}");
    }
}

#[test]
fn schema_rejects_bad_hosts_secrets_and_paths() {
    let v = validator();
    let cases: [(&str, Value); 7] = [
        ("hosts", json!(["API.example.com"])),
        ("hosts", json!(["example"])),
        ("hosts", json!(["https://api.example.com"])),
        ("hosts", json!(["api.*.example.com"])),
        ("hosts", json!([])),
        ("secrets", json!(["example_api_key"])),
        ("secrets", json!([])),
    ];
    for (key, value) in cases {
        let mut doc = good();
        doc[key] = value.clone();
        assert!(!v.is_valid(&doc), "accepted {key} = {value}");
    }
    let mut doc = good();
    doc["capabilities"][0]["paths"] = json!(["v1/"]);
    assert!(!v.is_valid(&doc), "accepted a path without a leading /");
    let mut doc = good();
    doc["capabilities"] = json!([]);
    assert!(!v.is_valid(&doc), "accepted no capabilities");
}

#[test]
fn validate_rejects_a_wildcard_default_host() {
    let mut doc = good();
    doc["default_host"] = json!("*.eu.example.com");
    assert!(deserialize(&doc).validate().is_err());
    // A default host the host list does not allow.
    let mut doc = good();
    doc["default_host"] = json!("api.other.com");
    assert!(deserialize(&doc).validate().is_err());
    // Only wildcards and no default: nowhere to send calls.
    let mut doc = good();
    doc["hosts"] = json!(["*.example.com"]);
    doc.as_object_mut().unwrap().remove("default_host");
    assert!(deserialize(&doc).validate().is_err());
}

#[test]
fn validate_rejects_a_header_template_without_the_secret() {
    let mut doc = good();
    doc["auth"] = json!({ "kind": "header", "name": "x-api-key", "template": "Token abc" });
    assert!(deserialize(&doc).validate().is_err());
    let mut doc = good();
    doc["auth"] = json!({ "kind": "header", "name": "x-api-key", "template": "{secret.token}" });
    assert!(deserialize(&doc).validate().is_err(), "unknown placeholder");
    let mut doc = good();
    doc["headers"] = json!({ "X-Api-Key": "fixed" });
    assert!(
        deserialize(&doc).validate().is_err(),
        "auth header as a fixed header"
    );
}

#[test]
fn validate_rejects_a_capability_path_with_dot_segments() {
    for path in [
        "/v1/../admin",
        "/v1/./x",
        "/..",
        "/v1/%2e%2e/admin",
        "v1/",
        "/v1//x",
    ] {
        let mut doc = good();
        doc["capabilities"][0]["paths"] = json!([path]);
        assert!(
            deserialize(&doc).validate().is_err(),
            "accepted path {path:?}"
        );
    }
}
