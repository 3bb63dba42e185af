//! The home's daemon lock as a POSIX record lock, which a client can ask about directly.
//!
//! The daemon holds two locks on `daemon.lock` for its whole life: the `flock` that earlier
//! daemons took (so a daemon of either kind keeps the other out), and a write lock on the
//! whole file through `fcntl(F_SETLK)`. A client learns who holds the second with one
//! `fcntl(F_GETLK)`. The `flock` holder can only be found in `/proc/locks`, and reading that
//! takes the kernel's global file-lock semaphore for writing: on an idle machine the first
//! read waits out an RCU grace period (5–20 ms, measured in bench/results.md) and holds up
//! every lock operation on the system meanwhile.
//!
//! A record lock belongs to a descriptor table and ends when *any* descriptor of the file is
//! closed in that table, so the daemon holds it from a table no other code of it uses
//! (kovra-daemon's `recordlock`).

use std::fs::File;
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::fcntl::{FcntlArg, fcntl};
use nix::libc;

/// A write lock over the whole file (from offset 0 to its end, whatever it grows to).
fn whole_file(kind: libc::c_short) -> libc::flock {
    libc::flock {
        l_type: kind,
        l_whence: libc::SEEK_SET as libc::c_short,
        l_start: 0,
        l_len: 0,
        l_pid: 0,
    }
}

/// Take the record lock on `file` (opened for writing). `Ok(false)`: another process holds
/// a lock on it.
pub fn take(file: &File) -> io::Result<bool> {
    match fcntl(
        file,
        FcntlArg::F_SETLK(&whole_file(libc::F_WRLCK as libc::c_short)),
    ) {
        Ok(_) => Ok(true),
        Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EACCES) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Who holds a record lock on the lock file at `path`: `Ok(None)` when nobody does.
/// The pid is as this process's pid namespace shows it: 0 for a process it cannot see, -1
/// for an open-file-description lock, which has no process.
///
/// The path is in a directory the user's programs can write, so it is opened without
/// following a symlink and without blocking (a FIFO put in its place), and must be a
/// regular file.
pub fn holder(path: &Path) -> io::Result<Option<i32>> {
    let file = File::options()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    if !file.metadata()?.file_type().is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the lock file is not a regular file",
        ));
    }
    holder_of(&file)
}

/// Who holds a record lock on the open `file`, as [`holder`] says. A lock of this process's
/// own descriptor table is not reported; one of another table of this process is, with
/// this process's pid (the daemon's watch finds its own lock that way).
pub fn holder_of(file: &File) -> io::Result<Option<i32>> {
    let mut probe = whole_file(libc::F_WRLCK as libc::c_short);
    fcntl(file, FcntlArg::F_GETLK(&mut probe))?;
    Ok((probe.l_type != libc::F_UNLCK as libc::c_short).then_some(probe.l_pid))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn a_lock_held_by_another_process_names_it_and_a_free_one_names_nobody() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("daemon.lock");
        std::fs::write(&path, b"").unwrap();
        assert_eq!(holder(&path).unwrap(), None);
        // A lock of this process is not reported to it, so another process takes it.
        let mut python = std::process::Command::new("python3")
            .args([
                "-c",
                "import fcntl,sys; f=open(sys.argv[1],'w'); fcntl.lockf(f, fcntl.LOCK_EX); print('held', flush=True); sys.stdin.read()",
            ])
            .arg(&path)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        io::BufRead::read_line(
            &mut io::BufReader::new(python.stdout.as_mut().unwrap()),
            &mut line,
        )
        .unwrap();
        assert_eq!(line.trim(), "held");
        assert_eq!(holder(&path).unwrap(), Some(python.id() as i32));
        let mine = File::options().write(true).open(&path).unwrap();
        assert!(!take(&mine).unwrap(), "a held lock cannot be taken");
        drop(python.stdin.take());
        python.wait().unwrap();
        assert_eq!(holder(&path).unwrap(), None);
        assert!(take(&mine).unwrap());
    }

    #[test]
    fn a_symlink_or_a_fifo_in_the_lock_files_place_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        std::fs::write(&real, b"").unwrap();
        let link = dir.path().join("link");
        symlink(&real, &link).unwrap();
        assert!(holder(&link).is_err());
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        assert!(holder(&fifo).is_err(), "a FIFO neither blocks nor passes");
    }
}
