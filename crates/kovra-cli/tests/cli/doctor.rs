//! `kovra doctor`: a refs file checked against the vault, metadata only. Unresolved
//! coordinates and fallbacks on production coordinates are errors (exit 1); records of the
//! environment that no line uses, names that shadow the caller's environment and project
//! records that shadow global ones are warnings. Human output is `level: message [kind]`
//! lines and a summary; `--json` is one document.

use std::process::Output;

use serde_json::Value;

use crate::harness::*;
use crate::leak::*;

/// The project of a doctor test (`Project`, with the helpers below).
type Doc = Project;

/// One finding of the human output: (level, kind, message).
type Finding = (String, String, String);

impl Project {
    /// `kovra doctor ARGS`: its exit code and findings.
    fn doctor(&self, args: &[&str]) -> (i32, Vec<Finding>, Output) {
        self.doctor_env(&[], args)
    }

    fn doctor_env(&self, env: &[(&str, &str)], args: &[&str]) -> (i32, Vec<Finding>, Output) {
        let mut full = vec!["doctor"];
        full.extend_from_slice(args);
        let out = self.run_env(env, &full);
        let code = out.status.code().unwrap_or(-1);
        let text = stdout(&out);
        let mut lines: Vec<&str> = text.lines().collect();
        let summary = lines.pop().unwrap_or_default();
        let findings: Vec<Finding> = lines
            .iter()
            .map(|l| {
                let (level, rest) = l
                    .split_once(": ")
                    .unwrap_or_else(|| panic!("not a finding: {l}\n{}", describe(&out)));
                let open = rest.rfind(" [").unwrap();
                assert!(rest.ends_with(']'), "{l}");
                (
                    level.to_string(),
                    rest[open + 2..rest.len() - 1].to_string(),
                    rest[..open].to_string(),
                )
            })
            .collect();
        let errors = findings.iter().filter(|f| f.0 == "error").count();
        assert_eq!(
            summary,
            format!(
                "{errors} error(s), {} warning(s)",
                findings.iter().filter(|f| f.0 == "warning").count()
            ),
            "{}",
            describe(&out)
        );
        // Exit 1 exactly when there is an error.
        assert_eq!(code, if errors > 0 { 1 } else { 0 }, "{}", describe(&out));
        if errors > 0 {
            assert!(stderr(&out).contains("code: doctor-found-errors"));
        }
        (code, findings, out)
    }
}

fn of_kind<'a>(findings: &'a [Finding], kind: &str) -> Vec<&'a Finding> {
    findings.iter().filter(|f| f.1 == kind).collect()
}

/// The stdout documents of a `--json` run.
fn json_docs(out: &Output) -> Vec<Value> {
    serde_json::Deserializer::from_slice(&out.stdout)
        .into_iter::<Value>()
        .collect::<Result<Vec<_>, _>>()
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", describe(out)))
}

#[test]
fn unresolved_coordinates_are_errors_naming_the_line() {
    let d = Doc::new();
    let db = canary("doc-db");
    d.add("secret:dev/db/password", &db, &[]);
    d.refs(concat!(
        "# wiring\n",
        "DB=secret:${ENV}/db/password\n",
        "API=secret:${ENV}/api/key\n",
        "URL=\"postgres://u:{{secret:${ENV}/db/missing}}@h/db\"\n",
        "OPT=secret:${ENV}/opt/flag | off\n",
    ));
    let (code, findings, _) = d.doctor(&["--env", "dev"]);
    assert_eq!(code, 1);
    let errors: Vec<&Finding> = findings.iter().filter(|f| f.0 == "error").collect();
    assert_eq!(errors.len(), 2, "{findings:?}");
    assert!(errors.iter().all(|f| f.1 == "unresolved"), "{findings:?}");
    assert!(
        errors[0]
            .2
            .starts_with(".env.refs:3:5: secret:dev/api/key does not resolve"),
        "{findings:?}"
    );
    assert!(
        errors[1].2.starts_with(".env.refs:4:") && errors[1].2.contains("secret:dev/db/missing"),
        "{findings:?}"
    );
    // A line with a fallback is a warning: the fallback will be used.
    let fallback = findings
        .iter()
        .find(|f| f.2.contains("secret:dev/opt/flag"))
        .unwrap();
    assert_eq!(
        (fallback.0.as_str(), fallback.1.as_str()),
        ("warning", "unresolved")
    );
    assert!(fallback.2.contains("fallback"), "{fallback:?}");
    // The line that resolves is not mentioned.
    assert!(
        !findings.iter().any(|f| f.2.contains(".env.refs:2:")),
        "{findings:?}"
    );

    // Without --env, an `env =` line or KOVRA_ENV, `${ENV}` cannot be resolved: every such
    // line is an error saying so.
    let (_, findings, _) = d.doctor_env(&[], &[]);
    let errors = of_kind(&findings, "env-needed");
    assert_eq!(
        errors.iter().filter(|f| f.0 == "error").count(),
        4,
        "{findings:?}"
    );
    assert!(
        errors.iter().all(|f| f.2.contains("${ENV}")),
        "{findings:?}"
    );
    // KOVRA_ENV stands in for --env.
    let (code, findings, _) = d.doctor_env(&[("KOVRA_ENV", "dev")], &[]);
    assert_eq!(code, 1);
    assert_eq!(
        findings.iter().filter(|f| f.0 == "error").count(),
        2,
        "{findings:?}"
    );
    assert_not_printed(&d.h, &db, "the db value");
}

#[test]
fn records_of_the_environment_that_no_line_uses_are_warnings() {
    let d = Doc::new();
    let values: Vec<String> = (0..5).map(|i| canary(&format!("unused{i}"))).collect();
    d.add("secret:dev/db/password", &values[0], &[]);
    d.add("secret:dev/cache/url", &values[1], &[]);
    d.add("secret:dev/api/key", &values[2], &["--sensitivity", "high"]);
    d.add("secret:dev/old/token", &values[3], &[]);
    d.add("secret:staging/db/password", &values[4], &[]);
    d.refs(concat!(
        "DB=secret:dev/db/password\n",
        "CACHE=\"redis://{{secret:dev/cache/url}}/0\"\n",
    ));
    let (code, findings, _) = d.doctor(&["--env", "dev"]);
    assert_eq!(code, 0, "warnings only");
    let unused = of_kind(&findings, "unused-record");
    let named: Vec<&str> = unused
        .iter()
        .map(|f| f.2.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(
        named,
        ["secret:dev/api/key", "secret:dev/old/token"],
        "{findings:?}"
    );
    assert!(unused.iter().all(|f| f.0 == "warning"));
    assert!(
        unused.iter().all(|f| f.2.contains("(global)")
            && f.2.contains("environment dev")
            && f.2.contains("no line uses it")),
        "{findings:?}"
    );
    assert_eq!(findings.len(), 2, "{findings:?}");
    // Another environment: its own unused records.
    let (_, findings, _) = d.doctor(&["--env", "staging"]);
    let unused = of_kind(&findings, "unused-record");
    assert_eq!(unused.len(), 1, "{findings:?}");
    assert!(unused[0].2.starts_with("secret:staging/db/password "));
    // No environment named: nothing to compare against.
    let (_, findings, _) = d.doctor(&[]);
    assert!(
        of_kind(&findings, "unused-record").is_empty(),
        "{findings:?}"
    );
    for v in &values {
        assert_not_printed(&d.h, v, "a doctor canary");
    }
}

#[test]
fn a_fallback_on_a_production_coordinate_is_an_error() {
    let d = Doc::new();
    let prod = canary("doc-prod");
    d.add("secret:prod/db/password", &prod, &[]);
    d.add("secret:dev/db/password", &canary("doc-prod-dev"), &[]);
    d.refs("# db\nDB=secret:${ENV}/db/password | localdev\n");
    // The record exists: still an error, since a missing one would silently fall back.
    let (code, findings, _) = d.doctor(&["--env", "prod"]);
    assert_eq!(code, 1);
    let errors = of_kind(&findings, "production-fallback");
    assert_eq!(errors.len(), 1, "{findings:?}");
    assert_eq!(errors[0].0, "error");
    assert!(
        errors[0].2.starts_with(".env.refs:2:4: DB")
            && errors[0].2.contains("secret:prod/db/password"),
        "{findings:?}"
    );
    // The other built-in production name, where the record is missing.
    let (code, findings, _) = d.doctor(&["--env", "production"]);
    assert_eq!(code, 1);
    assert_eq!(
        of_kind(&findings, "production-fallback").len(),
        1,
        "{findings:?}"
    );
    // A production environment from config.toml counts too.
    std::fs::write(
        d.h.home.join("config.toml"),
        "production_environments = [\"live\"]\n",
    )
    .unwrap();
    let pid = d.h.daemon_pid();
    d.h.stop();
    if let Some(pid) = pid {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::path::Path::new(&format!("/proc/{pid}")).exists() {
            assert!(std::time::Instant::now() < deadline, "daemon did not stop");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
    d.h.unlock_typed();
    let (code, findings, _) = d.doctor(&["--env", "live"]);
    assert_eq!(code, 1);
    assert_eq!(
        of_kind(&findings, "production-fallback").len(),
        1,
        "{findings:?}"
    );
    // Not production: fine (it resolves, and the fallback is allowed).
    let (code, findings, _) = d.doctor(&["--env", "dev"]);
    assert_eq!(code, 0);
    assert!(findings.is_empty(), "{findings:?}");
    assert_not_printed(&d.h, &prod, "the production value");
}

#[test]
fn a_name_also_set_in_the_callers_environment_is_a_warning() {
    let d = Doc::new();
    d.add("secret:dev/db/password", &canary("doc-shadow"), &[]);
    d.refs(concat!(
        "KV_TEST_SHADOWED=secret:dev/db/password\n",
        "KV_TEST_NOT_SET=literal\n",
        "KV_TEST_ALSO=${env:KV_TEST_INPUT} | x\n",
    ));
    let (code, findings, out) = d.doctor_env(
        &[
            ("KV_TEST_SHADOWED", "caller-value-xyz"),
            ("KV_TEST_INPUT", "in"),
        ],
        &["--env", "dev"],
    );
    assert_eq!(code, 0);
    assert_eq!(findings.len(), 1, "{findings:?}");
    let f = &findings[0];
    assert_eq!((f.0.as_str(), f.1.as_str()), ("warning", "shadows-caller"));
    assert!(
        f.2.starts_with(".env.refs:1: KV_TEST_SHADOWED is also set in your environment"),
        "{f:?}"
    );
    // Names only: the caller's value is not repeated.
    assert!(!stdout(&out).contains("caller-value-xyz"));
    // Not set: no warning.
    let (_, findings, _) = d.doctor(&["--env", "dev"]);
    assert!(findings.is_empty(), "{findings:?}");
}

#[test]
fn a_coordinate_in_both_a_project_and_the_global_vault_is_a_warning() {
    let d = Doc::new();
    d.h.ok(&["project", "create", "shop"]);
    let (project_v, global_v, api) = (canary("doc-proj"), canary("doc-global"), canary("doc-api"));
    d.add("secret:dev/db/password", &project_v, &["--project", "shop"]);
    d.add("secret:dev/db/password", &global_v, &[]);
    d.add("secret:dev/api/key", &api, &[]);
    d.refs(concat!(
        "project = shop\n",
        "DB=secret:${ENV}/db/password\n",
        "API=secret:${ENV}/api/key\n",
        "PINNED=secret://global/dev/db/password\n",
    ));
    let (code, findings, _) = d.doctor(&["--env", "dev"]);
    assert_eq!(code, 0);
    let shadows = of_kind(&findings, "shadows-global");
    assert_eq!(shadows.len(), 1, "{findings:?}");
    assert_eq!(shadows[0].0, "warning");
    assert!(
        shadows[0].2.starts_with(
            ".env.refs:2:4: secret:dev/db/password exists in the project and in the global vault"
        ),
        "{findings:?}"
    );
    // The same through --project instead of `project =`.
    d.refs("DB=secret:${ENV}/db/password\nAPI=secret:${ENV}/api/key\n");
    let (_, findings, _) = d.doctor(&["--env", "dev", "--project", "shop"]);
    let shadows = of_kind(&findings, "shadows-global");
    assert_eq!(shadows.len(), 1, "{findings:?}");
    assert!(shadows[0].2.starts_with(".env.refs:1:4:"), "{findings:?}");
    // Without a project there is nothing to shadow.
    let (code, findings, _) = d.doctor(&["--env", "dev"]);
    assert_eq!(code, 0);
    assert!(
        of_kind(&findings, "shadows-global").is_empty(),
        "{findings:?}"
    );
    for v in [&project_v, &global_v, &api] {
        assert_not_printed(&d.h, v, "a doctor canary");
    }
}

#[test]
fn a_clean_file_exits_zero_and_reads_no_value() {
    let d = Doc::new();
    let values = [canary("clean-a"), canary("clean-b"), canary("clean-c")];
    d.add("secret:dev/db/password", &values[0], &[]);
    d.add("secret:dev/api/key", &values[1], &["--sensitivity", "high"]);
    d.add(
        "secret:dev/sign/key",
        &values[2],
        &["--sensitivity", "inject-only"],
    );
    d.refs(concat!(
        "# everything resolves, everything is used\n",
        "DB=secret:${ENV}/db/password\n",
        "API=secret:${ENV}/api/key\n",
        "URL=\"x://{{secret:${ENV}/sign/key}}@{{env:KV_TEST_HOST}}\"\n",
        "REGION=eu-west-1\n",
        "KV_TEST_HOST_NAME=${env:KV_TEST_HOST} | localhost\n",
    ));
    let (code, findings, out) = d.doctor(&["--env", "dev"]);
    assert_eq!(code, 0);
    assert!(findings.is_empty(), "{findings:?}");
    assert_eq!(stdout(&out), "0 error(s), 0 warning(s)\n");
    assert!(out.stderr.is_empty(), "{}", describe(&out));
    // Metadata only: an agent needs no proof for high or inject-only records, and nothing
    // was read.
    let (_, audit) = d.h.json(&["audit"]);
    let entries = audit["entries"].as_array().unwrap();
    assert!(
        entries.iter().any(|e| e["action"] == "doctor"),
        "{entries:?}"
    );
    assert!(
        !entries
            .iter()
            .any(|e| e["action"] == "inject" || e["action"] == "reveal"),
        "{entries:?}"
    );
    for v in &values {
        assert_not_printed(&d.h, v, "a doctor canary");
    }
}

#[test]
fn parse_errors_and_a_missing_file_are_errors() {
    let d = Doc::new();
    d.refs("A=1\nB=secret:dev/d b/x\n");
    let (code, findings, _) = d.doctor(&[]);
    assert_eq!(code, 1);
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0].1, "parse-error");
    assert!(
        findings[0]
            .2
            .starts_with(".env.refs:2:15: invalid coordinate"),
        "{findings:?}"
    );
    std::fs::write(d.dir.join("other.refs"), "A=1\nA=2\n").unwrap();
    let (_, findings, _) = d.doctor(&["--refs", "other.refs"]);
    assert!(findings[0].2.starts_with("other.refs:2:1:"), "{findings:?}");
    let out = d.run_env(&[], &["doctor", "--refs", "nope.refs"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(stderr(&out).contains("nope.refs"));
    assert!(stderr(&out).contains("code: refs-missing"));
}

#[test]
fn json_output_is_one_document_of_findings() {
    let d = Doc::new();
    d.add("secret:dev/db/password", &canary("json-a"), &[]);
    d.add("secret:dev/old/token", &canary("json-b"), &[]);
    d.refs("DB=secret:${ENV}/db/password\nKV_TEST_SHADOWED=x\n");
    let out = d.run_env(
        &[("KV_TEST_SHADOWED", "1")],
        &["--json", "doctor", "--env", "dev"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let docs = json_docs(&out);
    assert_eq!(docs.len(), 1, "{}", describe(&out));
    let doc = &docs[0];
    assert_eq!(doc["kind"], "doctor");
    assert_eq!(doc["errors"], 0);
    assert_eq!(doc["warnings"], 2);
    let findings = doc["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 2, "{doc}");
    for f in findings {
        let keys: Vec<&str> = f.as_object().unwrap().keys().map(String::as_str).collect();
        assert!(
            keys.iter()
                .all(|k| ["level", "kind", "message", "line"].contains(k)),
            "{f}"
        );
        assert!(f["level"].is_string() && f["kind"].is_string() && f["message"].is_string());
    }
    let shadow = findings
        .iter()
        .find(|f| f["kind"] == "shadows-caller")
        .unwrap();
    assert_eq!(shadow["level"], "warning");
    assert_eq!(shadow["line"], 2);
    let unused = findings
        .iter()
        .find(|f| f["kind"] == "unused-record")
        .unwrap();
    assert!(unused.get("line").is_none(), "{unused}");
    assert!(
        unused["message"]
            .as_str()
            .unwrap()
            .starts_with("secret:dev/old/token")
    );
    // A parse error carries its line too.
    d.refs("A=1\nthis is wrong\n");
    let out = d.run_env(&[], &["--json", "doctor"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let docs = json_docs(&out);
    assert_eq!(docs.len(), 1, "{}", describe(&out));
    let doctor = &docs[0];
    assert_eq!(doctor["kind"], "doctor");
    assert_eq!(doctor["errors"], 1);
    assert_eq!(doctor["findings"][0]["kind"], "parse-error");
    assert_eq!(doctor["findings"][0]["line"], 2);
}

#[test]
fn json_output_with_errors_is_still_one_document() {
    let d = Doc::new();
    d.refs("DB=secret:dev/db/password\n");
    let out = d.run_env(&[], &["--json", "doctor", "--env", "dev"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let docs = json_docs(&out);
    assert_eq!(docs.len(), 1, "{}", describe(&out));
    // serde_json::from_slice reads the whole of stdout as one value.
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let findings = doc["findings"].as_array().unwrap();
    assert_eq!(findings[0]["kind"], "unresolved");
    assert_eq!(doc["errors"], 1);
    assert_eq!(doc["error"]["code"], "doctor-found-errors");
}

/// `doctor --system` reads the host, not a vault: it works on an uninitialised home, never
/// starts a daemon, exits 0 whatever it finds, and its shape does not depend on this machine.
#[test]
fn system_checks_need_no_vault_and_have_a_fixed_shape() {
    let h = Home::new();
    let out = h.run(&["--json", "doctor", "--system"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let docs = json_docs(&out);
    assert_eq!(docs.len(), 1, "{}", describe(&out));
    let doc = docs[0].as_object().unwrap();
    assert_eq!(
        doc.keys().collect::<Vec<_>>(),
        ["checks"],
        "{}",
        describe(&out)
    );
    let checks = doc["checks"].as_array().unwrap();
    let names: Vec<&str> = checks.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "ptrace_scope",
            "proc_hidepid",
            "user_namespaces",
            "bubblewrap",
            "core_pattern",
            "suid_dumpable"
        ]
    );
    for c in checks {
        let keys: Vec<&str> = c.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["name", "status", "detail", "fix"], "{c}");
        assert!(
            ["ok", "warn", "info"].contains(&c["status"].as_str().unwrap()),
            "{c}"
        );
        assert!(!c["detail"].as_str().unwrap().is_empty(), "{c}");
        assert!(c["fix"].is_null() || c["fix"].is_string(), "{c}");
        if c["status"] == "warn" {
            assert!(c["fix"].is_string(), "a warning says what to set: {c}");
        }
    }
    // The human table: one line per check, then the count.
    let out = h.run(&["doctor", "--system"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), names.len() + 1, "{text}");
    for (line, name) in lines.iter().zip(&names) {
        let mut words = line.split_whitespace();
        let status = words.next().unwrap();
        assert!(["ok", "warn", "info"].contains(&status), "{line}");
        assert_eq!(words.next(), Some(*name), "{line}");
    }
    assert!(lines[names.len()].ends_with("note(s)"), "{text}");
    // No vault was needed or created, and no daemon was started.
    assert!(!h.home.join("vault.db").exists());
    assert!(!h.runtime.exists() || std::fs::read_dir(&h.runtime).unwrap().next().is_none());
    // `--system` checks the host, not a refs file.
    let out = h.run(&["doctor", "--system", "--refs", "x.refs"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
}
