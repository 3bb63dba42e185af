//! Operating-system facts and hardening: peer credentials, the peer's executable and
//! terminal, core-dump and swap protection. All through safe wrappers.

use std::os::fd::AsFd;
use std::path::PathBuf;

use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};

/// Who is on the other end of a unix socket, as the kernel says.
#[derive(Debug, Clone, Copy)]
pub struct Peer {
    pub pid: u32,
    pub uid: u32,
}

pub fn peer_of<F: AsFd>(sock: &F) -> std::io::Result<Peer> {
    let cred = getsockopt(sock, PeerCredentials).map_err(std::io::Error::from)?;
    Ok(Peer {
        pid: cred.pid() as u32,
        uid: cred.uid(),
    })
}

pub fn effective_uid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

/// The peer's executable, for the audit trail (best effort: the process may be gone).
pub fn exe_of(pid: u32) -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/{pid}/exe")).ok()
}

/// Whether the process has a controlling terminal (field 7, `tty_nr`, of /proc/PID/stat).
/// A process without one is treated as an agent whatever it claims.
pub fn has_controlling_tty(pid: u32) -> bool {
    let Ok(stat) = kovra_proto::procfs::read(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The command name (field 2) is in parentheses and may hold spaces: parse after it.
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
        return false;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ")": state(3) ppid(4) pgrp(5) session(6) tty_nr(7).
    fields
        .get(4)
        .and_then(|t| t.parse::<i64>().ok())
        .is_some_and(|tty| tty != 0)
}

/// Refuse core dumps and ptrace attachment by other same-uid processes.
pub fn harden() -> Hardening {
    let dumpable_off = nix::sys::prctl::set_dumpable(false).is_ok();
    let _ = nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_CORE, 0, 0);
    // Lock all memory only where the limit is unlimited: under a finite RLIMIT_MEMLOCK,
    // MCL_FUTURE would make later allocations fail.
    let unlimited = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_MEMLOCK)
        .is_ok_and(|(soft, _)| soft == nix::sys::resource::RLIM_INFINITY);
    let memory_locked = unlimited
        && nix::sys::mman::mlockall(
            nix::sys::mman::MlockAllFlags::MCL_CURRENT | nix::sys::mman::MlockAllFlags::MCL_FUTURE,
        )
        .is_ok();
    Hardening {
        dumpable_off,
        memory_locked,
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Hardening {
    pub dumpable_off: bool,
    pub memory_locked: bool,
}

/// The most descriptors taken from one message: a run's stdin, stdout and stderr. The kernel
/// closes any beyond the space given to `recvmsg`.
pub const MAX_RECEIVED_FDS: usize = 3;

/// One `recvmsg` on `stream` into `buf`: the bytes read and the descriptors that came with
/// them, already owned (closed when dropped), close-on-exec.
pub fn recv_with_fds(
    stream: &std::os::unix::net::UnixStream,
    buf: &mut [u8],
) -> nix::Result<(usize, Vec<std::os::fd::OwnedFd>)> {
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
    use std::os::fd::AsRawFd;
    let mut iov = [std::io::IoSliceMut::new(buf)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; MAX_RECEIVED_FDS]);
    let msg = recvmsg::<()>(
        stream.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )?;
    let mut raw = Vec::new();
    for cmsg in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = cmsg {
            raw.extend(fds);
        }
    }
    // SAFETY: `raw` holds exactly the descriptors the kernel installed for this message,
    // each once, and nothing else has seen their numbers.
    #[allow(unsafe_code)]
    let fds = unsafe { adopt_received_fds(raw) };
    Ok((msg.bytes, fds))
}

/// Adopt descriptors received with SCM_RIGHTS, so each is closed when dropped.
///
/// # Safety
/// Every descriptor in `raw` must be open and owned by nobody else: exactly those the kernel
/// installed in this process for one `ScmRights` control message just received, each passed
/// here once and never used through its raw number afterwards.
#[allow(unsafe_code)]
unsafe fn adopt_received_fds(raw: Vec<std::os::fd::RawFd>) -> Vec<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    raw.into_iter()
        // SAFETY: the caller's contract: each fd is open and has no other owner.
        .map(|fd| unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
        .collect()
}

/// Make the child a session leader whose controlling terminal is its stdin (the PTY slave).
#[allow(unsafe_code)]
pub fn controlling_tty_on_exec(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: runs between fork and exec; setsid and ioctl(TIOCSCTTY) are async-signal-safe
    // system calls, and the closure allocates nothing and touches no shared state.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::ioctl(0, libc::TIOCSCTTY as _, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Tell a PTY its new size; the kernel then sends SIGWINCH to its foreground group.
#[allow(unsafe_code)]
pub fn set_window_size<F: std::os::fd::AsRawFd>(
    pty: &F,
    rows: u16,
    cols: u16,
) -> std::io::Result<()> {
    let size = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize from the pointer, which is valid for the call.
    let rc = unsafe { libc::ioctl(pty.as_raw_fd(), libc::TIOCSWINSZ as _, &size) };
    if rc < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Mark a descriptor close-on-exec, so no child process inherits it.
pub fn close_on_exec<F: AsFd>(fd: &F) -> nix::Result<()> {
    use nix::fcntl::{FcntlArg, FdFlag, fcntl};
    fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC)).map(|_| ())
}

pub use kovra_proto::procfs::own_tracer;

/// Refuse to hold a key in a process someone else steers: traced, or with loader hooks in
/// its environment. Called once the process is already non-dumpable, so no tracer can
/// attach after the check.
pub fn startup_check() -> Result<(), String> {
    let hooks: Vec<String> = std::env::vars_os()
        .map(|(k, _)| k.to_string_lossy().into_owned())
        .filter(|k| kovra_core::childenv::is_loader_variable(k))
        .collect();
    if !hooks.is_empty() {
        return Err(format!(
            "loader or C library variables are set ({}); they could change the code or the memory handling of the process that holds the key",
            hooks.join(", ")
        ));
    }
    match own_tracer() {
        Some(0) => Ok(()),
        Some(pid) => Err(format!("it is being traced by pid {pid}")),
        None => Err("cannot read /proc/self/status to check for a tracer".into()),
    }
}

/// A command that executes an open file, as `fexecve` does: through `/proc/self/fd/N`, so no
/// path is looked up again between the hash and the exec. N stays open across the exec
/// (cleared of close-on-exec in the child only) because an interpreter reads a `#!` script
/// through that same name.
#[allow(unsafe_code)]
pub fn command_for_descriptor(file: &std::fs::File) -> std::process::Command {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let fd = file.as_raw_fd();
    let mut cmd = std::process::Command::new(format!("/proc/self/fd/{fd}"));
    // SAFETY: runs between fork and exec; fcntl is async-signal-safe, and the closure only
    // touches the descriptor number it captured by value.
    unsafe {
        cmd.pre_exec(move || {
            let flags = libc::fcntl(fd, libc::F_GETFD);
            if flags < 0 || libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd
}

/// The connection a client handed this daemon as its standard input when it started it
/// (`kovra daemon --boot-stdin`): a socket only that client holds the other end of, so what
/// comes over it (a passphrase) never passed through the socket path.
pub fn boot_socket_from_stdin() -> std::io::Result<std::os::unix::net::UnixStream> {
    use nix::sys::stat::{SFlag, fstat};
    let stdin = std::io::stdin();
    let st = fstat(&stdin).map_err(std::io::Error::from)?;
    if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT != SFlag::S_IFSOCK {
        return Err(std::io::Error::other("standard input is not a socket"));
    }
    let fd = nix::unistd::dup(&stdin).map_err(std::io::Error::from)?;
    close_on_exec(&fd).map_err(std::io::Error::from)?;
    Ok(std::os::unix::net::UnixStream::from(fd))
}

/// A close-on-exec copy of `fd` numbered at least `min`, so that it cannot collide with the
/// descriptor numbers a child is given (`give_descriptors`).
#[allow(unsafe_code)]
pub fn dup_above<F: AsFd>(fd: &F, min: i32) -> std::io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::{AsRawFd, FromRawFd};
    // SAFETY: F_DUPFD_CLOEXEC on a valid descriptor either fails or returns a new descriptor
    // that nothing else owns; it is wrapped at once.
    let raw = unsafe { libc::fcntl(fd.as_fd().as_raw_fd(), libc::F_DUPFD_CLOEXEC, min) };
    if raw < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `raw` was just returned by fcntl and is owned by no other object.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(raw) })
}

/// In the child, place each `(source, target)` descriptor at `target` (without
/// close-on-exec). Every source must be numbered above every target (`dup_above`).
#[allow(unsafe_code)]
pub fn give_descriptors(cmd: &mut std::process::Command, pairs: Vec<(i32, i32)>) {
    use std::os::unix::process::CommandExt;
    if pairs.is_empty() {
        return;
    }
    // SAFETY: runs between fork and exec; dup2 is async-signal-safe, and the closure only
    // reads the numbers it owns (no allocation).
    unsafe {
        cmd.pre_exec(move || {
            for &(source, target) in &pairs {
                if libc::dup2(source, target) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}

/// Give freed heap memory back to the system (glibc keeps it in its arenas, one per thread
/// that allocated, long after the threads are gone).
#[allow(unsafe_code)]
pub fn release_free_memory() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only walks the allocator's own free lists; it takes no pointer
    // and is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Raise the soft descriptor limit to the hard one (at most 65,536): a run holds several
/// descriptors, and the common soft limit of 1,024 is below what the connection cap allows.
pub fn raise_descriptor_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let want = hard.min(65_536);
        if soft < want {
            let _ = setrlimit(Resource::RLIMIT_NOFILE, want, hard);
        }
    }
}

/// Start `cmd` with `cwd` as its working directory, without `Command::current_dir`.
///
/// Why: std starts a child with `posix_spawn` (a `vfork`-style clone sharing the daemon's
/// memory until the exec) only when it finds `posix_spawn_file_actions_addchdir_np`, which it
/// looks up at run time. In the static-C-runtime build that lookup fails, so any command with
/// a working directory was started with `fork`, copying the daemon's page tables and taking
/// copy-on-write faults afterwards: a fifth of the daemon's CPU per `kovra run`
/// (bench/results.md, issue 16). Instead, the calling thread gets a working directory of its
/// own (`unshare(CLONE_FS)`, once per thread), moves there, spawns (the child inherits the
/// thread's directory), and moves back to `/`. The daemon opens files by absolute paths only
/// (`kovra_proto::paths`), so the threads that share this thread's directory (those it
/// started later) are not affected by the moment it spends elsewhere.
pub fn spawn_in(
    cmd: &mut std::process::Command,
    cwd: &std::path::Path,
) -> std::io::Result<std::process::Child> {
    use std::cell::Cell;
    thread_local! {
        static OWN_DIRECTORY: Cell<bool> = const { Cell::new(false) };
    }
    if !OWN_DIRECTORY.get() {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_FS).map_err(std::io::Error::from)?;
        OWN_DIRECTORY.set(true);
    }
    nix::unistd::chdir(cwd).map_err(std::io::Error::from)?;
    let child = cmd.spawn();
    let _ = nix::unistd::chdir("/");
    child
}
