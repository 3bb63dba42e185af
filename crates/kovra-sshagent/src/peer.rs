//! The facts about a connecting process that the kernel vouches for.

use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;

use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};

use crate::backend::Caller;

/// The peer's credentials (`SO_PEERCRED`, fixed at `connect`) and its executable.
pub fn caller_of(stream: &UnixStream) -> std::io::Result<Caller> {
    let cred = getsockopt(&stream.as_fd(), PeerCredentials).map_err(std::io::Error::from)?;
    let pid = u32::try_from(cred.pid()).unwrap_or(0);
    Ok(Caller {
        pid,
        uid: cred.uid(),
        gid: cred.gid(),
        exe: (pid != 0)
            .then(|| std::fs::read_link(format!("/proc/{pid}/exe")).ok())
            .flatten(),
    })
}

/// The user this process acts as: the only one whose connections are served.
pub fn effective_uid() -> u32 {
    nix::unistd::geteuid().as_raw()
}
