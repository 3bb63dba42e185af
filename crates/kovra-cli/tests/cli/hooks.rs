//! Guards where leaks happen: the git pre-commit hook (`kovra hooks install`) stops a commit
//! that adds a value of the vault (plain or encoded) or a well-known key format, naming
//! file:line and the coordinate, never the value; it fails closed while the vault is locked,
//! and `KOVRA_HOOK_BYPASS=1` passes on purpose, on the trail (written at the next unlock).
//! Claude Code's prompt and tool-output hooks answer the same way.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use base64::Engine;

use crate::harness::*;
use crate::leak::canary;

const TOKEN: &str = "secret:dev/app/token";

fn git(h: &Home, repo: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = h.with_env(Command::new("git"));
    c.current_dir(repo)
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .stdin(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    h.transcript.borrow_mut().extend_from_slice(&out.stdout);
    h.transcript.borrow_mut().extend_from_slice(&out.stderr);
    out
}

fn repo(h: &Home) -> PathBuf {
    let dir = h.root.join("repo");
    std::fs::create_dir_all(&dir).unwrap();
    for args in [
        &["init", "-q", "-b", "main"][..],
        &["config", "user.email", "t@example.com"],
        &["config", "user.name", "t"],
    ] {
        assert!(git(h, &dir, args, &[]).status.success());
    }
    let mut c = h.cmd(&["hooks", "install"]);
    c.current_dir(&dir);
    let out = h.run_with(c, None);
    assert!(out.status.success(), "hooks install: {}", describe(&out));
    assert!(stdout(&out).contains("pre-commit"), "{}", describe(&out));
    dir
}

fn commit(h: &Home, repo: &Path, files: &[(&str, &str)], env: &[(&str, &str)]) -> Output {
    for (name, text) in files {
        std::fs::write(repo.join(name), text).unwrap();
        assert!(git(h, repo, &["add", name], &[]).status.success());
    }
    git(h, repo, &["commit", "-q", "-m", "change"], env)
}

#[test]
fn a_commit_adding_a_value_or_a_key_format_is_stopped_and_a_clean_one_passes() {
    let h = Home::init();
    let secret = canary("hook");
    h.add_ok(TOKEN, secret.as_bytes(), &[]);
    let repo = repo(&h);
    let out = commit(&h, &repo, &[("README", "hello\n")], &[]);
    assert!(out.status.success(), "a clean commit: {}", describe(&out));

    let b64 = base64::engine::general_purpose::STANDARD.encode(&secret);
    let aws = format!("AKIA{}", "Q".repeat(16));
    let out = commit(
        &h,
        &repo,
        &[
            ("config.py", &format!("import os\n\nTOKEN = \"{secret}\"\n")),
            ("blob.txt", &format!("a\nb\nc\nencoded: {b64}\n")),
            ("aws.env", &format!("AWS_ACCESS_KEY_ID={aws}\n")),
        ],
        &[],
    );
    assert!(!out.status.success(), "{}", describe(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("config.py:3:10: the value of {TOKEN}")),
        "{err}"
    );
    assert!(
        err.contains(&format!("blob.txt:4:10: the value of {TOKEN}")),
        "{err}"
    );
    assert!(
        err.contains("aws.env:1:19: a credential in a well-known format (aws-access-key-id)"),
        "{err}"
    );
    // Nothing was committed; the values appear nowhere kovra wrote.
    let log = git(&h, &repo, &["log", "--oneline"], &[]);
    assert_eq!(stdout(&log).lines().count(), 1);
    assert!(!h.transcript_contains(&[secret.as_bytes().to_vec(), b64.as_bytes().to_vec()]));
    let trail = serde_json::to_string(&audit(&h, &["--action", "scan"])).unwrap();
    assert!(trail.contains(TOKEN) && !trail.contains(&secret), "{trail}");
}

#[test]
fn locked_it_fails_closed_and_a_bypass_lands_on_the_trail_at_unlock() {
    let h = Home::init();
    let repo = repo(&h);
    h.ok(&["lock"]);
    let out = commit(&h, &repo, &[("a.txt", "fine\n")], &[]);
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(
        stderr(&out).contains("KOVRA_HOOK_BYPASS=1"),
        "{}",
        describe(&out)
    );
    let out = git(
        &h,
        &repo,
        &["commit", "-q", "-m", "wip"],
        &[("KOVRA_HOOK_BYPASS", "1")],
    );
    assert!(out.status.success(), "bypass: {}", describe(&out));
    assert!(stderr(&out).contains("next unlock") || stderr(&out).contains("trail"));
    h.unlock_typed();
    let bypasses = audit(&h, &["--action", "scan-bypass"]);
    assert_eq!(bypasses.len(), 1, "{bypasses:?}");
    assert!(
        bypasses[0]["detail"]
            .as_str()
            .unwrap()
            .contains("while locked")
    );
}

fn hook(h: &Home, which: &str, input: &serde_json::Value) -> Output {
    h.run_stdin(&["hook", which], input.to_string().as_bytes())
}

#[test]
fn claude_codes_prompt_and_tool_output_hooks_name_coordinates_only() {
    let h = Home::init();
    let secret = canary("prompt");
    h.add_ok(TOKEN, secret.as_bytes(), &[]);
    let out = hook(
        &h,
        "prompt",
        &serde_json::json!({"prompt": "deploy the app please"}),
    );
    assert_exit(&out, 0, "a clean prompt");
    let out = hook(
        &h,
        "prompt",
        &serde_json::json!({"prompt": format!("use this key: {secret}")}),
    );
    assert_exit(&out, 2, "a prompt holding a value");
    assert!(stderr(&out).contains(TOKEN), "{}", describe(&out));
    let key = format!("ghp_{}", "x".repeat(36));
    let out = hook(&h, "prompt", &serde_json::json!({"prompt": key}));
    assert_exit(&out, 2, "a prompt holding a GitHub token");
    assert!(stderr(&out).contains("github-token"), "{}", describe(&out));

    let out = hook(
        &h,
        "tool-output",
        &serde_json::json!({"tool_name": "Bash", "tool_response": {"stdout": format!("x={secret}")}}),
    );
    assert_exit(&out, 0, "tool-output");
    let v: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(v["decision"], "block");
    assert!(v["reason"].as_str().unwrap().contains(TOKEN));
    let out = hook(
        &h,
        "tool-output",
        &serde_json::json!({"tool_name": "Bash", "tool_response": {"stdout": "all good"}}),
    );
    assert_exit(&out, 0, "clean tool output");
    assert_eq!(stdout(&out).trim(), "");
    assert!(!h.transcript_contains(&[secret.as_bytes().to_vec()]));
}

#[test]
fn setup_writes_the_prompt_and_tool_output_hooks() {
    let h = Home::new();
    let dir = h.root.join("proj");
    std::fs::create_dir_all(&dir).unwrap();
    let pass = h.pass_file.to_string_lossy().to_string();
    let mut c = h.cmd(&["setup", "--passphrase-file", &pass]);
    c.current_dir(&dir);
    let out = h.run_with(c, None);
    assert!(out.status.success(), "{}", describe(&out));
    let settings = std::fs::read_to_string(dir.join(".claude/settings.json")).unwrap();
    for command in [
        "kovra hook file-guard",
        "kovra hook prompt",
        "kovra hook tool-output",
    ] {
        assert!(settings.contains(command), "{command}: {settings}");
    }
}
