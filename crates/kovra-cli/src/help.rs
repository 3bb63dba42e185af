//! The command line as shown to people: `cli.rs` defines it, this module arranges its help
//! (commands grouped by task, global flags only where they mean something, exit codes). The
//! parser, `kovra completions` and `kovra man` all take the [`command`] built here, so what
//! the help says is what completes and what the man page documents.

use clap::{Command, CommandFactory};

use crate::cli::Cli;

/// The top-level commands by task, in the order `kovra --help` shows them. Every visible
/// command belongs to exactly one group (a unit test checks it); one missing here is still
/// listed, under "Other", rather than lost.
const GROUPS: &[(&str, &[&str])] = &[
    (
        "Vault",
        &[
            "init",
            "unlock",
            "lock",
            "status",
            "passwd",
            "rotate-key",
            "2fa",
            "passkey",
            "project",
            "daemon",
        ],
    ),
    (
        "Recovery",
        &["recovery-kit", "recover", "backup", "restore"],
    ),
    (
        "Records",
        &[
            "add",
            "set",
            "generate",
            "list",
            "show",
            "fingerprint",
            "edit",
            "rm",
            "mv",
            "rename",
            "history",
            "rollback",
            "reveal",
            "code",
        ],
    ),
    ("Run with secrets", &["run", "doctor", "scaffold"]),
    ("Agents", &["setup", "mcp", "agent", "sandbox"]),
    (
        "Approvals",
        &["approve", "deny", "grants", "requests", "allow", "confirm"],
    ),
    ("Guards", &["hooks"]),
    ("Broker", &["api", "providers", "bind", "query"]),
    (
        "SSH keys",
        &["keygen", "pubkey", "sign", "ssh-agent", "ssh", "ssh-host"],
    ),
    (
        "Sharing",
        &["identity", "share", "receive", "kit", "import", "export"],
    ),
    ("Audit", &["audit", "canary"]),
    ("Getting started", &["demo", "ui", "completions", "help"]),
];

/// Where `--json` means nothing: no kovra document is ever printed (a daemon, a protocol on
/// stdout, generated scripts). The flag is still accepted there, so scripts that pass it
/// everywhere keep working; it is only left out of their help. Applies to subcommands too.
const NO_JSON: &[&str] = &["demo", "daemon", "mcp", "completions", "man"];

/// Where `--project` means nothing: the command acts on the whole home (key, daemon, second
/// factor, allowlist, approvals, audit chain, provider registry, sharing identity) or takes
/// its scope from elsewhere (`mcp` from KOVRA_MCP_PROJECTS, agent profiles from --projects).
const NO_PROJECT: &[&str] = &[
    "canary list",
    "init",
    "unlock",
    "lock",
    "status",
    "passwd",
    "rotate-key",
    "recovery-kit",
    "recover",
    "backup",
    "restore",
    "2fa",
    "passkey",
    "project",
    "daemon",
    "demo",
    "mcp",
    "agent create",
    "agent list",
    "agent revoke",
    "allow",
    "approve",
    "deny",
    "grants",
    "identity",
    "audit",
    "providers",
    "completions",
    "man",
];

const TOP_EXAMPLES: &str = "Examples:
  kovra demo                                  # a guided tour on a throwaway vault
  kovra init                                  # create your vault (asks for a passphrase)
  kovra add secret:dev/db/password            # store a value (asks for it, hidden)
  kovra run -- npm test                       # run with the values .env.refs names
  kovra setup --client claude-code            # wire this directory for an agent
  kovra <COMMAND> --help                      # every command's options and examples";

/// The whole command line: the parser, the help, the completions and the man page.
pub fn command() -> Command {
    let mut cmd = Cli::command().bin_name("kovra").after_help(format!(
        "{TOP_EXAMPLES}\n\n{}",
        kovra_proto::error_code::exit_code_help()
    ));
    // Built first, so the global flags have reached every subcommand and can be hidden there
    // (a built command is not propagated again), and the `help` subcommand exists to group.
    cmd.build();
    // Every command's own options first, then the global flags, then --help.
    cmd = last_globals(cmd);
    for path in NO_JSON {
        hide_arg(&mut cmd, path, "json");
    }
    for path in NO_PROJECT {
        hide_arg(&mut cmd, path, "project");
    }
    let template = template(&cmd);
    cmd.help_template(template)
}

fn last_globals(cmd: Command) -> Command {
    cmd.mut_args(|a| {
        if a.get_id() == "help" {
            a.display_order(usize::MAX)
        } else if a.is_global_set() {
            a.display_order(usize::MAX - 1)
        } else {
            a
        }
    })
    .mut_subcommands(last_globals)
}

/// Hide the global argument `id` in the help of the command at `path` and all below it.
/// (`mut_subcommands`/`mut_args` keep the order; `mut_subcommand` would move it to the end.)
fn hide_arg(cmd: &mut Command, path: &str, id: &str) {
    fn walk(cmd: Command, id: &str) -> Command {
        cmd.mut_args(|a| if a.get_id() == id { a.hide(true) } else { a })
            .mut_subcommands(|s| walk(s, id))
    }
    fn at(cmd: Command, path: &[&str], id: &str) -> Command {
        match path.split_first() {
            None => walk(cmd, id),
            Some((first, rest)) => cmd.mut_subcommands(|s| {
                if s.get_name() == *first {
                    at(s, rest, id)
                } else {
                    s
                }
            }),
        }
    }
    let path: Vec<&str> = path.split(' ').collect();
    let taken = std::mem::replace(cmd, Command::new("kovra"));
    *cmd = at(taken, &path, id);
}

/// The top-level help template: clap's own layout, with the command list replaced by one
/// section per group generated from [`GROUPS`] and the commands' own about lines.
fn template(cmd: &Command) -> String {
    let styles = cmd.get_styles();
    let (h, h_end) = (
        styles.get_header().render(),
        styles.get_header().render_reset(),
    );
    let (l, l_end) = (
        styles.get_literal().render(),
        styles.get_literal().render_reset(),
    );
    let visible: Vec<&Command> = cmd.get_subcommands().filter(|s| !s.is_hide_set()).collect();
    let width = visible
        .iter()
        .map(|s| s.get_name().len())
        .max()
        .unwrap_or(0);
    let mut sections: Vec<(&str, Vec<&Command>)> = GROUPS
        .iter()
        .map(|(title, names)| {
            let members = names
                .iter()
                .filter_map(|n| visible.iter().find(|s| s.get_name() == *n).copied())
                .collect();
            (*title, members)
        })
        .collect();
    let other: Vec<&Command> = visible
        .iter()
        .filter(|s| group_of(s.get_name()).is_none())
        .copied()
        .collect();
    sections.push(("Other", other));
    let mut text = String::from("{before-help}{about-with-newline}\n{usage-heading} {usage}\n\n");
    for (title, members) in sections.iter().filter(|(_, m)| !m.is_empty()) {
        text.push_str(&format!("{h}{title}:{h_end}\n"));
        for sub in members {
            let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
            let name = sub.get_name();
            let pad = " ".repeat(width - name.len());
            let about =
                wrap(&about, WIDTH - width - 4).join(&format!("\n{}", " ".repeat(width + 4)));
            text.push_str(&format!("  {l}{name}{l_end}{pad}  {about}\n"));
        }
        text.push('\n');
    }
    text.push_str(&format!("{h}Options:{h_end}\n{{options}}{{after-help}}"));
    text
}

/// The widest line of the generated command list (clap wraps the rest of the help itself).
const WIDTH: usize = 100;

/// `text` in lines of at most `width` columns, broken between words.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for word in text.split_whitespace() {
        match lines.last_mut() {
            Some(line) if line.chars().count() + 1 + word.chars().count() <= width => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(word.to_string()),
        }
    }
    lines
}

/// The group a top-level command is listed under.
fn group_of(name: &str) -> Option<&'static str> {
    GROUPS
        .iter()
        .find(|(_, names)| names.contains(&name))
        .map(|(title, _)| *title)
}

#[cfg(test)]
#[allow(clippy::panic)]
mod tests;
