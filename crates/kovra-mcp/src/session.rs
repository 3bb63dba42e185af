//! The daemon call: every request leaves this server as surface `mcp`, origin `agent`,
//! under the session's scope, and every answer other than a reply becomes one [`Failure`]
//! (errors, approvals and proofs mapped here once).

use std::path::PathBuf;

use kovra_client::Client;
use kovra_core::model::{Origin, Surface};
use kovra_core::policy::Scope;
use kovra_proto::paths::Paths;
use kovra_proto::{Context, Envelope, PROTOCOL_VERSION, Reply, Request, Response};

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

    /// The context every request of this session carries.
    pub(crate) fn context(&self) -> Context {
        Context {
            surface: Surface::Mcp,
            origin: Origin::Agent,
            scope: Some(self.scope.clone()),
            project: self.project.clone(),
        }
    }

    pub(crate) fn envelope(&self, request: Request) -> Envelope {
        Envelope {
            v: PROTOCOL_VERSION,
            context: self.context(),
            request,
        }
    }

    pub(crate) fn connect(&self) -> Result<Client, Failure> {
        let result = match &self.exe {
            Some(exe) => Client::connect_or_start(&self.paths, exe),
            None => Client::connect(&self.paths),
        };
        result.map_err(|e| Failure::new(e.code(), format!("{e} ({})", e.hint())))
    }

    /// One request, one reply, on a fresh connection (blocking); `tool` names the tool to
    /// call again after an approval.
    pub(crate) fn call(&self, request: Request, tool: &str) -> Result<Reply, Failure> {
        let mut client = self.connect()?;
        let response = client
            .call(&self.envelope(request))
            .map_err(|e| Failure::new(e.code(), e.to_string()))?;
        accepted(response, tool)
    }
}

/// The reply of an accepted request, or the failure to hand back.
pub(crate) fn accepted(response: Response, tool: &str) -> Result<Reply, Failure> {
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
