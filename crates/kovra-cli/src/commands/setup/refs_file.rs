//! `setup`'s lines in `.env.refs`: `project = NAME` (so the human's own `kovra run` and
//! `kovra add` find the project's records) and `env = NAME` (what `${ENV}` stands for). The
//! file is the user's: a missing line is added after the leading comments, every other line
//! keeps its place and bytes, and a line the user set differently is kept and reported.

use std::path::Path;

use kovra_core::envrefs::RefsFile;
use kovra_proto::ErrorCode;

use super::files::{self, Change};
use crate::error::CliError;

const HEADER: &str = "# .env.refs: which variable gets which secret, by address (a coordinate), never by\n\
# value, so this file is safe to commit. Lines: `NAME=secret:${ENV}/GROUP/KEY`; see\n\
# docs/env-refs.md. `kovra run -- COMMAND` starts COMMAND with the values.\n";

/// The parsed file, when there is one (a file that does not parse stops setup: it would
/// stop every run too, so it is better said now, with its position).
pub fn read(dir: &Path) -> Result<(Option<String>, Option<RefsFile>), CliError> {
    let path = dir.join(".env.refs");
    let Some(text) = files::read(&path)? else {
        return Ok((None, None));
    };
    let parsed = kovra_core::envrefs::parse(".env.refs", &text).map_err(|e| {
        CliError::new(
            ErrorCode::RefsInvalid,
            e.to_string(),
            Some("fix that line, then run `kovra setup` again; nothing was changed"),
        )
    })?;
    Ok((Some(text), Some(parsed)))
}

/// The file with `project = …` and `env = …` present. Returns the change and a note for
/// each line the user set to something else (kept as they wrote it).
pub fn merge(
    dir: &Path,
    before: Option<String>,
    parsed: Option<&RefsFile>,
    project: &str,
    env: &str,
) -> (Change, Vec<String>) {
    let mut notes = Vec::new();
    let mut missing = Vec::new();
    for (key, ours, theirs) in [
        (
            "project",
            project,
            parsed.and_then(|p| p.project.as_deref()),
        ),
        ("env", env, parsed.and_then(|p| p.env.as_deref())),
    ] {
        match theirs {
            None => missing.push(format!("{key} = {ours}\n")),
            Some(t) if t == ours => {}
            Some(t) => notes.push(format!(
                ".env.refs says `{key} = {t}`; kept (setup would write `{key} = {ours}`)"
            )),
        }
    }
    let text = before.clone().unwrap_or_else(|| HEADER.to_string());
    let after = if missing.is_empty() {
        text
    } else {
        // After the leading comment block, so the settings sit at the top.
        let mut at = 0;
        for line in text.split_inclusive('\n') {
            if !line.trim_start().starts_with('#') {
                break;
            }
            at += line.len();
        }
        let (head, tail) = text.split_at(at);
        let head = if !head.is_empty() && !head.ends_with('\n') {
            format!("{head}\n")
        } else {
            head.to_string()
        };
        format!("{head}{}{tail}", missing.concat())
    };
    (
        Change {
            path: dir.join(".env.refs"),
            before,
            after,
        },
        notes,
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_added_after_the_comments_and_the_users_lines_stay() {
        let dir = Path::new("/p");
        let text = "# mine\n# more\nB=secret:${ENV}/b/c\nexport A=1\n";
        let parsed = kovra_core::envrefs::parse("f", text).unwrap();
        let (c, notes) = merge(dir, Some(text.into()), Some(&parsed), "app", "dev");
        assert_eq!(
            c.after,
            "# mine\n# more\nproject = app\nenv = dev\nB=secret:${ENV}/b/c\nexport A=1\n"
        );
        assert!(notes.is_empty());
        let parsed = kovra_core::envrefs::parse("f", &c.after).unwrap();
        let (again, _) = merge(dir, Some(c.after.clone()), Some(&parsed), "app", "dev");
        assert!(!again.changes());
    }

    #[test]
    fn a_different_value_is_kept_and_said() {
        let text = "env = staging\nA=1";
        let parsed = kovra_core::envrefs::parse("f", text).unwrap();
        let (c, notes) = merge(
            Path::new("/p"),
            Some(text.into()),
            Some(&parsed),
            "app",
            "dev",
        );
        assert_eq!(c.after, "project = app\nenv = staging\nA=1");
        assert_eq!(notes.len(), 1);
        assert!(notes[0].contains("`env = staging`; kept"), "{notes:?}");
    }

    #[test]
    fn a_new_file_gets_a_commented_header() {
        let (c, _) = merge(Path::new("/p"), None, None, "app", "dev");
        assert!(c.after.starts_with("# .env.refs:"), "{}", c.after);
        assert!(
            c.after.ends_with("project = app\nenv = dev\n"),
            "{}",
            c.after
        );
        kovra_core::envrefs::parse("f", &c.after).unwrap();
    }
}
