//! Who listens at the socket. The socket's directory belongs to the user, so any process of
//! theirs (an agent included) can move the real socket aside and put its own relay on the
//! path. Before a client sends a single byte it asks the kernel about the peer and requires
//! what only the daemon of this home can show at once:
//!
//! - the same user (`SO_PEERCRED`);
//! - the process holding this home's daemon lock (`kovra_proto::homelock`), which a relay
//!   cannot hold while the daemon lives, and the daemon exits when its lock file or socket is
//!   replaced or its lock lost;
//! - not traced (`TracerPid: 0`);
//! - non-dumpable: a non-root client cannot read a non-dumpable process's executable, and
//!   the daemon is never dumpable, so an executable we *can* read means a process some other
//!   program of the user could have taken over;
//! - where the executable is readable (root), the same file as the expected one.
//!
//! What this cannot tell apart (see docs/design/daemon.md): a non-dumpable impostor started
//! after the real daemon was killed. Passphrases therefore never travel to a daemon found at
//! the path (unlock hands them to a daemon the client starts itself), and proofs are MACs a
//! daemon without the vault key cannot answer.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use kovra_proto::homelock;
use kovra_proto::procfs::{self, flock_holders, tracer_pid};
use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};

/// What the kernel says about the process on the other end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DaemonPeer {
    pub pid: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeerError {
    #[error("the kernel gave no credentials for the socket's peer")]
    NoCredentials,
    #[error("the process at the socket runs as uid {0}, not as you")]
    OtherUser(u32),
    /// `holder` is empty when nobody holds the lock (the daemon is gone).
    #[error("the process at the socket (pid {pid}) does not hold this home's daemon lock{holder}")]
    NotLockHolder { pid: u32, holder: String },
    #[error("the process at the socket (pid {pid}) is being traced by pid {tracer}")]
    Traced { pid: u32, tracer: u32 },
    #[error("the process at the socket (pid {0}) is dumpable, which the kovra daemon never is")]
    Dumpable(u32),
    #[error("the process at the socket (pid {pid}) runs {exe}, not this kovra")]
    OtherExecutable { pid: u32, exe: String },
    #[error("the process at the socket (pid {0}) is gone")]
    Gone(u32),
}

/// Check the peer of `stream` against the home whose lock file is `lock_file`. `expected`
/// is the executable the daemon must run (the client's own, unless it is another program).
pub fn authenticate(
    stream: &UnixStream,
    lock_file: &Path,
    expected: &Path,
) -> Result<DaemonPeer, PeerError> {
    let cred = getsockopt(stream, PeerCredentials).map_err(|_| PeerError::NoCredentials)?;
    let (pid, uid) = (cred.pid(), cred.uid());
    if uid != nix::unistd::geteuid().as_raw() {
        return Err(PeerError::OtherUser(uid));
    }
    let pid = u32::try_from(pid).map_err(|_| PeerError::NoCredentials)?;
    check_lock_holder(pid, lock_file)?;
    let status = procfs::read(format!("/proc/{pid}/status")).map_err(|_| PeerError::Gone(pid))?;
    let tracer = tracer_pid(&status).ok_or(PeerError::Gone(pid))?;
    if tracer != 0 {
        return Err(PeerError::Traced { pid, tracer });
    }
    check_executable(pid, expected)?;
    Ok(DaemonPeer { pid })
}

fn check_lock_holder(pid: u32, lock_file: &Path) -> Result<(), PeerError> {
    let not_holder = |holder: String| PeerError::NotLockHolder { pid, holder };
    // 0 is what the kernel gives for a process this one's pid namespace does not show: it
    // names nobody, so it can match nothing.
    if pid == 0 {
        return Err(not_holder(" (its pid is hidden from this process)".into()));
    }
    match homelock::holder(lock_file) {
        Ok(Some(holder)) if u32::try_from(holder) == Ok(pid) => Ok(()),
        Ok(Some(holder)) if holder > 0 => Err(not_holder(format!(" (pid {holder} does)"))),
        Ok(Some(_)) => Err(not_holder(
            " (a lock that names no process you can see holds it)".into(),
        )),
        Ok(None) => check_flock_holder(pid, lock_file),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(not_holder(" (there is no lock file)".into()))
        }
        Err(e) => Err(not_holder(format!(
            " (its lock file cannot be checked: {e})"
        ))),
    }
}

/// A daemon of an earlier kovra holds only the `flock`, found in `/proc/locks` (slow: see
/// `kovra_proto::homelock`). Only reached when nobody holds the record lock.
fn check_flock_holder(pid: u32, lock_file: &Path) -> Result<(), PeerError> {
    let not_holder = |holder: String| PeerError::NotLockHolder { pid, holder };
    let meta = fs::symlink_metadata(lock_file)
        .map_err(|_| not_holder(" (there is no lock file)".into()))?;
    let locks = procfs::read("/proc/locks").map_err(|_| not_holder(String::new()))?;
    let holders = flock_holders(&locks, meta.dev(), meta.ino());
    if holders.contains(&pid) {
        return Ok(());
    }
    Err(not_holder(match holders.first() {
        Some(h) => format!(" (pid {h} does)"),
        None => String::new(),
    }))
}

fn check_executable(pid: u32, expected: &Path) -> Result<(), PeerError> {
    match fs::metadata(format!("/proc/{pid}/exe")) {
        Ok(peer) => {
            // Readable: either we may trace anything (root), or the peer is dumpable.
            if !nix::unistd::geteuid().is_root() {
                return Err(PeerError::Dumpable(pid));
            }
            let same = fs::metadata(expected)
                .is_ok_and(|mine| mine.dev() == peer.dev() && mine.ino() == peer.ino());
            let exe = fs::read_link(format!("/proc/{pid}/exe"))
                .unwrap_or_else(|_| PathBuf::from("another program"));
            // A daemon started before kovra was rebuilt or reinstalled runs the replaced
            // file; the path it was started from is still ours.
            let replaced_in_place = || {
                exe.to_str()
                    .and_then(|p| p.strip_suffix(" (deleted)"))
                    .is_some_and(|old| {
                        fs::canonicalize(expected).is_ok_and(|mine| mine == Path::new(old))
                    })
            };
            if same || replaced_in_place() || same_content(&format!("/proc/{pid}/exe"), expected) {
                Ok(())
            } else {
                Err(PeerError::OtherExecutable {
                    pid,
                    exe: exe.display().to_string(),
                })
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Ok(()),
        Err(_) => Err(PeerError::Gone(pid)),
    }
}

/// Two copies of the same kovra (an installed one and a USB kit's) are the same program.
/// Only reached by root, and only when the files differ by identity.
fn same_content(a: &str, b: &Path) -> bool {
    fn digest(path: &Path) -> Option<[u8; 32]> {
        use std::io::Read;
        let mut file = fs::File::open(path).ok()?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).ok()?;
        Some(kovra_core::crypto::sha256(&[&bytes]))
    }
    match (digest(Path::new(a)), digest(b)) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}
