//! `kovra mcp`: an MCP server over stdio (rmcp) that is a scoped client of the daemon.
//!
//! The server holds no key and decides nothing: every tool call becomes one daemon request
//! with surface `mcp`, origin `agent` and the session's [`Scope`]; the daemon intersects the
//! scope and its policy decides. No tool takes a secret value as an argument, and tool
//! results carry only what the daemon chose to answer (run output arrives redacted).
//!
//! Stdout is the protocol channel: nothing here prints to it; diagnostics go to stderr.
//!
//! [`Scope`]: kovra_proto::Scope

use std::time::Duration;

use kovra_proto::ProjectScope;
use rmcp::ServiceExt;

mod access;
mod args;
mod broker;
mod hints;
mod outcome;
mod page;
mod query;
mod results;
mod run;
mod scope;
mod session;
mod ssh;
mod tools;

pub use args::{
    CharsetArg, CoordinateArgs, EditArgs, GenerateArgs, ListArgs, RequestSecretArgs, RunArgs,
    SensitivityArg, StatusArgs,
};
pub use results::{
    FingerprintOut, LIST_COLUMNS, ListColumns, ListOut, RecordOut, RunOut, StatusOut, WrittenOut,
};
pub use scope::{ScopeConfig, scope_from};
pub use tools::KovraMcp;

use session::Session;

/// Serve MCP over stdin/stdout until the client closes stdin.
/// With `agent`, every call goes through that agent profile's socket (the daemon decides
/// it under the profile).
pub fn serve(agent: Option<String>) -> anyhow::Result<()> {
    let mut session = Session::from_env()?;
    if let Some(name) = agent {
        kovra_core::coord::validate_name(&name)
            .map_err(|e| anyhow::anyhow!("agent-invalid: `{name}`: {e}"))?;
        session.bind_agent(&name);
    }
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
        let server = KovraMcp::new(session);
        // The pipes an MCP client starts us with, read and written on the runtime's reactor
        // (rmcp reopens them with their own O_NONBLOCK file descriptions, so the process's
        // own stdin/stdout and a run's child keep theirs); anything else (a terminal, a
        // file) goes through tokio's blocking stdio, as before. Saves two thread hand-offs
        // per message.
        let running = server
            .serve(rmcp::transport::stdio_pipes())
            .await
            .map_err(|e| anyhow::anyhow!("MCP handshake failed: {e}"))?;
        running.waiting().await?;
        anyhow::Ok(())
    });
    // A run still stopping its child gets a moment; then the process ends regardless.
    runtime.shutdown_timeout(Duration::from_secs(5));
    served
}
