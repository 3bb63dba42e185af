//! Reading requests with `recvmsg`, so descriptors a client attaches to a request (a run's
//! stdin, stdout and stderr) arrive with it, before anything is decided, and cannot be lost
//! to a plain `read` (which would discard them).

use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;

/// The most descriptors kept with one request: a run's three.
const MAX_FDS: usize = crate::os::MAX_RECEIVED_FDS;

/// A connection's read half that keeps the descriptors arriving with the bytes.
pub struct FdReader {
    stream: UnixStream,
    fds: Vec<OwnedFd>,
}

impl FdReader {
    pub fn new(stream: UnixStream) -> Self {
        FdReader {
            stream,
            fds: Vec::new(),
        }
    }

    /// The descriptors received since the last call (for the request just read).
    pub fn take_fds(&mut self) -> Vec<OwnedFd> {
        std::mem::take(&mut self.fds)
    }
}

/// For `poll`: a run waits on the connection for the client's control frames.
impl AsFd for FdReader {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.stream.as_fd()
    }
}

impl Read for FdReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let (n, fds) = crate::os::recv_with_fds(&self.stream, buf)?;
        // Keep at most three (a run's); any others are closed here.
        for fd in fds {
            if self.fds.len() < MAX_FDS {
                self.fds.push(fd);
            }
        }
        Ok(n)
    }
}
