//! A throwaway PostgreSQL server for tests: Debian's `initdb` and `postgres`, run in a
//! temporary directory, listening only on 127.0.0.1 (and a unix socket in that directory) on
//! a free port, with TLS from a CA made for it, password logins (SCRAM-SHA-256), the roles
//! and database a test asks for, and stopped when dropped. kovra's database tests (`kovra
//! query`, the MCP `query` tool, `kovra db-proxy`) talk to it; like kovra-testsshd it is test
//! code only, never shipped.
//!
//! Durability is traded for speed (`fsync`, `synchronous_commit`, `full_page_writes` off;
//! small shared buffers; no autovacuum): one start (initdb + start + roles) takes about a
//! second on a loaded two-core machine.
//!
//! As root the server runs as the user `kovra-test` (why: src/account.rs). A test process
//! killed outright takes its servers with it (src/keeper.rs), though their directories stay
//! in /tmp as `kovra-pg*`; a [`Pg`] in a `static` is never dropped, so it stops only then.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod account;
mod keeper;
mod options;
mod setup;
mod tls;

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::account::{Account, bin_dir};
pub use crate::options::{Access, Login, PgOptions, Role};

/// The only address it listens on.
const HOST: &str = "127.0.0.1";
const SUPERUSER: &str = "postgres";
/// Slow machines: a start under two busy cores must still make it.
const START_TIMEOUT: Duration = Duration::from_secs(60);
const LOG: &str = "postgres.log";

pub struct Pg {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
    database: String,
    superuser: Login,
    roles: Vec<Login>,
}

impl Pg {
    /// A running server as `opts` asks, with its roles and database made.
    pub fn start(opts: PgOptions) -> Pg {
        let account = Account::for_server();
        // In /tmp rather than $TMPDIR: the server's user must reach it, and the socket's
        // path must stay under the 107 bytes a unix socket allows.
        let dir = tempfile::Builder::new()
            .prefix("kovra-pg")
            .tempdir_in("/tmp")
            .unwrap();
        let d = dir.path();
        account.give(d);
        let superuser = Login {
            user: SUPERUSER.to_string(),
            password: random_password(),
        };
        tls::write_pki(d, &account);
        initdb(d, &account, &superuser.password);
        write_hba(d, &account, opts.tls_only);
        // Another process may take the free port before the server binds it: try another.
        for attempt in 1..=3 {
            let port = free_port();
            let logged = log_len(d);
            let mut child = spawn(d, &account, port, &opts.settings);
            if wait_ready(&mut child, &d.join("data")) {
                let pg = Pg {
                    child,
                    port,
                    dir,
                    database: opts.database.clone(),
                    superuser,
                    roles: opts.roles.iter().map(|r| r.login.clone()).collect(),
                };
                pg.setup(&opts);
                return pg;
            }
            let log = std::fs::read(d.join(LOG)).unwrap_or_default();
            let new = String::from_utf8_lossy(&log[logged.min(log.len())..]).into_owned();
            if attempt < 3 && new.contains("Address already in use") {
                continue;
            }
            panic!("postgres did not start:\n{}", read_log(d));
        }
        unreachable!()
    }

    /// The roles, database, grants and settings, through the socket as the superuser.
    fn setup(&self, opts: &PgOptions) {
        let mut psql = self.psql_command(&self.superuser.user, &self.superuser.password, "");
        psql.env("PGHOST", self.socket_dir())
            .env("PGDATABASE", "postgres")
            .args(["-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = psql.spawn().unwrap();
        let script = setup::script(opts, &self.superuser.user);
        child
            .stdin
            .take()
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "setting up roles and database failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
    }

    /// The address it listens on, `127.0.0.1` (its certificate also names `localhost`).
    pub fn host(&self) -> &str {
        HOST
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory of its unix socket (`host=` this path connects there, no TLS).
    pub fn socket_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The database made for the test.
    pub fn database(&self) -> &str {
        &self.database
    }

    /// The CA certificate (PEM) that signed the server's: `sslrootcert` for `verify-full`.
    pub fn ca_pem(&self) -> PathBuf {
        self.dir.path().join(tls::CA_PEM)
    }

    /// The superuser `postgres`, with a random password.
    pub fn superuser(&self) -> &Login {
        &self.superuser
    }

    /// The role named `user`, from [`PgOptions::role`].
    pub fn login(&self, user: &str) -> &Login {
        self.roles
            .iter()
            .find(|l| l.user == user)
            .unwrap_or_else(|| panic!("no role {user:?} was asked for"))
    }

    /// The postmaster's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A libpq URL for the test database over TCP, with `sslmode` (`verify-full`,
    /// `require`, `disable`…) and the CA as `sslrootcert`.
    pub fn url(&self, user: &str, password: &str, sslmode: &str) -> String {
        format!(
            "postgresql://{}:{}@{HOST}:{}/{}?sslmode={}&sslrootcert={}",
            encode(user),
            encode(password),
            self.port,
            encode(&self.database),
            encode(sslmode),
            encode(&self.ca_pem().to_string_lossy()),
        )
    }

    /// `psql -X -q -A -t -v ON_ERROR_STOP=1` to the test database over TCP as `user` with
    /// `sslmode` (empty: libpq's default) and the CA. The connection is all in `PG*`
    /// variables (the password too, never in argv); the caller's own `PG*` variables,
    /// `~/.psqlrc` and `~/.postgresql` are ignored. Messages are in English.
    pub fn psql_command(&self, user: &str, password: &str, sslmode: &str) -> Command {
        let mut c = Command::new(psql_bin());
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("PG") {
                c.env_remove(name);
            }
        }
        let none = self.dir.path().join("none");
        c.args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .env("LC_ALL", "C")
            .env("PGHOST", HOST)
            .env("PGPORT", self.port.to_string())
            .env("PGDATABASE", &self.database)
            .env("PGUSER", user)
            .env("PGPASSWORD", password)
            .env("PGSSLROOTCERT", self.ca_pem())
            .env("PGSSLCERT", &none)
            .env("PGSSLKEY", &none)
            .env("PGSSLCRL", &none)
            .env("PGPASSFILE", &none)
            .env("PGGSSENCMODE", "disable")
            .env("PGCONNECT_TIMEOUT", "10")
            .stdin(Stdio::null());
        if !sslmode.is_empty() {
            c.env("PGSSLMODE", sslmode);
        }
        c
    }

    /// `psql` as the superuser, verifying the server (`verify-full`), with `args` (`-c SQL`).
    pub fn psql(&self, args: &[&str]) -> Output {
        self.psql_as(&self.superuser, "verify-full", args)
    }

    /// `psql` as `login` with `sslmode`, with `args`.
    pub fn psql_as(&self, login: &Login, sslmode: &str, args: &[&str]) -> Output {
        self.psql_command(&login.user, &login.password, sslmode)
            .args(args)
            .output()
            .unwrap()
    }

    /// What the server logged, for a failing test's message.
    pub fn log(&self) -> String {
        read_log(self.dir.path())
    }
}

impl Drop for Pg {
    /// What `pg_ctl stop -m immediate` does: SIGQUIT, on which the postmaster has its
    /// backends quit, then exits; then reap it, so no process is left. Then the directory
    /// goes (the `TempDir`).
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGQUIT);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.child.try_wait() {
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Ok(None) => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return;
                }
                _ => return,
            }
        }
    }
}

/// `initdb` with the superuser's password from a file (removed after), UTF-8 and the C
/// locale (present everywhere, and the fastest), no fsync.
fn initdb(d: &Path, account: &Account, password: &str) {
    let pwfile = d.join("pwfile");
    std::fs::write(&pwfile, password).unwrap();
    std::fs::set_permissions(&pwfile, std::fs::Permissions::from_mode(0o600)).unwrap();
    account.give(&pwfile);
    let out = account
        .command(&bin_dir().join("initdb"), d)
        .arg("--pgdata")
        .arg(d.join("data"))
        .args(["--auth=scram-sha-256", "--username", SUPERUSER, "--pwfile"])
        .arg(&pwfile)
        .args([
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
            "--no-instructions",
        ])
        .output()
        .unwrap();
    std::fs::remove_file(&pwfile).unwrap();
    assert!(
        out.status.success(),
        "initdb failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Passwords everywhere; TCP from loopback only, and only over TLS when `tls_only`.
fn write_hba(d: &Path, account: &Account, tls_only: bool) {
    let tcp = if tls_only { "hostssl" } else { "host" };
    let path = d.join("pg_hba.conf");
    std::fs::write(
        &path,
        format!(
            "local all all scram-sha-256\n\
             {tcp} all all 127.0.0.1/32 scram-sha-256\n"
        ),
    )
    .unwrap();
    account.give(&path);
}

/// The postmaster on `port`, its output appended to `postgres.log`.
fn spawn(d: &Path, account: &Account, port: u16, extra: &[(String, String)]) -> Child {
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(d.join(LOG))
        .unwrap();
    let path = |file: &str| d.join(file).to_string_lossy().into_owned();
    let ours = [
        ("listen_addresses", HOST.to_string()),
        ("port", port.to_string()),
        ("unix_socket_directories", path("")),
        ("hba_file", path("pg_hba.conf")),
        ("ssl", "on".to_string()),
        ("ssl_cert_file", path(tls::SERVER_CERT)),
        ("ssl_key_file", path(tls::SERVER_KEY)),
        ("password_encryption", "scram-sha-256".to_string()),
        // A test's data need not survive a crash.
        ("fsync", "off".to_string()),
        ("synchronous_commit", "off".to_string()),
        ("full_page_writes", "off".to_string()),
        // Small and quiet: several servers share two cores.
        ("shared_buffers", "16MB".to_string()),
        ("max_connections", "50".to_string()),
        ("autovacuum", "off".to_string()),
        ("jit", "off".to_string()),
        ("logging_collector", "off".to_string()),
        ("lc_messages", "C".to_string()),
    ];
    let mut c = account.server(&bin_dir().join("postgres"), d);
    c.arg("-D").arg(d.join("data"));
    let settings = ours
        .iter()
        .map(|(k, v)| (*k, v.as_str()))
        .chain(extra.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    for (name, value) in settings {
        c.arg("-c").arg(format!("{name}={value}"));
    }
    c.stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    keeper::spawn(c).unwrap()
}

/// Wait until the postmaster says it accepts connections (the status line of
/// `postmaster.pid`, which `pg_ctl start -w` also reads). `false` if it exited or hung.
fn wait_ready(child: &mut Child, data: &Path) -> bool {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        let status = std::fs::read_to_string(data.join("postmaster.pid")).unwrap_or_default();
        if status.lines().nth(7).is_some_and(|l| l.trim() == "ready") {
            return true;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn free_port() -> u16 {
    TcpListener::bind((HOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The installation's own `psql` (Debian's /usr/bin/psql is a Perl wrapper choosing a
/// version: slower to start), else the one on PATH.
pub fn psql_bin() -> PathBuf {
    let own = bin_dir().join("psql");
    if own.is_file() { own } else { "psql".into() }
}

/// 128 random bits, hex.
fn random_password() -> String {
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut bytes)
        .unwrap();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn read_log(d: &Path) -> String {
    String::from_utf8_lossy(&std::fs::read(d.join(LOG)).unwrap_or_default()).into_owned()
}

fn log_len(d: &Path) -> usize {
    std::fs::metadata(d.join(LOG)).map_or(0, |m| m.len() as usize)
}

/// Everything but RFC 3986's unreserved characters is escaped in the URL.
const URL_PART: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn encode(part: &str) -> String {
    utf8_percent_encode(part, URL_PART).to_string()
}
