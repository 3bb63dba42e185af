//! `import` through the gate: every record decided before any is written, one refusal
//! refusing all, in one transaction; the values in no reply, audit entry or error.

use kovra_proto::ErrorCode;
use serde_json::{Value, json};

use super::harness::{CANARY, Harness, PASSPHRASE, b64, human, mcp};

fn import(records: &[(&str, &str)], extra: Value) -> Value {
    let mut request = json!({
        "op": "import",
        "source": ".env",
        "records": records
            .iter()
            .map(|(c, v)| json!({"coordinate": c, "value": b64(v)}))
            .collect::<Vec<_>>(),
    });
    for (k, v) in extra.as_object().unwrap() {
        request[k] = v.clone();
    }
    request
}

fn count(h: &Harness) -> usize {
    h.send(&human(), json!({"op": "list"})).expect_ok().reply()["records"]
        .as_array()
        .unwrap()
        .len()
}

#[test]
fn one_record_out_of_scope_refuses_the_whole_import() {
    let h = Harness::unlocked();
    let dev_only = mcp(json!({
        "operations": ["metadata", "inject", "write"],
        "projects": {"kind": "all"},
        "global": true,
        "environments": {"kind": "non-production"},
    }));
    let request = import(
        &[("secret:dev/app/A", CANARY), ("secret:prod/app/B", CANARY)],
        json!({}),
    );
    h.send(&dev_only, request).expect_error(ErrorCode::NotFound);
    assert_eq!(count(&h), 0);
    h.assert_no_leak();
}

#[test]
fn existing_records_refuse_all_unless_forced_and_a_protected_one_needs_a_proof() {
    let h = Harness::unlocked();
    h.add("secret:dev/app/B", "old value", "high", false);
    let records = [("secret:dev/app/A", CANARY), ("secret:dev/app/B", CANARY)];
    let refused = h
        .send(&human(), import(&records, json!({})))
        .expect_error(ErrorCode::RecordExists);
    assert!(
        refused.json["message"]
            .as_str()
            .unwrap()
            .contains("secret:dev/app/B")
    );
    assert_eq!(count(&h), 1);

    // A dry run decides without writing; --force over a high record needs a proof.
    let plan = h
        .send(
            &human(),
            import(&records, json!({"force": true, "dry_run": true})),
        )
        .expect_ok();
    assert_eq!(plan.reply()["written"], false);
    assert_eq!(plan.reply()["rows"][1]["replaces"], true);
    assert_eq!(count(&h), 1);
    h.send(&human(), import(&records, json!({"force": true})))
        .expect_needs_proof();
    assert_eq!(count(&h), 1);
    let done = h
        .send_proven(
            &human(),
            import(&records, json!({"force": true})),
            PASSPHRASE,
        )
        .expect_ok();
    assert_eq!(done.reply()["written"], true);
    assert_eq!(count(&h), 2);
    assert_eq!(h.show("secret:dev/app/B")["sensitivity"], "high");
    assert_eq!(h.show("secret:dev/app/B")["version"], 2);
    h.assert_no_leak();
}

#[test]
fn names_a_provider_claims_and_values_in_a_key_format_get_a_provider() {
    let h = Harness::unlocked();
    let key = "ghp_a1B2c3D4e5F6g7H8i9J0kLmNoP";
    let reply = h
        .send(
            &human(),
            import(
                &[
                    ("secret:dev/app/GH", key),
                    ("secret:dev/app/OPENAI_API_KEY", CANARY),
                    ("secret:dev/app/PLAIN", ""),
                ],
                json!({}),
            ),
        )
        .expect_ok();
    let rows = &reply.reply()["rows"];
    assert_eq!(rows[0]["provider"], "github");
    assert_eq!(rows[0]["pin"], "format");
    assert_eq!(rows[0]["sensitivity"], "high");
    assert_eq!(rows[1]["provider"], "openai");
    assert_eq!(rows[1]["pin"], "name");
    assert_eq!(rows[2]["provider"], Value::Null);
    assert_eq!(rows[2]["sensitivity"], "medium");
    assert_eq!(h.show("secret:dev/app/GH")["provider"], "github");
    assert!(!h.audit_text().contains(key));
    h.assert_no_leak();
}
