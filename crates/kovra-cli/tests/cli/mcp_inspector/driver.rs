//! The driver: one MCP Inspector CLI invocation per call against a fresh `kovra mcp`,
//! everything it printed recorded, and the search of those records for canaries.

use super::*;

/// What one inspector invocation printed.
pub(super) struct Rec {
    pub(super) label: String,
    pub(super) code: Option<i32>,
    pub(super) secs: f64,
    pub(super) stdout: Vec<u8>,
    pub(super) stderr: Vec<u8>,
}

/// A tool call's answer.
#[derive(Debug)]
pub(super) enum Reply {
    /// A `tools/call` result: `isError`, the text content, `structuredContent`.
    Result {
        is_error: bool,
        text: String,
        structured: Option<Value>,
    },
    /// The inspector failed: a JSON-RPC error or no connection (its stderr).
    Failed(String),
}

pub(super) struct Inspector {
    pub(super) home: PathBuf,
    pub(super) runtime: PathBuf,
    pub(super) bin: PathBuf,
    /// `kovra mcp` with its stderr appended to `server_log`.
    pub(super) server: PathBuf,
    pub(super) server_log: PathBuf,
    pub(super) work: PathBuf,
    pub(super) recs: Mutex<Vec<Rec>>,
    /// (label, canary): the calls whose output may carry that canary.
    pub(super) allowed: Mutex<Vec<(String, String)>>,
}

pub(super) fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The pinned inspector, installed by scripts/install-inspector.sh (scripts/test.sh runs it
/// before the ignored tests): never installed from here (an npm download inside `cargo test`),
/// and never a silent pass when missing or too old.
pub(super) fn inspector_bin() -> PathBuf {
    const HOW: &str = "run `bash scripts/install-inspector.sh` (or `bash scripts/test.sh`, which runs \
                       it and then this test)";
    let node = Command::new("node")
        .args(["-p", "process.versions.node.split('.')[0]"])
        .output();
    let major = node
        .as_ref()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| stdout(o).trim().parse::<u32>().ok());
    match major {
        Some(m) if m >= 18 => {}
        Some(m) => {
            panic!("the MCP Inspector {INSPECTOR_VERSION} needs Node >= 18, found {m}: {HOW}")
        }
        None => panic!("the MCP Inspector {INSPECTOR_VERSION} needs Node >= 18, found none: {HOW}"),
    }
    let prefix = workspace_root().join("target/test-tools/inspector/node_modules");
    let pkg = std::fs::read_to_string(prefix.join("@modelcontextprotocol/inspector/package.json"))
        .unwrap_or_else(|e| {
            panic!("the MCP Inspector {INSPECTOR_VERSION} is not installed ({e}): {HOW}")
        });
    let pkg: Value = serde_json::from_str(&pkg).expect("inspector package.json is JSON");
    assert_eq!(
        pkg["version"], INSPECTOR_VERSION,
        "the installed MCP Inspector is not the pinned version: {HOW}"
    );
    let bin = prefix.join(".bin/mcp-inspector");
    assert!(bin.exists(), "no {}: {HOW}", bin.display());
    bin
}

impl Inspector {
    pub(super) fn new(h: &Home, bin: PathBuf) -> Inspector {
        let work = h.root.join("work");
        std::fs::create_dir_all(&work).expect("work dir");
        let server_log = h.root.join("mcp-server.stderr");
        let server = h.root.join("kovra-mcp.sh");
        write_program(
            &server,
            &format!(
                "#!/bin/sh\nexec '{}' mcp 2>>'{}'\n",
                kovra_bin().display(),
                server_log.display()
            ),
        );
        Inspector {
            home: h.home.clone(),
            runtime: h.runtime.clone(),
            bin,
            server,
            server_log,
            work,
            recs: Mutex::new(Vec::new()),
            allowed: Mutex::new(Vec::new()),
        }
    }

    /// Run the inspector CLI against a fresh `kovra mcp` with `scope`; `method_args` are
    /// `--method …` and what follows. Everything printed is recorded under `label`.
    pub(super) fn invoke(
        &self,
        label: &str,
        scope: Scope,
        method_args: &[String],
    ) -> (Option<i32>, String) {
        let mut c = Command::new(&self.bin);
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("KOVRA_") {
                c.env_remove(k);
            }
        }
        c.arg("--cli");
        let base = [
            ("KOVRA_HOME", self.home.display().to_string()),
            ("XDG_RUNTIME_DIR", self.runtime.display().to_string()),
            ("KOVRA_NO_AUTOSTART", "1".to_string()),
            ("KOVRA_LOG", "trace".to_string()),
        ];
        for (k, v) in base
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .chain(scope.iter().copied())
        {
            c.arg("-e").arg(format!("{k}={v}"));
        }
        c.arg(&self.server)
            .args(method_args)
            .current_dir(&self.work)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let t0 = Instant::now();
        let mut child = c.spawn().expect("spawn mcp-inspector (node)");
        let t_out = drain(child.stdout.take().expect("stdout"));
        let t_err = drain(child.stderr.take().expect("stderr"));
        let deadline = Instant::now() + Duration::from_secs(120);
        let status = loop {
            if let Some(s) = child.try_wait().expect("wait inspector") {
                break Some(s);
            }
            if Instant::now() > deadline {
                let _ = killpg(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let stdout = t_out.join().expect("stdout reader");
        let stderr = t_err.join().expect("stderr reader");
        let code = status.and_then(|s| s.code());
        let text = format!(
            "{}\n{}",
            String::from_utf8_lossy(&stdout),
            String::from_utf8_lossy(&stderr)
        );
        self.recs.lock().expect("recs").push(Rec {
            label: label.to_string(),
            code,
            secs: t0.elapsed().as_secs_f64(),
            stdout: stdout.clone(),
            stderr,
        });
        assert!(status.is_some(), "{label}: the inspector hung:\n{text}");
        (code, String::from_utf8_lossy(&stdout).into_owned())
    }

    pub(super) fn list_tools(&self, scope: Scope) -> Value {
        let (code, out) = self.invoke(
            "tools/list",
            scope,
            &["--method".into(), "tools/list".into()],
        );
        assert_eq!(code, Some(0), "tools/list: {}", self.printed("tools/list"));
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("tools/list is not JSON ({e}): {out}"))
    }

    /// Call `tool` with `args` (`key=value`; the inspector parses JSON values).
    pub(super) fn call(&self, label: &str, scope: Scope, tool: &str, args: &[String]) -> Reply {
        let mut a: Vec<String> = vec![
            "--method".into(),
            "tools/call".into(),
            "--tool-name".into(),
            tool.into(),
        ];
        if !args.is_empty() {
            a.push("--tool-arg".into());
            a.extend(args.iter().cloned());
        }
        let (code, out) = self.invoke(label, scope, &a);
        if code != Some(0) {
            return Reply::Failed(self.printed(label));
        }
        let v: Value = serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("{label}: stdout is not JSON ({e}): {out}"));
        let text = v["content"]
            .as_array()
            .unwrap_or_else(|| panic!("{label}: no content: {out}"))
            .iter()
            .filter_map(|c| c["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n");
        Reply::Result {
            is_error: v["isError"].as_bool().unwrap_or(false),
            text,
            structured: v.get("structuredContent").cloned(),
        }
    }

    /// A call that must succeed: its text and structured content.
    pub(super) fn ok(
        &self,
        label: &str,
        scope: Scope,
        tool: &str,
        args: &[String],
    ) -> (String, Value) {
        match self.call(label, scope, tool, args) {
            Reply::Result {
                is_error: false,
                text,
                structured,
            } => (text, structured.unwrap_or(Value::Null)),
            other => panic!("{label}: expected success, got {other:?}"),
        }
    }

    /// A call that must be answered with an error result (`isError: true`): its text.
    pub(super) fn refused(&self, label: &str, scope: Scope, tool: &str, args: &[String]) -> String {
        match self.call(label, scope, tool, args) {
            Reply::Result {
                is_error: true,
                text,
                ..
            } => text,
            other => panic!("{label}: expected an error result, got {other:?}"),
        }
    }

    /// A call that must be answered with an error result of code `code`: its text.
    pub(super) fn refused_code(
        &self,
        label: &str,
        scope: Scope,
        tool: &str,
        args: &[String],
        code: &str,
    ) -> String {
        let text = self.refused(label, scope, tool, args);
        assert_eq!(code_of(&text), code, "{label}: {text}");
        text
    }

    /// Everything the inspector printed for `label` (the last call with it).
    pub(super) fn printed(&self, label: &str) -> String {
        let recs = self.recs.lock().expect("recs");
        recs.iter()
            .rev()
            .find(|r| r.label == label)
            .map(|r| {
                format!(
                    "exit {:?}\nstdout: {}\nstderr: {}",
                    r.code,
                    String::from_utf8_lossy(&r.stdout),
                    String::from_utf8_lossy(&r.stderr)
                )
            })
            .unwrap_or_default()
    }

    pub(super) fn allow(&self, label: &str, canary: &str) {
        self.allowed
            .lock()
            .expect("allowed")
            .push((label.to_string(), canary.to_string()));
    }

    /// (where, canary tag) for every canary form found where it is not allowed.
    pub(super) fn leaks(
        &self,
        h: &Home,
        canaries: &[(&str, String)],
        honour_allowed: bool,
    ) -> Vec<(String, String)> {
        let allowed = self.allowed.lock().expect("allowed");
        let is_allowed = |label: &str, value: &str| {
            honour_allowed && allowed.iter().any(|(l, v)| l == label && v == value)
        };
        let mut found = Vec::new();
        let mut scan = |label: &str, bytes: &[u8]| {
            for (tag, value) in canaries {
                if !is_allowed(label, value) && find(bytes, value).is_some() {
                    found.push((label.to_string(), tag.to_string()));
                }
            }
        };
        for r in self.recs.lock().expect("recs").iter() {
            scan(&r.label, &r.stdout);
            scan(&r.label, &r.stderr);
        }
        for (name, path) in [
            ("mcp server stderr", self.server_log.clone()),
            ("daemon log", self.home.join("daemon.log")),
        ] {
            scan(name, &std::fs::read(path).unwrap_or_default());
        }
        scan("kovra transcript", &h.transcript.borrow());
        found
    }
}

pub(super) type Job<'a> = Box<dyn FnOnce() + Send + 'a>;

/// Run independent calls a few at a time: each is two node processes and a server, so more
/// than the CPUs can run at once only slows every call down.
pub(super) fn par(jobs: Vec<Job<'_>>) {
    let n = std::thread::available_parallelism().map_or(2, |n| n.get().min(4));
    let queue = Mutex::new(jobs);
    std::thread::scope(|s| {
        for _ in 0..n {
            s.spawn(|| {
                loop {
                    let job = queue.lock().expect("queue").pop();
                    match job {
                        Some(job) => job(),
                        None => break,
                    }
                }
            });
        }
    });
}

/// A job: `tool` with `args` in `scope` must be answered with an error result (of error
/// `code`, when given).
pub(super) fn refusal<'a>(
    insp: &'a Inspector,
    label: String,
    scope: Scope,
    tool: &'static str,
    args: Vec<String>,
    code: Option<&'static str>,
) -> Job<'a> {
    Box::new(move || match code {
        Some(code) => {
            insp.refused_code(&label, scope, tool, &args, code);
        }
        None => {
            insp.refused(&label, scope, tool, &args);
        }
    })
}

pub(super) fn arg(k: &str, v: &str) -> String {
    format!("{k}={v}")
}

pub(super) fn coord(c: &str) -> Vec<String> {
    vec![arg("coordinate", c)]
}

/// A JSON value for `--tool-arg` (the inspector JSON-parses each value).
pub(super) fn json_arg(k: &str, v: &Value) -> String {
    format!("{k}={v}")
}

/// The arguments of a `run` call: `command` (an argv) and the refs file `refs`.
pub(super) fn run_args(command: Value, refs: &str) -> Vec<String> {
    vec![
        json_arg("command", &command),
        json_arg("refs", &Value::String(refs.to_string())),
    ]
}

/// A `run` of `sh -c SCRIPT` with `VAR` referring to `coordinate`.
pub(super) fn sh_run(script: &str, var: &str, coordinate: &str) -> Vec<String> {
    run_args(
        serde_json::json!(["sh", "-c", script]),
        &format!("{var}={coordinate}\n"),
    )
}

/// The arguments of an `api` call.
pub(super) fn api_args(provider: &str, method: &str, path: &str) -> Vec<String> {
    vec![
        arg("provider", provider),
        arg("method", method),
        arg("path", path),
    ]
}

pub(super) fn code_of(text: &str) -> &str {
    text.split(':').next().unwrap_or("").trim()
}

/// Each listed record's coordinate and vault: a `list` result's rows, read by `columns`.
pub(super) fn coordinates(listing: &Value) -> Vec<(String, String)> {
    let column = |name: &str| {
        listing["columns"]
            .as_array()
            .and_then(|c| c.iter().position(|n| n == name))
            .unwrap_or_else(|| panic!("no `{name}` column: {listing}"))
    };
    let (coordinate, vault) = (column("coordinate"), column("vault"));
    listing["records"]
        .as_array()
        .unwrap_or_else(|| panic!("no records: {listing}"))
        .iter()
        .map(|r| {
            (
                r[coordinate].as_str().unwrap_or("").to_string(),
                r[vault].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}
