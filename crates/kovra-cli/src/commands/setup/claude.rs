//! Claude Code's project settings, `.claude/settings.json`: a PreToolUse hook that refuses
//! file tools on secret files, a UserPromptSubmit hook that blocks a prompt holding a secret,
//! a PostToolUse hook that flags a tool's output holding one, and with `--sandbox` the `sandbox` block (`sandbox.rs`). Both
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
    add_hook(doc, path, "PreToolUse", hook, "kovra hook file-guard")?;
    // A prompt holding a value (or a well-known key format) is blocked before it is sent;
    // a tool's output holding one is flagged to the agent (`kovra hook prompt|tool-output`).
    let prompt = json!({"hooks": [{"type": "command", "command": "kovra hook prompt"}]});
    add_hook(doc, path, "UserPromptSubmit", prompt, "kovra hook prompt")?;
    let output = json!({
        "matcher": "*",
        "hooks": [{"type": "command", "command": "kovra hook tool-output"}]
    });
    add_hook(doc, path, "PostToolUse", output, "kovra hook tool-output")
}

/// Append `hook` to `hooks.EVENT` unless an entry already runs `command`.
fn add_hook(
    doc: &mut serde_json::Value,
    path: &Path,
    event: &str,
    hook: serde_json::Value,
    command: &str,
) -> Result<(), CliError> {
    let hooks = merge::object_in(merge::root(doc, path)?, "hooks", path, "hooks")?;
    let list = hooks
        .entry(event)
        .or_insert_with(|| json!([]))
        .as_array_mut()
        .ok_or_else(|| {
            CliError::new(
                ErrorCode::SetupInvalidJson,
                format!(
                    "{}: `hooks.{event}` is not a list; it was left untouched",
                    path.display()
                ),
                None,
            )
        })?;
    if !list.iter().any(|h| h.to_string().contains(command)) {
        list.push(hook);
    }
    Ok(())
}
