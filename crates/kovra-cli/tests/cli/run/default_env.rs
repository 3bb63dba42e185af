//! The one rule for `${ENV}` (issue 21): `--env`, then the `.env.refs` `env =` line, then
//! `KOVRA_ENV`, then an error naming where and both ways to give one; for `run` and `doctor`.

use super::*;

/// Three environments, each holding its own token, so which one was used shows in the digest.
fn three_envs() -> (Proj, Vec<(&'static str, String)>) {
    let p = Proj::new();
    let mut values = Vec::new();
    for env in ["dev", "qa", "staging"] {
        let value = canary(&format!("env-{env}"));
        p.add(&format!("secret:{env}/app/token"), &value, &[]);
        values.push((env, value));
    }
    (p, values)
}

impl Proj {
    /// `kovra ARGS` here, with KOVRA_ENV set to `var` or removed.
    fn run_var(&self, var: Option<&str>, args: &[&str]) -> Output {
        let mut c = self.cmd(args);
        match var {
            Some(v) => c.env("KOVRA_ENV", v),
            None => c.env_remove("KOVRA_ENV"),
        };
        self.h.run_with(c, None)
    }
}

/// Which environment's token the child got.
fn injected(p: &Proj, values: &[(&str, String)], var: Option<&str>, extra: &[&str]) -> String {
    let mut args = vec!["run"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--", "python3", "-c", PY_SHA_OF, "TOKEN"]);
    let out = p.run_var(var, &args);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let digest = stdout(&out).trim().to_string();
    values
        .iter()
        .find(|(_, v)| sha256_hex(v.as_bytes()) == digest)
        .map(|(env, _)| env.to_string())
        .unwrap_or_else(|| panic!("no known token injected: {}", describe(&out)))
}

#[test]
fn the_flag_beats_the_file_which_beats_kovra_env() {
    let (p, values) = three_envs();
    p.refs("# wiring\nenv = qa\nTOKEN=secret:${ENV}/app/token\n");
    assert_eq!(injected(&p, &values, Some("staging"), &[]), "qa");
    assert_eq!(injected(&p, &values, None, &[]), "qa");
    assert_eq!(
        injected(&p, &values, Some("staging"), &["--env", "dev"]),
        "dev"
    );
    p.refs("TOKEN=secret:${ENV}/app/token\n");
    assert_eq!(injected(&p, &values, Some("staging"), &[]), "staging");
    assert_eq!(injected(&p, &values, Some("qa"), &["--env", "dev"]), "dev");
    for (_, v) in &values {
        assert_not_printed(&p.h, v, "an injected token");
    }
}

#[test]
fn no_environment_is_an_error_naming_the_line_and_both_ways() {
    let (p, values) = three_envs();
    p.refs("# wiring\nPLAIN=x\nTOKEN=secret:${ENV}/app/token\n");
    let out = p.run_var(None, &["run", "--", "true"]);
    assert_exit(&out, 1, "run without an environment");
    let err = stderr(&out);
    for needle in [
        ".env.refs:3:7",
        "needs an environment",
        "env = dev",
        "KOVRA_ENV=dev",
        "--env",
    ] {
        assert_contains(&err, needle, &out);
    }
    let out = p.run_var(None, &["--json", "run", "--", "true"]);
    let v: Value = serde_json::from_str(stdout(&out).trim())
        .unwrap_or_else(|e| panic!("{e}: {}", describe(&out)));
    assert_eq!(v["error"]["code"], "env-needed", "{v}");
    // A file whose coordinates name their environment needs none.
    p.refs("TOKEN=secret:qa/app/token\n");
    assert_eq!(injected(&p, &values, None, &[]), "qa");
    // An `env =` line that is not an environment name is a parse error with its position.
    p.refs("env = q a\nTOKEN=secret:${ENV}/app/token\n");
    let out = p.run_var(None, &["run", "--", "true"]);
    assert_exit(&out, 1, "a bad env line");
    assert_contains(
        &stderr(&out),
        ".env.refs:1:7: invalid environment name",
        &out,
    );
    for (_, v) in &values {
        assert_not_printed(&p.h, v, "a token");
    }
}

#[test]
fn doctor_follows_the_same_rule() {
    let (p, _) = three_envs();
    p.refs("env = qa\nTOKEN=secret:${ENV}/app/token\n");
    let out = p.run_var(Some("nope"), &["--json", "doctor"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    // The unused-record check runs for the file's environment: dev and staging are not it.
    let text = stdout(&out);
    assert!(!text.contains("secret:dev/app/token"), "{text}");
    p.refs("TOKEN=secret:${ENV}/app/token\n");
    let out = p.run_var(None, &["doctor"]);
    assert_exit(&out, 1, "doctor without an environment");
    assert_contains(
        &stdout(&out),
        "`${ENV}` in .env.refs:1:7 needs an environment",
        &out,
    );
    assert_contains(&stdout(&out), "env = dev", &out);
    let out = p.run_var(Some("qa"), &["doctor"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
}

/// Review: `env =` is agent-writable, so naming production there must change nothing about
/// production's rules: the value still goes only to an allowlisted program, with a proof.
#[test]
fn an_env_line_naming_production_keeps_production_rules() {
    let p = Proj::new();
    let value = canary("env-prod");
    p.add("secret:prod/app/token", &value, &[]);
    p.refs("env = prod\nTOKEN=secret:${ENV}/app/token\n");
    let out = p.run_var(None, &["run", "--", "python3", "-c", PY_SHA_OF, "TOKEN"]);
    assert_ne!(out.status.code(), Some(0), "{}", describe(&out));
    // Refused for being production (not for want of a record), naming the coordinate.
    let said = describe(&out);
    assert!(
        said.contains("secret:prod/app/token") && said.contains("allowlist"),
        "{said}"
    );
    assert!(
        !stdout(&out).contains(&sha256_hex(value.as_bytes())),
        "{}",
        describe(&out)
    );
    assert_not_printed(&p.h, &value, "a production token");
}
