//! The `ssh` and `ssh_hosts` tools' arguments and results: a command the daemon runs on a
//! host the human pinned, with a key that never enters the model's context.

use kovra_proto::{SshHost, SshReply, SshRequest};
use rmcp::schemars;
use serde::{Deserialize, Serialize};

use crate::args::check_coordinate;
use crate::outcome::{Failure, invalid};

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SshArgs {
    /// A host name from the `ssh_hosts` tool, e.g. `web1`.
    pub host: String,
    /// The command, as one string (it reaches the remote user's shell). Commands matching
    /// the host's `commands` patterns run at once; anything else waits for the human's approval.
    pub command: String,
    /// The login user (default: the host's first user).
    #[serde(default)]
    pub user: Option<String>,
    /// The coordinate of the SSH key record to log in with (default: the host's key).
    #[serde(default)]
    pub key_record: Option<String>,
    /// Seconds before the command is stopped (default and limit: the host's).
    #[serde(default)]
    pub timeout_secs: Option<u64>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct SshOut {
    pub host: String,
    pub user: String,
    /// The coordinate of the key record that logged in (never the key).
    pub key_record: String,
    pub exit_status: Option<u32>,
    pub exit_signal: Option<String>,
    /// Scrubbed of every vault value; capped at the host's output cap.
    pub stdout: String,
    pub stderr: String,
    pub truncated: bool,
    pub duration_ms: u64,
}

impl From<SshReply> for SshOut {
    fn from(r: SshReply) -> Self {
        SshOut {
            host: r.host,
            user: r.user,
            key_record: r.key,
            exit_status: r.exit_status,
            exit_signal: r.exit_signal,
            stdout: r.stdout,
            stderr: r.stderr,
            truncated: r.truncated,
            duration_ms: r.duration_ms,
        }
    }
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SshHostsArgs {}

/// One host as the model sees it: where, as whom, and what runs unattended.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct SshHostOut {
    pub name: String,
    pub address: String,
    pub port: u16,
    pub users: Vec<String>,
    /// The coordinate of the SSH key record used when a call names none.
    pub key_record: Option<String>,
    /// Patterns of commands that run without an approval, word by word: `*` is one plain
    /// word (not an option, no `..`), `**` any further words; shell syntax never matches.
    pub commands: Vec<String>,
    /// Every command needs the human's approval.
    pub production: bool,
    pub timeout_secs: u64,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct SshHostsOut {
    pub hosts: Vec<SshHostOut>,
}

impl From<Vec<SshHost>> for SshHostsOut {
    fn from(hosts: Vec<SshHost>) -> Self {
        SshHostsOut {
            hosts: hosts
                .into_iter()
                .map(|h| SshHostOut {
                    name: h.name,
                    address: h.address,
                    port: h.port,
                    users: h.users,
                    key_record: h.key,
                    commands: h.commands,
                    production: h.production,
                    timeout_secs: h.timeout_secs,
                })
                .collect(),
        }
    }
}

impl SshArgs {
    /// The daemon request, after the checks that need no daemon.
    pub fn into_request(self) -> Result<SshRequest, Failure> {
        if let Some(c) = &self.key_record {
            check_coordinate(c)?;
        }
        for (what, text, max) in [("host", &self.host, 64), ("command", &self.command, 8192)] {
            if text.len() > max {
                return Err(invalid(format!("{what} is longer than {max} bytes")));
            }
        }
        if self.command.trim().is_empty() {
            return Err(invalid("command is empty"));
        }
        Ok(SshRequest {
            host: self.host,
            user: self.user,
            key: self.key_record,
            command: self.command,
            timeout_secs: self.timeout_secs,
            stream: false,
            proof: None,
        })
    }
}
