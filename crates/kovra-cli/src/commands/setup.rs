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
mod profile;
mod refs_file;
mod sandbox;
mod scope;
mod state;

pub use profile::ProfileScope;

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
    /// `ENV/GROUP` value opt-ins to add to each profile (a proof is asked for).
    pub inject_values: Vec<String>,
}

pub fn run(s: &mut Session, o: Options, out: &Renderer) -> Result<(), CliError> {
    let dir = std::env::current_dir().map_err(|e| {
        CliError::new(
            ErrorCode::CwdInvalid,
            format!("cannot read the working directory: {e}"),
            None,
        )
    })?;
    let (refs_text, refs) = refs_file::read(&dir)?;
    let project = o
        .project
        .or_else(|| refs.as_ref().and_then(|r| r.project.clone()))
        .unwrap_or_else(|| project_from_dir(&dir));
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
    let mut port = None;
    let mut notes = Vec::new();
    // Per agent: its value opt-ins; and the profiles made or changed.
    let mut opted = std::collections::BTreeMap::new();
    let mut updated = Vec::new();
    let home_dir = s.paths().home.clone();
    let saved = state::State::load(&home_dir);
    let base = saved.dir(&dir);
    let mut now = state::DirState::default();
    let mut scope = ProfileScope {
        project: project.clone(),
        global: false,
        environments: None,
        operations: o.operations.clone(),
        legacy_environments: o.environments.clone(),
        inject_values: o.inject_values.clone(),
    };
    let mut found = scope::Found::none();
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
        found = scope::Found::gather(&project)?;
    } else if s.paths().has_vault() {
        // A dry run proposes from what it can see; a locked or absent vault shows nothing.
        found = scope::Found::gather(&project).unwrap_or_else(|_| scope::Found::none());
    }
    let proposal = scope::propose(refs.as_ref(), &found, o.environments.as_deref());
    scope.global = proposal.global;
    scope.environments = proposal
        .environments
        .as_ref()
        .map(|l| l.iter().cloned().collect::<Vec<_>>().join(","));
    if !o.dry_run {
        for (client, agent) in clients.iter().zip(&agents) {
            let sandboxed = o.sandbox && *client == SetupClient::ClaudeCode;
            let made = profile::ensure(s, agent, &scope, sandboxed, base.profiles.get(agent))?;
            if let Some(p) = made.port {
                port = Some(p);
            }
            now.profiles.insert(agent.clone(), made.written);
            if made.updated {
                updated.push(agent.clone());
            }
            opted.insert(agent.clone(), made.value_injections);
            notes.extend(made.notes);
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
        default_env: &proposal.default_env,
        base: &base,
    };
    let (mut changes, plan_notes, entries) = plan.changes(&dir)?;
    notes.extend(plan_notes);
    now.entries = entries;
    let (refs_change, refs_notes) = refs_file::merge(
        &dir,
        refs_text,
        refs.as_ref(),
        &project,
        &proposal.default_env,
    );
    changes.push(refs_change);
    notes.extend(refs_notes);
    let changed = files::apply(changes, o.dry_run)?;
    if !o.dry_run {
        saved.save(&home_dir, &dir, now);
    }
    let operations = o.operations.as_deref();
    let summaries: Vec<String> = agents
        .iter()
        .map(|agent| {
            let opted = opted.get(agent).map(Vec::as_slice).unwrap_or_default();
            scope::summary(agent, &project, &proposal, operations, &found, opted)
        })
        .collect();
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
        (true, _) if updated.is_empty() => {
            eprintln!("kovra: project {project} is set up; nothing to change")
        }
        (true, _) => eprintln!(
            "kovra: project {project} is set up; agent profile {} updated",
            updated.join(", ")
        ),
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
    for summary in summaries {
        for paragraph in summary.lines() {
            eprintln!("{}", wrapped(paragraph));
        }
    }
    for note in notes {
        eprintln!("kovra: {note}");
    }
    Ok(())
}

/// `kovra: TEXT`, broken at spaces to fit 100 columns, continuation lines indented.
fn wrapped(text: &str) -> String {
    const WIDTH: usize = 100;
    const PREFIX: &str = "kovra: ";
    let mut out = String::from(PREFIX);
    let mut column = PREFIX.len();
    for (i, word) in text.split(' ').enumerate() {
        let len = word.chars().count();
        if i > 0 && column + 1 + len > WIDTH {
            out.push('\n');
            out.push_str(&" ".repeat(PREFIX.len()));
            column = PREFIX.len();
        } else if i > 0 {
            out.push(' ');
            column += 1;
        }
        out.push_str(word);
        column += len;
    }
    out
}

/// Every file `setup` keeps, as one plan.
struct Plan<'a> {
    scope: &'a ProfileScope,
    hooks: bool,
    /// Each client with its agent profile's name.
    clients: Vec<(SetupClient, &'a str)>,
    sandbox: Option<&'a sandbox::SandboxPlan>,
    home: Option<&'a Path>,
    /// What `${ENV}` stands for (the `env =` line setup keeps in `.env.refs`).
    default_env: &'a str,
    /// What setup wrote here last time.
    base: &'a state::DirState,
}

impl Plan<'_> {
    /// The environment every client starts `kovra mcp` with.
    fn env(&self) -> Vec<(String, String)> {
        let s = self.scope;
        let projects = if s.global {
            format!("{},global", s.project)
        } else {
            s.project.clone()
        };
        Self::env_of(
            &s.project,
            projects,
            s.environments.as_deref(),
            s.operations.as_deref(),
        )
    }

    /// The environment a setup without state wrote (to recognise its entries as setup's).
    fn legacy_env(&self) -> Vec<(String, String)> {
        let s = self.scope;
        Self::env_of(
            &s.project,
            s.project.clone(),
            s.legacy_environments.as_deref(),
            s.operations.as_deref(),
        )
    }

    fn env_of(
        project: &str,
        projects: String,
        environments: Option<&str>,
        operations: Option<&str>,
    ) -> Vec<(String, String)> {
        let mut env = vec![
            ("KOVRA_PROJECT".to_string(), project.to_string()),
            ("KOVRA_MCP_PROJECTS".to_string(), projects),
        ];
        if let Some(e) = environments {
            env.push(("KOVRA_MCP_ENVIRONMENTS".into(), e.to_string()));
        }
        if let Some(o) = operations {
            env.push(("KOVRA_MCP_OPERATIONS".into(), o.to_string()));
        }
        env
    }

    /// Every file's change, and notes for the user. Reads and checks every file before
    /// anything is written.
    #[allow(clippy::type_complexity)]
    fn changes(
        &self,
        dir: &Path,
    ) -> Result<
        (
            Vec<files::Change>,
            Vec<String>,
            std::collections::BTreeMap<String, clients::Flat>,
        ),
        CliError,
    > {
        let env = self.env();
        let legacy_env = self.legacy_env();
        let mut entries = std::collections::BTreeMap::new();
        let shown_envs = self
            .scope
            .environments
            .as_ref()
            .map(|e| e.replace(',', ", "))
            .unwrap_or_else(|| "the non-production ones".into());
        let rules = self
            .sandbox
            .map(|plan| sandbox::Rules::collect(dir, plan, self.home));
        let mut changes = Vec::new();
        let mut notes = Vec::new();
        for &(client, agent) in &self.clients {
            let key = client.name().to_string();
            let server = clients::Server {
                agent,
                env: &env,
                project: &self.scope.project,
                base: self.base.entries.get(&key),
                legacy_env: &legacy_env,
            };
            let made = clients::server_config(client, dir, self.home, &server)?;
            changes.push(made.change);
            notes.extend(made.notes);
            entries.insert(key, made.written);
            let claude = client == SetupClient::ClaudeCode;
            let block = conventions::block(&conventions::Conventions {
                project: &self.scope.project,
                environments: &shown_envs,
                default_env: self.default_env,
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
        Ok((changes, notes, entries))
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
