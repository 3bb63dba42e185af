//! Starting a `kovra run` child inside the daemon: the values go from the vault straight
//! into the child's environment, and its output is redacted on its way to the client's own
//! stdout and stderr (passed to us as descriptors). Plaintext never crosses the socket.

use kovra_core::secret::{SecretBytes, SecretString};
use kovra_proto::ErrorCode;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use kovra_proto::frame;
use kovra_proto::{ErrorReply, Reply, Response, TermSize};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::fdreader::FdReader;
use crate::os;
use crate::pool;
use crate::relay::{self, Outputs, Relay};

/// Everything needed to start one approved child. Dropped (and wiped) once it is running.
pub struct RunPlan {
    /// Opened and hashed before the decision (`crate::program`).
    pub program: crate::program::Program,
    /// Execute the very descriptor that was hashed (protected runs), not the path again.
    pub exec_by_descriptor: bool,
    /// Values delivered on descriptors (`fd:secret:…`): the child's descriptor number and
    /// the bytes, written into a pipe before it starts.
    pub descriptors: Vec<(usize, SecretBytes)>,
    pub argv: Vec<String>,
    pub cwd: PathBuf,
    /// The caller's environment without `KOVRA_*`, then the injected variables.
    pub env: Vec<(String, SecretString)>,
    /// Values to mask in the child's output, named by variable.
    pub secrets: Vec<(String, SecretBytes)>,
    /// The daemon's redactors, where the one for `secrets` is found or built (claimed
    /// while the vault was unlocked).
    pub redactors: crate::redactors::Claim,
    pub tty: Option<TermSize>,
    /// The run's hold on the egress proxy: its placeholders work until this is dropped,
    /// when the child has exited.
    pub egress: Option<crate::handler::EgressTicket>,
    /// The run's hold on the database proxy: its `#url` tokens work, and its connections
    /// stay open, until this is dropped, when the child has exited.
    pub db: Option<crate::handler::DbTicket>,
    /// For a caller in other namespaces (a sandbox): the child starts inside them, and
    /// `cwd` is the caller's path there.
    pub foreign: Option<Arc<crate::nsjoin::Foreign>>,
}

/// The capacity asked for the child's output pipes (the unprivileged maximum by default):
/// a fast writer then runs ahead of the relay instead of waiting on it at every 64 KiB.
const PIPE_CAPACITY: i32 = 1024 * 1024;
fn fail(code: ErrorCode, message: String) -> Response {
    Response::Error(ErrorReply {
        code,
        message,
        hint: None,
    })
}

/// The read ends of one pipe per descriptor value (filled and closed for writing), numbered
/// above every target, and — when targets exist — the program's descriptor moved above them
/// too, so that placing the targets in the child clobbers neither.
#[allow(clippy::type_complexity)]
fn descriptor_pipes(plan: &RunPlan) -> std::io::Result<(Vec<(i32, OwnedFd)>, Option<File>)> {
    if plan.descriptors.is_empty() {
        return Ok((Vec::new(), None));
    }
    let floor = i32::try_from(3 + plan.descriptors.len()).unwrap_or(i32::MAX);
    let program = File::from(os::dup_above(&plan.program.file, floor)?);
    let mut pipes = Vec::new();
    for (target, bytes) in &plan.descriptors {
        let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
        // At most 64 KiB (checked when the run was prepared): an empty pipe takes it whole.
        File::from(write).write_all(bytes.expose())?;
        let read = os::dup_above(&read, floor)?;
        pipes.push((i32::try_from(*target).unwrap_or(i32::MAX), read));
    }
    Ok((pipes, Some(program)))
}

/// For a foreign caller, make `cmd` start inside its namespaces. The last `pre_exec` hook:
/// the ones before it (descriptors, session, terminal) run in the process that forks the
/// one that executes, which inherits what they did.
fn enter_inside(cmd: &mut Command, plan: &RunPlan) -> std::io::Result<()> {
    match &plan.foreign {
        Some(foreign) => foreign.start_inside(cmd, &plan.cwd),
        None => Ok(()),
    }
}

/// Start the child: in the caller's namespaces for a foreign caller (whose cwd is its path
/// inside, entered after the join), else in the caller's cwd (`os::spawn_in`).
fn start(cmd: &mut Command, plan: &RunPlan) -> std::io::Result<std::process::Child> {
    enter_inside(cmd, plan)?;
    if plan.foreign.is_some() {
        cmd.spawn()
    } else {
        os::spawn_in(cmd, &plan.cwd)
    }
}

/// Receive the client's stdin, stdout and stderr.
/// One `recvmsg` of the descriptor message: the descriptors it carried.
fn recv_fds_once(stream: &UnixStream) -> nix::Result<Vec<OwnedFd>> {
    let mut byte = [0u8; 1];
    os::recv_with_fds(stream, &mut byte).map(|(_, fds)| fds)
}

fn receive_fds(stream: &UnixStream) -> Result<Vec<OwnedFd>, Response> {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    // A signal arriving meanwhile (EINTR) is no reason to fail the run: ask again.
    let fds = loop {
        match recv_fds_once(stream) {
            Err(nix::errno::Errno::EINTR) => continue,
            other => {
                break other.map_err(|e| {
                    fail(
                        ErrorCode::RunFailed,
                        format!("did not receive the terminal descriptors: {e}"),
                    )
                })?;
            }
        }
    };
    let _ = stream.set_read_timeout(None);
    if fds.len() != 3 {
        return Err(fail(
            ErrorCode::RunFailed,
            format!("expected 3 descriptors, received {}", fds.len()),
        ));
    }
    Ok(fds)
}

/// Copy the client's terminal input into the PTY until told to stop. Polls, so that it
/// never keeps reading the user's terminal after the run is over.
fn pump_input(input: OwnedFd, pty: Arc<OwnedFd>, stop: Arc<AtomicBool>) {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    // What the user types may be a secret for the child: wiped when the pump ends, as its
    // thread now lives on in the pool.
    let mut buf = zeroize::Zeroizing::new([0u8; 4096]);
    let mut input = File::from(input);
    let mut pty_writer = match pty.try_clone() {
        Ok(fd) => File::from(fd),
        Err(_) => return,
    };
    while !stop.load(Ordering::SeqCst) {
        let mut fds = [PollFd::new(input.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(50u16)) {
            Ok(0) => continue,
            Ok(_) => {}
            Err(_) => return,
        }
        if !fds[0]
            .revents()
            .is_some_and(|r| r.intersects(PollFlags::POLLIN | PollFlags::POLLHUP))
        {
            continue;
        }
        match input.read(&mut buf[..]) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if pty_writer.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    }
}

/// Run the plan on this connection: take the descriptors, start the child, relay, and
/// answer with its exit code. Consumes the connection.
pub fn execute(
    mut plan: RunPlan,
    received: Option<Vec<OwnedFd>>,
    stream: &UnixStream,
    reader: FdReader,
    writer: &mut UnixStream,
) {
    // Sent with the request, or (older clients, the MCP server) after `run-ready`.
    let fds = match received.map_or_else(|| receive_fds(stream), Ok) {
        Ok(f) => f,
        Err(resp) => {
            let _ = frame::write(writer, &resp);
            return;
        }
    };
    let mut fds = fds.into_iter();
    let (Some(stdin), Some(stdout), Some(stderr)) = (fds.next(), fds.next(), fds.next()) else {
        return;
    };
    let _egress = plan.egress.take();
    let _db = plan.db.take();
    let redactor = plan.redactors.get(&plan.secrets);

    let (pipes, program_file) = match descriptor_pipes(&plan) {
        Ok(p) => p,
        Err(e) => {
            let _ = frame::write(
                writer,
                &fail(
                    ErrorCode::RunFailed,
                    format!("could not set up the descriptors: {e}"),
                ),
            );
            return;
        }
    };
    let mut cmd = if plan.exec_by_descriptor {
        os::command_for_descriptor(program_file.as_ref().unwrap_or(&plan.program.file))
    } else {
        Command::new(&plan.program.path)
    };
    os::give_descriptors(
        &mut cmd,
        pipes
            .iter()
            .map(|(target, read)| (read.as_raw_fd(), *target))
            .collect(),
    );
    cmd.arg0(plan.argv.first().map(String::as_str).unwrap_or_default())
        .args(plan.argv.iter().skip(1))
        .env_clear();
    for (k, v) in &plan.env {
        cmd.env(k, v.expose());
    }
    let (done_tx, done_rx) = mpsc::channel();
    let stop_input = Arc::new(AtomicBool::new(false));
    let mut relays = 0;
    let mut pty_master: Option<Arc<OwnedFd>> = None;
    // A run without a terminal: its outputs, followed on this thread (`relay::follow`).
    let mut plain = None;

    let spawned = if let Some(size) = plan.tty {
        let winsize = nix::pty::Winsize {
            ws_row: size.rows,
            ws_col: size.cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        match nix::pty::openpty(Some(&winsize), None) {
            Ok(pty) => {
                // openpty returns inheritable descriptors: any other child started while this
                // run lasts would get a copy of the master (this run's unredacted output).
                if os::close_on_exec(&pty.master).is_err() || os::close_on_exec(&pty.slave).is_err()
                {
                    return;
                }
                let master = Arc::new(pty.master);
                let slave = pty.slave;
                let (s1, s2) = match (slave.try_clone(), slave.try_clone()) {
                    (Ok(a), Ok(b)) => (a, b),
                    _ => return,
                };
                cmd.stdin(Stdio::from(slave))
                    .stdout(Stdio::from(s1))
                    .stderr(Stdio::from(s2));
                os::controlling_tty_on_exec(&mut cmd);
                // After the session: the grandchild inherits it and its terminal.
                let child = start(&mut cmd, &plan);
                drop(cmd);
                if child.is_ok() {
                    if let Ok(reader_fd) = master.try_clone() {
                        let (r, tx) = (Arc::clone(&redactor), done_tx.clone());
                        if started(pool::spawn(move || {
                            Relay::new(File::from(reader_fd), stdout, r).run();
                            let _ = tx.send(());
                        })) {
                            relays += 1;
                        }
                    }
                    let (m, stop) = (Arc::clone(&master), Arc::clone(&stop_input));
                    started(pool::spawn(move || pump_input(stdin, m, stop)));
                    drop(stderr);
                }
                pty_master = Some(master);
                child
            }
            Err(e) => Err(std::io::Error::from(e)),
        }
    } else {
        cmd.stdin(Stdio::from(stdin))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let child = start(&mut cmd, &plan);
        drop(cmd);
        child.map(|mut c| {
            let out = c.stdout.take().map(|p| {
                widen(&p);
                Relay::new(p, stdout, Arc::clone(&redactor))
            });
            let err = c.stderr.take().map(|p| {
                widen(&p);
                Relay::new(p, stderr, Arc::clone(&redactor))
            });
            plain = Some(Outputs {
                stdout: out,
                stderr: err,
            });
            c
        })
    };
    drop(plan);
    drop(pipes);
    drop(program_file);
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            let _ = frame::write(
                writer,
                &fail(
                    ErrorCode::RunFailed,
                    format!("could not start the command: {e}"),
                ),
            );
            return;
        }
    };
    let status = match plain {
        Some(outputs) => relay::follow(&mut child, outputs, reader),
        None => follow_terminal(
            &mut child,
            reader,
            pty_master,
            &done_rx,
            relays,
            &stop_input,
        ),
    };
    let code = match status {
        Ok(s) => s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0)),
        Err(_) => 1,
    };
    let _ = frame::write(
        writer,
        &Response::Ok {
            reply: Box::new(Reply::Exited { code }),
        },
    );
}

/// Ask for a larger pipe behind the child's output (best effort: the default still works).
fn widen(pipe: &impl AsFd) {
    let _ = nix::fcntl::fcntl(pipe, nix::fcntl::FcntlArg::F_SETPIPE_SZ(PIPE_CAPACITY));
}

/// Whether a run's thread started; one that could not (a process or memory limit) dropped
/// its job, closing what it held, and is logged.
fn started(spawned: std::io::Result<()>) -> bool {
    if let Err(e) = &spawned {
        tracing::warn!(error = %e, "cannot start a thread for a run");
    }
    spawned.is_ok()
}

/// Follow a run on a terminal: its output relay and input pump run on threads of their own
/// (started by `execute`); the client's control frames are read on another until it hangs
/// up, and this one waits for the child.
fn follow_terminal(
    child: &mut std::process::Child,
    reader: FdReader,
    pty: Option<Arc<OwnedFd>>,
    done: &mpsc::Receiver<()>,
    relays: usize,
    stop_input: &AtomicBool,
) -> std::io::Result<std::process::ExitStatus> {
    let pgid = Pid::from_raw(child.id() as i32);
    let finished = Arc::new(AtomicBool::new(false));
    {
        let finished = Arc::clone(&finished);
        let master = pty.clone();
        started(pool::spawn(move || control(reader, pgid, master, finished)));
    }
    let status = child.wait();
    finished.store(true, Ordering::SeqCst);
    for _ in 0..relays {
        if done.recv_timeout(relay::DRAIN_GRACE).is_err() {
            break;
        }
    }
    stop_input.store(true, Ordering::SeqCst);
    drop(pty);
    status
}

/// Read the client's control frames until it hangs up. A client that goes away before the
/// child ends takes the child with it.
fn control(mut reader: FdReader, pgid: Pid, pty: Option<Arc<OwnedFd>>, finished: Arc<AtomicBool>) {
    while let Some(frame) = relay::read_control(&mut reader) {
        match frame {
            relay::Control::Signal(sig) => {
                let _ = killpg(pgid, sig);
            }
            relay::Control::Resize { rows, cols } => {
                if let Some(pty) = &pty {
                    let _ = os::set_window_size(pty.as_ref(), rows, cols);
                }
            }
            relay::Control::Other => {}
        }
    }
    if !finished.load(Ordering::SeqCst) {
        tracing::info!(
            pgid = pgid.as_raw(),
            "client disconnected; stopping its child"
        );
        let _ = killpg(pgid, Signal::SIGHUP);
        let _ = killpg(pgid, Signal::SIGTERM);
        std::thread::sleep(Duration::from_secs(2));
        if !finished.load(Ordering::SeqCst) {
            let _ = killpg(pgid, Signal::SIGKILL);
        }
    }
}
