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
    pub client: SetupClient,
    pub agent: &'a str,
    /// Claude Code's own sandbox is on (`kovra setup --sandbox`).
    pub sandbox: bool,
}

pub fn block(c: &Conventions<'_>) -> String {
    let Conventions {
        project,
        environments,
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
  `request_secret` and ask the user to run `kovra add COORDINATE` in their own terminal.
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

    /// The block Claude Code users had before `--client` existed: a second run of a newer
    /// `kovra setup` leaves their `CLAUDE.md` as it is.
    #[test]
    fn the_claude_code_block_is_the_one_setup_always_wrote() {
        let old = format!(
            "{BEGIN}
## Secrets: kovra

This project's secrets live in kovra (project `shop`, environments: dev).
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
        );
        let now = block(&Conventions {
            project: "shop",
            environments: "dev",
            client: SetupClient::ClaudeCode,
            agent: "claude-code-shop",
            sandbox: false,
        });
        assert_eq!(now, old);
    }

    #[test]
    fn clients_without_a_sandbox_are_told_to_start_inside_kovras() {
        let text = block(&Conventions {
            project: "shop",
            environments: "dev",
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
