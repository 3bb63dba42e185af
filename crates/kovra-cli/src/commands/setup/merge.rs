//! Merging kovra's keys into a client's JSON or TOML configuration. Every other key stays as
//! it was; a file whose content would not change keeps its exact bytes; a file kovra cannot
//! parse is reported and never rewritten.

use std::path::{Path, PathBuf};

use kovra_proto::ErrorCode;
use serde_json::{Map, Value, json};

use super::files::{Change, read};
use crate::error::CliError;

const FIX_HINT: &str = "fix the file (or move it away), then run `kovra setup` again";

fn invalid(code: ErrorCode, path: &Path, what: &str) -> CliError {
    CliError::new(
        code,
        format!("{}: {what}; it was left untouched", path.display()),
        Some(FIX_HINT),
    )
}

/// `path`'s JSON object, or an empty one when the file does not exist.
pub fn read_json(path: &Path) -> Result<(Option<String>, Value), CliError> {
    let before = read(path)?;
    let doc = match &before {
        Some(text) => parse_json(path, text)?,
        None => json!({}),
    };
    Ok((before, doc))
}

fn parse_json(path: &Path, text: &str) -> Result<Value, CliError> {
    let value: Value = serde_json::from_str(text).map_err(|e| {
        invalid(
            ErrorCode::SetupInvalidJson,
            path,
            &format!("not valid JSON ({e}; comments and trailing commas are not JSON)"),
        )
    })?;
    if !value.is_object() {
        return Err(invalid(
            ErrorCode::SetupInvalidJson,
            path,
            "not a JSON object",
        ));
    }
    Ok(value)
}

/// The document's top-level object (`read_json` makes sure there is one).
pub fn root<'a>(doc: &'a mut Value, path: &Path) -> Result<&'a mut Map<String, Value>, CliError> {
    doc.as_object_mut()
        .ok_or_else(|| invalid(ErrorCode::SetupInvalidJson, path, "not a JSON object"))
}

/// The object at `key` in `parent`, created empty when absent. `name` is how the error
/// names it (`mcpServers`, `sandbox.filesystem`).
pub fn object_in<'a>(
    parent: &'a mut Map<String, Value>,
    key: &str,
    path: &Path,
    name: &str,
) -> Result<&'a mut Map<String, Value>, CliError> {
    parent
        .entry(key)
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .ok_or_else(|| {
            invalid(
                ErrorCode::SetupInvalidJson,
                path,
                &format!("`{name}` is not a JSON object"),
            )
        })
}

/// Add each of `items` missing from the list at `key` (created when absent), keeping the
/// entries already there and their order.
pub fn union(
    parent: &mut Map<String, Value>,
    key: &str,
    items: &[String],
    path: &Path,
    name: &str,
) -> Result<(), CliError> {
    let list = parent
        .entry(key)
        .or_insert_with(|| json!([]))
        .as_array_mut()
        .ok_or_else(|| {
            invalid(
                ErrorCode::SetupInvalidJson,
                path,
                &format!("`{name}` is not a list"),
            )
        })?;
    for item in items {
        if !list.iter().any(|v| v.as_str() == Some(item)) {
            list.push(json!(item));
        }
    }
    Ok(())
}

fn pretty(value: &Value) -> String {
    let mut s = serde_json::to_string_pretty(value).unwrap_or_default();
    s.push('\n');
    s
}

/// The change to a JSON file. Unchanged content keeps its exact bytes (and formatting), so
/// a second run writes nothing.
pub fn json_change(path: PathBuf, before: Option<String>, doc: &Value) -> Result<Change, CliError> {
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

/// Set the server `name` under `servers_key` to `entry` (already merged with what was
/// there), keeping the file's other servers. Returns the server's previous value.
pub fn json_server(
    doc: &mut Value,
    servers_key: &str,
    name: &str,
    entry: Map<String, Value>,
    path: &Path,
) -> Result<Option<Value>, CliError> {
    let servers = object_in(root(doc, path)?, servers_key, path, servers_key)?;
    let previous = servers.get(name).cloned();
    object_in(servers, name, path, &format!("{servers_key}.{name}"))?;
    servers.insert(name.to_string(), Value::Object(entry));
    Ok(previous)
}

fn parse_toml(path: &Path, text: &str) -> Result<toml_edit::DocumentMut, CliError> {
    text.parse::<toml_edit::DocumentMut>().map_err(|e| {
        invalid(
            ErrorCode::SetupInvalidToml,
            path,
            &format!("not valid TOML ({})", e.to_string().trim_end()),
        )
    })
}

fn not_a_table(path: &Path, name: &str) -> CliError {
    invalid(
        ErrorCode::SetupInvalidToml,
        path,
        &format!("`{name}` is not a table"),
    )
}

/// The `env` of `[mcp_servers.kovra]` in Codex's `config.toml`, as a JSON object entry
/// (`None` when there is no such server), for the same merge as the JSON clients'.
pub fn toml_server_env(path: &Path) -> Result<Option<Map<String, Value>>, CliError> {
    let Some(text) = read(path)? else {
        return Ok(None);
    };
    parse_toml(path, &text)?;
    let table: toml::Table = toml::from_str(&text).map_err(|e| {
        invalid(
            ErrorCode::SetupInvalidToml,
            path,
            &format!("not valid TOML ({})", e.to_string().trim_end()),
        )
    })?;
    let Some(server) = table
        .get("mcp_servers")
        .and_then(|s| s.get("kovra"))
        .and_then(|s| s.as_table())
    else {
        return Ok(None);
    };
    let env: Map<String, Value> = server
        .get("env")
        .and_then(|e| e.as_table())
        .map(|t| {
            t.iter()
                .filter_map(|(k, v)| Some((k.clone(), json!(v.as_str()?))))
                .collect()
        })
        .unwrap_or_default();
    Ok(Some(
        [("env".to_string(), Value::Object(env))]
            .into_iter()
            .collect(),
    ))
}

/// A server for Codex's `config.toml`: `[mcp_servers.NAME]` with `command`, `args`, `env`
/// and `env_vars`.
pub struct TomlServer<'a> {
    pub name: &'a str,
    pub command: &'a str,
    pub args: &'a [String],
    pub env: &'a [(String, String)],
    /// Variables of the client's own environment to pass through to the server.
    pub env_vars: &'a [&'a str],
}

/// `path` with `server` set under `[mcp_servers]`, comments, layout and every other key
/// kept (`toml_edit`).
pub fn toml_server(path: PathBuf, server: &TomlServer<'_>) -> Result<Change, CliError> {
    let before = read(&path)?;
    let mut doc = match &before {
        Some(text) => parse_toml(&path, text)?,
        None => toml_edit::DocumentMut::new(),
    };
    let servers = doc.entry("mcp_servers").or_insert_with(|| {
        let mut t = toml_edit::Table::new();
        t.set_implicit(true);
        toml_edit::Item::Table(t)
    });
    let servers = servers
        .as_table_like_mut()
        .ok_or_else(|| not_a_table(&path, "mcp_servers"))?;
    let entry = servers
        .entry(server.name)
        .or_insert(toml_edit::Item::Table(toml_edit::Table::new()));
    let inline = entry.is_inline_table();
    let entry = entry
        .as_table_like_mut()
        .ok_or_else(|| not_a_table(&path, &format!("mcp_servers.{}", server.name)))?;
    entry.insert("command", toml_edit::value(server.command));
    entry.insert(
        "args",
        toml_edit::value(server.args.iter().collect::<toml_edit::Array>()),
    );
    let env = if inline {
        let mut t = toml_edit::InlineTable::new();
        for (k, v) in server.env {
            t.insert(k, v.into());
        }
        toml_edit::value(t)
    } else {
        let mut t = toml_edit::Table::new();
        for (k, v) in server.env {
            t.insert(k, toml_edit::value(v));
        }
        toml_edit::Item::Table(t)
    };
    entry.insert("env", env);
    entry.insert(
        "env_vars",
        toml_edit::value(
            server
                .env_vars
                .iter()
                .copied()
                .collect::<toml_edit::Array>(),
        ),
    );
    let edited = doc.to_string();
    // Same meaning as before: keep the bytes the user has.
    let same = before.as_deref().is_some_and(|text| {
        let old = toml::from_str::<toml::Table>(text);
        let new = toml::from_str::<toml::Table>(&edited);
        matches!((old, new), (Ok(a), Ok(b)) if a == b)
    });
    let after = match &before {
        Some(text) if same => text.clone(),
        _ => edited,
    };
    Ok(Change {
        path,
        before,
        after,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn server<'a>(args: &'a [String], env: &'a [(String, String)]) -> TomlServer<'a> {
        TomlServer {
            name: "kovra",
            command: "kovra",
            args,
            env,
            env_vars: &["KOVRA_HOME"],
        }
    }

    #[test]
    fn toml_keeps_comments_and_other_servers_and_a_second_run_keeps_the_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let text =
            "# my settings\nmodel = \"o3\"\n\n[mcp_servers.docs]\ncommand = \"docs\" # a note\n";
        std::fs::write(&path, text).unwrap();
        let args = vec!["mcp".to_string()];
        let env = vec![("KOVRA_PROJECT".to_string(), "shop".to_string())];
        let change = toml_server(path.clone(), &server(&args, &env)).unwrap();
        assert!(change.after.starts_with(text), "{}", change.after);
        let parsed: toml::Table = toml::from_str(&change.after).unwrap();
        assert_eq!(
            parsed["mcp_servers"]["kovra"]["env"]["KOVRA_PROJECT"].as_str(),
            Some("shop")
        );
        std::fs::write(&path, &change.after).unwrap();
        let again = toml_server(path, &server(&args, &env)).unwrap();
        assert_eq!(again.before.as_deref(), Some(again.after.as_str()));
    }

    #[test]
    fn toml_sets_an_inline_server_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(
            &path,
            "mcp_servers = { kovra = { command = \"old\", startup_timeout_sec = 5 } }\n",
        )
        .unwrap();
        let args = vec!["mcp".to_string()];
        let env = vec![("KOVRA_PROJECT".to_string(), "shop".to_string())];
        let change = toml_server(path, &server(&args, &env)).unwrap();
        let parsed: toml::Table = toml::from_str(&change.after).unwrap();
        let kovra = &parsed["mcp_servers"]["kovra"];
        assert_eq!(kovra["command"].as_str(), Some("kovra"));
        assert_eq!(kovra["startup_timeout_sec"].as_integer(), Some(5));
        assert_eq!(kovra["env"]["KOVRA_PROJECT"].as_str(), Some("shop"));
    }
}
