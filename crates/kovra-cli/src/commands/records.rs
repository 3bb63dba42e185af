//! Records: `add`, `set`, `generate`, `list`, `show`, `fingerprint`, `edit`, `rm`, `mv`,
//! `rename`, `history`,
//! `rollback`, `reveal`, `code` and `bind`. Each is one request; a value comes from a hidden
//! prompt or stdin (`input.rs`), never from argv.

use kovra_proto::{Reply, Request};

use super::coord;
use crate::cli::Command;
use crate::error::CliError;
use crate::input;
use crate::render::{ListingCounts, Renderer};
use crate::session::Session;

pub fn run(s: &mut Session, command: Command, out: &Renderer) -> Result<(), CliError> {
    let wide = matches!(command, Command::History { wide: true, .. });
    let out = &out.wide(wide);
    let reply = match command {
        Command::Add {
            coordinate,
            sensitivity,
            description,
            revealable,
            totp,
            provider,
            ssh,
            value,
            ..
        } if ssh.ssh_key => {
            let coordinate = coord(&coordinate)?;
            super::sshkey::add(
                s,
                super::sshkey::Import {
                    coordinate,
                    sensitivity,
                    description,
                    revealable,
                    totp,
                    provider,
                    from_stdin: value.stdin,
                    passphrase_file: ssh.key_passphrase_file,
                    hosts: ssh.hosts,
                },
            )?
        }
        Command::Add {
            coordinate,
            sensitivity,
            description,
            revealable,
            totp,
            provider,
            postgres,
            value,
            ..
        } => {
            let coordinate = coord(&coordinate)?;
            // A connection string is asked for as one: the hidden prompt says what it takes.
            let value = if postgres && !value.stdin && input::has_tty() {
                input::tty_prompt(&format!(
                    "connection string for {coordinate} (postgres://… or key=value; hidden): "
                ))?
            } else {
                input::value(&coordinate, value.stdin)?
            };
            let database = postgres.then_some(kovra_core::dbconn::DbEngine::Postgres);
            s.call(Request::Add {
                coordinate,
                value,
                sensitivity,
                description,
                revealable,
                totp,
                provider,
                ssh_key: false,
                key_passphrase: None,
                hosts: Vec::new(),
                database,
            })?
        }
        Command::Bind {
            coordinate,
            provider,
            host,
        } => s.call(Request::Bind {
            coordinate: coord(&coordinate)?,
            provider,
            host,
            proof: None,
        })?,
        Command::Code {
            coordinate,
            min_validity,
        } => {
            let reply = s.call(Request::Code {
                coordinate: coord(&coordinate)?,
                min_validity,
                proof: None,
            })?;
            if let Reply::Code { starts_in, .. } = reply
                && starts_in > 0
            {
                // The next step's code: show it only once it is the current one.
                std::thread::sleep(std::time::Duration::from_secs(starts_in));
            }
            reply
        }
        Command::Set { coordinate, value } => {
            let coordinate = coord(&coordinate)?;
            let value = input::value(&coordinate, value.stdin)?;
            s.call(Request::Set {
                coordinate,
                value,
                proof: None,
            })?
        }
        Command::Generate {
            coordinate,
            length,
            charset,
            sensitivity,
            description,
            revealable,
            overwrite,
            provider,
        } => {
            let coordinate = coord(&coordinate)?;
            s.call(Request::Generate {
                coordinate,
                length,
                charset: charset.into(),
                sensitivity,
                description,
                revealable,
                overwrite,
                provider,
                proof: None,
            })?
        }
        Command::Show { coordinate } => s.call(Request::Show {
            coordinate: coord(&coordinate)?,
        })?,
        Command::Fingerprint { coordinate } => s.call(Request::Fingerprint {
            coordinate: coord(&coordinate)?,
            proof: None,
        })?,
        Command::Edit {
            coordinate,
            description,
            sensitivity,
            revealable,
            no_revealable,
        } => {
            let revealable = match (revealable, no_revealable) {
                (true, _) => Some(true),
                (_, true) => Some(false),
                _ => None,
            };
            s.call(Request::Edit {
                coordinate: coord(&coordinate)?,
                description,
                sensitivity,
                revealable,
                proof: None,
            })?
        }
        Command::Rm { coordinate } => s.call(Request::Remove {
            coordinate: coord(&coordinate)?,
            proof: None,
        })?,
        Command::Mv {
            coordinate,
            to_project,
            to_global,
        } => {
            let from = coord(&coordinate)?;
            let reply = s.call(Request::Move {
                coordinate: from.clone(),
                to: None,
                to_project,
                to_global,
                proof: None,
            })?;
            return moved(&from, &reply, out);
        }
        Command::Rename {
            coordinate,
            new_coordinate,
        } => {
            let from = coord(&coordinate)?;
            let reply = s.call(Request::Move {
                coordinate: from.clone(),
                to: Some(coord(&new_coordinate)?),
                to_project: None,
                to_global: false,
                proof: None,
            })?;
            return moved(&from, &reply, out);
        }
        Command::History { coordinate, .. } => s.call(Request::History {
            coordinate: coord(&coordinate)?,
        })?,
        Command::Rollback {
            coordinate,
            version,
        } => s.call(Request::Rollback {
            coordinate: coord(&coordinate)?,
            version,
            proof: None,
        })?,
        Command::Reveal { coordinate } => s.call(Request::Reveal {
            coordinate: coord(&coordinate)?,
            proof: None,
        })?,
        // Not a record command: the dispatcher sends none here.
        _ => return Ok(()),
    };
    out.reply(&reply)
}

/// `list`: asked as a stream, so a vault of any size is printed page by page.
pub fn list(
    s: &mut Session,
    out: &Renderer,
    env: Option<String>,
    offset: usize,
    limit: Option<usize>,
) -> Result<(), CliError> {
    let head = s.call(Request::ListStream { env, offset, limit })?;
    let Reply::RecordsStream {
        total,
        tampered,
        missing,
    } = head
    else {
        return out.reply(&head);
    };
    let conn = s.connection()?;
    let mut next = |buf: &mut _| Ok(conn.receive_raw_page(buf)?);
    out.records_stream(
        ListingCounts {
            total,
            tampered,
            missing,
        },
        &mut next,
    )
}

/// A move's answer: the `written` reply as JSON; for a person, where the record went.
fn moved(from: &str, reply: &Reply, out: &Renderer) -> Result<(), CliError> {
    match reply {
        Reply::Written {
            coordinate,
            vault,
            version,
        } if !out.is_json() => {
            let versions = if *version == 1 { "version" } else { "versions" };
            eprintln!("kovra: moved {from} to {coordinate} in {vault} ({version} {versions})");
            Ok(())
        }
        _ => out.reply(reply),
    }
}
