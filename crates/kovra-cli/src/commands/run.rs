//! `kovra run`: ask the daemon to start a command with the refs values injected, hand it
//! our stdin, stdout and stderr, forward signals and window sizes, and exit as it exits.
//! No value ever reaches this process.

use kovra_proto::ErrorCode;
use std::io::IsTerminal;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::PathBuf;

use kovra_proto::{DeliveryChoice, EgressChoice, Reply, Request, Response, RunRequest, TermSize};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::termios::{self, SetArg, Termios};

use crate::cli_hot::RunArgs;
use crate::error::CliError;
use crate::session::Session;

/// The signals a run forwards to its child.
const FORWARDED: [Signal; 5] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGWINCH,
];

/// The forwarded signals, blocked and read from a `signalfd` that this thread polls beside
/// the daemon's socket. Two system calls set it up, where a handler and a wake-up pipe per
/// signal took five each: a run starts in about a millisecond, and those were a tenth of
/// the system calls this program makes. The mask is never lifted: the program ends when the
/// run does, and a signal arriving meanwhile is still forwarded, not acted on here.
struct Forwarded {
    fd: SignalFd,
}

impl Forwarded {
    fn watch() -> Result<Self, CliError> {
        let fail = |e: nix::errno::Errno| {
            CliError::new(
                ErrorCode::Internal,
                format!("cannot watch signals: {e}"),
                None,
            )
        };
        let mut mask = SigSet::empty();
        for sig in FORWARDED {
            mask.add(sig);
        }
        mask.thread_block().map_err(fail)?;
        let fd = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
            .map_err(fail)?;
        Ok(Forwarded { fd })
    }

    /// Wait for the daemon's next frame (`true`) or a signal (`false`).
    fn wait(&self, daemon: BorrowedFd<'_>) -> std::io::Result<bool> {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        let mut fds = [
            PollFd::new(daemon, PollFlags::POLLIN),
            PollFd::new(self.fd.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => return Ok(false),
            Err(e) => return Err(e.into()),
        }
        Ok(fds[0].revents().is_some_and(|r| !r.is_empty()))
    }

    /// The signals caught since the last call, lowest number first as the `signalfd` hands
    /// them out (a signal that came again before it was read counts once, as the kernel keeps
    /// it pending once).
    fn take(&self) -> Vec<Signal> {
        let mut caught = Vec::new();
        while let Ok(Some(info)) = self.fd.read_signal() {
            if let Ok(sig) = Signal::try_from(info.ssi_signo as i32) {
                caught.push(sig);
            }
        }
        caught
    }
}

/// Puts the terminal back as it was, however the run ends.
struct RawMode {
    saved: Termios,
}

impl RawMode {
    fn enter() -> Option<RawMode> {
        let stdin = std::io::stdin();
        let saved = termios::tcgetattr(stdin.as_fd()).ok()?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw).ok()?;
        Some(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, &self.saved);
    }
}

fn term_size() -> Option<TermSize> {
    terminal_size::terminal_size_of(std::io::stdout()).map(|(w, h)| TermSize {
        rows: h.0,
        cols: w.0,
    })
}

/// The working directory, or why it cannot be read.
pub fn working_dir() -> Result<PathBuf, CliError> {
    std::env::current_dir().map_err(|e| {
        CliError::new(
            ErrorCode::CwdInvalid,
            format!("cannot read the working directory: {e}"),
            None,
        )
    })
}

/// Read the refs file the command names, or `./.env.refs`.
pub fn read_refs(path: Option<PathBuf>) -> Result<(String, String), CliError> {
    let explicit = path.is_some();
    let path = path.unwrap_or_else(|| PathBuf::from(".env.refs"));
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok((text, path.display().to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(CliError::new(
            ErrorCode::RefsMissing,
            format!("no refs file at {}", path.display()),
            Some(if explicit {
                "check the path given to --refs"
            } else {
                "create .env.refs here (see docs/env-refs.md), pass --refs FILE, or run with --no-secrets"
            }),
        )),
        Err(e) => Err(CliError::new(
            ErrorCode::RefsMissing,
            format!("cannot read {}: {e}", path.display()),
            None,
        )),
    }
}

/// The environment for `${ENV}` by the one rule (`envrefs::choose_env`): `--env`, else the
/// refs file's `env =` line, else KOVRA_ENV. `None` lets the daemon say where one is needed.
pub fn env_name(explicit: Option<String>, refs: Option<&str>) -> Option<String> {
    let variable = std::env::var("KOVRA_ENV").ok();
    kovra_core::envrefs::env_for_text(explicit.as_deref(), refs, variable.as_deref())
}

pub fn run(session: &mut Session, args: RunArgs) -> Result<u8, CliError> {
    let (refs, refs_path) = if args.no_secrets {
        (None, None)
    } else {
        let (text, path) = read_refs(args.refs)?;
        (Some(text), Some(path))
    };
    let cwd = working_dir()?;
    let env = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    let on_terminal = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let env_name = env_name(args.env_name, refs.as_deref());
    let request = RunRequest {
        argv: args.command,
        cwd: cwd.display().to_string(),
        env,
        refs,
        refs_path,
        env_name,
        only: args.only,
        no_secrets: args.no_secrets,
        keep_env: args.keep_env,
        // A new terminal may report 0x0; it is still a terminal.
        tty: on_terminal.then(|| term_size().unwrap_or(TermSize { rows: 24, cols: 80 })),
        proof: None,
        delivery: if args.values {
            DeliveryChoice::Values
        } else if args.placeholders {
            DeliveryChoice::Placeholders
        } else {
            DeliveryChoice::Default
        },
        egress: if args.egress == "pinned-only" {
            EgressChoice::PinnedOnly
        } else {
            EgressChoice::Open
        },
    };
    let tty = request.tty.is_some();
    // Our stdin, stdout and stderr go with the request: the daemon holds them before it
    // decides, and starts the child as soon as it has.
    session.attach_run_fds([0, 1, 2]);
    let sent_with_request = match session.call(Request::Run(Box::new(request)))? {
        Reply::RunReady {
            descriptors_received,
            ..
        } => descriptors_received,
        other => {
            return Err(CliError::new(
                ErrorCode::Internal,
                format!("unexpected reply {other:?}"),
                None,
            ));
        }
    };
    let context = session.context().clone();
    let client = session.connection()?;
    if !sent_with_request {
        client.send_fds(&[0, 1, 2])?;
    }
    let _raw = if tty { RawMode::enter() } else { None };
    let signals = Forwarded::watch()?;
    // Until the daemon says the child exited: forward each signal we get (a window size
    // change as the new size), on this thread.
    let outcome = loop {
        match signals.wait(client.as_fd()) {
            Ok(true) => break client.receive(),
            Ok(false) => {}
            Err(e) => {
                return Err(CliError::new(
                    ErrorCode::Internal,
                    format!("cannot wait for the run: {e}"),
                    None,
                ));
            }
        }
        for sig in signals.take() {
            let request = if sig == Signal::SIGWINCH {
                match term_size() {
                    Some(s) => Request::Resize {
                        rows: s.rows,
                        cols: s.cols,
                    },
                    None => continue,
                }
            } else {
                Request::Signal { signal: sig as i32 }
            };
            let envelope = kovra_proto::Envelope::new(context.clone(), request);
            if client.send(&envelope).is_err() {
                // The daemon is gone: its answer (or the lack of one) says so below.
                break;
            }
        }
    };
    match outcome? {
        Response::Ok { reply } => match *reply {
            Reply::Exited { code } => Ok(u8::try_from(code).unwrap_or(1)),
            other => Err(CliError::new(
                ErrorCode::Internal,
                format!("unexpected reply {other:?}"),
                None,
            )),
        },
        Response::Error(e) => Err(e.into()),
        Response::NeedsProof { message, .. } => {
            Err(CliError::new(ErrorCode::NeedsProof, message, None))
        }
    }
}
