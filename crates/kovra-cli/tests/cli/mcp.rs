//! `kovra mcp` driven by an independent client: the Python `mcp` SDK (see
//! crates/kovra-mcp/tests/mcp_client.py for what it plants, calls and asserts).

use std::path::Path;
use std::process::Command;

use crate::harness::*;

#[test]
fn the_python_mcp_client_drives_every_tool_and_sees_no_canary() {
    require_python_module("mcp");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../kovra-mcp/tests/mcp_client.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(kovra_bin())
        .env_remove("KOVRA_HOME")
        .env_remove("KOVRA_PROJECT")
        .output()
        .expect("python3");
    assert!(out.status.success(), "{}", describe(&out));
    assert_contains(&stdout(&out), "no canary leaked", &out);
}
