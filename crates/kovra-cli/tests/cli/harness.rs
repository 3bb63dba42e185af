//! A throwaway vault home per test: its own KOVRA_HOME and runtime dir, a passphrase file,
//! the real `kovra` binary, and a transcript of everything printed, for canary scans
//! (`leak.rs`).

use std::cell::RefCell;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub const PASSPHRASE: &str = "test passphrase, long enough";

/// The `kovra` binary under test: `KOVRA_TEST_BIN` when set (a copy another user can run),
/// else the one cargo built.
pub fn kovra_bin() -> PathBuf {
    std::env::var_os("KOVRA_TEST_BIN")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_kovra")))
}

/// `target/test-tools/NAME` (what scripts/test.sh installs there): under `KOVRA_TEST_TOOLS`
/// when set (a copy another user can read), else in this checkout's target directory.
pub fn test_tool_dir(name: &str) -> PathBuf {
    std::env::var_os("KOVRA_TEST_TOOLS")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-tools"))
        .join(name)
}

/// `tests/support`: `KOVRA_TEST_SUPPORT` when set (a copy another user can read), else the
/// source tree's.
pub fn support_dir() -> PathBuf {
    std::env::var_os("KOVRA_TEST_SUPPORT")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support"))
}

pub struct Home {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
    pub home: PathBuf,
    pub runtime: PathBuf,
    pub pass_file: PathBuf,
    /// Every byte any command printed, stdout and stderr.
    pub transcript: RefCell<Vec<u8>>,
}

impl Home {
    /// A fresh, uninitialised home. Lives under /tmp so socket paths stay short.
    pub fn new() -> Home {
        Home::new_in(Path::new("/tmp"))
    }

    /// A fresh, uninitialised home in a new directory under `base` (a short path: socket
    /// paths must fit in 108 bytes).
    pub fn new_in(base: &Path) -> Home {
        let dir = tempfile::Builder::new()
            .prefix("kovra-t")
            .tempdir_in(base)
            .expect("tempdir");
        let root = dir.path().to_path_buf();
        let pass_file = root.join("passphrase");
        std::fs::write(&pass_file, format!("{PASSPHRASE}\n")).expect("write passphrase");
        std::fs::set_permissions(&pass_file, std::fs::Permissions::from_mode(0o600))
            .expect("chmod");
        Home {
            home: root.join("home"),
            runtime: root.join("rt"),
            pass_file,
            root,
            _dir: dir,
            transcript: RefCell::new(Vec::new()),
        }
    }

    /// A home with an initialised, unlocked vault, created at a terminal (the passphrase
    /// typed), so a typed passphrase proves presence to its daemon.
    pub fn init() -> Home {
        let h = Home::new();
        let out = h.run_pty(&["init"], &[PASSPHRASE, PASSPHRASE]);
        assert!(
            out.status.success(),
            "kovra init failed: {}",
            describe(&out)
        );
        h
    }

    /// Unlock at a terminal, typing the passphrase.
    pub fn unlock_typed(&self) {
        self.unlock_typed_with(PASSPHRASE);
    }

    pub fn unlock_typed_with(&self, passphrase: &str) {
        let out = self.run_pty(&["unlock"], &[passphrase]);
        assert!(
            out.status.success(),
            "kovra unlock failed: {}",
            describe(&out)
        );
    }

    /// A `kovra` command with this home's environment and nothing else of ours.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(kovra_bin());
        // KOVRA_* of ours, and the loader variables cargo sets for test binaries: a daemon
        // started with them refuses to run.
        for (k, _) in std::env::vars_os() {
            let name = k.to_string_lossy();
            if name.starts_with("KOVRA_") || name.starts_with("LD_") {
                c.env_remove(k);
            }
        }
        c.env("KOVRA_HOME", &self.home)
            .env("XDG_RUNTIME_DIR", &self.runtime)
            .args(args);
        c
    }

    pub fn run_with(&self, mut c: Command, stdin: Option<&[u8]>) -> Output {
        c.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        c.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = c.spawn().expect("spawn kovra");
        if let Some(input) = stdin {
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(input)
                .expect("write stdin");
        }
        let out = child.wait_with_output().expect("wait kovra");
        let mut t = self.transcript.borrow_mut();
        t.extend_from_slice(&out.stdout);
        t.extend_from_slice(&out.stderr);
        out
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.run_with(self.cmd(args), None)
    }

    pub fn run_stdin(&self, args: &[&str], stdin: &[u8]) -> Output {
        self.run_with(self.cmd(args), Some(stdin))
    }

    /// Run and require exit 0.
    pub fn ok(&self, args: &[&str]) -> Output {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "kovra {args:?} failed: {}",
            describe(&out)
        );
        out
    }

    /// Run with `--json` and parse stdout.
    pub fn json(&self, args: &[&str]) -> (i32, serde_json::Value) {
        let mut full = vec!["--json"];
        full.extend_from_slice(args);
        let out = self.run(&full);
        let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "kovra {args:?}: stdout is not JSON ({e}): {}",
                describe(&out)
            )
        });
        (out.status.code().unwrap_or(-1), v)
    }

    /// Add a record from stdin.
    pub fn add(&self, coord: &str, value: &[u8], extra: &[&str]) -> Output {
        let mut args = vec!["add", coord, "--stdin"];
        args.extend_from_slice(extra);
        self.run_stdin(&args, value)
    }

    /// A request as an agent makes it: no terminal, and no waiting for an approval (a parked
    /// request exits with 5 at once). What it printed is added to `seen`, for canary scans.
    pub fn agent(&self, args: &[&str], seen: &mut Vec<u8>) -> Output {
        let out = self
            .cmd(args)
            .env("KOVRA_APPROVAL_WAIT", "0")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        seen.extend_from_slice(&out.stdout);
        seen.extend_from_slice(&out.stderr);
        out
    }

    /// The id of the first request waiting for approval, once one is parked (20 s at most).
    pub fn wait_for_pending(&self) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let (_, v) = self.json(&["approve"]);
            if let Some(id) = v["pending"][0]["id"].as_str() {
                return id.to_string();
            }
            assert!(std::time::Instant::now() < deadline, "nothing was parked");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    /// Add a record from stdin; it must succeed.
    #[track_caller]
    pub fn add_ok(&self, coord: &str, value: &[u8], extra: &[&str]) {
        let out = self.add(coord, value, extra);
        assert!(out.status.success(), "add {coord}: {}", describe(&out));
    }

    /// Run under a real pseudo-terminal, typing `answers` at each passphrase prompt.
    pub fn run_pty(&self, args: &[&str], answers: &[&str]) -> Output {
        self.run_pty_env(args, answers, &[])
    }

    /// `run_pty` with extra environment variables for the command.
    pub fn run_pty_env(
        &self,
        args: &[&str],
        answers: &[&str],
        vars: &[(String, String)],
    ) -> Output {
        let mut py = self.pty_answer_cmd("answers", args, answers);
        py.envs(vars.iter().map(|(k, v)| (k, v)));
        self.run_with(py, None)
    }

    /// `python3 tests/support/pty_answer.py FILE -- kovra ARGS` with this home's environment:
    /// a real pseudo-terminal typing `answers` (written to `answers_name` under the root) at
    /// each passphrase prompt.
    pub fn pty_answer_cmd(&self, answers_name: &str, args: &[&str], answers: &[&str]) -> Command {
        let answers_file = self.root.join(answers_name);
        std::fs::write(
            &answers_file,
            answers.iter().map(|a| format!("{a}\n")).collect::<String>(),
        )
        .expect("answers");
        self.support_cmd("pty_answer.py", [&answers_file], args)
    }

    /// `python3 tests/support/SCRIPT LEAD... -- kovra ARGS` with this home's environment.
    pub fn support_cmd<S: AsRef<std::ffi::OsStr>>(
        &self,
        script: &str,
        lead: impl IntoIterator<Item = S>,
        args: &[&str],
    ) -> Command {
        let mut py = Command::new("python3");
        py.arg(support_dir().join(script))
            .args(lead)
            .arg("--")
            .arg(kovra_bin())
            .args(args);
        self.with_env(py)
    }

    /// The environment `cmd` gives kovra (set and removed variables), on another program.
    pub fn with_env(&self, mut c: Command) -> Command {
        for (k, v) in self.cmd(&[]).get_envs() {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
        }
        c
    }

    pub fn stop(&self) {
        let _ = self
            .cmd(&["daemon", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }

    /// The daemon's pid, from `status --json`.
    pub fn daemon_pid(&self) -> Option<u32> {
        let (_, v) = self.json(&["status"]);
        v["daemon_pid"].as_u64().map(|p| p as u32)
    }

    /// Every file under the home and runtime dirs that contains any of `needles`.
    pub fn files_containing(&self, needles: &[Vec<u8>]) -> Vec<PathBuf> {
        let mut hits = Vec::new();
        for dir in [&self.home, &self.runtime] {
            walk(dir, &mut |p| {
                if let Ok(bytes) = std::fs::read(p)
                    && needles.iter().any(|n| contains(&bytes, n))
                {
                    hits.push(p.to_path_buf());
                }
            });
        }
        hits
    }

    pub fn transcript_contains(&self, needles: &[Vec<u8>]) -> bool {
        let t = self.transcript.borrow();
        needles.iter().any(|n| contains(&t, n))
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A vault home plus a project directory to work in (`kovra run`'s children and `kovra doctor`
/// see it as their working directory).
pub struct Project {
    pub h: Home,
    pub dir: PathBuf,
}

impl Project {
    pub fn new() -> Project {
        let h = Home::init();
        let dir = h.root.join("proj");
        std::fs::create_dir_all(&dir).expect("mkdir proj");
        Project { h, dir }
    }

    /// Write `./.env.refs`.
    pub fn refs(&self, text: &str) {
        std::fs::write(self.dir.join(".env.refs"), text).expect("write .env.refs");
    }

    /// Store a record; it must succeed.
    pub fn add(&self, coord: &str, value: &str, extra: &[&str]) {
        let out = self.h.add(coord, value.as_bytes(), extra);
        assert!(out.status.success(), "add {coord}: {}", describe(&out));
    }

    /// A `kovra` command in the project directory.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self.h.cmd(args);
        c.current_dir(&self.dir);
        c
    }

    /// `kovra ARGS` in the project directory, with extra environment.
    pub fn run_env(&self, env: &[(&str, &str)], args: &[&str]) -> Output {
        let mut c = self.cmd(args);
        for (k, v) in env {
            c.env(k, v);
        }
        self.h.run_with(c, None)
    }
}

/// Call `f` on every regular file under `dir`, depth first.
pub fn walk(dir: &Path, f: &mut dyn FnMut(&Path)) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, f);
        } else if p.is_file() {
            f(&p);
        }
    }
}

/// Read `r` to its end on a thread of its own (a child's pipe, so the other one never fills up).
pub fn drain(mut r: impl std::io::Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = r.read_to_end(&mut b);
        b
    })
}

/// The sockets in the home's runtime directory (none once the daemon has gone).
pub fn socket_files(h: &Home) -> Vec<PathBuf> {
    std::fs::read_dir(h.runtime.join("kovra"))
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "sock"))
                .collect()
        })
        .unwrap_or_default()
}

/// A live process (a zombie waiting to be reaped counts as gone).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rfind(')')
                .and_then(|i| s[i + 1..].split_whitespace().next())
                .is_some_and(|state| state != "Z" && state != "X")
        })
        .unwrap_or(false)
}

/// Whether process `pid` has exited (gone, or a zombie nobody reaped yet).
pub fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(s) => s
            .rfind(')')
            .and_then(|i| s[i + 1..].split_whitespace().next())
            .is_some_and(|state| state == "Z" || state == "X"),
    }
}

/// How often `needle` occurs in `hay` (overlaps counted).
pub fn count(hay: &[u8], needle: &[u8]) -> usize {
    if needle.is_empty() || hay.len() < needle.len() {
        return 0;
    }
    hay.windows(needle.len()).filter(|w| *w == needle).count()
}

/// The audit entries `kovra audit FILTER...` lists; the command must succeed.
pub fn audit(h: &Home, filter: &[&str]) -> Vec<serde_json::Value> {
    let mut args = vec!["audit"];
    args.extend_from_slice(filter);
    let (code, v) = h.json(&args);
    assert_eq!(code, 0, "{v}");
    v["entries"].as_array().expect("entries").clone()
}

pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// `out` exited with `code`; otherwise fail naming `what` and everything it printed.
#[track_caller]
pub fn assert_exit(out: &Output, code: i32, what: impl std::fmt::Display) {
    assert_eq!(out.status.code(), Some(code), "{what}: {}", describe(out));
}

/// `text` (something `out` printed) contains `needle`; otherwise fail showing all of `out`.
#[track_caller]
pub fn assert_contains(text: &str, needle: &str, out: &Output) {
    assert!(text.contains(needle), "{}", describe(out));
}

pub fn describe(out: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn db_path(h: &Home) -> PathBuf {
    h.home.join("vault.db")
}

/// A record's fingerprint as a human at a terminal gets it (agents may not fingerprint high or
/// production records). `passphrase` answers a proof-of-presence prompt, should one be asked.
/// `args` come before `fingerprint COORD`, e.g. `["--project", "web"]`.
pub fn human_fingerprint(h: &Home, args: &[&str], coord: &str, passphrase: &str) -> String {
    let mut full = args.to_vec();
    full.extend(["fingerprint", coord]);
    let out = h.run_pty(&full, &[passphrase]);
    assert!(
        out.status.success(),
        "human fingerprint {coord}: {}",
        describe(&out)
    );
    stdout(&out)
        .split_whitespace()
        .find(|w| w.starts_with("kfp:"))
        .unwrap_or_else(|| panic!("no fingerprint for {coord}: {}", describe(&out)))
        .to_string()
}

/// Fail, naming the script that installs it, when python3 cannot import `module` (a pip
/// install, done by scripts/test.sh): a test that needs it never passes by skipping itself.
pub fn require_python_module(module: &str) {
    let out = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "python3 cannot import `{module}`: run `bash scripts/test.sh` (it installs it with pip): {}",
        stderr(&out).trim()
    );
}

/// Pids of live `kovra daemon` processes whose `KOVRA_HOME` is this home (their environment
/// is readable to root): a daemon a command spawned is listed from the moment it was forked,
/// before it listens.
pub fn daemons_of(h: &Home) -> Vec<u32> {
    let want = format!("KOVRA_HOME={}", h.home.display());
    let mut pids = Vec::new();
    for e in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        let is_daemon = cmdline.split(|b| *b == 0).any(|a| a == b"daemon");
        let ours = environ.split(|b| *b == 0).any(|v| v == want.as_bytes());
        if is_daemon && ours && !zombie(pid) {
            pids.push(pid);
        }
    }
    pids
}

fn zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rfind(')')
                .and_then(|i| s[i + 1..].split_whitespace().next().map(str::to_string))
        })
        .is_none_or(|state| state == "Z" || state == "X")
}

/// Puts a copy of the program `from` at `to` with `mode`, written by a child (`install`).
/// A file this process holds open for writing is carried into the child any other test
/// thread forks at that moment, and executing the file fails with "Text file busy"
/// (ETXTBSY) until that child execs: so no test writes a program itself.
pub fn install_program(from: &Path, to: &Path, mode: u32) {
    let status = Command::new("install")
        .arg(format!("--mode={mode:o}"))
        .arg(from)
        .arg(to)
        .status()
        .expect("spawn install");
    assert!(
        status.success(),
        "install {} {}",
        from.display(),
        to.display()
    );
}

/// Writes `text` at `path` as an executable (0755) script, by a child: see
/// [`install_program`] for why.
pub fn write_program(path: &Path, text: &str) {
    let mut child = Command::new("sh")
        .args(["-c", "cat > \"$1\" && chmod 755 \"$1\"", "sh"])
        .arg(path)
        .stdin(Stdio::piped())
        .spawn()
        .expect("spawn sh");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success(), "write {}", path.display());
}
