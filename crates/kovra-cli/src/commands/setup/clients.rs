//! Each MCP client's own format and place for the `kovra` server, and its instructions file.
//! Project-level wherever the client reads a project file, so one project's scope never
//! serves another's workspace. Where each was checked:
//!
//! | client | server entry | instructions |
//! |---|---|---|
//! | Claude Code | `.mcp.json` `mcpServers` | `CLAUDE.md` |
//! | Cursor | `.cursor/mcp.json` `mcpServers` (cursor.com/docs/mcp) | `.cursor/rules/kovra.mdc`, `alwaysApply: true` |
//! | Codex CLI | `.codex/config.toml` `[mcp_servers.kovra]`, read in trusted projects only (developers.openai.com/codex/config-reference) | `AGENTS.md` (…/codex/guides/agents-md) |
//! | Gemini CLI | `.gemini/settings.json` `mcpServers` (geminicli.com/docs/cli/configuration) | `GEMINI.md` (…/docs/cli/gemini-md) |
//! | VS Code | `.vscode/mcp.json` `servers`, `"type": "stdio"` (code.visualstudio.com/docs/agents/reference/mcp-configuration) | `.github/copilot-instructions.md` |
//! | Windsurf | `~/.codeium/windsurf/mcp_config.json` `mcpServers`, user-level only (docs.windsurf.com/windsurf/cascade/mcp) | `.windsurf/rules/kovra.md`, `trigger: always_on` |

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use kovra_proto::ErrorCode;
use serde_json::{Map, Value, json};

use super::files::Change;
use super::merge::{self, TomlServer};
use super::state;
use crate::cli::SetupClient;
use crate::error::CliError;

/// Variables Codex must pass through for `kovra mcp` to find the vault and the daemon's
/// socket where the user's shell does: Codex gives an MCP server only a short list of its
/// own environment unless `env_vars` names more.
const CODEX_PASS_THROUGH: &[&str] = &[
    "KOVRA_HOME",
    "KOVRA_SOCKET",
    "XDG_DATA_HOME",
    "XDG_RUNTIME_DIR",
];

impl SetupClient {
    /// The name on the command line, and the first half of the default agent name.
    pub fn name(self) -> &'static str {
        match self {
            SetupClient::ClaudeCode => "claude-code",
            SetupClient::Cursor => "cursor",
            SetupClient::Codex => "codex",
            SetupClient::Gemini => "gemini",
            SetupClient::Vscode => "vscode",
            SetupClient::Windsurf => "windsurf",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            SetupClient::ClaudeCode => "Claude Code",
            SetupClient::Cursor => "Cursor",
            SetupClient::Codex => "Codex CLI",
            SetupClient::Gemini => "Gemini CLI",
            SetupClient::Vscode => "VS Code",
            SetupClient::Windsurf => "Windsurf",
        }
    }

    /// How the user starts the client inside `kovra sandbox`; `None` for Claude Code, which
    /// has a sandbox of its own (`kovra setup --sandbox`).
    pub fn start_command(self) -> Option<&'static str> {
        match self {
            SetupClient::ClaudeCode => None,
            SetupClient::Cursor => Some("cursor ."),
            SetupClient::Codex => Some("codex"),
            SetupClient::Gemini => Some("gemini"),
            SetupClient::Vscode => Some("code ."),
            SetupClient::Windsurf => Some("windsurf ."),
        }
    }

    /// An editor whose launcher hands a folder to a window already open, outside the
    /// sandbox the launcher was started in.
    pub fn is_editor(self) -> bool {
        matches!(
            self,
            SetupClient::Cursor | SetupClient::Vscode | SetupClient::Windsurf
        )
    }

    /// The files the agent is told to leave alone (the conventions block's last line).
    pub fn protected_files(self) -> &'static str {
        match self {
            SetupClient::ClaudeCode => "`.mcp.json`,\n  `.claude/settings.json`",
            SetupClient::Cursor => "`.cursor/mcp.json`",
            SetupClient::Codex => "`.codex/config.toml`",
            SetupClient::Gemini => "`.gemini/settings.json`",
            SetupClient::Vscode => "`.vscode/mcp.json`",
            SetupClient::Windsurf => "`~/.codeium/windsurf/mcp_config.json`",
        }
    }

    /// Where the client reads its instructions, and what a new file starts with.
    pub fn instructions_file(self, dir: &Path) -> (PathBuf, &'static str) {
        match self {
            SetupClient::ClaudeCode => (dir.join("CLAUDE.md"), ""),
            SetupClient::Cursor => (
                dir.join(".cursor/rules/kovra.mdc"),
                "---\ndescription: How this project's secrets are used (kovra)\nalwaysApply: true\n---\n",
            ),
            SetupClient::Codex => (dir.join("AGENTS.md"), ""),
            SetupClient::Gemini => (dir.join("GEMINI.md"), ""),
            SetupClient::Vscode => (dir.join(".github/copilot-instructions.md"), ""),
            SetupClient::Windsurf => (
                dir.join(".windsurf/rules/kovra.md"),
                "---\ntrigger: always_on\n---\n",
            ),
        }
    }
}

/// The `kovra` server every client starts: `kovra mcp --agent NAME` with the scope in its
/// environment. Claude Code starts it beside its own sandbox, so there it starts inside
/// `kovra sandbox --agent NAME` (the daemon refuses a profile's runs from outside any); the
/// other clients are themselves started inside one.
pub struct Server<'a> {
    pub agent: &'a str,
    pub env: &'a [(String, String)],
    /// The project the scope names, for the note on a shared user-level file.
    pub project: &'a str,
    /// What setup wrote in this file's entry last time (`state.rs`), flat.
    pub base: Option<&'a Flat>,
    /// What a setup without state wrote: its environment.
    pub legacy_env: &'a [(String, String)],
}

/// A server entry's keys setup manages, flat: `command`, `args`, `type`, `env.NAME`.
pub type Flat = BTreeMap<String, Value>;

fn flat(entry: &Map<String, Value>) -> Flat {
    let mut out = Flat::new();
    for (k, v) in entry {
        match (k.as_str(), v) {
            ("env", Value::Object(env)) => {
                for (ek, ev) in env {
                    out.insert(format!("env.{ek}"), ev.clone());
                }
            }
            ("command" | "args" | "type", _) => {
                out.insert(k.clone(), v.clone());
            }
            _ => {}
        }
    }
    out
}

impl Server<'_> {
    fn args(&self, client: SetupClient) -> Vec<String> {
        let mcp = ["mcp", "--agent", self.agent];
        let words: Vec<&str> = match client {
            SetupClient::ClaudeCode => ["sandbox", "--agent", self.agent, "--", "kovra"]
                .into_iter()
                .chain(mcp)
                .collect(),
            _ => mcp.to_vec(),
        };
        words.into_iter().map(String::from).collect()
    }

    fn json_entry(
        &self,
        client: SetupClient,
        stdio_type: bool,
        env: &[(String, String)],
    ) -> Map<String, Value> {
        let mut entry = Map::new();
        if stdio_type {
            entry.insert("type".into(), json!("stdio"));
        }
        entry.insert("command".into(), json!("kovra"));
        entry.insert("args".into(), json!(self.args(client)));
        let env: Map<String, Value> = env.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
        entry.insert("env".into(), Value::Object(env));
        entry
    }

    /// The entry as it should become: setup's keys where they are still setup's own, the
    /// user's where they edited them (with a note each), and every other key as it is.
    fn merged(
        &self,
        current: Option<&Map<String, Value>>,
        ours: &Map<String, Value>,
        legacy: &Map<String, Value>,
        path: &Path,
    ) -> (Map<String, Value>, Vec<String>) {
        let Some(current) = current else {
            return (ours.clone(), Vec::new());
        };
        let (theirs, ours, legacy) = (flat(current), flat(ours), flat(legacy));
        let empty = Flat::new();
        let base = self.base.unwrap_or(&empty);
        let keys: BTreeSet<&String> = ours.keys().chain(base.keys()).collect();
        let mut result = current.clone();
        let mut notes = Vec::new();
        for key in keys {
            let (step, conflict) = state::decide(
                theirs.get(key),
                ours.get(key),
                base.get(key),
                legacy.get(key),
            );
            if conflict {
                notes.push(format!(
                    "{}: kept your kovra server's {key} = {} (setup would write {}); remove it and run setup again to take setup's",
                    path.display(),
                    state::shown(theirs.get(key)),
                    state::shown(ours.get(key)),
                ));
            }
            let (map, name) = match key.strip_prefix("env.") {
                Some(name) => {
                    let env = result.entry("env").or_insert_with(|| json!({}));
                    if !env.is_object() {
                        *env = json!({});
                    }
                    match env.as_object_mut() {
                        Some(env) => (env, name),
                        None => continue,
                    }
                }
                None => (&mut result, key.as_str()),
            };
            match step {
                state::Step::Set(v) => {
                    map.insert(name.to_string(), v);
                }
                state::Step::Remove => {
                    map.remove(name);
                }
                state::Step::Keep => {}
            }
        }
        (result, notes)
    }
}

/// What `server_config` produced: the change, notes for the user, and what setup wrote in
/// the entry (for `state.rs`).
pub struct Configured {
    pub change: Change,
    pub notes: Vec<String>,
    pub written: Flat,
}

/// The client's server configuration with `kovra` set, and notes for the user (hand edits
/// kept; a change that reaches beyond this project).
pub fn server_config(
    client: SetupClient,
    dir: &Path,
    home: Option<&Path>,
    server: &Server<'_>,
) -> Result<Configured, CliError> {
    let (path, key, stdio_type) = match client {
        SetupClient::ClaudeCode => (dir.join(".mcp.json"), "mcpServers", false),
        SetupClient::Cursor => (dir.join(".cursor/mcp.json"), "mcpServers", false),
        SetupClient::Gemini => (dir.join(".gemini/settings.json"), "mcpServers", false),
        SetupClient::Vscode => (dir.join(".vscode/mcp.json"), "servers", true),
        SetupClient::Windsurf => {
            let home = home.ok_or_else(|| {
                CliError::new(
                    ErrorCode::SetupFailed,
                    "Windsurf reads its MCP servers from ~/.codeium/windsurf/mcp_config.json, and HOME is not set",
                    Some("set HOME, then run `kovra setup --client windsurf` again"),
                )
            })?;
            (
                home.join(".codeium/windsurf/mcp_config.json"),
                "mcpServers",
                false,
            )
        }
        SetupClient::Codex => {
            let path = dir.join(".codex/config.toml");
            // The same merge over the entry's environment (Codex's TOML, read as JSON).
            let current = merge::toml_server_env(&path)?;
            let ours = server.json_entry(client, false, server.env);
            let legacy = server.json_entry(client, false, server.legacy_env);
            let env_only = |m: &Map<String, Value>| -> Map<String, Value> {
                m.iter()
                    .filter(|(k, _)| *k == "env")
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            };
            let (merged, mut notes) = server.merged(
                current.as_ref(),
                &env_only(&ours),
                &env_only(&legacy),
                &path,
            );
            let env: Vec<(String, String)> = merged
                .get("env")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                        .collect()
                })
                .unwrap_or_default();
            let change = merge::toml_server(
                path,
                &TomlServer {
                    name: "kovra",
                    command: "kovra",
                    args: &server.args(client),
                    env: &env,
                    env_vars: CODEX_PASS_THROUGH,
                },
            )?;
            if change.changes() {
                notes.push(
                    "Codex CLI reads .codex/config.toml only in a project you trust: answer its \
                     trust prompt (or set it in ~/.codex/config.toml) to get the kovra server"
                        .to_string(),
                );
            }
            return Ok(Configured {
                change,
                notes,
                written: flat(&env_only(&ours)),
            });
        }
    };
    let (before, mut doc) = merge::read_json(&path)?;
    let ours = server.json_entry(client, stdio_type, server.env);
    let legacy = server.json_entry(client, stdio_type, server.legacy_env);
    let current = doc
        .get(key)
        .and_then(|s| s.get("kovra"))
        .and_then(Value::as_object)
        .cloned();
    let (entry, mut notes) = server.merged(current.as_ref(), &ours, &legacy, &path);
    let previous = merge::json_server(&mut doc, key, "kovra", entry, &path)?;
    let change = merge::json_change(path, before, &doc)?;
    if client == SetupClient::Windsurf && change.changes() {
        notes.push(shared_note(&change.path, previous, server));
    }
    Ok(Configured {
        change,
        notes,
        written: flat(&ours),
    })
}

/// Windsurf has one server list for every workspace: say whose scope its `kovra` server
/// now carries, and whose it carried before.
fn shared_note(path: &Path, previous: Option<Value>, server: &Server<'_>) -> String {
    let before = previous
        .as_ref()
        .and_then(|p| p.pointer("/env/KOVRA_MCP_PROJECTS"))
        .and_then(Value::as_str)
        .filter(|p| *p != server.project);
    let mut note = format!(
        "{} is Windsurf's one server list for every workspace: its kovra server now serves project {}",
        path.display(),
        server.project
    );
    if let Some(old) = before {
        note.push_str(&format!(" (it served {old})"));
    }
    note
}
