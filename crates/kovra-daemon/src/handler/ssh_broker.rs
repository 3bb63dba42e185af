//! Brokered ssh's side of the gate: the hosts' standing rules (a record of the system vault,
//! written with a proof of presence) and the decision on one command. A command is a
//! signature with an SSH key record (operation `sign`, surface `broker`): the core's
//! `decide` weighs the key's own rules (sensitivity, the servers it is restricted to) with
//! the host's (production, the command patterns and users an agent may use unattended).
//! The connection itself runs outside the state lock (`crate::sshexec`).

use std::time::Duration;

use kovra_core::audit::AuditEntry;
use kovra_core::coord::Coordinate;
use kovra_core::model::{Operation, VaultName};
use kovra_core::policy::{RemoteFacts, VaultOperation};
use kovra_core::sshhost::{self, HostError, PinnedHostKey, SshHost};
use kovra_core::store;
use kovra_proto::{ErrorCode, Fact, Reply, SshHostSpec, SshRequest};

use super::{Daemon, Gate, Op};
use crate::error::{GateError, parse_coord};
use crate::sshexec::{PinPlan, SshPlan};

/// The hosts: one record of the system vault (sealed, versioned, tamper-checked).
const HOSTS: &str = "secret:kovra/ssh/hosts";

fn hosts_coord() -> Result<Coordinate, GateError> {
    Coordinate::parse(HOSTS).map_err(|e| GateError::new(ErrorCode::Internal, e.to_string()))
}

fn invalid(e: HostError) -> GateError {
    GateError::new(ErrorCode::SshHostInvalid, e.to_string())
}

fn unknown(name: &str) -> GateError {
    GateError::new(
        ErrorCode::SshHostUnknown,
        format!("no ssh host named `{name}`"),
    )
}

fn fact(name: &str, value: String) -> Fact {
    Fact {
        name: name.into(),
        value,
        untrusted: false,
    }
}

/// A spec checked field by field, ready to pin once the host shows the accepted key.
pub(super) fn host_from_spec(spec: &SshHostSpec) -> Result<SshHost, GateError> {
    let checked = sshhost::check_fields(&sshhost::Fields {
        name: &spec.name,
        address: &spec.address,
        users: &spec.users,
        commands: &spec.commands,
        timeout_secs: spec.timeout_secs,
        output_cap: spec.output_cap,
    })
    .map_err(invalid)?;
    if let Some(key) = &spec.key {
        parse_coord(key)?;
    }
    sshhost::check_fingerprint(&spec.host_key).map_err(invalid)?;
    let sshhost::Checked {
        address,
        port,
        timeout_secs,
        output_cap,
    } = checked;
    Ok(SshHost {
        name: spec.name.clone(),
        address,
        port,
        host_keys: vec![PinnedHostKey {
            fingerprint: spec.host_key.clone(),
            algorithm: String::new(),
            accepted: 0,
        }],
        users: spec.users.clone(),
        key: spec.key.clone(),
        commands: spec.commands.clone(),
        production: spec.production,
        timeout_secs,
        output_cap,
        added: 0,
    })
}

impl Gate<'_> {
    fn ssh_hosts(&mut self) -> Result<Vec<SshHost>, GateError> {
        Ok(super::system::load(self.store, &hosts_coord()?, "ssh hosts")?.unwrap_or_default())
    }

    pub(super) fn ssh_host_list(&mut self) -> Result<Reply, GateError> {
        self.vault_gate(VaultOperation::ReadSshHosts, "ssh-host-list")?;
        Ok(Reply::SshHosts {
            hosts: self.ssh_hosts()?,
        })
    }

    pub(super) fn ssh_host_remove(&mut self, name: &str) -> Result<Reply, GateError> {
        self.vault_gate(VaultOperation::RemoveSshHost, "ssh-host-rm")?;
        let mut hosts = self.ssh_hosts()?;
        let before = hosts.len();
        hosts.retain(|h| h.name != name);
        if hosts.len() == before {
            return Err(unknown(name));
        }
        let mut entry = self.info.entry("ssh-host-rm", None, None, "allow");
        entry.detail = Some(format!("host {name}"));
        super::system::save(
            self.store,
            &hosts_coord()?,
            "ssh hosts",
            None,
            &hosts,
            entry,
        )?;
        Ok(Reply::Done {
            message: format!("ssh host {name} removed"),
        })
    }

    /// Decide `ssh-host add` (a proof of presence: it pins a key and says what may run).
    /// The host is connected to, and the host written, by the plan outside the lock.
    pub(super) fn ssh_host_add(&mut self, spec: &SshHostSpec) -> Result<PinPlan, GateError> {
        let host = host_from_spec(spec)?;
        let replaces = self.ssh_hosts()?.iter().any(|h| h.name == host.name);
        self.facts.extend([
            fact(
                "host",
                format!(
                    "{} = {}:{}{}",
                    host.name,
                    host.address,
                    host.port,
                    if replaces {
                        " (replaces the host of that name)"
                    } else {
                        ""
                    }
                ),
            ),
            fact("host key to pin", spec.host_key.clone()),
            fact("users", host.users.join(", ")),
            fact(
                "default key",
                host.key
                    .clone()
                    .unwrap_or_else(|| "none (each request names one)".into()),
            ),
            fact(
                "limits",
                format!(
                    "{} s per command, {} bytes of output per stream",
                    host.timeout_secs, host.output_cap
                ),
            ),
            fact(
                "commands an agent may run unattended",
                if host.commands.is_empty() {
                    "none".into()
                } else {
                    host.commands.join(" | ")
                },
            ),
            fact("production", host.production.to_string()),
        ]);
        self.vault_gate(VaultOperation::AddSshHost, "ssh-host-add")?;
        let mut entry = self
            .info
            .entry("ssh-host-add", None, Some(&VaultName::System), "allow");
        entry.reason = Some("proof-of-presence".into());
        entry.detail = Some(format!(
            "host {} {}:{} host-key {} users {} commands {} production {}",
            host.name,
            host.address,
            host.port,
            spec.host_key,
            host.users.join(","),
            host.commands.len(),
            host.production
        ));
        Ok(PinPlan { host, audit: entry })
    }

    /// Decide one brokered command and hand back what the connection carries out.
    pub(super) fn prepare_ssh(&mut self, req: &SshRequest) -> Result<SshPlan, GateError> {
        sshhost::check_command(&req.command).map_err(invalid)?;
        let host = self
            .ssh_hosts()?
            .into_iter()
            .find(|h| h.name == req.host)
            .ok_or_else(|| unknown(&req.host))?;
        let user = match req.user.as_deref().or(host.default_user()) {
            Some(u) => u.to_string(),
            None => {
                return Err(GateError::new(
                    ErrorCode::SshHostInvalid,
                    format!("host {} names no user: give --user", host.name),
                ));
            }
        };
        sshhost::check_user(&user).map_err(invalid)?;
        let timeout_secs = match req.timeout_secs {
            None => host.timeout_secs,
            Some(s) if (1..=host.timeout_secs).contains(&s) => s,
            Some(s) => {
                return Err(GateError::new(
                    ErrorCode::SshHostInvalid,
                    format!(
                        "the timeout must be 1 to {} seconds (host {}'s limit), not {s}",
                        host.timeout_secs, host.name
                    ),
                ));
            }
        };
        let key = req
            .key
            .clone()
            .or_else(|| host.key.clone())
            .ok_or_else(|| {
                GateError::new(
                    ErrorCode::SshHostInvalid,
                    format!("host {} names no key: give --key COORD", host.name),
                )
            })?;
        let coord = parse_coord(&key)?;
        let Some(pinned) = host.host_keys.first().map(|k| k.fingerprint.clone()) else {
            return Err(unknown(&req.host));
        };
        let command_allowed = sshhost::command_allowed(&host.commands, &req.command);
        let user_allowed = host.users.contains(&user);
        self.facts.extend([
            fact(
                "host",
                format!("{} = {}:{} ({pinned})", host.name, host.address, host.port),
            ),
            fact("user", user.clone()),
            // The requester's own words: shown quoted and escaped, never as kovra's.
            Fact {
                name: "command".into(),
                value: req.command.clone(),
                untrusted: true,
            },
        ]);
        self.bound_host = Some(pinned.clone());
        self.remote = Some(RemoteFacts {
            production: host.production,
            command_allowed,
            user_allowed,
        });
        let mut located = self.locate(&coord, &[Op::plain(Operation::Sign)], false)?;
        if let Some(record) = &located.record
            && record.meta.ssh_key.is_none()
        {
            return Err(GateError::new(
                ErrorCode::NotSshKey,
                format!("{coord} is not an SSH key record"),
            ));
        }
        let allowed = self.admit("ssh", &coord, &mut located, Operation::Sign)?;
        let (Some(vault), Some(_)) = (located.vault, located.record) else {
            return Err(GateError::not_found(&coord));
        };
        if allowed.obligations().notify_medium_use {
            crate::approvals::notify_medium_use("ssh", &coord.to_string());
        }
        let redactor = self.scrubber()?;
        let (_, private) = self.open(&allowed, None)?;
        let shown_command =
            String::from_utf8_lossy(&redactor.redact_all(req.command.as_bytes())).into_owned();
        let mut entry = self.allowed("ssh", &coord, &vault);
        entry.detail = Some(format!(
            "host {} {}:{} user {user} command {}",
            host.name,
            host.address,
            host.port,
            clip(&shown_command, 200)
        ));
        self.store.audit(entry)?;
        let result = self
            .info
            .entry("ssh-result", Some(&coord), Some(&vault), "allow");
        Ok(SshPlan {
            host_name: host.name.clone(),
            address: host.address.clone(),
            port: host.port,
            pinned,
            user,
            key: private,
            key_coordinate: coord.unpinned().to_string(),
            command: req.command.clone(),
            timeout: Duration::from_secs(timeout_secs),
            output_cap: usize::try_from(host.output_cap).unwrap_or(usize::MAX),
            redactor,
            audit: result,
            stream: req.stream,
        })
    }
}

/// At most `max` characters, marked when cut.
fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let cut: String = text.chars().take(max).collect();
        format!("{cut}…")
    }
}

impl Daemon {
    /// Write a host whose key the plan just saw match the accepted one (under the state
    /// lock again: the vault may have locked while the host answered).
    pub fn ssh_host_commit(
        &self,
        mut host: SshHost,
        algorithm: &str,
        audit: AuditEntry,
    ) -> Result<Reply, GateError> {
        let mut inner = self.lock_inner();
        let Some(store) = inner.store.as_mut() else {
            return Err(GateError::locked());
        };
        let now = store::now();
        host.added = now;
        for k in &mut host.host_keys {
            k.algorithm = algorithm.to_string();
            k.accepted = now;
        }
        let coord = hosts_coord()?;
        let mut hosts: Vec<SshHost> =
            super::system::load(store, &coord, "ssh hosts")?.unwrap_or_default();
        hosts.retain(|h| h.name != host.name);
        hosts.push(host.clone());
        hosts.sort_by(|a, b| a.name.cmp(&b.name));
        super::system::save(store, &coord, "ssh hosts", None, &hosts, audit)?;
        Ok(Reply::SshHosts { hosts: vec![host] })
    }

    /// Put the outcome of a plan on the trail, when the vault is still open.
    pub fn audit_outcome(&self, entry: AuditEntry) {
        let mut inner = self.lock_inner();
        if let Some(store) = inner.store.as_mut()
            && let Err(e) = store.audit(entry)
        {
            tracing::warn!(error = %e, "ssh: cannot write the audit entry");
        }
    }
}

impl Daemon {
    /// `kovra ssh-host scan`: the key a host presents now, for the human to compare before
    /// pinning it. No vault is needed and nothing is written; refused on an agent profile's
    /// socket (a sandboxed agent does not probe the network through the daemon).
    pub(super) fn ssh_scan(
        &self,
        caller: &super::Caller,
        surface: kovra_core::model::Surface,
        address: &str,
    ) -> Result<Reply, GateError> {
        if caller.agent.is_some() {
            return Err(GateError::new(
                ErrorCode::AgentSocketRefused,
                "`ssh-host scan` is not served on an agent profile's socket",
            ));
        }
        let (host, port) = sshhost::parse_address(address).map_err(invalid)?;
        // Only with the vault open, and on the trail: the daemon talks to a host here.
        if self.lock_inner().store.is_none() {
            return Err(GateError::locked());
        }
        let scanned = kovra_sshclient::scan(&host, port, Duration::from_secs(15));
        let info = super::ssh_agent::caller_info(caller, surface);
        let mut inner = self.lock_inner();
        if let Some(store) = inner.store.as_mut() {
            let mut e = info.entry(
                "ssh-scan",
                None,
                None,
                if scanned.is_ok() { "ok" } else { "error" },
            );
            e.detail = Some(match &scanned {
                Ok(key) => format!("{host}:{port} {} {}", key.algorithm, key.fingerprint),
                Err(e) => format!("{host}:{port}: {e}"),
            });
            store.audit(e)?;
        }
        drop(inner);
        match scanned {
            Ok(key) => Ok(Reply::SshHostKey {
                address: host,
                port,
                algorithm: key.algorithm,
                fingerprint: key.fingerprint,
            }),
            Err(e) => Err(GateError::new(
                ErrorCode::SshUnreachable,
                format!("{address}: {e}"),
            )),
        }
    }
}
