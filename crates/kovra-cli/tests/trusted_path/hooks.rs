//! Issue 11 §2: an approval covers everything that decides what runs. The agent has a run
//! approved, then starts the same command again with a loader or interpreter hook in its
//! environment (`LD_PRELOAD`, `BASH_ENV`, `NODE_OPTIONS`, `PYTHONPATH`/`PYTHONSTARTUP`). The
//! hook must never run in the child; a protected run's child starts from a clean
//! environment, to which `--keep-env NAME` adds a variable.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::common::*;
use crate::harness::*;
use crate::leak::*;
use crate::nonroot;

const TOKEN: &str = "secret:dev/app/token";

/// What a protected run's child may see: the clean base, the refs, and what a shell sets
/// for itself.
fn allowed(name: &str) -> bool {
    matches!(
        name,
        "PATH" | "HOME" | "USER" | "LANG" | "TERM" | "TZ" | "TMPDIR" | "TOKEN"
    ) || name.starts_with("LC_")
        || matches!(name, "PWD" | "OLDPWD" | "SHLVL" | "_")
        // Set by the daemon itself in every protected child (`childenv::HARDENING`).
        || matches!(name, "PYTHONNOUSERSITE" | "PYTHONSAFEPATH")
}

/// The variable names in `env` output (never their values).
fn names(output: &str) -> BTreeSet<String> {
    output
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, _)| k.to_string())
        .filter(|k| !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .collect()
}

/// An interpreter or shell the test needs, by absolute path, allowlisted by the human.
/// `None` (the case is skipped) only when it is not installed or lives where this user can
/// write (then it could not be allowlisted, rightly).
fn program(h: &Home, candidates: &[&str]) -> Option<PathBuf> {
    let found = candidates.iter().map(PathBuf::from).find(|p| p.is_file())?;
    let canonical = found.canonicalize().ok()?;
    if nix::unistd::access(&canonical, nix::unistd::AccessFlags::W_OK).is_ok() {
        return None;
    }
    let out = human_allows(h, &found);
    assert!(
        out.status.success(),
        "allow add {}: {}",
        found.display(),
        describe(&out)
    );
    Some(found)
}

fn which(name: &str) -> Vec<String> {
    std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .filter(|d| !d.is_empty())
        .map(|d| format!("{d}/{name}"))
        .collect()
}

/// One hook: the agent's approved command, started again with `env` added; `marker` is
/// the file the hook creates if it ever runs.
struct Case<'a> {
    name: &'a str,
    argv: Vec<String>,
    env: Vec<(&'a str, String)>,
    marker: PathBuf,
}

fn try_case(h: &Home, work: &Path, case: &Case, findings: &mut Vec<String>) {
    let mut args = vec!["run", "--"];
    args.extend(case.argv.iter().map(String::as_str));
    // The agent's first run is parked; the human approves what it was shown.
    if let Err(e) = park_and_approve(h, work, &args, &[]) {
        findings.push(format!("{}: {e}", case.name));
        return;
    }
    // The same command again, now with the hook in the agent's environment.
    let env: Vec<(&str, &str)> = case.env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = agent(h, work, &args, &env);
    println!(
        "{}: the approved run started again with the hook: exit {:?}",
        case.name,
        out.status.code()
    );
    if case.marker.exists() {
        let by = std::fs::read_to_string(&case.marker).unwrap_or_default();
        findings.push(format!(
            "{}: the hook ran in the approved run's child ({}; run exit {:?})",
            case.name,
            by.split_whitespace().collect::<Vec<_>>().join(", "),
            out.status.code()
        ));
    }
    for (k, _) in &case.env {
        if names(&stdout(&out)).contains(*k) {
            findings.push(format!("{}: the child's environment has {k}", case.name));
        }
    }
}

#[test]
fn approved_run_cannot_gain_loader_hooks() {
    if nonroot::test_user("hooks::approved_run_cannot_gain_loader_hooks") {
        return;
    }
    let (h, value) = home_with_canary("hooks", TOKEN, &["--sensitivity", "high"]);
    let work = work_with_token(&h, TOKEN);
    let evil = h.root.join("evil");
    std::fs::create_dir_all(&evil).expect("mkdir evil");

    // High values go only to allowlisted executables: the human allowlists the interpreters.
    let sh = program(&h, &["/bin/sh", "/usr/bin/sh"]).expect("/bin/sh");
    let bash = program(&h, &["/bin/bash", "/usr/bin/bash"]);
    let python = program(&h, &["/usr/bin/python3", "/bin/python3"]);
    let node_candidates = which("node");
    let node = program(
        &h,
        &node_candidates
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    let sh = sh.to_str().expect("utf8").to_string();

    let mut cases = Vec::new();
    // LD_PRELOAD: a constructor that records every process it is loaded into, except the
    // agent's own `kovra` (the agent may hook its own client; the child is what matters).
    let marker = evil.join("ld-preload-ran");
    let hook = compile_so(
        &evil,
        "hook",
        &format!(
            r#"
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
__attribute__((constructor)) static void kovra_test_hook(void) {{
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n < 0) n = 0;
    exe[n] = 0;
    if (strcmp(exe, {kovra}) == 0 || strcmp(exe, {full}) == 0) return;
    int fd = open({marker}, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {{
        write(fd, exe, (size_t)n);
        write(fd, "\n", 1);
        close(fd);
    }}
}}
"#,
            kovra = c_str(&kovra_bin().canonicalize().expect("kovra binary")),
            full = c_str(
                &kovra_bin()
                    .with_file_name("kovra-full")
                    .canonicalize()
                    .expect("kovra-full binary")
            ),
            marker = c_str(&marker),
        ),
    );
    cases.push(Case {
        name: "LD_PRELOAD",
        argv: vec![sh.clone(), "-c".into(), "echo ran; env".into()],
        env: vec![("LD_PRELOAD", hook.display().to_string())],
        marker,
    });
    if let Some(bash) = &bash {
        let marker = evil.join("bash-env-ran");
        let rc = evil.join("bash_env.sh");
        std::fs::write(&rc, format!("echo bash >> '{}'\n", marker.display())).expect("bash env");
        cases.push(Case {
            name: "BASH_ENV",
            argv: vec![bash.display().to_string(), "-c".into(), "true".into()],
            env: vec![("BASH_ENV", rc.display().to_string())],
            marker,
        });
    }
    if let Some(node) = &node {
        let marker = evil.join("node-options-ran");
        let js = evil.join("evil.js");
        std::fs::write(
            &js,
            format!(
                "require('fs').appendFileSync({:?}, 'node\\n');\n",
                marker.display().to_string()
            ),
        )
        .expect("evil.js");
        cases.push(Case {
            name: "NODE_OPTIONS",
            argv: vec![node.display().to_string(), "-e".into(), "1".into()],
            env: vec![("NODE_OPTIONS", format!("--require={}", js.display()))],
            marker,
        });
    } else {
        println!("node is not installed (or not allowlistable): NODE_OPTIONS case skipped");
    }
    if let Some(python) = &python {
        let marker = evil.join("python-ran");
        let site = evil.join("pysite");
        std::fs::create_dir_all(&site).expect("mkdir pysite");
        let code = format!(
            "open({:?}, 'a').write('python\\n')\n",
            marker.display().to_string()
        );
        std::fs::write(site.join("sitecustomize.py"), &code).expect("sitecustomize");
        std::fs::write(evil.join("startup.py"), &code).expect("startup");
        cases.push(Case {
            name: "PYTHONPATH/PYTHONSTARTUP",
            argv: vec![python.display().to_string(), "-c".into(), "pass".into()],
            env: vec![
                ("PYTHONPATH", site.display().to_string()),
                (
                    "PYTHONSTARTUP",
                    evil.join("startup.py").display().to_string(),
                ),
            ],
            marker,
        });
    }

    let mut findings = Vec::new();
    for case in &cases {
        try_case(&h, &work, case, &mut findings);
    }

    // A protected run's child gets a clean environment: not the agent's KEEPME...
    let args = ["run", "--", sh.as_str(), "-c", "echo ran; env"];
    let keep = [("KEEPME", "1")];
    match park_and_approve(&h, &work, &args, &keep) {
        Err(e) => findings.push(format!("clean environment: {e}")),
        Ok(()) => {
            let out = agent(&h, &work, &args, &keep);
            let shown = names(&stdout(&out));
            if !out.status.success() || !stdout(&out).contains("ran") {
                findings.push(format!(
                    "clean environment: the approved run did not run: {}",
                    describe(&out)
                ));
            } else {
                let extra: Vec<&String> = shown.iter().filter(|n| !allowed(n)).collect();
                if !extra.is_empty() {
                    findings.push(format!(
                        "clean environment: the child also got {extra:?} from the agent's \
                         environment"
                    ));
                }
                if !shown.contains("TOKEN") {
                    findings.push("clean environment: the child did not get TOKEN".into());
                }
            }
        }
    }
    // ...unless the run says `--keep-env KEEPME` (shown to the human, covered by the digest).
    let args = [
        "run",
        "--keep-env",
        "KEEPME",
        "--",
        sh.as_str(),
        "-c",
        "echo ran; env",
    ];
    match park_and_approve(&h, &work, &args, &keep) {
        Err(e) => findings.push(format!("--keep-env: {e}")),
        Ok(()) => {
            let out = agent(&h, &work, &args, &keep);
            if !out.status.success() || !stdout(&out).contains("KEEPME=1") {
                findings.push(format!(
                    "--keep-env KEEPME: the child did not get KEEPME=1: {}",
                    describe(&out)
                ));
            }
        }
    }

    assert_no_findings("an approved run gaining hooks", &findings);
    assert_not_printed(&h, &value, "the record's value");
}
