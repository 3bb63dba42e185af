//! `kovra setup`: wire a project for an MCP client. Initialise the vault if needed, create the
//! project, merge a `kovra` server into `./.mcp.json`, keep a conventions block in
//! `./CLAUDE.md`, and install Claude Code hooks that stop the agent's file tools from reading
//! secret files. Idempotent: a second run changes nothing. `--dry-run` shows the diff only.

use kovra_proto::ErrorCode;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::error::CliError;

const BEGIN: &str = "<!-- kovra:begin (managed by `kovra setup`; edit outside these markers) -->";
const END: &str = "<!-- kovra:end -->";

/// The conventions the agent is given. Rules come from the human, never from the agent.
fn conventions(project: &str, environments: &str) -> String {
    format!(
        "{BEGIN}
## Secrets: kovra

This project's secrets live in kovra (project `{project}`, environments: {environments}).
You can use them; you cannot see the sensitive ones, and that is intended.

- Use the `kovra` MCP tools (`list`, `status`, `run`, `generate`, `request_secret`, …) or
  `kovra run -- COMMAND` in a shell: the command gets the values from `.env.refs`, and its
  output is masked.
- Never write secret values into files: no `.env` with values, no config with keys. Wire a
  variable in `.env.refs` with a coordinate (`NAME=secret:${{ENV}}/group/key`) instead.
- Never ask the user to paste a secret into the chat. If one is missing, use
  `request_secret` and ask the user to run `kovra add COORDINATE` in their own terminal.
- When kovra answers \"approval needed: ID\", ask the user to run `kovra approve ID`, then
  retry. Do not try to get around a refusal.
- Policy, scopes and sensitivities are set by the user only. Do not edit `.mcp.json`,
  `.claude/settings.json`, kovra's config or this block.
{END}
"
    )
}

/// What one file should become; `None` for "unchanged".
struct Change {
    path: PathBuf,
    before: Option<String>,
    after: String,
}

fn read(path: &Path) -> Result<Option<String>, CliError> {
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

fn parse_json(path: &Path, text: &str) -> Result<Value, CliError> {
    let value: Value = serde_json::from_str(text).map_err(|e| {
        CliError::new(
            ErrorCode::SetupInvalidJson,
            format!(
                "{} is not valid JSON ({e}); it was left untouched",
                path.display()
            ),
            Some("fix the file (or move it away), then run `kovra setup` again"),
        )
    })?;
    if !value.is_object() {
        return Err(CliError::new(
            ErrorCode::SetupInvalidJson,
            format!(
                "{} is not a JSON object; it was left untouched",
                path.display()
            ),
            None,
        ));
    }
    Ok(value)
}

fn pretty(value: &Value) -> String {
    let mut s = serde_json::to_string_pretty(value).unwrap_or_default();
    s.push('\n');
    s
}

/// The change to a JSON file. Unchanged content keeps its exact bytes (and formatting), so
/// a second run writes nothing.
fn json_change(path: PathBuf, before: Option<String>, doc: &Value) -> Result<Change, CliError> {
    let after = match &before {
        Some(text) if parse_json(&path, text)? == *doc => text.clone(),
        _ => pretty(doc),
    };
    Ok(Change {
        path,
        before,
        after,
    })
}

/// `.mcp.json` with the `kovra` server set and every other server kept as it was.
fn mcp_json(dir: &Path, env: &Value) -> Result<Change, CliError> {
    let path = dir.join(".mcp.json");
    let before = read(&path)?;
    let mut doc = match &before {
        Some(text) => parse_json(&path, text)?,
        None => json!({}),
    };
    let servers = doc
        .as_object_mut()
        .map(|o| o.entry("mcpServers").or_insert_with(|| json!({})))
        .filter(|s| s.is_object())
        .ok_or_else(|| {
            CliError::new(
                ErrorCode::SetupInvalidJson,
                format!("{}: `mcpServers` is not an object", path.display()),
                None,
            )
        })?;
    let entry = json!({"command": "kovra", "args": ["mcp"], "env": env});
    if let Some(map) = servers.as_object_mut() {
        map.insert("kovra".into(), entry);
    }
    json_change(path, before, &doc)
}

/// `CLAUDE.md` with the conventions block inserted or replaced between its markers.
fn claude_md(dir: &Path, block: &str) -> Result<Change, CliError> {
    let path = dir.join("CLAUDE.md");
    let before = read(&path)?;
    let after = match &before {
        None => block.to_string(),
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

/// `.claude/settings.json` with a PreToolUse hook that refuses file tools on secret files.
fn claude_hooks(dir: &Path) -> Result<Change, CliError> {
    let path = dir.join(".claude").join("settings.json");
    let before = read(&path)?;
    let mut doc = match &before {
        Some(text) => parse_json(&path, text)?,
        None => json!({}),
    };
    let hook = json!({
        "matcher": "Read|Edit|MultiEdit|Write|NotebookEdit|Grep|Glob",
        "hooks": [{"type": "command", "command": "kovra hook file-guard"}]
    });
    let root = doc.as_object_mut().ok_or_else(|| {
        CliError::new(
            ErrorCode::SetupInvalidJson,
            "settings is not an object",
            None,
        )
    })?;
    let hooks = root.entry("hooks").or_insert_with(|| json!({}));
    let pre = hooks
        .as_object_mut()
        .map(|h| h.entry("PreToolUse").or_insert_with(|| json!([])))
        .filter(|p| p.is_array())
        .ok_or_else(|| {
            CliError::new(
                ErrorCode::SetupInvalidJson,
                format!("{}: hooks.PreToolUse is not a list", path.display()),
                None,
            )
        })?;
    if let Some(list) = pre.as_array_mut()
        && !list
            .iter()
            .any(|h| h.to_string().contains("kovra hook file-guard"))
    {
        list.push(hook);
    }
    json_change(path, before, &doc)
}

pub struct SetupPlan {
    pub project: String,
    /// `None`: the MCP server's default (non-production environments).
    pub environments: Option<String>,
    /// `None`: the MCP server's default (metadata and inject).
    pub operations: Option<String>,
    pub hooks: bool,
    pub dry_run: bool,
}

/// Compute every change, then show (dry run) or write them. Returns the files changed.
pub fn apply(dir: &Path, plan: &SetupPlan) -> Result<Vec<PathBuf>, CliError> {
    let mut env = json!({"KOVRA_PROJECT": plan.project, "KOVRA_MCP_PROJECTS": plan.project});
    if let Some(map) = env.as_object_mut() {
        if let Some(e) = &plan.environments {
            map.insert("KOVRA_MCP_ENVIRONMENTS".into(), json!(e));
        }
        if let Some(o) = &plan.operations {
            map.insert("KOVRA_MCP_OPERATIONS".into(), json!(o));
        }
    }
    let shown_envs = plan
        .environments
        .clone()
        .unwrap_or_else(|| "the non-production ones".into());
    let mut changes = vec![
        mcp_json(dir, &env)?,
        claude_md(dir, &conventions(&plan.project, &shown_envs))?,
    ];
    if plan.hooks {
        changes.push(claude_hooks(dir)?);
    }
    let mut written = Vec::new();
    for c in changes {
        if c.before.as_deref() == Some(c.after.as_str()) {
            continue;
        }
        if plan.dry_run {
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
            if let Some(parent) = c.path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| {
                    CliError::new(
                        ErrorCode::SetupFailed,
                        format!("{}: {e}", parent.display()),
                        None,
                    )
                })?;
            }
            std::fs::write(&c.path, &c.after).map_err(|e| {
                CliError::new(
                    ErrorCode::SetupFailed,
                    format!("cannot write {}: {e}", c.path.display()),
                    None,
                )
            })?;
        }
        written.push(c.path);
    }
    Ok(written)
}
