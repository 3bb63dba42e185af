//! The command line, defined once: help, errors and (later) completions come from here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use kovra_core::model::Sensitivity;
use kovra_proto::Charset;

#[derive(Debug, Parser)]
#[command(
    name = "kovra",
    version,
    about = "A local secrets vault that lets AI agents use credentials without seeing them"
)]
pub struct Cli {
    /// Print machine-readable JSON on stdout (errors too).
    #[arg(long, global = true)]
    pub json: bool,
    /// Project vault to address first (falls back to the global vault).
    #[arg(long, global = true, env = "KOVRA_PROJECT")]
    pub project: Option<String>,
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
    Init(PassphraseSource),
    /// Unlock the vault in the daemon (with two-factor authentication on, also a code).
    Unlock {
        #[command(flatten)]
        passphrase: PassphraseSource,
        #[command(flatten)]
        code: CodeSource,
    },
    /// TOTP as a second factor for unlock and proofs of presence.
    #[command(subcommand, name = "2fa")]
    TwoFa(TwoFaCommand),
    /// Lock the vault: the daemon forgets the key.
    Lock,
    /// Vault and daemon state.
    Status {
        /// Also list the agent profiles: their scope, sockets, sandboxes and last request.
        #[arg(long)]
        agents: bool,
    },
    /// Add a record; the value comes from a hidden prompt or --stdin, never from arguments.
    Add {
        coordinate: String,
        #[arg(long, value_parser = parse_sensitivity)]
        sensitivity: Option<Sensitivity>,
        #[arg(long)]
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
        #[command(flatten)]
        value: ValueSource,
    },
    /// Print the current code of a TOTP record (never its seed).
    Code {
        coordinate: String,
        /// If fewer than S seconds of the current code remain, wait for the next one.
        #[arg(long, value_name = "S", default_value_t = 0)]
        min_validity: u64,
    },
    /// Replace a record's value, keeping its history.
    Set {
        coordinate: String,
        #[command(flatten)]
        value: ValueSource,
    },
    /// Create (or with --overwrite, replace) a random value that is never printed.
    Generate {
        coordinate: String,
        #[arg(long, default_value_t = 32)]
        length: u32,
        #[arg(long, value_enum, default_value = "alnum")]
        charset: CharsetArg,
        #[arg(long, value_parser = parse_sensitivity)]
        sensitivity: Option<Sensitivity>,
        #[arg(long)]
        description: Option<String>,
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
    List {
        #[arg(long)]
        env: Option<String>,
        /// Print descriptions whole instead of fitting the terminal.
        #[arg(long)]
        wide: bool,
    },
    /// Show one record's metadata.
    Show { coordinate: String },
    /// A keyed fingerprint of the value: compare values without seeing them.
    Fingerprint { coordinate: String },
    /// Change a record's description, sensitivity or revealable flag.
    Edit {
        coordinate: String,
        #[arg(long)]
        description: Option<String>,
        #[arg(long, value_parser = parse_sensitivity)]
        sensitivity: Option<Sensitivity>,
        #[arg(long, conflicts_with = "no_revealable")]
        revealable: bool,
        #[arg(long)]
        no_revealable: bool,
    },
    /// Delete a record and its history.
    Rm { coordinate: String },
    /// List a record's versions.
    History {
        coordinate: String,
        /// Print descriptions whole instead of fitting the terminal.
        #[arg(long)]
        wide: bool,
    },
    /// Restore an earlier version (as a new version).
    Rollback {
        coordinate: String,
        /// The version to restore, as `kovra history` shows it (`3` or `v3`).
        #[arg(value_parser = parse_version)]
        version: u64,
    },
    /// Print a value: the guarded path, attended by a human.
    Reveal { coordinate: String },
    /// Read or verify the audit trail.
    Audit(AuditArgs),
    /// Change the passphrase.
    Passwd {
        #[command(flatten)]
        old: PassphraseSource,
        /// Read the new passphrase from this file.
        #[arg(long, value_name = "PATH")]
        new_passphrase_file: Option<PathBuf>,
    },
    /// Re-encrypt every record under new data keys, in one transaction.
    RotateKey,
    /// Create or list project vaults.
    #[command(subcommand)]
    Project(ProjectCommand),
    /// Run the key-holding daemon (started automatically when needed).
    Daemon(DaemonArgs),
    /// A guided tour on a throwaway vault in a temporary directory.
    Demo,
    /// Run a command with the `.env.refs` values in its environment; its output is redacted.
    Run(RunArgs),
    /// Check a `.env.refs` file against the vault: unresolved, unused, shadowed, fallbacks.
    Doctor {
        /// Substituted for `${ENV}` in coordinates.
        #[arg(long = "env", env = "KOVRA_ENV", value_name = "ENV")]
        env_name: Option<String>,
        #[arg(long, value_name = "FILE")]
        refs: Option<PathBuf>,
        /// Check this machine's defences against a same-user agent instead (no vault needed).
        #[arg(long, conflicts_with = "refs")]
        system: bool,
    },
    /// The executables allowed to receive high and production values (pinned by SHA-256).
    #[command(subcommand)]
    Allow(AllowCommand),
    /// List requests waiting for approval, or approve one (asks for your passphrase).
    Approve { id: Option<String> },
    /// Values agents asked for (`request_secret`), until you add them with `kovra add`.
    Requests,
    /// Refuse a request waiting for approval.
    Deny { id: String },
    /// The MCP server over stdio (what `.mcp.json` starts); scope from KOVRA_MCP_* variables.
    Mcp {
        /// Serve through this agent profile's socket: the daemon decides every call under
        /// the profile, whatever KOVRA_MCP_* say (they can only narrow it).
        #[arg(long, value_name = "NAME")]
        agent: Option<String>,
    },
    /// Agent profiles: a fixed scope bound to a socket of its own (`kovra sandbox` uses one).
    #[command(subcommand)]
    Agent(crate::cli_agent::AgentCommand),
    /// Run a command (an agent) in a sandbox: no vault, no human socket, no ~/.ssh, and a
    /// network that only reaches kovra's egress proxy.
    Sandbox(crate::cli_agent::SandboxArgs),
    /// Inside a sandbox: bridge the egress proxy and start the command (used by `sandbox`).
    #[command(name = "sandbox-init", hide = true)]
    SandboxInit(crate::cli_agent::SandboxInitArgs),
    /// Wire this directory for MCP clients: vault, project, each client's MCP config and
    /// instructions file, Claude Code's hooks (docs/setup.md).
    Setup {
        /// Environments the agent may address (comma list or `*`; default: non-production).
        #[arg(long)]
        environments: Option<String>,
        /// Operations the agent may use: metadata, inject, reveal, write (default: metadata,inject).
        #[arg(long)]
        operations: Option<String>,
        /// Do not install the Claude Code hooks that keep file tools away from secret files.
        #[arg(long)]
        no_hooks: bool,
        /// Show what would change, change nothing.
        #[arg(long)]
        dry_run: bool,
        /// The clients to wire (repeatable, or a comma list; default: claude-code).
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
        #[command(flatten)]
        passphrase: PassphraseSource,
    },
    /// Call a provider's API through the broker: kovra attaches the credential, you never hold it.
    Api(ApiArgs),
    /// The broker's provider registry (built-in and custom).
    Providers(ProvidersArgs),
    /// Pin a record to a provider for life (needs a proof of presence).
    Bind {
        coordinate: String,
        provider: String,
        /// One of the provider's hosts (for providers with several or wildcard hosts).
        #[arg(long)]
        host: Option<String>,
    },
    /// This vault's sharing identity (created on first use): recipient, signing key, fingerprint.
    Identity,
    /// Seal a non-production environment for a recipient; prints a one-time token to the terminal.
    Share(ShareArgs),
    /// Open a package from `kovra share` and import its records.
    Receive(ReceiveArgs),
    /// A USB kit that bootstraps a new machine: install, seal for it, open on it.
    #[command(subcommand)]
    Kit(KitCommand),
    /// Hooks for agent tools (used by the files `kovra setup` writes).
    #[command(subcommand, hide = true)]
    Hook(HookCommand),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Substituted for `${ENV}` in coordinates.
    #[arg(long = "env", env = "KOVRA_ENV", value_name = "ENV")]
    pub env_name: Option<String>,
    /// The refs file (default: ./.env.refs).
    #[arg(long, value_name = "FILE")]
    pub refs: Option<PathBuf>,
    /// Inject only this variable (repeatable).
    #[arg(long, value_name = "NAME")]
    pub only: Vec<String>,
    /// Inject nothing (KOVRA_* variables are still removed).
    #[arg(long, conflicts_with = "only")]
    pub no_secrets: bool,
    /// Keep this variable of yours in a run that gets protected values (repeatable; those
    /// runs otherwise get only PATH, HOME, USER, LANG, LC_*, TERM, TZ, TMPDIR and the refs).
    /// Loader and interpreter hooks (LD_*, NODE_OPTIONS, PYTHON*, BASH_ENV, …) are refused.
    #[arg(long = "keep-env", value_name = "NAME")]
    pub keep_env: Vec<String>,
    /// Give the real values of records pinned to a provider, not placeholders (an agent's
    /// run then needs a proof).
    #[arg(long, conflicts_with = "placeholders")]
    pub values: bool,
    /// Give placeholders for records pinned to a provider: the egress proxy puts the value
    /// on the wire, only towards the provider's hosts (an agent's run always gets them).
    #[arg(long)]
    pub placeholders: bool,
    /// `pinned-only`: refuse tunnels to hosts no placeholder of the run is pinned to.
    #[arg(long, value_name = "POLICY", value_parser = ["open", "pinned-only"], default_value = "open")]
    pub egress: String,
    /// The command and its arguments, after `--`.
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    pub command: Vec<String>,
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
    /// The environment of the default record.
    #[arg(long = "env", env = "KOVRA_ENV", value_name = "ENV")]
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

#[derive(Debug, Subcommand)]
pub enum KitCommand {
    /// Write the kit into DIR: a copy of this kovra binary, install.sh and README.txt.
    Init { dir: PathBuf },
    /// On the new machine (run by install.sh): create the vault and identity, and write the
    /// machine's recipient and fingerprint into DIR.
    Enroll {
        dir: PathBuf,
        #[command(flatten)]
        passphrase: PassphraseSource,
    },
    /// On the origin: check the new machine's fingerprint, seal an environment into DIR.
    Seal {
        dir: PathBuf,
        #[arg(long = "env", value_name = "ENV")]
        env_name: String,
        #[arg(long = "group", value_name = "GROUP")]
        groups: Vec<String>,
        #[arg(long, value_name = "DURATION", default_value = "7d")]
        ttl: String,
    },
    /// On the new machine: receive the package in DIR (asks for the token).
    Open {
        dir: PathBuf,
        #[arg(long, value_name = "FILE")]
        token_file: Option<PathBuf>,
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
    Show { name: String },
    /// Store a custom provider (a TOML file in the provider format) in the vault; needs a proof.
    Add { file: PathBuf },
    /// Remove a custom provider.
    Rm { name: String },
}

#[derive(Debug, Subcommand)]
pub enum TwoFaCommand {
    /// Create a seed (asks for your passphrase), show it as a URI and QR code, and switch
    /// the factor on once a code from your authenticator app confirms it.
    Enable {
        #[command(flatten)]
        code: CodeSource,
    },
    /// Confirm a seed created by `enable` whose confirmation was interrupted.
    Confirm {
        #[command(flatten)]
        code: CodeSource,
    },
    /// Switch the factor off (needs the passphrase and a code).
    Disable {
        #[command(flatten)]
        passphrase: PassphraseSource,
        #[command(flatten)]
        code: CodeSource,
    },
    /// Whether the factor is enabled, pending confirmation, or disabled.
    Status,
}

#[derive(Debug, Subcommand)]
pub enum HookCommand {
    /// Claude Code PreToolUse: refuse file tools on secret files (exit 2).
    FileGuard,
}

#[derive(Debug, Subcommand)]
pub enum AllowCommand {
    /// Allow an executable (needs a proof of presence); pins its current SHA-256.
    Add {
        path: PathBuf,
    },
    List,
    Rm {
        path: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: Option<AuditCommand>,
    #[arg(long)]
    pub coordinate: Option<String>,
    /// RFC 3339 time or a duration back from now (`1h`, `2days`).
    #[arg(long)]
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
    Verify,
}

#[derive(Debug, Subcommand)]
pub enum ProjectCommand {
    Create { name: String },
    List,
}

#[derive(Debug, Args)]
pub struct DaemonArgs {
    #[command(subcommand)]
    pub command: Option<DaemonCommand>,
    /// Lock after this many idle seconds (default 900, or idle_timeout_secs in config.toml).
    #[arg(long)]
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
    Stop,
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

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
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
