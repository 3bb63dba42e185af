//! The command line, defined once: help, errors and (later) completions come from here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use clap_complete::Shell;
use kovra_core::model::Sensitivity;
use kovra_proto::Charset;

pub use crate::cli_groups::*;
use crate::examples;

#[derive(Debug, Parser)]
#[command(
    name = "kovra",
    version = env!("KOVRA_VERSION"),
    about = "A local secrets vault that lets AI agents use credentials without seeing them"
)]
pub struct Cli {
    #[command(flatten)]
    pub globals: crate::cli_hot::Globals,
    #[command(subcommand)]
    pub command: Command,
}

/// Where a passphrase comes from when there is no terminal to type it at.
#[derive(Debug, Args, Clone, Default)]
pub struct PassphraseSource {
    /// Read the passphrase from this file (first line).
    #[arg(long, value_name = "PATH", env = "KOVRA_PASSPHRASE_FILE")]
    pub passphrase_file: Option<PathBuf>,
    /// Read the passphrase from this open file descriptor.
    #[arg(long, value_name = "N", conflicts_with = "passphrase_file")]
    pub passphrase_fd: Option<i32>,
}

impl PassphraseSource {
    /// Read from a file or descriptor rather than typed: any process of the user could
    /// have read it too.
    pub fn unattended(&self) -> bool {
        self.passphrase_file.is_some() || self.passphrase_fd.is_some()
    }
}

/// Where a two-factor code comes from when there is no terminal to type it at.
#[derive(Debug, Args, Clone, Default)]
pub struct CodeSource {
    /// Read the two-factor code from this file (first line).
    #[arg(long, value_name = "PATH")]
    pub code_file: Option<PathBuf>,
    /// Read the two-factor code from this open file descriptor.
    #[arg(long, value_name = "N", conflicts_with = "code_file")]
    pub code_fd: Option<i32>,
}

#[derive(Debug, Args, Clone)]
pub struct ValueSource {
    /// Read the value from standard input (one trailing newline is dropped).
    #[arg(long)]
    pub stdin: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a vault in $KOVRA_HOME and unlock it.
    #[command(after_help = examples::INIT)]
    Init(PassphraseSource),
    /// Unlock the vault in the daemon (with two-factor authentication on, also a code).
    #[command(after_help = examples::UNLOCK)]
    Unlock {
        #[command(flatten)]
        passphrase: PassphraseSource,
        #[command(flatten)]
        code: CodeSource,
    },
    /// TOTP as a second factor for unlock and proofs of presence.
    #[command(subcommand, name = "2fa", after_help = examples::TWO_FA)]
    TwoFa(TwoFaCommand),
    /// Lock the vault: the daemon forgets the key.
    #[command(after_help = examples::LOCK)]
    Lock,
    /// Vault and daemon state.
    #[command(after_help = examples::STATUS)]
    Status(crate::cli_hot::StatusArgs),
    /// Add a record; the value comes from a hidden prompt or --stdin, never from arguments.
    #[command(after_help = examples::ADD)]
    Add {
        /// The record's coordinate, e.g. `secret:dev/db/password` (`secret:ENV/GROUP/KEY`).
        coordinate: String,
        /// How protected: low, medium, high or inject-only (default medium; production
        /// records at least high; inject-only values are never revealed).
        #[arg(long, value_parser = parse_sensitivity, value_name = "LEVEL")]
        sensitivity: Option<Sensitivity>,
        /// What the value is for, shown by `list` and `show` (never the value itself).
        #[arg(long, value_name = "TEXT")]
        description: Option<String>,
        /// Allow the value to be revealed (agents still never see high or production values).
        #[arg(long)]
        revealable: bool,
        /// The value is a TOTP seed: base32 or an otpauth://totp/ URI (`kovra code` prints codes).
        #[arg(long)]
        totp: bool,
        /// Pin the record to this broker provider for life (`kovra api` sends it only there).
        #[arg(long, value_name = "NAME")]
        provider: Option<String>,
        /// The value is a PostgreSQL connection string (a postgres:// URL or libpq's
        /// key=value form): host, port, database and user become metadata `show` prints, the
        /// password stays sealed. Default sensitivity high.
        #[arg(long, conflicts_with_all = ["totp", "ssh_key", "provider"])]
        postgres: bool,
        #[command(flatten)]
        ssh: crate::cli_sshkey::SshKeyImport,
        #[command(flatten)]
        value: ValueSource,
    },
    /// Make an SSH key in the vault and print its public key (the private key never leaves).
    #[command(after_help = crate::cli_sshkey::KEYGEN_EXAMPLES)]
    Keygen(crate::cli_sshkey::KeygenArgs),
    /// Print an SSH key record's public key (OpenSSH format, for authorized_keys).
    #[command(after_help = crate::cli_sshkey::PUBKEY_EXAMPLES)]
    Pubkey {
        /// The SSH key record's coordinate, e.g. `secret:dev/ssh/deploy`.
        coordinate: String,
    },
    /// Sign a file or standard input with an SSH key record (an SSHSIG signature).
    #[command(after_help = crate::cli_sshkey::SIGN_EXAMPLES)]
    Sign(crate::cli_sshkey::SignArgs),
    /// Serve the vault's SSH keys to ssh, ssh-add and git through the daemon's ssh-agent
    /// socket; prints the SSH_AUTH_SOCK line to evaluate.
    #[command(name = "ssh-agent", after_help = crate::cli_sshkey::SSH_AGENT_EXAMPLES)]
    SshAgent(crate::cli_sshkey::SshAgentArgs),
    /// Run one command on a pinned host through the daemon (the key never leaves it).
    #[command(after_help = crate::cli_ssh::SSH_EXAMPLES)]
    Ssh(crate::cli_ssh::SshArgs),
    /// The hosts `kovra ssh` reaches: pinned host keys, users, what agents may run.
    #[command(subcommand, name = "ssh-host", after_help = crate::cli_ssh::SSH_HOST_EXAMPLES)]
    SshHost(crate::cli_ssh::SshHostCommand),
    /// Print the current code of a TOTP record (never its seed).
    #[command(after_help = examples::CODE)]
    Code {
        /// The TOTP record's coordinate, e.g. `secret:dev/aws/mfa`.
        coordinate: String,
        /// If fewer than S seconds of the current code remain, wait for the next one.
        #[arg(long, value_name = "S", default_value_t = 0)]
        min_validity: u64,
    },
    /// Replace a record's value, keeping its history.
    #[command(after_help = examples::SET)]
    Set {
        /// The record's coordinate, e.g. `secret:dev/db/password` (`secret:ENV/GROUP/KEY`).
        coordinate: String,
        #[command(flatten)]
        value: ValueSource,
    },
    /// Create (or with --overwrite, replace) a random value that is never printed.
    #[command(after_help = examples::GENERATE)]
    Generate {
        /// The record's coordinate, e.g. `secret:dev/db/password` (`secret:ENV/GROUP/KEY`).
        coordinate: String,
        /// How many characters.
        #[arg(long, default_value_t = 32, value_name = "N")]
        length: u32,
        /// The characters to draw from.
        #[arg(long, value_enum, default_value = "alnum")]
        charset: CharsetArg,
        /// How protected: low, medium, high or inject-only (default medium; production at
        /// least high).
        #[arg(long, value_parser = parse_sensitivity, value_name = "LEVEL")]
        sensitivity: Option<Sensitivity>,
        /// What the value is for, shown by `list` and `show`.
        #[arg(long, value_name = "TEXT")]
        description: Option<String>,
        /// Allow the value to be revealed (agents still never see high or production values).
        #[arg(long)]
        revealable: bool,
        /// Replace the value of an existing record (its metadata is kept: use `edit`).
        #[arg(long, conflicts_with_all = ["sensitivity", "description", "revealable", "provider"])]
        overwrite: bool,
        /// Pin the new record to this broker provider for life.
        #[arg(long, value_name = "NAME")]
        provider: Option<String>,
    },
    /// List records (metadata only).
    #[command(after_help = examples::LIST)]
    List(crate::cli_hot::ListArgs),
    /// Show one record's metadata.
    #[command(after_help = examples::SHOW)]
    Show {
        /// The record's coordinate, e.g. `secret:dev/db/password` (`secret:ENV/GROUP/KEY`).
        coordinate: String,
    },
    /// A keyed fingerprint of the value: compare values without seeing them.
    #[command(after_help = examples::FINGERPRINT)]
    Fingerprint {
        /// The record's coordinate, e.g. `secret:dev/db/password` (`secret:ENV/GROUP/KEY`).
        coordinate: String,
    },
    /// Change a record's description, sensitivity or revealable flag.
    #[command(after_help = examples::EDIT)]
    Edit {
        /// The record's coordinate, e.g. `secret:dev/db/password` (`secret:ENV/GROUP/KEY`).
        coordinate: String,
        /// The new description (what the value is for).
        #[arg(long, value_name = "TEXT")]
        description: Option<String>,
        /// The new sensitivity: low, medium, high or inject-only (lowering it needs a proof).
        #[arg(long, value_parser = parse_sensitivity, value_name = "LEVEL")]
        sensitivity: Option<Sensitivity>,
        /// Allow the value to be revealed from now on.
        #[arg(long, conflicts_with = "no_revealable")]
        revealable: bool,
        /// Stop the value from being revealed.
        #[arg(long)]
        no_revealable: bool,
    },
    /// Delete a record and its history.
    #[command(after_help = examples::RM)]
    Rm {
        /// The record's coordinate, e.g. `secret:dev/db/password` (`secret:ENV/GROUP/KEY`).
        coordinate: String,
    },
    /// Move a record, with its history and metadata, between the global vault and a
    /// project vault (high and production records need a proof of presence).
    #[command(after_help = examples::MV)]
    Mv {
        /// The record to move (`secret:ENV/GROUP/NAME`, found as `kovra show` finds it; use
        /// --project for a project's record, `secret://global/…` for the global one).
        coordinate: String,
        /// The project vault to move it to (it must exist: `kovra project list`).
        #[arg(long, value_name = "PROJECT", required_unless_present = "to_global")]
        to_project: Option<String>,
        /// Move it to the global vault.
        #[arg(long, conflicts_with = "to_project")]
        to_global: bool,
    },
    /// Give a record a new coordinate in its own vault, keeping its history and metadata.
    #[command(after_help = examples::RENAME)]
    Rename {
        /// The record to rename (`secret:ENV/GROUP/NAME`).
        coordinate: String,
        /// Its new coordinate; nothing may be there yet.
        new_coordinate: String,
    },
    /// List a record's versions.
    #[command(after_help = examples::HISTORY)]
    History {
        /// The record's coordinate, e.g. `secret:dev/db/password` (`secret:ENV/GROUP/KEY`).
        coordinate: String,
        /// Print descriptions whole instead of fitting the terminal.
        #[arg(long)]
        wide: bool,
    },
    /// Restore an earlier version (as a new version).
    #[command(after_help = examples::ROLLBACK)]
    Rollback {
        /// The record's coordinate, e.g. `secret:dev/db/password` (`secret:ENV/GROUP/KEY`).
        coordinate: String,
        /// The version to restore, as `kovra history` shows it (`3` or `v3`).
        #[arg(value_parser = parse_version)]
        version: u64,
    },
    /// Print a value: the guarded path, attended by a human.
    #[command(after_help = examples::REVEAL)]
    Reveal {
        /// The record's coordinate, e.g. `secret:dev/db/password` (`secret:ENV/GROUP/KEY`).
        coordinate: String,
    },
    /// Read or verify the audit trail.
    #[command(after_help = examples::AUDIT)]
    Audit(AuditArgs),
    /// Change the passphrase.
    #[command(after_help = examples::PASSWD)]
    Passwd {
        #[command(flatten)]
        old: PassphraseSource,
        /// Read the new passphrase from this file.
        #[arg(long, value_name = "PATH")]
        new_passphrase_file: Option<PathBuf>,
    },
    /// Re-encrypt every record under new data keys, in one transaction.
    #[command(after_help = examples::ROTATE_KEY)]
    RotateKey,
    /// Make a recovery kit: a second key that opens the vault if the passphrase is
    /// forgotten, shown once (a new kit replaces the old one).
    #[command(after_help = examples::RECOVERY_KIT)]
    RecoveryKit(crate::cli_recovery::RecoveryKitArgs),
    /// Set a new passphrase with the recovery kit; the old passphrase stops working.
    #[command(after_help = examples::RECOVER)]
    Recover(crate::cli_recovery::RecoverArgs),
    /// Write a consistent backup of the sealed vault file, with an integrity tag.
    #[command(after_help = examples::BACKUP)]
    Backup(crate::cli_recovery::BackupArgs),
    /// Verify a backup with its passphrase and put it in the vault's place (the current
    /// vault file is kept aside).
    #[command(after_help = examples::RESTORE)]
    Restore(crate::cli_recovery::RestoreArgs),
    /// Create or list project vaults.
    #[command(subcommand, after_help = examples::PROJECT)]
    Project(ProjectCommand),
    /// Run the key-holding daemon (started automatically when needed).
    #[command(after_help = examples::DAEMON)]
    Daemon(DaemonArgs),
    /// A guided tour on a throwaway vault in a temporary directory.
    #[command(after_help = examples::DEMO)]
    Demo,
    /// Run a command with the `.env.refs` values in its environment; its output is redacted.
    #[command(after_help = examples::RUN)]
    Run(crate::cli_hot::RunArgs),
    /// Check a `.env.refs` file against the vault: unresolved, unused, shadowed, fallbacks.
    #[command(after_help = examples::DOCTOR)]
    Doctor {
        /// The environment substituted for `${ENV}` in coordinates (default: the `.env.refs`
        /// `env =` line, then KOVRA_ENV).
        #[arg(long = "env", value_name = "ENV")]
        env_name: Option<String>,
        /// The refs file (default: ./.env.refs).
        #[arg(long, value_name = "FILE")]
        refs: Option<PathBuf>,
        /// Check this machine's defences against a same-user agent instead (no vault needed).
        #[arg(long, conflicts_with = "refs")]
        system: bool,
        /// Also open each `#url` line's database connection: a `select 1` as `kovra query`
        /// runs it (decided and audited as one).
        #[arg(long, conflicts_with = "system")]
        connect: bool,
    },
    /// Propose a `.env.refs` from the environment reads in a project's code (names only).
    #[command(after_help = examples::SCAFFOLD)]
    Scaffold(crate::cli_scaffold::ScaffoldArgs),
    /// The executables allowed to receive high and production values (pinned by SHA-256).
    #[command(subcommand, after_help = examples::ALLOW)]
    Allow(AllowCommand),
    /// List requests waiting for approval, or approve one (asks for your passphrase).
    #[command(after_help = examples::APPROVE)]
    Approve {
        /// The request to approve, as `kovra approve` lists it (none: list them).
        id: Option<String>,
        /// Also let the same run through, without asking again, for this long (e.g. 15m,
        /// 2h; at most 8h). Never for production records, never for anything but a run.
        #[arg(long, value_name = "DURATION", value_parser = crate::cli_grants::parse_minutes, requires = "id")]
        grant: Option<u32>,
        /// With --grant: grant the run's agent profile the coordinates it injects, for any
        /// run it starts, rather than this very run.
        #[arg(long, requires = "grant")]
        grant_profile: bool,
    },
    /// Session grants made by `approve --grant`: list them, or revoke one.
    #[command(after_help = examples::GRANTS)]
    Grants {
        #[command(subcommand)]
        command: Option<crate::cli_grants::GrantsCommand>,
    },
    /// Values agents asked for (`request_secret`), until you add them with `kovra add`.
    #[command(after_help = examples::REQUESTS)]
    Requests,
    /// Ask the human to approve a step of a script: exits 0 only once they approved it with
    /// a proof (here, at a terminal; else with `kovra approve`).
    #[command(after_help = examples::CONFIRM)]
    Confirm {
        /// What the human confirms, in one line (shown to them as your words).
        text: String,
        /// Without a terminal here: how long to wait for the approval, in seconds (1-120).
        #[arg(long, value_name = "SECS", default_value_t = 120,
              value_parser = clap::value_parser!(u64).range(1..=120))]
        ttl: u64,
    },
    /// Refuse a request waiting for approval.
    #[command(after_help = examples::DENY)]
    Deny {
        /// The request to refuse, as `kovra approve` lists it.
        id: String,
    },
    /// The MCP server over stdio (what `.mcp.json` starts); scope from KOVRA_MCP_* variables.
    #[command(after_help = examples::MCP)]
    Mcp {
        /// Serve through this agent profile's socket: the daemon decides every call under
        /// the profile, whatever KOVRA_MCP_* say (they can only narrow it).
        #[arg(long, value_name = "NAME")]
        agent: Option<String>,
    },
    /// Agent profiles: a fixed scope bound to a socket of its own (`kovra sandbox` uses one).
    #[command(subcommand, after_help = examples::AGENT)]
    Agent(crate::cli_agent::AgentCommand),
    /// Run a command (an agent) in a sandbox: no vault, no ~/.ssh, network only via kovra.
    ///
    /// The sandbox has no vault, no human socket, no ~/.ssh, and a network that only reaches
    /// kovra's egress proxy.
    #[command(after_help = examples::SANDBOX)]
    Sandbox(crate::cli_agent::SandboxArgs),
    /// Inside a sandbox: bridge the egress proxy and start the command (used by `sandbox`).
    #[command(name = "sandbox-init", hide = true, after_help = examples::SANDBOX_INIT)]
    SandboxInit(crate::cli_agent::SandboxInitArgs),
    /// Wire this directory for MCP clients: vault, project, MCP configs, hooks (docs/setup.md).
    ///
    /// Creates the vault and project if needed, merges a kovra server into each client's MCP
    /// configuration and instructions file, and installs Claude Code's hooks.
    #[command(after_help = examples::SETUP)]
    Setup {
        /// Environments the agent may address (comma list or `*`; default: non-production).
        #[arg(long, value_name = "LIST")]
        environments: Option<String>,
        /// Operations the agent may use: metadata, inject, reveal, write (default: metadata,inject).
        #[arg(long, value_name = "LIST")]
        operations: Option<String>,
        /// Do not install the Claude Code hooks that keep file tools away from secret files.
        #[arg(long)]
        no_hooks: bool,
        /// Show what would change, change nothing.
        #[arg(long)]
        dry_run: bool,
        /// The clients to wire (repeatable, or a comma list; default: claude-code): claude-code,
        /// cursor, codex, gemini, vscode or windsurf.
        #[arg(long = "client", value_name = "CLIENT", value_delimiter = ',')]
        clients: Vec<SetupClient>,
        /// The agent profile the clients run as (default: CLIENT-PROJECT, e.g. claude-code-shop).
        #[arg(long, value_name = "NAME")]
        agent: Option<String>,
        /// Turn on Claude Code's sandbox for its Bash tool: kovra's files and socket, ~/.ssh,
        /// ~/.gnupg, ~/.aws and the project's .env files unreadable, the network only
        /// through the agent's kovra proxy.
        #[arg(long)]
        sandbox: bool,
        /// With --sandbox: also write the same rules as a settings file for Anthropic's
        /// sandbox runtime (`srt --settings FILE`).
        #[arg(long, value_name = "FILE", requires = "sandbox")]
        srt_settings: Option<PathBuf>,
        /// Let programs the agent starts receive the values of these groups (`ENV/GROUP`,
        /// repeatable or a comma list, e.g. `dev/db`); added to what the profile already has.
        /// Needs your passphrase: a value in a program the agent runs is as good as shown to it.
        #[arg(long, value_name = "ENV/GROUP", value_delimiter = ',')]
        inject_values: Vec<String>,
        #[command(flatten)]
        passphrase: PassphraseSource,
    },
    /// Canary records: realistic fakes whose use gives the user away (refused, audited, notified).
    #[command(subcommand, after_help = examples::CANARY)]
    Canary(crate::cli_canary::CanaryCommand),
    /// Passkeys as a proof of presence: list and remove them (enrol in `kovra ui`).
    #[command(subcommand, after_help = examples::PASSKEY)]
    Passkey(crate::cli_passkey::PasskeyCommand),
    /// Run one SQL statement with a connection record (read-only unless --write).
    #[command(after_help = crate::cli_query::QUERY_EXAMPLES)]
    Query(crate::cli_query::QueryArgs),
    /// Open the web UI on loopback with a one-time login link (records, audit, approvals).
    #[command(after_help = crate::cli_ui::UI_EXAMPLES)]
    Ui(crate::cli_ui::UiArgs),
    /// Call a provider's API through the broker, which attaches the credential for you.
    #[command(after_help = examples::API)]
    Api(ApiArgs),
    /// The broker's provider registry (built-in and custom).
    #[command(after_help = examples::PROVIDERS)]
    Providers(ProvidersArgs),
    /// Pin a record to a provider for life (needs a proof of presence).
    #[command(after_help = examples::BIND)]
    Bind {
        /// The record's coordinate, e.g. `secret:dev/db/password` (`secret:ENV/GROUP/KEY`).
        coordinate: String,
        /// The provider (`kovra providers` lists them); the value is only ever sent to its hosts.
        provider: String,
        /// One of the provider's hosts (for providers with several or wildcard hosts).
        #[arg(long)]
        host: Option<String>,
    },
    /// This vault's sharing identity (made on first use): recipient, signing key, fingerprint.
    #[command(after_help = examples::IDENTITY)]
    Identity,
    /// Seal a non-production environment for a recipient; shows a one-time token.
    #[command(after_help = examples::SHARE)]
    Share(ShareArgs),
    /// Open a package from `kovra share` and import its records.
    #[command(after_help = examples::RECEIVE)]
    Receive(ReceiveArgs),
    /// Read a .env file into records, in one transaction (names shown, never values).
    #[command(after_help = crate::cli_import::IMPORT_EXAMPLES)]
    Import(crate::cli_import::ImportArgs),
    /// Write a non-production environment's records as dotenv (asks for your passphrase).
    #[command(after_help = crate::cli_import::EXPORT_EXAMPLES)]
    Export(crate::cli_import::ExportArgs),
    /// A USB kit that bootstraps a new machine: install, seal for it, open on it.
    #[command(subcommand, after_help = examples::KIT)]
    Kit(KitCommand),
    /// Print a shell completion script (bash, zsh, fish, elvish or powershell).
    #[command(after_help = examples::COMPLETIONS)]
    Completions {
        /// The shell: bash, zsh, fish, elvish or powershell.
        shell: Shell,
    },
    /// Print the man page (roff), or write one page per command into a directory.
    #[command(hide = true, after_help = examples::MAN)]
    Man {
        /// Write `kovra.1`, `kovra-add.1`, … into this existing directory instead.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Hooks for agent tools (used by the files `kovra setup` writes).
    #[command(subcommand, hide = true, after_help = examples::HOOK)]
    Hook(HookCommand),
    /// Install guards where leaks happen: `kovra hooks install` (git pre-commit).
    #[command(subcommand, after_help = examples::HOOKS_INSTALL)]
    Hooks(HooksCommand),
}

#[derive(Debug, Args)]
pub struct ApiArgs {
    /// A provider name (`kovra providers` lists them).
    pub provider: String,
    /// GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS.
    pub method: String,
    /// The API path, e.g. `/v1/models` (the host comes from the registry).
    pub path: String,
    /// A request header `NAME: VALUE` (repeatable; auth headers are refused).
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
    /// A JSON request body.
    #[arg(long, conflicts_with = "body_file")]
    pub body: Option<String>,
    /// Read the request body from a file (`-` for stdin).
    #[arg(long, value_name = "FILE")]
    pub body_file: Option<PathBuf>,
    /// A query parameter `NAME=VALUE` (repeatable).
    #[arg(short = 'q', long = "query", value_name = "NAME=VALUE")]
    pub query: Vec<String>,
    /// The record to use (default: `secret:ENV/PROVIDER/NAME` for each name the provider claims).
    #[arg(long, value_name = "COORD")]
    pub secret: Option<String>,
    /// The environment of the default record (default: the `.env.refs` `env =` line, then
    /// KOVRA_ENV, then dev).
    #[arg(long = "env", value_name = "ENV")]
    pub env_name: Option<String>,
    /// Seconds to wait for the upstream (default 30, at most 300).
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,
    /// Print the status line and response headers before the body.
    #[arg(short = 'i', long)]
    pub include: bool,
}

#[derive(Debug, Args)]
pub struct ShareArgs {
    /// The environment to share (never a production one).
    #[arg(long = "env", value_name = "ENV")]
    pub env_name: String,
    /// Only these groups (repeatable).
    #[arg(long = "group", value_name = "GROUP")]
    pub groups: Vec<String>,
    /// The recipient: an age1… key, an ssh-ed25519 public key, or a file holding one.
    #[arg(long, value_name = "RECIPIENT")]
    pub to: String,
    /// Where to write the package (default ./kovra-share-ENV-ID.age).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// How long the package may be received (default 7d, at most 30d).
    #[arg(long, value_name = "DURATION", default_value = "7d")]
    pub ttl: String,
}

#[derive(Debug, Args)]
pub struct ReceiveArgs {
    /// The package file.
    pub file: PathBuf,
    /// Replace existing records (asks for your passphrase).
    #[arg(long)]
    pub force: bool,
    /// Read the token from this file (first line) instead of a hidden prompt.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Trust this sender fingerprint without asking (still needs your passphrase).
    #[arg(long, value_name = "FINGERPRINT")]
    pub accept_sender: Option<String>,
}

/// An MCP client `kovra setup` can wire (`commands/setup/clients.rs` says where each one's
/// files are).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SetupClient {
    /// Claude Code: .mcp.json, CLAUDE.md, .claude/settings.json.
    ClaudeCode,
    /// Cursor: .cursor/mcp.json, .cursor/rules/kovra.mdc.
    Cursor,
    /// Codex CLI: .codex/config.toml, AGENTS.md.
    Codex,
    /// Gemini CLI: .gemini/settings.json, GEMINI.md.
    Gemini,
    /// VS Code: .vscode/mcp.json, .github/copilot-instructions.md.
    Vscode,
    /// Windsurf: ~/.codeium/windsurf/mcp_config.json, .windsurf/rules/kovra.md.
    Windsurf,
}

/// The characters `generate` draws from.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum CharsetArg {
    /// Letters and digits.
    Alnum,
    /// Letters.
    Alpha,
    /// Digits 0-9.
    Digits,
    /// Lower-case hexadecimal.
    Hex,
    /// Letters, digits, `-` and `_`.
    Base64url,
    /// Letters, digits and punctuation.
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

/// A record version: `3`, or `v3` as `kovra history` prints it.
fn parse_version(s: &str) -> Result<u64, String> {
    let digits = s.strip_prefix(['v', 'V']).unwrap_or(s);
    match digits.parse::<u64>() {
        Ok(v) => Ok(v),
        Err(_) => Err(format!(
            "`{s}` is not a version: give a number from `kovra history`, like 3 or v3"
        )),
    }
}

fn parse_sensitivity(s: &str) -> Result<Sensitivity, String> {
    s.parse()
}
