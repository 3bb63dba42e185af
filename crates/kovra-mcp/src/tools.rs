//! The server and its tools. Each tool is one daemon request through [`KovraMcp::call_tool`]:
//! it builds the request (checks that need no daemon first), and renders the one reply it
//! expects; failures, approvals and proofs are mapped once, in the call.

use kovra_proto::ErrorCode;
use std::sync::Arc;

use kovra_proto::{Reply, Request};
use rmcp::handler::server::common::schema_for_output;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CacheScope, CallToolRequestParams, CallToolResponse, CallToolResult, ListToolsResult,
    PaginatedRequestParams, ProtocolVersion, ResultType, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, tool, tool_handler, tool_router};

use crate::access;
use crate::args::{
    CoordinateArgs, EditArgs, GenerateArgs, ListArgs, RequestSecretArgs, RunArgs, StatusArgs,
};
use crate::broker;
use crate::outcome::{Failure, finish, structured, structured_with_summary, text, unexpected};
use crate::page::{PageRequest, summary};
use crate::query;
use crate::results::{
    FingerprintOut, ListOut, RecordOut, RunOut, StatusOut, WrittenOut, wire_name,
};
use crate::run;
use crate::session::Session;
use crate::ssh;

#[derive(Clone)]
pub struct KovraMcp {
    pub(crate) session: Arc<Session>,
    /// The tools, built once: listing and every call read it (building it anew each time
    /// costs every tool's definition).
    router: Arc<ToolRouter<KovraMcp>>,
    /// `KOVRA_MCP_TIMING` set: each call's time in this server (from the request to its
    /// result, the daemon's answer included) goes to stderr, with the tool's name only.
    timing: bool,
}

impl KovraMcp {
    pub(crate) fn new(session: Session) -> Self {
        KovraMcp {
            session: Arc::new(session),
            router: Arc::new(Self::tool_router()),
            timing: std::env::var_os("KOVRA_MCP_TIMING").is_some_and(|v| !v.is_empty()),
        }
    }

    /// The scope a call is checked against: known at once for the human's socket (and for a
    /// profile's once the daemon said it); otherwise asked of the daemon off the runtime.
    async fn scope(&self, refresh: bool) -> kovra_proto::Scope {
        if !refresh && let Some(scope) = self.session.known_scope() {
            return scope;
        }
        let session = self.session.clone();
        tokio::task::spawn_blocking(move || session.decided_scope(refresh))
            .await
            .unwrap_or_else(|_| self.session.scope.clone())
    }

    /// One tool call: send `request` (unless building it failed), then `render` the reply;
    /// `render` answers `None` for a reply its tool never expects.
    async fn call_tool(
        &self,
        tool: &'static str,
        request: Result<Request, Failure>,
        render: impl FnOnce(Reply) -> Option<CallToolResult>,
    ) -> Result<CallToolResult, ErrorData> {
        match request {
            Ok(request) => {
                self.answer(move |session| session.call(request, tool).map(Some), render)
                    .await
            }
            Err(failure) => finish(Err(failure)),
        }
    }

    /// Run `ask` (the daemon exchange, blocking) off the runtime, then `render` its answer;
    /// `None` from either is a reply the tool never expects.
    async fn answer<T: Send + 'static>(
        &self,
        ask: impl FnOnce(&Session) -> Result<Option<T>, Failure> + Send + 'static,
        render: impl FnOnce(T) -> Option<CallToolResult>,
    ) -> Result<CallToolResult, ErrorData> {
        let session = self.session.clone();
        let outcome = async {
            let answer = tokio::task::spawn_blocking(move || ask(&session))
                .await
                .map_err(|e| Failure::new(ErrorCode::Internal, format!("worker failed: {e}")))??;
            answer.and_then(render).ok_or_else(unexpected)
        };
        finish(outcome.await)
    }
}

/// The result of a write: where the value now lives, and its version.
fn written(reply: Reply) -> Option<CallToolResult> {
    match reply {
        Reply::Written {
            coordinate,
            vault,
            version,
        } => Some(structured(&WrittenOut {
            coordinate,
            vault,
            version,
        })),
        _ => None,
    }
}

#[tool_router(vis = "pub(crate)")]
impl KovraMcp {
    /// List the records this session may address (metadata only, never values), ordered by
    /// vault then coordinate, in pages: the records are in the structured result
    /// (`records`, one row per record holding its values in the order `columns` names
    /// them), the text is a one-line summary. When more records follow, the result's
    /// `next_cursor` is set: call list again with `cursor` set to it (and the same `env`) for
    /// the next page. `limit` asks for at most that many records per page (default 50, at
    /// most 1000); a page may hold fewer.
    #[tool(
        annotations(read_only_hint = true, open_world_hint = false),
        output_schema = schema_for_output::<ListOut>()
    )]
    async fn list(
        &self,
        Parameters(args): Parameters<ListArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        let page = match PageRequest::new(args.env, args.cursor.as_deref(), args.limit) {
            Ok(page) => page,
            Err(failure) => return finish(Err(failure)),
        };
        let env = page.env();
        self.answer(
            move |session| session.list(env),
            |listing| {
                let out = page.page(listing);
                let text = summary(&out, page.env().as_deref());
                Some(structured_with_summary(&out, text))
            },
        )
        .await
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
        self.call_tool("status", Ok(Request::Status), |reply| match reply {
            Reply::Status(s) => Some(structured(&StatusOut {
                initialized: s.initialized,
                unlocked: s.unlocked,
                // The vault-wide record count is not this session's business (use `list`
                // for addressable records); the daemon already scoped projects.
                projects: s.projects,
                locks_in_secs: s.locks_in_secs,
                production_environments: s.production_environments,
                project: self.session.project.clone(),
                // What the daemon decides under (the profile's scope narrows ours).
                operations: s
                    .scope
                    .as_ref()
                    .unwrap_or(&self.session.scope)
                    .operations
                    .iter()
                    .filter_map(wire_name)
                    .collect(),
            })),
            _ => None,
        })
        .await
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
        let request = args.checked().map(|coordinate| Request::Fingerprint {
            coordinate,
            proof: None,
        });
        self.call_tool("fingerprint", request, |reply| match reply {
            Reply::Fingerprint {
                coordinate,
                fingerprint,
            } => Some(structured(&FingerprintOut {
                coordinate,
                fingerprint,
            })),
            _ => None,
        })
        .await
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
        finish(run::run(self.session.clone(), args, context.ct.cancelled()).await)
    }

    /// Print a value, when policy allows: only revealable, non-production, non-high values
    /// in a session with the reveal operation. Everything else is refused without the value.
    #[tool(annotations(read_only_hint = true, open_world_hint = false))]
    async fn reveal(
        &self,
        Parameters(args): Parameters<CoordinateArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        let request = args.checked().map(|coordinate| Request::Reveal {
            coordinate,
            proof: None,
        });
        self.call_tool("reveal", request, |reply| match reply {
            Reply::Revealed { value, .. } => Some(match std::str::from_utf8(value.expose()) {
                Ok(s) => text(s),
                Err(_) => Failure::new(
                    ErrorCode::NotText,
                    "the value is not UTF-8 text; use it through run instead",
                )
                .result(),
            }),
            _ => None,
        })
        .await
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
        self.call_tool("generate", args.into_request(), written)
            .await
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
        self.call_tool("request_secret", args.into_request(), |reply| match reply {
            Reply::Done { message } => Some(text(format!(
                "{message}. Never ask the human to paste the value into this conversation. Once added, use it with the run or api tool."
            ))),
            _ => None,
        })
        .await
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
        let request = args.into_request().map(|r| Request::Api(Box::new(r)));
        self.call_tool("api", request, |reply| match reply {
            Reply::Api(r) => Some(structured(&broker::ApiOut::from(*r))),
            _ => None,
        })
        .await
    }

    /// Run one SQL statement on a database through kovra, with a connection record (type
    /// `postgres` in `list`): the daemon connects, you get the rows (scrubbed of vault
    /// values, capped), never the connection string. It runs READ ONLY; a statement that
    /// writes needs `write: true`, which waits for the human's approval (you get an id; call
    /// again with the same arguments once they approved).
    #[tool(
        annotations(read_only_hint = false, destructive_hint = true, open_world_hint = true),
        output_schema = schema_for_output::<query::QueryOut>()
    )]
    async fn query(
        &self,
        Parameters(args): Parameters<query::QueryArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        let request = args.into_request().map(|r| Request::Query(Box::new(r)));
        self.call_tool("query", request, |reply| match reply {
            Reply::Query(r) => Some(structured(&query::QueryOut::from(*r))),
            _ => None,
        })
        .await
    }

    /// Run one command on a host the human pinned (`ssh_hosts` lists them), through kovra:
    /// the daemon logs in with a key you never see, checks the host's pinned key, and returns
    /// the exit status and output, scrubbed of vault values. Commands outside the host's
    /// patterns (or on a production host) wait for the human's approval: you get an approval
    /// id, and call again with the same arguments once they approved it.
    #[tool(
        annotations(read_only_hint = false, destructive_hint = true, open_world_hint = true),
        output_schema = schema_for_output::<ssh::SshOut>()
    )]
    async fn ssh(
        &self,
        Parameters(args): Parameters<ssh::SshArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        let request = args.into_request().map(|r| Request::Ssh(Box::new(r)));
        self.call_tool("ssh", request, |reply| match reply {
            Reply::Ssh(r) => Some(structured(&ssh::SshOut::from(*r))),
            _ => None,
        })
        .await
    }

    /// The hosts the `ssh` tool reaches: address, users, default key, and the command
    /// patterns that run without an approval.
    #[tool(
        annotations(read_only_hint = true, open_world_hint = false),
        output_schema = schema_for_output::<ssh::SshHostsOut>()
    )]
    async fn ssh_hosts(
        &self,
        Parameters(_): Parameters<ssh::SshHostsArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        self.call_tool("ssh_hosts", Ok(Request::SshHostList), |reply| match reply {
            Reply::SshHosts { hosts } => Some(structured(&ssh::SshHostsOut::from(hosts))),
            _ => None,
        })
        .await
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
        let request = match args.name {
            Some(name) => Request::ProviderShow { name },
            None => Request::ProviderList,
        };
        self.call_tool("providers", Ok(request), |reply| match reply {
            Reply::Providers { providers } => Some(structured(&broker::ProvidersOut { providers })),
            _ => None,
        })
        .await
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
        self.call_tool("edit_metadata", args.into_request(), |reply| match reply {
            Reply::Record(r) => Some(structured(&RecordOut::from(r))),
            Reply::Done { message } => Some(text(message)),
            other => written(other),
        })
        .await
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
        let deleted = args.coordinate.clone();
        let request = args.checked().map(|coordinate| Request::Remove {
            coordinate,
            proof: None,
        });
        self.call_tool("delete", request, |reply| match reply {
            Reply::Done { message } => Some(text(message)),
            _ => Some(text(format!("deleted {deleted}"))),
        })
        .await
    }
}
#[tool_handler(
    name = "kovra",
    version = "0.1.0",
    instructions = "kovra holds this project's secrets. Use `api` to call a provider's HTTP API with the credential attached by kovra (`providers` lists them), `run` to start programs with secrets injected (never write values into files), `list`/`status` for metadata, `request_secret` to ask the human for a new value. Approvals are given by the human with `kovra approve ID`. Only the tools this session's scope allows are listed; the human sets the scope."
)]
impl ServerHandler for KovraMcp {
    /// Only the tools this session's scope allows (`access::TOOLS`): a tool that could
    /// never succeed only costs the model a call.
    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let scope = self.scope(true).await;
        let tools = self
            .router
            .list_all()
            .into_iter()
            .filter(|t| access::allows(&scope, &t.name))
            .collect();
        let era_2026 = context
            .protocol_version()
            .is_some_and(|v| v >= ProtocolVersion::V_2026_07_28);
        Ok(ListToolsResult {
            result_type: Some(ResultType::COMPLETE),
            tools,
            meta: None,
            next_cursor: None,
            // The list depends on this session's scope: never cached across sessions.
            ttl_ms: era_2026.then_some(0),
            cache_scope: era_2026.then_some(CacheScope::Private),
        })
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        // Only a tool this server has is named: the name is the client's input.
        let started = (self.timing && self.router.has_route(&request.name))
            .then(|| (std::time::Instant::now(), request.name.clone()));
        let response = self.routed(request, context).await;
        if let Some((at, tool)) = started {
            eprintln!("kovra mcp: timing: {tool} {} us", at.elapsed().as_micros());
        }
        response
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.router.get(name).cloned()
    }
}

impl KovraMcp {
    /// A call to a tool the scope does not list is refused here, with what it needs.
    async fn routed(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let name = request.name.as_ref();
        if self.router.has_route(name) {
            let scope = self.scope(false).await;
            if !access::allows(&scope, name) {
                return Ok(access::refusal(&scope, name).result().into());
            }
        }
        self.router
            .call(ToolCallContext::new(self, request, context))
            .await
    }
}
