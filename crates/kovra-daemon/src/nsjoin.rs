//! A caller in other namespaces than the daemon's: typically an agent inside a sandbox
//! (bubblewrap: its own user, mount, pid, network, IPC and UTS namespaces). A run such a
//! caller asks for must start where the caller lives and see the files the caller sees.
//! Started in the daemon's own namespaces, the child would be outside the sandbox, with the
//! real home, the vault's files, the human's socket and the network.
//!
//! So a run's paths are looked up inside the caller's root (`openat2` with
//! `RESOLVE_IN_ROOT`: even an absolute symlink stays inside), and the child joins the
//! caller's namespaces through a pidfd before it executes ([`Foreign::start_inside`]).
//! A caller whose namespaces cannot be read gets no run at all ([`Namespaces::Unreadable`]).
//!
//! Hand-written, with `unsafe`: no crate joins a pidfd's namespaces for a
//! `std::process::Command`. Joining a pid namespace only takes effect for the children of
//! the process that joins, so the spawn needs a second fork between `setns` and `exec`,
//! which std's `Command` cannot do. Everything between the forks and the exec is
//! async-signal-safe system calls on values prepared before the first fork.

use std::ffi::{CStr, CString, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, OnceLock};

use libc::c_int;

/// prctl's arguments after the option are `unsigned long`: variadic, so each is passed at
/// exactly that width.
type Arg = libc::c_ulong;

/// The namespaces compared, by their name under `/proc/PID/ns/` and their `CLONE_NEW*` flag.
/// The user namespace comes first: `setns` with a pidfd joins it before the others, so the
/// capabilities it gives are what the other joins are checked against.
const KINDS: [(&str, c_int); 7] = [
    ("user", libc::CLONE_NEWUSER),
    ("mnt", libc::CLONE_NEWNS),
    ("pid", libc::CLONE_NEWPID),
    ("net", libc::CLONE_NEWNET),
    ("ipc", libc::CLONE_NEWIPC),
    ("uts", libc::CLONE_NEWUTS),
    ("cgroup", libc::CLONE_NEWCGROUP),
];

/// Where a caller lives, as far as a run is concerned.
#[derive(Debug, Clone)]
pub enum Namespaces {
    /// The daemon's own namespaces: paths mean what they mean to the daemon, and a run
    /// starts as it always did.
    Own,
    /// Other namespaces: a run is looked up and started inside them.
    Foreign(Arc<Foreign>),
    /// They could not be read (the caller is already gone, or this daemon may not look at
    /// it). A run is refused: started in the daemon's namespaces it might leave a sandbox.
    Unreadable(String),
}

impl Namespaces {
    /// The namespaces of the process at the other end of a unix socket connection. The
    /// kernel's pidfd for the peer (`SO_PEERPIDFD`) names the very process that connected,
    /// even if it has exited and its pid was given to another since; `pid` must be the same
    /// peer's pid from `SO_PEERCRED`.
    pub fn of_connection<F: AsFd>(sock: &F, pid: u32) -> Namespaces {
        match of_socket(sock, pid) {
            Ok(None) => Namespaces::Own,
            Ok(Some(foreign)) => Namespaces::Foreign(Arc::new(foreign)),
            Err(e) => Namespaces::Unreadable(e.to_string()),
        }
    }

    /// The foreign caller, if any: what a run must be resolved in and started inside.
    pub fn foreign(&self) -> Option<&Arc<Foreign>> {
        match self {
            Namespaces::Foreign(f) => Some(f),
            _ => None,
        }
    }
}

/// A caller living in at least one namespace other than the daemon's.
pub struct Foreign {
    /// Names the caller's process itself, not a pid number that could be reused.
    pidfd: OwnedFd,
    /// The `CLONE_NEW*` flags of the namespaces that differ from the daemon's.
    flags: c_int,
    /// The caller's root directory (`/proc/PID/root`), opened `O_PATH`: paths of its run
    /// are resolved beneath it.
    root: OwnedFd,
    pid: u32,
}

impl std::fmt::Debug for Foreign {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let differ: Vec<&str> = KINDS
            .iter()
            .filter(|(_, flag)| self.flags & flag != 0)
            .map(|(name, _)| *name)
            .collect();
        f.debug_struct("Foreign")
            .field("pid", &self.pid)
            .field("namespaces", &differ)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
impl Foreign {
    /// This very process, taken for a caller in other namespaces (none actually differ), so
    /// the gate's tests can decide a contained caller's run. The run is never started.
    pub(crate) fn this_process_for_tests() -> Foreign {
        let pid = std::process::id();
        Foreign {
            pidfd: pidfd_open(pid).expect("pidfd"),
            flags: 0,
            root: open_root(pid).expect("root"),
            pid,
        }
    }
}

/// The peer of `sock` through `SO_PEERPIDFD` (Linux 6.5), or through `pidfd_open(pid)` on
/// an older kernel, which pins the process only from then on: a peer that exited after it
/// connected could have its pid reused by then.
fn of_socket<F: AsFd>(sock: &F, pid: u32) -> io::Result<Option<Foreign>> {
    use nix::sys::socket::{getsockopt, sockopt::PeerPidfd};
    match getsockopt(sock, PeerPidfd) {
        Ok(pidfd) => of_pidfd(pidfd, pid),
        Err(nix::errno::Errno::ENOPROTOOPT) => of_peer(pid)
            .map_err(|e| io::Error::new(e.kind(), format!("no SO_PEERPIDFD on this kernel: {e}"))),
        Err(e) => Err(io::Error::new(
            io::Error::from(e).kind(),
            format!("reading the peer's pidfd: {e}"),
        )),
    }
}

/// The namespaces of process `pid`: `None` when it lives in all of the daemon's own. The
/// process is pinned by a pidfd before anything is read, so a pid reused meanwhile cannot
/// stand in for it.
pub fn of_peer(pid: u32) -> io::Result<Option<Foreign>> {
    let pidfd = pidfd_open(pid)?;
    of_pidfd(pidfd, pid)
}

fn of_pidfd(pidfd: OwnedFd, pid: u32) -> io::Result<Option<Foreign>> {
    if pid == 0 {
        // SO_PEERCRED gives 0 for a peer that the daemon's pid namespace does not show.
        return Err(io::Error::other(
            "the caller is not visible in the daemon's pid namespace",
        ));
    }
    // Every link is read through one handle on this process's /proc entry, which never
    // comes to name another process.
    let ns = nix::fcntl::open(
        format!("/proc/{pid}/ns").as_str(),
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| {
        io::Error::new(
            io::Error::from(e).kind(),
            format!("cannot open the caller's /proc/{pid}/ns: {e}"),
        )
    })?;
    let mut flags = 0;
    for ((name, flag), own) in KINDS.iter().zip(own_namespaces()?) {
        let Some(own) = own else { continue };
        let theirs = match nix::fcntl::readlinkat(&ns, *name).map_err(io::Error::from) {
            Ok(link) => link,
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                no_sign_of_other_namespaces(pid)?;
                still_there(&pidfd)?;
                return Ok(None);
            }
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("cannot read the caller's {name} namespace: {e}"),
                ));
            }
        };
        if theirs != *own {
            flags |= flag;
        }
    }
    let root = if flags == 0 {
        None
    } else {
        Some(open_root(pid)?)
    };
    // The pidfd's process still exists (a zombie counts), so the number `pid` was still its
    // own while /proc/PID was read: the reads were of the process the pidfd names.
    still_there(&pidfd)?;
    Ok(root.map(|root| Foreign {
        pidfd,
        flags,
        root,
        pid,
    }))
}

/// For a caller whose namespace links the daemon may not read: a non-dumpable process (the
/// kovra CLI makes itself one) in a user namespace where a non-root daemon holds no
/// capability, which is its own or one it did not create. The daemon could not join such a
/// caller's namespaces anyway (`setns` asks the same permission), so the question is only
/// whether it lives in the daemon's own: which is what a same-user process there is, unless
/// a privileged tool (a setuid sandbox, a root service manager) put it elsewhere. Those
/// differences show in files that need no such permission: the pid namespaces the process
/// is numbered in (`NSpid`), its user namespace's uid map, the first mount of its mount
/// namespace (mount IDs are never shared between namespaces), and the network interfaces it
/// sees. Any of them differing refuses its runs; a difference in none of them that matters
/// (an IPC or UTS namespace of its own, another network namespace with the same interface
/// names) goes unseen.
fn no_sign_of_other_namespaces(pid: u32) -> io::Result<()> {
    let differs = |what: &str| {
        Err(io::Error::other(format!(
            "the daemon may not read the caller's namespaces (a non-dumpable process), and its {what} differs from the daemon's"
        )))
    };
    // The ID of the first mount listed: only the first bytes of mountinfo are read.
    let first_mount = |path: &str| -> io::Result<Option<String>> {
        let mut buf = [0u8; 64];
        let n = std::io::Read::read(&mut File::open(path)?, &mut buf)?;
        Ok(String::from_utf8_lossy(&buf[..n])
            .split_whitespace()
            .next()
            .map(str::to_string))
    };
    let nspid = |status: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix("NSpid:"))
            .map(|l| l.split_whitespace().count())
    };
    let status = kovra_proto::procfs::read(format!("/proc/{pid}/status"))?;
    if nspid(&status) != Some(1) {
        return differs("pid namespace");
    }
    if std::fs::read_to_string(format!("/proc/{pid}/uid_map"))?
        != std::fs::read_to_string("/proc/self/uid_map")?
    {
        return differs("user namespace");
    }
    if first_mount(&format!("/proc/{pid}/mountinfo"))? != first_mount("/proc/self/mountinfo")? {
        return differs("mount namespace or root");
    }
    let interfaces = |text: String| -> Vec<String> {
        let mut names: Vec<String> = text
            .lines()
            .skip(2)
            .filter_map(|l| l.split(':').next())
            .map(|n| n.trim().to_string())
            .collect();
        names.sort();
        names
    };
    if interfaces(std::fs::read_to_string(format!("/proc/{pid}/net/dev"))?)
        != interfaces(std::fs::read_to_string("/proc/self/net/dev")?)
    {
        return differs("network namespace");
    }
    Ok(())
}

/// The daemon's own namespaces, read once (they never change). `None` for a kind this
/// kernel does not have.
fn own_namespaces() -> io::Result<&'static [Option<OsString>]> {
    static OWN: OnceLock<Vec<Option<OsString>>> = OnceLock::new();
    if let Some(own) = OWN.get() {
        return Ok(own);
    }
    let mut own = Vec::with_capacity(KINDS.len());
    for (name, _) in KINDS {
        match std::fs::read_link(format!("/proc/self/ns/{name}")) {
            Ok(link) => own.push(Some(link.into_os_string())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => own.push(None),
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("cannot read the daemon's own {name} namespace: {e}"),
                ));
            }
        }
    }
    Ok(OWN.get_or_init(|| own))
}

#[allow(unsafe_code)]
pub(crate) fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    let pid = libc::pid_t::try_from(pid)
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1; no
    // memory is passed.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_pidfd_open,
            libc::c_long::from(pid),
            0 as libc::c_long,
        )
    };
    if fd < 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(
            e.kind(),
            format!("cannot pin the caller's process: {e}"),
        ));
    }
    let fd = c_int::try_from(fd).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    // SAFETY: the kernel just returned this descriptor (close-on-exec), and nothing else
    // owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[allow(unsafe_code)]
fn still_there(pidfd: &OwnedFd) -> io::Result<()> {
    // SAFETY: signal 0 checks existence and permission only; no memory is passed.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            libc::c_long::from(pidfd.as_raw_fd()),
            0 as libc::c_long,
            std::ptr::null::<libc::siginfo_t>(),
            0 as libc::c_long,
        )
    };
    if rc < 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(e.kind(), format!("the caller exited: {e}")));
    }
    Ok(())
}

fn open_root(pid: u32) -> io::Result<OwnedFd> {
    use nix::fcntl::{OFlag, open};
    use nix::sys::stat::Mode;
    open(
        format!("/proc/{pid}/root").as_str(),
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| {
        io::Error::new(
            io::Error::from(e).kind(),
            format!("cannot open the caller's root directory: {e}"),
        )
    })
}

/// `openat2(root, path, flags, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`: `path` as a
/// process whose root is `root` would open it. `..` and absolute symlinks stop at `root`,
/// and /proc's magic links (which point wherever the kernel likes) are refused.
#[allow(unsafe_code)]
fn open_beneath(root: BorrowedFd<'_>, path: &Path, flags: c_int) -> io::Result<OwnedFd> {
    let name = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: open_how is plain integers; all-zero is its documented "no options" value.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    // openat2 refuses flags that mean nothing with O_PATH (such as O_NOCTTY).
    let flags = if flags & libc::O_PATH != 0 {
        flags | libc::O_CLOEXEC
    } else {
        flags | libc::O_CLOEXEC | libc::O_NOCTTY
    };
    how.flags = u64::try_from(flags).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    how.resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;
    // A rename or mount elsewhere during the walk makes the kernel ask for a retry.
    for _ in 0..8 {
        // SAFETY: `name` is a NUL-terminated string and `how` an open_how, both valid for
        // the call, whose size is passed; the result is a new descriptor or -1.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                libc::c_long::from(root.as_raw_fd()),
                name.as_ptr(),
                &how as *const libc::open_how,
                std::mem::size_of::<libc::open_how>(),
            )
        };
        if fd >= 0 {
            let fd = c_int::try_from(fd).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
            // SAFETY: the kernel just returned this descriptor, and nothing else owns it.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
        }
        let e = io::Error::last_os_error();
        if !matches!(e.raw_os_error(), Some(libc::EAGAIN) | Some(libc::EINTR)) {
            return Err(e);
        }
    }
    Err(io::Error::from_raw_os_error(libc::EAGAIN))
}

impl Foreign {
    /// The caller's pid, as the daemon's pid namespace numbers it.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The `CLONE_NEW*` flags of the namespaces in which the caller differs.
    pub fn flags(&self) -> c_int {
        self.flags
    }

    /// Open `path` for reading as the caller would: beneath its root. Non-blocking, so that
    /// a FIFO named by the caller cannot hold the daemon; a regular file reads as usual.
    pub fn open(&self, path: &Path) -> io::Result<File> {
        open_beneath(self.root.as_fd(), path, libc::O_RDONLY | libc::O_NONBLOCK).map(File::from)
    }

    /// Whether `path` names a directory, as the caller sees it.
    pub fn is_dir(&self, path: &Path) -> bool {
        open_beneath(self.root.as_fd(), path, libc::O_PATH | libc::O_DIRECTORY).is_ok()
    }

    /// Whether `path` names a regular file (after symlinks), as the caller sees it.
    pub fn is_file(&self, path: &Path) -> bool {
        open_beneath(self.root.as_fd(), path, libc::O_PATH)
            .and_then(|fd| File::from(fd).metadata())
            .is_ok_and(|m| m.is_file())
    }

    /// Make `cmd` start its program inside this caller's namespaces and root, in `cwd` as
    /// the caller sees it, with no capabilities and no way to gain privileges on exec.
    ///
    /// Register it after every other `pre_exec` hook, and do not set
    /// `Command::current_dir`: joining a mount namespace moves the process to its root, so
    /// the working directory is entered here, after the join.
    ///
    /// Joining a pid namespace only places the children of the joining process in it, so the
    /// process std forks joins, forks once more and waits. The grandchild goes on to the
    /// exec (so `/proc/self` inside is its own); the intermediate closes every descriptor
    /// (std's spawn waits for its close-on-exec error pipe to close), ignores the signals
    /// the daemon sends the process group (both are in it, so the grandchild gets them), and
    /// ends as the grandchild ended: the same exit code, or the same signal. A signal whose
    /// default action dumps core becomes exit code 128 + signal instead, which is the code
    /// the daemon reports for it either way: the intermediate is a copy of the daemon's
    /// memory and must never dump.
    #[allow(unsafe_code)]
    pub fn start_inside(self: &Arc<Self>, cmd: &mut Command, cwd: &Path) -> io::Result<()> {
        let cwd = CString::new(cwd.as_os_str().as_bytes())
            .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        let me = Arc::clone(self);
        // SAFETY: the hook runs in the child between fork and exec. It makes only
        // async-signal-safe system calls (setns, fork, waitpid, signal, close_range, _exit,
        // chroot, chdir, prctl, capset) on values prepared here, before the fork: the
        // CString, the descriptors the Arc keeps open, and integers. It allocates nothing
        // and takes no lock.
        unsafe {
            cmd.pre_exec(move || me.enter(&cwd));
        }
        Ok(())
    }

    /// The body of the hook: in the child of std's fork, single-threaded.
    #[allow(unsafe_code)]
    fn enter(&self, cwd: &CStr) -> io::Result<()> {
        // SAFETY: setns takes a descriptor and flags; the pidfd is open (the Arc holds it).
        if unsafe { libc::setns(self.pidfd.as_raw_fd(), self.flags) } < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: this process is single-threaded (a child of fork), so fork leaves no lock
        // held by a thread that does not exist in the copy.
        let child = unsafe { libc::fork() };
        if child < 0 {
            return Err(io::Error::last_os_error());
        }
        if child > 0 {
            intermediate(child);
        }
        // The grandchild, inside the caller's pid namespace.
        // SAFETY: prctl, fchdir, chroot and chdir take integers and the NUL-terminated
        // strings prepared before the fork.
        unsafe {
            // If the intermediate is killed on its own, do not live on without it.
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as Arg,
                0 as Arg,
                0 as Arg,
                0 as Arg,
            ) < 0
            {
                return Err(io::Error::last_os_error());
            }
            // The root the run's paths were resolved in (the caller's; after the join the
            // process is at the root of the caller's mount namespace, which is the same
            // unless the caller is chrooted), then the working directory inside it.
            if libc::fchdir(self.root.as_raw_fd()) < 0
                || libc::chroot(c".".as_ptr()) < 0
                || libc::chdir(cwd.as_ptr()) < 0
            {
                return Err(io::Error::last_os_error());
            }
            if libc::prctl(
                libc::PR_SET_NO_NEW_PRIVS,
                1 as Arg,
                0 as Arg,
                0 as Arg,
                0 as Arg,
            ) < 0
            {
                return Err(io::Error::last_os_error());
            }
        }
        drop_capabilities()
    }
}

/// The intermediate process: wait for the grandchild and end as it ended. Never returns.
#[allow(unsafe_code)]
fn intermediate(child: libc::pid_t) -> ! {
    // SAFETY: signal, close_range, getrlimit, close, waitpid, sigprocmask, kill, getpid and
    // _exit are async-signal-safe system calls on integers and stack values.
    unsafe {
        for sig in [
            libc::SIGINT,
            libc::SIGTERM,
            libc::SIGHUP,
            libc::SIGQUIT,
            libc::SIGWINCH,
            libc::SIGTSTP,
        ] {
            libc::signal(sig, libc::SIG_IGN);
        }
        // Every descriptor, std's error pipe included: its closing is what tells the daemon
        // that the exec happened (the grandchild holds the other copy until then). Before
        // Linux 5.9 there is no close_range: close them one by one, up to the limit.
        if libc::syscall(
            libc::SYS_close_range,
            0 as libc::c_long,
            libc::c_long::from(u32::MAX),
            0 as libc::c_long,
        ) < 0
        {
            let mut limit: libc::rlimit = std::mem::zeroed();
            let top = if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
                c_int::try_from(limit.rlim_cur.min(1 << 20)).unwrap_or(1 << 20)
            } else {
                65_536
            };
            for fd in 0..top {
                libc::close(fd);
            }
        }
        let mut status: c_int = 0;
        loop {
            let rc = libc::waitpid(child, &mut status, 0);
            if rc == child {
                break;
            }
            if rc < 0 && io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                libc::_exit(127);
            }
        }
        if libc::WIFEXITED(status) {
            libc::_exit(libc::WEXITSTATUS(status));
        }
        if libc::WIFSIGNALED(status) {
            let sig = libc::WTERMSIG(status);
            if !dumps_core(sig) {
                libc::signal(sig, libc::SIG_DFL);
                let mut set: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut set);
                libc::sigaddset(&mut set, sig);
                libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
                libc::kill(libc::getpid(), sig);
            }
            libc::_exit(128 + sig);
        }
        libc::_exit(127)
    }
}

/// Signals whose default action writes a core dump.
fn dumps_core(sig: c_int) -> bool {
    matches!(
        sig,
        libc::SIGQUIT
            | libc::SIGILL
            | libc::SIGTRAP
            | libc::SIGABRT
            | libc::SIGBUS
            | libc::SIGFPE
            | libc::SIGSEGV
            | libc::SIGXCPU
            | libc::SIGXFSZ
            | libc::SIGSYS
    )
}

/// `struct __user_cap_header_struct` (linux/capability.h).
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: c_int,
}

/// `struct __user_cap_data_struct` (linux/capability.h).
#[repr(C)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// Drop every capability: joining a user namespace gave all of them in it (and a root
/// daemon had them anyway). The bounding set first (dropping needs CAP_SETPCAP), until the
/// kernel says there is no such capability; then the ambient set; then the effective,
/// permitted and inheritable sets. With an empty bounding set even a root program gets
/// nothing back on exec.
#[allow(unsafe_code)]
fn drop_capabilities() -> io::Result<()> {
    // SAFETY: prctl and capset with integers and two stack structs of the layout the
    // kernel's version 3 expects (one header, two data elements).
    unsafe {
        for cap in 0..64 {
            let held = libc::prctl(
                libc::PR_CAPBSET_READ,
                cap as Arg,
                0 as Arg,
                0 as Arg,
                0 as Arg,
            );
            if held < 0 {
                if io::Error::last_os_error().raw_os_error() == Some(libc::EINVAL) {
                    break;
                }
                return Err(io::Error::last_os_error());
            }
            if held == 1
                && libc::prctl(
                    libc::PR_CAPBSET_DROP,
                    cap as Arg,
                    0 as Arg,
                    0 as Arg,
                    0 as Arg,
                ) < 0
            {
                return Err(io::Error::last_os_error());
            }
        }
        if libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as Arg,
            0 as Arg,
            0 as Arg,
            0 as Arg,
        ) < 0
        {
            return Err(io::Error::last_os_error());
        }
        let header = CapHeader {
            version: LINUX_CAPABILITY_VERSION_3,
            pid: 0,
        };
        let data = [
            CapData {
                effective: 0,
                permitted: 0,
                inheritable: 0,
            },
            CapData {
                effective: 0,
                permitted: 0,
                inheritable: 0,
            },
        ];
        if libc::syscall(libc::SYS_capset, &header as *const CapHeader, data.as_ptr()) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}
