//! The conventions block `kovra setup` keeps in each client's instructions file (`CLAUDE.md`,
//! `AGENTS.md`, …). Rules come from the human, never from the agent: the block says how to
//! use kovra and what not to touch, and `kovra setup` rewrites it between its markers.

use crate::cli::SetupClient;

pub const BEGIN: &str =
    "<!-- kovra:begin (managed by `kovra setup`; edit outside these markers) -->";
pub const END: &str = "<!-- kovra:end -->";

/// What one client's block says.
pub struct Conventions<'a> {
    pub project: &'a str,
    /// How the environments the agent may address are shown.
    pub environments: &'a str,
    /// The `env =` line of `.env.refs`: what `${ENV}` stands for.
    pub default_env: &'a str,
    pub client: SetupClient,
    pub agent: &'a str,
    /// Claude Code's own sandbox is on (`kovra setup --sandbox`).
    pub sandbox: bool,
}

pub fn block(c: &Conventions<'_>) -> String {
    let Conventions {
        project,
        environments,
        default_env,
        client,
        agent,
        sandbox,
    } = *c;
    let mut text = format!(
        "{BEGIN}
## Secrets: kovra

This project's secrets live in kovra (project `{project}`, environments: {environments}).
You can use them; you cannot see the sensitive ones, and that is intended.

"
    );
    if sandbox {
        text.push_str(
            "- Use kovra only through its MCP tools (`list`, `status`, `run`, `generate`,
  `request_secret`, …): `run` starts a command with the values from `.env.refs`, and its
  output is masked.
- Your Bash tool runs in Claude Code's sandbox, where unix sockets are blocked: the `kovra`
  CLI cannot reach kovra from there, so do not call it in Bash.
- Programs started in Bash reach the network only through kovra's proxy. The API keys they
  need are placeholders, which kovra swaps for the real value on the wire, towards the
  provider's hosts only. Do not try to find or print the real value.
",
        );
    } else {
        text.push_str(
            "- Use the `kovra` MCP tools (`list`, `status`, `run`, `generate`, `request_secret`, …) or
  `kovra run -- COMMAND` in a shell: the command gets the values from `.env.refs`, and its
  output is masked.
",
        );
    }
    text.push_str(&format!(
        "- `.env.refs` says `env = {default_env}`: `${{ENV}}` in its coordinates is {default_env}. For
  another environment, give the `run` tool `env` (`kovra run --env NAME` in a shell).
"
    ));
    if let Some(command) = client.start_command() {
        text.push_str(&format!(
            "- {} is meant to run inside kovra's sandbox, started by the user with
  `kovra sandbox --agent {agent} -- {command}`. Programs started there reach the network
  only through kovra's proxy, and the API keys they need are placeholders. Do not try to
  leave the sandbox or to reach kovra's files and socket.
",
            client.title()
        ));
    }
    text.push_str(&format!(
        "- Never write secret values into files: no `.env` with values, no config with keys. Wire a
  variable in `.env.refs` with a coordinate (`NAME=secret:${{ENV}}/group/key`) instead.
- Never ask the user to paste a secret into the chat. If one is missing, use
  `request_secret` and ask the user to run, in their own terminal, the `kovra add …`
  command its reply names.
- When kovra answers \"approval needed: ID\", ask the user to run `kovra approve ID`, then
  retry. Do not try to get around a refusal.
- Policy, scopes and sensitivities are set by the user only. Do not edit {}, kovra's config or this block.
{END}
",
        client.protected_files()
    ));
    text
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    /// The block tells the agent the commands that work here: `run` with the file's `env =`,
    /// and the exact `kovra add` command `request_secret` names.
    #[test]
    fn the_claude_code_block_names_the_default_environment() {
        let text = block(&Conventions {
            project: "shop",
            environments: "dev",
            default_env: "dev",
            client: SetupClient::ClaudeCode,
            agent: "claude-code-shop",
            sandbox: false,
        });
        assert!(text.starts_with(BEGIN) && text.ends_with(&format!("{END}\n")));
        for needle in [
            "(project `shop`, environments: dev)",
            "`kovra run -- COMMAND` in a shell",
            "`.env.refs` says `env = dev`: `${ENV}` in its coordinates is dev",
            "the `kovra add …`\n  command its reply names",
            "Do not edit `.mcp.json`,\n  `.claude/settings.json`",
        ] {
            assert!(text.contains(needle), "{needle}: {text}");
        }
        assert!(text.lines().all(|l| l.chars().count() <= 100), "{text}");
    }

    #[test]
    fn clients_without_a_sandbox_are_told_to_start_inside_kovras() {
        let text = block(&Conventions {
            project: "shop",
            environments: "dev",
            default_env: "dev",
            client: SetupClient::Codex,
            agent: "codex-shop",
            sandbox: false,
        });
        assert!(
            text.contains("`kovra sandbox --agent codex-shop -- codex`"),
            "{text}"
        );
        assert!(text.contains("`.codex/config.toml`"), "{text}");
    }
}
