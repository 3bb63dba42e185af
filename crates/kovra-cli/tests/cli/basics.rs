use crate::harness::*;
use crate::leak::*;

#[test]
fn init_add_list_show_reveal_round_trip() {
    let h = Home::init();
    let value = canary("basic");
    let out = h.add(
        "secret:dev/db/password",
        value.as_bytes(),
        &["--description", "dev database", "--revealable"],
    );
    assert!(out.status.success(), "{}", describe(&out));
    let (code, list) = h.json(&["list"]);
    assert_eq!(code, 0);
    let recs = list["records"].as_array().unwrap();
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0]["coordinate"], "secret:dev/db/password");
    assert_eq!(recs[0]["sensitivity"], "medium");
    let (_, shown) = h.json(&["show", "secret:dev/db/password"]);
    assert_eq!(shown["description"], "dev database");
    // A medium, revealable, non-production record may be revealed even by an agent-origin caller.
    let out = h.ok(&["reveal", "secret:dev/db/password"]);
    assert_eq!(out.stdout, value.as_bytes());
}

#[test]
fn production_records_are_born_high_and_agents_cannot_reveal_them() {
    let h = Home::init();
    let value = canary("prod");
    h.add_ok(
        "secret:prod/db/password",
        value.as_bytes(),
        &["--sensitivity", "low", "--revealable"],
    );
    let (_, shown) = h.json(&["show", "secret:prod/db/password"]);
    assert_eq!(shown["sensitivity"], "high");
    assert_eq!(shown["production"], true);
    let out = h.run(&["reveal", "secret:prod/db/password"]);
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    assert!(stderr(&out).contains("policy-denied"));
    assert_not_printed(&h, &value, "the record's value");
}

/// `list` pages with `--offset`/`--limit`, prints the same pretty document through a pipe,
/// and shows fresh metadata after every kind of write (the daemon keeps listings between
/// lists).
#[test]
fn list_pages_and_follows_every_write() {
    let h = Home::init();
    for k in 1..=5 {
        h.add_ok(&format!("secret:dev/a/k{k}"), b"v", &["--revealable"]);
    }
    let coords = |args: &[&str]| -> Vec<String> {
        let mut full = vec!["list"];
        full.extend_from_slice(args);
        let (code, list) = h.json(&full);
        assert_eq!(code, 0);
        list["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["coordinate"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(coords(&[]).len(), 5);
    assert_eq!(
        coords(&["--offset", "1", "--limit", "2"]),
        ["secret:dev/a/k2", "secret:dev/a/k3"]
    );
    assert_eq!(coords(&["--offset", "4"]), ["secret:dev/a/k5"]);
    assert!(coords(&["--offset", "9"]).is_empty());
    let out = h.ok(&["--json", "list", "--offset", "9"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "{\n  \"kind\": \"records\",\n  \"records\": [],\n  \"tampered\": 0,\n  \"missing\": 0\n}\n"
    );
    let out = h.ok(&["--json", "list", "--limit", "1"]);
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .starts_with("{\n  \"kind\": \"records\",\n  \"records\": [\n    {\n      \"coordinate\": \"secret:dev/a/k1\",\n"),
        "{}",
        describe(&out)
    );

    let description = |coord: &str| -> Option<(String, u64)> {
        let (_, list) = h.json(&["list"]);
        list["records"].as_array().unwrap().iter().find_map(|r| {
            (r["coordinate"] == coord).then(|| {
                (
                    r["description"].as_str().unwrap().to_string(),
                    r["version"].as_u64().unwrap(),
                )
            })
        })
    };
    assert_eq!(description("secret:dev/a/k1"), Some((String::new(), 1)));
    let out = h.run_stdin(&["set", "secret:dev/a/k1", "--stdin"], b"w");
    assert!(out.status.success(), "set: {}", describe(&out));
    assert_eq!(description("secret:dev/a/k1"), Some((String::new(), 2)));
    h.ok(&["edit", "secret:dev/a/k1", "--description", "edited"]);
    assert_eq!(description("secret:dev/a/k1"), Some(("edited".into(), 3)));
    h.ok(&["rename", "secret:dev/a/k1", "secret:dev/a/k0"]);
    assert_eq!(description("secret:dev/a/k1"), None);
    assert_eq!(description("secret:dev/a/k0"), Some(("edited".into(), 3)));
    h.ok(&["rm", "secret:dev/a/k2"]);
    assert_eq!(description("secret:dev/a/k2"), None);
    assert_eq!(coords(&[]).len(), 4);
}
