//! `usage`: where a record was used, from the runs the daemon resolved. Paths and variable
//! names only; decided as a metadata read, so a scope that cannot see the record gets what
//! `show` gets.

use kovra_proto::ErrorCode;
use serde_json::json;

use super::harness::{CANARY, Harness, human, mcp};
use super::{DEV, PROD};

#[test]
fn a_run_records_its_refs_file_and_a_scope_that_cannot_see_the_record_gets_nothing() {
    let h = Harness::unlocked();
    h.add(DEV, CANARY, "low", true);
    h.add(PROD, "prod-canary-000000000000", "high", false);
    let before = h
        .send(&human(), json!({"op": "usage", "coordinate": DEV}))
        .expect_ok();
    assert!(before.reply()["last_used"].is_null(), "{}", before.text);
    let cwd = h.home.display().to_string();
    let run = json!({
        "op": "run", "argv": ["true"], "cwd": cwd,
        "env": [["PATH", "/usr/bin:/bin"]], "refs": format!("SHOP_KEY={DEV}\n"),
        "refs_path": "config/.env.refs",
    });
    let (response, _, plan) = h
        .daemon
        .handle(Harness::envelope(&human(), run), &super::terminal_caller());
    assert!(
        plan.is_some(),
        "{}",
        serde_json::to_string(&response).unwrap()
    );
    let used = h
        .send(&human(), json!({"op": "usage", "coordinate": DEV}))
        .expect_ok();
    let reply = used.reply();
    assert_eq!(reply["kind"], "usage", "{}", used.text);
    let path = h.home.join("config/.env.refs").display().to_string();
    assert_eq!(reply["refs"][0]["path"], path.as_str(), "{}", used.text);
    assert_eq!(reply["refs"][0]["var"], "SHOP_KEY", "{}", used.text);
    assert!(reply["last_used"].as_u64().unwrap() > 0, "{}", used.text);
    assert_eq!(reply["last_by"], "cli/human", "{}", used.text);
    // An agent whose scope holds no production: as absent, like `show`.
    let dev_only = mcp(json!({
        "operations": ["metadata"],
        "projects": {"kind": "all"},
        "global": true,
        "environments": {"kind": "only-non-production", "names": ["dev"]},
    }));
    h.send(&dev_only, json!({"op": "usage", "coordinate": PROD}))
        .expect_error(ErrorCode::NotFound);
    h.send(&dev_only, json!({"op": "usage", "coordinate": DEV}))
        .expect_ok();
    assert!(h.audit_text().contains("\"action\":\"usage\""));
    h.assert_no_leak();
}
