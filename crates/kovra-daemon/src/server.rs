//! The socket server: one daemon per home, peers of another uid refused, a thread per
//! connection, an idle timer, and a clean lock on SIGTERM/SIGINT/SIGHUP.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, BufWriter};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::Arc;
use std::time::Duration;

use kovra_core::store::ensure_private_dir;
use kovra_proto::frame::{self, FrameError, MAX_REQUEST};
use kovra_proto::{Envelope, ErrorReply, Request, Response};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::broker::Plan;
use crate::handler::{Caller, Daemon};
use crate::os;

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

/// Serve until a shutdown request or a termination signal ends the process.
pub fn serve(daemon: Daemon) -> Result<(), ServeError> {
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
    // lock: give it a moment rather than refusing the one that replaces it.
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    while lock.try_lock().is_err() {
        if std::time::Instant::now() >= deadline || paths.socket.exists() {
            return Err(ServeError::AlreadyRunning(paths.home.display().to_string()));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let hardening = os::harden();
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
    tracing::info!(socket = %paths.socket.display(), pid = std::process::id(), "listening");

    let daemon = Arc::new(daemon);
    spawn_signal_thread(Arc::clone(&daemon))?;
    spawn_idle_thread(Arc::clone(&daemon));
    let my_uid = os::effective_uid();
    // Blocking accept: a new connection is served at once. Shutdown happens in
    // `Daemon::lock_and_exit`, from a signal or a shutdown request.
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                let daemon = Arc::clone(&daemon);
                std::thread::spawn(move || connection(&daemon, stream, my_uid));
            }
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
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

fn spawn_idle_thread(daemon: Arc<Daemon>) {
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(Duration::from_millis(500));
            if daemon.lock_if_idle() {
                tracing::info!("locked after the idle timeout");
            }
            // A daemon whose socket was removed (its home deleted, a test torn down) can
            // never be reached again: stop rather than linger with a key in memory.
            if !daemon.paths.socket.exists() {
                daemon.lock_and_exit("socket removed");
            }
        }
    });
}

fn connection(daemon: &Daemon, stream: UnixStream, my_uid: u32) {
    let _ = stream.set_nonblocking(false);
    let peer = match os::peer_of(&stream) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "no peer credentials; closing");
            return;
        }
    };
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut writer = BufWriter::new(stream);
    if peer.uid != my_uid {
        tracing::warn!(
            peer_uid = peer.uid,
            peer_pid = peer.pid,
            "refused a peer of another user"
        );
        let refusal = Response::Error(ErrorReply {
            code: "peer-refused".into(),
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
    };
    loop {
        let envelope: Envelope = match frame::read(&mut reader, MAX_REQUEST) {
            Ok(e) => e,
            Err(FrameError::Closed) => return,
            Err(e) => {
                // A framing failure closes the connection; the detail stays in our log.
                tracing::warn!(error = redact_frame_error(&e), pid = peer.pid, "bad frame");
                let _ = frame::write(
                    &mut writer,
                    &Response::Error(ErrorReply {
                        code: "bad-request".into(),
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
        let shutdown = matches!(envelope.request, Request::Shutdown);
        let (response, delay, plan) = daemon.handle(envelope, &caller);
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
        if let Some(Plan::Api(api)) = plan {
            // The gate's reply is a placeholder: the call's own result is the answer.
            let response = crate::broker::execute(daemon, *api);
            if frame::write(&mut writer, &response).is_err() {
                return;
            }
            continue;
        }
        if frame::write(&mut writer, &response).is_err() {
            return;
        }
        if shutdown {
            daemon.lock_and_exit("shutdown request");
        }
        if let Some(Plan::Run(plan)) = plan {
            // The connection now belongs to the run; it ends with the child.
            let Ok(stream) = writer.get_ref().try_clone() else {
                return;
            };
            crate::run::execute(plan, &stream, reader, &mut writer);
            return;
        }
    }
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
