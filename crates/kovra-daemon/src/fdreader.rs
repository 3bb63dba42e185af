//! Reading requests with `recvmsg`, so descriptors a client attaches to a request (a run's
//! stdin, stdout and stderr) arrive with it, before anything is decided, and cannot be lost
//! to a plain `read` (which would discard them).

use std::io::{IoSliceMut, Read};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;

use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};

/// The most descriptors kept with one request: a run's three.
const MAX_FDS: usize = 3;

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

    pub fn stream(&self) -> &UnixStream {
        &self.stream
    }
}

impl Read for FdReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut iov = [IoSliceMut::new(buf)];
        let mut space = nix::cmsg_space!([std::os::fd::RawFd; MAX_FDS]);
        let msg = recvmsg::<()>(
            self.stream.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .map_err(std::io::Error::from)?;
        let mut raw = Vec::new();
        for cmsg in msg.cmsgs().map_err(std::io::Error::from)? {
            if let ControlMessageOwned::ScmRights(fds) = cmsg {
                raw.extend(fds);
            }
        }
        let n = msg.bytes;
        // Adopt every descriptor (so each is closed when dropped), keep at most three.
        for fd in crate::os::adopt_received_fds(raw) {
            if self.fds.len() < MAX_FDS {
                self.fds.push(fd);
            }
        }
        Ok(n)
    }
}
