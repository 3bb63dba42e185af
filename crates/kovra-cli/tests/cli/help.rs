//! The command line explains and installs itself (issue 21, points 1 and 6): every help
//! screen reached from `kovra --help` has examples and says what each argument is, the
//! completions load in bash, the man pages render, and `scripts/install.sh` puts all of it in
//! a prefix. The walk follows what the help lists, so commands added later are checked too.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::harness::{Home, kovra_bin};

fn kovra(args: &[&str]) -> Output {
    Command::new(kovra_bin())
        .args(args)
        // The width the help wraps at, whatever terminal runs the tests.
        .env("COLUMNS", "100")
        .output()
        .expect("run kovra")
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The commands a help screen lists: its sections after the usage line and before the first
/// `Arguments:` or `Options:` (the task groups at the top, `Commands:` below), without `help`.
fn listed_commands(help: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut in_list = false;
    for line in help.lines() {
        if line.starts_with("Usage:") {
            in_list = true;
            continue;
        }
        if line == "Arguments:" || line == "Options:" {
            break;
        }
        if !in_list {
            continue;
        }
        if let Some(rest) = line.strip_prefix("  ")
            && !rest.starts_with(' ')
            && let Some(name) = rest.split_whitespace().next()
            && name != "help"
        {
            names.push(name.to_string());
        }
    }
    names
}

/// Argument entries of a short (`-h`) help that carry no description. An entry is a line
/// under `Arguments:`/`Options:` indented at most 6 and starting with `-`, `<` or `[`; its
/// text follows on the same line after two spaces, or on the next, deeper-indented line.
fn undocumented_arguments(help: &str) -> Vec<String> {
    let lines: Vec<&str> = help.lines().collect();
    let mut bare = Vec::new();
    let mut in_args = false;
    for (i, line) in lines.iter().enumerate() {
        if !line.starts_with(' ') && !line.is_empty() {
            in_args = *line == "Arguments:" || *line == "Options:";
            continue;
        }
        let spec = line.trim_start();
        let indent = line.len() - spec.len();
        // Entries sit at column 2 (or 6 for long-only flags); deeper lines continue a text.
        let entry = spec.starts_with('-') || spec.starts_with('<') || spec.starts_with('[');
        if !in_args || !entry || indent > 6 {
            continue;
        }
        let same_line = spec
            .split_once("  ")
            .is_some_and(|(_, t)| !t.trim().is_empty());
        let next_line = lines.get(i + 1).is_some_and(|n| {
            let t = n.trim_start();
            !t.is_empty() && n.len() - t.len() > indent + 2
        });
        if !same_line && !next_line {
            bare.push(spec.trim_end().to_string());
        }
    }
    bare
}

#[test]
fn every_help_screen_has_examples_and_documents_its_arguments() {
    let top = kovra(&["--help"]);
    assert!(top.status.success());
    let top = text(&top);
    for group in [
        "Vault:",
        "Records:",
        "Run with secrets:",
        "Agents:",
        "Broker:",
        "Sharing:",
    ] {
        assert!(
            top.contains(&format!("\n{group}\n")),
            "no {group} group:\n{top}"
        );
    }
    assert!(top.contains("Examples:\n  kovra ") && top.contains("Exit codes:"));
    let mut queue: Vec<Vec<String>> = listed_commands(&top).into_iter().map(|n| vec![n]).collect();
    assert!(queue.len() > 30, "the top-level help lists only {queue:?}");
    let mut seen = 0;
    while let Some(path) = queue.pop() {
        seen += 1;
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("-h");
        let out = kovra(&args);
        let shown = path.join(" ");
        assert!(out.status.success(), "`kovra {shown} -h` failed: {out:?}");
        let help = text(&out);
        assert!(
            help.contains("\nExamples:\n  ") && help.contains("kovra "),
            "`kovra {shown} -h` has no examples:\n{help}"
        );
        let bare = undocumented_arguments(&help);
        assert!(
            bare.is_empty(),
            "`kovra {shown}`: no help for {bare:?}:\n{help}"
        );
        for line in help.lines() {
            assert!(
                line.chars().count() <= 100,
                "`kovra {shown} -h` is too wide: {line:?}"
            );
        }
        for sub in listed_commands(&help) {
            let mut p = path.clone();
            p.push(sub);
            queue.push(p);
        }
    }
    assert!(seen > 50, "walked only {seen} help screens");
}

#[test]
fn the_walk_would_catch_a_bare_argument() {
    let help = "Usage: x\n\nOptions:\n      --fine <X>  Said\n                  [env: X=]\n      --bare <Y>\n  -h, --help  Print help\n";
    assert_eq!(undocumented_arguments(help), ["--bare <Y>"]);
    let top = "Usage: kovra <COMMAND>\n\nVault:\n  init  Make\n  unlock  Open it,\n         wrapped\n\nOptions:\n  -h\n";
    assert_eq!(listed_commands(top), ["init", "unlock"]);
}

#[test]
fn closed_sets_list_their_values() {
    let add = text(&kovra(&["add", "-h"]));
    assert!(add.contains("low, medium, high or inject-only"), "{add}");
    let generate = text(&kovra(&["generate", "--help"]));
    for charset in ["alnum", "alpha", "digits", "hex", "base64url", "symbols"] {
        assert!(generate.contains(charset), "{generate}");
    }
    let rollback = text(&kovra(&["rollback", "-h"]));
    assert!(
        rollback.contains("<VERSION>") && rollback.contains("v3"),
        "{rollback}"
    );
}

#[test]
fn global_flags_show_only_where_they_mean_something() {
    for path in [
        &["demo"][..],
        &["daemon"],
        &["daemon", "stop"],
        &["completions"],
        &["mcp"],
    ] {
        let help = text(&kovra(&[path, &["-h"][..]].concat()));
        assert!(
            !help.contains("--json"),
            "`kovra {path:?}` shows --json:\n{help}"
        );
    }
    for path in [&["lock"][..], &["2fa", "status"], &["audit"], &["init"]] {
        let help = text(&kovra(&[path, &["-h"][..]].concat()));
        assert!(
            !help.contains("--project"),
            "`kovra {path:?}` shows --project:\n{help}"
        );
    }
    for path in [
        &["list"][..],
        &["add"],
        &["run"],
        &["doctor"],
        &["agent", "env"],
    ] {
        let help = text(&kovra(&[path, &["-h"][..]].concat()));
        assert!(
            help.contains("--json") && help.contains("--project"),
            "{path:?}:\n{help}"
        );
    }
    // Hidden from the help, still accepted: both placements keep working.
    let h = Home::new();
    for args in [
        &["--json", "list"][..],
        &["list", "--json"],
        &["lock", "--project", "x"],
    ] {
        let out = h.run(args);
        assert_ne!(
            out.status.code(),
            Some(2),
            "`kovra {args:?}` is now a usage error: {out:?}"
        );
    }
    let out = h.run(&["list", "--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert!(doc.get("error").is_some(), "{doc}");
}

#[test]
fn version_names_the_commit() {
    let out = kovra(&["--version"]);
    let v = text(&out);
    let pkg = env!("CARGO_PKG_VERSION");
    let in_git = Command::new("git")
        .args([
            "-C",
            env!("CARGO_MANIFEST_DIR"),
            "rev-parse",
            "--short=7",
            "HEAD",
        ])
        .output()
        .is_ok_and(|o| o.status.success());
    if !in_git {
        assert_eq!(v.trim(), format!("kovra {pkg}"));
        return;
    }
    let rest = v
        .trim()
        .strip_prefix(&format!("kovra {pkg} (commit "))
        .and_then(|r| r.strip_suffix(')'))
        .unwrap_or_else(|| panic!("no commit in {v:?}"));
    let hash = rest.strip_suffix("+dirty").unwrap_or(rest);
    assert!(
        hash.len() >= 7 && hash.chars().all(|c| c.is_ascii_hexdigit()),
        "{v:?}"
    );
}

/// `complete -p kovra` in a bash that sourced `file` (the registered completion function).
fn bash_completion_of(file: &Path) -> String {
    let out = Command::new("bash")
        .arg("-c")
        .arg("source \"$1\" && complete -p kovra")
        .arg("bash")
        .arg(file)
        .output()
        .expect("run bash (scripts/test.sh installs it)");
    assert!(
        out.status.success(),
        "bash could not load {}: {out:?}",
        file.display()
    );
    text(&out)
}

/// `man -l page`, as text, asserting groff had nothing to warn about.
fn render_man(page: &Path) -> String {
    let out = Command::new("man")
        .args(["--warnings", "-l"])
        .arg(page)
        .env("MANWIDTH", "100")
        .env("MANPAGER", "cat")
        .output()
        .expect("run man (scripts/test.sh installs man-db)");
    assert!(out.status.success(), "man -l {}: {out:?}", page.display());
    assert!(
        out.stderr.is_empty(),
        "groff warns: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    text(&out)
}

#[test]
fn completions_load_and_the_man_page_renders() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("kovra.bash");
    let out = kovra(&["completions", "bash"]);
    assert!(out.status.success());
    std::fs::write(&script, &out.stdout).unwrap();
    assert!(bash_completion_of(&script).contains("-F _kovra kovra"));
    assert!(text(&kovra(&["completions", "zsh"])).starts_with("#compdef kovra"));
    assert!(text(&kovra(&["completions", "fish"])).contains("complete -c kovra"));
    let bad = kovra(&["completions", "tcsh"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("bash"));

    let page = dir.path().join("kovra.1");
    let out = kovra(&["man"]);
    assert!(out.status.success());
    std::fs::write(&page, &out.stdout).unwrap();
    let man = render_man(&page);
    for part in [
        "NAME",
        "SYNOPSIS",
        "SUBCOMMANDS",
        "kovra-add(1)",
        "EXAMPLES",
        "EXIT CODES",
    ] {
        assert!(man.contains(part), "no {part} in the man page:\n{man}");
    }
    // The examples keep their columns (not filled as prose).
    assert!(man.contains("  kovra demo     "), "{man}");
    let missing = kovra(&["man", "--dir", dir.path().join("nope").to_str().unwrap()]);
    assert_eq!(missing.status.code(), Some(1), "{missing:?}");
}

fn install(prefix: &Path, path_var: &str) -> Output {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/install.sh");
    Command::new("bash")
        .arg(script)
        .arg("--prefix")
        .arg(prefix)
        .arg("--binary")
        .arg(kovra_bin())
        .env("PATH", path_var)
        .output()
        .expect("run scripts/install.sh")
}

#[test]
fn install_script_puts_binary_completions_and_man_pages_in_the_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("prefix");
    let system_path = std::env::var("PATH").unwrap_or_default();
    let out = install(&prefix, &system_path);
    let said = text(&out);
    assert!(out.status.success(), "install.sh failed: {out:?}");

    let bin = prefix.join("bin/kovra");
    let version = Command::new(&bin).arg("--version").output().unwrap();
    assert!(version.status.success() && text(&version).starts_with("kovra "));
    let bash = prefix.join("share/bash-completion/completions/kovra");
    let zsh = prefix.join("share/zsh/site-functions/_kovra");
    let fish = prefix.join("share/fish/vendor_completions.d/kovra.fish");
    let man1 = prefix.join("share/man/man1");
    for f in [
        &bin,
        &prefix.join("bin/kovra-full"),
        &bash,
        &zsh,
        &fish,
        &man1.join("kovra.1"),
        &man1.join("kovra-add.1"),
    ] {
        assert!(f.is_file(), "{} was not installed:\n{said}", f.display());
        assert!(
            said.contains(&f.parent().unwrap().display().to_string()),
            "{said}"
        );
    }
    assert!(bash_completion_of(&bash).contains("-F _kovra kovra"));
    assert!(render_man(&man1.join("kovra-2fa-enable.1")).contains("kovra 2fa enable"));
    assert!(render_man(&man1.join("kovra.1")).contains("kovra-setup(1)"));
    // No page for clap's `help` subcommand or the hidden plumbing.
    for name in std::fs::read_dir(&man1).unwrap() {
        let name = name.unwrap().file_name().into_string().unwrap();
        // (`kovra hooks`, the installer, is a command like any; `kovra hook` is plumbing.)
        let plumbing = name.starts_with("kovra-hook.") || name.starts_with("kovra-hook-");
        assert!(!name.contains("-help") && !plumbing, "{name}");
    }
    assert!(
        said.contains("is NOT on your PATH") && said.contains("export PATH="),
        "{said}"
    );

    // Again, with the prefix on PATH: it says so, and replaces what it installed.
    let on_path = format!("{}:{system_path}", prefix.join("bin").display());
    let again = install(&prefix, &on_path);
    assert!(again.status.success(), "{again:?}");
    assert!(text(&again).contains("is on your PATH"), "{}", text(&again));

    let bad = Command::new("bash")
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/install.sh"))
        .args([
            "--prefix",
            prefix.to_str().unwrap(),
            "--binary",
            "/nonexistent/kovra",
        ])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2), "{bad:?}");
}
