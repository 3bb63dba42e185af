//! `kovra setup`'s file work: compute what every file should become (`clients.rs`,
//! `claude.rs`, `sandbox.rs`), then show the diff (dry run) or write the files that change.
//! Nothing is written until every file was read and understood, so one invalid file stops
//! the run with the others untouched too.

use std::path::{Path, PathBuf};

use kovra_proto::ErrorCode;

use super::conventions::{BEGIN, END};
use crate::error::CliError;

/// What one file should become. `before == Some(after)` means "unchanged".
pub struct Change {
    pub path: PathBuf,
    pub before: Option<String>,
    pub after: String,
}

impl Change {
    pub fn changes(&self) -> bool {
        self.before.as_deref() != Some(self.after.as_str())
    }
}

pub fn read(path: &Path) -> Result<Option<String>, CliError> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(CliError::new(
            ErrorCode::SetupFailed,
            format!("cannot read {}: {e}", path.display()),
            None,
        )),
    }
}

/// `path` with `block` inserted or replaced between its markers. A new file starts with
/// `preamble` (the front matter some clients need on a rules file).
pub fn managed_block(path: PathBuf, block: &str, preamble: &str) -> Result<Change, CliError> {
    let before = read(&path)?;
    let after = match &before {
        None => format!("{preamble}{block}"),
        Some(text) => match (text.find(BEGIN), text.find(END)) {
            (Some(a), Some(b)) if b > a => {
                let end = b + END.len();
                let end = if text[end..].starts_with('\n') {
                    end + 1
                } else {
                    end
                };
                format!("{}{}{}", &text[..a], block, &text[end..])
            }
            _ => {
                let sep = if text.is_empty() || text.ends_with("\n\n") {
                    ""
                } else if text.ends_with('\n') {
                    "\n"
                } else {
                    "\n\n"
                };
                format!("{text}{sep}{block}")
            }
        },
    };
    Ok(Change {
        path,
        before,
        after,
    })
}

/// Show (dry run) or write every change. Returns the files that change.
pub fn apply(changes: Vec<Change>, dry_run: bool) -> Result<Vec<PathBuf>, CliError> {
    for (i, c) in changes.iter().enumerate() {
        if changes[..i].iter().any(|o| o.path == c.path) {
            return Err(CliError::new(
                ErrorCode::SetupFailed,
                format!(
                    "{} would be written twice (pick another --srt-settings file)",
                    c.path.display()
                ),
                None,
            ));
        }
    }
    // All or nothing: no file is written while another would be refused.
    for c in changes.iter().filter(|c| c.changes()) {
        refuse_project_link(&c.path)?;
    }
    let mut written = Vec::new();
    for c in changes {
        if !c.changes() {
            continue;
        }
        if dry_run {
            let old = c.before.clone().unwrap_or_default();
            let name = c.path.display().to_string();
            let diff = similar::TextDiff::from_lines(&old, &c.after);
            crate::render::text(
                &diff
                    .unified_diff()
                    .header(&format!("{name} (now)"), &format!("{name} (after setup)"))
                    .to_string(),
            )?;
        } else {
            write(&c.path, &c.after)?;
        }
        written.push(c.path);
    }
    Ok(written)
}

fn write(path: &Path, text: &str) -> Result<(), CliError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| {
            CliError::new(
                ErrorCode::SetupFailed,
                format!("{}: {e}", parent.display()),
                None,
            )
        })?;
    }
    std::fs::write(path, text).map_err(|e| {
        CliError::new(
            ErrorCode::SetupFailed,
            format!("cannot write {}: {e}", path.display()),
            None,
        )
    })
}

/// The project directory is the agent's to write: a link planted there (`.env.refs` pointing
/// into the home, say) would have setup write where the agent could not. Files outside the
/// project (a client's config in the home) may be links, as dotfile managers make them.
fn refuse_project_link(path: &Path) -> Result<(), CliError> {
    let Ok(dir) = std::env::current_dir() else {
        return Ok(());
    };
    // The file and every directory between it and the project (`.claude/` too).
    for at in path
        .ancestors()
        .take_while(|a| a.starts_with(&dir) && *a != dir)
    {
        if std::fs::symlink_metadata(at).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(CliError::new(
                ErrorCode::SetupFailed,
                format!(
                    "{} is a symbolic link; setup does not write through links in the project",
                    at.display()
                ),
                Some("replace the link with a regular file or directory, then run setup again"),
            ));
        }
    }
    Ok(())
}
