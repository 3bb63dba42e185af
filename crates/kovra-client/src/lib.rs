//! The daemon's client: connect over the unix socket (starting the daemon when asked),
//! send one envelope, read one reply. Used by every surface that is not the daemon.
#![forbid(unsafe_code)]

use std::io::{BufReader, BufWriter};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kovra_proto::frame::{self, FrameError, MAX_REPLY};
use kovra_proto::paths::Paths;
use kovra_proto::{Envelope, Response};

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
}

impl ClientError {
    pub fn code(&self) -> &'static str {
        "daemon-unreachable"
    }

    pub fn hint(&self) -> &'static str {
        match self {
            ClientError::NotRunning(_) => {
                "start it with `kovra daemon`, or let the CLI start it (unset KOVRA_NO_AUTOSTART)"
            }
            ClientError::StartFailed(_) => "run `kovra daemon` in a terminal to see why it stops",
            _ => "check `kovra status`; restart with `kovra daemon stop` and retry",
        }
    }
}

/// One connection to the daemon.
pub struct Client {
    reader: BufReader<UnixStream>,
    writer: BufWriter<UnixStream>,
}

impl Client {
    /// Connect to a running daemon.
    pub fn connect(paths: &Paths) -> Result<Self, ClientError> {
        let stream = UnixStream::connect(&paths.socket).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => {
                ClientError::NotRunning(paths.socket.clone())
            }
            _ => ClientError::Unreachable {
                socket: paths.socket.clone(),
                source: e,
            },
        })?;
        let read = stream.try_clone().map_err(|e| ClientError::Unreachable {
            socket: paths.socket.clone(),
            source: e,
        })?;
        Ok(Client {
            reader: BufReader::new(read),
            writer: BufWriter::new(stream),
        })
    }

    /// Connect, starting `kovra daemon` from `exe` first if none is running.
    pub fn connect_or_start(paths: &Paths, exe: &Path) -> Result<Self, ClientError> {
        match Self::connect(paths) {
            Err(ClientError::NotRunning(_)) => {}
            other => return other,
        }
        start_daemon(paths, exe)?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match Self::connect(paths) {
                Err(ClientError::NotRunning(_)) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(ClientError::NotRunning(s)) => {
                    return Err(ClientError::StartFailed(format!(
                        "no socket appeared at {} (see {})",
                        s.display(),
                        paths.log_file().display()
                    )));
                }
                other => return other,
            }
        }
    }

    /// Send one request and wait for its reply.
    pub fn call(&mut self, envelope: &Envelope) -> Result<Response, ClientError> {
        self.send(envelope)?;
        self.receive()
    }

    pub fn send(&mut self, envelope: &Envelope) -> Result<(), ClientError> {
        Ok(frame::write(&mut self.writer, envelope)?)
    }

    pub fn receive(&mut self) -> Result<Response, ClientError> {
        Ok(frame::read(&mut self.reader, MAX_REPLY)?)
    }

    /// Pass descriptors (a run's stdin, stdout, stderr) to the daemon with SCM_RIGHTS.
    pub fn send_fds(&self, fds: &[std::os::fd::RawFd]) -> Result<(), ClientError> {
        use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};
        use std::os::fd::AsRawFd;
        let byte = [0u8; 1];
        let iov = [std::io::IoSlice::new(&byte)];
        sendmsg::<()>(
            self.writer.get_ref().as_raw_fd(),
            &iov,
            &[ControlMessage::ScmRights(fds)],
            MsgFlags::empty(),
            None,
        )
        .map_err(|e| ClientError::Frame(FrameError::Io(e.into())))?;
        Ok(())
    }

    /// A second handle for sending on the same connection (signals during a run).
    pub fn sender(&self) -> Result<Sender, ClientError> {
        let stream = self
            .writer
            .get_ref()
            .try_clone()
            .map_err(|e| ClientError::Frame(FrameError::Io(e)))?;
        Ok(Sender {
            writer: BufWriter::new(stream),
        })
    }
}

/// Sends frames on a connection whose replies another thread reads.
pub struct Sender {
    writer: BufWriter<UnixStream>,
}

impl Sender {
    pub fn send(&mut self, envelope: &Envelope) -> Result<(), ClientError> {
        Ok(frame::write(&mut self.writer, envelope)?)
    }
}

fn start_daemon(paths: &Paths, exe: &Path) -> Result<(), ClientError> {
    kovra_core::store::ensure_private_dir(&paths.home)
        .map_err(|e| ClientError::StartFailed(e.to_string()))?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(paths.log_file())
        .map_err(|e| ClientError::StartFailed(format!("{}: {e}", paths.log_file().display())))?;
    Command::new(exe)
        .args(["daemon", "--background"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(|e| ClientError::StartFailed(format!("{}: {e}", exe.display())))?;
    Ok(())
}
