//! The home's record lock (`kovra_proto::homelock`), held by a thread with a descriptor
//! table of its own.
//!
//! A POSIX record lock belongs to a descriptor table, and closing *any* descriptor of the
//! file in that table ends it. The daemon opens paths its callers choose (a run's program and
//! arguments, `allow add`) and files in a home its callers can write (a hard link to the lock
//! file put in place of another), so a caller could make it close a descriptor of its lock
//! file and free the lock for a relay to take. This thread unshares its table
//! (`unshare(CLONE_FILES)`), keeps only the lock file's descriptor in it, takes the lock, and
//! never opens or closes anything again: no close anywhere else in the daemon touches it. The
//! lock still names the daemon's pid, which is what clients compare with their peer's.
//!
//! Where `unshare` is refused (the default seccomp profiles of Docker and Kubernetes allow it
//! only with `CAP_SYS_ADMIN`), the lock is taken from the daemon's own table instead, so that
//! it is never free for another process to take. A close there can still end it; the watch
//! thread then takes it again within 100 ms, or stops the daemon if another process took it
//! first (docs/design/daemon.md).

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::sync::mpsc;

use kovra_proto::homelock;

/// The daemon's record lock, with what the watch thread needs to check it is still held: a
/// descriptor of the lock file in the daemon's own table, and where the lock is held from.
#[derive(Debug)]
pub struct Held {
    file: File,
    /// Held by the thread with a table of its own; otherwise from the daemon's own table
    /// (where `unshare` is refused).
    own_table: bool,
}

impl Held {
    /// Whether the record lock is still this daemon's. A lock of the table asking is not
    /// reported to it, so the main table's lock is taken again instead (a no-op while held;
    /// held again if a close ended it and nobody took it meanwhile).
    pub fn still_held(&self) -> bool {
        if self.own_table {
            let own = i32::try_from(std::process::id()).ok();
            matches!(homelock::holder_of(&self.file), Ok(holder) if holder.is_some() && holder == own)
        } else {
            matches!(homelock::take(&self.file), Ok(true))
        }
    }
}

/// Take the record lock on `lock` (opened for writing) for the rest of the daemon's life.
/// `Ok(None)`: another process holds a lock on the file.
pub fn hold(lock: &File) -> io::Result<Option<Held>> {
    let fd = lock.as_raw_fd();
    let (taken, told) = mpsc::channel();
    std::thread::Builder::new()
        .name("kovra-homelock".into())
        .spawn(move || {
            // A signal run on this thread would find none of the daemon's descriptors (the
            // signal handlers' self-pipe): let the other threads take every signal.
            let _ = nix::sys::signal::pthread_sigmask(
                nix::sys::signal::SigmaskHow::SIG_BLOCK,
                Some(&nix::sys::signal::SigSet::all()),
                None,
            );
            match own_table(fd) {
                Ok(file) => match homelock::take(&file) {
                    Ok(true) => {
                        let _ = taken.send(Ok(true));
                        // `file` stays open in this table, and this thread does nothing more.
                        loop {
                            std::thread::park();
                        }
                    }
                    other => {
                        let _ = taken.send(other);
                    }
                },
                Err(e) => {
                    let _ = taken.send(Err(e));
                }
            }
        })?;
    let held = told
        .recv()
        .map_err(|_| io::Error::other("the record lock's thread ended without an answer"))?;
    let own_table = match held {
        Ok(true) => true,
        Ok(false) => return Ok(None),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EPERM | libc::ENOSYS)) => {
            tracing::warn!(
                error = %e,
                "unshare(CLONE_FILES) is refused here (a seccomp filter?): the home's record lock is held from the daemon's own descriptor table"
            );
            if !homelock::take(lock)? {
                return Ok(None);
            }
            false
        }
        Err(e) => return Err(e),
    };
    Ok(Some(Held {
        file: lock.try_clone()?,
        own_table,
    }))
}

/// Give this thread a descriptor table of its own holding only `keep`. The copy `unshare`
/// makes holds every descriptor the daemon had open; kept, they would keep what the daemon
/// closes (a boot socket its client waits to see closed, say) open.
fn own_table(keep: RawFd) -> io::Result<File> {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_FILES)?;
    let open: Vec<RawFd> = std::fs::read_dir("/proc/thread-self/fd")?
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    for fd in open.into_iter().filter(|fd| *fd != keep) {
        // The directory's own descriptor is among them, already closed: EBADF, ignored.
        // SAFETY: `fd` is a number in this thread's private table (the unshare above
        // succeeded); nothing in this thread uses it, so closing it frees nobody's handle.
        #[allow(unsafe_code)]
        unsafe {
            libc::close(fd);
        }
    }
    // SAFETY: `keep` is open in this private table (a copy of the daemon's, where the lock
    // file is open at that number), and nothing else in this table owns it.
    #[allow(unsafe_code)]
    Ok(unsafe { File::from_raw_fd(keep) })
}
