//! `kovra ssh` and `kovra ssh-host`: the daemon connects and runs the command; the CLI only
//! gathers the request and renders what comes back (stdout to stdout, stderr to stderr, the
//! remote status as the exit code).

use std::io::Write;

use base64::Engine as _;

use kovra_proto::{ErrorCode, Reply, Request, SshHostSpec, SshRequest};

use crate::cli_ssh::{SshArgs, SshHostCommand};
use crate::error::CliError;
use crate::render::Renderer;
use crate::session::Session;

fn unexpected() -> CliError {
    CliError::new(ErrorCode::Internal, "unexpected reply", None)
}

/// Run one command on a host; returns the remote exit status for the process to exit with.
/// For a person the output is streamed (printed as the command writes it); `--json` gets
/// one document with all of it.
pub fn ssh(s: &mut Session, args: SshArgs, out: &Renderer, json: bool) -> Result<u8, CliError> {
    let mut reply = s.call(Request::Ssh(Box::new(SshRequest {
        host: args.host,
        user: args.user,
        key: args.key,
        command: args.command.join(" "),
        timeout_secs: args.timeout,
        stream: !json,
        proof: None,
    })))?;
    while let Reply::SshOutput {
        stderr,
        data_base64,
    } = &reply
    {
        let data = base64::engine::general_purpose::STANDARD
            .decode(data_base64)
            .unwrap_or_default();
        if *stderr {
            let mut e = std::io::stderr().lock();
            let _ = e.write_all(&data);
        } else {
            let mut o = std::io::stdout().lock();
            let _ = o.write_all(&data);
            let _ = o.flush();
        }
        let next = s.connection()?.receive()?;
        reply = kovra_client::settle(next)?;
    }
    let Reply::Ssh(r) = &reply else {
        return Err(unexpected());
    };
    if json {
        out.reply(&reply)?;
    } else {
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(r.stdout.as_bytes());
        let _ = stdout.flush();
        let mut stderr = std::io::stderr().lock();
        let _ = stderr.write_all(r.stderr.as_bytes());
        if r.truncated {
            let _ = writeln!(stderr, "kovra: output beyond the host's cap was dropped");
        }
        if let Some(signal) = &r.exit_signal {
            let _ = writeln!(
                stderr,
                "kovra: the remote command was killed by SIG{signal}"
            );
        }
    }
    // As ssh: the remote status, or 255 when there is none (killed, or no status sent).
    Ok(r.exit_status
        .map_or(255, |c| u8::try_from(c).unwrap_or(255)))
}

/// The host's fields, checked as the daemon checks them, before any connection is made.
fn check_spec(args: &crate::cli_ssh::SshHostAddArgs) -> Result<(), CliError> {
    use kovra_core::sshhost as h;
    let invalid = |e: h::HostError| {
        CliError::new(
            ErrorCode::SshHostInvalid,
            e.to_string(),
            ErrorCode::SshHostInvalid.hint(),
        )
    };
    h::check_fields(&h::Fields {
        name: &args.name,
        address: &args.address,
        users: &args.users,
        commands: &args.commands,
        timeout_secs: args.timeout,
        output_cap: args.output_cap,
    })
    .map_err(invalid)?;
    if let Some(k) = &args.host_key {
        h::check_fingerprint(k).map_err(invalid)?;
    }
    if let Some(k) = &args.key {
        kovra_core::coord::Coordinate::parse(k)?;
    }
    Ok(())
}

pub fn ssh_host(s: &mut Session, command: SshHostCommand, out: &Renderer) -> Result<(), CliError> {
    match command {
        SshHostCommand::List => out.reply(&s.call(Request::SshHostList)?),
        SshHostCommand::Rm { name } => out.reply(&s.call(Request::SshHostRemove { name })?),
        SshHostCommand::Scan { address } => out.reply(&s.call(Request::SshScan { address })?),
        SshHostCommand::Add(args) => {
            check_spec(&args)?;
            let host_key = match args.host_key {
                Some(k) => k,
                None => {
                    let Reply::SshHostKey {
                        address,
                        port,
                        algorithm,
                        fingerprint,
                    } = s.call(Request::SshScan {
                        address: args.address.clone(),
                    })?
                    else {
                        return Err(unexpected());
                    };
                    eprintln!(
                        "kovra: {address}:{port} presents the host key {algorithm} {fingerprint}\n       compare it with `ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub` on the host before you give the proof"
                    );
                    fingerprint
                }
            };
            out.reply(&s.call(Request::SshHostAdd {
                spec: Box::new(SshHostSpec {
                    name: args.name,
                    address: args.address,
                    host_key,
                    users: args.users,
                    key: args.key,
                    commands: args.commands,
                    production: args.production,
                    timeout_secs: args.timeout,
                    output_cap: args.output_cap,
                }),
                proof: None,
            })?)
        }
    }
}
