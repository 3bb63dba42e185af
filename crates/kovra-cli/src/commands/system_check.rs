//! `kovra doctor --system`: what this machine offers against a same-user agent, and what to set.
//! It needs no vault and no daemon: it reads a few kernel files, looks for bubblewrap, and
//! reports. The checks are pure functions of those facts, so they are tested without the host.
//!
//! Exit status: 0 whatever the findings (1 only if the report cannot be written). A stock
//! kernel has warnings here, and a check that fails CI for them would be noise; a pipeline that
//! wants to gate parses `--json` and looks for `"status": "warn"`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::error::CliError;
use crate::render::{Renderer, View};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Nothing to do for kovra's sake.
    Ok,
    /// A gap a same-user agent can use; the fix closes it.
    Warn,
    /// Worth knowing; it does not weaken what kovra itself guarantees.
    Info,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Info => "info",
        }
    }
}

/// One line of the report. Serialize-only: fields may be added, never renamed.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub status: Status,
    /// What the setting means for kovra, in one sentence.
    pub detail: String,
    /// The command (or change) that fixes it; `None` when there is nothing to do.
    pub fix: Option<String>,
}

impl Check {
    fn new(name: &'static str, status: Status, detail: impl Into<String>) -> Check {
        Check {
            name,
            status,
            detail: detail.into(),
            fix: None,
        }
    }

    fn fix(mut self, fix: impl Into<String>) -> Check {
        self.fix = Some(fix.into());
        self
    }
}

/// Everything the checks look at, read once from the host (`read_facts`) or given by a test.
/// `None` means the file is absent (or unreadable, which the kernel makes rare for these).
#[derive(Debug, Default, Clone)]
pub struct Facts {
    /// /proc/sys/kernel/yama/ptrace_scope
    pub ptrace_scope: Option<String>,
    /// /proc/self/mountinfo (or /proc/mounts)
    pub mountinfo: Option<String>,
    /// /proc/sys/kernel/unprivileged_userns_clone (Debian's patch)
    pub userns_clone: Option<String>,
    /// /proc/sys/user/max_user_namespaces
    pub max_user_namespaces: Option<String>,
    /// /proc/sys/kernel/apparmor_restrict_unprivileged_userns (Ubuntu 23.10+)
    pub apparmor_restrict_userns: Option<String>,
    /// `bwrap` found on PATH.
    pub bwrap: Option<PathBuf>,
    /// The outcome of a trial sandbox with the namespaces `kovra sandbox` uses: `Err` holds bwrap's first stderr line.
    pub bwrap_trial: Option<Result<(), String>>,
    /// /proc/sys/kernel/core_pattern
    pub core_pattern: Option<String>,
    /// This process's soft RLIMIT_CORE, inherited from the shell (`None`: unlimited).
    pub core_limit: Option<u64>,
    /// /proc/sys/fs/suid_dumpable
    pub suid_dumpable: Option<String>,
}

/// A persistent sysctl setting, as one command line.
fn sysctl_fix(key: &str, value: &str, file: &str) -> String {
    format!(
        "sudo sysctl -w {key}={value} && echo '{key} = {value}' | sudo tee /etc/sysctl.d/{file}.conf"
    )
}

/// `kernel.yama.ptrace_scope`: absent means no Yama, the classic rule (any process of the user
/// may attach to any dumpable one). Yama governs attaching only: reading `/proc/PID/environ` is
/// a read-mode access it does not restrict, whatever the scope.
pub fn ptrace_scope(raw: Option<&str>) -> Check {
    const NAME: &str = "ptrace_scope";
    let fix = sysctl_fix("kernel.yama.ptrace_scope", "1", "60-kovra-ptrace");
    let Some(raw) = raw else {
        return Check::new(
            NAME,
            Status::Warn,
            "no Yama: any process of yours can attach to any other dumpable one, such as a \
             program `kovra run` started with your values (only non-dumpable processes, like \
             kovra's daemon, are out of reach)",
        )
        .fix(
            "use a kernel with Yama (CONFIG_SECURITY_YAMA, `yama` in /sys/kernel/security/lsm), \
             then set kernel.yama.ptrace_scope=1 (in a container, the host's kernel decides)",
        );
    };
    let environ = "/proc/PID/environ of dumpable processes stays readable, Yama does not cover it";
    match raw.trim() {
        "0" => Check::new(
            NAME,
            Status::Warn,
            "classic ptrace (0): any process of yours can attach to any other dumpable one, such \
             as a program `kovra run` started with your values",
        )
        .fix(fix),
        "1" => Check::new(
            NAME,
            Status::Ok,
            format!(
                "restricted (1): a process can attach only to its own descendants, so an agent \
                 cannot trace your terminal's kovra; {environ}"
            ),
        ),
        "2" => Check::new(
            NAME,
            Status::Ok,
            format!("admin-only (2): attaching needs CAP_SYS_PTRACE; {environ}"),
        ),
        "3" => Check::new(
            NAME,
            Status::Ok,
            format!("no attach (3): ptrace is off until reboot; {environ}"),
        ),
        other => Check::new(
            NAME,
            Status::Warn,
            format!("unexpected value {other:?}: treat it as unrestricted"),
        )
        .fix(fix),
    }
}

/// The options of the mount at `/proc` of type `proc` (the last one: a later mount hides an
/// earlier one). Reads `/proc/self/mountinfo` lines, and `/proc/mounts` lines as a fallback;
/// both the per-mount and the superblock options are returned, comma-joined.
pub fn proc_mount_options(text: &str) -> Option<String> {
    let mut found = None;
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if let Some(sep) = fields.iter().position(|f| *f == "-") {
            // mountinfo: ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - TYPE SOURCE SUPER
            let (Some(point), Some(opts), Some(fstype)) =
                (fields.get(4), fields.get(5), fields.get(sep + 1))
            else {
                continue;
            };
            if *point == "/proc" && *fstype == "proc" {
                let sup = fields.get(sep + 3).copied().unwrap_or("");
                found = Some(format!("{opts},{sup}"));
            }
        } else if let (Some(point), Some(fstype), Some(opts)) =
            (fields.get(1), fields.get(2), fields.get(3))
        {
            // /proc/mounts: SOURCE MOUNTPOINT TYPE OPTIONS DUMP PASS
            if *point == "/proc" && *fstype == "proc" {
                found = Some((*opts).to_string());
            }
        }
    }
    found
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hidepid {
    Off,
    /// 1: other users' `/proc/PID` directories are listed but closed.
    NoAccess,
    /// 2: other users' processes are not listed at all.
    Invisible,
    /// 4: only processes the caller may trace are listed.
    Ptraceable,
    Other(String),
}

/// The `hidepid` option of a proc mount (old kernels print numbers, new ones names).
pub fn hidepid(options: &str) -> Hidepid {
    let value = options
        .split(',')
        .filter_map(|o| o.strip_prefix("hidepid="))
        .next_back();
    match value {
        None | Some("0" | "off") => Hidepid::Off,
        Some("1" | "noaccess") => Hidepid::NoAccess,
        Some("2" | "invisible") => Hidepid::Invisible,
        Some("4" | "ptraceable") => Hidepid::Ptraceable,
        Some(other) => Hidepid::Other(other.to_string()),
    }
}

/// `/proc` with `hidepid`: it hides *other users'* processes. It never hides a user's own
/// processes from that user, so against an agent running as you it changes nothing; it is info,
/// never a warning.
pub fn proc_hidepid(mountinfo: Option<&str>) -> Check {
    const NAME: &str = "proc_hidepid";
    let same_user = "your own processes (and the agent's view of them) are unchanged";
    let Some(options) = mountinfo.and_then(proc_mount_options) else {
        return Check::new(
            NAME,
            Status::Info,
            "no proc mount at /proc found: cannot tell whether other users see your processes",
        );
    };
    match hidepid(&options) {
        Hidepid::Off => Check::new(
            NAME,
            Status::Info,
            "no hidepid: other users can list your processes and their command lines \
             (kovra never puts a value there); hidepid would not hide them from an agent \
             running as you",
        )
        .fix(
            "sudo mount -o remount,hidepid=2 /proc (persist: `proc /proc proc defaults,hidepid=2 0 0` in /etc/fstab)",
        ),
        Hidepid::NoAccess => Check::new(
            NAME,
            Status::Ok,
            format!("hidepid=noaccess: other users cannot open your /proc/PID; {same_user}"),
        ),
        Hidepid::Invisible => Check::new(
            NAME,
            Status::Ok,
            format!("hidepid=invisible: other users cannot see your processes; {same_user}"),
        ),
        Hidepid::Ptraceable => Check::new(
            NAME,
            Status::Ok,
            format!(
                "hidepid=ptraceable: only processes one may trace are visible; {same_user}"
            ),
        ),
        Hidepid::Other(v) => Check::new(
            NAME,
            Status::Info,
            format!("hidepid={v}: an unknown setting; {same_user}"),
        ),
    }
}

/// Whether an unprivileged process may create a user namespace, which bubblewrap needs unless
/// it is installed setuid.
pub fn user_namespaces(
    userns_clone: Option<&str>,
    max_user_namespaces: Option<&str>,
    apparmor_restrict: Option<&str>,
) -> Check {
    const NAME: &str = "user_namespaces";
    let why = "bubblewrap cannot build a sandbox that keeps an agent's process tree away from your \
               files and sockets";
    if userns_clone.map(str::trim) == Some("0") {
        return Check::new(
            NAME,
            Status::Warn,
            format!(
                "unprivileged user namespaces are off (kernel.unprivileged_userns_clone=0): {why}"
            ),
        )
        .fix(sysctl_fix(
            "kernel.unprivileged_userns_clone",
            "1",
            "60-kovra-userns",
        ));
    }
    match max_user_namespaces.map(|m| m.trim().parse::<u64>()) {
        Some(Ok(0)) => {
            return Check::new(
                NAME,
                Status::Warn,
                format!("user namespaces are off (user.max_user_namespaces=0): {why}"),
            )
            .fix(sysctl_fix(
                "user.max_user_namespaces",
                "15000",
                "60-kovra-userns",
            ));
        }
        None => {
            return Check::new(
                NAME,
                Status::Warn,
                format!("no /proc/sys/user/max_user_namespaces: the kernel has no user namespaces, so {why}"),
            )
            .fix("use a kernel built with CONFIG_USER_NS");
        }
        Some(_) => {}
    }
    if apparmor_restrict.map(str::trim) == Some("1") {
        return Check::new(
            NAME,
            Status::Info,
            "available, but AppArmor restricts them (kernel.apparmor_restrict_unprivileged_userns=1): \
             bubblewrap works only under a profile that allows `userns` (see the bubblewrap line)",
        )
        .fix(
            "give /usr/bin/bwrap an AppArmor profile with `userns,` (or, machine-wide and weaker: \
             sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0)",
        );
    }
    Check::new(
        NAME,
        Status::Ok,
        "unprivileged user namespaces are available, as bubblewrap needs",
    )
}

/// bubblewrap on PATH, and whether it can start a trivial sandbox.
pub fn bubblewrap(path: Option<&Path>, trial: Option<&Result<(), String>>) -> Check {
    const NAME: &str = "bubblewrap";
    let Some(path) = path else {
        return Check::new(
            NAME,
            Status::Warn,
            "bwrap is not on PATH: `kovra sandbox` refuses to start without it, and nothing \
             else confines an agent's process tree, so it reaches every file and socket of \
             yours, kovra's CLI included",
        )
        .fix("install bubblewrap (sudo apt install bubblewrap, sudo dnf install bubblewrap, …)");
    };
    match trial {
        Some(Ok(())) => Check::new(
            NAME,
            Status::Ok,
            format!(
                "{} starts a sandbox with its own user, pid and network namespaces, as `kovra sandbox` needs",
                path.display()
            ),
        ),
        Some(Err(e)) => Check::new(
            NAME,
            Status::Warn,
            format!(
                "{} is installed but cannot start a sandbox ({e}); `kovra sandbox` refuses to start",
                path.display()
            ),
        )
        .fix("allow unprivileged user namespaces (see the user_namespaces line)"),
        None => Check::new(
            NAME,
            Status::Info,
            format!("{} is installed (not tried)", path.display()),
        ),
    }
}

/// Where crash dumps go. The daemon is non-dumpable and never dumps, and what it starts
/// inherits its core limit of 0; a dump of any other program of yours lands where you, and so
/// an agent, can read it.
pub fn core_pattern(pattern: Option<&str>, soft_limit: Option<u64>) -> Check {
    const NAME: &str = "core_pattern";
    let Some(pattern) = pattern.map(str::trim) else {
        return Check::new(NAME, Status::Info, "core_pattern is unreadable");
    };
    if soft_limit == Some(0) {
        return Check::new(
            NAME,
            Status::Ok,
            format!(
                "dumps go to `{pattern}`, but your core size limit is 0, so programs you start \
                 leave none (the daemon never dumps)"
            ),
        );
    }
    let limit = "`ulimit -c 0` in your shell profile (programs you start then leave no dump)";
    if let Some(helper) = pattern.strip_prefix('|') {
        let program = helper.split_whitespace().next().unwrap_or(helper);
        let fix = if program.contains("systemd-coredump") {
            format!("{limit}, or Storage=none in /etc/systemd/coredump.conf")
        } else {
            limit.to_string()
        };
        Check::new(
            NAME,
            Status::Info,
            format!(
                "crash dumps go to the helper {program}, which may keep them where you (and so \
                 an agent) can read them; kovra's daemon never dumps"
            ),
        )
        .fix(fix)
    } else {
        Check::new(
            NAME,
            Status::Info,
            format!(
                "crash dumps are written as files (`{pattern}`) readable by any process of yours; \
                 kovra's daemon never dumps"
            ),
        )
        .fix(limit)
    }
}

/// `fs.suid_dumpable`: whether processes that changed credentials stay dumpable. kovra's daemon
/// drops dumpability itself (`PR_SET_DUMPABLE 0`), which this setting does not undo.
pub fn suid_dumpable(raw: Option<&str>) -> Check {
    const NAME: &str = "suid_dumpable";
    match raw.map(str::trim) {
        Some("0") => Check::new(
            NAME,
            Status::Ok,
            "0: programs that change credentials neither dump nor can be traced by you",
        ),
        Some("2") => Check::new(
            NAME,
            Status::Info,
            "2 (suidsafe): programs that change credentials dump for root only; the daemon's \
             own non-dumpable flag is unaffected",
        ),
        Some("1") => Check::new(
            NAME,
            Status::Warn,
            "1 (debug): programs that change credentials stay dumpable and traceable, which the \
             kernel documents as insecure; the daemon's own non-dumpable flag is unaffected",
        )
        .fix(sysctl_fix("fs.suid_dumpable", "0", "60-kovra-dumpable")),
        Some(other) => Check::new(NAME, Status::Info, format!("unexpected value {other:?}")),
        None => Check::new(NAME, Status::Info, "fs.suid_dumpable is unreadable"),
    }
}

/// Every check, in report order.
pub fn checks(f: &Facts) -> Vec<Check> {
    vec![
        ptrace_scope(f.ptrace_scope.as_deref()),
        proc_hidepid(f.mountinfo.as_deref()),
        user_namespaces(
            f.userns_clone.as_deref(),
            f.max_user_namespaces.as_deref(),
            f.apparmor_restrict_userns.as_deref(),
        ),
        bubblewrap(f.bwrap.as_deref(), f.bwrap_trial.as_ref()),
        core_pattern(f.core_pattern.as_deref(), f.core_limit),
        suid_dumpable(f.suid_dumpable.as_deref()),
    ]
}

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// The first executable file named `name` in the `PATH`-style list `path`.
pub fn find_on_path(path: &std::ffi::OsStr, name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::env::split_paths(path)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(name))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// The namespaces `kovra sandbox` asks for, around `true`, given five seconds.
fn try_bwrap(bwrap: &Path) -> Result<(), String> {
    let mut child = Command::new(bwrap)
        .args([
            "--unshare-user",
            "--unshare-pid",
            "--unshare-net",
            "--unshare-ipc",
            "--unshare-uts",
            "--ro-bind",
            "/",
            "/",
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "true",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start it: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                if status.success() {
                    return Ok(());
                }
                let mut err = String::new();
                if let Some(mut s) = child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut s, &mut err);
                }
                let first = err.lines().next().unwrap_or("").trim().to_string();
                return Err(if first.is_empty() {
                    format!("it exited with {status}")
                } else {
                    first
                });
            }
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err("it did not finish within 5 seconds".into());
            }
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// The facts of this host.
pub fn read_facts() -> Facts {
    let bwrap = std::env::var_os("PATH").and_then(|p| find_on_path(&p, "bwrap"));
    let bwrap_trial = bwrap.as_deref().map(try_bwrap);
    let core_limit = match nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_CORE)
    {
        Ok((soft, _)) if soft == nix::sys::resource::RLIM_INFINITY => None,
        Ok((soft, _)) => Some(soft),
        Err(_) => None,
    };
    Facts {
        ptrace_scope: read("/proc/sys/kernel/yama/ptrace_scope"),
        mountinfo: read("/proc/self/mountinfo").or_else(|| read("/proc/mounts")),
        userns_clone: read("/proc/sys/kernel/unprivileged_userns_clone"),
        max_user_namespaces: read("/proc/sys/user/max_user_namespaces"),
        apparmor_restrict_userns: read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns"),
        bwrap,
        bwrap_trial,
        core_pattern: read("/proc/sys/kernel/core_pattern"),
        core_limit,
        suid_dumpable: read("/proc/sys/fs/suid_dumpable"),
    }
}

/// The human report: one line per check (`status  name  detail  fix: …`), then a count.
pub fn human(checks: &[Check]) -> String {
    let width = checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
    let mut out = String::new();
    for c in checks {
        out.push_str(&format!(
            "{:<4}  {:<width$}  {}",
            c.status.as_str(),
            c.name,
            c.detail
        ));
        if let Some(fix) = &c.fix {
            out.push_str(&format!("  fix: {fix}"));
        }
        out.push('\n');
    }
    let count = |s| checks.iter().filter(|c| c.status == s).count();
    out.push_str(&format!(
        "{} warning(s), {} note(s)\n",
        count(Status::Warn),
        count(Status::Info)
    ));
    out
}

/// `kovra doctor --system`.
pub fn run(out: &Renderer) -> Result<(), CliError> {
    out.show(View::SystemChecks(&checks(&read_facts())))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    const MOUNTINFO_PLAIN: &str = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
23 22 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
24 23 0:22 / /proc/sys/fs/binfmt_misc rw,relatime shared:13 - autofs systemd-1 rw
";

    #[test]
    fn yama_scopes_absent_and_zero_warn_one_to_three_are_ok() {
        assert_eq!(ptrace_scope(None).status, Status::Warn);
        assert!(ptrace_scope(None).detail.contains("no Yama"));
        let zero = ptrace_scope(Some("0\n"));
        assert_eq!(zero.status, Status::Warn);
        assert!(zero.fix.as_deref().is_some_and(
            |f| f.contains("kernel.yama.ptrace_scope=1") && f.contains("/etc/sysctl.d/")
        ));
        for v in ["1\n", "2", " 3 "] {
            let c = ptrace_scope(Some(v));
            assert_eq!(c.status, Status::Ok, "{v}");
            assert!(c.fix.is_none());
            // Yama never covers /proc/PID/environ; the report must not suggest it does.
            assert!(c.detail.contains("environ"), "{v}");
        }
        assert_eq!(ptrace_scope(Some("7")).status, Status::Warn);
        assert_eq!(ptrace_scope(Some("")).status, Status::Warn);
    }

    #[test]
    fn the_proc_mount_is_found_in_mountinfo_and_in_mounts() {
        assert_eq!(
            proc_mount_options(MOUNTINFO_PLAIN).map(|o| hidepid(&o)),
            Some(Hidepid::Off)
        );
        let hidden = format!(
            "{MOUNTINFO_PLAIN}25 22 0:23 / /proc rw,nosuid,relatime shared:14 - proc proc rw,hidepid=invisible,subset=pid\n"
        );
        // The later mount at /proc hides the earlier one.
        assert_eq!(
            proc_mount_options(&hidden).map(|o| hidepid(&o)),
            Some(Hidepid::Invisible)
        );
        let old_kernel = "23 22 0:21 / /proc rw,relatime - proc proc rw,hidepid=2\n";
        assert_eq!(
            proc_mount_options(old_kernel).map(|o| hidepid(&o)),
            Some(Hidepid::Invisible)
        );
        let mounts = "sysfs /sys sysfs rw 0 0\nproc /proc proc rw,nosuid,hidepid=1,gid=27 0 0\n";
        assert_eq!(
            proc_mount_options(mounts).map(|o| hidepid(&o)),
            Some(Hidepid::NoAccess)
        );
        // A proc mounted elsewhere, or a tmpfs over /proc/kcore, is not the /proc mount.
        let elsewhere = "30 22 0:40 / /run/proc rw - proc proc rw,hidepid=2\n\
                         31 23 0:41 / /proc/kcore rw - tmpfs tmpfs rw\n";
        assert_eq!(proc_mount_options(elsewhere), None);
        assert_eq!(hidepid("rw,hidepid=4"), Hidepid::Ptraceable);
        assert_eq!(hidepid("rw,hidepid=off"), Hidepid::Off);
        assert_eq!(hidepid("rw,hidepid=9"), Hidepid::Other("9".into()));
    }

    #[test]
    fn hidepid_is_never_a_warning_and_says_it_does_not_hide_your_own_processes() {
        let off = proc_hidepid(Some(MOUNTINFO_PLAIN));
        assert_eq!(off.status, Status::Info);
        assert!(off.fix.as_deref().is_some_and(|f| f.contains("hidepid=2")));
        assert!(off.detail.contains("not hide them from an agent"));
        let on = proc_hidepid(Some("23 22 0:21 / /proc rw - proc proc rw,hidepid=2\n"));
        assert_eq!(on.status, Status::Ok);
        assert!(on.detail.contains("your own processes"));
        assert_eq!(proc_hidepid(None).status, Status::Info);
    }

    #[test]
    fn user_namespaces_off_in_any_of_three_ways() {
        assert_eq!(
            user_namespaces(None, Some("15000\n"), None).status,
            Status::Ok
        );
        let clone_off = user_namespaces(Some("0\n"), Some("15000"), None);
        assert_eq!(clone_off.status, Status::Warn);
        assert!(
            clone_off
                .fix
                .as_deref()
                .is_some_and(|f| f.contains("unprivileged_userns_clone=1"))
        );
        assert_eq!(
            user_namespaces(Some("1"), Some("0"), None).status,
            Status::Warn
        );
        assert_eq!(user_namespaces(None, None, None).status, Status::Warn);
        let apparmor = user_namespaces(None, Some("15000"), Some("1\n"));
        assert_eq!(apparmor.status, Status::Info);
        assert!(apparmor.detail.contains("AppArmor"));
        assert_eq!(
            user_namespaces(None, Some("15000"), Some("0")).status,
            Status::Ok
        );
    }

    #[test]
    fn bubblewrap_absent_broken_and_working() {
        assert_eq!(bubblewrap(None, None).status, Status::Warn);
        let p = Path::new("/usr/bin/bwrap");
        assert_eq!(bubblewrap(Some(p), Some(&Ok(()))).status, Status::Ok);
        let broken = bubblewrap(
            Some(p),
            Some(&Err("bwrap: No permissions to create new namespace".into())),
        );
        assert_eq!(broken.status, Status::Warn);
        assert!(broken.detail.contains("No permissions"));
        assert_eq!(bubblewrap(Some(p), None).status, Status::Info);
    }

    #[test]
    fn find_on_path_needs_an_executable_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain");
        std::fs::create_dir(&plain).unwrap();
        std::fs::write(plain.join("bwrap"), "").unwrap();
        let exec = dir.path().join("exec");
        std::fs::create_dir(&exec).unwrap();
        std::fs::write(exec.join("bwrap"), "").unwrap();
        std::fs::set_permissions(exec.join("bwrap"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        let path = std::env::join_paths([&plain, &exec]).unwrap();
        assert_eq!(find_on_path(&path, "bwrap"), Some(exec.join("bwrap")));
        let only_plain = std::env::join_paths([&plain]).unwrap();
        assert_eq!(find_on_path(&only_plain, "bwrap"), None);
    }

    #[test]
    fn core_dumps_and_suid_dumpable() {
        let piped = core_pattern(Some("|/usr/lib/systemd/systemd-coredump %P %u %g\n"), None);
        assert_eq!(piped.status, Status::Info);
        assert!(piped.detail.contains("/usr/lib/systemd/systemd-coredump"));
        assert!(
            piped
                .fix
                .as_deref()
                .is_some_and(|f| f.contains("Storage=none"))
        );
        let file = core_pattern(Some("core"), Some(1 << 20));
        assert_eq!(file.status, Status::Info);
        assert!(
            file.fix
                .as_deref()
                .is_some_and(|f| f.contains("ulimit -c 0"))
        );
        assert_eq!(core_pattern(Some("core"), Some(0)).status, Status::Ok);
        assert_eq!(suid_dumpable(Some("0\n")).status, Status::Ok);
        assert_eq!(suid_dumpable(Some("1")).status, Status::Warn);
        assert_eq!(suid_dumpable(Some("2")).status, Status::Info);
        assert_eq!(suid_dumpable(None).status, Status::Info);
    }

    #[test]
    fn a_stock_host_without_yama_renders_one_line_per_check() {
        let facts = Facts {
            mountinfo: Some(MOUNTINFO_PLAIN.into()),
            max_user_namespaces: Some("63000".into()),
            core_pattern: Some("core".into()),
            suid_dumpable: Some("0".into()),
            ..Facts::default()
        };
        let all = checks(&facts);
        let names: Vec<&str> = all.iter().map(|c| c.name).collect();
        assert_eq!(
            names,
            [
                "ptrace_scope",
                "proc_hidepid",
                "user_namespaces",
                "bubblewrap",
                "core_pattern",
                "suid_dumpable"
            ]
        );
        let text = human(&all);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), all.len() + 1, "{text}");
        assert!(lines[0].starts_with("warn  ptrace_scope "), "{text}");
        assert!(lines[0].contains("fix: "), "{text}");
        assert_eq!(lines[all.len()], "2 warning(s), 2 note(s)", "{text}");
        let doc = serde_json::json!({ "checks": all });
        assert_eq!(doc["checks"][0]["status"], "warn");
        assert_eq!(doc["checks"][5]["fix"], serde_json::Value::Null);
    }
}
