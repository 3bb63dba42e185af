//! `recovery-kit`, `recover`, `backup` and `restore` (`docs/recovery.md`).
//!
//! The kit reaches only a terminal, or a new 0600 file the human named; `recover` and
//! `restore` lock the daemon first and hand their passphrase only to a daemon this process
//! starts (`Session::hand_over`), as `init` does.

use std::io::{IsTerminal, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use kovra_proto::{ErrorCode, Reply, Request};

use crate::cli::{Command, PassphraseSource};
use crate::error::CliError;
use crate::input;
use crate::render::{self, Renderer};
use crate::session::Session;

pub fn run(s: &mut Session, command: Command, out: &Renderer) -> Result<(), CliError> {
    match command {
        Command::RecoveryKit(args) => recovery_kit(s, args.out.as_deref()),
        Command::Recover(args) => {
            need_vault(s)?;
            let kit = input::tty_prompt("recovery kit code: ")?;
            let src = PassphraseSource {
                passphrase_file: args.new_passphrase_file,
                passphrase_fd: None,
            };
            let passphrase = input::passphrase(&src, "new passphrase: ", true)?;
            s.call_if_running(Request::Lock)?;
            let request = Request::Recover {
                kit,
                passphrase: passphrase.clone(),
                unattended: src.unattended(),
            };
            out.reply(&s.hand_over(request, &passphrase)?)
        }
        Command::Backup(args) => {
            let path = absolute(&args.file)?;
            out.reply(&s.call(Request::Backup { path })?)
        }
        Command::Restore(args) => {
            let path = absolute(&args.file)?;
            let passphrase =
                input::passphrase(&args.passphrase, "the backup's passphrase: ", false)?;
            s.call_if_running(Request::Lock)?;
            let request = Request::Restore {
                path,
                passphrase: passphrase.clone(),
                allow_rollback: args.allow_rollback,
                unattended: args.passphrase.unattended(),
            };
            out.reply(&s.hand_over(request, &passphrase)?)
        }
        // Not a recovery command: the dispatcher sends none here.
        _ => Ok(()),
    }
}

fn need_vault(s: &Session) -> Result<(), CliError> {
    if s.paths().has_vault() {
        Ok(())
    } else {
        Err(CliError::new(
            ErrorCode::NotInitialized,
            format!("no vault at {}", s.paths().home.display()),
            Some("to bring a vault back from a backup, use `kovra restore FILE`"),
        ))
    }
}

/// The daemon resolves no relative path: it has its own working directory.
fn absolute(path: &Path) -> Result<String, CliError> {
    let full = std::path::absolute(path).map_err(|e| {
        CliError::new(
            ErrorCode::InvalidArgument,
            format!("{}: {e}", path.display()),
            None,
        )
    })?;
    full.to_str().map(str::to_string).ok_or_else(|| {
        CliError::new(
            ErrorCode::InvalidArgument,
            format!("{} is not valid UTF-8", full.display()),
            Some("use a path in UTF-8"),
        )
    })
}

fn recovery_kit(s: &mut Session, out_file: Option<&Path>) -> Result<(), CliError> {
    // Checked before the daemon makes a kit: one that could not be shown would replace the
    // old kit for nothing.
    match out_file {
        None if !std::io::stdout().is_terminal() => {
            return Err(CliError::new(
                ErrorCode::NoTerminal,
                "the recovery kit is shown only on a terminal, and standard output is not one",
                Some("run it yourself at a terminal, or pass --out FILE to write it to a new file"),
            ));
        }
        Some(path) if path.exists() => {
            return Err(CliError::new(
                ErrorCode::OutputExists,
                format!("{} already exists", path.display()),
                ErrorCode::OutputExists.hint(),
            ));
        }
        _ => {}
    }
    let Reply::RecoveryKit { kit, replaced } = s.call(Request::RecoveryKit { proof: None })? else {
        return Err(CliError::new(ErrorCode::Internal, "unexpected reply", None));
    };
    match out_file {
        None => {
            eprintln!("kovra: your recovery kit, shown once. Write it down and keep it offline:");
            eprintln!("kovra: with it, anyone can set a new passphrase for this vault.");
            render::secret_line(kit.expose())?;
        }
        Some(path) => {
            write_kit(path, kit.expose())?;
            eprintln!(
                "kovra: recovery kit written to {} (mode 0600); move it offline: with it, anyone can set a new passphrase",
                path.display()
            );
        }
    }
    if replaced {
        eprintln!("kovra: the earlier recovery kit no longer opens the vault.");
    }
    eprintln!("kovra: `kovra recover` sets a new passphrase with it.");
    Ok(())
}

fn write_kit(path: &Path, kit: &[u8]) -> Result<(), CliError> {
    let failed = |e: std::io::Error| {
        CliError::new(
            ErrorCode::OutputFailed,
            format!("cannot write {}: {e}", path.display()),
            Some("the kit was made but not saved: run `kovra recovery-kit` again"),
        )
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(PathBuf::from(path))
        .map_err(failed)?;
    f.write_all(kit)
        .and_then(|()| f.write_all(b"\n"))
        .and_then(|()| f.sync_all())
        .map_err(failed)
}
