//! What the model is told when a call fails, in terms of tools and their arguments.
//!
//! The daemon's hints are written for a human at the CLI (`--env dev`, "run `kovra
//! unlock`"). A model that reads them tries flags its tools do not have, or runs a command
//! that needs a terminal it lacks; each wasted call is a round trip. So the errors the
//! model can act on get a hint naming tools and arguments, and everything only the human
//! can do is said as a human step ("ask the human to run … in their terminal").

use kovra_proto::ErrorCode;

/// CLI flags and the tool argument that means the same, longest first (so `--env ENV`
/// goes before `--env`). Flags with no tool counterpart are not listed: a hint that still
/// names one is the human's business (see [`human_step`]).
const FLAG_ARGUMENTS: &[(&str, &str)] = &[
    ("--env ENV", "the `env` argument"),
    ("--env", "the `env` argument"),
    ("--secret", "the `secret` argument"),
    ("--query", "the `query` argument"),
    ("--timeout", "`timeout_secs`"),
];

/// Phrases that tell the reader to act at a terminal themselves: to a model that is a
/// dead end, so they become a request to the human.
const SELF_STEPS: &[(&str, &str)] = &[
    (
        "use the CLI at your own terminal",
        "ask the human to widen it, or to do this in their own terminal",
    ),
    (
        "run the command yourself at a terminal, where kovra can ask for your passphrase",
        "ask the human to do this in their own terminal, where kovra can ask for their passphrase",
    ),
];

/// The message and hint the model reads for a refusal `code` of `tool`: one line, with no
/// CLI flag it could mistake for an argument (flags appear only inside a `kovra …`
/// command the human is asked to run).
pub(crate) fn for_agent(code: ErrorCode, message: &str, hint: Option<&str>, tool: &str) -> String {
    if let Some(whole) = replaced(code, tool) {
        return whole;
    }
    let message = translate(message);
    match agent_hint(code, message.as_str(), tool).or_else(|| hint.map(generic)) {
        Some(hint) => format!("{message} (hint: {hint})"),
        None => message,
    }
}

/// A client-side failure (reaching the daemon): always something the human fixes.
pub(crate) fn for_agent_client(message: &str, hint: &str) -> String {
    format!(
        "{message} (hint: the kovra daemon is the human's to run: ask them to fix this in their terminal: {hint})"
    )
}

/// Errors whose whole answer is one human step, stated exactly.
fn replaced(code: ErrorCode, tool: &str) -> Option<String> {
    match code {
        ErrorCode::VaultLocked => Some(format!(
            "the vault is locked; ask the human to run `kovra unlock` in a terminal, then call {tool} again"
        )),
        ErrorCode::NotInitialized => Some(format!(
            "there is no kovra vault yet; ask the human to run `kovra init` in a terminal, then call {tool} again"
        )),
        _ => None,
    }
}

/// The hint for errors the model can fix with its own tools.
fn agent_hint(code: ErrorCode, message: &str, tool: &str) -> Option<String> {
    let hint = match code {
        ErrorCode::NotFound => {
            "call `list` to see the records this session can address; to ask the human for a missing value, call `request_secret` with its coordinate"
        }
        ErrorCode::Unresolved => {
            "call `list` to see the records this session can address; fix the coordinate in `refs` (or the `env` argument), or call `request_secret` with the missing coordinate"
        }
        ErrorCode::CoordinateInvalid | ErrorCode::EnvUnset if message.contains("${ENV}") => {
            if matches!(tool, "run" | "api") {
                "pass the `env` argument (e.g. `env: \"dev\"`) so `${ENV}` is replaced"
            } else {
                "write the environment into the coordinate, e.g. `secret:dev/GROUP/NAME`"
            }
        }
        // `${env:NAME}` reads the environment of this server, which the human configured.
        ErrorCode::EnvUnset => {
            "the variable is read from this MCP server's environment, which the human sets in the MCP client's configuration: ask them to set it there, or add `| fallback` to that line of `refs`"
        }
        ErrorCode::AlreadyExists => {
            "pick another coordinate; replacing a value is the human's step: ask them to run `kovra set COORD` in their terminal"
        }
        ErrorCode::UnknownProject => {
            "call `status` for the projects this session may address; creating one is the human's step: ask them to run `kovra project create NAME` in their terminal"
        }
        ErrorCode::SshHostUnknown => {
            "call `ssh_hosts` to see the hosts `ssh` can reach; adding one (and accepting its host key) is the human's step: ask them to run `kovra ssh-host add NAME ADDRESS --user USER` in their terminal"
        }
        ErrorCode::SshHostKeyChanged => {
            "stop: the host presents a key the human did not accept, which can mean someone is in between; tell the human, do not retry"
        }
        ErrorCode::UnknownProvider => "call `providers` to see the providers `api` can call",
        ErrorCode::NoCredential => {
            "pass the `secret` argument with the coordinate of a record pinned to this provider, or call `request_secret` with the coordinate above"
        }
        ErrorCode::CapabilityDenied | ErrorCode::HostInvalid => {
            "call `providers` with `name` set to the provider to see its hosts, methods and paths"
        }
        ErrorCode::PathInvalid => {
            "give `path` as the API documents it, starting with `/`, without `.` or `..` segments; put query parameters in the `query` argument"
        }
        ErrorCode::UpstreamTimeout => "retry, or raise `timeout_secs` (at most 300)",
        _ => return None,
    };
    Some(hint.to_string())
}

/// A daemon hint with no tool-specific rewrite: flags become arguments, self-steps become
/// human steps, and a hint that still names a flag or a command is the human's to act on.
fn generic(hint: &str) -> String {
    let mut hint = translate(hint);
    for (from, to) in SELF_STEPS {
        hint = hint.replace(from, to);
    }
    if has_bare_flag(&hint) {
        return "this is the human's to do with the kovra CLI: ask them to do it in their own terminal".to_string();
    }
    if hint.contains("`kovra ") && !hint.contains("human") {
        return human_step(&hint);
    }
    hint
}

/// A CLI step said as the human's.
fn human_step(hint: &str) -> String {
    format!("this is the human's step: ask them, in their own terminal: {hint}")
}

/// `text` with every CLI flag that has a tool argument named as that argument.
fn translate(text: &str) -> String {
    let mut out = text.to_string();
    for (flag, argument) in FLAG_ARGUMENTS {
        out = replace_flag(&out, flag, argument);
    }
    out
}

/// Replace `flag` where it stands as a whole flag outside backticked `kovra …` commands.
fn replace_flag(text: &str, flag: &str, argument: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for span in spans(text) {
        if span.command {
            out.push_str(span.text);
            continue;
        }
        let mut rest = span.text;
        while let Some(at) = rest.find(flag) {
            let after = &rest[at + flag.len()..];
            let whole = !after.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '-');
            out.push_str(&rest[..at]);
            out.push_str(if whole { argument } else { flag });
            rest = after;
        }
        out.push_str(rest);
    }
    out
}

/// Whether `text` names a `--flag` outside a backticked `kovra …` command (a command the
/// human is asked to run may carry flags; the model must never read one as its own).
pub(crate) fn has_bare_flag(text: &str) -> bool {
    spans(text).iter().filter(|s| !s.command).any(|s| {
        s.text.match_indices("--").any(|(at, _)| {
            let before_ok = s.text[..at]
                .chars()
                .next_back()
                .is_none_or(|c| !c.is_ascii_alphanumeric() && c != '-');
            let after_ok = s.text[at + 2..]
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_lowercase());
            before_ok && after_ok
        })
    })
}

struct Span<'a> {
    text: &'a str,
    /// A backticked `kovra …` command.
    command: bool,
}

/// `text` cut at backticks, marking the backticked spans that are `kovra` commands.
fn spans(text: &str) -> Vec<Span<'_>> {
    let mut out = Vec::new();
    let mut inside = false;
    for part in text.split_inclusive('`') {
        // A part ends with its closing or opening backtick, which stays with it.
        let command = inside && part.starts_with("kovra ");
        out.push(Span {
            text: part,
            command,
        });
        if part.ends_with('`') {
            inside = !inside;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_locked_vault_is_one_human_step() {
        let text = for_agent(
            ErrorCode::VaultLocked,
            "the vault is locked",
            Some("run `kovra unlock`"),
            "list",
        );
        assert_eq!(
            text,
            "the vault is locked; ask the human to run `kovra unlock` in a terminal, then call list again"
        );
    }

    #[test]
    fn flags_become_arguments_and_commands_keep_theirs() {
        let text = for_agent(
            ErrorCode::CoordinateInvalid,
            "`${ENV}` is a template placeholder: substitute an environment (--env) before addressing",
            Some("pass --env ENV so `${ENV}` is replaced"),
            "run",
        );
        assert!(!has_bare_flag(&text), "{text}");
        assert!(text.contains("`env: \"dev\"`"), "{text}");
        let text = for_agent(
            ErrorCode::PolicyDenied,
            "run refused",
            Some("start the agent (or its MCP server) inside `kovra sandbox --agent NAME`"),
            "run",
        );
        assert!(!has_bare_flag(&text), "{text}");
        assert!(text.contains("`kovra sandbox --agent NAME`"), "{text}");
        assert!(text.contains("human"), "{text}");
        let text = for_agent(
            ErrorCode::PolicyDenied,
            "refused",
            Some("drop --values: the program gets a placeholder"),
            "run",
        );
        assert!(!has_bare_flag(&text), "{text}");
    }

    #[test]
    fn self_steps_become_the_humans() {
        let text = for_agent(
            ErrorCode::PolicyDenied,
            "this session's scope does not grant that operation",
            Some(
                "this session's scope is set by the human (`kovra setup`); use the CLI at your own terminal",
            ),
            "reveal",
        );
        assert!(!text.contains("your own terminal"), "{text}");
        assert!(text.contains("ask the human"), "{text}");
    }

    #[test]
    fn bare_flags_are_found_outside_commands_only() {
        assert!(has_bare_flag("pass --env dev"));
        assert!(has_bare_flag("(--project)"));
        assert!(!has_bare_flag(
            "ask the human to run `kovra add COORD --project app`"
        ));
        assert!(!has_bare_flag("a -- b, x--y, 2026-12--01"));
    }
}
