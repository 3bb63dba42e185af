//! `kovra scaffold`: a sample repository with a file in every language scaffold reads, a
//! compose file, a workflow, a `.env.example`, a `.env` and a `.gitignore`. Every read name
//! is proposed with the file and line it was first read at; ignored files, installed
//! dependencies and `.env` values are never read; an existing record is mapped; the proposal
//! parses as a refs file; `--write` never replaces a file without `--force`.

use std::path::Path;

use kovra_core::envrefs::{self, RefValue};

use crate::harness::*;
use crate::leak::*;

/// Each name the sample repository reads, where it is first read, and its refs line.
const EXPECTED: &[(&str, &str, &str)] = &[
    // (name, first read at, live line or commented suggestion)
    (
        "DATABASE_URL",
        "app/settings.py:4",
        "DATABASE_URL=secret:${ENV}/db/database_url",
    ),
    (
        "LOG_LEVEL",
        "app/settings.py:5",
        "# LOG_LEVEL=${env:LOG_LEVEL}",
    ),
    (
        "OPENAI_API_KEY",
        "web/src/client.ts:1",
        "OPENAI_API_KEY=secret:${ENV}/openai/openai_api_key",
    ),
    (
        "VITE_PUBLIC_URL",
        "web/src/client.ts:2",
        "# VITE_PUBLIC_URL=${env:VITE_PUBLIC_URL}",
    ),
    (
        "SHOP_SIGNING_KEY",
        "src/main.rs:2",
        "SHOP_SIGNING_KEY=secret:${ENV}/shop/shop_signing_key",
    ),
    (
        "LISTEN_ADDR",
        "cmd/server/main.go:6",
        "# LISTEN_ADDR=${env:LISTEN_ADDR}",
    ),
    (
        "SMTP_PASSWORD",
        "config/boot.rb:1",
        "SMTP_PASSWORD=secret:${ENV}/shop/smtp_password",
    ),
    (
        "DEPLOY_TOKEN",
        "scripts/deploy.sh:3",
        "DEPLOY_TOKEN=secret:${ENV}/shop/deploy_token",
    ),
    (
        "REDIS_URL",
        "docker-compose.yml:5",
        "REDIS_URL=secret:${ENV}/shop/redis_url",
    ),
    (
        "IMAGE_TAG",
        "docker-compose.yml:3",
        "# IMAGE_TAG=${env:IMAGE_TAG}",
    ),
    (
        "SENTRY_RELEASE_HOOK",
        ".github/workflows/ci.yml:10",
        "SENTRY_RELEASE_HOOK=secret:${ENV}/shop/sentry_release_hook",
    ),
    (
        "NODE_ENV",
        ".github/workflows/ci.yml:3",
        "# NODE_ENV=${env:NODE_ENV}",
    ),
    (
        "STRIPE_SECRET_KEY",
        ".env.example:2",
        "STRIPE_SECRET_KEY=secret:${ENV}/stripe/stripe_secret_key",
    ),
    (
        "FEATURE_FLAGS",
        ".env.example:3",
        "# FEATURE_FLAGS=${env:FEATURE_FLAGS}",
    ),
];

/// Names that must not be proposed: in a git-ignored file, under node_modules, in `.env`,
/// or the system's own.
const ABSENT: &[&str] = &[
    "IGNORED_BY_GITIGNORE",
    "INSTALLED_DEPENDENCY_VAR",
    "ONLY_IN_DOT_ENV",
    "=${env:HOME}",
];

fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// The sample repository, in `shop/` under the project directory. Returns the values planted
/// in `.env` and `.env.example`, which nothing may print.
fn sample_repo(root: &Path) -> (String, String) {
    let dot_env_value = canary("dot-env");
    let example_value = canary("env-example");
    write(
        root,
        "app/settings.py",
        "import os\n\n# os.getenv(\"COMMENTED_OUT_READ\")\nDATABASE = os.environ[\"DATABASE_URL\"]\nLEVEL = os.getenv(\"LOG_LEVEL\", \"info\")\nHOME = os.environ.get(\"HOME\")\n",
    );
    write(
        root,
        "web/src/client.ts",
        "const key = process.env.OPENAI_API_KEY;\nconst site = import.meta.env.VITE_PUBLIC_URL;\n",
    );
    write(
        root,
        "src/main.rs",
        "fn main() {\n    let key = std::env::var(\"SHOP_SIGNING_KEY\").unwrap_or_default();\n    let v = env!(\"CARGO_PKG_VERSION\");\n}\n",
    );
    write(
        root,
        "cmd/server/main.go",
        "package main\n\nimport \"os\"\n\nfunc main() {\n\taddr := os.Getenv(\"LISTEN_ADDR\")\n\t_ = addr\n}\n",
    );
    write(
        root,
        "config/boot.rb",
        "smtp = ENV.fetch(\"SMTP_PASSWORD\")\ndb = ENV[\"DATABASE_URL\"]\n",
    );
    write(
        root,
        "scripts/deploy.sh",
        "#!/bin/sh\nOUT=/tmp/x\ncurl -H \"Authorization: Bearer $DEPLOY_TOKEN\" \"https://deploy.example/$OUT\" -o \"$HOME/log\"\n",
    );
    write(
        root,
        "docker-compose.yml",
        "services:\n  web:\n    image: \"shop:${IMAGE_TAG}\"\n    environment:\n      REDIS_URL: redis://cache:6379\n      DATABASE_URL:\n",
    );
    write(
        root,
        ".github/workflows/ci.yml",
        "on: push\nenv:\n  NODE_ENV: test\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n      - run: npm test\n        env:\n          SENTRY_RELEASE_HOOK: ${{ secrets.SENTRY_RELEASE_HOOK }}\n",
    );
    write(
        root,
        ".env.example",
        &format!("# copy to .env\nSTRIPE_SECRET_KEY={example_value}\nFEATURE_FLAGS=\n"),
    );
    write(root, ".env", &format!("ONLY_IN_DOT_ENV={dot_env_value}\n"));
    write(root, ".gitignore", "generated/\n.env\n");
    write(
        root,
        "generated/client.py",
        "import os\nx = os.getenv(\"IGNORED_BY_GITIGNORE\")\n",
    );
    write(
        root,
        "node_modules/dep/index.js",
        "module.exports = process.env.INSTALLED_DEPENDENCY_VAR;\n",
    );
    (dot_env_value, example_value)
}

#[test]
fn scaffold_finds_every_languages_reads_and_maps_existing_records() {
    let p = Project::new();
    let repo = p.dir.join("shop");
    let (dot_env_value, example_value) = sample_repo(&repo);
    let db_value = canary("db-url");
    p.add("secret:dev/db/database_url", &db_value, &[]);

    // Run from another directory, naming the repository.
    let out = p.h.ok(&["scaffold", repo.to_str().unwrap()]);
    let text = stdout(&out);
    // The workflow's secret line: the `secrets.X` reading makes a secret of any name.
    for (name, at, line) in EXPECTED {
        assert!(
            text.contains(&format!("# {name}: {at} (")),
            "{name} not found at {at}:\n{text}"
        );
        assert!(
            text.lines().any(|l| l == *line),
            "no line `{line}`:\n{text}"
        );
    }
    for name in ABSENT {
        assert!(!text.contains(name), "{name} proposed:\n{text}");
    }
    assert!(!text.contains("COMMENTED_OUT_READ"), "{text}");
    // The existing record is named, in its environment.
    assert!(
        text.contains(
            "# DATABASE_URL: app/settings.py:4 (python, 3 reads); existing record secret:dev/db/database_url (global)"
        ),
        "{text}"
    );
    assert!(text.contains("# note: .env skipped"), "{text}");
    assert!(text.contains("system variables left out: HOME"), "{text}");
    assert!(
        stderr(&out).contains("8 secret(s), 1 of them existing records; 6 configuration"),
        "{}",
        describe(&out)
    );

    // It is a refs file: every live line a coordinate, every name once.
    let parsed = envrefs::parse(".env.refs", &text).unwrap();
    assert_eq!(parsed.env.as_deref(), Some("dev"));
    let live: Vec<&str> = EXPECTED
        .iter()
        .filter(|(_, _, l)| !l.starts_with('#'))
        .map(|(n, _, _)| *n)
        .collect();
    let mut names: Vec<&str> = parsed.entries.iter().map(|e| e.name.as_str()).collect();
    names.sort_unstable();
    let mut want = live.clone();
    want.sort_unstable();
    assert_eq!(names, want);
    assert!(
        parsed
            .entries
            .iter()
            .all(|e| matches!(e.value, RefValue::Secret { .. }))
    );

    // `--json`: the same proposal, each variable with its reasoning.
    let (code, doc) = p.h.json(&["scaffold", repo.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0, "{doc}");
    assert_eq!(doc["kind"], "scaffold");
    assert_eq!(doc["refs"].as_str(), Some(text.as_str()));
    let vars = doc["variables"].as_array().unwrap();
    assert_eq!(vars.len(), EXPECTED.len(), "{doc}");
    let var = |name: &str| vars.iter().find(|v| v["name"] == name).unwrap().clone();
    assert_eq!(var("DATABASE_URL")["mapping"]["kind"], "existing");
    assert_eq!(
        var("DATABASE_URL")["mapping"]["coordinate"],
        "secret:dev/db/database_url"
    );
    assert_eq!(var("OPENAI_API_KEY")["provider"], "openai");
    assert_eq!(
        var("OPENAI_API_KEY")["mapping"]["coordinate"],
        "secret:dev/openai/openai_api_key"
    );
    assert_eq!(var("LISTEN_ADDR")["mapping"]["kind"], "pass-through");
    assert_eq!(var("LISTEN_ADDR")["lang"], "go");
    assert_eq!(var("LISTEN_ADDR")["line"], 6);

    // Names only: no value of `.env`, `.env.example` or the vault was printed.
    for (value, what) in [
        (&dot_env_value, ".env value"),
        (&example_value, ".env.example value"),
        (&db_value, "record value"),
    ] {
        assert_not_printed(&p.h, value, what);
    }
}

#[test]
fn write_never_replaces_a_refs_file_without_force() {
    let p = Project::new();
    let repo = p.dir.join("shop");
    sample_repo(&repo);
    let refs = repo.join(".env.refs");

    // In the current directory, as `kovra scaffold --write` is used.
    let mut c = p.h.cmd(&["scaffold", "--write"]);
    c.current_dir(&repo);
    let out = p.h.run_with(c, None);
    assert_exit(&out, 0, "first --write");
    assert!(out.stdout.is_empty(), "{}", describe(&out));
    assert!(
        stderr(&out).contains(&format!("wrote {}", refs.display())),
        "{}",
        describe(&out)
    );
    let written = std::fs::read_to_string(&refs).unwrap();
    assert!(written.contains("SMTP_PASSWORD=secret:${ENV}/shop/smtp_password\n"));
    envrefs::parse(".env.refs", &written).unwrap();

    // The daemon's own check reads it: every new record is reported unresolved, no line is
    // malformed.
    let mut c = p.h.cmd(&["doctor", "--json"]);
    c.current_dir(&repo);
    let out = p.h.run_with(c, None);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let findings = doc["findings"]
        .as_array()
        .unwrap_or_else(|| panic!("no findings: {}", describe(&out)));
    let said = |needle: &str| {
        findings
            .iter()
            .any(|f| f["message"].as_str().unwrap_or_default().contains(needle))
    };
    assert!(
        said("secret:dev/shop/smtp_password does not resolve"),
        "{}",
        describe(&out)
    );
    assert!(
        findings.iter().all(|f| f["kind"] != "env-needed"),
        "{}",
        describe(&out)
    );

    // A second --write is refused, and the file is as it was.
    std::fs::write(&refs, "# mine\nA=secret:dev/x/y\n").unwrap();
    let out = p.h.run(&["scaffold", repo.to_str().unwrap(), "--write"]);
    assert_exit(&out, 1, "second --write");
    assert_contains(&stderr(&out), "exists; scaffold does not replace it", &out);
    assert_contains(&stderr(&out), "--force", &out);
    assert_eq!(
        std::fs::read_to_string(&refs).unwrap(),
        "# mine\nA=secret:dev/x/y\n"
    );
    let (code, doc) =
        p.h.json(&["scaffold", repo.to_str().unwrap(), "--write", "--json"]);
    assert_eq!(code, 1);
    assert_eq!(doc["error"]["code"], "output-exists");

    // --force replaces it; --force alone is a usage error.
    let out = p.h.run(&["scaffold", repo.to_str().unwrap(), "--force"]);
    assert_exit(&out, 2, "--force without --write");
    let (code, doc) = p.h.json(&[
        "scaffold",
        repo.to_str().unwrap(),
        "--write",
        "--force",
        "--env",
        "staging",
        "--json",
    ]);
    assert_eq!(code, 0, "{doc}");
    assert_eq!(doc["written"], refs.display().to_string());
    let replaced = std::fs::read_to_string(&refs).unwrap();
    assert_eq!(doc["refs"].as_str(), Some(replaced.as_str()));
    assert!(replaced.contains("\nenv = staging\n"), "{replaced}");
}

#[test]
fn without_a_vault_the_scan_is_still_proposed_unmapped() {
    let h = Home::new();
    let repo = h.root.join("shop");
    sample_repo(&repo);
    let out = h.ok(&["scaffold", repo.to_str().unwrap()]);
    let text = stdout(&out);
    assert!(
        text.contains("# note: the vault was not consulted (not-initialized"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l == "DATABASE_URL=secret:${ENV}/shop/database_url"),
        "{text}"
    );
    assert_contains(&stderr(&out), "warning: the vault was not consulted", &out);
    envrefs::parse(".env.refs", &text).unwrap();
}
