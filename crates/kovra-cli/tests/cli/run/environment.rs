//! The child's environment: no `KOVRA_*` variable, `--no-secrets`, `--only`, passthrough,
//! fallbacks and literals.

use super::*;

// ---------------------------------------------------------------------------------------
// The child's environment
// ---------------------------------------------------------------------------------------

#[test]
fn the_child_never_sees_a_kovra_variable() {
    let (p, value) = with_token("env");
    let kovra_vars = [
        ("KOVRA_PASSPHRASE_FILE", p.h.pass_file.display().to_string()),
        ("KOVRA_ENV", "dev".to_string()),
        ("KOVRA_LOG", "trace".to_string()),
        ("KOVRA_ORIGIN", "agent".to_string()),
        ("KOVRA_NO_AUTOSTART", "0".to_string()),
        ("KOVRA_SOMETHING_ELSE", "unrelated-marker-x1".to_string()),
    ];
    let mut env: Vec<(&str, &str)> = kovra_vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    env.push(("NOT_KOVRA_PLAIN", "passed-through"));
    for extra in [&["--env", "dev"][..], &["--no-secrets"][..]] {
        let mut args = vec!["run"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--", "env"]);
        let out = p.run_env(&env, &args);
        assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
        let text = stdout(&out);
        // The client really had them (KOVRA_HOME from the harness, too).
        assert!(
            !text.lines().any(|l| l.starts_with("KOVRA_")),
            "{extra:?}: a KOVRA_ variable reached the child:\n{text}"
        );
        assert!(!text.contains("unrelated-marker-x1"), "{text}");
        assert!(
            !text.contains(&p.h.pass_file.display().to_string()),
            "{text}"
        );
        assert!(!text.contains(PASSPHRASE), "{text}");
        assert!(
            text.lines().any(|l| l == "NOT_KOVRA_PLAIN=passed-through"),
            "the caller's environment is passed on: {text}"
        );
        let injected = text.lines().any(|l| l.starts_with("TOKEN="));
        assert_eq!(injected, extra[0] == "--env", "{extra:?}: {text}");
    }
    // KOVRA_ENV was honoured by the client as --env, and still not passed on.
    let out = p.run_env(&env, &["run", "--", "python3", "-c", PY_SHA_OF, "TOKEN"]);
    assert_eq!(
        stdout(&out).trim(),
        sha256_hex(value.as_bytes()),
        "{}",
        describe(&out)
    );
    assert_not_printed(&p.h, &value, "the injected value");
}

#[test]
fn no_secrets_injects_nothing_and_needs_no_refs_file() {
    let (p, value) = with_token("nosecrets");
    // Even a broken refs file is not read.
    p.refs("this is not a refs line\n");
    let out = p.run_env(
        &[("KOVRA_PASSPHRASE_FILE", "/tmp/x")],
        &[
            "run",
            "--no-secrets",
            "--",
            "sh",
            "-c",
            "echo \"token=[${TOKEN-unset}]\"; env | grep -c '^KOVRA_' || true",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(stdout(&out), "token=[unset]\n0\n");
    std::fs::remove_file(p.dir.join(".env.refs")).unwrap();
    let out = p.expect(0, &["run", "--no-secrets", "--", "true"]);
    assert!(out.stderr.is_empty(), "{}", describe(&out));
    assert!(p.injections("allow").is_empty());
    // --no-secrets and --only do not combine.
    let out = p.run(&["run", "--no-secrets", "--only", "TOKEN", "--", "true"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert_not_printed(&p.h, &value, "the injected value");
}

#[test]
fn only_injects_just_the_named_variables() {
    let p = Proj::new();
    let (a, b) = (canary("only-a"), canary("only-b"));
    p.add("secret:dev/svc/a", &a, &[]);
    p.add("secret:dev/svc/b", &b, &[]);
    p.refs("A=secret:dev/svc/a\nB=secret:dev/svc/b\nC=literal-c\n");
    let show = "echo \"A=${A:+set} B=${B:+set} C=${C:-unset}\"";
    let out = p.expect(0, &["run", "--", "sh", "-c", show]);
    assert_eq!(stdout(&out), "A=set B=set C=literal-c\n");
    let out = p.expect(0, &["run", "--only", "A", "--", "sh", "-c", show]);
    assert_eq!(stdout(&out), "A=set B= C=unset\n");
    let out = p.expect(
        0,
        &["run", "--only", "B", "--only", "C", "--", "sh", "-c", show],
    );
    assert_eq!(stdout(&out), "A= B=set C=literal-c\n");
    // Only B was read for that run.
    let last: Vec<Value> = p.injections("allow");
    assert_eq!(
        last.last().unwrap()["coordinate"],
        "secret:dev/svc/b",
        "{last:?}"
    );
    assert_eq!(last.len(), 4, "{last:?}");
    // A name the file does not define is an error, and nothing runs.
    let out = p.run(&["run", "--only", "NOPE", "--", "sh", "-c", "touch child-ran"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert_contains(&stderr(&out), "NOPE", &out);
    assert!(stderr(&out).contains("code: refs-invalid"));
    assert!(!p.marker().exists());
    assert_not_printed(&p.h, &a, "value a");
    assert_not_printed(&p.h, &b, "value b");
}

#[test]
fn env_passthrough_fallbacks_and_literals_reach_the_child() {
    let p = Proj::new();
    p.refs(concat!(
        "# wiring\n",
        "\n",
        "FROM_ENV=${env:MY_INPUT}\n",
        "FROM_ENV_FB=${env:MY_INPUT} | not-used\n",
        "UNSET_FB=${env:SURELY_UNSET_VAR_X} | the-fallback\n",
        "SECRET_FB=secret:dev/none/here | secret-fallback\n",
        "export LIT=plain literal # a comment\n",
        "DQ=\"double # kept\\\"q\\\"\"\n",
        "SQ='{{not a template}} ${HOME}'\n",
        "MIX=\"{{env:MY_INPUT}}-and-text\"\n",
    ));
    let out = p.run_env(
        &[("MY_INPUT", "from-the-caller")],
        &run_dev(&[
            "python3",
            "-c",
            "import os,json;print(json.dumps({k: os.environ.get(k) for k in \
             ['FROM_ENV','FROM_ENV_FB','UNSET_FB','SECRET_FB','LIT','DQ','SQ','MIX']}))",
        ]),
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        got,
        json!({
            "FROM_ENV": "from-the-caller",
            "FROM_ENV_FB": "from-the-caller",
            "UNSET_FB": "the-fallback",
            "SECRET_FB": "secret-fallback",
            "LIT": "plain literal",
            "DQ": "double # kept\"q\"",
            "SQ": "{{not a template}} ${HOME}",
            "MIX": "from-the-caller-and-text",
        })
    );
    // The refs value wins over a caller variable of the same name.
    let out = p.run_env(
        &[("LIT", "caller value"), ("MY_INPUT", "x")],
        &["run", "--", "sh", "-c", "echo \"$LIT\""],
    );
    assert_eq!(stdout(&out), "plain literal\n", "{}", describe(&out));
    // `${env:VAR}` without a fallback and VAR unset: an error, nothing runs.
    p.refs("NEEDED=${env:SURELY_UNSET_VAR_Y}\n");
    let out = p.run(&["run", "--", "sh", "-c", "touch child-ran"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert_contains(&stderr(&out), "SURELY_UNSET_VAR_Y", &out);
    assert_contains(&stderr(&out), "code: env-unset", &out);
    assert!(!p.marker().exists());
}
