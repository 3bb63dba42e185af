//! Copying a run's output to the client, redacted, and following the run to its end.
//!
//! A run without a terminal is followed by the thread that started it alone: one `poll`
//! over the child's stdout and stderr and the client's control frames, with the child
//! reaped when its output ends. A thread per pipe and one for the control frames cost a
//! short run more than the rest of the daemon's work (each wakes, hands over and sleeps
//! again). A run on a terminal relays from a thread of its own (`run.rs`), with [`Relay`].

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::process::{Child, ExitStatus};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kovra_proto::frame::{self, MAX_REQUEST};
use kovra_proto::{Envelope, Request};
use kovra_redact::Redactor;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::fdreader::FdReader;

/// One read of the child's output: large, so a fast writer costs few system calls and the
/// pre-filter's per-read work (the held-back tail) is spread over more bytes.
const READ_CHUNK: usize = 256 * 1024;
/// The first read's size: a short run's output fits, and its buffer (zeroed when made,
/// wiped when the run ends: twice per output per run) stays small. Each read that fills the
/// buffer makes the next one 4 times larger, up to `READ_CHUNK`.
const FIRST_READ: usize = 4 * 1024;
/// How long output may keep flowing after the child exits (from its own children).
pub const DRAIN_GRACE: Duration = Duration::from_millis(300);
/// How often a child whose output is still open (held by a child of its own) is looked at.
const EXIT_CHECK: Duration = Duration::from_millis(20);
/// How long a child whose client went away gets between SIGTERM and SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(2);

/// One output stream of the child on its way to the client, redacted.
pub struct Relay<R> {
    from: R,
    to: File,
    stream: kovra_redact::Stream<Arc<Redactor>>,
    out: Vec<u8>,
    want: usize,
}

impl<R: Read> Relay<R> {
    pub fn new(from: R, to: OwnedFd, redactor: Arc<Redactor>) -> Self {
        Relay {
            from,
            to: File::from(to),
            stream: kovra_redact::Stream::over(redactor),
            out: Vec::new(),
            want: FIRST_READ,
        }
    }

    /// Copy one read. `false` when the relay is over: the output ended (what was held back
    /// is then written), or the client's side is gone (reading stops, so the child sees a
    /// closed pipe). Reads go straight into the stream's window, and a read with nothing to
    /// mask is written from there: the bytes are copied only by the kernel.
    pub fn step(&mut self) -> bool {
        let n = loop {
            match self.from.read(self.stream.spare(self.want)) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                // EIO is how a PTY master reports that the last slave holder closed.
                Err(_) => break 0,
            }
        };
        if n == 0 {
            self.out.clear();
            self.stream.finish(&mut self.out);
            let _ = self.to.write_all(&self.out);
            return false;
        }
        if n == self.want {
            self.want = (self.want * 4).min(READ_CHUNK);
        }
        self.to
            .write_all(self.stream.commit(n, &mut self.out))
            .is_ok()
    }

    /// Copy until the relay is over.
    pub fn run(mut self) {
        while self.step() {}
    }
}

/// What a control frame from the client asks of the run.
pub enum Control {
    /// Send this signal to the child's process group.
    Signal(Signal),
    /// The terminal's new size.
    Resize {
        rows: u16,
        cols: u16,
    },
    Other,
}

/// Read one control frame; `None` when the client hung up.
pub fn read_control(reader: &mut FdReader) -> Option<Control> {
    let envelope: Envelope = frame::read(reader, MAX_REQUEST).ok()?;
    Some(match envelope.request {
        Request::Signal { signal } => match Signal::try_from(signal) {
            Ok(
                sig @ (Signal::SIGINT
                | Signal::SIGTERM
                | Signal::SIGHUP
                | Signal::SIGQUIT
                | Signal::SIGWINCH),
            ) => Control::Signal(sig),
            _ => Control::Other,
        },
        Request::Resize { rows, cols } => Control::Resize { rows, cols },
        _ => Control::Other,
    })
}

/// The child's output pipes, relayed to the client's stdout and stderr.
pub struct Outputs<O, E> {
    pub stdout: Option<Relay<O>>,
    pub stderr: Option<Relay<E>>,
}

/// Follow a run without a terminal to its end on this thread: relay both outputs, forward
/// the client's signals, and reap the child (its pidfd says when it exits). Returns once the
/// child has exited and its output has ended, or `DRAIN_GRACE` after its exit if a child of
/// its own keeps the output open (that output is then cut off: the client is told the run
/// is over). A client that hangs up takes the child with it (SIGHUP and SIGTERM, SIGKILL
/// `KILL_GRACE` later).
pub fn follow<O: Read + AsFd, E: Read + AsFd>(
    child: &mut Child,
    mut outputs: Outputs<O, E>,
    mut control: FdReader,
) -> std::io::Result<ExitStatus> {
    let pgid = Pid::from_raw(child.id() as i32);
    // Our own unreaped child: its pid cannot be reused meanwhile. Without pidfds (Linux
    // before 5.3) the child is looked at every `EXIT_CHECK` instead.
    let pidfd = crate::nsjoin::pidfd_open(child.id()).ok();
    let mut exited: Option<(ExitStatus, Instant)> = None;
    let mut client_gone: Option<Instant> = None;
    let mut killed = false;
    let mut last_check = Instant::now();
    loop {
        let open = outputs.stdout.is_some() || outputs.stderr.is_some();
        if let Some((status, at)) = exited
            && (!open || at.elapsed() >= DRAIN_GRACE)
        {
            return Ok(status);
        }
        // Sleep until something is ready or the next deadline: the end of the drain, the
        // kill, or (without a pidfd) the next look at the child.
        let mut wait: Option<Duration> = match exited {
            Some((_, at)) => Some(DRAIN_GRACE.saturating_sub(at.elapsed())),
            None if pidfd.is_none() => Some(EXIT_CHECK),
            None => None,
        };
        if let Some(gone) = client_gone
            && !killed
        {
            let left = KILL_GRACE.saturating_sub(gone.elapsed());
            wait = Some(wait.map_or(left, |w| w.min(left)));
        }
        let (out_ready, err_ready, ctl_ready, child_ready) = {
            let slots = [
                outputs.stdout.as_ref().map(|r| r.from.as_fd()),
                outputs.stderr.as_ref().map(|r| r.from.as_fd()),
                client_gone.is_none().then(|| control.as_fd()),
                pidfd.as_ref().filter(|_| exited.is_none()).map(AsFd::as_fd),
            ];
            let mut live: Vec<PollFd> = slots
                .iter()
                .flatten()
                .map(|fd| PollFd::new(*fd, PollFlags::POLLIN))
                .collect();
            let timeout = wait.map_or(PollTimeout::NONE, |w| {
                PollTimeout::try_from(w).unwrap_or(PollTimeout::MAX)
            });
            match poll(&mut live, timeout) {
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(e.into()),
            }
            // Readable, hung up or failed: a read then says which.
            let mut hits = live
                .iter()
                .map(|f| f.revents().is_some_and(|r| !r.is_empty()));
            let mut next = |present: bool| present && hits.next().unwrap_or(false);
            (
                next(slots[0].is_some()),
                next(slots[1].is_some()),
                next(slots[2].is_some()),
                next(slots[3].is_some()),
            )
        };
        if out_ready && outputs.stdout.as_mut().is_some_and(|r| !r.step()) {
            outputs.stdout = None;
        }
        if err_ready && outputs.stderr.as_mut().is_some_and(|r| !r.step()) {
            outputs.stderr = None;
        }
        if ctl_ready {
            match read_control(&mut control) {
                Some(Control::Signal(sig)) => {
                    let _ = killpg(pgid, sig);
                }
                Some(Control::Resize { .. } | Control::Other) => {}
                None => {
                    tracing::info!(
                        pgid = pgid.as_raw(),
                        "client disconnected; stopping its child"
                    );
                    let _ = killpg(pgid, Signal::SIGHUP);
                    let _ = killpg(pgid, Signal::SIGTERM);
                    client_gone = Some(Instant::now());
                }
            }
        }
        if let Some(gone) = client_gone
            && !killed
            && exited.is_none()
            && gone.elapsed() >= KILL_GRACE
        {
            let _ = killpg(pgid, Signal::SIGKILL);
            killed = true;
        }
        let look = match &pidfd {
            Some(_) => child_ready,
            None => last_check.elapsed() >= EXIT_CHECK,
        };
        if exited.is_none() && look {
            last_check = Instant::now();
            if let Some(status) = child.try_wait()? {
                exited = Some((status, last_check));
            }
        }
    }
}
