//! The command line of brokered ssh: `kovra ssh HOST -- COMMAND` and `kovra ssh-host`.

use clap::{Args, Subcommand};

pub const SSH_EXAMPLES: &str = "\
Examples:
  kovra ssh web1 -- systemctl status nginx
  kovra ssh web1 --user deploy --key secret:prod/ssh/deploy -- journalctl -u app -n 50
  kovra ssh web1 --json -- uptime

The daemon connects with the key (which never leaves it), checks the host's pinned key first,
and prints the command's output scrubbed of the vault's values. Commands the host's patterns
allow run at once; anything else needs your proof of presence (an agent's waits for
`kovra approve`). kovra exits with the remote command's status (255 when it has none); its own
errors are reported on stderr with their code (exits 1-8): use --json to tell them apart.";

pub const SSH_HOST_ADD_EXAMPLES: &str = "\
Examples:
  kovra ssh-host add web1 10.0.0.5 --user deploy --key secret:prod/ssh/deploy --allow 'systemctl status *'
  kovra ssh-host add db1 db1.internal:2222 --user admin --production
  kovra ssh-host add web2 10.0.0.6 --user deploy --host-key SHA256:…   # a key checked out of band

Without --host-key, kovra shows the key the host presents now before it asks for your proof.";

pub const SSH_HOST_LIST_EXAMPLES: &str = "\
Examples:
  kovra ssh-host list
  kovra ssh-host list --json";

pub const SSH_HOST_RM_EXAMPLES: &str = "\
Examples:
  kovra ssh-host rm web1";

pub const SSH_HOST_SCAN_EXAMPLES: &str = "\
Examples:
  kovra ssh-host scan 10.0.0.5
  kovra ssh-host scan db1.internal:2222";

pub const SSH_HOST_EXAMPLES: &str = "\
Examples:
  kovra ssh-host add web1 10.0.0.5 --user deploy --key secret:prod/ssh/deploy \\
      --allow 'systemctl status *' --allow 'journalctl -u app -n *'
  kovra ssh-host add db1 db1.internal:2222 --user admin --production
  kovra ssh-host scan 10.0.0.5
  kovra ssh-host list
  kovra ssh-host rm web1";

#[derive(Debug, Args)]
pub struct SshArgs {
    /// The host's name (`kovra ssh-host list`).
    pub host: String,
    /// Log in as this user (default: the host's first user).
    #[arg(long, short = 'l', value_name = "USER")]
    pub user: Option<String>,
    /// The SSH key record to log in with (default: the host's key).
    #[arg(long, value_name = "COORD")]
    pub key: Option<String>,
    /// Stop the command after this many seconds (default and limit: the host's).
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,
    /// The command, after `--`; its words are joined with spaces, as ssh does.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum SshHostCommand {
    /// Pin a host's key and say what may run there (needs a proof of presence).
    #[command(after_help = SSH_HOST_ADD_EXAMPLES)]
    Add(SshHostAddArgs),
    /// The hosts, their pinned keys and rules.
    #[command(after_help = SSH_HOST_LIST_EXAMPLES)]
    List,
    /// Forget a host.
    #[command(after_help = SSH_HOST_RM_EXAMPLES)]
    Rm {
        /// The host's name.
        name: String,
    },
    /// Show the key a host presents now, without logging in or pinning it.
    #[command(after_help = SSH_HOST_SCAN_EXAMPLES)]
    Scan {
        /// `ADDRESS[:PORT]`.
        address: String,
    },
}

#[derive(Debug, Args)]
pub struct SshHostAddArgs {
    /// What `kovra ssh NAME` calls it: a-z, 0-9, `.`, `_`, `-`.
    pub name: String,
    /// `ADDRESS[:PORT]` (`[IPv6]:PORT`); port 22 by default.
    pub address: String,
    /// A login user (repeatable; the first is the default). Others need an approval from an agent.
    #[arg(long = "user", value_name = "USER", required = true)]
    pub users: Vec<String>,
    /// The SSH key record used when a request names none.
    #[arg(long, value_name = "COORD")]
    pub key: Option<String>,
    /// A command that runs without a proof (repeatable), word by word: `*` is one word (not
    /// an option, no `..`), `**` any further words, options included (only for programs
    /// whose every option is harmless), e.g. 'systemctl status *'. A command with shell
    /// syntax (; | $ quotes…) never matches.
    #[arg(long = "allow", value_name = "PATTERN")]
    pub commands: Vec<String>,
    /// Every command on this host needs a proof of presence, whoever asks.
    #[arg(long)]
    pub production: bool,
    /// The longest a command may run, in seconds (default 30, at most 600).
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,
    /// Bytes kept of each of stdout and stderr (default 1 MiB, at most 16 MiB).
    #[arg(long, value_name = "BYTES")]
    pub output_cap: Option<u64>,
    /// The host key's SHA256 fingerprint, checked out of band (default: the one the host
    /// presents now, shown before you give the proof).
    #[arg(long, value_name = "SHA256:…")]
    pub host_key: Option<String>,
}
