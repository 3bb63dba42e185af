//! The vault's life: `init`, `unlock`, `lock`, `status`, `passwd` and `rotate-key`. A
//! passphrase goes only to a daemon this process starts or one that showed it holds the key
//! (`Session::hand_over`, `Session::verify`).

use kovra_proto::ErrorCode;
use kovra_proto::{Reply, Request};

use crate::cli::{self, Command};
use crate::error::CliError;
use crate::input;
use crate::render::{Renderer, View};
use crate::session::Session;

/// `status`: the daemon's answer, or what can be said without one.
pub fn status(s: &mut Session, agents: bool, out: &Renderer) -> Result<(), CliError> {
    match s.call_if_running(Request::Status)? {
        Some(r) => out.reply(&r)?,
        None => out.show(View::Offline {
            home: &s.paths().home,
            socket: &s.paths().socket,
            initialized: s.paths().has_vault(),
        })?,
    }
    if agents {
        super::agent::status_agents(s, out)?;
    }
    Ok(())
}

pub fn run(s: &mut Session, command: Command, out: &Renderer) -> Result<(), CliError> {
    match command {
        Command::Init(src) => {
            if s.paths().has_vault() {
                return Err(CliError::new(
                    ErrorCode::AlreadyInitialized,
                    format!("a vault already exists at {}", s.paths().home.display()),
                    Some("use `kovra unlock`; to start over, move the home away first"),
                ));
            }
            let passphrase = input::passphrase(&src, "new passphrase: ", true)?;
            out.reply(&s.hand_over(
                Request::Init {
                    passphrase: passphrase.clone(),
                    unattended: src.unattended(),
                },
                &passphrase,
            )?)
        }
        Command::Unlock {
            passphrase: src,
            code: code_src,
        } => {
            if !s.paths().has_vault() {
                return Err(CliError::new(
                    ErrorCode::NotInitialized,
                    format!("no vault at {}", s.paths().home.display()),
                    Some("run `kovra init` to create one"),
                ));
            }
            let typed =
                src.passphrase_file.is_none() && src.passphrase_fd.is_none() && input::has_tty();
            let passphrase = input::passphrase(&src, "passphrase: ", false)?;
            if typed {
                // At a terminal a mistyped passphrase is asked again.
                out.reply(&s.unlock_prompting(Some(passphrase), &code_src)?)
            } else {
                out.reply(&s.unlock_once(&passphrase, src.unattended(), &code_src)?)
            }
        }
        Command::Lock => match s.call_if_running(Request::Lock)? {
            Some(r) => out.reply(&r),
            None => out.reply(&Reply::Done {
                message: "no daemon is running; the vault is locked".into(),
            }),
        },
        Command::Passwd {
            old,
            new_passphrase_file,
        } => {
            let old = input::passphrase(&old, "current passphrase: ", false)?;
            let new_src = cli::PassphraseSource {
                passphrase_file: new_passphrase_file,
                passphrase_fd: None,
            };
            let new = input::passphrase(&new_src, "new passphrase: ", true)?;
            // The daemon first shows it holds the key the current passphrase derives: a
            // process posing as it never sees either passphrase.
            s.verify(&old)?;
            out.reply(&s.call(Request::Passwd { old, new })?)
        }
        Command::RotateKey => out.reply(&s.call(Request::RotateKey { proof: None })?),
        // Not a vault command: the dispatcher sends none here.
        _ => Ok(()),
    }
}
