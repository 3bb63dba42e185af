//! `kovra mcp`: an MCP server over stdio (rmcp) that is a scoped client of the daemon.
//!
//! The server holds no key and decides nothing: every tool call becomes one daemon request
//! with surface `mcp`, origin `agent` and the session's [`Scope`]; the daemon intersects the
//! scope and its policy decides. No tool takes a secret value as an argument, and tool
//! results carry only what the daemon chose to answer (run output arrives redacted).
//!
//! Stdout is the protocol channel: nothing here prints to it; diagnostics go to stderr.

use std::collections::BTreeSet;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

mod broker;

use kovra_client::Client;
use kovra_core::model::{OperationClass, Origin, Sensitivity, Surface};
use kovra_core::policy::{EnvScope, ProjectScope, Scope};
use kovra_proto::paths::Paths;
use kovra_proto::{
    Charset, Context, Envelope, PROTOCOL_VERSION, Reply, Request, Response, RunRequest,
};
use rmcp::handler::server::common::schema_for_output;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock};
use rmcp::service::RequestContext;
use rmcp::{
    ErrorData, RoleServer, ServerHandler, ServiceExt, schemars, tool, tool_handler, tool_router,
};
use serde::{Deserialize, Serialize};

/// Longest coordinate accepted (bytes); longer input is refused before reaching the daemon.
const MAX_COORDINATE: usize = 1024;
/// Largest inline `.env.refs` text or refs file (bytes).
const MAX_REFS: usize = 256 * 1024;
/// Largest total size of a run's command line (bytes).
const MAX_COMMAND: usize = 128 * 1024;
/// Largest description (bytes).
const MAX_DESCRIPTION: usize = 4096;
const DEFAULT_TIMEOUT_SECS: u64 = 60;
const MAX_TIMEOUT_SECS: u64 = 600;
const DEFAULT_OUTPUT_BYTES: usize = 64 * 1024;
const MAX_OUTPUT_BYTES: usize = 4 * 1024 * 1024;

/// Serve MCP over stdin/stdout until the client closes stdin.
pub fn serve() -> anyhow::Result<()> {
    let session = Session::from_env()?;
    eprintln!(
        "kovra mcp: serving on stdio (project {}, scope from KOVRA_MCP_*)",
        session.project.as_deref().unwrap_or("none")
    );
    if session.project.is_none() && session.scope.projects != ProjectScope::All {
        eprintln!(
            "kovra mcp: no current project (set KOVRA_PROJECT or KOVRA_MCP_PROJECTS): only the global vault, if listed, is addressable"
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let served = runtime.block_on(async move {
        let server = KovraMcp {
            session: Arc::new(session),
        };
        let running = server
            .serve(rmcp::transport::stdio())
            .await
            .map_err(|e| anyhow::anyhow!("MCP handshake failed: {e}"))?;
        running.waiting().await?;
        anyhow::Ok(())
    });
    // A run still stopping its child gets a moment; then the process ends regardless.
    runtime.shutdown_timeout(Duration::from_secs(5));
    served
}

// ---------------------------------------------------------------------------------------
// Scope from the environment

fn env_list(name: &str) -> Option<Vec<String>> {
    let raw = std::env::var(name).ok()?;
    let items: Vec<String> = raw
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    if items.is_empty() { None } else { Some(items) }
}

/// The scope and current project this session works under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeConfig {
    pub scope: Scope,
    pub project: Option<String>,
}

/// Build the session scope from `KOVRA_MCP_OPERATIONS`, `KOVRA_MCP_PROJECTS`,
/// `KOVRA_MCP_ENVIRONMENTS` and `KOVRA_PROJECT` (passed in, for testing).
pub fn scope_from(
    operations: Option<Vec<String>>,
    projects: Option<Vec<String>>,
    environments: Option<Vec<String>>,
    current: Option<String>,
) -> anyhow::Result<ScopeConfig> {
    let operations: BTreeSet<OperationClass> = match operations {
        None => [OperationClass::Metadata, OperationClass::Inject]
            .into_iter()
            .collect(),
        Some(list) if list.iter().any(|s| s == "*") => OperationClass::ALL.into_iter().collect(),
        Some(list) => list
            .iter()
            .map(|s| match s.to_ascii_lowercase().as_str() {
                "metadata" => Ok(OperationClass::Metadata),
                "inject" => Ok(OperationClass::Inject),
                "reveal" => Ok(OperationClass::Reveal),
                "write" => Ok(OperationClass::Write),
                other => Err(anyhow::anyhow!(
                    "KOVRA_MCP_OPERATIONS: unknown operation `{other}` (use metadata, inject, reveal, write or *)"
                )),
            })
            .collect::<anyhow::Result<_>>()?,
    };
    let (project_scope, global, first) = match &projects {
        Some(list) if list.iter().any(|s| s == "*") => (ProjectScope::All, true, None),
        Some(list) => {
            let global = list.iter().any(|s| s == "global");
            let names: BTreeSet<String> = list.iter().filter(|s| *s != "global").cloned().collect();
            let first = list.iter().find(|s| *s != "global").cloned();
            (ProjectScope::Only(names), global, first)
        }
        None => (ProjectScope::Only(BTreeSet::new()), false, None),
    };
    let project = current.filter(|p| !p.is_empty()).or(first);
    let project_scope = match (project_scope, &projects, &project) {
        // Default: the current project only.
        (ProjectScope::Only(_), None, Some(p)) => ProjectScope::Only([p.clone()].into()),
        (s, _, _) => s,
    };
    let environments = match environments {
        None => EnvScope::NonProduction,
        Some(list) if list.iter().any(|s| s == "*") => EnvScope::All,
        Some(list) => EnvScope::Only(list.into_iter().collect()),
    };
    Ok(ScopeConfig {
        scope: Scope {
            operations,
            projects: project_scope,
            global,
            environments,
        },
        project,
    })
}

struct Session {
    paths: Paths,
    scope: Scope,
    project: Option<String>,
    exe: Option<PathBuf>,
}

impl Session {
    fn from_env() -> anyhow::Result<Self> {
        let paths = Paths::from_env().map_err(|e| anyhow::anyhow!("no-home: {e}"))?;
        let config = scope_from(
            env_list("KOVRA_MCP_OPERATIONS"),
            env_list("KOVRA_MCP_PROJECTS"),
            env_list("KOVRA_MCP_ENVIRONMENTS"),
            std::env::var("KOVRA_PROJECT").ok(),
        )?;
        let autostart =
            !std::env::var("KOVRA_NO_AUTOSTART").is_ok_and(|v| !v.is_empty() && v != "0");
        let exe = if autostart {
            std::env::current_exe().ok()
        } else {
            None
        };
        Ok(Session {
            paths,
            scope: config.scope,
            project: config.project,
            exe,
        })
    }

    fn envelope(&self, request: Request) -> Envelope {
        Envelope {
            v: PROTOCOL_VERSION,
            context: Context {
                surface: Surface::Mcp,
                origin: Origin::Agent,
                scope: Some(self.scope.clone()),
                project: self.project.clone(),
            },
            request,
        }
    }

    fn connect(&self) -> Result<Client, Failure> {
        let result = match &self.exe {
            Some(exe) => Client::connect_or_start(&self.paths, exe),
            None => Client::connect(&self.paths),
        };
        result.map_err(|e| Failure::new(e.code(), format!("{e} ({})", e.hint())))
    }

    /// One request, one reply, on a fresh connection (blocking).
    fn call(&self, request: Request) -> Result<Response, Failure> {
        let mut client = self.connect()?;
        client
            .call(&self.envelope(request))
            .map_err(|e| Failure::new(e.code(), e.to_string()))
    }
}

// ---------------------------------------------------------------------------------------
// Outcomes

/// A refusal or failure as the agent sees it: a stable code and a message (never a value).
#[derive(Debug)]
struct Failure {
    code: String,
    message: String,
}

impl Failure {
    fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Failure {
            code: code.into(),
            message: message.into(),
        }
    }

    fn result(self) -> CallToolResult {
        CallToolResult::error(vec![ContentBlock::text(format!(
            "{}: {}",
            self.code, self.message
        ))])
    }
}

fn invalid(message: impl Into<String>) -> Failure {
    Failure::new("invalid-argument", message)
}

/// The reply of an accepted request, or the failure to hand back.
fn accepted(response: Response, tool: &str) -> Result<Reply, Failure> {
    match response {
        Response::Ok { reply } => Ok(*reply),
        Response::Error(e) => {
            let mut message = e.message;
            if let Some(hint) = e.hint {
                message.push_str(&format!(" (hint: {hint})"));
            }
            Err(Failure::new(e.code, message))
        }
        Response::NeedsProof {
            approval: Some(id), ..
        } => Err(Failure::new(
            "approval-needed",
            format!(
                "approval needed: {id} — ask the human to run `kovra approve {id}` in their terminal, then call {tool} again"
            ),
        )),
        Response::NeedsProof { code, message, .. } => Err(Failure::new(
            "needs-proof",
            format!(
                "{message} [{code}] — this needs a proof of presence at the human's terminal; ask the human to do it with the kovra CLI"
            ),
        )),
    }
}

fn unexpected() -> Failure {
    Failure::new("internal", "unexpected reply from the daemon")
}

fn structured<T: Serialize>(value: &T) -> CallToolResult {
    match serde_json::to_value(value) {
        Ok(v) => CallToolResult::structured(v),
        Err(e) => Failure::new("internal", format!("cannot encode the result: {e}")).result(),
    }
}

fn text(message: impl Into<String>) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::text(message.into())])
}

fn finish(outcome: Result<CallToolResult, Failure>) -> Result<CallToolResult, ErrorData> {
    Ok(outcome.unwrap_or_else(Failure::result))
}

fn check_coordinate(coordinate: &str) -> Result<(), Failure> {
    if coordinate.is_empty() {
        return Err(invalid("coordinate is empty"));
    }
    if coordinate.len() > MAX_COORDINATE {
        return Err(invalid(format!(
            "coordinate is longer than {MAX_COORDINATE} bytes"
        )));
    }
    Ok(())
}

fn check_description(description: Option<&String>) -> Result<(), Failure> {
    match description {
        Some(d) if d.len() > MAX_DESCRIPTION => Err(invalid(format!(
            "description is longer than {MAX_DESCRIPTION} bytes"
        ))),
        _ => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------
// Tool arguments and results

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListArgs {
    /// Only records in this environment (e.g. `dev`).
    #[serde(default)]
    pub env: Option<String>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusArgs {}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CoordinateArgs {
    /// A coordinate such as `secret:dev/stripe/api_key` (or `secret://global/...`).
    pub coordinate: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunArgs {
    /// The program and its arguments (no shell is involved).
    pub command: Vec<String>,
    /// Inline `.env.refs` text: `NAME=secret:env/group/key` lines.
    #[serde(default)]
    pub refs: Option<String>,
    /// A `.env.refs` file (relative to `cwd`). Without `refs` and `refs_file`, `cwd/.env.refs`
    /// is used when it exists, otherwise the program runs without secrets.
    #[serde(default)]
    pub refs_file: Option<String>,
    /// Working directory (default: the server's).
    #[serde(default)]
    pub cwd: Option<String>,
    /// The environment substituted for `${ENV}` in coordinates.
    #[serde(default)]
    pub env: Option<String>,
    /// Seconds before the program is stopped (default 60, at most 600).
    #[serde(default)]
    pub timeout_secs: Option<u64>,
    /// Bytes kept from each of stdout and stderr (default 65536).
    #[serde(default)]
    pub max_output_bytes: Option<u64>,
}

#[derive(Debug, Clone, Copy, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum CharsetArg {
    Alnum,
    Alpha,
    Digits,
    Hex,
    Base64url,
    Symbols,
}

impl From<CharsetArg> for Charset {
    fn from(c: CharsetArg) -> Self {
        match c {
            CharsetArg::Alnum => Charset::Alnum,
            CharsetArg::Alpha => Charset::Alpha,
            CharsetArg::Digits => Charset::Digits,
            CharsetArg::Hex => Charset::Hex,
            CharsetArg::Base64url => Charset::Base64url,
            CharsetArg::Symbols => Charset::Symbols,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SensitivityArg {
    Low,
    Medium,
    High,
    InjectOnly,
}

impl From<SensitivityArg> for Sensitivity {
    fn from(s: SensitivityArg) -> Self {
        match s {
            SensitivityArg::Low => Sensitivity::Low,
            SensitivityArg::Medium => Sensitivity::Medium,
            SensitivityArg::High => Sensitivity::High,
            SensitivityArg::InjectOnly => Sensitivity::InjectOnly,
        }
    }
}

fn sensitivity_name(s: Sensitivity) -> String {
    serde_json::to_value(s)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GenerateArgs {
    /// Where to store the new value, e.g. `secret:dev/app/session_key`.
    pub coordinate: String,
    /// Number of characters (default 32, 8 to 1024).
    #[serde(default)]
    pub length: Option<u32>,
    /// Characters to draw from (default alnum).
    #[serde(default)]
    pub charset: Option<CharsetArg>,
    #[serde(default)]
    pub description: Option<String>,
    /// Pin the new value to this broker provider for life (`providers` lists them).
    #[serde(default)]
    pub provider: Option<String>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestSecretArgs {
    /// Where the human should store the value.
    pub coordinate: String,
    /// What the value is for (shown to the human).
    pub description: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EditArgs {
    pub coordinate: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Lowering a sensitivity needs human approval.
    #[serde(default)]
    pub sensitivity: Option<SensitivityArg>,
    /// Setting revealable needs human approval.
    #[serde(default)]
    pub revealable: Option<bool>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct RecordOut {
    pub coordinate: String,
    /// `global` or `project:NAME`.
    pub vault: String,
    pub env: String,
    pub sensitivity: String,
    pub revealable: bool,
    pub production: bool,
    pub description: String,
    pub version: u64,
    pub updated: u64,
    pub totp: bool,
}

impl From<kovra_proto::RecordView> for RecordOut {
    fn from(r: kovra_proto::RecordView) -> Self {
        RecordOut {
            coordinate: r.coordinate,
            vault: r.vault,
            env: r.env,
            sensitivity: sensitivity_name(r.sensitivity),
            revealable: r.revealable,
            production: r.production,
            description: r.description,
            version: r.version,
            updated: r.updated,
            totp: r.totp.is_some(),
        }
    }
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ListOut {
    pub records: Vec<RecordOut>,
    /// Rows withheld because they failed authentication.
    pub tampered: usize,
    pub missing: usize,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct StatusOut {
    pub initialized: bool,
    pub unlocked: bool,
    /// The project vaults this session may address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub projects: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locks_in_secs: Option<u64>,
    pub production_environments: Vec<String>,
    /// The project bare coordinates resolve in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// This session's operations.
    pub operations: Vec<String>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct FingerprintOut {
    pub coordinate: String,
    pub fingerprint: String,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct RunOut {
    /// The exit code, or 128+N after signal N.
    pub exit_code: i32,
    /// Redacted standard output.
    pub stdout: String,
    /// Redacted standard error.
    pub stderr: String,
    /// Whether output beyond `max_output_bytes` was dropped.
    pub truncated: bool,
    /// Whether the program was stopped at its timeout.
    pub timed_out: bool,
    /// The names (not values) of the variables injected.
    pub injected: Vec<String>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct WrittenOut {
    pub coordinate: String,
    pub vault: String,
    pub version: u64,
}

// ---------------------------------------------------------------------------------------
// The server

#[derive(Clone)]
pub struct KovraMcp {
    session: Arc<Session>,
}

impl KovraMcp {
    async fn call(&self, request: Request) -> Result<Response, Failure> {
        let session = self.session.clone();
        tokio::task::spawn_blocking(move || session.call(request))
            .await
            .map_err(|e| Failure::new("internal", format!("worker failed: {e}")))?
    }
}

#[tool_router]
impl KovraMcp {
    /// List the records this session may address (metadata only, never values).
    #[tool(
        annotations(read_only_hint = true, open_world_hint = false),
        output_schema = schema_for_output::<ListOut>()
    )]
    async fn list(
        &self,
        Parameters(args): Parameters<ListArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        finish(
            async {
                match accepted(self.call(Request::List { env: args.env }).await?, "list")? {
                    Reply::Records(l) => Ok(structured(&ListOut {
                        records: l.records.into_iter().map(RecordOut::from).collect(),
                        tampered: l.tampered,
                        missing: l.missing,
                    })),
                    _ => Err(unexpected()),
                }
            }
            .await,
        )
    }

    /// Vault and session state: whether the vault is unlocked, what this session may do.
    #[tool(
        annotations(read_only_hint = true, open_world_hint = false),
        output_schema = schema_for_output::<StatusOut>()
    )]
    async fn status(
        &self,
        Parameters(_args): Parameters<StatusArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        finish(
            async {
                match accepted(self.call(Request::Status).await?, "status")? {
                    Reply::Status(s) => Ok(structured(&StatusOut {
                        initialized: s.initialized,
                        unlocked: s.unlocked,
                        // The vault-wide record count is not this session's business (use
                        // `list` for addressable records); the daemon already scoped projects.
                        projects: s.projects,
                        locks_in_secs: s.locks_in_secs,
                        production_environments: s.production_environments,
                        project: self.session.project.clone(),
                        operations: self
                            .session
                            .scope
                            .operations
                            .iter()
                            .filter_map(|o| {
                                serde_json::to_value(o)
                                    .ok()
                                    .and_then(|v| v.as_str().map(str::to_string))
                            })
                            .collect(),
                    })),
                    _ => Err(unexpected()),
                }
            }
            .await,
        )
    }

    /// A keyed fingerprint of a value: compare two records without seeing either.
    #[tool(
        annotations(read_only_hint = true, open_world_hint = false),
        output_schema = schema_for_output::<FingerprintOut>()
    )]
    async fn fingerprint(
        &self,
        Parameters(args): Parameters<CoordinateArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        finish(
            async {
                check_coordinate(&args.coordinate)?;
                let request = Request::Fingerprint {
                    coordinate: args.coordinate,
                    proof: None,
                };
                match accepted(self.call(request).await?, "fingerprint")? {
                    Reply::Fingerprint {
                        coordinate,
                        fingerprint,
                    } => Ok(structured(&FingerprintOut {
                        coordinate,
                        fingerprint,
                    })),
                    _ => Err(unexpected()),
                }
            }
            .await,
        )
    }

    /// Run a program with secrets injected from `.env.refs`-style wiring. Returns the exit
    /// code and the redacted output. Values never appear in the result.
    #[tool(
        annotations(read_only_hint = false, destructive_hint = true, open_world_hint = true),
        output_schema = schema_for_output::<RunOut>()
    )]
    async fn run(
        &self,
        Parameters(args): Parameters<RunArgs>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let session = self.session.clone();
        let (control_tx, control_rx) = mpsc::channel();
        // Dropped with this future, or when the client cancels or goes away: the child is
        // stopped then, not left to its timeout.
        let guard = CancelOnDrop(control_tx.clone());
        let mut task = tokio::task::spawn_blocking(move || {
            run_blocking(&session, args, control_tx, control_rx).map(|o| structured(&o))
        });
        let outcome = tokio::select! {
            joined = &mut task => joined,
            () = context.ct.cancelled() => {
                guard.cancel();
                task.await
            }
        };
        drop(guard);
        finish(
            outcome
                .unwrap_or_else(|e| Err(Failure::new("internal", format!("worker failed: {e}")))),
        )
    }

    /// Print a value, when policy allows: only revealable, non-production, non-high values
    /// in a session with the reveal operation. Everything else is refused without the value.
    #[tool(annotations(read_only_hint = true, open_world_hint = false))]
    async fn reveal(
        &self,
        Parameters(args): Parameters<CoordinateArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        finish(
            async {
                check_coordinate(&args.coordinate)?;
                let request = Request::Reveal {
                    coordinate: args.coordinate,
                    proof: None,
                };
                match accepted(self.call(request).await?, "reveal")? {
                    Reply::Revealed { value, .. } => match std::str::from_utf8(value.expose()) {
                        Ok(s) => Ok(text(s)),
                        Err(_) => Err(Failure::new(
                            "not-text",
                            "the value is not UTF-8 text; use it through run instead",
                        )),
                    },
                    _ => Err(unexpected()),
                }
            }
            .await,
        )
    }

    /// Create a random value at a coordinate. The value is never returned; use it via run.
    #[tool(
        annotations(read_only_hint = false, destructive_hint = false, open_world_hint = false),
        output_schema = schema_for_output::<WrittenOut>()
    )]
    async fn generate(
        &self,
        Parameters(args): Parameters<GenerateArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        finish(
            async {
                check_coordinate(&args.coordinate)?;
                check_description(args.description.as_ref())?;
                let length = args.length.unwrap_or(32);
                if !(8..=1024).contains(&length) {
                    return Err(invalid("length must be between 8 and 1024"));
                }
                let request = Request::Generate {
                    coordinate: args.coordinate,
                    length,
                    charset: args.charset.map(Charset::from).unwrap_or_default(),
                    sensitivity: None,
                    description: args.description,
                    revealable: false,
                    overwrite: false,
                    provider: args.provider,
                    proof: None,
                };
                match accepted(self.call(request).await?, "generate")? {
                    Reply::Written {
                        coordinate,
                        vault,
                        version,
                    } => Ok(structured(&WrittenOut {
                        coordinate,
                        vault,
                        version,
                    })),
                    _ => Err(unexpected()),
                }
            }
            .await,
        )
    }

    /// Ask the human to add a secret value. This tool never takes a value: kovra records the
    /// request (the human sees it in `kovra requests` and a notification) and tells you what
    /// to ask the human to run in their own terminal.
    #[tool(annotations(
        read_only_hint = false,
        destructive_hint = false,
        open_world_hint = false
    ))]
    async fn request_secret(
        &self,
        Parameters(args): Parameters<RequestSecretArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        finish(
            async {
                check_coordinate(&args.coordinate)?;
                check_description(Some(&args.description))?;
                let request = Request::SecretRequest {
                    coordinate: args.coordinate,
                    description: args.description,
                };
                match accepted(self.call(request).await?, "request_secret")? {
                    Reply::Done { message } => Ok(text(format!(
                        "{message}. Never ask the human to paste the value into this conversation. Once added, use it with the run or api tool."
                    ))),
                    _ => Err(unexpected()),
                }
            }
            .await,
        )
    }

    /// Call a provider's HTTP API through kovra's broker. kovra picks the credential pinned to
    /// the provider, sends the request to the provider's registered host, and returns the
    /// response with auth headers removed and the credential scrubbed. You never see the key.
    #[tool(
        annotations(read_only_hint = false, destructive_hint = true, open_world_hint = true),
        output_schema = schema_for_output::<broker::ApiOut>()
    )]
    async fn api(
        &self,
        Parameters(args): Parameters<broker::ApiArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        finish(
            async {
                let request = Request::Api(Box::new(args.into_request()?));
                match accepted(self.call(request).await?, "api")? {
                    Reply::Api(r) => Ok(structured(&broker::ApiOut::from(*r))),
                    _ => Err(unexpected()),
                }
            }
            .await,
        )
    }

    /// The providers the `api` tool can call: hosts, auth kind, claimed variable names and
    /// the methods and paths each allows.
    #[tool(
        annotations(read_only_hint = true, open_world_hint = false),
        output_schema = schema_for_output::<broker::ProvidersOut>()
    )]
    async fn providers(
        &self,
        Parameters(args): Parameters<broker::ProvidersArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        finish(
            async {
                let request = match args.name {
                    Some(name) => Request::ProviderShow { name },
                    None => Request::ProviderList,
                };
                match accepted(self.call(request).await?, "providers")? {
                    Reply::Providers { providers } => {
                        Ok(structured(&broker::ProvidersOut { providers }))
                    }
                    _ => Err(unexpected()),
                }
            }
            .await,
        )
    }

    /// Change a record's description, sensitivity or revealable flag. Loosening needs the
    /// human's approval.
    #[tool(annotations(
        read_only_hint = false,
        destructive_hint = true,
        open_world_hint = false
    ))]
    async fn edit_metadata(
        &self,
        Parameters(args): Parameters<EditArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        finish(
            async {
                check_coordinate(&args.coordinate)?;
                check_description(args.description.as_ref())?;
                let request = Request::Edit {
                    coordinate: args.coordinate,
                    description: args.description,
                    sensitivity: args.sensitivity.map(Sensitivity::from),
                    revealable: args.revealable,
                    proof: None,
                };
                match accepted(self.call(request).await?, "edit_metadata")? {
                    Reply::Record(r) => Ok(structured(&RecordOut::from(r))),
                    Reply::Done { message } => Ok(text(message)),
                    Reply::Written {
                        coordinate,
                        vault,
                        version,
                    } => Ok(structured(&WrittenOut {
                        coordinate,
                        vault,
                        version,
                    })),
                    _ => Err(unexpected()),
                }
            }
            .await,
        )
    }

    /// Delete a record and its history. Protected records need the human's approval.
    #[tool(annotations(
        read_only_hint = false,
        destructive_hint = true,
        open_world_hint = false
    ))]
    async fn delete(
        &self,
        Parameters(args): Parameters<CoordinateArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        finish(
            async {
                check_coordinate(&args.coordinate)?;
                let request = Request::Remove {
                    coordinate: args.coordinate.clone(),
                    proof: None,
                };
                match accepted(self.call(request).await?, "delete")? {
                    Reply::Done { message } => Ok(text(message)),
                    _ => Ok(text(format!("deleted {}", args.coordinate))),
                }
            }
            .await,
        )
    }
}

#[tool_handler(
    name = "kovra",
    version = "0.1.0",
    instructions = "kovra holds this project's secrets. Use `api` to call a provider's HTTP API with the credential attached by kovra (`providers` lists them), `run` to start programs with secrets injected (never write values into files), `list`/`status` for metadata, `request_secret` to ask the human for a new value. Approvals are given by the human with `kovra approve ID`."
)]
impl ServerHandler for KovraMcp {}

// ---------------------------------------------------------------------------------------
// run

/// What the run's timer thread hears besides its timeout.
enum Control {
    /// The child exited: nothing to stop.
    Done,
    /// The caller went away or cancelled: stop the child now.
    Cancel,
}

struct CancelOnDrop(mpsc::Sender<Control>);

impl CancelOnDrop {
    fn cancel(&self) {
        let _ = self.0.send(Control::Cancel);
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        // After a normal end the timer is gone and this send goes nowhere.
        self.cancel();
    }
}

/// One stream's captured bytes, shared with its reader thread.
#[derive(Default)]
struct Captured {
    bytes: Vec<u8>,
    truncated: bool,
}

fn drain(fd: OwnedFd, cap: usize, sink: Arc<Mutex<Captured>>, done: mpsc::Sender<()>) {
    std::thread::spawn(move || {
        let mut file = std::fs::File::from(fd);
        let mut buf = [0u8; 16 * 1024];
        loop {
            match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    let Ok(mut c) = sink.lock() else { break };
                    let room = cap.saturating_sub(c.bytes.len());
                    let take = room.min(n);
                    c.bytes
                        .extend_from_slice(buf.get(..take).unwrap_or_default());
                    if take < n {
                        c.truncated = true;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        let _ = done.send(());
    });
}

fn pipe() -> Result<(OwnedFd, OwnedFd), Failure> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| Failure::new("internal", format!("cannot create a pipe: {e}")))
}

fn run_blocking(
    session: &Session,
    args: RunArgs,
    control_tx: mpsc::Sender<Control>,
    control_rx: mpsc::Receiver<Control>,
) -> Result<RunOut, Failure> {
    if args.command.is_empty() {
        return Err(invalid("command is empty"));
    }
    if args.command.iter().map(|a| a.len() + 1).sum::<usize>() > MAX_COMMAND {
        return Err(invalid(format!(
            "command is longer than {MAX_COMMAND} bytes"
        )));
    }
    let timeout = args
        .timeout_secs
        .unwrap_or(DEFAULT_TIMEOUT_SECS)
        .clamp(1, MAX_TIMEOUT_SECS);
    let cap = args
        .max_output_bytes
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(DEFAULT_OUTPUT_BYTES)
        .min(MAX_OUTPUT_BYTES);
    let cwd = match &args.cwd {
        Some(c) => PathBuf::from(c),
        None => std::env::current_dir()
            .map_err(|e| Failure::new("cwd-invalid", format!("no working directory: {e}")))?,
    };
    if !cwd.is_dir() {
        return Err(Failure::new(
            "cwd-invalid",
            format!("{} is not a directory", cwd.display()),
        ));
    }
    let (refs, refs_path) = match (&args.refs, &args.refs_file) {
        (Some(_), Some(_)) => return Err(invalid("give refs or refs_file, not both")),
        (Some(text), None) => {
            if text.len() > MAX_REFS {
                return Err(invalid(format!("refs is longer than {MAX_REFS} bytes")));
            }
            (Some(text.clone()), Some("(inline refs)".to_string()))
        }
        (None, Some(file)) => {
            let path = cwd.join(file);
            let text = read_refs(&path)?.ok_or_else(|| {
                Failure::new(
                    "refs-missing",
                    format!("no refs file at {}", path.display()),
                )
            })?;
            (Some(text), Some(path.display().to_string()))
        }
        (None, None) => {
            let path = cwd.join(".env.refs");
            match read_refs(&path)? {
                Some(text) => (Some(text), Some(path.display().to_string())),
                None => (None, None),
            }
        }
    };
    let no_secrets = refs.is_none();
    let env = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    let request = RunRequest {
        argv: args.command,
        cwd: cwd.display().to_string(),
        env,
        refs,
        refs_path,
        env_name: args.env,
        only: Vec::new(),
        no_secrets,
        keep_env: Vec::new(),
        tty: None,
        proof: None,
    };

    let mut client = session.connect()?;
    let response = client
        .call(&session.envelope(Request::Run(Box::new(request))))
        .map_err(|e| Failure::new(e.code(), e.to_string()))?;
    let injected = match accepted(response, "run")? {
        Reply::RunReady { injected, .. } => injected,
        _ => return Err(unexpected()),
    };

    let null = std::fs::File::open("/dev/null")
        .map_err(|e| Failure::new("internal", format!("cannot open /dev/null: {e}")))?;
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    client
        .send_fds(&[null.as_raw_fd(), out_w.as_raw_fd(), err_w.as_raw_fd()])
        .map_err(|e| Failure::new(e.code(), e.to_string()))?;
    drop((null, out_w, err_w));

    let stdout = Arc::new(Mutex::new(Captured::default()));
    let stderr = Arc::new(Mutex::new(Captured::default()));
    let (done_tx, done_rx) = mpsc::channel();
    drain(out_r, cap, stdout.clone(), done_tx.clone());
    drain(err_r, cap, stderr.clone(), done_tx);

    // The timer: SIGTERM at the timeout, SIGKILL two seconds later.
    let mut sender = client
        .sender()
        .map_err(|e| Failure::new(e.code(), e.to_string()))?;
    let signal_context = session.envelope(Request::Status).context;
    let timed_out = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let timer_flag = timed_out.clone();
    let timer = std::thread::spawn(move || {
        let mut wait = Duration::from_secs(timeout);
        for signal in [15, 9] {
            match control_rx.recv_timeout(wait) {
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    timer_flag.store(true, std::sync::atomic::Ordering::SeqCst);
                }
                Ok(Control::Cancel) => {}
                Ok(Control::Done) | Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
            let envelope = Envelope {
                v: PROTOCOL_VERSION,
                context: signal_context.clone(),
                request: Request::Signal { signal },
            };
            if sender.send(&envelope).is_err() {
                return;
            }
            wait = Duration::from_secs(2);
            // A second Cancel (the guard's drop) must not skip the grace period.
            loop {
                match control_rx.try_recv() {
                    Ok(Control::Cancel) => {}
                    Ok(Control::Done) => return,
                    Err(_) => break,
                }
            }
        }
    });

    let outcome = client.receive();
    let _ = control_tx.send(Control::Done);
    let _ = timer.join();
    let code = match outcome {
        Ok(response) => match accepted(response, "run")? {
            Reply::Exited { code } => code,
            _ => return Err(unexpected()),
        },
        Err(e) => return Err(Failure::new(e.code(), e.to_string())),
    };
    // Both streams end when the child (and anything holding its descriptors) is gone; a
    // straggler that keeps them open does not hold the result back for long.
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    for _ in 0..2 {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if done_rx.recv_timeout(left).is_err() {
            break;
        }
    }
    let take = |c: &Arc<Mutex<Captured>>| {
        c.lock()
            .map(|c| (String::from_utf8_lossy(&c.bytes).into_owned(), c.truncated))
            .unwrap_or_default()
    };
    let (out, out_trunc) = take(&stdout);
    let (err, err_trunc) = take(&stderr);
    Ok(RunOut {
        exit_code: code,
        stdout: out,
        stderr: err,
        truncated: out_trunc || err_trunc,
        timed_out: timed_out.load(std::sync::atomic::Ordering::SeqCst),
        injected,
    })
}

/// A refs file's text; `None` when it does not exist.
fn read_refs(path: &std::path::Path) -> Result<Option<String>, Failure> {
    match std::fs::metadata(path) {
        Ok(m) if m.len() > MAX_REFS as u64 => {
            return Err(invalid(format!(
                "{} is larger than {MAX_REFS} bytes",
                path.display()
            )));
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(Failure::new(
                "refs-missing",
                format!("cannot read {}: {e}", path.display()),
            ));
        }
    }
    std::fs::read_to_string(path).map(Some).map_err(|e| {
        Failure::new(
            "refs-missing",
            format!("cannot read {}: {e}", path.display()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(s: &str) -> Option<Vec<String>> {
        Some(s.split(',').map(str::to_string).collect())
    }

    #[test]
    fn default_scope_is_metadata_and_inject_in_non_production_of_the_project() {
        let c = scope_from(None, None, None, Some("app".into())).unwrap_or_else(|e| {
            unreachable!("{e}");
        });
        assert_eq!(c.project.as_deref(), Some("app"));
        assert_eq!(
            c.scope.operations,
            [OperationClass::Metadata, OperationClass::Inject].into()
        );
        assert_eq!(
            c.scope.projects,
            ProjectScope::Only(["app".to_string()].into())
        );
        assert!(!c.scope.global);
        assert_eq!(c.scope.environments, EnvScope::NonProduction);
    }

    #[test]
    fn global_only_when_listed() {
        let c = scope_from(None, list("app,global"), list("dev,staging"), None)
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert!(c.scope.global);
        assert_eq!(c.project.as_deref(), Some("app"));
        assert_eq!(
            c.scope.projects,
            ProjectScope::Only(["app".to_string()].into())
        );
        let all = scope_from(list("*"), list("*"), list("*"), None)
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert!(all.scope.is_full());
        assert_eq!(all.scope.operations.len(), 4);
        assert!(scope_from(list("metadata,everything"), None, None, None).is_err());
    }
}
