//! Canary records under an agent profile's standing grant: the canary gets the placeholder a
//! real record of its provider would (its absence would set it apart), and a swap of that
//! placeholder is refused as for a record out of reach, and trips it.

use serde_json::{Value, json};

use super::harness::{Harness, PASSPHRASE, human};

const REAL: &str = "secret:dev/openai/openai_api_key";
const CANARY: &str = "secret:dev/ci/OPENAI_API_KEY";

/// `GET /v1/models` through a base URL of the proxy with `Authorization: Bearer KEY`: the
/// response's status line and body.
fn models_through(base: &str, key: &str) -> String {
    use std::io::{Read, Write};
    let rest = base.strip_prefix("http://").unwrap();
    let (addr, path) = rest.split_once('/').unwrap();
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    write!(
        s,
        "GET /{path}/models HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn variable<'a>(env: &'a Value, name: &str) -> Option<&'a str> {
    env["variables"]
        .as_array()?
        .iter()
        .find(|v| v[0] == name)
        .and_then(|v| v[1].as_str())
}

#[test]
fn a_profiles_canary_placeholder_is_served_and_its_swap_trips_it() {
    let h = Harness::unlocked();
    h.add(REAL, "sk-proj-real-7f3a9c-000000000000", "medium", false);
    h.send_proven(
        &human(),
        json!({"op": "canary-create", "coordinate": CANARY, "like": "openai"}),
        PASSPHRASE,
    )
    .expect_ok();
    let spec = json!({
        "name": "bot",
        "operations": ["metadata", "inject"],
        "projects": {"kind": "all"},
        "global": true,
        "environments": {"kind": "only-non-production", "names": ["dev"]},
    });
    h.send(&human(), json!({"op": "agent-create", "spec": spec}))
        .expect_ok();
    let env_of = |coord: &str| {
        h.send(
            &human(),
            json!({"op": "agent-env", "agent": "bot",
                   "refs": format!("OPENAI_API_KEY={coord}\n")}),
        )
        .expect_ok()
        .reply()
        .clone()
    };
    let (real, canary) = (env_of(REAL), env_of(CANARY));
    // Both served alike: a placeholder of the provider's shape, and a base URL.
    for env in [&real, &canary] {
        let key = variable(env, "OPENAI_API_KEY").unwrap_or_else(|| panic!("{env}"));
        assert!(key.starts_with("sk-proj-"), "{env}");
        assert!(variable(env, "OPENAI_BASE_URL").is_some(), "{env}");
        assert_eq!(env["skipped"], json!([]), "{env}");
    }
    let key = variable(&canary, "OPENAI_API_KEY").unwrap();
    let base = variable(&canary, "OPENAI_BASE_URL").unwrap();
    let answer = models_through(base, key);
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    assert!(answer.contains("out of this run's scope"), "{answer}");
    assert!(!answer.contains("canary"), "{answer}");
    let trail = h.audit_text();
    assert!(
        trail.contains("canary-tripped") && trail.contains(CANARY),
        "{trail}"
    );
}
