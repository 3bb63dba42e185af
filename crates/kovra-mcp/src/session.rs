//! The daemon call: every request leaves this server as surface `mcp`, origin `agent`,
//! under the session's scope, and every answer other than a reply becomes one [`Failure`]
//! (errors, approvals and proofs mapped here once).

use kovra_proto::ErrorCode;
use std::path::PathBuf;
use std::sync::Mutex;

use kovra_client::{CallError, ClientError, settle};
use kovra_proto::frame::FrameError;
use kovra_proto::paths::Paths;
use kovra_proto::{Context, Listing, Origin, RecordView, Reply, Request, Response, Scope, Surface};

use crate::hints;
use crate::outcome::Failure;
use crate::scope::{env_list, scope_from};

/// Where the daemon is and what this server may ask of it.
pub(crate) struct Session {
    paths: Paths,
    pub(crate) scope: Scope,
    pub(crate) project: Option<String>,
    /// This executable, to start the daemon when it is not running (unless
    /// `KOVRA_NO_AUTOSTART` is set).
    exe: Option<PathBuf>,
    /// The scope the daemon last said this session's requests are decided under, when they
    /// go through an agent profile's socket (the profile narrows `scope`).
    decided: Mutex<Option<Scope>>,
    /// Connections kept between calls (see [`Session::exchange`]).
    idle: Mutex<Vec<kovra_client::Session>>,
}

/// Idle connections kept at most. Calls mostly come one at a time, so one is used again and
/// again; concurrent calls beyond this open their own and close them after. Each kept one
/// holds a daemon thread and one of its connection slots (`kovra-daemon/src/slots.rs`).
const MAX_IDLE: usize = 2;

impl Session {
    pub(crate) fn from_env() -> anyhow::Result<Self> {
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
            decided: Mutex::new(None),
            idle: Mutex::new(Vec::new()),
        })
    }

    /// Talk to agent profile `name`'s socket instead of the human's. Inside a sandbox
    /// (`KOVRA_AGENT_SOCKET` set) the sandbox's profile socket is the only one there is, and
    /// the one its requests are decided under: it stays.
    pub(crate) fn bind_agent(&mut self, name: &str) {
        if self.paths.agent_socket.is_none() {
            self.paths.agent_socket = Some(self.paths.agent_socket_of(name));
        }
        self.exe = None;
    }

    /// The context every request of this session carries.
    pub(crate) fn context(&self) -> Context {
        Context {
            surface: Surface::Mcp,
            origin: Origin::Agent,
            scope: Some(self.scope.clone()),
            project: self.project.clone(),
        }
    }

    /// A client session for one call: its context, and permission to start the daemon.
    pub(crate) fn client_session(&self) -> kovra_client::Session {
        kovra_client::Session::new(self.paths.clone(), self.context())
            .with_autostart(self.exe.clone())
    }

    /// The scope this session's calls are decided under, when it is known without asking
    /// the daemon: always for the human's socket; for a profile's, once the daemon said it.
    pub(crate) fn known_scope(&self) -> Option<Scope> {
        if self.paths.agent_socket.is_none() {
            return Some(self.scope.clone());
        }
        self.decided.lock().ok().and_then(|d| d.clone())
    }

    /// The scope this session's calls are decided under, for listing tools: the
    /// environment's, narrowed by the agent profile when the session talks to a profile's
    /// socket (`kovra mcp --agent NAME`, or inside a sandbox). The profile's part is asked
    /// of the daemon (`status` answers even while the vault is locked) when `refresh` is
    /// set or nothing is known yet; if the daemon cannot say, the last answer (or the
    /// environment's scope) stands, and the daemon still decides every call.
    pub(crate) fn decided_scope(&self, refresh: bool) -> Scope {
        if self.paths.agent_socket.is_none() {
            return self.scope.clone();
        }
        let known = self.decided.lock().ok().and_then(|d| d.clone());
        if let Some(scope) = known.as_ref().filter(|_| !refresh) {
            return scope.clone();
        }
        match self.exchange(Request::Status) {
            Ok(Reply::Status(status)) => {
                let scope = status
                    .scope
                    .map_or_else(|| self.scope.clone(), |s| s.intersect(&self.scope));
                if let Ok(mut d) = self.decided.lock() {
                    *d = Some(scope.clone());
                }
                scope
            }
            _ => known.unwrap_or_else(|| self.scope.clone()),
        }
    }

    /// One request, one reply (blocking); `tool` names the tool to call again after an
    /// approval.
    pub(crate) fn call(&self, request: Request, tool: &str) -> Result<Reply, Failure> {
        self.exchange(request).map_err(|e| failure(e, tool))
    }

    /// One request and its reply on a kept connection when one is idle, else on a new one.
    ///
    /// A new connection costs a connect and the peer check on this side, and a thread and
    /// `/proc` reads on the daemon's; an MCP session makes many small calls, so connections
    /// are kept. The peer was checked when the connection was made, and a unix socket's
    /// peer never changes; the daemon decides every request on it afresh (an agent
    /// profile's revocation included). A connection the daemon hung up on (it stopped or
    /// handed over) is noticed before use and dropped. If a kept connection breaks during a
    /// read-only request anyway, that request is sent once more on a new connection; any
    /// other request reports the break, since the daemon may have acted on it.
    fn exchange(&self, request: Request) -> Result<Reply, CallError> {
        self.exchange_then(request, |_, reply| Ok(reply))
    }

    /// [`Session::exchange`], then `then` reads what follows the reply on the same
    /// connection (a stream's pages) before the connection is kept.
    fn exchange_then<T>(
        &self,
        request: Request,
        then: impl FnOnce(&mut kovra_client::Session, Reply) -> Result<T, CallError>,
    ) -> Result<T, CallError> {
        let (mut conn, reused) = match self.take_idle() {
            Some(conn) => (conn, true),
            None => (self.client_session(), false),
        };
        let again = (reused && read_only(&request)).then(|| request.clone());
        let mut result = conn.call(request);
        if let (Err(CallError::Client(ClientError::Frame(_))), Some(request)) = (&result, again) {
            conn = self.client_session();
            result = conn.call(request);
        }
        let result = result.and_then(|reply| then(&mut conn, reply));
        // An answer (a reply, a refusal, a challenge) leaves the connection ready for the
        // next request; a client error (a timeout, a broken frame, a stream cut short)
        // leaves it in no known state.
        if !matches!(result, Err(CallError::Client(_))) {
            self.keep(conn);
        }
        result
    }

    /// Every record `env` selects that this session may see, for `list`; `None` when the
    /// daemon answered something else.
    ///
    /// Asked as a stream (`ListStream`, `docs/protocol.md`): a head, then pages of plain
    /// records. The one-frame `List` reply nests the listing in a tagged enum, which serde
    /// reads by buffering the whole listing as generic content first; for 1,000 records
    /// that was most of this server's time per call, and the daemon writes a stream from
    /// the metadata it keeps without building the listing. The pages follow the head at
    /// once; the whole listing is read before the connection is used again.
    pub(crate) fn list(&self, env: Option<String>) -> Result<Option<Listing>, Failure> {
        let request = Request::ListStream {
            env,
            offset: 0,
            limit: None,
        };
        self.exchange_then(request, |conn, head| {
            let Reply::RecordsStream {
                total,
                tampered,
                missing,
            } = head
            else {
                return Ok(None);
            };
            let client = conn
                .connection()
                .ok_or(CallError::Client(ClientError::Frame(FrameError::Closed)))?;
            let mut records = Vec::with_capacity(total);
            for _ in 0..kovra_proto::pages_for(total) {
                let page = client
                    .receive_page::<RecordView>()
                    .map_err(CallError::Client)?;
                records.extend(page.items);
            }
            Ok(Some(Listing {
                records,
                tampered,
                missing,
            }))
        })
        .map_err(|e| failure(e, "list"))
    }

    /// An idle connection the daemon has not hung up on, if any.
    fn take_idle(&self) -> Option<kovra_client::Session> {
        let mut idle = self.idle.lock().ok()?;
        while let Some(mut conn) = idle.pop() {
            if conn.connection().is_some_and(|c| !c.is_stale()) {
                return Some(conn);
            }
        }
        None
    }

    fn keep(&self, mut conn: kovra_client::Session) {
        if conn.connection().is_none() {
            return;
        }
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < MAX_IDLE
        {
            idle.push(conn);
        }
    }
}

/// Requests that change nothing, which may be sent again when a kept connection broke.
fn read_only(request: &Request) -> bool {
    matches!(
        request,
        Request::Status
            | Request::List { .. }
            | Request::ListStream { .. }
            | Request::Fingerprint { .. }
            | Request::ProviderList
            | Request::ProviderShow { .. }
    )
}

/// The reply of an accepted request, or the failure to hand back.
pub(crate) fn accepted(response: Response, tool: &str) -> Result<Reply, Failure> {
    settle(response).map_err(|e| failure(e, tool))
}

/// What the agent is told: the code, and a message that says what to do (never a value).
pub(crate) fn failure(e: CallError, tool: &str) -> Failure {
    match e {
        // Reaching the daemon failed: say how to fix it. A connection that broke mid-call
        // has no better advice than its own words.
        CallError::Client(e @ ClientError::Frame(_)) => Failure::new(e.code(), e.to_string()),
        CallError::Client(e) => {
            Failure::new(e.code(), hints::for_agent_client(&e.to_string(), e.hint()))
        }
        // The daemon's words are for the CLI: said again in terms of tools and arguments.
        CallError::Refused(e) => Failure::new(
            e.code,
            hints::for_agent(e.code, &e.message, e.hint.as_deref(), tool),
        ),
        CallError::NeedsProof(c) => match c.approval {
            Some(id) => Failure::new(
                ErrorCode::ApprovalNeeded,
                format!(
                    "approval needed: {id} — ask the human to run `kovra approve {id}` in their terminal, then call {tool} again"
                ),
            ),
            None => Failure::new(
                ErrorCode::NeedsProof,
                format!(
                    "{} [{}] — this needs a proof of presence at the human's terminal; ask the human to do it with the kovra CLI",
                    c.message, c.code
                ),
            ),
        },
    }
}
