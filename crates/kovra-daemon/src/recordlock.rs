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

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::sync::mpsc;

use kovra_proto::homelock;

/// Take the record lock on `lock` (opened for writing) for the rest of the daemon's life.
/// `Ok(false)`: another process holds a lock on the file.
pub fn hold(lock: &File) -> io::Result<bool> {
    let fd = lock.as_raw_fd();
    let (taken, told) = mpsc::channel();
    std::thread::Builder::new()
        .name("kovra-homelock".into())
        .spawn(move || match own_table(fd) {
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
        })?;
    told.recv()
        .map_err(|_| io::Error::other("the record lock's thread ended without an answer"))?
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
