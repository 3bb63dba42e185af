//! `kovra setup` proposes a scope that sees what the project references (issue 21, point 2):
//! records added to the global vault as the quick start does are visible to the agent
//! through the MCP server exactly as setup wired it; `.env.refs` gets `project =` and `env =`
//! so the human's own `kovra run` finds what `request_secret` asked them to add; a second run
//! keeps hand edits and says so.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::harness::*;
use crate::leak::*;

fn setup(h: &Home, dir: &Path, args: &[&str]) -> Output {
    let mut full = vec!["setup"];
    full.extend_from_slice(args);
    let mut c = h.cmd(&full);
    c.current_dir(dir);
    h.run_with(c, None)
}

/// setup's messages with each wrapped paragraph on one line again.
fn said(out: &Output) -> String {
    stderr(out).replace("\n       ", " ")
}

fn read_json(path: PathBuf) -> Value {
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

const PY_SHA_OF: &str =
    "import hashlib,os,sys;print(hashlib.sha256(os.environ[sys.argv[1]].encode()).hexdigest())";

/// Start the `kovra` server as `.mcp.json` says (command, args, env, in `dir`, with the
/// kovra under test first on PATH) through the Python MCP SDK, and make `calls`.
fn agent_calls(h: &Home, dir: &Path, calls: Value) -> Vec<Value> {
    let entry = &read_json(dir.join(".mcp.json"))["mcpServers"]["kovra"];
    let plan = json!({
        "command": entry["command"],
        "args": entry["args"],
        "env": entry["env"],
        "cwd": dir,
        "calls": calls,
    });
    let plan_file = h.root.join("mcp-plan.json");
    std::fs::write(&plan_file, plan.to_string()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/mcp_setup_client.py");
    let bin_dir = kovra_bin().parent().unwrap().to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut py = Command::new("python3");
    py.arg(&script).arg(&plan_file);
    let mut py = h.with_env(py);
    py.env("PATH", path).env_remove("KOVRA_ENV");
    let out = h.run_with(py, None);
    assert!(out.status.success(), "mcp_setup_client: {}", describe(&out));
    serde_json::from_str(stdout(&out).trim()).unwrap_or_else(|e| panic!("{e}: {}", describe(&out)))
}

#[test]
fn default_setup_lets_the_agent_see_global_records_and_request_secret_round_trips() {
    require_python_module("mcp");
    let h = Home::init();
    h.ok(&["project", "create", "app"]);
    let token = canary("setup-token");
    let db = canary("setup-db");
    let prod = canary("setup-prod");
    let key = canary("setup-key");
    // The quick start's records: in the global vault. One in the project, one in production.
    h.add_ok(
        "secret:dev/api/token",
        token.as_bytes(),
        &["--sensitivity", "low", "--revealable"],
    );
    h.add_ok("secret:dev/db/password", db.as_bytes(), &[]);
    h.add_ok("secret:prod/db/password", prod.as_bytes(), &[]);
    h.add_ok("secret:dev/app/key", key.as_bytes(), &["--project", "app"]);
    let dir = h.root.join("app");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join(".env.refs"),
        "# my app\nTOKEN=secret:${ENV}/api/token\n",
    )
    .unwrap();

    let out = setup(&h, &dir, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_contains(
        &said(&out),
        "kovra: agent claude-code-app will see metadata of 3 records in dev (global vault: 2, project app: 1); it will not see production records (1) or any value.\nkovra: Its runs get a value",
        &out,
    );
    // `project =` and `env =` after the user's comment, their line in place.
    assert_eq!(
        std::fs::read_to_string(dir.join(".env.refs")).unwrap(),
        "# my app\nproject = app\nenv = dev\nTOKEN=secret:${ENV}/api/token\n"
    );
    let mcp = read_json(dir.join(".mcp.json"));
    let env = &mcp["mcpServers"]["kovra"]["env"];
    assert_eq!(env["KOVRA_MCP_PROJECTS"], "app,global", "{mcp}");
    assert_eq!(env["KOVRA_MCP_ENVIRONMENTS"], "dev", "{mcp}");
    let claude = std::fs::read_to_string(dir.join("CLAUDE.md")).unwrap();
    assert!(claude.contains("`.env.refs` says `env = dev`"), "{claude}");

    // The agent, through the server as wired: sees the three, runs with the low one (the
    // `env =` line supplies `${ENV}`), and asks for a missing value.
    let results = agent_calls(
        &h,
        &dir,
        json!([
            {"tool": "list"},
            {"tool": "run", "arguments": {"command": ["python3", "-c", PY_SHA_OF, "TOKEN"]}},
            {"tool": "request_secret", "arguments": {"coordinate": "secret:dev/app/new", "description": "the new key"}},
        ]),
    );
    // Rows of values under `columns` (crates/kovra-mcp/src/results.rs).
    let page = &results[0]["structured"];
    let at = page["columns"]
        .as_array()
        .and_then(|c| c.iter().position(|n| n == "coordinate"))
        .unwrap_or_else(|| panic!("{:?}", results[0]));
    let listed: Vec<String> = page["records"]
        .as_array()
        .unwrap_or_else(|| panic!("{:?}", results[0]))
        .iter()
        .map(|r| r[at].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        listed,
        [
            "secret:dev/api/token",
            "secret:dev/db/password",
            "secret:dev/app/key"
        ],
        "{results:?}"
    );
    // `${ENV}` came from the `env =` line and the record resolved in the global vault: the
    // refusal is policy's (a value goes only where the human opted in), not "unresolved".
    let refused = results[1]["text"].as_str().unwrap();
    assert!(
        refused.starts_with("policy-denied: inject secret:dev/api/token refused"),
        "{refused}"
    );
    // Opted in, as the summary says, the agent's run gets it.
    let out = h.run_pty(
        &[
            "agent",
            "create",
            "claude-code-app",
            "--replace",
            "--projects",
            "app,global",
            "--environments",
            "dev",
            "--inject-values",
            "dev/api",
        ],
        &[PASSPHRASE, PASSPHRASE],
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let ran = agent_calls(
        &h,
        &dir,
        json!([{"tool": "run", "arguments": {"command": ["python3", "-c", PY_SHA_OF, "TOKEN"]}}]),
    );
    assert!(
        ran[0]["text"]
            .as_str()
            .unwrap()
            .contains(&sha256_hex(token.as_bytes())),
        "{ran:?}"
    );
    let asked = results[2]["text"].as_str().unwrap();
    assert!(
        asked.contains("`kovra add --project app secret:dev/app/new`"),
        "{asked}"
    );

    // The human does what the reply says; their own run finds it with no flag, because
    // `.env.refs` names the project and the environment.
    let new = canary("setup-new");
    let out = h.run_stdin(
        &["add", "--project", "app", "secret:dev/app/new", "--stdin"],
        new.as_bytes(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let mut refs = std::fs::read_to_string(dir.join(".env.refs")).unwrap();
    refs.push_str("NEW=secret:${ENV}/app/new\n");
    std::fs::write(dir.join(".env.refs"), &refs).unwrap();
    let mut c = h.cmd(&["run", "--", "python3", "-c", PY_SHA_OF, "NEW"]);
    c.current_dir(&dir).env_remove("KOVRA_ENV");
    let out = h.run_with(c, None);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(stdout(&out).trim(), sha256_hex(new.as_bytes()));

    for (what, value) in [
        ("token", &token),
        ("db", &db),
        ("prod", &prod),
        ("key", &key),
        ("new", &new),
    ] {
        assert_not_printed(&h, value, what);
        assert!(
            !serde_json::to_string(&(&results, &ran))
                .unwrap()
                .contains(value.as_str()),
            "{what} reached the agent"
        );
    }
}

#[test]
fn a_second_run_keeps_hand_edits_and_says_so() {
    let h = Home::init();
    h.ok(&["project", "create", "shop"]);
    h.add_ok(
        "secret:dev/api/token",
        canary("edit").as_bytes(),
        &["--project", "shop"],
    );
    let dir = h.root.join("shop");
    std::fs::create_dir_all(&dir).unwrap();
    let out = setup(&h, &dir, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_contains(&said(&out), "global vault: 0, project shop: 1", &out);
    assert_contains(&said(&out), "the global vault is left out", &out);

    // Hand edits: one more environment for the server, a variable of the user's own, and
    // lines of their own in `.env.refs` (one reordered above setup's).
    let path = dir.join(".mcp.json");
    let mut mcp = read_json(path.clone());
    mcp["mcpServers"]["kovra"]["env"]["KOVRA_MCP_ENVIRONMENTS"] = json!("dev,qa");
    mcp["mcpServers"]["kovra"]["env"]["MY_OWN"] = json!("1");
    std::fs::write(&path, serde_json::to_string_pretty(&mcp).unwrap()).unwrap();
    let refs = "A=secret:${ENV}/api/token\n# mine\nproject = shop\nenv = dev\n";
    std::fs::write(dir.join(".env.refs"), refs).unwrap();
    let before = std::fs::read(&path).unwrap();
    // And the profile, replaced by hand with a scope of the human's choosing.
    let out = h.run(&[
        "agent",
        "create",
        "claude-code-shop",
        "--replace",
        "--projects",
        "shop,global",
        "--environments",
        "dev,qa",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let (_, hand_made) = h.json(&["agent", "list"]);

    for _ in 0..2 {
        let out = setup(&h, &dir, &[]);
        assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
        assert_contains(
            &said(&out),
            "kept your kovra server's env.KOVRA_MCP_ENVIRONMENTS = `dev,qa` (setup would write `dev`)",
            &out,
        );
        assert_contains(
            &said(&out),
            "agent profile claude-code-shop: kept the scope you gave it (projects shop + global vault; environments dev, qa;",
            &out,
        );
        assert_eq!(
            h.json(&["agent", "list"]).1["agents"][0]["scope"],
            hand_made["agents"][0]["scope"]
        );
        assert_eq!(std::fs::read(&path).unwrap(), before, "{}", describe(&out));
        assert_eq!(
            std::fs::read_to_string(dir.join(".env.refs")).unwrap(),
            refs
        );
    }

    // A value setup wrote and nobody touched follows what setup finds now: a record in
    // the global vault puts it in the scope; the hand edits stay.
    h.add_ok("secret:dev/other/token", canary("gl").as_bytes(), &[]);
    let out = setup(&h, &dir, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_contains(&said(&out), "global vault: 1, project shop: 1", &out);
    let mcp = read_json(path);
    let env = &mcp["mcpServers"]["kovra"]["env"];
    assert_eq!(env["KOVRA_MCP_PROJECTS"], "shop,global", "{mcp}");
    assert_eq!(env["KOVRA_MCP_ENVIRONMENTS"], "dev,qa", "{mcp}");
    assert_eq!(env["MY_OWN"], "1", "{mcp}");
    let (_, agents) = h.json(&["agent", "list"]);
    let profile = agents["agents"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["name"] == "claude-code-shop"))
        .unwrap_or_else(|| panic!("{agents}"));
    assert_eq!(profile["scope"]["global"], true, "{profile}");

    // A `.env.refs` that names another environment than setup would is kept, and said.
    let other = h.root.join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join(".env.refs"), "project = shop\nenv = qa\n").unwrap();
    let out = setup(&h, &other, &["--project", "shop", "--agent", "other-agent"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(
        std::fs::read_to_string(other.join(".env.refs")).unwrap(),
        "project = shop\nenv = qa\n"
    );
}

#[test]
fn an_entry_from_a_setup_without_state_is_updated_to_cover_the_global_vault() {
    let h = Home::init();
    h.ok(&["project", "create", "app"]);
    h.add_ok("secret:dev/api/token", canary("legacy").as_bytes(), &[]);
    let dir = h.root.join("app");
    std::fs::create_dir_all(&dir).unwrap();
    // What `kovra setup` wrote before it looked at the records.
    let old = json!({"mcpServers": {"kovra": {
        "command": "kovra",
        "args": ["sandbox", "--agent", "claude-code-app", "--", "kovra", "mcp", "--agent", "claude-code-app"],
        "env": {"KOVRA_PROJECT": "app", "KOVRA_MCP_PROJECTS": "app"}
    }}});
    std::fs::write(dir.join(".mcp.json"), old.to_string()).unwrap();
    let out = setup(&h, &dir, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(!stderr(&out).contains("kept your"), "{}", describe(&out));
    let mcp = read_json(dir.join(".mcp.json"));
    assert_eq!(
        mcp["mcpServers"]["kovra"]["env"]["KOVRA_MCP_PROJECTS"],
        "app,global"
    );
}
