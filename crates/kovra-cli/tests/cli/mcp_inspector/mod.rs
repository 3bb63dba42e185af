//! `kovra mcp` driven by a second independent client: the MCP Inspector in CLI mode
//! (`@modelcontextprotocol/inspector`, pinned and installed by scripts/install-inspector.sh
//! into target/test-tools/inspector). An npm download and minutes of node processes: the test
//! is `#[ignore]`d, and scripts/test.sh installs the inspector and runs it.
//!
//! Canaries are planted at every sensitivity, in dev, staging and prod, revealable or not, and
//! in the global vault. Each inspector invocation starts its own `kovra mcp` (scope from
//! `-e KOVRA_MCP_*`), lists the tools or calls one, and exits. Every tool is called; results
//! are checked; then every byte the inspector printed (results, JSON-RPC errors, its own
//! stderr), the MCP server's stderr, the daemon's log and the harness transcript are searched
//! for each canary, in every form `leak::forms` lists. A canary may appear only in the result of a call
//! that policy allows to return it (the reveal of a low, revealable, in-scope dev record; the
//! global one once the scope includes the global vault), and the search is shown to find it
//! there and nowhere else.
//!
//! Needs Node >= 18 and npm (the install script gets them with apt-get when npm is missing);
//! without them, or without the inspector installed, the test fails naming the script.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde_json::Value;

use crate::harness::*;
use crate::leak::*;

mod driver;
use driver::*;

/// Pinned in scripts/install-inspector.sh (the last line that runs on Node 18/20).
const INSPECTOR_VERSION: &str = "0.21.2";

const TOOLS: [&str; 14] = [
    "list",
    "status",
    "fingerprint",
    "run",
    "reveal",
    "generate",
    "request_secret",
    "edit_metadata",
    "delete",
    "api",
    "providers",
    "ssh",
    "ssh_hosts",
    "query",
];

type Scope = &'static [(&'static str, &'static str)];

/// The agent session most tests use: project `app`, every operation, non-production envs.
const MAIN: Scope = &[
    ("KOVRA_PROJECT", "app"),
    ("KOVRA_MCP_OPERATIONS", "metadata,inject,reveal,write"),
];
/// Default operations (metadata, inject) with the global vault in scope.
const WITH_GLOBAL: Scope = &[
    ("KOVRA_PROJECT", "app"),
    ("KOVRA_MCP_PROJECTS", "app,global"),
];
/// The widest scope there is: policy alone must still refuse.
const WIDEST: Scope = &[
    ("KOVRA_PROJECT", "app"),
    ("KOVRA_MCP_OPERATIONS", "*"),
    ("KOVRA_MCP_PROJECTS", "*"),
    ("KOVRA_MCP_ENVIRONMENTS", "*"),
];

const LOW: &str = "secret:dev/canary/low";
const MEDIUM: &str = "secret:dev/canary/medium";
const HIGH: &str = "secret:dev/canary/high";
const INJECT: &str = "secret:dev/canary/injectonly";
const TARGET: &str = "secret:dev/canary/target";
const SHOWN: &str = "secret:dev/open/shown";
const STAGING: &str = "secret:staging/canary/medium";
const PROD_LOW: &str = "secret:prod/canary/low";
const PROD_HIGH: &str = "secret:prod/canary/high";
const PROD_INJECT: &str = "secret:prod/canary/injectonly";
const GLOBAL: &str = "secret://global/dev/canary/global";
const GLOBAL_ABSENT: &str = "secret://global/dev/canary/nothing";

#[test]
#[ignore = "needs the MCP Inspector (npm, Node >= 18): run scripts/test.sh"]
fn the_mcp_inspector_calls_every_tool_and_sees_no_forbidden_canary() {
    let started = Instant::now();
    let bin = inspector_bin();

    // --- the vault: a project, canaries at every sensitivity and environment, the global vault.
    let h = Home::new();
    let mut init = h.cmd(&[
        "init",
        "--passphrase-file",
        h.pass_file.to_str().expect("utf8"),
    ]);
    init.env("KOVRA_LOG", "trace"); // the autostarted daemon logs all it can
    let out = h.run_with(init, None);
    assert!(out.status.success(), "init: {}", describe(&out));
    h.ok(&["project", "create", "app"]);
    // (tag, coordinate, sensitivity, revealable); all in project `app` but the global one.
    let planted: [(&str, &str, &str, bool); 11] = [
        ("low", LOW, "low", false),
        ("medium", MEDIUM, "medium", false),
        ("high", HIGH, "high", true),
        ("injectonly", INJECT, "inject-only", false),
        ("target", TARGET, "high", false),
        ("shown", SHOWN, "low", true),
        ("staging", STAGING, "medium", false),
        ("prodlow", PROD_LOW, "low", true),
        ("prodhigh", PROD_HIGH, "high", false),
        ("prodinject", PROD_INJECT, "inject-only", false),
        ("global", GLOBAL, "low", true),
    ];
    let mut canaries: Vec<(&str, String)> = Vec::new();
    for (tag, c, sensitivity, revealable) in planted {
        let value = canary(tag);
        let mut flags = vec!["--sensitivity", sensitivity];
        if revealable {
            flags.push("--revealable");
        }
        if c != GLOBAL {
            flags.extend(["--project", "app"]);
        }
        let out = h.add(c, value.as_bytes(), &flags);
        assert!(out.status.success(), "add {c}: {}", describe(&out));
        canaries.push((tag, value));
    }
    let value_of = |tag: &str| -> String {
        canaries
            .iter()
            .find(|(t, _)| *t == tag)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no canary {tag}"))
    };
    let shown = value_of("shown");
    let global = value_of("global");
    let insp = Inspector::new(&h, bin);
    let insp = &insp;
    let setup_done = started.elapsed();

    // --- tools/list names every tool; none takes a value.
    let tools = insp.list_tools(MAIN);
    let listed: Vec<&str> = tools["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("tools/list: {tools}"))
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    for t in TOOLS {
        assert!(listed.contains(&t), "tools/list misses {t}: {listed:?}");
    }
    for t in tools["tools"].as_array().into_iter().flatten() {
        assert!(
            t["inputSchema"]["properties"].get("value").is_none(),
            "{} takes a value argument",
            t["name"]
        );
    }
    // The broker's tools: schemas both ways; `api` reaches out (destructive, open world).
    let tool = |name: &str| -> &Value {
        tools["tools"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|t| t["name"] == name)
            .unwrap_or_else(|| panic!("tools/list misses {name}: {tools}"))
    };
    for name in ["api", "providers"] {
        let t = tool(name);
        assert_eq!(t["inputSchema"]["type"], "object", "{name}: {t}");
        assert_eq!(t["outputSchema"]["type"], "object", "{name}: {t}");
    }
    let api = tool("api");
    assert_eq!(api["annotations"]["destructiveHint"], true, "api: {api}");
    assert_eq!(api["annotations"]["openWorldHint"], true, "api: {api}");
    assert_ne!(api["annotations"]["readOnlyHint"], true, "api: {api}");
    for field in [
        "status",
        "host",
        "coordinate",
        "headers",
        "body",
        "removed_headers",
    ] {
        assert!(
            api["outputSchema"]["properties"].get(field).is_some(),
            "api output schema misses {field}: {api}"
        );
    }
    let providers = tool("providers");
    assert_eq!(
        providers["annotations"]["readOnlyHint"], true,
        "providers: {providers}"
    );

    // --- every other call, as independent jobs (a sequence that depends on its own order is
    // one job). Each job starts its own inspector and server.
    let shown = &shown;
    let global = &global;
    let mut jobs: Vec<Job> = Vec::new();

    // status, list, fingerprint.
    jobs.push(Box::new(move || {
        let (_, st) = insp.ok("status", MAIN, "status", &[]);
        assert_eq!(st["unlocked"], true, "status: {st}");
        assert!(!st.to_string().contains("global/"), "status: {st}");
    }));
    jobs.push(Box::new(move || {
        let (_, listing) = insp.ok("list", MAIN, "list", &[]);
        let coords = coordinates(&listing);
        for c in [LOW, MEDIUM, HIGH, INJECT, SHOWN, STAGING] {
            assert!(
                coords.iter().any(|(x, _)| x == c),
                "list misses {c}: {coords:?}"
            );
        }
        assert!(
            !coords
                .iter()
                .any(|(x, v)| x.contains("prod/") || v == "global"),
            "list shows production or the global vault out of scope: {coords:?}"
        );
    }));
    jobs.push(Box::new(move || {
        let (_, dev) = insp.ok("list env=dev", MAIN, "list", &[arg("env", "dev")]);
        let coords = coordinates(&dev);
        assert!(
            !coords.is_empty() && coords.iter().all(|(x, _)| x.starts_with("secret:dev/")),
            "list env=dev: {dev}"
        );
    }));
    jobs.push(Box::new(move || {
        let (_, fp) = insp.ok("fingerprint low", MAIN, "fingerprint", &coord(LOW));
        assert!(fp.to_string().contains("kfp:"), "fingerprint: {fp}");
    }));
    for c in [HIGH, INJECT] {
        let label = format!("fingerprint {c}");
        jobs.push(refusal(insp, label, MAIN, "fingerprint", coord(c), None));
    }

    // reveal: only the low, revealable, in-scope record.
    jobs.push(Box::new(move || {
        let label = "reveal low revealable (allowed)";
        insp.allow(label, shown);
        let (text, _) = insp.ok(label, MAIN, "reveal", &coord(SHOWN));
        assert_eq!(
            text.trim(),
            shown,
            "reveal of an allowed value did not return it"
        );
    }));
    for c in [
        LOW,
        MEDIUM,
        HIGH,
        INJECT,
        TARGET,
        STAGING,
        PROD_LOW,
        PROD_HIGH,
        PROD_INJECT,
    ] {
        jobs.push(Box::new(move || {
            let text = insp.refused(&format!("reveal {c}"), MAIN, "reveal", &coord(c));
            assert!(
                matches!(code_of(&text), "policy-denied" | "not-found"),
                "reveal {c}: {text}"
            );
        }));
    }

    // run: values injected, output masked in every common encoding.
    jobs.push(Box::new(move || {
        let script = "echo \"low=$LOW\"; echo \"shown=$SHOWN\"; printf %s \"$LOW\" | base64; \
                      printf %s \"$SHOWN\" | od -An -tx1 | tr -d ' \\n'; echo; \
                      echo to-stderr >&2; exit 3";
        let (_, out) = insp.ok(
            "run masked",
            MAIN,
            "run",
            &[
                json_arg("command", &serde_json::json!(["sh", "-c", script])),
                json_arg(
                    "refs",
                    &Value::String(format!("LOW={LOW}\nSHOWN={SHOWN}\n")),
                ),
            ],
        );
        assert_eq!(out["exit_code"], 3, "run: {out}");
        let so = out["stdout"].as_str().unwrap_or("");
        assert!(
            so.starts_with("low=[kovra:LOW]\nshown=[kovra:SHOWN]\n"),
            "run stdout not masked as expected: {out}"
        );
        assert_eq!(out["stderr"], "to-stderr\n", "run stderr: {out}");
        let injected = out["injected"].to_string();
        assert!(
            injected.contains("LOW") && injected.contains("SHOWN"),
            "run injected: {out}"
        );
    }));
    jobs.push(Box::new(move || {
        match insp.call(
            "run medium",
            MAIN,
            "run",
            &sh_run("echo med=$MED", "MED", MEDIUM),
        ) {
            Reply::Result {
                is_error: false,
                structured: Some(out),
                ..
            } => assert_eq!(out["stdout"], "med=[kovra:MED]\n", "run medium: {out}"),
            Reply::Result {
                is_error: true,
                text,
                ..
            } => assert!(
                matches!(code_of(&text), "approval-needed" | "policy-denied"),
                "run medium: {text}"
            ),
            other => panic!("run medium: {other:?}"),
        }
    }));
    jobs.push(Box::new(move || {
        let (_, out) = insp.ok(
            "run timeout",
            MAIN,
            "run",
            &[
                json_arg("command", &serde_json::json!(["sleep", "30"])),
                arg("timeout_secs", "1"),
            ],
        );
        assert_eq!(out["timed_out"], true, "run timeout: {out}");
    }));
    // Protected values are never injected into an arbitrary program.
    for c in [HIGH, INJECT, PROD_LOW] {
        jobs.push(Box::new(move || {
            let label = format!("run with {c}");
            let args = sh_run("echo X=$X", "X", c);
            match insp.call(&label, MAIN, "run", &args) {
                Reply::Result {
                    is_error: true,
                    text,
                    ..
                } => assert!(
                    matches!(
                        code_of(&text),
                        "policy-denied" | "approval-needed" | "not-found" | "unresolved"
                    ),
                    "{label}: {text}"
                ),
                Reply::Result { structured, .. } => {
                    // Injected only if the daemon redacted it; the canary scan decides.
                    assert!(structured.is_some(), "{label}: no structured output");
                }
                Reply::Failed(e) => panic!("{label}: {e}"),
            }
        }));
    }

    // generate (never returns the value), reveal it (refused), delete it.
    jobs.push(Box::new(move || {
        let (text, out) = insp.ok(
            "generate",
            MAIN,
            "generate",
            &[
                arg("coordinate", "secret:dev/gen/token"),
                arg("length", "40"),
            ],
        );
        assert!(
            out["coordinate"]
                .as_str()
                .is_some_and(|c| c.ends_with("dev/gen/token")),
            "generate: {text}"
        );
        insp.refused(
            "reveal generated",
            MAIN,
            "reveal",
            &coord("secret:dev/gen/token"),
        );
        match insp.call(
            "delete generated",
            MAIN,
            "delete",
            &coord("secret:dev/gen/token"),
        ) {
            Reply::Result {
                is_error: false, ..
            } => {}
            Reply::Result {
                is_error: true,
                text,
                ..
            } => assert_eq!(code_of(&text), "approval-needed", "delete: {text}"),
            other => panic!("delete: {other:?}"),
        }
    }));
    jobs.push(Box::new(move || {
        let (text, _) = insp.ok(
            "request_secret",
            MAIN,
            "request_secret",
            &[
                arg("coordinate", "secret:dev/stripe/key"),
                arg("description", "Stripe test key"),
            ],
        );
        assert!(
            text.contains("kovra add") && text.contains("secret:dev/stripe/key"),
            "request_secret: {text}"
        );
    }));
    jobs.push(Box::new(move || {
        insp.ok(
            "edit_metadata description",
            MAIN,
            "edit_metadata",
            &[
                arg("coordinate", MEDIUM),
                arg("description", "renamed by the inspector"),
            ],
        );
        let (_, listing) = insp.ok("list after edit", MAIN, "list", &[]);
        assert!(
            listing.to_string().contains("renamed by the inspector"),
            "edit_metadata had no effect: {listing}"
        );
    }));

    // Attack (a): loosen a high record to low + revealable, then reveal it.
    jobs.push(Box::new(move || {
        let text = insp.refused(
            "attack-a edit",
            MAIN,
            "edit_metadata",
            &[
                arg("coordinate", TARGET),
                arg("sensitivity", "low"),
                arg("revealable", "true"),
            ],
        );
        assert!(
            matches!(
                code_of(&text),
                "approval-needed" | "needs-proof" | "policy-denied"
            ),
            "attack a: {text}"
        );
        if code_of(&text) == "approval-needed" {
            assert!(text.contains("kovra approve"), "approval message: {text}");
        }
        insp.refused("attack-a reveal", MAIN, "reveal", &coord(TARGET));
        for (i, edit) in [arg("sensitivity", "low"), arg("revealable", "true")]
            .into_iter()
            .enumerate()
        {
            insp.refused(
                &format!("attack-a step {i}"),
                MAIN,
                "edit_metadata",
                &[arg("coordinate", TARGET), edit],
            );
        }
        insp.refused("attack-a reveal 2", MAIN, "reveal", &coord(TARGET));
    }));

    // Attack (b): an out-of-scope global record is answered like an absent one.
    for tool in ["reveal", "fingerprint", "delete"] {
        jobs.push(Box::new(move || {
            let got = insp.refused(&format!("global {tool}"), MAIN, tool, &coord(GLOBAL));
            let none = insp.refused(&format!("absent {tool}"), MAIN, tool, &coord(GLOBAL_ABSENT));
            assert_eq!(code_of(&none), "not-found", "absent {tool}: {none}");
            assert_eq!(
                got.replace("canary/global", "canary/X"),
                none.replace("canary/nothing", "canary/X"),
                "global {tool}: the out-of-scope global record is answered differently \
                 from an absent one"
            );
        }));
    }
    let edit_global = vec![arg("coordinate", GLOBAL), arg("description", "x")];
    jobs.push(refusal(
        insp,
        "global edit".into(),
        MAIN,
        "edit_metadata",
        edit_global,
        None,
    ));
    let run_global = sh_run("echo G=$G", "G", GLOBAL);
    jobs.push(refusal(
        insp,
        "global run".into(),
        MAIN,
        "run",
        run_global,
        None,
    ));

    // Bad input: JSON-RPC errors or error results, never a value.
    jobs.push(Box::new(move || {
        match insp.call("unknown tool", MAIN, "no_such_tool", &[]) {
            Reply::Failed(_) | Reply::Result { is_error: true, .. } => {}
            other => panic!("unknown tool: {other:?}"),
        }
    }));
    jobs.push(Box::new(move || {
        match insp.call("run command string", MAIN, "run", &[arg("command", "ls")]) {
            Reply::Failed(_) | Reply::Result { is_error: true, .. } => {}
            other => panic!("run with a string command: {other:?}"),
        }
    }));
    let malformed = coord("not a coordinate");
    let invalid = Some("coordinate-invalid");
    jobs.push(refusal(
        insp,
        "malformed".into(),
        MAIN,
        "reveal",
        malformed,
        invalid,
    ));

    // The global vault in scope, default operations (metadata, inject).
    jobs.push(Box::new(move || {
        let (_, fp) = insp.ok(
            "global in scope fingerprint",
            WITH_GLOBAL,
            "fingerprint",
            &coord(GLOBAL),
        );
        assert!(fp.to_string().contains("kfp:"), "global fingerprint: {fp}");
    }));
    jobs.push(Box::new(move || {
        let (_, listing) = insp.ok("global in scope list", WITH_GLOBAL, "list", &[]);
        assert!(
            coordinates(&listing).iter().any(|(_, v)| v == "global"),
            "global vault in scope but not listed: {listing}"
        );
    }));
    for (tool, c, code) in [
        ("reveal", SHOWN, Some("policy-denied")),
        ("generate", "secret:dev/gen/y", None),
    ] {
        let label = format!("{tool} without the operation");
        jobs.push(refusal(insp, label, WITH_GLOBAL, tool, coord(c), code));
    }
    jobs.push(Box::new(move || {
        let (_, out) = insp.ok(
            "global in scope run",
            WITH_GLOBAL,
            "run",
            &sh_run("echo G=$G", "G", GLOBAL),
        );
        assert_eq!(out["stdout"], "G=[kovra:G]\n", "global run: {out}");
    }));

    // The widest scope: policy alone refuses production, high and inject-only values.
    jobs.push(Box::new(move || {
        let (_, listing) = insp.ok("widest list prod", WIDEST, "list", &[arg("env", "prod")]);
        let prod = coordinates(&listing);
        for c in [PROD_LOW, PROD_HIGH, PROD_INJECT] {
            assert!(
                prod.iter().any(|(x, _)| x == c),
                "widest list misses {c}: {listing}"
            );
        }
    }));
    for c in [PROD_LOW, PROD_HIGH, PROD_INJECT, HIGH, INJECT, LOW] {
        let label = format!("widest reveal {c}");
        let denied = Some("policy-denied");
        jobs.push(refusal(insp, label, WIDEST, "reveal", coord(c), denied));
    }
    let (fp_label, run_label) = ("widest fingerprint prod", "widest run prod");
    jobs.push(refusal(
        insp,
        fp_label.into(),
        WIDEST,
        "fingerprint",
        coord(PROD_LOW),
        None,
    ));
    let run_prod = sh_run("echo P=$P", "P", PROD_LOW);
    jobs.push(refusal(
        insp,
        run_label.into(),
        WIDEST,
        "run",
        run_prod,
        None,
    ));
    // The global record is revealable once in scope: the not-found above came from the scope.
    jobs.push(Box::new(move || {
        let label = "widest reveal global (allowed)";
        insp.allow(label, global);
        let (text, _) = insp.ok(label, WIDEST, "reveal", &coord(GLOBAL));
        assert_eq!(text.trim(), global, "widest reveal of the global record");
    }));

    // The broker's tools: the registry, and refusals that need no upstream (the rules run
    // before the vault is consulted or a connection is made).
    jobs.push(Box::new(move || {
        let (_, out) = insp.ok("providers", MAIN, "providers", &[]);
        let names: Vec<&str> = out["providers"]
            .as_array()
            .unwrap_or_else(|| panic!("providers: {out}"))
            .iter()
            .filter_map(|p| p["name"].as_str())
            .collect();
        assert!(
            names.len() >= 20 && names.contains(&"openai") && names.contains(&"anthropic"),
            "providers: {names:?}"
        );
    }));
    jobs.push(Box::new(move || {
        let (_, out) = insp.ok(
            "providers openai",
            MAIN,
            "providers",
            &[arg("name", "openai")],
        );
        let list = out["providers"]
            .as_array()
            .unwrap_or_else(|| panic!("{out}"));
        assert_eq!(list.len(), 1, "providers openai: {out}");
        let p = &list[0];
        assert_eq!(p["name"], "openai", "{p}");
        assert_eq!(p["auth"]["kind"], "bearer", "{p}");
        assert!(
            p["hosts"].to_string().contains("api.openai.com")
                && p["secrets"].to_string().contains("OPENAI_API_KEY"),
            "{p}"
        );
        let text = insp.refused(
            "providers unknown",
            MAIN,
            "providers",
            &[arg("name", "no-such-provider")],
        );
        assert_eq!(
            code_of(&text),
            "unknown-provider",
            "providers unknown: {text}"
        );
    }));
    let caller_auth = serde_json::json!({"Authorization": "Bearer caller-chosen"});
    for (label, provider, path, headers, code) in [
        (
            "api unknown provider",
            "no-such-provider",
            "/v1/models",
            None,
            "unknown-provider",
        ),
        (
            "api authorization header",
            "openai",
            "/v1/models",
            Some(caller_auth),
            "header-forbidden",
        ),
        (
            "api traversal",
            "openai",
            "/v1/../../etc/passwd",
            None,
            "path-invalid",
        ),
    ] {
        let mut args = api_args(provider, "GET", path);
        if let Some(h) = &headers {
            args.push(json_arg("headers", h));
        }
        jobs.push(refusal(insp, label.into(), MAIN, "api", args, Some(code)));
    }

    // An unknown operation stops the server at start (fail closed).
    jobs.push(Box::new(move || {
        const BOGUS: Scope = &[("KOVRA_MCP_OPERATIONS", "metadata,bogus")];
        match insp.call("bogus operation", BOGUS, "reveal", &coord(SHOWN)) {
            Reply::Failed(_) => {}
            other => panic!("an unknown operation did not stop the server: {other:?}"),
        }
    }));
    par(jobs);
    let log = std::fs::read_to_string(&insp.server_log).unwrap_or_default();
    assert!(
        log.contains("unknown operation `bogus`"),
        "server stderr: {log}"
    );

    // --- the search: no canary anywhere except the two allowed reveals. The search is shown
    // to work: without the allowances it finds exactly those two values in those two calls.
    let leaks = insp.leaks(&h, &canaries, true);
    assert!(
        leaks.is_empty(),
        "canaries leaked (where, canary): {leaks:?}"
    );
    let mut unallowed = insp.leaks(&h, &canaries, false);
    unallowed.sort();
    assert_eq!(
        unallowed,
        vec![
            (
                "reveal low revealable (allowed)".to_string(),
                "shown".to_string()
            ),
            (
                "widest reveal global (allowed)".to_string(),
                "global".to_string()
            ),
        ],
        "the canary search did not find the allowed values where they were revealed"
    );

    let recs = insp.recs.lock().expect("recs");
    let slowest = recs
        .iter()
        .max_by(|a, b| a.secs.total_cmp(&b.secs))
        .map(|r| format!("{:.1}s ({})", r.secs, r.label))
        .unwrap_or_default();
    eprintln!(
        "mcp_inspector: {} inspector invocations, {} canaries, no forbidden canary; \
         setup {:.1}s, total {:.1}s, slowest call {slowest}",
        recs.len(),
        canaries.len(),
        setup_done.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}
