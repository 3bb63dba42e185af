//! `kovra completions SHELL` and `kovra man`: scripts and pages generated from the same
//! command definition as the help (`crate::help::command`), so they never drift from it.

use std::path::Path;

use clap_complete::Shell;
use kovra_proto::ErrorCode;

use crate::error::CliError;
use crate::render;

/// Print the completion script for `shell` on stdout.
pub fn completions(shell: Shell) -> Result<(), CliError> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut crate::help::command(), "kovra", &mut script);
    print(&script)
}

/// Print the man page of `kovra` (roff) on stdout, or with `dir`, write one page per command
/// and subcommand there (`kovra.1`, `kovra-add.1`, `kovra-2fa-enable.1`, ...).
pub fn man(dir: Option<&Path>) -> Result<(), CliError> {
    let cmd = crate::help::command();
    let Some(dir) = dir else {
        let mut page = Vec::new();
        clap_mangen::Man::new(cmd)
            .render(&mut page)
            .map_err(|e| failed(format!("could not render the man page: {e}"), None))?;
        return print(&page);
    };
    let hint = Some("create the directory, or pass another --dir");
    if !dir.is_dir() {
        return Err(failed(
            format!("{} is not a directory", dir.display()),
            hint,
        ));
    }
    clap_mangen::generate_to(cmd, dir).map_err(|e| {
        failed(
            format!("could not write the man pages into {}: {e}", dir.display()),
            hint,
        )
    })
}

fn print(bytes: &[u8]) -> Result<(), CliError> {
    let text = String::from_utf8_lossy(bytes);
    render::line(text.trim_end_matches('\n'))
}

fn failed(message: String, hint: Option<&str>) -> CliError {
    CliError::new(ErrorCode::OutputFailed, message, hint)
}
