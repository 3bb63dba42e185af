//! Brokered ssh on the wire: a command the daemon runs on a pinned host (`kovra ssh`, the
//! MCP `ssh` tool), and the hosts' standing rules (`kovra ssh-host`).

use serde::{Deserialize, Serialize};

pub use kovra_core::sshhost::{PinnedHostKey, SshHost};

use crate::wire::Proof;

/// Run one command on a host the vault knows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SshRequest {
    /// The host's name (`kovra ssh-host list`).
    pub host: String,
    /// The login user; by default the host's first user.
    #[serde(default)]
    pub user: Option<String>,
    /// The SSH key record to log in with; by default the host's key.
    #[serde(default)]
    pub key: Option<String>,
    /// One string, as `ssh HOST -- CMD` hands it to the remote user's shell.
    pub command: String,
    /// At most the host's timeout.
    #[serde(default)]
    pub timeout_secs: Option<u64>,
    /// Send the output as it comes (`Reply::SshOutput` frames before the final `Ssh` reply,
    /// whose `stdout` and `stderr` are then empty), rather than in the final reply.
    #[serde(default)]
    pub stream: bool,
    #[serde(default)]
    pub proof: Option<Proof>,
}

/// A host's standing rules as a human writes them (`kovra ssh-host add`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SshHostSpec {
    pub name: String,
    /// `ADDRESS[:PORT]`.
    pub address: String,
    /// The host key fingerprint (`SHA256:…`) the human accepts: the daemon connects and
    /// pins it only if the host still presents exactly this key.
    pub host_key: String,
    pub users: Vec<String>,
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub commands: Vec<String>,
    #[serde(default)]
    pub production: bool,
    #[serde(default)]
    pub timeout_secs: Option<u64>,
    #[serde(default)]
    pub output_cap: Option<u64>,
}

/// What a brokered command did. Output is scrubbed of vault values and decoded as UTF-8
/// (invalid sequences replaced), each stream capped at the host's output cap.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SshReply {
    pub host: String,
    pub user: String,
    /// The key record that logged in.
    pub key: String,
    pub exit_status: Option<u32>,
    pub exit_signal: Option<String>,
    pub stdout: String,
    pub stderr: String,
    /// Output beyond the cap was dropped.
    pub truncated: bool,
    pub duration_ms: u64,
}
