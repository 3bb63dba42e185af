//! The human's side of out-of-band decisions: `approve`, `deny`, `requests` (values an agent
//! asked for) and `allow` (the executables pinned for `run`).

use kovra_proto::ErrorCode;
use kovra_proto::{GrantSpec, Reply, Request};

use crate::cli::{AllowCommand, Command};
use crate::cli_grants::GrantsCommand;
use crate::error::CliError;
use crate::render::{self, Renderer};
use crate::session::Session;

pub fn run(s: &mut Session, command: Command, out: &Renderer) -> Result<(), CliError> {
    match command {
        Command::Approve { id: None, .. } => out.reply(&s.call(Request::ApprovalList)?),
        Command::Approve {
            id: Some(id),
            grant,
            grant_profile,
        } => {
            // Show what is being approved before asking for the passphrase.
            let Reply::Approvals { pending } = s.call(Request::ApprovalList)? else {
                return Err(CliError::new(ErrorCode::Internal, "unexpected reply", None));
            };
            match pending.iter().find(|p| p.id == id) {
                Some(view) => eprint!("{}", render::approval(view)),
                None => {
                    return Err(CliError::new(
                        ErrorCode::ApprovalUnknown,
                        format!("no pending request {id} (unknown, expired or already decided)"),
                        Some("`kovra approve` lists what is pending"),
                    ));
                }
            }
            if let Some(minutes) = grant {
                eprintln!(
                    "  and grant: {} for {minutes} min, without asking again (`kovra grants revoke` ends it)",
                    if grant_profile {
                        "the agent profile these coordinates, in any run it starts"
                    } else {
                        "this very run (same command, directory, refs file and executable)"
                    }
                );
            }
            let grant = grant.map(|minutes| GrantSpec {
                minutes,
                profile: grant_profile,
            });
            out.reply(&s.call(Request::Approve {
                id,
                proof: None,
                grant,
            })?)
        }
        Command::Grants { command } => {
            out.reply(&s.call(match command.unwrap_or(GrantsCommand::List) {
                GrantsCommand::List => Request::GrantList,
                GrantsCommand::Revoke { id } => Request::GrantRevoke { id },
            })?)
        }
        Command::Deny { id } => out.reply(&s.call(Request::Deny { id })?),
        Command::Requests => out.reply(&s.call(Request::SecretRequests)?),
        Command::Allow(cmd) => {
            // A bare name (`python3`) is found on PATH, as `kovra run` finds its program.
            let absolute = |p: std::path::PathBuf| {
                let found = (p.components().count() == 1)
                    .then(|| std::env::var_os("PATH"))
                    .flatten()
                    .and_then(|path| {
                        std::env::split_paths(&path)
                            .map(|d| d.join(&p))
                            .find(|c| c.is_file())
                    });
                let p = found.unwrap_or(p);
                std::path::absolute(&p).unwrap_or(p).display().to_string()
            };
            out.reply(&s.call(match cmd {
                AllowCommand::Add { path } => Request::AllowAdd {
                    path: absolute(path),
                    proof: None,
                },
                AllowCommand::List => Request::AllowList,
                AllowCommand::Rm { path } => Request::AllowRm {
                    path: absolute(path),
                },
            })?)
        }
        // Not an approval command: the dispatcher sends none here.
        _ => Ok(()),
    }
}
