//! The daemon's client: connect over the unix socket (starting the daemon when asked),
//! send one envelope, read one reply. Used by every surface that is not the daemon.
#![forbid(unsafe_code)]

pub mod peer;
pub mod session;

pub use session::{CallError, Challenge, KdfRefused, Session, settle};

use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kovra_proto::frame::{self, FrameError, MAX_REPLY};
use kovra_proto::paths::Paths;
use kovra_proto::{Envelope, ErrorCode, Request, Response};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("the kovra daemon is not running (no socket at {0})")]
    NotRunning(PathBuf),
    #[error("cannot reach the kovra daemon at {socket}: {source}")]
    Unreachable {
        socket: PathBuf,
        source: std::io::Error,
    },
    #[error("could not start the kovra daemon: {0}")]
    StartFailed(String),
    #[error("lost the connection to the daemon: {0}")]
    Frame(#[from] FrameError),
    /// A daemon started to receive a passphrase (`boot`) stopped before it answered.
    #[error("{0}")]
    BootLost(String),
    /// The daemon took the request but sent no reply in time.
    #[error("the daemon did not answer within {0} s")]
    Timeout(u64),
    /// Something other than this home's daemon listens at the socket; nothing was sent.
    #[error("refusing to talk to {socket}: {source}; nothing was sent")]
    Unauthenticated {
        socket: PathBuf,
        source: peer::PeerError,
    },
}

impl ClientError {
    pub fn code(&self) -> ErrorCode {
        match self {
            ClientError::Unauthenticated { .. } => ErrorCode::DaemonUnauthenticated,
            ClientError::Timeout(_) => ErrorCode::DaemonTimeout,
            _ => ErrorCode::DaemonUnreachable,
        }
    }

    pub fn hint(&self) -> &'static str {
        match self {
            ClientError::Unauthenticated { .. } => {
                "another process may stand between you and the daemon: do not type secrets; find the process (ps, /proc/PID), stop it, then `kovra daemon stop` and retry"
            }
            ClientError::NotRunning(_) => {
                "start it with `kovra daemon`, or let the CLI start it (unset KOVRA_NO_AUTOSTART)"
            }
            ClientError::StartFailed(_) => "run `kovra daemon` in a terminal to see why it stops",
            ClientError::Timeout(_) => {
                "the daemon did not answer in time: check `kovra status`; `kovra daemon stop` restarts it on the next command"
            }
            _ => "check `kovra status`; restart with `kovra daemon stop` and retry",
        }
    }
}

/// One connection to the daemon. Unbuffered: frames are read and written whole
/// (`kovra_proto::frame`), and a buffer of ours would keep copies of their bytes (values,
/// passphrases) that nothing wipes.
pub struct Client {
    stream: UnixStream,
}

/// The executable a daemon started by this process runs: the running image itself, even if
/// its file was replaced on disk since.
const OWN_EXE: &str = "/proc/self/exe";

impl Client {
    /// Connect to a running daemon, after checking it is this home's daemon running this
    /// executable (`peer`).
    pub fn connect(paths: &Paths) -> Result<Self, ClientError> {
        Self::connect_expecting(paths, Path::new(OWN_EXE))
    }

    /// Connect to a daemon that runs `daemon_exe` (for programs other than `kovra` itself).
    pub fn connect_expecting(paths: &Paths, daemon_exe: &Path) -> Result<Self, ClientError> {
        if let Some(socket) = &paths.agent_socket {
            return Self::connect_agent(socket);
        }
        // A daemon that is exiting can still be connected to for a moment after its lock
        // was released (or another daemon took it): look again briefly before calling the
        // peer an impostor. One that is gone by then was just a daemon stopping.
        let mut tries = 0;
        loop {
            let client = Self::connect_unauthenticated(paths)?;
            match peer::authenticate(&client.stream, &paths.lock_file(), daemon_exe) {
                Ok(_) => return Ok(client),
                Err(peer::PeerError::Gone(_)) => {
                    return Err(ClientError::NotRunning(paths.socket.clone()));
                }
                Err(peer::PeerError::NotLockHolder { .. }) if tries < 5 => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(source) => {
                    return Err(ClientError::Unauthenticated {
                        socket: paths.socket.clone(),
                        source,
                    });
                }
            }
        }
    }

    /// Connect without checking the peer: only for requests that carry nothing and whose
    /// answer decides nothing (asking a daemon to stop).
    pub fn connect_unauthenticated(paths: &Paths) -> Result<Self, ClientError> {
        // The abstract name first: while the daemon lives no other process can hold it,
        // whatever was renamed onto the path. The path only when no daemon holds the name.
        let named = {
            use std::os::linux::net::SocketAddrExt;
            std::os::unix::net::SocketAddr::from_abstract_name(paths.abstract_name())
                .and_then(|addr| UnixStream::connect_addr(&addr))
        };
        let stream = named
            .or_else(|_| UnixStream::connect(&paths.socket))
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => {
                    ClientError::NotRunning(paths.socket.clone())
                }
                _ => ClientError::Unreachable {
                    socket: paths.socket.clone(),
                    source: e,
                },
            })?;
        Ok(Client { stream })
    }

    /// An agent profile's socket. Its peer is not authenticated (inside a sandbox the
    /// daemon's process is not visible): a client on it never sends a passphrase, a code or
    /// a proof, and the daemon decides everything there under the profile.
    fn connect_agent(socket: &Path) -> Result<Self, ClientError> {
        let stream = UnixStream::connect(socket).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => {
                ClientError::NotRunning(socket.to_path_buf())
            }
            _ => ClientError::Unreachable {
                socket: socket.to_path_buf(),
                source: e,
            },
        })?;
        Ok(Client { stream })
    }

    /// Connect, starting `kovra daemon` from `exe` first if none is running.
    pub fn connect_or_start(paths: &Paths, exe: &Path) -> Result<Self, ClientError> {
        if paths.agent_socket.is_some() {
            // A profile's socket belongs to the human's daemon: never start one for it.
            return Self::connect_expecting(paths, exe);
        }
        match Self::connect_expecting(paths, exe) {
            Err(ClientError::NotRunning(_)) => {}
            other => return other,
        }
        let mut daemon = start_daemon(paths, exe)?;
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut exited = None;
        loop {
            match Self::connect_expecting(paths, exe) {
                // A daemon that exited (a bad config, an unsafe environment, another one won
                // the home) will never serve: say why now rather than after the deadline.
                // One more connect after its exit, for the daemon that won the race.
                Err(ClientError::NotRunning(_))
                    if exited.is_none() && Instant::now() < deadline =>
                {
                    exited = daemon.try_wait().ok().flatten();
                    if exited.is_none() {
                        std::thread::sleep(Duration::from_millis(10));
                    }
                }
                Err(ClientError::NotRunning(s)) => {
                    return Err(ClientError::StartFailed(match exited {
                        Some(status) => format!(
                            "the daemon it started exited ({status}){} (see {})",
                            last_log_line(paths)
                                .map(|l| format!(": {l}"))
                                .unwrap_or_default(),
                            paths.log_file().display()
                        ),
                        None => format!(
                            "no socket appeared at {} (see {})",
                            s.display(),
                            paths.log_file().display()
                        ),
                    }));
                }
                other => return other,
            }
        }
    }

    /// Send one request and wait for its reply, at most [`reply_timeout`] long.
    pub fn call(&mut self, envelope: &Envelope) -> Result<Response, ClientError> {
        self.send(envelope)?;
        self.receive_within(reply_timeout(&envelope.request))
    }

    /// The reply to the request just sent, or `Timeout`. Later reads on this connection
    /// (a run's exit, which comes when the child ends) wait as long as it takes.
    fn receive_within(&mut self, limit: Option<Duration>) -> Result<Response, ClientError> {
        let _ = self.stream.set_read_timeout(limit);
        let reply = frame::read(&mut self.stream, MAX_REPLY);
        let _ = self.stream.set_read_timeout(None);
        match reply {
            Err(FrameError::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                Err(ClientError::Timeout(limit.map_or(0, |d| d.as_secs())))
            }
            other => Ok(other?),
        }
    }

    /// Send one request with descriptors attached to its first bytes (a run's stdin,
    /// stdout and stderr), and wait for its reply.
    pub fn call_with_fds(
        &mut self,
        envelope: &Envelope,
        fds: &[std::os::fd::RawFd],
    ) -> Result<Response, ClientError> {
        use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};
        use std::io::Write;
        use std::os::fd::AsRawFd;
        let mut bytes = zeroize::Zeroizing::new(Vec::new());
        frame::write(&mut *bytes, envelope)?;
        let io = |e: std::io::Error| ClientError::Frame(FrameError::Io(e));
        let stream = &mut self.stream;
        // The length prefix carries the descriptors; the rest follows as plain bytes.
        let head = [std::io::IoSlice::new(&bytes[..4])];
        let sent = sendmsg::<()>(
            stream.as_raw_fd(),
            &head,
            &[ControlMessage::ScmRights(fds)],
            MsgFlags::empty(),
            None,
        )
        .map_err(|e| io(e.into()))?;
        stream.write_all(&bytes[sent..]).map_err(io)?;
        self.receive_within(reply_timeout(&envelope.request))
    }

    pub fn send(&mut self, envelope: &Envelope) -> Result<(), ClientError> {
        Ok(frame::write(&mut self.stream, envelope)?)
    }

    pub fn receive(&mut self) -> Result<Response, ClientError> {
        Ok(frame::read(&mut self.stream, MAX_REPLY)?)
    }

    /// The next page of a streamed reply as its frame's JSON, into `buf` (kept by the caller
    /// from page to page), for a caller that parses it borrowing from the bytes
    /// ([`Client::receive_page`] parses it into owned items).
    pub fn receive_raw_page(
        &mut self,
        buf: &mut zeroize::Zeroizing<Vec<u8>>,
    ) -> Result<(), ClientError> {
        Ok(frame::read_raw_into(
            &mut self.stream,
            kovra_proto::frame::MAX_PAGE,
            buf,
        )?)
    }

    /// The next page of a streamed reply (after a `records-stream` or `audit-stream` head):
    /// read as it comes, so a client holds one page at a time.
    pub fn receive_page<T: serde::de::DeserializeOwned>(
        &mut self,
    ) -> Result<kovra_proto::Page<T>, ClientError> {
        Ok(frame::read(&mut self.stream, kovra_proto::frame::MAX_PAGE)?)
    }

    /// Pass descriptors (a run's stdin, stdout, stderr) to the daemon with SCM_RIGHTS.
    pub fn send_fds(&self, fds: &[std::os::fd::RawFd]) -> Result<(), ClientError> {
        use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};
        use std::os::fd::AsRawFd;
        let byte = [0u8; 1];
        let iov = [std::io::IoSlice::new(&byte)];
        sendmsg::<()>(
            self.stream.as_raw_fd(),
            &iov,
            &[ControlMessage::ScmRights(fds)],
            MsgFlags::empty(),
            None,
        )
        .map_err(|e| ClientError::Frame(FrameError::Io(e.into())))?;
        Ok(())
    }

    /// Whether this idle connection can no longer carry a request: the daemon hung up (it
    /// stopped, or handed over), or bytes wait that no request asked for (a reply that came
    /// after its timeout). One non-blocking peek; nothing is consumed. A caller that keeps a
    /// connection between requests asks this before reusing it.
    pub fn is_stale(&self) -> bool {
        use nix::sys::socket::{MsgFlags, recv};
        use std::os::fd::AsRawFd;
        let mut byte = [0u8; 1];
        match recv(
            self.stream.as_raw_fd(),
            &mut byte,
            MsgFlags::MSG_PEEK | MsgFlags::MSG_DONTWAIT,
        ) {
            Err(nix::errno::Errno::EAGAIN) => false,
            // Closed (0), unread bytes (1), or an error: never send on it.
            _ => true,
        }
    }

    /// A second handle for sending on the same connection (signals during a run).
    pub fn sender(&self) -> Result<Sender, ClientError> {
        let stream = self
            .stream
            .try_clone()
            .map_err(|e| ClientError::Frame(FrameError::Io(e)))?;
        Ok(Sender { stream })
    }
}

/// The connection's descriptor, for a caller that waits on it with other things (a run's
/// client: the reply, or a signal to forward).
impl std::os::fd::AsFd for Client {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.stream.as_fd()
    }
}

/// How long the daemon may take to answer `request`: long enough for anything it does
/// itself (a key derivation, a large list), for a brokered call the upstream's longest
/// timeout and then some, and no limit where it waits for a human (an approval).
/// `KOVRA_REPLY_TIMEOUT_SECS` sets the ordinary limit (tests, very slow machines); it only
/// bounds how long this client waits, so whoever sets it can only hurt their own calls.
pub fn reply_timeout(request: &Request) -> Option<Duration> {
    let ordinary = std::env::var("KOVRA_REPLY_TIMEOUT_SECS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|s| *s > 0)
        .map_or(Duration::from_secs(120), Duration::from_secs);
    match request {
        Request::ApprovalWait { .. } => None,
        Request::Api(_) => Some(ordinary.max(Duration::from_secs(330))),
        // A brokered ssh command may run 600 s (the hosts' limit) after a 15 s handshake.
        Request::Ssh(_) => Some(ordinary.max(Duration::from_secs(630))),
        _ => Some(ordinary),
    }
}

/// Sends frames on a connection whose replies another thread reads.
pub struct Sender {
    stream: UnixStream,
}

impl Sender {
    pub fn send(&mut self, envelope: &Envelope) -> Result<(), ClientError> {
        Ok(frame::write(&mut self.stream, envelope)?)
    }
}

/// Start a daemon from `exe` and hand it `envelope` over a socket pair that is its standard
/// input, never over the socket path: a passphrase sent this way reaches only a process this
/// one started from its own executable, whatever listens at the path. The daemon serves the
/// path once it holds the home's lock; if it cannot take the lock, it says so here.
pub fn boot(paths: &Paths, exe: &Path, envelope: &Envelope) -> Result<Response, ClientError> {
    let io = |e: std::io::Error| ClientError::StartFailed(e.to_string());
    let (mine, theirs) = UnixStream::pair().map_err(io)?;
    spawn_daemon(
        paths,
        exe,
        Stdio::from(std::os::fd::OwnedFd::from(theirs)),
        true,
    )?;
    mine.set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(io)?;
    // A daemon that could not take the home (another won it) or was made to hand over
    // before it answered closes its end: the caller may try again.
    let lost = |e: FrameError| match e {
        FrameError::Closed | FrameError::Io(_) => ClientError::BootLost(format!(
            "the daemon it started stopped before answering (see {})",
            paths.log_file().display()
        )),
        other => other.into(),
    };
    let mut mine = mine;
    frame::write(&mut mine, envelope).map_err(lost)?;
    frame::read(&mut mine, MAX_REPLY).map_err(lost)
}

fn start_daemon(paths: &Paths, exe: &Path) -> Result<Child, ClientError> {
    spawn_daemon(paths, exe, Stdio::null(), false)
}

/// The last error the daemon wrote to its log (its stderr, `kovra: error: …`): why it
/// stopped. The log holds coordinates and reasons, never a value (the daemon's logging rule).
fn last_log_line(paths: &Paths) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    // The end of the file only: a log of a long-lived home can be large.
    let mut log = std::fs::File::open(paths.log_file()).ok()?;
    let len = log.metadata().ok()?.len();
    log.seek(SeekFrom::Start(len.saturating_sub(4096))).ok()?;
    let mut tail = Vec::new();
    log.take(4096).read_to_end(&mut tail).ok()?;
    String::from_utf8_lossy(&tail).lines().rev().find_map(|l| {
        l.split_once("error: ")
            .map(|(_, why)| why.trim().to_string())
    })
}

fn spawn_daemon(paths: &Paths, exe: &Path, stdin: Stdio, boot: bool) -> Result<Child, ClientError> {
    kovra_core::store::ensure_private_dir(&paths.home)
        .map_err(|e| ClientError::StartFailed(e.to_string()))?;
    kovra_core::store::ensure_private_dir(&paths.state_dir)
        .map_err(|e| ClientError::StartFailed(e.to_string()))?;
    // An earlier version's log in the data directory: carried over once, else left behind.
    let old_log = paths.legacy_log_file();
    if old_log != paths.log_file() && std::fs::symlink_metadata(paths.log_file()).is_err() {
        let _ = std::fs::rename(&old_log, paths.log_file());
    }
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(paths.log_file())
        .map_err(|e| ClientError::StartFailed(format!("{}: {e}", paths.log_file().display())))?;
    let mut cmd = Command::new(exe);
    // The daemon refuses to start with loader hooks in its environment; it never needs them.
    for (name, _) in std::env::vars_os() {
        if kovra_core::childenv::is_loader_variable(&name.to_string_lossy()) {
            cmd.env_remove(name);
        }
    }
    cmd.args(["daemon", "--background"]);
    if boot {
        cmd.arg("--boot-stdin");
    }
    cmd.stdin(stdin)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(|e| ClientError::StartFailed(format!("{}: {e}", exe.display())))
}

/// Make this process non-dumpable and core-less before it reads anything typed or prints a
/// revealed value: a same-user process can then neither trace it (`strace -p`, ptrace) nor
/// read its memory or environment through `/proc`. Returns whether the kernel agreed.
pub fn harden_process() -> bool {
    let _ = nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_CORE, 0, 0);
    nix::sys::prctl::set_dumpable(false).is_ok()
}

pub use kovra_proto::procfs::own_tracer;
