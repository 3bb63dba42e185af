//! `kovra setup`: create the vault and the project if needed, then wire the working directory
//! for each MCP client asked for (`--client`, default Claude Code): the `kovra` server in the
//! client's own configuration (`clients.rs`), a conventions block in its instructions file
//! (`conventions.rs`), Claude Code's hooks and, with `--sandbox`, its sandbox settings
//! (`claude.rs`, `sandbox.rs`). Idempotent: a second run changes nothing. A file kovra cannot
//! parse is reported and left untouched (`merge.rs`). `--dry-run` shows the diff only.

mod claude;
mod clients;
mod conventions;
mod files;
mod merge;
mod sandbox;

use std::path::{Path, PathBuf};

use kovra_proto::ErrorCode;
use kovra_proto::Request;

use crate::cli::{PassphraseSource, SetupClient};
use crate::error::CliError;
use crate::input;
use crate::render::Renderer;
use crate::session::Session;

/// The command line of `setup`; `project` is the `--project` flag as given.
pub struct Options {
    pub project: Option<String>,
    pub environments: Option<String>,
    pub operations: Option<String>,
    pub no_hooks: bool,
    pub dry_run: bool,
    pub passphrase: PassphraseSource,
    /// As given; empty means Claude Code.
    pub clients: Vec<SetupClient>,
    pub agent: Option<String>,
    pub sandbox: bool,
    pub srt_settings: Option<PathBuf>,
}

/// What an agent profile may reach: the scope its MCP server is started with.
pub struct ProfileScope {
    pub project: String,
    /// `None`: the MCP server's default (non-production environments).
    pub environments: Option<String>,
    /// `None`: the MCP server's default (metadata and inject).
    pub operations: Option<String>,
}

/// Make sure the agent profile `name` exists with `scope`; with `sandbox_port`, return the
/// loopback port of its egress proxy, which Claude Code's sandbox sends every connection to.
/// Creating a profile that exists with the same scope is not an error.
pub fn ensure_agent_profile(
    s: &mut Session,
    name: &str,
    scope: &ProfileScope,
    sandbox_port: bool,
) -> Result<Option<u16>, CliError> {
    let list = |raw: &str| -> Vec<String> {
        raw.split(',')
            .map(|x| x.trim().to_string())
            .filter(|x| !x.is_empty())
            .collect()
    };
    let mut spec = super::agent::narrow(name);
    spec.projects = kovra_proto::ProjectScope::Only([scope.project.clone()].into());
    spec.global = true;
    if let Some(ops) = &scope.operations {
        spec.operations = kovra_mcp::scope_from(Some(list(ops)), None, None, None)
            .map_err(|e| {
                CliError::new(
                    ErrorCode::AgentInvalid,
                    e.to_string()
                        .replace("KOVRA_MCP_OPERATIONS", "--operations"),
                    None,
                )
            })?
            .scope
            .operations;
    }
    spec.environments = match scope.environments.as_deref().map(list) {
        None => kovra_proto::EnvScope::NonProduction,
        Some(l) if l.iter().any(|e| e == "*") => kovra_proto::EnvScope::All,
        Some(l) => kovra_proto::EnvScope::OnlyNonProduction(l.into_iter().collect()),
    };
    let existing = match s.call(Request::AgentList)? {
        kovra_proto::Reply::Agents { agents } => agents.into_iter().find(|a| a.name == name),
        _ => None,
    };
    // Keep a port once given: Claude Code's settings name it.
    spec.egress_port = match (&existing, sandbox_port) {
        (Some(a), true) if a.egress_port.is_some() => a.egress_port,
        (_, true) => Some(0),
        (Some(a), false) => a.egress_port,
        (None, false) => None,
    };
    if let Some(a) = &existing {
        let same = a.scope.operations == spec.operations
            && a.scope.projects == spec.projects
            && a.scope.global == spec.global
            && a.scope.environments == spec.environments
            && a.egress_port == spec.egress_port
            && a.expires.is_none();
        if same {
            return Ok(a.egress_port);
        }
    }
    spec.replace = existing.is_some();
    let made = s.call(Request::AgentCreate {
        spec: Box::new(spec),
        proof: None,
    })?;
    Ok(match made {
        kovra_proto::Reply::Agents { agents } => agents.first().and_then(|a| a.egress_port),
        _ => None,
    })
}

pub fn run(s: &mut Session, o: Options, out: &Renderer) -> Result<(), CliError> {
    let dir = std::env::current_dir().map_err(|e| {
        CliError::new(
            ErrorCode::CwdInvalid,
            format!("cannot read the working directory: {e}"),
            None,
        )
    })?;
    let project = o.project.unwrap_or_else(|| project_from_dir(&dir));
    kovra_core::coord::validate_name(&project).map_err(|e| {
        CliError::new(
            ErrorCode::ProjectInvalid,
            format!("invalid project name `{project}`: {e}"),
            Some("pass --project NAME"),
        )
    })?;
    let mut clients = Vec::new();
    for c in o.clients {
        if !clients.contains(&c) {
            clients.push(c);
        }
    }
    if clients.is_empty() {
        clients.push(SetupClient::ClaudeCode);
    }
    if o.sandbox && !clients.contains(&SetupClient::ClaudeCode) {
        return Err(CliError::new(
            ErrorCode::Usage,
            "--sandbox sets Claude Code's own sandbox; the other clients run inside `kovra sandbox`",
            Some("add --client claude-code, or drop --sandbox"),
        ));
    }
    let agents = clients
        .iter()
        .map(|c| {
            let name = o
                .agent
                .clone()
                .unwrap_or_else(|| format!("{}-{project}", c.name()));
            kovra_core::coord::validate_name(&name).map_err(|e| {
                CliError::new(
                    ErrorCode::Usage,
                    format!("invalid agent name `{name}`: {e}"),
                    Some("pass --agent NAME (letters, digits, `.`, `_`, `-`)"),
                )
            })?;
            Ok(name)
        })
        .collect::<Result<Vec<_>, CliError>>()?;
    let scope = ProfileScope {
        project: project.clone(),
        environments: o.environments,
        operations: o.operations,
    };
    let mut port = None;
    if !o.dry_run {
        if !s.paths().has_vault() {
            let unattended = o.passphrase.unattended();
            let passphrase = input::passphrase(&o.passphrase, "new passphrase: ", true)?;
            out.reply(&s.hand_over(
                Request::Init {
                    passphrase: passphrase.clone(),
                    unattended,
                },
                &passphrase,
            )?)?;
        }
        match s.call(Request::ProjectCreate {
            name: project.clone(),
        }) {
            Ok(reply) => out.reply(&reply)?,
            Err(e) if e.code == ErrorCode::ProjectExists => {}
            Err(e) => return Err(e),
        }
        for (client, agent) in clients.iter().zip(&agents) {
            let sandboxed = o.sandbox && *client == SetupClient::ClaudeCode;
            if let Some(p) = ensure_agent_profile(s, agent, &scope, sandboxed)? {
                port = Some(p);
            }
        }
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from);
    let sandbox = o.sandbox.then(|| sandbox::SandboxPlan {
        port,
        vault_home: s.paths().home.clone(),
        socket: match s.paths().socket.parent() {
            Some(dir) if s.paths().socket_is_default => dir.to_path_buf(),
            _ => s.paths().socket.clone(),
        },
        srt_settings: o.srt_settings.clone(),
    });
    let plan = Plan {
        scope: &scope,
        hooks: !o.no_hooks,
        clients: clients
            .iter()
            .copied()
            .zip(agents.iter().map(String::as_str))
            .collect(),
        sandbox: sandbox.as_ref(),
        home: home.as_deref(),
    };
    let (changes, mut notes) = plan.changes(&dir)?;
    let changed = files::apply(changes, o.dry_run)?;
    for (client, agent) in clients.iter().zip(&agents) {
        if let Some(command) = client.start_command() {
            let mut note = format!(
                "start {} inside kovra's sandbox: kovra sandbox --agent {agent} -- {command}",
                client.title()
            );
            if client.is_editor() {
                note.push_str(" (quit it first: a window already open would get the folder outside the sandbox)");
            }
            notes.push(note);
        }
    }
    if o.dry_run && o.sandbox {
        notes.push("dry run: no agent profile was made, so the sandbox's proxy port is set when setup runs for real".into());
    }
    match (changed.is_empty(), o.dry_run) {
        (true, _) => eprintln!("kovra: project {project} is set up; nothing to change"),
        (false, true) => {
            eprintln!("kovra: dry run: {} file(s) would change", changed.len())
        }
        (false, false) => eprintln!(
            "kovra: project {project} set up; wrote {}",
            changed
                .iter()
                .map(|p| p.strip_prefix(&dir).unwrap_or(p).display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
    for note in notes {
        eprintln!("kovra: {note}");
    }
    Ok(())
}

/// Every file `setup` keeps, as one plan.
struct Plan<'a> {
    scope: &'a ProfileScope,
    hooks: bool,
    /// Each client with its agent profile's name.
    clients: Vec<(SetupClient, &'a str)>,
    sandbox: Option<&'a sandbox::SandboxPlan>,
    home: Option<&'a Path>,
}

impl Plan<'_> {
    /// The environment every client starts `kovra mcp` with.
    fn env(&self) -> Vec<(String, String)> {
        let s = self.scope;
        let mut env = vec![
            ("KOVRA_PROJECT".to_string(), s.project.clone()),
            ("KOVRA_MCP_PROJECTS".to_string(), s.project.clone()),
        ];
        if let Some(e) = &s.environments {
            env.push(("KOVRA_MCP_ENVIRONMENTS".into(), e.clone()));
        }
        if let Some(o) = &s.operations {
            env.push(("KOVRA_MCP_OPERATIONS".into(), o.clone()));
        }
        env
    }

    /// Every file's change, and notes for the user. Reads and checks every file before
    /// anything is written.
    fn changes(&self, dir: &Path) -> Result<(Vec<files::Change>, Vec<String>), CliError> {
        let env = self.env();
        let shown_envs = self
            .scope
            .environments
            .clone()
            .unwrap_or_else(|| "the non-production ones".into());
        let rules = self
            .sandbox
            .map(|plan| sandbox::Rules::collect(dir, plan, self.home));
        let mut changes = Vec::new();
        let mut notes = Vec::new();
        for &(client, agent) in &self.clients {
            let server = clients::Server {
                agent,
                env: &env,
                project: &self.scope.project,
            };
            let (change, note) = clients::server_config(client, dir, self.home, &server)?;
            changes.push(change);
            notes.extend(note);
            let claude = client == SetupClient::ClaudeCode;
            let block = conventions::block(&conventions::Conventions {
                project: &self.scope.project,
                environments: &shown_envs,
                client,
                agent,
                sandbox: claude && rules.is_some(),
            });
            let (path, preamble) = client.instructions_file(dir);
            changes.push(files::managed_block(path, &block, preamble)?);
            if claude && (self.hooks || rules.is_some()) {
                changes.push(claude::settings(dir, self.hooks, rules.as_ref())?);
            }
        }
        if let (Some(rules), Some(file)) =
            (&rules, self.sandbox.and_then(|p| p.srt_settings.as_ref()))
        {
            changes.push(sandbox::srt_settings(dir.join(file), rules)?);
        }
        Ok((changes, notes))
    }
}

/// The directory's name, with anything a project name cannot hold made a `-`.
fn project_from_dir(dir: &std::path::Path) -> String {
    dir.file_name()
        .and_then(|n| n.to_str())
        .map(|n| {
            n.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || "._-".contains(c) {
                        c
                    } else {
                        '-'
                    }
                })
                .collect()
        })
        .unwrap_or_else(|| "project".into())
}
