//! A caller in a real bubblewrap sandbox (`src/nsjoin.rs`): the daemon tells it from one of
//! its own, looks its run's paths up inside the sandbox, and starts the run inside the
//! sandbox's namespaces with no capabilities, its end mirrored to the daemon.
//!
//! Each test runs as the user running the tests. When that is root (CI), root's bwrap makes
//! no user namespace; `every_test_again_as_a_non_root_user` then runs them all once more as
//! the user `kovra-test`, whose bwrap does, as an agent's would.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kovra_daemon::nsjoin::{self, Foreign, Namespaces};

/// A bubblewrap sandbox around one command, which is left running (`exec sleep`) once it has
/// planted its files: `/tmp/x` (the canary), `/tmp/link` (an absolute symlink to it),
/// `/tmp/magic` (a symlink to a /proc magic link) and the directory `/tmp/work`.
struct Sandbox {
    bwrap: Child,
    /// The sleeping process inside, as the test's pid namespace numbers it.
    pid: u32,
    /// A directory outside /tmp (so the sandbox's tmpfs over /tmp does not hide it).
    _dir: tempfile::TempDir,
    /// A directory under `dir` that the sandbox hides under a tmpfs; it holds `secret`.
    hidden: PathBuf,
}

const PLANT: &str = "echo canary > /tmp/x && ln -s /tmp/x /tmp/link \
    && ln -s /proc/1/root /tmp/magic && mkdir /tmp/work && exec sleep 120";

impl Sandbox {
    fn start() -> Sandbox {
        Sandbox::around(&["sh", "-c", PLANT], true)
    }

    /// `command` inside the sandbox; when `wait_for_sleep`, wait until it is `sleep`.
    fn around(command: &[&str], wait_for_sleep: bool) -> Sandbox {
        let dir = tempfile::Builder::new()
            .prefix("kovra-nsjoin")
            .tempdir_in("/var/tmp")
            .unwrap();
        let hidden = dir.path().join("hidden");
        std::fs::create_dir(&hidden).unwrap();
        std::fs::write(hidden.join("secret"), "outside-only").unwrap();
        let bwrap = Command::new("bwrap")
            .args(["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"])
            .args(["--tmpfs", "/tmp", "--tmpfs"])
            .arg(&hidden)
            .args(["--unshare-pid", "--unshare-net", "--unshare-ipc"])
            .args(["--unshare-uts", "--die-with-parent", "--"])
            .args(command)
            .stdin(Stdio::null())
            .spawn()
            .expect("bwrap (bubblewrap) must be installed: scripts/test.sh installs it");
        let mut sandbox = Sandbox {
            pid: 0,
            bwrap,
            _dir: dir,
            hidden,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            // bwrap → bwrap (pid 1 inside) → the command.
            let inner = children(sandbox.bwrap.id())
                .into_iter()
                .flat_map(children)
                .next();
            if let Some(pid) = inner {
                let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                if !wait_for_sleep || comm.trim() == "sleep" {
                    sandbox.pid = pid;
                    return sandbox;
                }
            }
            if let Ok(Some(status)) = sandbox.bwrap.try_wait() {
                panic!("bwrap ended before the sandbox was ready: {status}");
            }
            assert!(Instant::now() < deadline, "the sandbox did not start");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn foreign(&self) -> Arc<Foreign> {
        Arc::new(
            nsjoin::of_peer(self.pid)
                .unwrap()
                .expect("a process in the sandbox is foreign"),
        )
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.bwrap.kill();
        let _ = self.bwrap.wait();
    }
}

fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for task in tasks.flatten() {
        let list = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        out.extend(
            list.split_whitespace()
                .filter_map(|p| p.parse::<u32>().ok()),
        );
    }
    out
}

/// `sh -c script` started inside the sandbox, in `/tmp/work` (which exists only there).
fn sh_inside(foreign: &Arc<Foreign>, script: &str) -> Command {
    let mut cmd = Command::new("/bin/sh");
    cmd.args(["-c", script])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .process_group(0);
    foreign
        .start_inside(&mut cmd, Path::new("/tmp/work"))
        .unwrap();
    cmd
}

fn run_inside(foreign: &Arc<Foreign>, script: &str) -> Output {
    sh_inside(foreign, script).output().unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn a_sandboxed_process_is_foreign_and_one_of_ours_is_not() {
    assert!(nsjoin::of_peer(std::process::id()).unwrap().is_none());
    let sandbox = Sandbox::start();
    let foreign = sandbox.foreign();
    let must = libc::CLONE_NEWNS
        | libc::CLONE_NEWPID
        | libc::CLONE_NEWNET
        | libc::CLONE_NEWIPC
        | libc::CLONE_NEWUTS;
    assert_eq!(foreign.flags() & must, must, "{foreign:?}");
    // Root's bwrap makes no user namespace; anyone else's must.
    let root = nix::unistd::geteuid().is_root();
    assert_eq!(foreign.flags() & libc::CLONE_NEWUSER != 0, !root);
    assert_eq!(foreign.pid(), sandbox.pid);
    // A process that is gone cannot be looked at (and so no run is started for it).
    let mut gone = Command::new("true").spawn().unwrap();
    let pid = gone.id();
    gone.wait().unwrap();
    assert!(nsjoin::of_peer(pid).is_err());
}

#[test]
fn paths_are_looked_up_inside_the_callers_root() {
    let sandbox = Sandbox::start();
    let foreign = sandbox.foreign();
    let read = |p: &str| -> std::io::Result<String> {
        let mut s = String::new();
        foreign.open(Path::new(p))?.read_to_string(&mut s)?;
        Ok(s)
    };
    // Only inside: the sandbox's own /tmp.
    assert_eq!(read("/tmp/x").unwrap(), "canary\n");
    assert!(
        !Path::new("/tmp/x").exists() || std::fs::read_to_string("/tmp/x").unwrap() != "canary\n"
    );
    // An absolute symlink, and `..` above the root, stay inside.
    assert_eq!(read("/tmp/link").unwrap(), "canary\n");
    assert_eq!(read("/../../../tmp/x").unwrap(), "canary\n");
    assert_eq!(read("tmp/x").unwrap(), "canary\n");
    // /proc's magic links, which point wherever the kernel says, are refused.
    assert!(read("/tmp/magic/etc/hostname").is_err());
    // Outside only: a file under the hidden directory, and one in the daemon's /tmp.
    let secret = sandbox.hidden.join("secret");
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "outside-only");
    assert!(read(secret.to_str().unwrap()).is_err());
    let outside = tempfile::NamedTempFile::new_in("/tmp").unwrap();
    std::fs::write(outside.path(), "daemon-tmp").unwrap();
    assert!(read(outside.path().to_str().unwrap()).is_err());
    // What is visible in both is the same file.
    assert!(read("/etc/passwd").unwrap().contains("root:"));
    assert!(foreign.is_dir(Path::new("/tmp/work")));
    assert!(!foreign.is_dir(&sandbox.hidden.join("secret")));
    assert!(foreign.is_dir(&sandbox.hidden));
    assert!(foreign.is_file(Path::new("/tmp/link")));
    assert!(!foreign.is_file(Path::new("/tmp/work")));
    assert!(!foreign.is_file(&secret));
}

#[test]
fn a_run_started_inside_sees_what_the_caller_sees() {
    let sandbox = Sandbox::start();
    let foreign = sandbox.foreign();
    let hidden = sandbox.hidden.display();
    let out = run_inside(
        &foreign,
        &format!(
            "echo cwd=$(pwd); echo tmp=$(cat /tmp/x); echo hidden=[$(ls -A {hidden})]; \
             cat {hidden}/secret 2>/dev/null || echo secret-absent; \
             echo self=$(readlink /proc/self) sh=$$; echo pids=$(ls /proc | grep -E '^[0-9]+$' | tr '\\n' ' '); \
             echo net=$(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | tr '\\n' ' '); \
             grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs):' /proc/self/status"
        ),
    );
    let text = text(&out);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("cwd=/tmp/work\n"), "{text}");
    assert!(text.contains("tmp=canary\n"), "{text}");
    assert!(text.contains("hidden=[]\n"), "{text}");
    assert!(text.contains("secret-absent\n"), "{text}");
    // /proc is the sandbox's: its pid 1 is there, the sleeping process is 2, and no pid of
    // the daemon's namespace (the test's own, the sleeping process's outside number).
    let pids: Vec<u32> = text
        .lines()
        .find_map(|l| l.strip_prefix("pids="))
        .unwrap()
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    assert!(pids.contains(&1) && pids.contains(&2), "{text}");
    assert!(
        !pids.contains(&std::process::id()) && !pids.contains(&sandbox.pid),
        "{text}"
    );
    assert!(pids.len() < 10, "{text}");
    // /proc/self resolves (to the `readlink` process), and the shell's own pid is listed.
    let (me, sh) = text
        .lines()
        .find_map(|l| l.strip_prefix("self="))
        .and_then(|l| l.split_once(" sh="))
        .unwrap();
    assert!(me.parse::<u32>().is_ok(), "{text}");
    assert!(pids.contains(&sh.parse().unwrap()), "{text}");
    assert!(
        text.contains("net=lo\n"),
        "only the loopback interface: {text}"
    );
    for cap in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert!(
            text.contains(&format!("{cap}:\t0000000000000000\n")),
            "{cap}: {text}"
        );
    }
    assert!(text.contains("NoNewPrivs:\t1\n"), "{text}");
}

#[test]
fn the_program_runs_by_the_descriptor_opened_inside() {
    let sandbox = Sandbox::start();
    let foreign = sandbox.foreign();
    // A script that exists only inside, executed through /proc/self/fd/N: the name must
    // resolve in the sandbox's /proc, where the grandchild lives.
    let out = run_inside(
        &foreign,
        "printf '#!/bin/sh\\necho script-ran $(cat /tmp/x)\\n' > /tmp/tool && chmod +x /tmp/tool",
    );
    assert!(out.status.success(), "{}", text(&out));
    let file = foreign.open(Path::new("/tmp/tool")).unwrap();
    let mut cmd = kovra_daemon::os::command_for_descriptor(&file);
    cmd.arg0("tool").env_clear().env("PATH", "/usr/bin:/bin");
    foreign
        .start_inside(&mut cmd, Path::new("/tmp/work"))
        .unwrap();
    let out = cmd.output().unwrap();
    assert_eq!(text(&out), "script-ran canary\n");
    // A sealed in-memory copy (what a protected run of a file the user can rewrite
    // executes) runs inside as well.
    let copy = nix::sys::memfd::memfd_create(c"kovra-test", nix::sys::memfd::MFdFlags::MFD_CLOEXEC)
        .unwrap();
    let mut copy = std::fs::File::from(copy);
    std::io::Write::write_all(&mut copy, b"#!/bin/sh\necho copy-ran $(cat /tmp/x)\n").unwrap();
    let mut cmd = kovra_daemon::os::command_for_descriptor(&copy);
    cmd.arg0("tool").env_clear().env("PATH", "/usr/bin:/bin");
    foreign
        .start_inside(&mut cmd, Path::new("/tmp/work"))
        .unwrap();
    let out = cmd.output().unwrap();
    assert_eq!(text(&out), "copy-ran canary\n");
}

#[test]
fn the_end_of_the_run_is_mirrored() {
    let sandbox = Sandbox::start();
    let foreign = sandbox.foreign();
    assert_eq!(run_inside(&foreign, "exit 7").status.code(), Some(7));
    assert_eq!(run_inside(&foreign, "exit 0").status.code(), Some(0));
    let by_signal = run_inside(&foreign, "kill -USR1 $$").status;
    assert_eq!(by_signal.signal(), Some(libc::SIGUSR1), "{by_signal}");
    let killed = run_inside(&foreign, "kill -KILL $$").status;
    assert_eq!(killed.signal(), Some(libc::SIGKILL), "{killed}");
    // A signal that dumps core ends the intermediate with the code the daemon reports for
    // it anyway (128 + signal), so that no copy of the daemon's memory is ever dumped.
    let segv = run_inside(&foreign, "kill -SEGV $$").status;
    assert_eq!(segv.code(), Some(128 + libc::SIGSEGV), "{segv}");
}

#[test]
fn a_signal_to_the_process_group_reaches_the_run() {
    let sandbox = Sandbox::start();
    let foreign = sandbox.foreign();
    let mut child = sh_inside(
        &foreign,
        "trap 'echo got-term; exit 3' TERM; echo ready; while :; do sleep 0.05; done",
    )
    .stdout(Stdio::piped())
    .spawn()
    .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut buf = [0u8; 6];
    stdout.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ready\n");
    // As run.rs does: the group is the one std made (process_group(0)), led by the
    // intermediate, which ignores it; the run inside traps it and exits 3.
    let pgid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = child.wait().unwrap();
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "got-term\n");
    assert_eq!(status.code(), Some(3), "{status}");
}

#[test]
fn a_run_with_a_terminal_has_it_as_its_controlling_terminal() {
    let sandbox = Sandbox::start();
    let foreign = sandbox.foreign();
    let pty = nix::pty::openpty(None, None).unwrap();
    kovra_daemon::os::close_on_exec(&pty.master).unwrap();
    kovra_daemon::os::close_on_exec(&pty.slave).unwrap();
    let mut cmd = Command::new("/bin/sh");
    cmd.args([
        "-c",
        "test -t 0 && test -t 1 && echo is-a-tty; \
         echo tty_nr=$(cut -d' ' -f7 /proc/self/stat); cat /tmp/x",
    ])
    .env_clear()
    .env("PATH", "/usr/bin:/bin")
    .stdin(Stdio::from(pty.slave.try_clone().unwrap()))
    .stdout(Stdio::from(pty.slave.try_clone().unwrap()))
    .stderr(Stdio::from(pty.slave));
    // As run.rs orders it: the session and terminal first, the join last (the grandchild
    // inherits both).
    kovra_daemon::os::controlling_tty_on_exec(&mut cmd);
    foreign
        .start_inside(&mut cmd, Path::new("/tmp/work"))
        .unwrap();
    let mut child = cmd.spawn().unwrap();
    drop(cmd);
    let mut master = std::fs::File::from(pty.master);
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match master.read(&mut buf) {
            Ok(0) | Err(_) => break, // EIO once the last slave holder is gone
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    let status = child.wait().unwrap();
    let out = String::from_utf8_lossy(&out).replace('\r', "");
    assert!(status.success(), "{status}: {out}");
    assert!(out.contains("is-a-tty\n"), "{out}");
    assert!(!out.contains("tty_nr=0\n"), "{out}");
    assert!(out.contains("canary\n"), "{out}");
}

#[test]
fn a_run_that_cannot_start_inside_is_an_error_of_spawn() {
    let sandbox = Sandbox::start();
    let foreign = sandbox.foreign();
    // A working directory that exists outside only.
    std::fs::create_dir_all(sandbox.hidden.join("sub")).unwrap();
    let mut outside_cwd = Command::new("/bin/true");
    foreign
        .start_inside(&mut outside_cwd, &sandbox.hidden.join("sub"))
        .unwrap();
    let e = outside_cwd.spawn().unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::NotFound, "{e}");
    // A program that is not there inside (the exec fails in the grandchild).
    let mut missing = Command::new("/tmp/no-such-program");
    foreign
        .start_inside(&mut missing, Path::new("/tmp/work"))
        .unwrap();
    let e = missing.spawn().unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::NotFound, "{e}");
    // The hidden directory exists inside too (empty): starting there works.
    let mut cmd = Command::new("/bin/true");
    foreign.start_inside(&mut cmd, &sandbox.hidden).unwrap();
    assert!(cmd.status().unwrap().success());
}

#[test]
fn a_connection_from_inside_names_the_sandbox_and_a_dead_one_is_unreadable() {
    use std::os::unix::net::UnixListener;
    let dir = tempfile::Builder::new()
        .prefix("kovra-nsjoin-sock")
        .tempdir_in("/var/tmp")
        .unwrap();
    let path = dir.path().join("s");
    let listener = UnixListener::bind(&path).unwrap();
    let client = |then: &str| {
        format!(
            "import socket,time; s=socket.socket(socket.AF_UNIX); s.connect({:?}); {then}",
            path.display().to_string()
        )
    };
    // A client that stays: the connection's peer is in the sandbox.
    let stay = client("time.sleep(120)");
    let sandbox = Sandbox::around(&["python3", "-c", &stay], false);
    let (stream, _) = listener.accept().unwrap();
    let peer = kovra_daemon::os::peer_of(&stream).unwrap();
    match Namespaces::of_connection(&stream, peer.pid) {
        Namespaces::Foreign(f) => {
            assert_eq!(f.flags() & libc::CLONE_NEWNS, libc::CLONE_NEWNS);
            assert!(f.open(Path::new("/tmp")).is_ok());
        }
        other => panic!("{other:?}"),
    }
    drop(sandbox);
    // A client that has gone by the time the daemon looks: its pid may be anyone's now.
    let leave = client("s.send(b'x')");
    let mut gone = Sandbox::around(&["python3", "-c", &leave], false);
    let (stream, _) = listener.accept().unwrap();
    let peer = kovra_daemon::os::peer_of(&stream).unwrap();
    assert!(gone.bwrap.wait().unwrap().success());
    match Namespaces::of_connection(&stream, peer.pid) {
        Namespaces::Unreadable(why) => assert!(!why.is_empty()),
        other => panic!("{other:?}"),
    }
    // A peer in the daemon's own namespaces (here: the test itself).
    let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    let me = kovra_daemon::os::peer_of(&a).unwrap();
    assert!(matches!(
        Namespaces::of_connection(&a, me.pid),
        Namespaces::Own
    ));
}

/// A python3 that makes itself non-dumpable (as the kovra CLI does), says `ready` and
/// sleeps: started as `prefix… python3` (a namespace tool, `setpriv`), its pid the first
/// python3 below the started process.
fn undumpable(prefix: &[&str]) -> (Child, u32) {
    let python = if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    };
    let mut argv: Vec<&str> = prefix.to_vec();
    argv.extend([
        python,
        "-c",
        "import ctypes,time; ctypes.CDLL(None).prctl(4,0,0,0,0); print('ready', flush=True); time.sleep(120)",
    ]);
    let mut child = Command::new(argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut ready = [0u8; 6];
    child.stdout.take().unwrap().read_exact(&mut ready).unwrap();
    assert_eq!(&ready, b"ready\n");
    let mut next = vec![child.id()];
    while let Some(pid) = next.pop() {
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim().starts_with("python3") {
            return (child, pid);
        }
        next.extend(children(pid));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("no python3 below {prefix:?}");
}

/// End a process `undumpable` started: the python3 itself first (below `unshare --fork` it
/// is not the child), then what was started. Nothing is left holding the test's output.
fn stop(mut child: Child, pid: u32) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    );
    let _ = child.kill();
    let _ = child.wait();
}

/// As root: processes of `user` that made themselves non-dumpable, each in one namespace
/// of its own made by root (a privileged sandbox, as a setuid bwrap makes): (what differs,
/// the process, its pid).
fn privileged_sandboxes(user: &nix::unistd::User) -> Vec<(&'static str, Child, u32)> {
    let (uid, gid) = (
        format!("--reuid={}", user.uid),
        format!("--regid={}", user.gid),
    );
    let setpriv = ["setpriv", &uid, &gid, "--clear-groups", "--"];
    [
        ("mount", &["unshare", "--mount", "--"][..]),
        ("network", &["unshare", "--net", "--"][..]),
        (
            "pid",
            &["unshare", "--pid", "--fork", "--kill-child", "--"][..],
        ),
    ]
    .into_iter()
    .map(|(what, tool)| {
        let prefix: Vec<&str> = tool.iter().chain(setpriv.iter()).copied().collect();
        let (child, pid) = undumpable(&prefix);
        (what, child, pid)
    })
    .collect()
}

/// The env variable naming the privileged sandboxes a root run made for the non-root one.
const PRIVILEGED: &str = "KOVRA_NSJOIN_PRIVILEGED";

#[test]
fn a_non_dumpable_caller_is_looked_at_without_ptrace() {
    // Ours: its namespace links are closed to a non-root daemon, and it lives in the
    // daemon's namespaces, as the kovra CLI does.
    let (own, pid) = undumpable(&[]);
    assert!(nsjoin::of_peer(pid).unwrap().is_none());
    stop(own, pid);
    if nix::unistd::geteuid().is_root() {
        // Root reads every link: each privileged namespace is seen, and can be joined.
        let user = nix::unistd::User::from_name("nobody").unwrap().unwrap();
        for (what, child, pid) in privileged_sandboxes(&user) {
            let foreign = nsjoin::of_peer(pid).unwrap().expect(what);
            let flag = match what {
                "mount" => libc::CLONE_NEWNS,
                "network" => libc::CLONE_NEWNET,
                _ => libc::CLONE_NEWPID,
            };
            stop(child, pid);
            assert_eq!(foreign.flags(), flag, "{what}: {foreign:?}");
        }
    } else if let Ok(list) = std::env::var(PRIVILEGED) {
        // Made by root for this user (`every_test_again_as_a_non_root_user`): the links are
        // closed, and each difference shows without them. Its runs are refused.
        let mut seen = 0;
        for entry in list.split(',') {
            let (what, pid) = entry.split_once('=').unwrap();
            let e = nsjoin::of_peer(pid.parse().unwrap()).unwrap_err();
            assert!(
                e.to_string().contains(&format!("{what} namespace")),
                "{what}: {e}"
            );
            seen += 1;
        }
        assert_eq!(seen, 3);
    } else {
        eprintln!("privileged namespaces need root to make: only checked when root runs this");
    }
}

/// Root's bwrap makes no user namespace and root holds every capability, which hides what
/// matters for an agent's sandbox: so as root, run every other test here again as the
/// unprivileged `kovra-test` (a copy of this binary in a directory it can read).
#[test]
fn every_test_again_as_a_non_root_user() {
    if !nix::unistd::geteuid().is_root() {
        // Not root: the other tests already ran as this non-root user.
        return;
    }
    const USER: &str = "kovra-test";
    if nix::unistd::User::from_name(USER).unwrap().is_none() {
        let out = Command::new("useradd")
            .args(["--system", "--create-home", "--shell", "/bin/bash", USER])
            .output()
            .unwrap();
        assert!(
            nix::unistd::User::from_name(USER).unwrap().is_some(),
            "useradd {USER}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let user = nix::unistd::User::from_name(USER).unwrap().unwrap();
    let dir = tempfile::Builder::new()
        .prefix("kovra-nsjoin-nr")
        .tempdir_in("/tmp")
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    // Namespaces only root can make, for a process of the user that the user's own process
    // may not inspect: the non-root run checks it is refused.
    let sandboxes = privileged_sandboxes(&user);
    let privileged: Vec<String> = sandboxes
        .iter()
        .map(|(what, _, pid)| format!("{what}={pid}"))
        .collect();
    let exe = dir.path().join("nsjoin");
    // Copied by a child: a descriptor of ours open for writing on it, carried into a child
    // another test thread forks meanwhile, would make its exec fail with "Text file busy".
    let copied = Command::new("install")
        .arg("--mode=755")
        .arg(std::env::current_exe().unwrap())
        .arg(&exe)
        .status()
        .unwrap();
    assert!(copied.success());
    let out = Command::new("setsid")
        .args(["--wait", "setpriv"])
        .arg(format!("--reuid={}", user.uid))
        .arg(format!("--regid={}", user.gid))
        .args(["--clear-groups", "--inh-caps=-all", "--"])
        .arg(&exe)
        .args(["--skip", "every_test_again_as_a_non_root_user"])
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", &user.dir)
        .env("TMPDIR", "/tmp")
        .env(PRIVILEGED, privileged.join(","))
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    for (_, child, pid) in sandboxes {
        stop(child, pid);
    }
    let text = text(&out);
    assert!(out.status.success(), "as {USER}:\n{text}");
    // Every other test ran (a filter that matched nothing would pass too).
    let listed = Command::new(&exe).arg("--list").output().unwrap();
    let others = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .filter(|l| l.ends_with(": test"))
        .count()
        - 1;
    assert!(others >= 9, "{others}");
    assert!(
        text.contains(&format!("test result: ok. {others} passed")),
        "as {USER}:\n{text}"
    );
}
