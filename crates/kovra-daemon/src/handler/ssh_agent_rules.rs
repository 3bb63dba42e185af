//! The ssh-agent's standing rules (`agent.toml`, beside `config.toml`): the daemon reads
//! the file, keeps the state the human accepted (`kovra ssh-agent --accept`, with a proof)
//! as a record of the system vault, and hands the gate the facts `decide` weighs. What the
//! rules mean is the core's (`kovra_core::sshkey::agentrules`, `policy::standing`).
//!
//! An agent can write the file, so it may only narrow; and a file the daemon cannot use
//! (malformed, a link, unreadable, too large) makes the agent offer and sign nothing, never
//! fall back to the rules it had before.

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use kovra_core::coord::Coordinate;
use kovra_core::policy::{Scope, StandingRules, VaultOperation};
use kovra_core::sshkey::agentrules::{self, AgentRules, KeyRule};
use kovra_core::store::{Record, UnlockedStore};
use kovra_proto::{AgentRulesReport, ErrorCode, Fact, Reply};
use serde::{Deserialize, Serialize};

use super::{Daemon, Gate};
use crate::error::GateError;

/// The accepted state: one record of the system vault (sealed, versioned, tamper-checked).
const ACCEPTED: &str = "secret:kovra/ssh-agent/rules";

fn accepted_coord() -> Result<Coordinate, GateError> {
    Coordinate::parse(ACCEPTED).map_err(|e| GateError::new(ErrorCode::Internal, e.to_string()))
}

/// What `--accept` stored: the rules, and the SHA-256 of the file they were read from.
#[derive(Serialize, Deserialize)]
struct Accepted {
    rules: AgentRules,
    sha256: String,
}

/// The file as the daemon found it.
pub(super) enum FileState {
    Missing,
    Read { rules: AgentRules, sha256: String },
    Broken(String),
}

impl Daemon {
    /// Where the daemon reads `agent.toml`: beside `config.toml`.
    pub(super) fn agent_rules_path(&self) -> PathBuf {
        self.paths
            .config_file()
            .with_file_name(agentrules::FILE_NAME)
    }
}

/// Read and parse the file: never through a symbolic link (whoever can write the directory
/// could point it anywhere), only a regular file, at most [`agentrules::MAX_BYTES`].
pub(super) fn read_file(path: &Path) -> FileState {
    let broken = |why: String| FileState::Broken(format!("{}: {why}", path.display()));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path);
    let file = match file {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return FileState::Missing,
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return broken("a symbolic link; kovra reads agent.toml only as a regular file".into());
        }
        Err(e) => return broken(format!("cannot be read ({e})")),
    };
    match file.metadata() {
        Ok(m) if m.is_file() => {}
        Ok(_) => return broken("not a regular file".into()),
        Err(e) => return broken(format!("cannot be read ({e})")),
    }
    let mut bytes = Vec::new();
    let cap = agentrules::MAX_BYTES as u64 + 1;
    if let Err(e) = file.take(cap).read_to_end(&mut bytes) {
        return broken(format!("cannot be read ({e})"));
    }
    let Ok(text) = String::from_utf8(bytes) else {
        return broken("not UTF-8 text".into());
    };
    match agentrules::parse(&text) {
        Ok(rules) => FileState::Read {
            rules,
            sha256: hex::encode(kovra_core::crypto::sha256(&[text.as_bytes()])),
        },
        Err(e) => broken(e.to_string()),
    }
}

fn load_accepted(store: &mut UnlockedStore) -> Result<Option<Accepted>, GateError> {
    super::system::load(store, &accepted_coord()?, "ssh-agent rules")
}

/// The rules one request on the agent socket is decided under.
pub(super) struct Standing {
    accepted: Option<AgentRules>,
    file: Option<AgentRules>,
    /// The connection holds an approval for the key and server of this signature.
    pub(super) session_approved: bool,
}

/// One key's rules from both sources, owned, for one decision.
pub(super) struct KeyRules {
    accepted: KeyRule,
    file: KeyRule,
    session_approved: bool,
}

impl KeyRules {
    pub(super) fn facts(&self) -> StandingRules<'_> {
        StandingRules {
            accepted: self.accepted.facts(),
            file: self.file.facts(),
            session_approved: self.session_approved,
        }
    }
}

impl Standing {
    /// The accepted state and the file. An error (the file unusable, the accepted record
    /// unreadable) means the agent offers nothing: the caller refuses.
    pub(super) fn load(store: &mut UnlockedStore, path: &Path) -> Result<Standing, GateError> {
        let accepted = load_accepted(store)?.map(|a| a.rules);
        let file = match read_file(path) {
            FileState::Missing => None,
            FileState::Read { rules, .. } => Some(rules),
            FileState::Broken(why) => {
                return Err(GateError::new(ErrorCode::AgentRulesInvalid, why));
            }
        };
        Ok(Standing {
            accepted,
            file,
            session_approved: false,
        })
    }

    /// What the agent socket may address: the whole vault narrowed by both sources.
    pub(super) fn scope(&self) -> Scope {
        [&self.accepted, &self.file]
            .into_iter()
            .flatten()
            .fold(Scope::full(), |scope, rules| {
                scope.intersect(&rules.scope())
            })
    }

    /// Both sources' rules for an SSH key record (none for any other record).
    pub(super) fn for_record(&self, record: Option<&Record>) -> KeyRules {
        let rule = |rules: &Option<AgentRules>| {
            let found = record.and_then(|r| Some((&r.meta.coordinate, r.meta.ssh_key.as_ref()?)));
            match (rules, found) {
                (Some(rules), Some((coord, key))) => rules.rule_for(coord, &key.fingerprint),
                _ => KeyRule::default(),
            }
        };
        KeyRules {
            accepted: rule(&self.accepted),
            file: rule(&self.file),
            session_approved: self.session_approved,
        }
    }
}

impl Gate<'_> {
    /// The standing rules' facts about `record` for a signature: none outside the agent
    /// socket (`kovra sign` is the human's own command).
    pub(super) fn standing_for(&self, record: Option<&Record>) -> KeyRules {
        match &self.standing {
            Some(s) => s.for_record(record),
            None => KeyRules {
                accepted: KeyRule::default(),
                file: KeyRule::default(),
                session_approved: false,
            },
        }
    }

    /// `kovra ssh-agent --rules`. Shows rules, never a record: any caller of the daemon.
    pub(super) fn ssh_agent_rules(&mut self) -> Result<Reply, GateError> {
        let report = self.rules_report(read_file(&self.daemon.agent_rules_path()))?;
        Ok(Reply::SshAgentRules(Box::new(report)))
    }

    fn rules_report(&mut self, file: FileState) -> Result<AgentRulesReport, GateError> {
        let accepted = load_accepted(self.store)?.map(|a| a.rules);
        let mut report = AgentRulesReport {
            path: self.daemon.agent_rules_path().display().to_string(),
            file: None,
            file_sha256: None,
            file_error: None,
            effective: None,
            changes: Vec::new(),
            accepted_now: false,
            accepted: accepted.clone(),
        };
        match file {
            FileState::Missing => {
                report.effective = Some(agentrules::effective(accepted.as_ref(), None));
            }
            FileState::Read { rules, sha256 } => {
                report.effective = Some(agentrules::effective(accepted.as_ref(), Some(&rules)));
                report.changes = agentrules::changes(accepted.as_ref(), &rules);
                report.file = Some(rules);
                report.file_sha256 = Some(sha256);
            }
            FileState::Broken(why) => report.file_error = Some(why),
        }
        Ok(report)
    }

    /// `kovra ssh-agent --accept`: the file as it is now (`sha256`, as `--rules` showed
    /// it) becomes the accepted state, with a proof of presence.
    pub(super) fn ssh_agent_accept(&mut self, sha256: &str) -> Result<Reply, GateError> {
        let path = self.daemon.agent_rules_path();
        let (rules, read_sha) = match read_file(&path) {
            FileState::Read { rules, sha256 } => (rules, sha256),
            FileState::Missing => {
                return Err(GateError::new(
                    ErrorCode::AgentRulesInvalid,
                    format!("there is no {} to accept", path.display()),
                )
                .hint("write the rules there first (`kovra ssh-agent --help` shows the format)"));
            }
            FileState::Broken(why) => {
                return Err(GateError::new(ErrorCode::AgentRulesInvalid, why));
            }
        };
        if read_sha != sha256 {
            return Err(GateError::new(
                ErrorCode::AgentRulesChanged,
                format!("{} changed after it was shown", path.display()),
            ));
        }
        let accepted = load_accepted(self.store)?.map(|a| a.rules);
        let changes = agentrules::changes(accepted.as_ref(), &rules);
        // What the human approves: the changes, from the parsed file (never its lines).
        self.facts.push(Fact {
            name: "agent.toml changes".into(),
            value: if changes.is_empty() {
                "none".into()
            } else {
                changes.join("; ")
            },
            untrusted: true,
        });
        self.vault_gate(VaultOperation::AcceptAgentRules, "ssh-agent-accept")?;
        let mut entry = self.info.entry("ssh-agent-accept", None, None, "allow");
        entry.reason = Some("proof-of-presence".into());
        entry.detail = Some(format!(
            "agent.toml sha256 {sha256}; {}",
            changes.join("; ")
        ));
        super::system::save(
            self.store,
            &accepted_coord()?,
            "ssh-agent standing rules (agent.toml, accepted)",
            None,
            &Accepted {
                rules: rules.clone(),
                sha256: sha256.to_string(),
            },
            entry,
        )?;
        let mut report = self.rules_report(FileState::Read {
            rules,
            sha256: sha256.to_string(),
        })?;
        report.changes = changes;
        report.accepted_now = true;
        Ok(Reply::SshAgentRules(Box::new(report)))
    }
}
