//! The socket server: one daemon per home, peers of another uid refused, a thread per
//! connection, an idle timer, and a clean lock on SIGTERM/SIGINT/SIGHUP.

use kovra_proto::ErrorCode;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::Arc;
use std::time::Duration;

use kovra_core::store::ensure_private_dir;
use kovra_proto::frame::{self, FrameError, MAX_REQUEST};
use kovra_proto::{Envelope, ErrorReply, Reply, Request, Response};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::broker::Plan;
use crate::handler::{Caller, Daemon};
use crate::os;
use crate::slots::{Slot, Slots};

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("a kovra daemon is already running for {0}")]
    AlreadyRunning(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Setup(String),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ServeError {
    let what = what.into();
    move |source| ServeError::Io { what, source }
}

/// Serve until a shutdown request or a termination signal ends the process. `boot` is a
/// connection inherited from the client that started this daemon (its stdin): served like
/// any other once this daemon holds the home, or told why it does not.
pub fn serve(daemon: Daemon, boot: Option<UnixStream>) -> Result<(), ServeError> {
    let mut boot = boot;
    let result = serve_inner(daemon, &mut boot);
    if let (Err(e), Some(stream)) = (&result, boot) {
        let code = match e {
            ServeError::AlreadyRunning(_) => ErrorCode::DaemonRunning,
            _ => ErrorCode::DaemonFailed,
        };
        let mut stream = stream;
        let _ = frame::write(
            &mut stream,
            &Response::Error(ErrorReply {
                code,
                message: e.to_string(),
                hint: None,
            }),
        );
    }
    result
}

fn serve_inner(daemon: Daemon, boot: &mut Option<UnixStream>) -> Result<(), ServeError> {
    let paths = daemon.paths.clone();
    ensure_private_dir(&paths.home).map_err(|e| ServeError::Setup(e.to_string()))?;
    // One daemon per home: an exclusive lock held for the daemon's life.
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(paths.lock_file())
        .map_err(io(format!("opening {}", paths.lock_file().display())))?;
    // A daemon that is stopping removes its socket just before it exits and releases the
    // lock: give it a moment rather than refusing the one that replaces it. Both locks are
    // held (`kovra_proto::homelock`): the `flock` keeps a daemon of an earlier kovra out,
    // the record lock, held from a descriptor table no other code uses
    // (`crate::recordlock`), tells clients who holds the home.
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    let held = loop {
        if lock.try_lock().is_ok()
            && let Some(held) = crate::recordlock::hold(&lock)
                .map_err(io(format!("locking {}", paths.lock_file().display())))?
        {
            break held;
        }
        if std::time::Instant::now() >= deadline || paths.socket.exists() {
            return Err(ServeError::AlreadyRunning(paths.home.display().to_string()));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let hardening = os::harden();
    // Every path the daemon opens is absolute (`kovra_proto::paths`; callers send their own
    // directories), so it need not keep the one it was started from: a project on a disk the
    // user wants to unmount, or a directory they delete, is not held busy by it.
    if paths.home.is_absolute() && paths.socket.is_absolute() {
        let _ = std::env::set_current_dir("/");
    }
    tracing::info!(
        dumpable_off = hardening.dumpable_off,
        memory_locked = hardening.memory_locked,
        "hardening"
    );

    let sock_dir = paths
        .socket
        .parent()
        .ok_or_else(|| ServeError::Setup("the socket path has no directory".into()))?;
    if paths.socket_is_default {
        ensure_private_dir(sock_dir).map_err(|e| ServeError::Setup(e.to_string()))?;
    } else if !sock_dir.exists() {
        // A directory named by KOVRA_SOCKET is created private, but an existing one is
        // never re-moded: it may be shared (the socket itself is 0600 and peers are checked).
        ensure_private_dir(sock_dir).map_err(|e| ServeError::Setup(e.to_string()))?;
    }
    // We hold the home lock, so any socket file here is stale.
    let _ = std::fs::remove_file(&paths.socket);
    let listener = UnixListener::bind(&paths.socket)
        .map_err(io(format!("binding {}", paths.socket.display())))?;
    std::fs::set_permissions(&paths.socket, std::fs::Permissions::from_mode(0o600))
        .map_err(io("setting the socket's mode"))?;
    let bound = Bound {
        socket: file_id(
            &std::fs::symlink_metadata(&paths.socket).map_err(io("reading the socket"))?,
        ),
        lock: file_id(&lock.metadata().map_err(io("reading the lock file"))?),
    };
    tracing::info!(socket = %paths.socket.display(), pid = std::process::id(), "listening");

    // The name clients dial first. A name already taken while we hold the home's lock is
    // someone posing as the daemon: refuse to run beside it.
    let named = bind_name(&paths)?;
    let daemon = Arc::new(daemon);
    daemon.ssh_agent_host().adopt(Arc::downgrade(&daemon));
    daemon.web_host().adopt(Arc::downgrade(&daemon));
    // An agent socket the last daemon of this home left behind (a handover, a crash) was
    // wanted: serve it again, as the agent profiles' sockets are, so `SSH_AUTH_SOCK` in the
    // user's shells keeps working across `kovra lock` and `kovra unlock`.
    daemon.ssh_agent_host().resume(&paths.ssh_agent_socket());
    spawn_signal_thread(Arc::clone(&daemon))?;
    spawn_watch_thread(Arc::clone(&daemon), bound, held);
    os::raise_descriptor_limit();
    let gate = Arc::new(Admission {
        my_uid: os::effective_uid(),
        slots: Arc::new(Slots::default()),
        refuse: spawn_refuser(),
    });
    {
        let (weak, gate) = (Arc::downgrade(&daemon), Arc::clone(&gate));
        daemon
            .agents()
            .set_spawner(Box::new(move |listener, name, closed| {
                let (weak, gate) = (weak.clone(), Arc::clone(&gate));
                let spawned = std::thread::Builder::new()
                    .name("kovra-agent-accept".into())
                    .spawn(move || {
                        if let Some(daemon) = weak.upgrade() {
                            agent_accept_loop(&daemon, &gate, &listener, &name, &closed);
                        }
                    });
                if let Err(e) = spawned {
                    tracing::warn!(error = %e, "cannot start an agent socket's accept thread");
                }
            }));
        // Sandboxes may have outlived the last daemon: their profiles' sockets come back at
        // once, answering "locked" until the human unlocks (then only sealed profiles stay).
        for name in daemon.agents().on_disk() {
            if let Err(e) = daemon.agents().open(&name) {
                tracing::warn!(agent = %name, error = %e, "cannot reopen an agent socket");
            }
        }
    }
    if let Some(stream) = boot.take() {
        admit(&daemon, &gate, stream, None);
    }
    {
        let (daemon, gate) = (Arc::clone(&daemon), Arc::clone(&gate));
        std::thread::spawn(move || accept_loop(&daemon, &gate, &named));
    }
    accept_loop(&daemon, &gate, &listener)
}

/// What decides whether an accepted connection is served.
struct Admission {
    my_uid: u32,
    slots: Arc<Slots>,
    /// Connections answered with a refusal and closed, off the accept loop.
    refuse: std::sync::mpsc::SyncSender<(UnixStream, ErrorReply)>,
}

impl Admission {
    /// Hand a refused connection to the refuser. When its queue is full (a flood that
    /// outran it, or a starved refuser thread on a busy machine) the refusal is written here,
    /// without waiting: a client whose request already arrived still reads why, instead of
    /// a bare reset.
    fn refuse(&self, stream: UnixStream, reply: ErrorReply) {
        use std::sync::mpsc::TrySendError;
        if let Err(TrySendError::Full((stream, reply))) = self.refuse.try_send((stream, reply))
            && stream.set_nonblocking(true).is_ok()
        {
            let mut writer = &stream;
            let _ = frame::write(&mut writer, &Response::Error(reply));
            drained(&stream);
        }
    }
}

/// Check the peer and take a slot before anything else: a peer of another user, or one
/// over a connection limit, costs no thread of its own.
fn admit(daemon: &Arc<Daemon>, gate: &Admission, stream: UnixStream, agent: Option<Arc<str>>) {
    let refusal = |code, message: String| ErrorReply {
        code,
        message,
        hint: code.hint().map(str::to_string),
    };
    let peer = match os::peer_of(&stream) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "no peer credentials; closing");
            return;
        }
    };
    if peer.uid != gate.my_uid {
        tracing::warn!(
            peer_uid = peer.uid,
            peer_pid = peer.pid,
            "refused a peer of another user"
        );
        let reply = refusal(
            ErrorCode::PeerRefused,
            "this daemon serves only its own user".into(),
        );
        gate.refuse(stream, reply);
        return;
    }
    match gate
        .slots
        .take(peer.pid, || os::has_controlling_tty(peer.pid))
    {
        Ok(slot) => serve_connection(daemon, stream, gate.my_uid, slot, agent),
        Err(why) => {
            tracing::warn!(pid = peer.pid, "connection refused: {}", why.message());
            let reply = refusal(ErrorCode::TooManyConnections, why.message());
            gate.refuse(stream, reply);
        }
    }
}

/// How long a refused connection is kept, after its refusal was written, for its request to
/// arrive. The request must be read before the socket is closed: closing a unix socket with
/// unread data resets the connection, and the client would never read its refusal.
const REFUSAL_LINGER: Duration = Duration::from_millis(300);
/// Refused connections lingering at once; beyond this (a flood) the oldest are closed.
const MAX_LINGERING: usize = 1024;

/// One thread answers every refused connection: it writes the refusal at once, then reads
/// (and discards) the request as it arrives, and closes. Nothing here blocks on a client.
fn spawn_refuser() -> std::sync::mpsc::SyncSender<(UnixStream, ErrorReply)> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<(UnixStream, ErrorReply)>(MAX_LINGERING);
    let _ = std::thread::Builder::new()
        .name("kovra-refuser".into())
        .spawn(move || {
            let mut lingering: std::collections::VecDeque<(UnixStream, std::time::Instant)> =
                std::collections::VecDeque::new();
            let refuse = |(stream, reply): (UnixStream, ErrorReply),
                          lingering: &mut std::collections::VecDeque<_>| {
                let _ = stream.set_write_timeout(Some(Duration::from_millis(100)));
                let mut writer = &stream;
                let _ = frame::write(&mut writer, &Response::Error(reply));
                if stream.set_nonblocking(true).is_ok() {
                    // Full: the oldest has waited longest without sending anything (a
                    // flood's idle connection); close it rather than the newcomer.
                    if lingering.len() >= MAX_LINGERING {
                        lingering.pop_front();
                    }
                    lingering.push_back((stream, std::time::Instant::now() + REFUSAL_LINGER));
                }
            };
            loop {
                let first = if lingering.is_empty() {
                    match rx.recv() {
                        Ok(item) => Some(item),
                        Err(_) => return,
                    }
                } else {
                    rx.recv_timeout(Duration::from_millis(10)).ok()
                };
                if let Some(item) = first {
                    refuse(item, &mut lingering);
                }
                while let Ok(item) = rx.try_recv() {
                    refuse(item, &mut lingering);
                }
                let now = std::time::Instant::now();
                lingering.retain(|(stream, deadline)| !drained(stream) && now < *deadline);
            }
        });
    tx
}

/// Read what a refused connection sent; true once it sent something and paused, or hung up
/// (then it can be closed without resetting it). At most 64 KiB a call: a client that keeps
/// writing cannot hold the thread that reads it.
fn drained(stream: &UnixStream) -> bool {
    use std::io::Read;
    let mut buf = [0u8; 4096];
    let mut got = false;
    let mut reader = stream;
    for _ in 0..16 {
        match reader.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => got = true,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return got,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return true,
        }
    }
    // Still writing after 64 KiB: closing resets it, which such a client has earned.
    true
}

/// How long a new connection may take to send its first request. A client sends it at once;
/// a connection that stays silent only holds a thread and two descriptors, so it is closed.
const FIRST_FRAME: Duration = Duration::from_secs(10);

/// Serve a connection on its own thread (a pooled one, `crate::pool`). When no thread can
/// be created (a process or memory limit) the connection is closed and the daemon serves
/// on: `std::thread::spawn` would panic and take the accept loop, or the whole daemon, with it.
fn serve_connection(
    daemon: &Arc<Daemon>,
    stream: UnixStream,
    my_uid: u32,
    slot: Slot,
    agent: Option<Arc<str>>,
) {
    let daemon = Arc::clone(daemon);
    let spawned = crate::pool::spawn(move || {
        connection(&daemon, stream, my_uid, agent);
        drop(slot);
    });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start a thread for a connection; closing it");
    }
}

/// Blocking accept: a new connection is served at once, on its own thread.
/// Shutdown happens in `Daemon::lock_and_exit`, from a signal or a shutdown request.
fn accept_loop(daemon: &Arc<Daemon>, gate: &Admission, listener: &UnixListener) -> ! {
    loop {
        match listener.accept() {
            Ok((stream, _)) => admit(daemon, gate, stream, None),
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// An agent profile's socket: every connection is bound to the profile. Ends when the
/// profile's socket is closed (revoked, expired, or no longer sealed after an unlock).
fn agent_accept_loop(
    daemon: &Arc<Daemon>,
    gate: &Admission,
    listener: &UnixListener,
    name: &Arc<str>,
    closed: &std::sync::atomic::AtomicBool,
) {
    use std::sync::atomic::Ordering;
    loop {
        let accepted = listener.accept();
        if closed.load(Ordering::SeqCst) {
            return;
        }
        match accepted {
            Ok((stream, _)) => admit(daemon, gate, stream, Some(Arc::clone(name))),
            Err(e) => {
                tracing::warn!(agent = %name, error = %e, "accept failed");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

fn spawn_signal_thread(daemon: Arc<Daemon>) -> Result<(), ServeError> {
    let mut signals =
        Signals::new([SIGTERM, SIGINT, SIGHUP]).map_err(io("installing signal handlers"))?;
    std::thread::spawn(move || {
        if let Some(sig) = signals.forever().next() {
            tracing::info!(signal = sig, "terminating");
            daemon.lock_and_exit("signal");
        }
    });
    Ok(())
}

/// Bind the daemon's abstract name. A daemon that handed over may hold it for a moment
/// after it released the lock (its descriptors close one by one as it exits).
fn bind_name(paths: &kovra_proto::paths::Paths) -> Result<UnixListener, ServeError> {
    use std::os::linux::net::SocketAddrExt;
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(paths.abstract_name())
        .map_err(io("naming the abstract socket"))?;
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    loop {
        match UnixListener::bind_addr(&addr) {
            Ok(listener) => return Ok(listener),
            Err(e)
                if e.kind() == std::io::ErrorKind::AddrInUse
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => {
                return Err(ServeError::Io {
                    what: "binding the daemon's abstract socket name (another process holds it)"
                        .into(),
                    source: e,
                });
            }
        }
    }
}

/// The files this daemon bound and locked, by identity (device, inode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Bound {
    socket: (u64, u64),
    lock: (u64, u64),
}

fn file_id(meta: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

/// How often the paths are checked: a relay renamed onto the socket path is noticed within
/// this interval (two `stat` calls and a look at the record lock each time).
const WATCH_INTERVAL: Duration = Duration::from_millis(100);

fn spawn_watch_thread(daemon: Arc<Daemon>, bound: Bound, lock: crate::recordlock::Held) {
    std::thread::spawn(move || {
        let mut ticks = 0u32;
        loop {
            std::thread::sleep(WATCH_INTERVAL);
            ticks = ticks.wrapping_add(1);
            if ticks.is_multiple_of(5) && daemon.lock_if_idle() {
                tracing::info!("locked after the idle timeout");
            }
            if ticks.is_multiple_of(10) {
                daemon.expire_profiles();
            }
            watch_paths(&daemon, bound, &lock);
        }
    });
}

/// The path, not the inode, is what clients dial: it must still name our socket, with no
/// second name, and the lock file must still be the one we hold, with our record lock.
fn watch_paths(daemon: &Daemon, bound: Bound, lock: &crate::recordlock::Held) {
    use std::os::unix::fs::MetadataExt;
    match std::fs::symlink_metadata(&daemon.paths.socket) {
        // A daemon whose socket was removed (its home deleted, a test torn down) can never
        // be reached again: stop rather than linger with a key in memory.
        Err(_) => daemon.lock_and_exit("socket removed"),
        Ok(meta) if file_id(&meta) != bound.socket => {
            daemon.socket_replaced("the socket path names another socket")
        }
        Ok(meta) if meta.nlink() > 1 => {
            daemon.socket_replaced("the socket was given a second name (hard link)")
        }
        Ok(_) => {}
    }
    match std::fs::symlink_metadata(daemon.paths.lock_file()) {
        Ok(meta) if file_id(&meta) == bound.lock => {}
        _ => daemon.socket_replaced("the daemon lock file was moved or replaced"),
    }
    // Clients trust the record lock's holder (`crate::recordlock`): should it ever be lost
    // or be another process's, no client may find this daemon trustworthy any more.
    if !lock.still_held() {
        daemon.socket_replaced("the daemon's record lock on its lock file was lost");
    }
}

fn connection(daemon: &Daemon, stream: UnixStream, my_uid: u32, agent: Option<Arc<str>>) {
    let _ = stream.set_nonblocking(false);
    let peer = match os::peer_of(&stream) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "no peer credentials; closing");
            return;
        }
    };
    let Ok(read_half) = stream.try_clone() else {
        tracing::warn!(
            pid = peer.pid,
            "cannot duplicate the connection's descriptor; closing"
        );
        return;
    };
    // Unbuffered on both sides: frames are read and written whole, and a buffer of ours
    // would keep copies of their bytes (passphrases, values) that nothing wipes.
    let mut reader = crate::fdreader::FdReader::new(read_half);
    let mut writer = stream;
    if peer.uid != my_uid {
        tracing::warn!(
            peer_uid = peer.uid,
            peer_pid = peer.pid,
            "refused a peer of another user"
        );
        let refusal = Response::Error(ErrorReply {
            code: ErrorCode::PeerRefused,
            message: "this daemon serves only its own user".into(),
            hint: None,
        });
        let _ = frame::write(&mut writer, &refusal);
        return;
    }
    let caller = Caller {
        peer,
        exe: os::exe_of(peer.pid).map(|p| p.display().to_string()),
        tty: os::has_controlling_tty(peer.pid),
        agent,
        namespaces: crate::nsjoin::Namespaces::of_connection(&writer, peer.pid),
    };
    match &caller.namespaces {
        crate::nsjoin::Namespaces::Own => {}
        crate::nsjoin::Namespaces::Foreign(f) => {
            tracing::debug!(pid = peer.pid, namespaces = ?f, "caller in other namespaces");
        }
        crate::nsjoin::Namespaces::Unreadable(why) => {
            tracing::debug!(
                pid = peer.pid,
                why,
                "cannot read the caller's namespaces; its runs are refused"
            );
        }
    }
    // The first request must come soon; later ones may wait as long as the client likes
    // (a human typing a passphrase between a challenge and its answer).
    let _ = writer.set_read_timeout(Some(FIRST_FRAME));
    let mut first = true;
    loop {
        let envelope: Envelope = match frame::read(&mut reader, MAX_REQUEST) {
            Ok(e) => e,
            Err(FrameError::Closed) => return,
            Err(FrameError::Io(e))
                if first
                    && matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
            {
                tracing::debug!(pid = peer.pid, "closing a connection that sent nothing");
                return;
            }
            Err(e) => {
                // A framing failure closes the connection; the detail stays in our log.
                tracing::warn!(error = redact_frame_error(&e), pid = peer.pid, "bad frame");
                let _ = frame::write(
                    &mut writer,
                    &Response::Error(ErrorReply {
                        code: ErrorCode::BadRequest,
                        message: format!(
                            "the daemon could not read the request: {}",
                            redact_frame_error(&e)
                        ),
                        hint: Some("use a kovra client of the same version".into()),
                    }),
                );
                return;
            }
        };
        if first {
            first = false;
            let _ = writer.set_read_timeout(None);
        }
        // Descriptors sent with this request (a run's stdin, stdout, stderr) are in hand
        // before anything is decided; any sent with another request are closed here.
        let fds = reader.take_fds();
        let stops = matches!(envelope.request, Request::Shutdown | Request::Handover);
        let handover = matches!(envelope.request, Request::Handover);
        let streamed = crate::stream::is_streamed(&envelope.request);
        let (mut response, delay, plan) = daemon.handle(envelope, &caller);
        let with_fds = fds.len() == 3 && matches!(plan, Some(Plan::Run(_)));
        if with_fds
            && let Response::Ok { reply } = &mut response
            && let Reply::RunReady {
                descriptors_received,
                ..
            } = reply.as_mut()
        {
            *descriptors_received = true;
        }
        let shutdown = stops && matches!(response, Response::Ok { .. });
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
        // The gate's reply is a placeholder for these: the call's own result is the answer.
        let (carried, plan) = match plan {
            Some(Plan::Api(api)) => (Some(crate::broker::execute(daemon, *api)), None),
            Some(Plan::Ssh(ssh)) => (Some(ssh_streamed(daemon, *ssh, &mut writer)), None),
            Some(Plan::SshPin(pin)) => (Some(crate::sshexec::pin(daemon, *pin)), None),
            Some(Plan::Query(q)) => (Some(crate::queryexec::execute(daemon, *q)), None),
            other => (None, other),
        };
        if let Some(response) = carried {
            if frame::write(&mut writer, &response).is_err() {
                return;
            }
            continue;
        }
        if crate::stream::write_response(&mut writer, response, streamed).is_err() {
            return;
        }
        if let Some(Plan::Records(records)) = plan {
            if crate::stream::write_records(&mut writer, &records).is_err() {
                return;
            }
            continue;
        }
        if shutdown {
            daemon.lock_and_exit(if handover {
                "handover"
            } else {
                "shutdown request"
            });
        }
        if let Some(Plan::Sandbox(ticket)) = plan {
            // The sandbox's egress lives as long as `kovra sandbox` keeps this connection.
            daemon.agents().sandbox_started(&ticket.agent);
            let _ = writer.set_read_timeout(None);
            let mut sink = [0u8; 64];
            loop {
                match std::io::Read::read(&mut reader, &mut sink) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
            daemon.agents().sandbox_ended(&ticket.agent);
            drop(ticket);
            return;
        }
        if let Some(Plan::Run(plan)) = plan {
            // The connection now belongs to the run; it ends with the child.
            let Ok(stream) = writer.try_clone() else {
                return;
            };
            tracing::debug!(with_request = with_fds, "run descriptors");
            let fds = with_fds.then_some(fds);
            crate::run::execute(*plan, fds, &stream, reader, &mut writer);
            return;
        }
    }
}

/// Carry out a brokered ssh command; a streamed one sends its output as `SshOutput` frames
/// while it runs. The frames go through a bounded queue to a writer thread, so a client that
/// reads slowly never holds up the command (past the queue its output is dropped and the
/// reply says `truncated`), and the writer gives up at the command's own deadline.
fn ssh_streamed(
    daemon: &Daemon,
    plan: crate::sshexec::SshPlan,
    writer: &mut UnixStream,
) -> Response {
    use base64::Engine as _;
    if !plan.stream {
        return crate::sshexec::execute(daemon, plan, None);
    }
    let Ok(mut socket) = writer.try_clone() else {
        return crate::sshexec::execute(daemon, plan, None);
    };
    let deadline = std::time::Instant::now() + plan.timeout + Duration::from_secs(30);
    let (tx, rx) = std::sync::mpsc::sync_channel::<(bool, Vec<u8>)>(256);
    let frames = std::thread::spawn(move || {
        for (stderr, data) in rx {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() || socket.set_write_timeout(Some(left)).is_err() {
                return;
            }
            let frame = Response::Ok {
                reply: Box::new(Reply::SshOutput {
                    stderr,
                    data_base64: base64::engine::general_purpose::STANDARD.encode(data),
                }),
            };
            if frame::write(&mut socket, &frame).is_err() {
                return;
            }
        }
    });
    let mut send = |stderr: bool, data: &[u8]| tx.try_send((stderr, data.to_vec())).is_ok();
    let response = crate::sshexec::execute(daemon, plan, Some(&mut send));
    drop(tx);
    let _ = frames.join();
    let _ = writer.set_write_timeout(None);
    response
}

/// serde's messages can quote input; keep only the category so no value is echoed.
fn redact_frame_error(e: &FrameError) -> &'static str {
    match e {
        FrameError::TooLarge(..) => "the request is too large",
        FrameError::Malformed(_) => "malformed JSON or unknown operation",
        FrameError::Io(_) | FrameError::Closed => "connection error",
    }
}

/// Keep the log file private: it holds no values, but it names coordinates.
pub fn open_log(path: &std::path::Path) -> std::io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A refuser that is not keeping up (here: none is receiving) must not turn a refusal
    /// into a bare reset: the client whose request already arrived reads why.
    #[test]
    fn a_refusal_is_written_even_when_the_refusers_queue_is_full() {
        let (refuse, _queue) = std::sync::mpsc::sync_channel(0);
        let gate = Admission {
            my_uid: os::effective_uid(),
            slots: Arc::new(Slots::default()),
            refuse,
        };
        let (mut client, daemon_side) = UnixStream::pair().unwrap();
        client.write_all(&[0, 0, 0, 2, b'{', b'}']).unwrap();
        gate.refuse(
            daemon_side,
            ErrorReply {
                code: ErrorCode::TooManyConnections,
                message: "over the limit".into(),
                hint: None,
            },
        );
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let reply: Response = frame::read(&mut client, 1 << 16).unwrap();
        match reply {
            Response::Error(e) => assert_eq!(e.code, ErrorCode::TooManyConnections),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
}
