//! The command lines of agent profiles and the sandbox.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::examples;

#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// Make an agent profile and open its socket. Wider than metadata+inject on
    /// non-production (or with value opt-ins, or `--egress any`) needs a proof of presence.
    #[command(after_help = examples::AGENT_CREATE)]
    Create(AgentCreateArgs),
    /// The agent profiles, their sockets and activity.
    #[command(after_help = examples::AGENT_LIST)]
    List,
    /// Revoke a profile: its socket closes and every request on it is refused.
    #[command(after_help = examples::AGENT_REVOKE)]
    Revoke {
        /// The profile's name, as `kovra agent list` shows it.
        name: String,
    },
    /// The profile's placeholders for `.env.refs`, as dotenv lines (nothing secret: each
    /// works only through kovra's proxy, towards its provider, while the vault is unlocked).
    #[command(after_help = examples::AGENT_ENV)]
    Env {
        /// The profile's name.
        name: String,
        /// The refs file (default: ./.env.refs).
        #[arg(long, value_name = "FILE")]
        refs: Option<PathBuf>,
        /// The environment substituted for `${ENV}` in coordinates (default: the `.env.refs`
        /// `env =` line, then KOVRA_ENV).
        #[arg(long = "env", value_name = "ENV")]
        env_name: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct AgentCreateArgs {
    /// The profile's name (shown in the audit trail and approvals).
    pub name: String,
    /// Operations: metadata, inject, reveal, write (comma list; default: metadata,inject).
    #[arg(long, value_name = "LIST")]
    pub operations: Option<String>,
    /// Projects it may address, `global` for the global vault, or `*` (default: `*`).
    #[arg(long, value_name = "LIST")]
    pub projects: Option<String>,
    /// Environments it may address (comma list; default: every non-production one).
    #[arg(long, value_name = "LIST")]
    pub environments: Option<String>,
    /// Also address production environments (needs a proof).
    #[arg(long)]
    pub production: bool,
    /// Where its sandbox's programs may connect besides pinned providers' hosts:
    /// `pinned-only` (default), `any`, or a comma list of domains (e.g. `pypi.org,npmjs.org`).
    #[arg(long, value_name = "POLICY")]
    pub egress: Option<String>,
    /// Groups (`ENV/GROUP`) or coordinates whose values (not placeholders) its programs may
    /// receive; each is a value the agent can read (needs a proof).
    #[arg(long, value_name = "LIST")]
    pub inject_values: Option<String>,
    /// Expire after this long: `45m`, `8h`, `7d`, or seconds.
    #[arg(long, value_name = "DURATION")]
    pub ttl: Option<String>,
    /// Serve its egress on this loopback port (for Claude Code's sandbox); 0 picks one.
    #[arg(long, value_name = "PORT")]
    pub egress_port: Option<u16>,
    /// Replace a profile of the same name.
    #[arg(long)]
    pub replace: bool,
}

#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// The agent profile to run under (default `sandbox`, made on first use with the narrow
    /// default scope: metadata and inject, non-production, placeholders, pinned hosts only).
    #[arg(long, value_name = "NAME")]
    pub agent: Option<String>,
    /// Hide this path too (repeatable).
    #[arg(long, value_name = "PATH")]
    pub hide: Vec<PathBuf>,
    /// Make this path writable too, e.g. the agent's own state (`~/.claude`); repeatable.
    /// Hidden paths stay hidden.
    #[arg(long, value_name = "PATH")]
    pub writable: Vec<PathBuf>,
    /// Show the bubblewrap command line instead of running it.
    #[arg(long)]
    pub dry_run: bool,
    /// The refs file whose pinned lines become placeholders inside (default ./.env.refs).
    #[arg(long, value_name = "FILE")]
    pub refs: Option<PathBuf>,
    /// The environment substituted for `${ENV}` in coordinates (default: the `.env.refs`
    /// `env =` line, then KOVRA_ENV).
    #[arg(long = "env", value_name = "ENV")]
    pub env_name: Option<String>,
    /// The command and its arguments.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct SandboxInitArgs {
    /// The proxy's unix socket, bind-mounted into the sandbox.
    #[arg(long, value_name = "PATH")]
    pub egress_socket: PathBuf,
    /// The loopback port to serve it on inside the sandbox's network namespace.
    #[arg(long, value_name = "PORT")]
    pub port: u16,
    /// The command and its arguments.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}
