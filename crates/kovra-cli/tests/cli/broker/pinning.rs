//! Pinning: a record is used only with the provider and host it is pinned to, explicit
//! pins at creation, and binding a record a provider claims by name.

use super::*;

// ---------------------------------------------------------------------------------------
// (g) pinning
// ---------------------------------------------------------------------------------------

#[test]
fn records_are_used_only_with_the_provider_they_are_pinned_to() {
    let b = Broker::new();
    let openai_key = token_canary("pin");
    let misc = token_canary("misc");
    b.add(OPENAI, &openai_key, &[]);
    b.add("secret:dev/misc/token", &misc, &[]);

    // Pinned by name to openai: not usable with anthropic.
    b.refused_without(&openai_key, 4, "policy-denied", &anthropic_with(OPENAI));
    // Pinned to nothing: never sent.
    let e = b.refused(4, "policy-denied", &echo_with("secret:dev/misc/token"));
    let audit = b.run(&["--json", "audit"]);
    assert!(
        e.to_string().contains("not-bound-to-provider")
            || stdout(&audit).contains("not-bound-to-provider"),
        "reason not-bound-to-provider neither in the error nor the audit trail: {e}"
    );
    assert_eq!(b.up.count(), 0, "{:?}", b.up.requests());

    // Binding a name-pinned record to another provider is refused, even for a human.
    let out = b.human(4, &["bind", OPENAI, "anthropic"]);
    let text = stdout(&out);
    assert!(
        text.contains("policy-denied") || text.contains("pinned-to-other-provider"),
        "{text}"
    );

    // An agent may not bind at all (it lets a value leave the vault).
    b.needs_proof(&["bind", "secret:dev/misc/token", "openai"]);
    b.refused(4, "policy-denied", &echo_with("secret:dev/misc/token"));

    // A human binds the unbound record to openai: now it works there…
    b.human(0, &["bind", "secret:dev/misc/token", "openai"]);
    let out = b.expect(0, &echo_with("secret:dev/misc/token"));
    assert_clean("bound misc", &out, &misc);
    let reqs = b.up.requests();
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    assert_bearer(&reqs[0], &misc);
    // …and, pinned for life, can be neither rebound nor used elsewhere, even after a new
    // version.
    b.human(4, &["bind", "secret:dev/misc/token", "anthropic"]);
    let misc2 = token_canary("misc2");
    let set = b.run_stdin(
        &["set", "secret:dev/misc/token", "--stdin"],
        misc2.as_bytes(),
    );
    assert!(set.status.success(), "{}", describe(&set));
    b.refused(4, "policy-denied", &anthropic_with("secret:dev/misc/token"));
    b.expect(0, &echo_with("secret:dev/misc/token"));
    let reqs = b.up.requests();
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    assert_bearer(&reqs[1], &misc2);
    for k in [&openai_key, &misc, &misc2] {
        b.assert_nowhere(k);
    }
}

// ---------------------------------------------------------------------------------------
// Explicit pins: `--provider` at creation, `bind --host`
// ---------------------------------------------------------------------------------------

#[test]
fn explicit_pins_choose_the_provider_and_host_for_life() {
    let b = Broker::new();
    // Pinned at creation.
    let ci = token_canary("ci");
    b.add("secret:dev/tools/ci_token", &ci, &["--provider", "openai"]);
    let out = b.expect(0, &echo_with("secret:dev/tools/ci_token"));
    assert_clean("--provider openai", &out, &ci);
    assert_contains(&stdout(&out), "[kovra:", &out);
    assert_eq!(
        req_header(&b.up.requests()[0], "authorization"),
        Some(format!("Bearer {ci}"))
    );
    b.refused(
        4,
        "policy-denied",
        &anthropic_with("secret:dev/tools/ci_token"),
    );
    // A key some provider claims cannot be pinned to another at creation.
    let out = b.run_stdin(
        &[
            "add",
            "secret:dev/x/openai_api_key",
            "--stdin",
            "--provider",
            "anthropic",
        ],
        b"whatever-value-123456",
    );
    assert_ne!(out.status.code(), Some(0), "{}", describe(&out));

    // Bound to one of several hosts of a provider.
    let eu = token_canary("eu");
    const EU: &str = "secret:dev/monitoring/eu_key";
    b.add(EU, &eu, &[]);
    let bind_eu = |host| ["bind", EU, "datadog", "--host", host];
    b.human_refused(
        "a host outside the provider's",
        &bind_eu("evil.example.com"),
    );
    b.human(0, &bind_eu("api.datadoghq.eu"));
    let (v, out) = b.json_ok(&["api", "datadog", "GET", "/api/v1/validate", "--secret", EU]);
    assert_clean("datadog eu", &out, &eu);
    assert_eq!(v["host"], "api.datadoghq.eu", "{v}");
    let r = b.up.requests().last().unwrap().clone();
    assert_eq!(r["sni"], "api.datadoghq.eu", "{r}");
    assert_eq!(req_header(&r, "dd-api-key"), Some(eu.clone()), "{r}");
    // The host is part of the pin.
    b.human_refused("rebound to another host", &bind_eu("api.datadoghq.com"));
    // A name-claimed record goes to the default host.
    let us = token_canary("us");
    b.add("secret:dev/datadog/dd_api_key", &us, &[]);
    let (v, _) = b.json_ok(&api("datadog", "GET", "/api/v1/validate"));
    assert_eq!(v["host"], "api.datadoghq.com", "{v}");
    assert_eq!(b.up.requests().last().unwrap()["sni"], "api.datadoghq.com");
    assert_eq!(b.up.count(), 3, "{:?}", b.up.requests());
    for k in [&ci, &eu, &us] {
        b.assert_nowhere(k);
    }
}

// ---------------------------------------------------------------------------------------
// Binding a record that a provider claims by name
// ---------------------------------------------------------------------------------------

#[test]
fn binding_a_name_claimed_record_is_a_binding_that_needs_a_proof() {
    let (b, key) = Broker::with_openai_key("bindhost");
    // Pinned by name only: writing an explicit pin (to a host) is a binding like any other.
    b.needs_proof(&["bind", OPENAI, "openai", "--host", "api.openai.com"]);
    // (`provider` shows the name claim; an explicit pin would add its host.)
    let (v, _) = b.json_ok(&["show", OPENAI]);
    assert!(
        v["provider_host"].is_null(),
        "an agent pinned the record without a proof: {v}"
    );
    // To another provider: refused even with the passphrase.
    let out = b.human(4, &["bind", OPENAI, "anthropic"]);
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(text.contains("policy-denied"), "{text}");
    b.refused_without(&key, 4, "policy-denied", &anthropic_with(OPENAI));
    assert_eq!(b.up.count(), 0, "{:?}", b.up.requests());
    b.assert_nowhere(&key);
}
