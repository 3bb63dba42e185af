//! The file guard's rules, case by case.

use super::*;
use std::os::unix::fs::symlink;

#[test]
fn secret_files_are_recognised() {
    for p in [
        ".env",
        "app/.env.local",
        "prod.env",
        "id_ed25519",
        "/home/u/.aws/credentials",
        "tls.key",
        "cert.pem",
    ] {
        assert!(is_secret_file(p), "{p}");
    }
    for p in [
        ".env.refs",
        ".env.example",
        "src/main.rs",
        "README.md",
        "environment.ts",
    ] {
        assert!(!is_secret_file(p), "{p}");
    }
}

#[test]
fn backups_copies_and_blanks_are_still_secret() {
    for p in [
        ".env ",
        ".env\t",
        " .env",
        ".env.",
        ".env. .",
        ".env\u{200b}",
        ".ENV",
        "prod.env.bak",
        "x/staging.env.old",
        ".env.production.bak",
        ".env.bak",
        ".env~",
        ".env.~2~",
        "#.env#",
        ".#.env",
        "id_ed25519.bak",
        "id_rsa.old",
        "id_rsa~",
        "id_rsa.1",
        "id_rsa (1)",
        "id_rsa_work",
        "id_ecdsa_sk",
        "key.pem~",
        "key.pem.orig",
        "tls.key.backup",
        "credentials.bak",
        ".ssh/config",
        "/home/u/.ssh",
        "~/.kube/config",
        ".gnupg/private-keys-v1.d/x.key",
        ".pgpass",
        ".envrc",
    ] {
        assert!(is_secret_file(p), "{p:?}");
    }
    for p in [
        ".env.refs",
        ".env.example",
        ".env.sample",
        ".env.template",
        ".ENV.EXAMPLE",
        ".env.example.bak",
        "id_rsa.pub",
        "id_ed25519.pub",
        "environment.old.ts",
        "src/env.rs",
        "notes.bak",
        "Cargo.toml",
        "process.env.ts",
    ] {
        assert!(!is_secret_file(p), "{p:?}");
    }
}

fn cx(dir: &Path) -> Ctx {
    Ctx {
        cwd: Some(dir.to_path_buf()),
        home: None,
    }
}

fn call(tool: &str, input: Value, cwd: Option<&Path>) -> String {
    let mut v = serde_json::json!({"tool_name": tool, "tool_input": input});
    if let Some(c) = cwd {
        v["cwd"] = Value::String(c.display().to_string());
    }
    v.to_string()
}

#[test]
fn links_with_innocent_names_are_judged_by_their_target() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    std::fs::write(p.join(".env"), "K=v\n").unwrap();
    std::fs::create_dir(p.join(".ssh")).unwrap();
    std::fs::write(p.join(".ssh/config"), "Host x").unwrap();
    symlink(".env", p.join("notes.txt")).unwrap();
    symlink(".ssh", p.join("docs")).unwrap();
    symlink("missing/.env.local", p.join("later.txt")).unwrap();
    std::fs::write(p.join("plain.txt"), "hello").unwrap();
    let nowhere = Ctx {
        cwd: Some(PathBuf::from("/")),
        home: None,
    };
    for (input, cwd, refused) in [
        (serde_json::json!({"file_path": "notes.txt"}), Some(p), true),
        (
            serde_json::json!({"file_path": p.join("notes.txt")}),
            None,
            true,
        ),
        (
            serde_json::json!({"file_path": "docs/config"}),
            Some(p),
            true,
        ),
        (serde_json::json!({"file_path": "later.txt"}), Some(p), true),
        (
            serde_json::json!({"file_path": "plain.txt"}),
            Some(p),
            false,
        ),
        (serde_json::json!({"file_path": "new.txt"}), Some(p), false),
    ] {
        let verdict = check_call(&call("Read", input.clone(), cwd), &nowhere);
        assert_eq!(verdict.is_err(), refused, "{input}: {verdict:?}");
    }
    // Without a `cwd` field, relative paths resolve against the process's directory.
    let input = call("Write", serde_json::json!({"file_path": "notes.txt"}), None);
    let reason = check_call(&input, &cx(p)).unwrap_err();
    assert!(
        reason.contains("resolves to") && reason.contains(".env"),
        "{reason}"
    );
}

#[test]
fn grep_over_a_directory_with_secret_files_needs_a_glob_that_leaves_them_out() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    std::fs::create_dir_all(p.join("src")).unwrap();
    std::fs::create_dir_all(p.join("config/deep")).unwrap();
    std::fs::write(p.join("src/main.rs"), "fn main() {}").unwrap();
    std::fs::write(p.join("config/deep/.env.local"), "K=v").unwrap();
    let grep = |input: Value| check_call(&call("Grep", input, Some(p)), &cx(p));
    let reason = grep(serde_json::json!({"pattern": "K="})).unwrap_err();
    assert!(reason.contains("config/deep/.env.local"), "{reason}");
    assert!(grep(serde_json::json!({"pattern": "K=", "path": "src"})).is_ok());
    assert!(grep(serde_json::json!({"pattern": "K=", "glob": "*.rs"})).is_ok());
    assert!(grep(serde_json::json!({"pattern": "K=", "include": "*.{rs,toml}"})).is_ok());
    assert!(grep(serde_json::json!({"pattern": "K=", "glob": "!.env*"})).is_ok());
    assert!(grep(serde_json::json!({"pattern": "K=", "glob": "!.env"})).is_err());
    assert!(grep(serde_json::json!({"pattern": "K=", "glob": "**/*"})).is_err());
    let typed = grep(serde_json::json!({"pattern": "K=", "type": "rust"})).unwrap_err();
    assert!(typed.contains("`type`"), "{typed}");
    // A regular expression is not a path: searching for `process.env` is fine.
    assert!(grep(serde_json::json!({"pattern": "process.env", "path": "src"})).is_ok());
    // A Grep on one file is judged like a read.
    assert!(grep(serde_json::json!({"pattern": "K", "path": "config/deep/.env.local"})).is_err());
    // What a search skips is not looked at; a link inside the tree is.
    std::fs::remove_file(p.join("config/deep/.env.local")).unwrap();
    std::fs::create_dir_all(p.join("node_modules/x")).unwrap();
    std::fs::write(p.join("node_modules/x/.env"), "K=v").unwrap();
    assert!(grep(serde_json::json!({"pattern": "K="})).is_ok());
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("prod.env"), "K=v").unwrap();
    symlink(outside.path().join("prod.env"), p.join("src/notes.rs")).unwrap();
    let reason = grep(serde_json::json!({"pattern": "K=", "glob": "*.rs"})).unwrap_err();
    assert!(reason.contains("src/notes.rs"), "{reason}");
}

#[test]
fn a_scan_past_its_limits_is_refused() {
    let d = tempfile::tempdir().unwrap();
    for i in 0..10 {
        std::fs::write(d.path().join(format!("f{i}.rs")), "").unwrap();
    }
    let s = scan(
        d.path(),
        &Limits {
            entries: 5,
            depth: 4,
        },
    );
    assert!(s.truncated);
    std::fs::create_dir_all(d.path().join("a/b/c")).unwrap();
    std::fs::write(d.path().join("a/b/c/.env"), "").unwrap();
    let s = scan(
        d.path(),
        &Limits {
            entries: 100,
            depth: 2,
        },
    );
    assert!(s.truncated && s.found.is_empty());
    let s = scan(d.path(), &LIMITS);
    assert!(!s.truncated);
    assert_eq!(s.found.len(), 1);
    assert_eq!(s.found[0].rel, "a/b/c/.env");
}

#[test]
fn glob_lists_names_and_is_refused_only_for_secret_names() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join(".env"), "K=v").unwrap();
    let glob = |input: Value| check_call(&call("Glob", input, Some(d.path())), &cx(d.path()));
    assert!(glob(serde_json::json!({"pattern": "**/*.rs"})).is_ok());
    // Listing names shows no value, so a wildcard that also lists `.env` is fine; a
    // pattern that spells a secret file's name is refused, as it always was.
    assert!(glob(serde_json::json!({"pattern": "**/.env*"})).is_ok());
    assert!(glob(serde_json::json!({"pattern": "**/.env"})).is_err());
    assert!(glob(serde_json::json!({"pattern": "*.pem", "path": "certs"})).is_err());
    assert!(glob(serde_json::json!({"pattern": "*", "path": "~/.ssh"})).is_err());
    assert!(glob(serde_json::json!({"pattern": "*", "path": d.path().join(".ssh")})).is_err());
}

#[test]
fn malformed_input_is_refused() {
    let c = cx(Path::new("/"));
    for input in [
        "",
        "not json",
        "[]",
        r#"{"tool_input": {"file_path": "a"}}"#,
        r#"{"tool_name": "Read"}"#,
        r#"{"tool_name": "Read", "tool_input": "a"}"#,
        r#"{"tool_name": "Read", "tool_input": {}}"#,
        r#"{"tool_name": "Read", "tool_input": {"file_path": 7}}"#,
        r#"{"tool_name": "Grep", "tool_input": {"pattern": "x", "glob": ["*.rs"]}}"#,
        r#"{"tool_name": "Read", "tool_input": {"file_path": "a"}, "cwd": 1}"#,
    ] {
        let reason = check_call(input, &c).unwrap_err();
        assert!(reason.contains("refuses this call"), "{input}: {reason}");
    }
    let nowhere = Ctx {
        cwd: None,
        home: None,
    };
    let relative = r#"{"tool_name": "Read", "tool_input": {"file_path": "a.txt"}}"#;
    assert!(check_call(relative, &nowhere).is_err());
    let absolute = r#"{"tool_name": "Read", "tool_input": {"file_path": "/nonexistent/a.txt"}}"#;
    assert!(check_call(absolute, &nowhere).is_ok());
}
