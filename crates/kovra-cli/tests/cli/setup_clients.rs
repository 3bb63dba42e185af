//! `kovra setup --client …` and `--sandbox`: each client's file in its own format and place,
//! merged with what is there, stable on a second run, never written over when invalid.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::harness::*;

/// `kovra setup` in `dir`, with `$HOME` at the test's own user directory.
fn setup_in(h: &Home, dir: &Path, args: &[&str]) -> std::process::Output {
    let mut full = vec!["setup", "--passphrase-file", h.pass_file.to_str().unwrap()];
    full.extend_from_slice(args);
    let mut c = h.cmd(&full);
    c.current_dir(dir).env("HOME", user_home(h));
    h.run_with(c, None)
}

fn user_home(h: &Home) -> PathBuf {
    h.root.join("user")
}

fn project_dir(h: &Home, name: &str) -> PathBuf {
    let dir = h.root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn json_of(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every file under `dirs`, with its bytes.
fn snapshot(dirs: &[&Path]) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    for dir in dirs {
        walk(dir, &mut |p| {
            files.push((p.to_path_buf(), std::fs::read(p).unwrap()))
        });
    }
    files.sort();
    files
}

/// One client: where its server list lives, what it held before setup, and how to read the
/// `kovra` server and the other one back.
struct Case {
    client: &'static str,
    config: &'static str,
    user_level: bool,
    existing: &'static str,
    instructions: &'static str,
}

const CASES: &[Case] = &[
    Case {
        client: "claude-code",
        config: ".mcp.json",
        user_level: false,
        existing: r#"{"mcpServers": {"github": {"command": "gh-mcp"}}, "extra": [1, 2]}"#,
        instructions: "CLAUDE.md",
    },
    Case {
        client: "cursor",
        config: ".cursor/mcp.json",
        user_level: false,
        existing: r#"{"mcpServers": {"github": {"command": "gh-mcp"}}, "extra": [1, 2]}"#,
        instructions: ".cursor/rules/kovra.mdc",
    },
    Case {
        client: "gemini",
        config: ".gemini/settings.json",
        user_level: false,
        existing: r#"{"mcpServers": {"github": {"command": "gh-mcp"}}, "extra": [1, 2], "theme": "Dracula"}"#,
        instructions: "GEMINI.md",
    },
    Case {
        client: "vscode",
        config: ".vscode/mcp.json",
        user_level: false,
        existing: r#"{"servers": {"github": {"type": "stdio", "command": "gh-mcp"}}, "inputs": [], "extra": [1, 2]}"#,
        instructions: ".github/copilot-instructions.md",
    },
    Case {
        client: "windsurf",
        config: ".codeium/windsurf/mcp_config.json",
        user_level: true,
        existing: r#"{"mcpServers": {"github": {"command": "gh-mcp"}}, "extra": [1, 2]}"#,
        instructions: ".windsurf/rules/kovra.md",
    },
    Case {
        client: "codex",
        config: ".codex/config.toml",
        user_level: false,
        existing: "# my Codex settings\nmodel = \"o3\"\nextra = [1, 2]\n\n[mcp_servers.github]\ncommand = \"gh-mcp\" # the other one\n",
        instructions: "AGENTS.md",
    },
];

impl Case {
    fn config_path(&self, h: &Home, dir: &Path) -> PathBuf {
        if self.user_level {
            user_home(h).join(self.config)
        } else {
            dir.join(self.config)
        }
    }

    /// The file parsed back in the client's own format, as JSON, with its server list.
    fn servers(&self, path: &Path) -> (Value, Value) {
        let doc = if self.client == "codex" {
            let table: toml::Table = toml::from_str(&std::fs::read_to_string(path).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            serde_json::to_value(table).unwrap()
        } else {
            json_of(path)
        };
        let key = match self.client {
            "codex" => "mcp_servers",
            "vscode" => "servers",
            _ => "mcpServers",
        };
        let servers = doc[key].clone();
        (doc, servers)
    }
}

#[test]
fn each_client_gets_its_server_where_it_reads_it_keeps_the_rest_and_a_second_run_changes_nothing() {
    let h = Home::new();
    for case in CASES {
        let project = format!("shop-{}", case.client);
        let dir = project_dir(&h, &project);
        let config = case.config_path(&h, &dir);
        write(&config, case.existing);
        let out = setup_in(
            &h,
            &dir,
            &["--client", case.client, "--environments", "dev"],
        );
        assert_exit(&out, 0, case.client);
        assert_contains(&stderr(&out), case.config, &out);

        let (doc, servers) = case.servers(&config);
        let kovra = &servers["kovra"];
        let agent = format!("{}-{project}", case.client);
        assert_eq!(kovra["command"], "kovra", "{}", case.client);
        // Claude Code starts its server beside its own sandbox: inside kovra's, then.
        let expected = if case.client == "claude-code" {
            json!([
                "sandbox", "--agent", agent, "--", "kovra", "mcp", "--agent", agent
            ])
        } else {
            json!(["mcp", "--agent", agent])
        };
        assert_eq!(kovra["args"], expected, "{}", case.client);
        assert_eq!(kovra["env"]["KOVRA_PROJECT"], project.as_str());
        assert_eq!(kovra["env"]["KOVRA_MCP_PROJECTS"], project.as_str());
        assert_eq!(kovra["env"]["KOVRA_MCP_ENVIRONMENTS"], "dev");
        assert_eq!(servers["github"]["command"], "gh-mcp", "{}", case.client);
        assert_eq!(doc["extra"], json!([1, 2]), "{}", case.client);
        match case.client {
            "vscode" => {
                assert_eq!(kovra["type"], "stdio");
                assert_eq!(doc["inputs"], json!([]));
            }
            "gemini" => assert_eq!(doc["theme"], "Dracula"),
            "codex" => {
                assert_eq!(doc["model"], "o3");
                assert!(
                    kovra["env_vars"]
                        .as_array()
                        .unwrap()
                        .contains(&json!("XDG_RUNTIME_DIR"))
                );
                let text = std::fs::read_to_string(&config).unwrap();
                assert!(text.starts_with(case.existing), "{text}");
                assert_contains(&stderr(&out), "trust", &out);
            }
            "windsurf" => assert_contains(&stderr(&out), "every workspace", &out),
            _ => {}
        }

        let instructions = std::fs::read_to_string(dir.join(case.instructions)).unwrap();
        assert_eq!(
            instructions.matches("kovra:begin").count(),
            1,
            "{instructions}"
        );
        assert!(
            instructions.contains(&format!("project `{project}`")),
            "{instructions}"
        );
        if case.client == "claude-code" {
            assert!(dir.join(".claude/settings.json").exists());
        } else {
            let start = format!("kovra sandbox --agent {agent} -- ");
            assert!(instructions.contains(&start), "{instructions}");
            assert_contains(&stderr(&out), &start, &out);
            assert!(!dir.join(".mcp.json").exists() && !dir.join("CLAUDE.md").exists());
        }
        match case.client {
            "cursor" => assert!(instructions.starts_with("---\n"), "{instructions}"),
            "windsurf" => assert!(
                instructions.contains("trigger: always_on"),
                "{instructions}"
            ),
            _ => {}
        }

        let before = snapshot(&[&dir, &user_home(&h)]);
        let out = setup_in(
            &h,
            &dir,
            &["--client", case.client, "--environments", "dev"],
        );
        assert_exit(&out, 0, case.client);
        assert_contains(&stderr(&out), "nothing to change", &out);
        assert_eq!(before, snapshot(&[&dir, &user_home(&h)]), "{}", case.client);
    }
}

#[test]
fn clients_combine_in_one_run_and_share_nothing_but_the_agent_flag() {
    let h = Home::new();
    let dir = project_dir(&h, "shop");
    let out = setup_in(
        &h,
        &dir,
        &[
            "--client",
            "cursor,codex",
            "--client",
            "gemini",
            "--agent",
            "helper",
        ],
    );
    assert_exit(&out, 0, "three clients");
    for case in CASES
        .iter()
        .filter(|c| ["cursor", "codex", "gemini"].contains(&c.client))
    {
        let (_, servers) = case.servers(&case.config_path(&h, &dir));
        assert_eq!(
            servers["kovra"]["args"],
            json!(["mcp", "--agent", "helper"])
        );
    }
    assert!(!dir.join(".mcp.json").exists() && !dir.join(".vscode").exists());
    for (args, code) in [
        (&["--client", "emacs"][..], 2),
        (&["--client", "cursor", "--agent", "bad name"][..], 2),
        (&["--client", "cursor", "--sandbox"][..], 2),
        (&["--srt-settings", "s.json"][..], 2),
    ] {
        let out = setup_in(&h, &dir, args);
        assert_exit(&out, code, format!("{args:?}"));
    }
}

#[test]
fn an_invalid_file_of_any_client_is_reported_and_left_byte_identical() {
    let h = Home::new();
    for (client, config, text, code, why) in [
        (
            "claude-code",
            ".mcp.json",
            "{not json",
            "setup-invalid-json",
            "not valid JSON",
        ),
        (
            "cursor",
            ".cursor/mcp.json",
            "[1, 2]",
            "setup-invalid-json",
            "not a JSON object",
        ),
        (
            "gemini",
            ".gemini/settings.json",
            "{\n  // a comment\n  \"theme\": \"x\"\n}\n",
            "setup-invalid-json",
            "comments",
        ),
        (
            "vscode",
            ".vscode/mcp.json",
            r#"{"servers": []}"#,
            "setup-invalid-json",
            "`servers` is not a JSON object",
        ),
        (
            "windsurf",
            ".codeium/windsurf/mcp_config.json",
            r#"{"mcpServers": {"kovra": 3}}"#,
            "setup-invalid-json",
            "`mcpServers.kovra`",
        ),
        (
            "codex",
            ".codex/config.toml",
            "[mcp_servers\ncommand = 1\n",
            "setup-invalid-toml",
            "not valid TOML",
        ),
        (
            "codex",
            ".codex/config.toml",
            "mcp_servers = 3\n",
            "setup-invalid-toml",
            "`mcp_servers` is not a table",
        ),
    ] {
        let dir = project_dir(&h, &format!("app-{client}"));
        let path = if client == "windsurf" {
            user_home(&h).join(config)
        } else {
            dir.join(config)
        };
        write(&path, text);
        let before = snapshot(&[&dir, &user_home(&h)]);
        let out = setup_in(&h, &dir, &["--client", client]);
        assert_exit(&out, 1, client);
        let err = stderr(&out);
        for needle in [code, why, "left untouched", &path.display().to_string()] {
            assert_contains(&err, needle, &out);
        }
        // Nothing else was written either: every file is read before any is written.
        assert_eq!(before, snapshot(&[&dir, &user_home(&h)]), "{client}");
        std::fs::remove_file(&path).unwrap();
    }
}

#[test]
fn dry_run_shows_every_client_and_writes_nothing() {
    let h = Home::new();
    let dir = project_dir(&h, "app");
    std::fs::create_dir_all(user_home(&h)).unwrap();
    let out = setup_in(
        &h,
        &dir,
        &[
            "--dry-run",
            "--client",
            "claude-code,cursor,codex,gemini,vscode,windsurf",
            "--sandbox",
            "--srt-settings",
            "srt.json",
        ],
    );
    assert_exit(&out, 0, "dry run");
    for file in [
        ".mcp.json",
        ".cursor/mcp.json",
        ".codex/config.toml",
        "AGENTS.md",
        "srt.json",
        "mcp_config.json",
    ] {
        assert_contains(&stdout(&out), file, &out);
    }
    assert_contains(&stderr(&out), "dry run", &out);
    assert!(snapshot(&[&dir, &user_home(&h)]).is_empty());
    assert!(!h.home.exists(), "a dry run made a vault");
}

/// Claude Code's spelling of an absolute path outside `$HOME`.
fn absolute(p: &Path) -> String {
    format!("/{}", p.display())
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn sandbox_denies_kovra_and_secret_files_sends_the_network_to_the_proxy_and_merges() {
    let h = Home::new();
    let dir = project_dir(&h, "shop");
    for f in [
        ".env",
        ".env.local",
        ".env.refs",
        ".env.example",
        "config/.env.production",
        "node_modules/x/.env",
    ] {
        write(&dir.join(f), "A=1\n");
    }
    write(
        &dir.join(".claude/settings.json"),
        r#"{"model": "opus", "sandbox": {"enabled": false, "excludedCommands": ["docker"],
            "filesystem": {"denyRead": ["~/private"]},
            "network": {"allowedDomains": ["example.com"]}}}"#,
    );
    let out = setup_in(&h, &dir, &["--sandbox", "--srt-settings", "srt.json"]);
    assert_exit(&out, 0, "setup --sandbox");

    let settings = json_of(&dir.join(".claude/settings.json"));
    let sandbox = &settings["sandbox"];
    assert_eq!(settings["model"], "opus");
    assert_eq!(sandbox["enabled"], true);
    assert_eq!(sandbox["failIfUnavailable"], true);
    assert_eq!(sandbox["allowUnsandboxedCommands"], false);
    assert_eq!(sandbox["excludedCommands"], json!(["docker"]));
    assert_eq!(sandbox["network"]["allowedDomains"], json!(["example.com"]));
    let port = sandbox["network"]["httpProxyPort"].as_u64().unwrap();
    // The daemon chose the profile's egress port; settings name that very port.
    let (_, agents) = h.json(&["agent", "list"]);
    let profile = agents["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "claude-code-shop")
        .cloned()
        .unwrap_or_else(|| panic!("no claude-code-shop profile: {agents}"));
    assert_eq!(profile["egress_port"].as_u64(), Some(port), "{agents}");
    assert!(
        !settings["hooks"]["PreToolUse"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    let socket_dir = h.runtime.join("kovra");
    let deny = strings(&sandbox["filesystem"]["denyRead"]);
    let expected = [
        "~/private".to_string(),
        absolute(&h.home),
        absolute(&socket_dir),
        "~/.ssh".into(),
        "~/.gnupg".into(),
        "~/.aws".into(),
        absolute(&dir.join(".env*")),
        absolute(&dir.join(".env")),
        absolute(&dir.join(".env.local")),
        absolute(&dir.join("config/.env.production")),
    ];
    assert_eq!(deny, expected);
    let allow = strings(&sandbox["filesystem"]["allowRead"]);
    assert_eq!(
        allow,
        [
            absolute(&dir.join(".env.refs")),
            absolute(&dir.join(".env.example"))
        ]
    );
    assert!(
        strings(&sandbox["filesystem"]["denyWrite"])
            .contains(&absolute(&dir.join(".claude/settings.json")))
    );

    let claude = std::fs::read_to_string(dir.join("CLAUDE.md")).unwrap();
    for needle in [
        "unix sockets are blocked",
        "only through its MCP tools",
        "kovra's proxy",
        "placeholders",
    ] {
        assert!(claude.contains(needle), "{needle}: {claude}");
    }

    // The standalone srt file: the keys srt requires, absolute paths, the same port.
    let srt = json_of(&dir.join("srt.json"));
    let user = user_home(&h);
    let srt_deny = strings(&srt["filesystem"]["denyRead"]);
    for p in [
        &h.home,
        &socket_dir,
        &user.join(".ssh"),
        &user.join(".gnupg"),
        &user.join(".aws"),
        &dir.join(".env*"),
    ] {
        assert!(
            srt_deny.contains(&p.display().to_string()),
            "{}: {srt_deny:?}",
            p.display()
        );
    }
    assert_eq!(
        srt["filesystem"]["allowWrite"],
        json!([dir.display().to_string()])
    );
    assert!(srt["filesystem"]["denyWrite"].is_array());
    assert_eq!(srt["network"]["allowedDomains"], json!([]));
    assert_eq!(srt["network"]["deniedDomains"], json!([]));
    assert_eq!(srt["network"]["httpProxyPort"].as_u64(), Some(port));

    let before = snapshot(&[&dir]);
    let out = setup_in(&h, &dir, &["--sandbox", "--srt-settings", "srt.json"]);
    assert_exit(&out, 0, "second run");
    assert_contains(&stderr(&out), "nothing to change", &out);
    assert_eq!(before, snapshot(&[&dir]));

    // A new secret file deeper down joins the list; the user's entries stay.
    write(&dir.join("deploy/.env.staging"), "B=2\n");
    let out = setup_in(&h, &dir, &["--sandbox"]);
    assert_exit(&out, 0, "third run");
    let deny =
        strings(&json_of(&dir.join(".claude/settings.json"))["sandbox"]["filesystem"]["denyRead"]);
    assert!(
        deny.contains(&absolute(&dir.join("deploy/.env.staging"))),
        "{deny:?}"
    );
    assert_eq!(deny[..expected.len()], expected);
}

#[test]
fn sandbox_paths_under_home_are_spelled_from_home() {
    let h = Home::new();
    // The project under $HOME: Claude Code gets `~/…`, never a single leading `/`.
    let dir = user_home(&h).join("code/shop");
    std::fs::create_dir_all(&dir).unwrap();
    let out = setup_in(&h, &dir, &["--sandbox"]);
    assert_exit(&out, 0, "setup --sandbox");
    let settings = json_of(&dir.join(".claude/settings.json"));
    let deny = strings(&settings["sandbox"]["filesystem"]["denyRead"]);
    assert!(deny.contains(&"~/code/shop/.env*".to_string()), "{deny:?}");
    for entry in &deny {
        assert!(
            entry.starts_with("~/") || entry.starts_with("//"),
            "{entry}"
        );
    }
}

#[test]
fn a_socket_the_user_placed_is_denied_alone_never_its_shared_directory() {
    let h = Home::new();
    let dir = project_dir(&h, "shop");
    let socket = h.root.join("k.sock");
    let mut c = h.cmd(&["setup", "--dry-run", "--sandbox"]);
    c.current_dir(&dir)
        .env("HOME", user_home(&h))
        .env("KOVRA_SOCKET", &socket);
    let out = h.run_with(c, None);
    assert_exit(&out, 0, "dry run");
    let diff = stdout(&out);
    assert!(
        diff.contains(&format!("\"{}\"", absolute(&socket))),
        "{diff}"
    );
    assert!(
        !diff.contains(&format!("\"{}\"", absolute(&h.root))),
        "{diff}"
    );
}
