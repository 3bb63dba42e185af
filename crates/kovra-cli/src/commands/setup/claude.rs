//! Claude Code's project settings, `.claude/settings.json`: a PreToolUse hook that refuses
//! file tools on secret files, and with `--sandbox` the `sandbox` block (`sandbox.rs`). Both
//! are merged into what the file holds, in one change.

use std::path::Path;

use kovra_proto::ErrorCode;
use serde_json::json;

use super::files::Change;
use super::merge;
use super::sandbox::{self, Rules};
use crate::error::CliError;

pub fn settings(dir: &Path, hooks: bool, rules: Option<&Rules>) -> Result<Change, CliError> {
    let path = dir.join(".claude").join("settings.json");
    let (before, mut doc) = merge::read_json(&path)?;
    if hooks {
        file_guard_hook(&mut doc, &path)?;
    }
    if let Some(rules) = rules {
        sandbox::merge_claude(&mut doc, rules, &path)?;
    }
    merge::json_change(path, before, &doc)
}

fn file_guard_hook(doc: &mut serde_json::Value, path: &Path) -> Result<(), CliError> {
    let hook = json!({
        "matcher": "Read|Edit|MultiEdit|Write|NotebookEdit|Grep|Glob",
        "hooks": [{"type": "command", "command": "kovra hook file-guard"}]
    });
    let hooks = merge::object_in(merge::root(doc, path)?, "hooks", path, "hooks")?;
    let pre = hooks
        .entry("PreToolUse")
        .or_insert_with(|| json!([]))
        .as_array_mut()
        .ok_or_else(|| {
            CliError::new(
                ErrorCode::SetupInvalidJson,
                format!(
                    "{}: `hooks.PreToolUse` is not a list; it was left untouched",
                    path.display()
                ),
                None,
            )
        })?;
    if !pre
        .iter()
        .any(|h| h.to_string().contains("kovra hook file-guard"))
    {
        pre.push(hook);
    }
    Ok(())
}
