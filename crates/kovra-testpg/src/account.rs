//! Whom the server runs as, and where its programs are.
//!
//! PostgreSQL refuses to run as root (initdb, postgres and pg_ctl all check), and CI runs the
//! tests as root. Then the server runs as `kovra-test`, the unprivileged user the trusted-path
//! tests already re-run themselves as (crates/kovra-cli/tests/trusted_path/nonroot.rs), which
//! scripts/test.sh creates and which is created here the same way when missing. Not `nobody`:
//! `nobody` should own no files, since every daemon that drops to it could then write them, and
//! the server's data directory and TLS key would be such files. The switch is `setpriv` (no
//! supplementary groups, no inheritable capabilities), which execs the program in place, so
//! the child a test holds is the postmaster itself (it also sets the parent-death signal,
//! which survives its change of user: see [`crate::keeper`]). The root test process still reaches the
//! server over TCP and through the socket in its directory (root passes any permission).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use nix::unistd::{Gid, Uid, User, geteuid};

const TEST_USER: &str = "kovra-test";
const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The user the server runs as.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Account {
    /// `Some` when we are root and switch to the test user; `None` for the current user.
    switch_to: Option<(u32, u32)>,
}

impl Account {
    pub(crate) fn for_server() -> Account {
        Account {
            switch_to: geteuid().is_root().then(ensure_test_user),
        }
    }

    /// `program` run as this account, in `dir`, with a small fixed environment.
    pub(crate) fn command(&self, program: &Path, dir: &Path) -> Command {
        self.setpriv(program, dir, false)
    }

    /// [`command`](Self::command) for the postmaster, which also gets SIGQUIT (an immediate
    /// shutdown) when the thread that started it ends: see [`crate::keeper`].
    pub(crate) fn server(&self, program: &Path, dir: &Path) -> Command {
        self.setpriv(program, dir, true)
    }

    fn setpriv(&self, program: &Path, dir: &Path, die_with_parent: bool) -> Command {
        let mut c = if self.switch_to.is_some() || die_with_parent {
            Command::new("setpriv")
        } else {
            Command::new(program)
        };
        if let Some((uid, gid)) = self.switch_to {
            c.arg(format!("--reuid={uid}"))
                .arg(format!("--regid={gid}"))
                .args(["--clear-groups", "--inh-caps=-all"]);
        }
        if die_with_parent {
            c.args(["--pdeathsig", "QUIT"]);
        }
        if self.switch_to.is_some() || die_with_parent {
            c.arg("--").arg(program);
        }
        c.current_dir(dir)
            .env_clear()
            .env("PATH", PATH)
            .env("LC_ALL", "C");
        c
    }

    /// Make `path` the server's (when we are root; else it is ours already).
    pub(crate) fn give(&self, path: &Path) {
        if let Some((uid, gid)) = self.switch_to {
            nix::unistd::chown(path, Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)))
                .unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
        }
    }
}

/// The test user's uid and gid, creating the user (as nonroot.rs does) when missing.
fn ensure_test_user() -> (u32, u32) {
    static USER: OnceLock<(u32, u32)> = OnceLock::new();
    static CREATE: Mutex<()> = Mutex::new(());
    *USER.get_or_init(|| {
        let _guard = CREATE.lock().unwrap_or_else(|e| e.into_inner());
        if lookup().is_none() {
            let out = Command::new("useradd")
                .args([
                    "--system",
                    "--create-home",
                    "--shell",
                    "/bin/bash",
                    TEST_USER,
                ])
                .output()
                .expect("run useradd");
            // Another process may have made it meanwhile: only the lookup decides.
            assert!(
                lookup().is_some(),
                "cannot create the user {TEST_USER} to run PostgreSQL as: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        lookup().unwrap()
    })
}

fn lookup() -> Option<(u32, u32)> {
    let user = User::from_name(TEST_USER).ok()??;
    Some((user.uid.as_raw(), user.gid.as_raw()))
}

/// The directory holding `initdb` and `postgres`: `KOVRA_TEST_PG_BIN` when set, else Debian's
/// newest `/usr/lib/postgresql/<version>/bin` (not the /usr/local/bin wrappers some machines
/// have, nor PATH, where Debian puts neither program), else the directory of `initdb` on PATH
/// (other systems install both there).
pub(crate) fn bin_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(find_bin_dir).clone()
}

fn find_bin_dir() -> PathBuf {
    let has_both = |d: &Path| d.join("initdb").is_file() && d.join("postgres").is_file();
    if let Some(d) = std::env::var_os("KOVRA_TEST_PG_BIN") {
        let d = PathBuf::from(d);
        assert!(
            has_both(&d),
            "KOVRA_TEST_PG_BIN={}: no initdb and postgres there",
            d.display()
        );
        return d;
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let e = e.ok()?;
            let version = e.file_name().to_str()?.parse().ok()?;
            Some((version, e.path().join("bin")))
        })
        .filter(|(_, d)| has_both(d))
        .collect();
    versions.sort();
    if let Some((_, d)) = versions.pop() {
        return d;
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .filter_map(|d| std::fs::canonicalize(d.join("initdb")).ok())
        .filter_map(|initdb| initdb.parent().map(Path::to_path_buf))
        .find(|d| has_both(d))
        .expect(
            "PostgreSQL's initdb and postgres (apt-get install postgresql; scripts/test.sh does)",
        )
}
