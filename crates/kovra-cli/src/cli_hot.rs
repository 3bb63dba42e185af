//! The arguments of the commands scripts and agents call in loops (`run`, `status`, `list`), and a
//! parser for them alone. Building the whole command tree (every command, its help and
//! examples, `help::command`'s rearranging) costs more than the rest of a `kovra run -- true`
//! in the client: [`parse`] tries these commands first and gives way to the full parser for
//! anything else, including every error and help request, so what is printed never differs.

use std::path::PathBuf;

use clap::{Args, FromArgMatches, Parser, Subcommand};

use crate::cli::{Cli, Command};

/// The flags every command takes (also by the fast path, [`parse`]).
#[derive(Debug, Args)]
pub struct Globals {
    /// Print machine-readable JSON on stdout (errors too).
    #[arg(long, global = true)]
    pub json: bool,
    /// Project vault to address first (falls back to the global vault).
    #[arg(long, global = true, env = "KOVRA_PROJECT")]
    pub project: Option<String>,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Also list the agent profiles: their scope, sockets, sandboxes and last request.
    #[arg(long)]
    pub agents: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only records of this environment (the ENV in `secret:ENV/GROUP/KEY`).
    #[arg(long, value_name = "ENV")]
    pub env: Option<String>,
    /// Print descriptions whole instead of fitting the terminal.
    #[arg(long)]
    pub wide: bool,
    /// Skip the first N records (in the order shown), to read a large vault in pages.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub offset: usize,
    /// Show at most N records (after --offset).
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
}

/// The values `run --egress` takes, the default first (clap and the hand-read path both
/// check against it).
const EGRESS: [&str; 2] = ["open", "pinned-only"];

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The environment substituted for `${ENV}` in coordinates (default: the `.env.refs`
    /// `env =` line, then KOVRA_ENV).
    #[arg(long = "env", value_name = "ENV")]
    pub env_name: Option<String>,
    /// The refs file (default: ./.env.refs).
    #[arg(long, value_name = "FILE")]
    pub refs: Option<PathBuf>,
    /// Inject only this variable (repeatable).
    #[arg(long, value_name = "NAME")]
    pub only: Vec<String>,
    /// Inject nothing (KOVRA_* variables are still removed).
    #[arg(long, conflicts_with = "only")]
    pub no_secrets: bool,
    /// Keep this variable of yours in a run that gets protected values (repeatable; those
    /// runs otherwise get only PATH, HOME, USER, LANG, LC_*, TERM, TZ, TMPDIR and the refs).
    /// Loader and interpreter hooks (LD_*, NODE_OPTIONS, PYTHON*, BASH_ENV, …) are refused.
    #[arg(long = "keep-env", value_name = "NAME")]
    pub keep_env: Vec<String>,
    /// Give the real values of records pinned to a provider, not placeholders (an agent's
    /// run then needs a proof).
    #[arg(long, conflicts_with = "placeholders")]
    pub values: bool,
    /// Give placeholders for records pinned to a provider: the egress proxy puts the value
    /// on the wire, only towards the provider's hosts (an agent's run always gets them).
    #[arg(long)]
    pub placeholders: bool,
    /// `pinned-only`: refuse tunnels to hosts no placeholder of the run is pinned to.
    #[arg(long, value_name = "POLICY", value_parser = EGRESS, default_value = EGRESS[0])]
    pub egress: String,
    /// The command and its arguments, after `--`.
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    pub command: Vec<String>,
}

/// The hot commands with the global flags, parsed exactly as in [`Cli`] (same structs).
#[derive(Debug, Parser)]
#[command(name = "kovra")]
struct HotCli {
    #[command(flatten)]
    globals: Globals,
    #[command(subcommand)]
    command: HotCommand,
}

#[derive(Debug, Subcommand)]
enum HotCommand {
    Run(RunArgs),
    Status(StatusArgs),
    List(ListArgs),
}

/// The command line when it is one of the hot commands and parses cleanly; `None` for
/// anything else (another command, `--help`, `--version`, a usage error), which the full
/// parser then handles and reports.
pub fn parse(args: &[std::ffi::OsString]) -> Option<Cli> {
    if let Some(cli) = quick_run(args) {
        return Some(cli);
    }
    let mut rest = args.iter().skip(1);
    let first = loop {
        let arg = rest.next()?;
        if arg == "--project" {
            rest.next()?;
        } else if arg != "--json" && !arg.to_string_lossy().starts_with("--project=") {
            break arg;
        }
    };
    if !["run", "status", "list"].iter().any(|hot| first == *hot) {
        return None;
    }
    let matches = <HotCli as clap::CommandFactory>::command()
        .try_get_matches_from(args)
        .ok()?;
    let hot = HotCli::from_arg_matches(&matches).ok()?;
    let command = match hot.command {
        HotCommand::Run(args) => Command::Run(args),
        HotCommand::Status(args) => Command::Status(args),
        HotCommand::List(args) => Command::List(args),
    };
    Some(Cli {
        globals: hot.globals,
        command,
    })
}

/// `kovra [GLOBALS] run [FLAGS] -- COMMAND...` read without clap, the shape scripts and
/// agents use: building clap's parser for it was a fifth of the instructions a
/// `kovra run -- true` executes in this program, and its code is paged in afresh at every
/// start. Only a strict subset is taken: every flag as `--flag value` (no `=`, no value that
/// starts with `-` or is empty), none of the single-valued ones twice, no conflicting pair,
/// and the command after an explicit `--`. Anything else is `None`, left to clap, so an
/// unusual line is read (or refused) exactly as before; a test checks both readings agree.
fn quick_run(args: &[std::ffi::OsString]) -> Option<Cli> {
    let mut words = Vec::with_capacity(args.len());
    for arg in args.iter().skip(1) {
        words.push(arg.to_str()?);
    }
    let mut words = words.into_iter();
    let (mut json, mut project) = (false, None);
    let mut run = RunArgs {
        env_name: None,
        refs: None,
        only: Vec::new(),
        no_secrets: false,
        keep_env: Vec::new(),
        values: false,
        placeholders: false,
        egress: String::new(),
        command: Vec::new(),
    };
    let mut seen_run = false;
    let mut egress = None;
    loop {
        let word = words.next()?;
        let flag_set = |flag: &mut bool| (!std::mem::replace(flag, true)).then_some(());
        match word {
            "run" if !seen_run => seen_run = true,
            "--" if seen_run => break,
            "--json" => flag_set(&mut json)?,
            "--no-secrets" if seen_run => flag_set(&mut run.no_secrets)?,
            "--values" if seen_run => flag_set(&mut run.values)?,
            "--placeholders" if seen_run => flag_set(&mut run.placeholders)?,
            _ => {
                let value = words
                    .next()
                    .filter(|v| !v.is_empty() && !v.starts_with('-'))?;
                let once = |slot: &mut Option<String>| {
                    slot.replace(value.to_string()).is_none().then_some(())
                };
                match word {
                    "--project" => once(&mut project)?,
                    "--env" if seen_run => once(&mut run.env_name)?,
                    "--egress" if seen_run => once(&mut egress)?,
                    "--refs" if seen_run && run.refs.is_none() => {
                        run.refs = Some(PathBuf::from(value));
                    }
                    "--only" if seen_run => run.only.push(value.to_string()),
                    "--keep-env" if seen_run => run.keep_env.push(value.to_string()),
                    _ => return None,
                }
            }
        }
    }
    run.command = words.map(str::to_string).collect();
    run.egress = egress.unwrap_or_else(|| EGRESS[0].to_string());
    let conflict = (run.no_secrets && !run.only.is_empty()) || (run.values && run.placeholders);
    if run.command.is_empty() || conflict || !EGRESS.contains(&&*run.egress) {
        return None;
    }
    // `--project`'s fallback, as clap reads it; an empty or unreadable one is left to clap.
    if project.is_none()
        && let Some(v) = std::env::var_os("KOVRA_PROJECT")
    {
        project = Some(v.into_string().ok().filter(|v| !v.is_empty())?);
    }
    Some(Cli {
        globals: Globals { json, project },
        command: Command::Run(run),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn full(line: &[&str]) -> Result<Cli, clap::Error> {
        crate::help::command()
            .try_get_matches_from(line)
            .and_then(|m| Cli::from_arg_matches(&m))
    }

    fn os(line: &[&str]) -> Vec<std::ffi::OsString> {
        line.iter().map(Into::into).collect()
    }

    /// Whatever the fast path accepts, the full parser reads identically; whatever it does
    /// not, it leaves to the full parser.
    #[test]
    fn the_fast_path_parses_exactly_as_the_full_parser() {
        let hot: &[&[&str]] = &[
            &["kovra", "run", "--", "true"],
            &["kovra", "run", "true"],
            &[
                "kovra", "--json", "run", "--env", "dev", "--", "sh", "-c", "x",
            ],
            &[
                "kovra",
                "--project",
                "p",
                "run",
                "--refs",
                "f",
                "--",
                "true",
            ],
            &["kovra", "--project=p", "status", "--agents"],
            &["kovra", "--project", "run", "status"],
            &["kovra", "list"],
            &[
                "kovra", "list", "--json", "--env", "dev", "--offset", "10", "--limit", "5",
            ],
            &["kovra", "--project", "p", "list", "--wide"],
            &["kovra", "status", "--json"],
            &[
                "kovra",
                "run",
                "--only",
                "A",
                "--only",
                "B",
                "--keep-env",
                "K",
                "--",
                "a",
                "--json",
            ],
            &[
                "kovra",
                "run",
                "--placeholders",
                "--egress",
                "pinned-only",
                "--",
                "curl",
            ],
            &["kovra", "run", "--no-secrets", "--", "true"],
        ];
        for line in hot {
            let fast = parse(&os(line)).unwrap_or_else(|| panic!("{line:?} not fast"));
            let full = full(line).unwrap();
            assert_eq!(format!("{fast:?}"), format!("{full:?}"), "{line:?}");
        }
        let not_hot: &[&[&str]] = &[
            &["kovra"],
            &["kovra", "--version"],
            &["kovra", "--help"],
            &["kovra", "run", "--help"],
            &["kovra", "run"],
            &["kovra", "run", "--egress", "nowhere", "--", "true"],
            &["kovra", "run", "--only", "A", "--no-secrets", "--", "true"],
            &["kovra", "status", "extra"],
            &["kovra", "list", "--limit", "many"],
            &["kovra", "lists"],
            &["kovra", "help", "run"],
        ];
        for line in not_hot {
            assert!(parse(&os(line)).is_none(), "{line:?} took the fast path");
        }
    }

    /// The hand-read path takes the common shapes, and on every line it takes it reads what
    /// clap reads; on every line it does not take, or clap refuses, it gives way. Lines are
    /// drawn from the flags' words in every order (a seeded generator, no new dependency).
    #[test]
    fn the_hand_read_run_agrees_with_clap_or_gives_way() {
        let common: &[&[&str]] = &[
            &["kovra", "run", "--", "true"],
            &["kovra", "run", "--refs", "f", "--", "true"],
            &[
                "kovra", "--json", "run", "--env", "dev", "--only", "A", "--", "sh", "-c", "x",
            ],
            &[
                "kovra",
                "run",
                "--project",
                "p",
                "--keep-env",
                "K",
                "--",
                "a",
                "--",
                "b",
            ],
            &["kovra", "run", "--placeholders", "--", "curl"],
            &["kovra", "run", "--egress", "pinned-only", "--", "curl"],
            &["kovra", "run", "--no-secrets", "--values", "--", "true"],
        ];
        // A `KOVRA_PROJECT` that is set but empty sends every line to clap (by design).
        let project_ok = std::env::var_os("KOVRA_PROJECT").is_none_or(|v| !v.is_empty());
        for line in common.iter().filter(|_| project_ok) {
            let quick = quick_run(&os(line)).unwrap_or_else(|| panic!("{line:?} not taken"));
            assert_eq!(
                format!("{quick:?}"),
                format!("{:?}", full(line).unwrap()),
                "{line:?}"
            );
        }
        let words = [
            "run",
            "--",
            "--json",
            "--project",
            "--project=p",
            "p",
            "--refs",
            "--refs=f",
            "f",
            "--env",
            "dev",
            "--only",
            "A",
            "--keep-env",
            "K",
            "--no-secrets",
            "--values",
            "--placeholders",
            "--egress",
            "open",
            "pinned-only",
            "nowhere",
            "true",
            "-x",
            "",
            "-h",
            "--help",
            "status",
        ];
        let mut seed: u64 = 0x6b6f_7672_6131_3621;
        let mut next = |n: usize| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((seed >> 33) as usize) % n
        };
        let (mut taken, mut refused) = (0, 0);
        for _ in 0..1500 {
            let mut line = vec!["kovra"];
            // Most lines start like a run, so that many reach the end of the hand-read path.
            if next(4) != 0 {
                line.push("run");
            }
            for _ in 0..next(9) {
                line.push(words[next(words.len())]);
            }
            if next(3) != 0 {
                line.extend(["--", "true"]);
            }
            let clap = full(&line);
            match quick_run(&os(&line)) {
                Some(quick) => {
                    taken += 1;
                    let clap = clap.unwrap_or_else(|e| panic!("{line:?}: clap refuses: {e}"));
                    assert_eq!(format!("{quick:?}"), format!("{clap:?}"), "{line:?}");
                }
                None => refused += usize::from(clap.is_err()),
            }
        }
        eprintln!("taken {taken}, refused by both {refused}");
        assert!(
            (taken > 100 || !project_ok) && refused > 100,
            "taken {taken}, refused by both {refused}"
        );
    }
}
