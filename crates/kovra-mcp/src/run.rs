//! The `run` tool: the daemon starts the program with secrets injected and its output
//! redacted; this side hands it /dev/null and two pipes, captures what comes back (capped),
//! and stops the program at its timeout or when the agent cancels.

use kovra_proto::ErrorCode;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use kovra_proto::{Envelope, Reply, Request, RunRequest};
use rmcp::model::CallToolResult;

use crate::args::RunArgs;
use crate::outcome::{Failure, invalid, structured, unexpected};
use crate::results::RunOut;
use crate::session::{Session, accepted, failure};

/// Largest inline `.env.refs` text or refs file (bytes).
const MAX_REFS: usize = 256 * 1024;
/// Largest total size of a run's command line (bytes).
const MAX_COMMAND: usize = 128 * 1024;
const DEFAULT_TIMEOUT_SECS: u64 = 60;
const MAX_TIMEOUT_SECS: u64 = 600;
const DEFAULT_OUTPUT_BYTES: usize = 64 * 1024;
const MAX_OUTPUT_BYTES: usize = 4 * 1024 * 1024;

/// Run `args` to its end; `cancelled` completes when the agent cancels the call.
pub(crate) async fn run(
    session: Arc<Session>,
    args: RunArgs,
    cancelled: impl Future<Output = ()>,
) -> Result<CallToolResult, Failure> {
    let (control_tx, control_rx) = mpsc::channel();
    // Dropped with this future, or when the client cancels or goes away: the child is
    // stopped then, not left to its timeout.
    let guard = CancelOnDrop(control_tx.clone());
    let mut task = tokio::task::spawn_blocking(move || {
        run_blocking(&session, args, control_tx, control_rx).map(|o| structured(&o))
    });
    let outcome = tokio::select! {
        joined = &mut task => joined,
        () = cancelled => {
            guard.cancel();
            task.await
        }
    };
    drop(guard);
    outcome.unwrap_or_else(|e| {
        Err(Failure::new(
            ErrorCode::Internal,
            format!("worker failed: {e}"),
        ))
    })
}

/// What the run's timer thread hears besides its timeout.
enum Control {
    /// The child exited: nothing to stop.
    Done,
    /// The caller went away or cancelled: stop the child now.
    Cancel,
}

struct CancelOnDrop(mpsc::Sender<Control>);

impl CancelOnDrop {
    fn cancel(&self) {
        let _ = self.0.send(Control::Cancel);
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        // After a normal end the timer is gone and this send goes nowhere.
        self.cancel();
    }
}

/// One stream's captured bytes, shared with its reader thread.
#[derive(Default)]
struct Captured {
    bytes: Vec<u8>,
    truncated: bool,
}

fn drain(fd: OwnedFd, cap: usize, sink: Arc<Mutex<Captured>>, done: mpsc::Sender<()>) {
    std::thread::spawn(move || {
        let mut file = std::fs::File::from(fd);
        let mut buf = [0u8; 16 * 1024];
        loop {
            match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    let Ok(mut c) = sink.lock() else { break };
                    let room = cap.saturating_sub(c.bytes.len());
                    let take = room.min(n);
                    c.bytes
                        .extend_from_slice(buf.get(..take).unwrap_or_default());
                    if take < n {
                        c.truncated = true;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        let _ = done.send(());
    });
}

fn pipe() -> Result<(OwnedFd, OwnedFd), Failure> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| Failure::new(ErrorCode::Internal, format!("cannot create a pipe: {e}")))
}

fn run_blocking(
    session: &Session,
    args: RunArgs,
    control_tx: mpsc::Sender<Control>,
    control_rx: mpsc::Receiver<Control>,
) -> Result<RunOut, Failure> {
    if args.command.is_empty() {
        return Err(invalid("command is empty"));
    }
    if args.command.iter().map(|a| a.len() + 1).sum::<usize>() > MAX_COMMAND {
        return Err(invalid(format!(
            "command is longer than {MAX_COMMAND} bytes"
        )));
    }
    let timeout = args
        .timeout_secs
        .unwrap_or(DEFAULT_TIMEOUT_SECS)
        .clamp(1, MAX_TIMEOUT_SECS);
    let cap = args
        .max_output_bytes
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(DEFAULT_OUTPUT_BYTES)
        .min(MAX_OUTPUT_BYTES);
    let cwd = match &args.cwd {
        Some(c) => PathBuf::from(c),
        None => std::env::current_dir().map_err(|e| {
            Failure::new(ErrorCode::CwdInvalid, format!("no working directory: {e}"))
        })?,
    };
    if !cwd.is_dir() {
        return Err(Failure::new(
            ErrorCode::CwdInvalid,
            format!("{} is not a directory", cwd.display()),
        ));
    }
    let (refs, refs_path) = match (&args.refs, &args.refs_file) {
        (Some(_), Some(_)) => return Err(invalid("give refs or refs_file, not both")),
        (Some(text), None) => {
            if text.len() > MAX_REFS {
                return Err(invalid(format!("refs is longer than {MAX_REFS} bytes")));
            }
            (Some(text.clone()), Some("(inline refs)".to_string()))
        }
        (None, Some(file)) => {
            let path = cwd.join(file);
            let text = read_refs(&path)?.ok_or_else(|| {
                Failure::new(
                    ErrorCode::RefsMissing,
                    format!("no refs file at {}", path.display()),
                )
            })?;
            (Some(text), Some(path.display().to_string()))
        }
        (None, None) => {
            let path = cwd.join(".env.refs");
            match read_refs(&path)? {
                Some(text) => (Some(text), Some(path.display().to_string())),
                None => (None, None),
            }
        }
    };
    let no_secrets = refs.is_none();
    let env = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    let env_name = env_name(args.env, refs.as_deref());
    let request = RunRequest {
        argv: args.command,
        cwd: cwd.display().to_string(),
        env,
        refs,
        refs_path,
        env_name,
        only: Vec::new(),
        no_secrets,
        keep_env: Vec::new(),
        tty: None,
        proof: None,
        delivery: Default::default(),
        egress: Default::default(),
    };

    let mut calls = session.client_session();
    let injected = match calls
        .call(Request::Run(Box::new(request)))
        .map_err(|e| failure(e, "run"))?
    {
        Reply::RunReady { injected, .. } => injected,
        _ => return Err(unexpected()),
    };
    let client = calls.connection().ok_or_else(unexpected)?;

    let null = std::fs::File::open("/dev/null")
        .map_err(|e| Failure::new(ErrorCode::Internal, format!("cannot open /dev/null: {e}")))?;
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    client
        .send_fds(&[null.as_raw_fd(), out_w.as_raw_fd(), err_w.as_raw_fd()])
        .map_err(|e| Failure::new(e.code(), e.to_string()))?;
    drop((null, out_w, err_w));

    let stdout = Arc::new(Mutex::new(Captured::default()));
    let stderr = Arc::new(Mutex::new(Captured::default()));
    let (done_tx, done_rx) = mpsc::channel();
    drain(out_r, cap, stdout.clone(), done_tx.clone());
    drain(err_r, cap, stderr.clone(), done_tx);

    // The timer: SIGTERM at the timeout, SIGKILL two seconds later.
    let mut sender = client
        .sender()
        .map_err(|e| Failure::new(e.code(), e.to_string()))?;
    let signal_context = session.context();
    let timed_out = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let timer_flag = timed_out.clone();
    let timer = std::thread::spawn(move || {
        let mut wait = Duration::from_secs(timeout);
        for signal in [15, 9] {
            match control_rx.recv_timeout(wait) {
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    timer_flag.store(true, std::sync::atomic::Ordering::SeqCst);
                }
                Ok(Control::Cancel) => {}
                Ok(Control::Done) | Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
            let envelope = Envelope::new(signal_context.clone(), Request::Signal { signal });
            if sender.send(&envelope).is_err() {
                return;
            }
            wait = Duration::from_secs(2);
            // A second Cancel (the guard's drop) must not skip the grace period.
            loop {
                match control_rx.try_recv() {
                    Ok(Control::Cancel) => {}
                    Ok(Control::Done) => return,
                    Err(_) => break,
                }
            }
        }
    });

    let outcome = client.receive();
    let _ = control_tx.send(Control::Done);
    let _ = timer.join();
    let code = match outcome {
        Ok(response) => match accepted(response, "run")? {
            Reply::Exited { code } => code,
            _ => return Err(unexpected()),
        },
        Err(e) => return Err(Failure::new(e.code(), e.to_string())),
    };
    // Both streams end when the child (and anything holding its descriptors) is gone; a
    // straggler that keeps them open does not hold the result back for long.
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    for _ in 0..2 {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if done_rx.recv_timeout(left).is_err() {
            break;
        }
    }
    let take = |c: &Arc<Mutex<Captured>>| {
        c.lock()
            .map(|c| (String::from_utf8_lossy(&c.bytes).into_owned(), c.truncated))
            .unwrap_or_default()
    };
    let (out, out_trunc) = take(&stdout);
    let (err, err_trunc) = take(&stderr);
    Ok(RunOut {
        exit_code: code,
        stdout: out,
        stderr: err,
        truncated: out_trunc || err_trunc,
        timed_out: timed_out.load(std::sync::atomic::Ordering::SeqCst),
        injected,
    })
}

/// A refs file's text; `None` when it does not exist.
/// The environment for `${ENV}` by the rule the CLI follows too (`envrefs::choose_env`): the
/// tool's `env` argument, else the refs file's `env =` line, else the server's KOVRA_ENV.
pub(crate) fn env_name(explicit: Option<String>, refs: Option<&str>) -> Option<String> {
    let variable = std::env::var("KOVRA_ENV").ok();
    kovra_core::envrefs::env_for_text(explicit.as_deref(), refs, variable.as_deref())
}

/// The server's `./.env.refs`, when there is one to read (for the default environment).
pub(crate) fn local_refs() -> Option<String> {
    read_refs(std::path::Path::new(".env.refs")).ok().flatten()
}

fn read_refs(path: &std::path::Path) -> Result<Option<String>, Failure> {
    match std::fs::metadata(path) {
        Ok(m) if m.len() > MAX_REFS as u64 => {
            return Err(invalid(format!(
                "{} is larger than {MAX_REFS} bytes",
                path.display()
            )));
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(Failure::new(
                ErrorCode::RefsMissing,
                format!("cannot read {}: {e}", path.display()),
            ));
        }
    }
    std::fs::read_to_string(path).map(Some).map_err(|e| {
        Failure::new(
            ErrorCode::RefsMissing,
            format!("cannot read {}: {e}", path.display()),
        )
    })
}
