//! `kovra completions SHELL` and `kovra man`: scripts and pages generated from the same
//! command definition as the help (`crate::help::command`), so they never drift from it.

use std::io::Write;
use std::path::Path;

use clap::Command;
use clap_complete::Shell;
use clap_mangen::Man;
use kovra_proto::ErrorCode;
use roff::{Roff, roman};

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
        page_of(&cmd, &mut page)
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
    write_pages(&cmd, dir).map_err(|e| {
        failed(
            format!("could not write the man pages into {}: {e}", dir.display()),
            hint,
        )
    })
}

/// One page for `cmd` and each visible command below it (not clap's `help` subcommand).
fn write_pages(cmd: &Command, dir: &Path) -> std::io::Result<()> {
    let name = cmd.get_display_name().unwrap_or(cmd.get_name());
    let mut file = std::fs::File::create(dir.join(format!("{name}.1")))?;
    page_of(cmd, &mut file)?;
    file.flush()?;
    for sub in documented(cmd) {
        write_pages(sub, dir)?;
    }
    Ok(())
}

fn documented(cmd: &Command) -> impl Iterator<Item = &Command> {
    cmd.get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
}

/// clap_mangen's sections, but the text after the options (examples, exit codes) as
/// sections of its own, unfilled, so the examples keep their columns.
fn page_of(cmd: &Command, w: &mut dyn Write) -> std::io::Result<()> {
    // `kovra help` is the help, not a command with a page of its own.
    let shown = cmd.clone().mut_subcommands(|s| {
        if s.get_name() == "help" {
            s.hide(true)
        } else {
            s
        }
    });
    let man = Man::new(shown).source(concat!("kovra ", env!("KOVRA_VERSION")));
    man.render_title(w)?;
    man.render_name_section(w)?;
    man.render_synopsis_section(w)?;
    man.render_description_section(w)?;
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(w)?;
    }
    if documented(cmd).next().is_some() {
        man.render_subcommands_section(w)?;
    }
    if let Some(after) = cmd.get_after_help() {
        let mut roff = Roff::new();
        for block in after.to_string().split("\n\n") {
            let (title, body) = match block.split_once('\n') {
                Some((t, b)) if t.ends_with(':') && !t.starts_with(' ') => {
                    (t.trim_end_matches(':').to_uppercase(), b)
                }
                _ => ("NOTES".to_string(), block),
            };
            roff.control("SH", [title.as_str()]).control("nf", []);
            for line in body.lines() {
                roff.text([roman(line)]);
            }
            roff.control("fi", []);
        }
        roff.to_writer(w)?;
    }
    if cmd.get_version().is_some() {
        man.render_version_section(w)?;
    }
    Ok(())
}

fn print(bytes: &[u8]) -> Result<(), CliError> {
    let text = String::from_utf8_lossy(bytes);
    render::line(text.trim_end_matches('\n'))
}

fn failed(message: String, hint: Option<&str>) -> CliError {
    CliError::new(ErrorCode::OutputFailed, message, hint)
}
