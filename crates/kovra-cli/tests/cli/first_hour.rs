//! Issue 21, "What it must show": the whole first hour of a new user, from a fresh home, with
//! nothing but the README (`tests/support/first_hour.py` holds the steps and checks each
//! command the human types against README.md): install, `init`, records in the global vault,
//! `setup`, the Python MCP SDK listing and running with them, `request_secret`, the human's
//! `add`, the agent's next `run`. Canary values are planted and searched for everywhere.

use std::process::Command;

use crate::harness::*;

#[test]
fn a_new_user_gets_from_install_to_an_agent_run_with_only_the_readme() {
    require_python_module("mcp");
    let work = tempfile::tempdir().expect("tempdir");
    let canaries = serde_json::json!({
        "openai": "sk-proj-FIRSTHOURcanary0000000000000000000000openai",
        "db": "first-hour-canary-db-password-7f3a9c",
        "stripe": "sk_test_FIRSTHOURcanary00000000000000stripe",
    });
    let fixture = work.path().join("canaries.json");
    std::fs::write(&fixture, canaries.to_string()).expect("write canaries");
    let run = work.path().join("run");
    std::fs::create_dir(&run).expect("mkdir");
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new("python3")
        .arg(support_dir().join("first_hour.py"))
        .arg(&repo)
        .arg(kovra_bin())
        .arg(&run)
        .arg(&fixture)
        .output()
        .expect("run first_hour.py");
    // Whatever happened, no daemon of that home keeps running.
    let _ = Command::new(kovra_bin())
        .args(["daemon", "stop"])
        .env_clear()
        .env("HOME", run.join("home"))
        .env("PATH", "/usr/bin:/bin")
        .output();
    // The driver masks canaries in what it prints; this is the independent check.
    for v in canaries.as_object().expect("object").values() {
        let v = v.as_str().expect("string").as_bytes();
        assert!(
            !contains(&out.stdout, v) && !contains(&out.stderr, v),
            "a canary leaked into the first hour's output"
        );
    }
    assert!(out.status.success(), "{}", describe(&out));
}
