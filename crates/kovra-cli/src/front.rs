//! The `kovra` front program. The commands scripts and agents call in loops (`run`,
//! `status`, `list`) run here, in a program that links none of the rest: no command tree,
//! daemon, MCP server, broker or share code. Starting it then costs little more than
//! starting any small program (a big executable pays for its size at every start: the
//! pages the loader relocates and touches). Anything else (another command, help, a usage
//! error) is handed whole to `kovra-full`, installed beside it, by executing it in place:
//! what is printed and the exit code are `kovra-full`'s own.
//!
//! The daemon is `kovra-full`: the front starts it from there, and talks only to a daemon
//! running that file (`kovra_client::peer`).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::OnceLock;

use kovra_proto::ErrorCode;

use crate::error::CliError;

/// The full program's file name, beside the front's.
pub const FULL_NAME: &str = "kovra-full";

/// Set by the front in what it hands over, and removed by `kovra-full` as it starts. A
/// front that finds it set was started by another front in place of `kovra-full` (a copy of
/// `kovra` installed under that name): handing over again would execute itself forever.
/// A caller who sets it only makes the front refuse (`kovra-full` itself ignores it).
pub const HANDED_OVER: &str = "KOVRA_HANDED_OVER";

static FULL: OnceLock<PathBuf> = OnceLock::new();

/// In the front: the full program, whose daemon it talks to. `None` in `kovra-full`.
pub fn full_binary() -> Option<&'static Path> {
    FULL.get().map(PathBuf::as_path)
}

/// The `kovra` a user types, for commands this program runs for them (the demo): the
/// front beside `kovra-full`, or this program when there is none.
pub fn user_program() -> std::io::Result<PathBuf> {
    let me = std::env::current_exe()?;
    let front = me.with_file_name("kovra");
    Ok(if front.is_file() { front } else { me })
}

/// `kovra`: a hot command here, anything else in `kovra-full`.
pub fn main() -> ExitCode {
    if let Err(code) = crate::harden() {
        return code;
    }
    let args: Vec<OsString> = std::env::args_os().collect();
    let full = match locate() {
        Ok(full) => full,
        Err(e) => return crate::fail(&e, crate::wants_json()),
    };
    match crate::cli_hot::parse(&args) {
        Some(cli) => {
            let _ = FULL.set(full);
            let as_json = cli.globals.json;
            match crate::commands::run_hot(cli) {
                Ok(code) => ExitCode::from(code),
                Err(e) => crate::fail(&e, as_json),
            }
        }
        None => hand_over(&full, &args),
    }
}

/// `kovra-full` beside this program (symbolic links to the front resolved).
fn locate() -> Result<PathBuf, CliError> {
    let missing = |what: String| {
        CliError::new(
            ErrorCode::InstallIncomplete,
            what,
            Some(
                "kovra is two programs side by side, kovra and kovra-full: reinstall it (bash scripts/install.sh, or cargo install --locked --path crates/kovra-cli)",
            ),
        )
    };
    let me = std::env::current_exe()
        .map_err(|e| missing(format!("cannot locate this kovra program: {e}")))?;
    let full = me.with_file_name(FULL_NAME);
    if full.is_file() {
        Ok(full)
    } else {
        Err(missing(format!("{} is missing", full.display())))
    }
}

/// Become `kovra-full` with the same arguments and environment.
fn hand_over(full: &Path, args: &[OsString]) -> ExitCode {
    use std::os::unix::process::CommandExt;
    if std::env::var_os(HANDED_OVER).is_some() {
        let e = CliError::new(
            ErrorCode::InstallIncomplete,
            format!(
                "{} is not kovra-full: it is a kovra front, which handed this command back",
                full.display()
            ),
            Some(
                "reinstall kovra (bash scripts/install.sh, or cargo install --locked --path crates/kovra-cli): kovra-full is the large program of the two",
            ),
        );
        return crate::fail(&e, crate::wants_json());
    }
    let mut cmd = std::process::Command::new(full);
    cmd.env(HANDED_OVER, "1");
    if let Some(arg0) = args.first() {
        cmd.arg0(arg0);
    }
    let e = cmd.args(args.iter().skip(1)).exec();
    let e = CliError::new(
        ErrorCode::InstallIncomplete,
        format!("cannot execute {}: {e}", full.display()),
        Some("reinstall kovra (bash scripts/install.sh)"),
    );
    crate::fail(&e, crate::wants_json())
}
