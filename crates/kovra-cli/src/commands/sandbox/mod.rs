//! `kovra sandbox [--agent NAME] -- CMD`: run a command (an agent) in a bubblewrap sandbox
//! built from what the daemon grants the profile. Inside, the vault home, the daemon's
//! socket directory, `~/.ssh`, `~/.gnupg`, `~/.aws`, the file `KOVRA_PASSPHRASE_FILE` names,
//! other configured paths and the project's `.env*` files are hidden; the project is writable; the only kovra socket is the
//! profile's; the network is a fresh namespace whose only way out is kovra's egress proxy.
//! Without bubblewrap or user namespaces it refuses to start: never unconfined.

mod bridge;
mod mounts;

pub use bridge::init;

use std::process::Command;

use kovra_proto::{ErrorCode, Reply, Request, SandboxGrant};

use crate::cli_agent::SandboxArgs;
use crate::error::CliError;
use crate::session::Session;

/// The profile used when `--agent` is not given; made narrow on first use.
const DEFAULT_AGENT: &str = "sandbox";

fn unavailable(message: String) -> CliError {
    CliError::new(ErrorCode::SandboxUnavailable, message, None)
}

pub fn run(s: &mut Session, args: SandboxArgs) -> Result<u8, CliError> {
    close_inherited_descriptors();
    if s.paths().agent_socket.is_some() {
        return Err(CliError::new(
            ErrorCode::AgentSocketRefused,
            "already inside a sandbox (KOVRA_AGENT_SOCKET is set); sandboxes do not nest",
            None,
        ));
    }
    let bwrap = mounts::find_bwrap().ok_or_else(|| {
        unavailable("bubblewrap (`bwrap`) is not installed, so kovra cannot build a sandbox; the command was not started".into())
    })?;
    let name = args.agent.clone().unwrap_or_else(|| DEFAULT_AGENT.into());
    let (refs, refs_path) = super::agent::optional_refs(args.refs.clone())?;
    let open = |s: &mut Session, name: &str| {
        open(
            s,
            name,
            refs.clone(),
            refs_path.clone(),
            args.env_name.clone(),
        )
    };
    let grant = match open(s, &name) {
        Err(e) if e.code == ErrorCode::AgentUnknown && args.agent.is_none() => {
            s.call(Request::AgentCreate {
                spec: Box::new(super::agent::narrow(DEFAULT_AGENT)),
                proof: None,
            })?;
            eprintln!(
                "kovra: made agent profile `{DEFAULT_AGENT}` (metadata and inject, non-production, pinned hosts only); `kovra agent create` makes others"
            );
            open(s, &name)?
        }
        other => other?,
    };
    let cwd = super::run::working_dir()?;
    let plan = mounts::Plan::new(&grant, &cwd, &args.hide, &args.writable, &args.command)?;
    let argv = plan.bwrap_args();
    if args.dry_run {
        println!(
            "{} {}",
            bwrap.display(),
            argv.iter()
                .map(|a| shell_quote(a))
                .collect::<Vec<_>>()
                .join(" ")
        );
        return Ok(0);
    }
    let mut cmd = Command::new(&bwrap);
    cmd.args(&argv);
    for k in mounts::UNSET {
        cmd.env_remove(k);
    }
    for (k, v) in plan.env() {
        cmd.env(k, v);
    }
    // The connection that holds the sandbox's egress stays open until the command ends.
    let status = cmd
        .status()
        .map_err(|e| unavailable(format!("cannot start {}: {e}", bwrap.display())))?;
    drop(grant);
    Ok(exit_code(status))
}

/// A child's end as our exit code: its own, or 128+N after signal N (as a shell reports it).
fn exit_code(status: std::process::ExitStatus) -> u8 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => u8::try_from(c).unwrap_or(1),
        (None, Some(sig)) => u8::try_from(128 + sig).unwrap_or(255),
        _ => 1,
    }
}

/// Close every descriptor above stderr that this process inherited, before it opens any of
/// its own: bubblewrap passes whatever it is given on to the command, and one open on the
/// vault database or a hidden directory (from a wrapper script, an editor's task runner)
/// would reach past every mount that hides it. Called first, while this process is single
/// threaded and owns no descriptor of its own above 2.
fn close_inherited_descriptors() {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    let inherited: Vec<i32> = dir
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|fd| *fd > 2)
        .collect();
    // The listing's own descriptor is among them, already closed: EBADF, ignored.
    for fd in inherited {
        let _ = nix::unistd::close(fd);
    }
}

fn open(
    s: &mut Session,
    name: &str,
    refs: Option<String>,
    refs_path: Option<String>,
    env_name: Option<String>,
) -> Result<SandboxGrant, CliError> {
    match s.call(Request::SandboxOpen {
        agent: name.to_string(),
        refs: kovra_proto::RefsSource {
            refs,
            refs_path,
            env_name,
        },
    })? {
        Reply::SandboxReady(grant) => {
            for why in &grant.skipped {
                eprintln!("kovra: sandbox: no placeholder for {why}");
            }
            Ok(*grant)
        }
        _ => Err(CliError::new(
            ErrorCode::Internal,
            "the daemon answered the sandbox request with something else",
            None,
        )),
    }
}

fn shell_quote(a: &str) -> String {
    if !a.is_empty()
        && a.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-=:,@+".contains(&b))
    {
        a.to_string()
    } else {
        format!("'{}'", a.replace('\'', "'\\''"))
    }
}
