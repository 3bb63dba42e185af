//! `kovra`: a thin client of the daemon. It gathers input (never a value from argv),
//! sends one request, renders the reply, and maps errors to documented exit codes
//! (`docs/errors.md`). This file only hardens the process, parses the command line,
//! dispatches (`commands`) and turns the outcome into the exit code.
//!
//! Two programs are built from it (`front`): `kovra`, which runs `run`, `status` and
//! `list` itself and executes `kovra-full` for everything else, and `kovra-full`, which
//! runs every command and is the daemon.
// No unsafe code but the front program's allocator (`arena`), which cannot be written without.
#![deny(unsafe_code)]

pub mod arena;
mod cli;
mod cli_agent;
mod cli_canary;
mod cli_grants;
mod cli_groups;
mod cli_hot;
mod cli_import;
mod cli_passkey;
mod cli_query;
mod cli_recovery;
mod cli_scaffold;
mod cli_ssh;
mod cli_sshkey;
mod cli_ui;
mod commands;
mod error;
mod examples;
mod front;
mod help;
mod input;
mod render;
mod scaffold;
mod session;

use kovra_proto::ErrorCode;
use std::process::ExitCode;

use clap::FromArgMatches;

use crate::cli::Cli;
use crate::error::CliError;
use crate::render::Renderer;

pub use front::main as front_main;

/// Harden this process first, before any prompt, read or reply: nothing of ours may be
/// traced or dumped. A tracer attached before this (one that raced the exec) stays
/// attached: refuse then.
fn harden() -> Result<(), ExitCode> {
    kovra_client::harden_process();
    if let Some(tracer) = kovra_client::own_tracer().filter(|t| *t != 0) {
        let e = CliError::new(
            kovra_proto::ErrorCode::Traced,
            format!(
                "this kovra process is being traced by pid {tracer}; it will not read or print anything secret"
            ),
            Some("stop the tracing process and run the command again"),
        );
        return Err(fail(&e, wants_json()));
    }
    Ok(())
}

/// `kovra-full`: every command, and the daemon.
pub fn full_main() -> ExitCode {
    forget_hand_over();
    if let Err(code) = harden() {
        return code;
    }
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cli = match cli_hot::parse(&args) {
        Some(cli) => cli,
        // Grouped help, examples and exit codes (from the error catalogue): `help::command`.
        None => match help::command()
            .try_get_matches_from(&args)
            .and_then(|m| Cli::from_arg_matches(&m))
        {
            Ok(cli) => cli,
            Err(e) => return usage_error(e),
        },
    };
    let as_json = cli.globals.json;
    match commands::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => fail(&e, as_json),
    }
}

/// Remove the front's mark ([`front::HANDED_OVER`]), so that a `kovra` this program starts
/// (an agent in `kovra sandbox`, the demo) hands its commands over as usual.
#[allow(unsafe_code)]
fn forget_hand_over() {
    if std::env::var_os(front::HANDED_OVER).is_some() {
        // SAFETY: called first thing in `main`, before this program starts any thread, so
        // nothing can read the environment concurrently.
        unsafe { std::env::remove_var(front::HANDED_OVER) };
    }
}

/// Any argument exactly `--json`, for the errors reported before (or instead of) parsing.
fn wants_json() -> bool {
    std::env::args().any(|a| a == "--json")
}

/// Report an error and give its exit code. A closed stdout, met by the command or by this
/// report, is a quiet success, as for any Unix filter (`docs/errors.md` §1).
fn fail(e: &CliError, as_json: bool) -> ExitCode {
    if render::is_broken_pipe(e) {
        return ExitCode::SUCCESS;
    }
    match Renderer::new(as_json).error(e) {
        Err(closed) if render::is_broken_pipe(&closed) => ExitCode::SUCCESS,
        _ => ExitCode::from(e.exit_code()),
    }
}

/// clap prints help and usage errors itself; with `--json`, a usage error is still one
/// JSON document on stdout.
fn usage_error(e: clap::Error) -> ExitCode {
    if wants_json() && e.use_stderr() {
        let err = CliError::new(
            ErrorCode::Usage,
            e.kind().to_string(),
            Some("see `kovra --help`"),
        );
        return fail(&err, true);
    }
    let _ = e.print();
    ExitCode::from(if e.use_stderr() { 2 } else { 0 })
}
