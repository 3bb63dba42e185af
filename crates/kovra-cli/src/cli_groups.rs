//! The command line's smaller groups (`kit`, `providers`, `2fa`, `hook`, `hooks`, `allow`,
//! `audit`, `project`, `daemon`): split from `cli.rs`, which re-exports them.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::cli::{CodeSource, PassphraseSource};
use crate::examples;

#[derive(Debug, Subcommand)]
pub enum KitCommand {
    /// Write the kit into DIR: a copy of this kovra binary, install.sh and README.txt.
    #[command(after_help = examples::KIT_INIT)]
    Init {
        /// The kit directory, e.g. on a USB stick (created if missing).
        dir: PathBuf,
    },
    /// On the new machine (run by install.sh): create the vault and identity, and write the
    /// machine's recipient and fingerprint into DIR.
    #[command(after_help = examples::KIT_ENROLL)]
    Enroll {
        /// The kit directory.
        dir: PathBuf,
        #[command(flatten)]
        passphrase: PassphraseSource,
    },
    /// On the origin: check the new machine's fingerprint, seal an environment into DIR.
    #[command(after_help = examples::KIT_SEAL)]
    Seal {
        /// The kit directory, after the new machine's install.sh wrote into it.
        dir: PathBuf,
        /// The environment to seal (never a production one).
        #[arg(long = "env", value_name = "ENV")]
        env_name: String,
        /// Only these groups (repeatable).
        #[arg(long = "group", value_name = "GROUP")]
        groups: Vec<String>,
        /// How long the package may be opened (default 7d, at most 30d).
        #[arg(long, value_name = "DURATION", default_value = "7d")]
        ttl: String,
    },
    /// On the new machine: receive the package in DIR (asks for the token).
    #[command(after_help = examples::KIT_OPEN)]
    Open {
        /// The kit directory holding package.age.
        dir: PathBuf,
        /// Read the token from this file (first line) instead of a hidden prompt.
        #[arg(long, value_name = "FILE")]
        token_file: Option<PathBuf>,
        /// Trust this sender fingerprint without asking (still needs your passphrase).
        #[arg(long, value_name = "FINGERPRINT")]
        accept_sender: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct ProvidersArgs {
    #[command(subcommand)]
    pub command: Option<ProvidersCommand>,
}

#[derive(Debug, Subcommand)]
pub enum ProvidersCommand {
    /// One provider: hosts, auth method, claimed names, rate limit, capabilities.
    #[command(after_help = examples::PROVIDERS_SHOW)]
    Show {
        /// The provider's name, as `kovra providers` lists it.
        name: String,
    },
    /// Store a custom provider (a TOML file in the provider format) in the vault; needs a proof.
    #[command(after_help = examples::PROVIDERS_ADD)]
    Add {
        /// The provider file (TOML, the format of docs/broker.md).
        file: PathBuf,
    },
    /// Remove a custom provider.
    #[command(after_help = examples::PROVIDERS_RM)]
    Rm {
        /// The custom provider's name.
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum TwoFaCommand {
    /// Create a seed (asks for your passphrase), show it as a URI and QR code, and switch
    /// the factor on once a code from your authenticator app confirms it.
    #[command(after_help = examples::TWO_FA_ENABLE)]
    Enable {
        #[command(flatten)]
        code: CodeSource,
    },
    /// Confirm a seed created by `enable` whose confirmation was interrupted.
    #[command(after_help = examples::TWO_FA_CONFIRM)]
    Confirm {
        #[command(flatten)]
        code: CodeSource,
    },
    /// Switch the factor off (needs the passphrase and a code).
    #[command(after_help = examples::TWO_FA_DISABLE)]
    Disable {
        #[command(flatten)]
        passphrase: PassphraseSource,
        #[command(flatten)]
        code: CodeSource,
    },
    /// Whether the factor is enabled, pending confirmation, or disabled.
    #[command(after_help = examples::TWO_FA_STATUS)]
    Status,
}

#[derive(Debug, Subcommand)]
pub enum HookCommand {
    /// Claude Code PreToolUse: refuse file tools on secret files (exit 2).
    #[command(after_help = examples::HOOK_FILE_GUARD)]
    FileGuard,
    /// git pre-commit: stop a commit that adds a value of the vault or a well-known key
    /// format (exit 1); names file:line and the coordinate, never the value.
    #[command(after_help = examples::HOOK_PRE_COMMIT)]
    PreCommit,
    /// Claude Code UserPromptSubmit: block a prompt that holds a value of the vault or a
    /// well-known key format (exit 2).
    #[command(after_help = examples::HOOK_PROMPT)]
    Prompt,
    /// Claude Code PostToolUse: flag a tool's output that holds a value of the vault.
    #[command(after_help = examples::HOOK_TOOL_OUTPUT)]
    ToolOutput,
}

#[derive(Debug, Subcommand)]
pub enum HooksCommand {
    /// Write this repository's git pre-commit hook (`kovra hook pre-commit`).
    #[command(after_help = examples::HOOKS_INSTALL)]
    Install {
        /// Replace a pre-commit hook that is not kovra's.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum AllowCommand {
    /// Allow an executable (needs a proof of presence); pins its current SHA-256.
    #[command(after_help = examples::ALLOW_ADD)]
    Add {
        /// The executable: a path, or a bare name looked up on PATH as `run` does.
        path: PathBuf,
    },
    /// The allowed executables and their pinned hashes.
    #[command(after_help = examples::ALLOW_LIST)]
    List,
    /// Remove an executable from the allowlist.
    #[command(after_help = examples::ALLOW_RM)]
    Rm {
        /// The executable's path, as `kovra allow list` shows it.
        path: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: Option<AuditCommand>,
    /// Only entries about this record, e.g. `secret:prod/db/password`.
    #[arg(long, value_name = "COORD")]
    pub coordinate: Option<String>,
    /// Only entries since this RFC 3339 time or a duration back from now (`1h`, `2days`).
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Only entries with this action (`reveal`, `inject`, `run`, `agent-create`, …; an
    /// unknown name is refused with the list of valid ones).
    #[arg(long, value_parser = parse_audit_action)]
    pub action: Option<String>,
    /// Only the last N entries.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Print every cell whole instead of fitting the terminal (80-120 columns).
    #[arg(long)]
    pub wide: bool,
}

/// `--action`: one of the actions the daemon records (`kovra_core::audit::ACTIONS`).
fn parse_audit_action(s: &str) -> Result<String, String> {
    if kovra_core::audit::is_action(s) {
        return Ok(s.to_string());
    }
    let names: Vec<&str> = kovra_core::audit::ACTIONS.iter().map(|(a, _)| *a).collect();
    Err(format!(
        "no audit action is called `{s}`; valid actions: {}",
        names.join(", ")
    ))
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the chain: any edited, deleted, reordered or truncated entry fails.
    #[command(after_help = examples::AUDIT_VERIFY)]
    Verify,
}

#[derive(Debug, Subcommand)]
pub enum ProjectCommand {
    /// Create a project vault (records addressed with --project NAME or `project = NAME`).
    #[command(after_help = examples::PROJECT_CREATE)]
    Create {
        /// The project's name, e.g. `shop` (the rules of a coordinate segment).
        name: String,
    },
    /// The project vaults.
    #[command(after_help = examples::PROJECT_LIST)]
    List,
}

#[derive(Debug, Args)]
pub struct DaemonArgs {
    #[command(subcommand)]
    pub command: Option<DaemonCommand>,
    /// Lock after this many idle seconds (default 900, or idle_timeout_secs in config.toml).
    #[arg(long, value_name = "SECS")]
    pub idle_timeout: Option<u64>,
    /// Detach from the terminal (used by autostart).
    #[arg(long, hide = true)]
    pub background: bool,
    /// Standard input is a socket from the client that started this daemon; serve it first
    /// (how `unlock` and `init` hand over a passphrase without the socket path).
    #[arg(long, hide = true)]
    pub boot_stdin: bool,
}

#[derive(Debug, Subcommand)]
pub enum DaemonCommand {
    /// Lock and stop the running daemon.
    #[command(after_help = examples::DAEMON_STOP)]
    Stop,
}
