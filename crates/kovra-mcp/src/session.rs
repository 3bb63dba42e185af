//! The daemon call: every request leaves this server as surface `mcp`, origin `agent`,
//! under the session's scope, and every answer other than a reply becomes one [`Failure`]
//! (errors, approvals and proofs mapped here once).

use kovra_proto::ErrorCode;
use std::path::PathBuf;

use kovra_client::{CallError, ClientError, settle};
use kovra_proto::paths::Paths;
use kovra_proto::{Context, Origin, Reply, Request, Response, Scope, Surface};

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
}

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

    /// One request, one reply, on a fresh connection (blocking); `tool` names the tool to
    /// call again after an approval.
    pub(crate) fn call(&self, request: Request, tool: &str) -> Result<Reply, Failure> {
        self.client_session()
            .call(request)
            .map_err(|e| failure(e, tool))
    }
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
        CallError::Client(e) => Failure::new(e.code(), format!("{e} ({})", e.hint())),
        CallError::Refused(e) => {
            let mut message = e.message;
            if let Some(hint) = e.hint {
                message.push_str(&format!(" (hint: {hint})"));
            }
            Failure::new(e.code, message)
        }
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
