//! The blocking server: one listening socket, one thread per connection from a bounded set
//! ([`crate::pool`]).
//!
//! Blocking threads rather than an async runtime because that is how the daemon serves its
//! own socket, and an agent connection is short and sequential (one request, one reply).
//! The bounds are what make a thread per connection safe: at most
//! [`Config::max_connections`] live at once (more are accepted and closed at once, so a
//! flood costs a file descriptor for an instant, never a thread), each holding at most one
//! frame of [`Config::max_frame`] bytes, and each dropped when its peer goes idle or
//! trickles a frame too slowly.

use std::cell::Cell;
use std::collections::HashMap;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::backend::{Backend, Caller};
use crate::dispatch::respond;
use crate::frame::{FrameError, MAX_FRAME, read_frame, write_frame};
use crate::peer::{caller_of, effective_uid};
use crate::pool::Pool;
use crate::session::Session;

/// The server's limits.
#[derive(Debug, Clone)]
pub struct Config {
    /// Connections served at once; one more is closed as soon as it is accepted.
    pub max_connections: usize,
    /// The largest frame read; a larger one gets `SSH_AGENT_FAILURE` and a close (the
    /// stream cannot be resynchronised without reading what it declared).
    pub max_frame: usize,
    /// How long a connection may wait between requests.
    pub idle_timeout: Duration,
    /// How long one frame may take to arrive once its first byte has.
    pub frame_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_connections: 32,
            max_frame: MAX_FRAME,
            idle_timeout: Duration::from_secs(60),
            frame_timeout: Duration::from_secs(10),
        }
    }
}

/// Why the server did not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("the socket path {0} has no directory")]
    NoDirectory(PathBuf),
    #[error("{0} must be a directory owned by this user and writable by no one else")]
    UnsafeDirectory(PathBuf),
    #[error("{0} exists and is not a socket")]
    NotASocket(PathBuf),
    #[error("an agent already answers on {0}")]
    InUse(PathBuf),
    #[error("{what}: {source}")]
    Io {
        what: &'static str,
        #[source]
        source: io::Error,
    },
}

fn io_err(what: &'static str) -> impl FnOnce(io::Error) -> ServeError {
    move |source| ServeError::Io { what, source }
}

/// A running agent socket. Dropping it stops it too.
pub struct Server {
    stop: StopHandle,
    accept: Option<JoinHandle<()>>,
}

/// Stops a [`Server`] from any thread: closes the socket, ends live connections, waits
/// for their threads, and removes the socket file if it is still the one bound.
#[derive(Clone)]
pub struct StopHandle {
    shared: Arc<Shared>,
}

struct Shared {
    path: PathBuf,
    /// (device, inode) of the socket bound, so a stop never removes a successor's socket.
    bound: (u64, u64),
    stopping: AtomicBool,
    live: Mutex<HashMap<u64, UnixStream>>,
    drained: Condvar,
    next_id: AtomicU64,
    pool: Arc<Pool>,
}

impl Shared {
    fn live(&self) -> MutexGuard<'_, HashMap<u64, UnixStream>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Server {
    /// Binds `socket` (mode 0600) and starts serving `backend`. The socket's directory must
    /// exist, belong to this user and be writable by no one else (whoever can write there
    /// can swap the socket). A stale socket is replaced; a live agent or any other kind of
    /// file at that path is refused.
    pub fn start<B: Backend + 'static>(
        socket: &Path,
        backend: Arc<B>,
        config: Config,
    ) -> Result<Self, ServeError> {
        let dir = socket
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .ok_or_else(|| ServeError::NoDirectory(socket.into()))?;
        let meta = std::fs::metadata(dir).map_err(io_err("reading the socket's directory"))?;
        if !meta.is_dir() || meta.uid() != effective_uid() || meta.mode() & 0o022 != 0 {
            return Err(ServeError::UnsafeDirectory(dir.into()));
        }
        match std::fs::symlink_metadata(socket) {
            Ok(m) if m.file_type().is_socket() => {
                if UnixStream::connect(socket).is_ok() {
                    return Err(ServeError::InUse(socket.into()));
                }
                std::fs::remove_file(socket).map_err(io_err("removing a stale socket"))?;
            }
            Ok(_) => return Err(ServeError::NotASocket(socket.into())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("reading the socket path")(e)),
        }
        let listener = UnixListener::bind(socket).map_err(io_err("binding the socket"))?;
        std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o600))
            .map_err(io_err("setting the socket's mode"))?;
        let m = std::fs::symlink_metadata(socket).map_err(io_err("reading the socket"))?;
        listener
            .set_nonblocking(true)
            .map_err(io_err("making the listener non-blocking"))?;
        let shared = Arc::new(Shared {
            path: socket.into(),
            bound: (m.dev(), m.ino()),
            stopping: AtomicBool::new(false),
            live: Mutex::new(HashMap::new()),
            drained: Condvar::new(),
            next_id: AtomicU64::new(0),
            pool: Pool::new(config.max_connections, config.idle_timeout),
        });
        let accept = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("ssh-agent-accept".into())
                .spawn(move || accept_loop(&listener, &shared, &backend, &config))
                .map_err(io_err("starting the accept thread"))?
        };
        Ok(Self {
            stop: StopHandle { shared },
            accept: Some(accept),
        })
    }

    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.stop.shared.path
    }

    /// Connections being served right now.
    pub fn live_connections(&self) -> usize {
        self.stop.shared.live().len()
    }

    /// Stops and waits for the accept thread.
    pub fn stop(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        self.stop.stop();
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

impl StopHandle {
    /// Idempotent. Waits up to two seconds for connection threads to notice.
    pub fn stop(&self) {
        let shared = &self.shared;
        if shared.stopping.swap(true, Ordering::SeqCst) {
            return;
        }
        if let Ok(m) = std::fs::symlink_metadata(&shared.path)
            && (m.dev(), m.ino()) == shared.bound
        {
            let _ = std::fs::remove_file(&shared.path);
        }
        shared.pool.stop();
        let mut live = shared.live();
        for stream in live.values() {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        while !live.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            live = match shared.drained.wait_timeout(live, left) {
                Ok((guard, _)) => guard,
                Err(p) => p.into_inner().0,
            };
        }
    }
}

/// How often the accept loop looks at the stop flag while no one connects.
const POLL_INTERVAL_MS: u16 = 100;

fn accept_loop<B: Backend + 'static>(
    listener: &UnixListener,
    shared: &Arc<Shared>,
    backend: &Arc<B>,
    config: &Config,
) {
    let uid = effective_uid();
    while !shared.stopping.load(Ordering::SeqCst) {
        let mut fds = [PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
        if !matches!(poll(&mut fds, PollTimeout::from(POLL_INTERVAL_MS)), Ok(n) if n > 0) {
            continue;
        }
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => {
                // Out of descriptors, most likely: back off rather than spin.
                tracing::warn!(error = %e, "ssh-agent accept failed");
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        let caller = match caller_of(&stream) {
            Ok(c) if c.uid == uid => c,
            Ok(c) => {
                tracing::warn!(
                    uid = c.uid,
                    pid = c.pid,
                    "ssh-agent: another user's connection closed"
                );
                continue;
            }
            Err(_) => continue,
        };
        if let Err(why) = admit(shared, backend, config, stream, caller) {
            tracing::debug!(why, "ssh-agent connection closed at once");
        }
    }
}

/// Registers the connection and hands it to a pool thread, or drops it when the set is full.
fn admit<B: Backend + 'static>(
    shared: &Arc<Shared>,
    backend: &Arc<B>,
    config: &Config,
    stream: UnixStream,
    caller: Caller,
) -> Result<(), &'static str> {
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    {
        let mut live = shared.live();
        // Checked under the lock a stop sweeps the set with: a connection is either in
        // the sweep or refused here, never served after the stop.
        if shared.stopping.load(Ordering::SeqCst) {
            return Err("stopping");
        }
        if live.len() >= config.max_connections {
            return Err("too many connections");
        }
        let twin = stream.try_clone().map_err(|_| "cloning the stream")?;
        live.insert(id, twin);
    }
    let guard = Registered {
        shared: Arc::clone(shared),
        id,
    };
    let backend = Arc::clone(backend);
    let config = config.clone();
    shared.pool.submit(Box::new(move || {
        let _guard = guard;
        serve_connection(stream, &*backend, &caller, &config);
    }))
}

/// Removes a connection from the live set when its thread ends, however it ends.
struct Registered {
    shared: Arc<Shared>,
    id: u64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        let mut live = self.shared.live();
        live.remove(&self.id);
        if live.is_empty() {
            self.shared.drained.notify_all();
        }
    }
}

fn serve_connection<B: Backend + ?Sized>(
    mut stream: UnixStream,
    backend: &B,
    caller: &Caller,
    config: &Config,
) {
    let mut session = Session::new();
    if stream.set_nonblocking(false).is_err()
        || stream
            .set_write_timeout(Some(config.frame_timeout))
            .is_err()
    {
        return;
    }
    loop {
        if stream.set_read_timeout(Some(config.idle_timeout)).is_err() {
            return;
        }
        let deadline = Cell::new(None);
        let mut reader = Deadline {
            stream: &stream,
            deadline: &deadline,
        };
        let read = read_frame(&mut reader, config.max_frame, || {
            deadline.set(Some(Instant::now() + config.frame_timeout));
        });
        let message = match read {
            Ok(message) => message,
            Err(FrameError::TooLarge(len)) => {
                tracing::debug!(len, "ssh-agent frame over the cap");
                let _ = write_frame(&mut stream, &[FAILURE]);
                return;
            }
            Err(_) => return,
        };
        let reply = respond(backend, caller, &mut session, &message);
        drop(message);
        if write_frame(&mut stream, &reply).is_err() {
            return;
        }
    }
}

/// `SSH_AGENT_FAILURE`.
const FAILURE: u8 = 5;

/// A reader whose every read is bounded by one deadline for the whole frame, once set.
struct Deadline<'a> {
    stream: &'a UnixStream,
    deadline: &'a Cell<Option<Instant>>,
}

impl io::Read for Deadline<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(deadline) = self.deadline.get() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::ErrorKind::TimedOut.into());
            }
            self.stream.set_read_timeout(Some(left))?;
        }
        io::Read::read(&mut self.stream, buf)
    }
}
