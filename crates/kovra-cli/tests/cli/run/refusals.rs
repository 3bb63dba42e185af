//! Bad input: a clear error, a non-zero exit, nothing injected, nothing run.

use super::*;

// ---------------------------------------------------------------------------------------
// Bad input: a clear error, a non-zero exit, nothing injected, nothing run
// ---------------------------------------------------------------------------------------

pub(super) const TOUCH: &[&str] = &["sh", "-c", "touch child-ran; echo ${#TOKEN}"];

pub(super) fn run_touch(p: &Proj, opts: &[&str]) -> Output {
    let mut args = vec!["run"];
    args.extend_from_slice(opts);
    args.push("--");
    args.extend_from_slice(TOUCH);
    p.run(&args)
}

pub(super) fn assert_refused(p: &Proj, out: &Output, exit: i32, code: &str, mentions: &[&str]) {
    assert_eq!(out.status.code(), Some(exit), "{}", describe(out));
    let err = stderr(out);
    assert!(
        err.contains(&format!("code: {code}")),
        "expected code {code}: {}",
        describe(out)
    );
    assert!(err.starts_with("kovra: error: "), "{err}");
    for m in mentions {
        assert!(err.contains(m), "the message should mention `{m}`: {err}");
    }
    assert!(out.stdout.is_empty(), "{}", describe(out));
    p.assert_nothing_ran(out);
}

#[test]
fn a_missing_refs_file_is_refused() {
    let p = Proj::new();
    p.add("secret:dev/app/token", &canary("missing"), &[]);
    let out = run_touch(&p, &["--env", "dev"]);
    assert_refused(&p, &out, 1, "refs-missing", &[".env.refs", "--no-secrets"]);
    let out = run_touch(&p, &["--refs", "elsewhere.refs"]);
    assert_refused(&p, &out, 1, "refs-missing", &["elsewhere.refs"]);
    // With --json: one error document.
    let out = p.run(&["--json", "run", "--", "true"]);
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["error"]["code"], "refs-missing");
}

#[test]
fn malformed_lines_are_refused_naming_file_line_and_column() {
    let p = Proj::new();
    p.add("secret:dev/app/token", &canary("malformed"), &[]);
    let cases = [
        (
            "TOKEN=secret:dev/app/token\nB=secret:dev/d b/x\n",
            ".env.refs:2:15",
        ),
        (
            "# fine\nTOKEN=secret:dev/app/token\njust words\n",
            ".env.refs:3:1",
        ),
        (
            "TOKEN=secret:dev/app/token\nTOKEN=secret:dev/app/token\n",
            ".env.refs:2:1",
        ),
        (
            "TOKEN=secret:dev/app/token\nKOVRA_HOME=/x\n",
            ".env.refs:2:1",
        ),
        ("TOKEN=secret:dev/app/token\n1X=y\n", ".env.refs:2:1"),
        (
            "TOKEN=secret:dev/app/token\nX=plain | fb\n",
            ".env.refs:2:3",
        ),
        (
            "TOKEN=secret:dev/app/token\nX=\"unterminated\n",
            ".env.refs:2:3",
        ),
        (
            "TOKEN=secret:dev/app/token\nX=\"a{{secret:dev/a/b\"\n",
            ".env.refs:2:",
        ),
        (
            "TOKEN=secret:dev/app/token\nX=\"{{vault:dev/a/b}}\"\n",
            ".env.refs:2:",
        ),
        (
            "TOKEN=secret:dev/app/token\nproject = a\nproject = b\n",
            ".env.refs:3:1",
        ),
    ];
    for (text, at) in cases {
        p.refs(text);
        let out = run_touch(&p, &["--env", "dev"]);
        assert_refused(&p, &out, 1, "refs-invalid", &[&format!("error: {at}")]);
    }
    // The same through --refs names that file.
    std::fs::write(p.dir.join("other.refs"), "\n\nB=secret:dev/d b/x\n").unwrap();
    let out = run_touch(&p, &["--refs", "other.refs"]);
    assert_refused(&p, &out, 1, "refs-invalid", &["other.refs:3:15"]);
}

#[test]
fn an_unresolved_coordinate_is_refused_naming_its_line() {
    let p = Proj::new();
    p.add("secret:dev/app/token", &canary("unresolved"), &[]);
    p.refs("# wiring\nTOKEN=secret:${ENV}/app/token\nMISSING=secret:${ENV}/nope/key\n");
    let out = run_touch(&p, &["--env", "dev"]);
    assert_refused(
        &p,
        &out,
        1,
        "unresolved",
        &[".env.refs:3:9", "secret:dev/nope/key"],
    );
    // The same file under another environment: the first line is unresolved now.
    let out = run_touch(&p, &["--env", "staging"]);
    assert_refused(
        &p,
        &out,
        1,
        "unresolved",
        &[".env.refs:2:7", "secret:staging/app/token"],
    );
    // `${ENV}` with no --env, `env =` line or KOVRA_ENV: the coordinate cannot be addressed.
    let out = run_touch(&p, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert_contains(&stderr(&out), ".env.refs:2:7", &out);
    assert_contains(&stderr(&out), "code: env-needed", &out);
    p.assert_nothing_ran(&out);
}

#[test]
fn an_unresolved_line_is_refused_even_if_another_line_has_a_fallback_for_it() {
    let p = Proj::new();
    p.refs(concat!(
        "NEEDED=secret:dev/db/missing\n",
        "OPTIONAL=secret:dev/db/missing | fb\n",
        "URL=\"pg://u:{{secret:dev/db/missing}}@h/db\"\n",
    ));
    let out = p.run(&[
        "run",
        "--",
        "sh",
        "-c",
        "touch child-ran; echo \"[$NEEDED] [$OPTIONAL] [$URL]\"",
    ]);
    assert_refused(
        &p,
        &out,
        1,
        "unresolved",
        &[".env.refs:1:8", "secret:dev/db/missing"],
    );
}

#[test]
fn a_fallback_on_a_production_coordinate_is_refused() {
    let p = Proj::new();
    let prod = canary("prodfb");
    p.add("secret:prod/db/password", &prod, &[]);
    p.add("secret:dev/app/token", &canary("prodfb-dev"), &[]);
    p.refs("TOKEN=secret:dev/app/token\nDB=secret:${ENV}/db/password | devpass\n");
    // Whether or not the record exists, and whatever the executable.
    for env in ["prod", "production"] {
        let out = run_touch(&p, &["--env", env]);
        assert_refused(
            &p,
            &out,
            1,
            "fallback-refused",
            &[".env.refs:2:4", "DB", env],
        );
    }
    // Under a non-production environment the fallback applies.
    let out = p.expect(0, &run_dev(&["sh", "-c", "echo \"DB=$DB\""]));
    assert_eq!(stdout(&out), "DB=devpass\n");
    assert_not_printed(&p.h, &prod, "the production value");
}

#[test]
fn a_locked_vault_is_refused() {
    let (p, value) = with_token("locked");
    p.h.ok(&["lock"]);
    let refused = |out: &Output| {
        assert_eq!(out.status.code(), Some(6), "{}", describe(out));
        assert!(
            stderr(out).contains("code: vault-locked"),
            "{}",
            describe(out)
        );
        assert!(out.stdout.is_empty(), "{}", describe(out));
        assert!(!p.marker().exists(), "the child ran: {}", describe(out));
    };
    refused(&run_touch(&p, &["--env", "dev"]));
    // Also after a daemon restart (a new daemon starts locked).
    stop_and_wait(&p.h);
    refused(&run_touch(&p, &["--env", "dev"]));
    let pass = p.h.pass_file.display().to_string();
    p.h.ok(&["unlock", "--passphrase-file", &pass]);
    assert!(p.injections("allow").is_empty());
    assert_not_printed(&p.h, &value, "the injected value");
}

#[test]
fn a_command_that_does_not_exist_or_cannot_be_executed_is_refused() {
    let (p, value) = with_token("exec");
    let check = |args: &[&str], exit: i32, code: &str, mention: &str| {
        let mut full = vec!["run", "--env", "dev", "--"];
        full.extend_from_slice(args);
        let out = p.run(&full);
        assert_refused(&p, &out, exit, code, &[mention]);
    };
    check(
        &["surely-no-such-command-x9"],
        127,
        "command-not-found",
        "surely-no-such-command-x9",
    );
    check(&["./not-here.sh"], 127, "command-not-found", "not-here.sh");
    std::fs::write(p.dir.join("plain.sh"), "#!/bin/sh\ntouch child-ran\n").unwrap();
    check(&["./plain.sh"], 126, "not-executable", "plain.sh");
    std::fs::create_dir(p.dir.join("adir")).unwrap();
    check(&["./adir"], 126, "not-executable", "adir");
    // A PATH without the command: not found, although it exists elsewhere.
    let out = p.run_env(
        &[("PATH", p.dir.display().to_string().as_str())],
        &run_dev(&["python3", "-c", "pass"]),
    );
    assert_refused(&p, &out, 127, "command-not-found", &["python3"]);
    assert_not_printed(&p.h, &value, "the injected value");
}
