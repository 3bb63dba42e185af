//! The command line of SSH key records: `keygen`, `sign`, and `add --ssh-key`'s flags.

use std::path::PathBuf;

use clap::Args;
use kovra_core::model::Sensitivity;
use kovra_core::sshkey::KeyType;

fn parse_sensitivity(s: &str) -> Result<Sensitivity, String> {
    s.parse()
}

fn parse_key_type(s: &str) -> Result<KeyType, String> {
    s.parse()
}

/// `add --ssh-key`: the value is an OpenSSH private key.
#[derive(Debug, Args, Clone, Default)]
pub struct SshKeyImport {
    /// The value is an OpenSSH private key (pasted at the prompt or piped with --stdin); a
    /// passphrase-protected key is decrypted and sealed without its passphrase. Default
    /// sensitivity high.
    #[arg(long)]
    pub ssh_key: bool,
    /// With --ssh-key: read the key's passphrase from this file (first line) instead of a
    /// hidden prompt on the terminal.
    #[arg(long, value_name = "PATH", requires = "ssh_key")]
    pub key_passphrase_file: Option<PathBuf>,
    /// With --ssh-key: restrict the key to this server (its host key's SHA256 fingerprint);
    /// repeatable. As `keygen --host-key`.
    #[arg(long = "host-key", value_name = "SHA256:…", requires = "ssh_key")]
    pub hosts: Vec<String>,
}

#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// The new record's coordinate, e.g. `secret:dev/ssh/deploy`.
    pub coordinate: String,
    /// The key type: ed25519, ecdsa-p256 or rsa-3072.
    #[arg(long = "type", value_parser = parse_key_type, value_name = "TYPE", default_value = "ed25519")]
    pub key_type: KeyType,
    /// How protected: low, medium, high or inject-only (default high; production at least
    /// high). Signing with a high key needs a proof of presence.
    #[arg(long, value_parser = parse_sensitivity, value_name = "LEVEL")]
    pub sensitivity: Option<Sensitivity>,
    /// What the key is for, shown by `list` and `show`.
    #[arg(long, value_name = "TEXT")]
    pub description: Option<String>,
    /// Restrict the key to this server (its host key's SHA256 fingerprint, as
    /// `ssh-keyscan HOST | ssh-keygen -lf -` prints it); repeatable. It then signs only logins
    /// through `kovra ssh-agent` to those servers: no `kovra sign`, no other host.
    #[arg(long = "host-key", value_name = "SHA256:…")]
    pub hosts: Vec<String>,
}

#[derive(Debug, Args)]
pub struct SignArgs {
    /// The SSH key record's coordinate, e.g. `secret:dev/ssh/deploy`.
    pub coordinate: String,
    /// The file to sign; standard input when absent. Only its SHA-512 goes to the daemon.
    pub file: Option<PathBuf>,
    /// What the signature is for (`ssh-keygen -Y verify -n`): e.g. `file` or `git`.
    #[arg(long, short = 'n', value_name = "NS")]
    pub namespace: String,
}

/// `ssh-agent`: start (or stop) the daemon's agent socket and say where it is.
#[derive(Debug, Args)]
pub struct SshAgentArgs {
    /// Stop serving the socket (the daemon stops it anyway when it stops); prints the line
    /// that unsets SSH_AUTH_SOCK.
    #[arg(long, short = 'k')]
    pub stop: bool,
    /// Print csh syntax (`setenv`) instead of sh.
    #[arg(long, short = 'c', conflicts_with = "sh")]
    pub csh: bool,
    /// Print sh syntax (the default).
    #[arg(long, short = 's')]
    pub sh: bool,
    /// Show the standing rules (`agent.toml` beside config.toml): the file, the state you
    /// accepted, the rules in force, and what accepting the file would change.
    #[arg(long, conflicts_with_all = ["stop", "csh", "sh", "accept"])]
    pub rules: bool,
    /// Accept `agent.toml` as it is now, with a proof of presence: the file may then only
    /// narrow what it says (a file that widens later is held to the accepted state).
    #[arg(long, conflicts_with_all = ["stop", "csh", "sh"])]
    pub accept: bool,
}

pub const SSH_AGENT_EXAMPLES: &str = "Examples:
  eval \"$(kovra ssh-agent)\"
  ssh-add -l
  ssh -o IdentityAgent=\"$SSH_AUTH_SOCK\" git@github.com
  eval \"$(kovra ssh-agent --stop)\"

Keys are decided per record and per caller: a high or production key signs only after the
human approves the signature with `kovra approve ID`. Keys are never added through the
socket (`ssh-add KEY` is refused; use `kovra add COORD --ssh-key`).

Standing rules: agent.toml beside config.toml ($KOVRA_HOME when set) narrows what is offered:
  projects = [\"global\", \"shop\"]          # vaults whose keys are offered; absent: all
  environments = [\"dev\", \"staging\"]      # absent: all
  [keys.\"secret:dev/ssh/deploy\"]         # a key by coordinate, or by \"SHA256:…\" fingerprint
  confirm = \"once-per-session\"           # | \"every-signature\" | \"never\"
  hosts = [\"SHA256:…\"]                   # servers (host keys) it may sign for
The file may only narrow; loosening a key's confirmation takes `kovra ssh-agent --accept`
(with a proof), and a production key is always confirmed at least once per session.
  kovra ssh-agent --rules
  kovra ssh-agent --accept";

pub const KEYGEN_EXAMPLES: &str = "Examples:
  kovra keygen secret:dev/ssh/deploy
  kovra keygen secret:dev/ssh/ci --type ecdsa-p256 --sensitivity medium --description \"CI deploy key\"
  kovra keygen secret:dev/ssh/deploy >> ~/.ssh/authorized_keys
  kovra keygen secret:dev/ssh/github --host-key \"$(ssh-keyscan -t ed25519 github.com 2>/dev/null | ssh-keygen -lf - | cut -d' ' -f2)\"";

pub const PUBKEY_EXAMPLES: &str = "Examples:
  kovra pubkey secret:dev/ssh/deploy
  kovra pubkey secret:dev/ssh/deploy --json";

pub const SIGN_EXAMPLES: &str = "Examples:
  kovra sign secret:dev/ssh/deploy release.tar.gz --namespace file > release.tar.gz.sig
  ssh-keygen -Y verify -f allowed_signers -I me@example.com -n file -s release.tar.gz.sig < release.tar.gz";
