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
        // Already inside one: under the same profile the command just runs here (an MCP
        // entry that starts its server in a sandbox works from inside one too).
        let inside = std::env::var("KOVRA_SANDBOX").ok();
        let wanted = args.agent.clone().unwrap_or_else(|| DEFAULT_AGENT.into());
        if inside.as_deref() == Some(wanted.as_str()) {
            return run_here(&args.command);
        }
        return Err(CliError::new(
            ErrorCode::AgentSocketRefused,
            format!(
                "already inside the sandbox of agent profile `{}`; sandboxes do not nest, and a profile is not switched from inside",
                inside.as_deref().unwrap_or("?")
            ),
            None,
        ));
    }
    let bwrap = mounts::find_bwrap().ok_or_else(|| {
        unavailable("bubblewrap (`bwrap`) is not installed, so kovra cannot build a sandbox; the command was not started".into())
    })?;
    let name = args.agent.clone().unwrap_or_else(|| DEFAULT_AGENT.into());
    let (refs, refs_path) = super::agent::optional_refs(args.refs.clone())?;
    let env_name = super::run::env_name(args.env_name.clone(), refs.as_deref());
    let open = |s: &mut Session, name: &str| {
        open(s, name, refs.clone(), refs_path.clone(), env_name.clone())
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
    let absent = mounts::absent_guarded(&cwd);
    // The connection that holds the sandbox's egress stays open until the command ends.
    let status = cmd
        .status()
        .map_err(|e| unavailable(format!("cannot start {}: {e}", bwrap.display())));
    quarantine(&absent);
    let status = status?;
    drop(grant);
    Ok(exit_code(status))
}

/// Move aside what the sandboxed command created among the files that configure what runs
/// outside it later (MCP servers, client settings, git's `commondir`, `.envrc`), and say so:
/// the human decides whether to keep them.
fn quarantine(absent: &[std::path::PathBuf]) {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    for path in absent {
        if std::fs::symlink_metadata(path).is_err() {
            continue;
        }
        let mut aside = path.clone().into_os_string();
        aside.push(format!(".kovra-quarantined-{stamp}"));
        let aside = std::path::PathBuf::from(aside);
        match std::fs::rename(path, &aside) {
            Ok(()) => eprintln!(
                "kovra: sandbox: the command created {}, which configures what runs outside the sandbox; moved to {} (read it before you put it back)",
                path.display(),
                aside.display()
            ),
            Err(e) => eprintln!(
                "kovra: sandbox: the command created {} ({e} moving it aside): read it before you use this project outside the sandbox",
                path.display()
            ),
        }
    }
}

/// The command itself, in this process's own (already contained) world.
pub(super) fn run_here(command: &[String]) -> Result<u8, CliError> {
    let (program, rest) = command
        .split_first()
        .ok_or_else(|| CliError::new(ErrorCode::Usage, "no command given", None))?;
    let status = Command::new(program).args(rest).status().map_err(|e| {
        let code = if e.kind() == std::io::ErrorKind::NotFound {
            ErrorCode::CommandNotFound
        } else {
            ErrorCode::NotExecutable
        };
        CliError::new(code, format!("`{program}` inside the sandbox: {e}"), None)
    })?;
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
