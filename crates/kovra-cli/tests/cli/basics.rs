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
