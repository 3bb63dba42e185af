//! `kovra setup`: idempotent wiring that keeps everything it did not write.

use std::process::Stdio;

use crate::harness::*;

fn setup_in(h: &Home, dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    let mut full = vec!["setup", "--passphrase-file", h.pass_file.to_str().unwrap()];
    full.extend_from_slice(args);
    let mut c = h.cmd(&full);
    c.current_dir(dir);
    h.run_with(c, None)
}

#[test]
fn setup_twice_keeps_other_servers_and_text_and_changes_nothing_the_second_time() {
    let h = Home::new();
    let dir = h.root.join("shop");
    std::fs::create_dir_all(&dir).unwrap();
    let other = r#"{"mcpServers": {"github": {"command": "gh-mcp", "args": ["--stdio"]}}, "extra": [1, 2]}"#;
    std::fs::write(dir.join(".mcp.json"), other).unwrap();
    std::fs::write(dir.join("CLAUDE.md"), "# Shop\n\nHouse rules here.\n").unwrap();
    let out = setup_in(&h, &dir, &["--environments", "dev,staging"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let mcp: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join(".mcp.json")).unwrap()).unwrap();
    assert_eq!(mcp["mcpServers"]["github"]["command"], "gh-mcp");
    assert_eq!(mcp["extra"], serde_json::json!([1, 2]));
    assert_eq!(
        mcp["mcpServers"]["kovra"]["args"],
        serde_json::json!([
            "sandbox",
            "--agent",
            "claude-code-shop",
            "--",
            "kovra",
            "mcp",
            "--agent",
            "claude-code-shop"
        ])
    );
    assert_eq!(
        mcp["mcpServers"]["kovra"]["env"]["KOVRA_MCP_PROJECTS"],
        "shop"
    );
    assert_eq!(
        mcp["mcpServers"]["kovra"]["env"]["KOVRA_MCP_ENVIRONMENTS"],
        "dev,staging"
    );
    let claude = std::fs::read_to_string(dir.join("CLAUDE.md")).unwrap();
    assert!(
        claude.starts_with("# Shop\n\nHouse rules here.\n"),
        "{claude}"
    );
    assert_eq!(claude.matches("kovra:begin").count(), 1);
    let (_, projects) = h.json(&["project", "list"]);
    assert_eq!(projects["projects"], serde_json::json!(["shop"]));
    let snapshot: Vec<Vec<u8>> = [".mcp.json", "CLAUDE.md", ".claude/settings.json"]
        .iter()
        .map(|f| std::fs::read(dir.join(f)).unwrap())
        .collect();
    let out = setup_in(&h, &dir, &["--environments", "dev,staging"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_contains(&stderr(&out), "nothing to change", &out);
    let again: Vec<Vec<u8>> = [".mcp.json", "CLAUDE.md", ".claude/settings.json"]
        .iter()
        .map(|f| std::fs::read(dir.join(f)).unwrap())
        .collect();
    assert_eq!(snapshot, again);
}

#[test]
fn invalid_json_is_reported_and_never_overwritten_and_dry_run_writes_nothing() {
    let h = Home::new();
    let dir = h.root.join("app");
    std::fs::create_dir_all(&dir).unwrap();
    let out = setup_in(&h, &dir, &["--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(
        stdout(&out).contains("+++") && stdout(&out).contains("\"kovra\""),
        "{}",
        describe(&out)
    );
    assert!(!dir.join(".mcp.json").exists() && !dir.join("CLAUDE.md").exists());
    std::fs::write(dir.join(".mcp.json"), "{not json").unwrap();
    let out = setup_in(&h, &dir, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert_contains(&stderr(&out), "setup-invalid-json", &out);
    assert_eq!(
        std::fs::read_to_string(dir.join(".mcp.json")).unwrap(),
        "{not json"
    );
}

#[test]
fn the_file_guard_hook_refuses_secret_files_only() {
    let h = Home::new();
    for (path, code) in [
        (".env", 2),
        ("config/.env.production", 2),
        ("/home/u/.ssh/id_ed25519", 2),
        (".env.refs", 0),
        ("src/lib.rs", 0),
        (".env ", 2),
        ("staging.env.bak", 2),
        ("config/.env.production.bak", 2),
        ("id_ed25519.bak", 2),
        ("id_rsa.old", 2),
        ("tls/key.pem~", 2),
        (".env.example", 0),
        (".env.sample", 0),
        (".env.template", 0),
    ] {
        let mut c = h.cmd(&["hook", "file-guard"]);
        c.stdin(Stdio::piped());
        let input =
            serde_json::json!({"tool_name": "Read", "tool_input": {"file_path": path}}).to_string();
        let out = h.run_with(c, Some(input.as_bytes()));
        assert_exit(&out, code, path);
    }
}

/// The guard's input as Claude Code sends it, and its exit code and stderr.
fn guard(h: &Home, input: &str) -> std::process::Output {
    let mut c = h.cmd(&["hook", "file-guard"]);
    c.stdin(Stdio::piped());
    h.run_with(c, Some(input.as_bytes()))
}

fn tool_call(tool: &str, input: serde_json::Value, cwd: &std::path::Path) -> String {
    serde_json::json!({"tool_name": tool, "tool_input": input, "cwd": cwd}).to_string()
}

#[test]
fn the_file_guard_sees_through_backups_links_and_searches_and_fails_closed() {
    let h = Home::new();
    let dir = h.root.join("app");
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::create_dir_all(dir.join("config")).unwrap();
    std::fs::write(dir.join("src/main.rs"), "fn main() {}\n").unwrap();
    std::fs::write(dir.join("config/.env.production"), "TOKEN=x\n").unwrap();
    std::os::unix::fs::symlink("config/.env.production", dir.join("notes.md")).unwrap();
    let check = |tool: &str, input: serde_json::Value, code: i32| {
        let out = guard(&h, &tool_call(tool, input.clone(), &dir));
        assert_exit(&out, code, format!("{tool} {input}"));
        if code == 2 {
            assert!(stderr(&out).starts_with("kovra: "), "{}", describe(&out));
        }
    };
    // Names that are copies of secret files, or the same name with trailing blanks.
    for path in [
        ".env ",
        ".env.",
        "prod.env.bak",
        ".env.production.bak",
        "/home/u/.ssh/id_ed25519.bak",
        "id_ed25519.bak",
        "id_rsa.old",
        "certs/key.pem~",
        ".env.~1~",
    ] {
        check("Read", serde_json::json!({"file_path": path}), 2);
    }
    for path in [
        ".env.refs",
        ".env.example",
        ".env.sample",
        ".env.template",
        "src/main.rs",
    ] {
        check("Read", serde_json::json!({"file_path": path}), 0);
    }
    // A link with an innocent name is judged by its target, relative to the call's cwd.
    check("Read", serde_json::json!({"file_path": "notes.md"}), 2);
    check(
        "Edit",
        serde_json::json!({"file_path": dir.join("notes.md")}),
        2,
    );
    // Grep reads contents: a search over a tree holding a secret file needs a glob that leaves
    // it out, or a narrower path. Glob lists names only.
    check("Grep", serde_json::json!({"pattern": "TOKEN"}), 2);
    check(
        "Grep",
        serde_json::json!({"pattern": "TOKEN", "path": dir}),
        2,
    );
    check(
        "Grep",
        serde_json::json!({"pattern": "TOKEN", "glob": "*.rs"}),
        0,
    );
    check(
        "Grep",
        serde_json::json!({"pattern": "TOKEN", "path": "src"}),
        0,
    );
    check("Glob", serde_json::json!({"pattern": "**/*.rs"}), 0);
    let out = guard(
        &h,
        &tool_call("Grep", serde_json::json!({"pattern": "T"}), &dir),
    );
    assert!(
        stderr(&out).contains("config/.env.production") && stderr(&out).contains("glob"),
        "{}",
        describe(&out)
    );
    // Input the guard cannot understand is refused, never waved through.
    for input in [
        "",
        "not json",
        r#"{"tool_name": "Read"}"#,
        r#"{"tool_name": "Read", "tool_input": {"file_path": ["a"]}}"#,
    ] {
        let out = guard(&h, input);
        assert_exit(&out, 2, format!("{input:?}"));
        assert_contains(&stderr(&out), "refuses this call", &out);
    }
    // Nothing the guard printed holds the value.
    assert!(!h.transcript_contains(&[b"TOKEN=x".to_vec()]));
}

/// A link the agent planted in the project (`.env.refs` dangling into the home, a `.claude`
/// directory pointing elsewhere) is refused before setup writes anything.
#[test]
fn setup_never_writes_through_a_link_in_the_project() {
    let h = Home::init();
    let dir = h.root.join("app");
    std::fs::create_dir_all(&dir).unwrap();
    let target = h.root.join("outside-target");
    std::os::unix::fs::symlink(&target, dir.join(".env.refs")).unwrap();
    let out = setup_in(&h, &dir, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert_contains(&stderr(&out), "symbolic link", &out);
    assert!(!target.exists(), "setup wrote through the link");
    assert!(
        !dir.join(".mcp.json").exists(),
        "setup wrote part of its files"
    );
    std::fs::remove_file(dir.join(".env.refs")).unwrap();
    let elsewhere = h.root.join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, dir.join(".claude")).unwrap();
    let out = setup_in(&h, &dir, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        std::fs::read_dir(&elsewhere).unwrap().next().is_none(),
        "setup wrote through the .claude link"
    );
}
