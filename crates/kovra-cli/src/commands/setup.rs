//! `kovra setup`: create the vault and the project if needed, then wire the working directory
//! for an MCP client (`files.rs`: `.mcp.json`, `CLAUDE.md`, the file-guard hook).

mod files;

use kovra_proto::ErrorCode;
use kovra_proto::Request;

use crate::cli::PassphraseSource;
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
    }
    let plan = files::SetupPlan {
        project: project.clone(),
        environments: o.environments,
        operations: o.operations,
        hooks: !o.no_hooks,
        dry_run: o.dry_run,
    };
    let changed = files::apply(&dir, &plan)?;
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
    Ok(())
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
