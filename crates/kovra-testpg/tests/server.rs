//! The server a test gets: TLS verified by name, passwords checked, plaintext refused when
//! asked, several at once, nothing left behind.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use kovra_testpg::{Pg, PgOptions, Role};

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `sql`'s one-line answer, which must succeed.
fn answer(pg: &Pg, out: Output) -> String {
    assert!(
        out.status.success(),
        "psql failed: {}\n{}",
        stderr(&out),
        pg.log()
    );
    stdout(&out)
}

/// The uid a process runs as, from /proc.
fn uid_of(pid: u32) -> u32 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn tls_verified_by_name_roles_and_refusals() {
    let app_pw = "app pw with 'quotes' and \"doubles\" \\ and @:/?";
    let pg = Pg::start(
        PgOptions::default()
            .database("app")
            .role(Role::owner("app", app_pw).setting("statement_timeout", "7s"))
            .role(Role::read_only("reader", "reader-pw"))
            .setting("idle_session_timeout", "10min"),
    );
    let ssl = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()";

    // The superuser, verifying the certificate against the CA and the name 127.0.0.1.
    assert_eq!(answer(&pg, pg.psql(&["-c", ssl])), "t");
    assert_eq!(
        answer(&pg, pg.psql(&["-c", "SHOW listen_addresses"])),
        "127.0.0.1"
    );
    assert_eq!(
        answer(&pg, pg.psql(&["-c", "SHOW idle_session_timeout"])),
        "10min"
    );
    // ... and the name localhost.
    let app = pg.login("app");
    let by_name = pg
        .psql_command(&app.user, &app.password, "verify-full")
        .env("PGHOST", "localhost")
        .args(["-c", "SELECT current_user, current_database()"])
        .output()
        .unwrap();
    assert_eq!(answer(&pg, by_name), "app|app");

    // The server is not root (PostgreSQL refuses it): as root, it is kovra-test.
    let me = nix::unistd::geteuid();
    let server_uid = uid_of(pg.pid());
    if me.is_root() {
        let user = nix::unistd::User::from_uid(server_uid.into())
            .unwrap()
            .unwrap();
        assert_eq!(user.name, "kovra-test");
    } else {
        assert_eq!(server_uid, me.as_raw());
    }

    // The owner writes; its own setting is in force; the URL (escaped password) works.
    let made = pg.psql_as(
        app,
        "verify-full",
        &[
            "-c",
            "CREATE TABLE t (v text)",
            "-c",
            "INSERT INTO t VALUES ('x')",
            "-c",
            "SHOW statement_timeout",
        ],
    );
    assert_eq!(answer(&pg, made), "7s");
    let by_url = pg
        .psql_command("", "", "")
        .arg(pg.url(&app.user, &app.password, "verify-full"))
        .args(["-c", ssl])
        .output()
        .unwrap();
    assert_eq!(answer(&pg, by_url), "t");

    // The reader reads and cannot write.
    let reader = pg.login("reader");
    let read = pg.psql_as(reader, "verify-full", &["-c", "SELECT v FROM t"]);
    assert_eq!(answer(&pg, read), "x");
    let write = pg.psql_as(reader, "verify-full", &["-c", "INSERT INTO t VALUES ('y')"]);
    assert!(!write.status.success());
    assert!(
        stderr(&write).contains("read-only transaction"),
        "{}",
        stderr(&write)
    );

    // A wrong password is refused.
    let wrong = pg.psql_as(
        &kovra_testpg::Login {
            user: "app".into(),
            password: "not-it".into(),
        },
        "verify-full",
        &["-c", "SELECT 1"],
    );
    assert!(!wrong.status.success());
    assert!(
        stderr(&wrong).contains("password authentication failed for user \"app\""),
        "{}",
        stderr(&wrong)
    );

    // Without TLS, TCP is refused (hostssl only); the right password does not help.
    let plain = pg.psql_as(app, "disable", &["-c", "SELECT 1"]);
    assert!(!plain.status.success());
    assert!(
        stderr(&plain).contains("no pg_hba.conf entry") && stderr(&plain).contains("no encryption"),
        "{}",
        stderr(&plain)
    );

    // The unix socket is there too (password checked, no TLS on a socket).
    let socket = pg
        .psql_command(&app.user, &app.password, "")
        .env("PGHOST", pg.socket_dir())
        .args(["-c", "SELECT 1"])
        .output()
        .unwrap();
    assert_eq!(answer(&pg, socket), "1");

    // No password in the server's log.
    assert!(!pg.log().contains(app_pw) && !pg.log().contains(&pg.superuser().password));
    assert!(!format!("{:?}", pg.superuser()).contains(&pg.superuser().password));
}

#[test]
fn two_servers_at_once() {
    // Started together, each on a thread that ends before the servers are used.
    let tls_only = std::thread::spawn(|| Pg::start(PgOptions::default()));
    let plaintext = std::thread::spawn(|| Pg::start(PgOptions::default().allow_plaintext()));
    let (tls_only, plaintext) = (tls_only.join().unwrap(), plaintext.join().unwrap());
    assert_ne!(tls_only.port(), plaintext.port());

    let who = "SELECT inet_server_port()";
    assert_eq!(
        answer(&tls_only, tls_only.psql(&["-c", who])),
        tls_only.port().to_string()
    );
    assert_eq!(
        answer(&plaintext, plaintext.psql(&["-c", who])),
        plaintext.port().to_string()
    );

    // `host` lines: plaintext is accepted, and is plaintext.
    let sup = plaintext.superuser();
    let plain = plaintext.psql_as(
        sup,
        "disable",
        &[
            "-c",
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
        ],
    );
    assert_eq!(answer(&plaintext, plain), "f");

    // Each has its own CA: the other's does not verify it.
    let crossed = tls_only
        .psql_command(
            &tls_only.superuser().user,
            &tls_only.superuser().password,
            "verify-full",
        )
        .env("PGSSLROOTCERT", plaintext.ca_pem())
        .args(["-c", "SELECT 1"])
        .output()
        .unwrap();
    assert!(!crossed.status.success());
    assert!(
        stderr(&crossed).contains("certificate verify failed"),
        "{}",
        stderr(&crossed)
    );
}

#[test]
fn drop_leaves_no_process_and_no_directory() {
    let pg = Pg::start(PgOptions::default());
    let postmaster = pg.pid();
    // A session in progress: its backend must go too.
    let mut session = pg
        .psql_command(
            &pg.superuser().user,
            &pg.superuser().password,
            "verify-full",
        )
        .args(["-c", "SELECT pg_sleep(60)"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let sleeping = "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%'";
    let deadline = Instant::now() + Duration::from_secs(20);
    while answer(&pg, pg.psql(&["-c", sleeping])) != "1" {
        assert!(Instant::now() < deadline, "the session never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    let children = children_of(postmaster);
    assert!(!children.is_empty());
    let dir = pg.socket_dir().to_path_buf();

    drop(pg);

    assert!(
        !alive(postmaster),
        "the postmaster {postmaster} is still there"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while children.iter().any(|c| alive(*c)) {
        assert!(
            Instant::now() < deadline,
            "a server process outlived the drop"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!dir.exists(), "{} is still there", dir.display());
    // The session lost its server.
    assert!(!session.wait().unwrap().success());
}

/// A test process killed outright runs no destructor: its server must stop all the same.
#[test]
fn a_killed_test_takes_its_server_along() {
    if std::env::var_os("KOVRA_TESTPG_KILL_ME").is_some() {
        let pg = Pg::start(PgOptions::default());
        println!("{} {}", pg.pid(), pg.socket_dir().display());
        // SIGKILL: no destructor, no unwinding, no core file.
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "a_killed_test_takes_its_server_along",
            "--exact",
            "--nocapture",
        ])
        .env("KOVRA_TESTPG_KILL_ME", "1")
        .stderr(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let printed = String::from_utf8_lossy(&out.stdout);
    let line = printed
        .lines()
        .find_map(|l| l.split_once(" /"))
        .unwrap_or_else(|| panic!("no pid and directory in: {printed}"));
    let postmaster: u32 = line.0.parse().unwrap();
    let dir = std::path::PathBuf::from(format!("/{}", line.1));
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(postmaster) {
        assert!(
            Instant::now() < deadline,
            "the server outlived its test process"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        dir.starts_with("/tmp")
            && dir
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("kovra-pg")
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The processes whose parent is `pid`.
fn children_of(pid: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| {
            let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
            // `pid (comm) state ppid …`; comm may hold spaces and parentheses.
            let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
            after.split_whitespace().nth(1) == Some(pid.to_string().as_str())
        })
        .collect()
}

/// Whether `pid` is a live process (a zombie counts as gone).
fn alive(pid: u32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    !stat.is_empty() && state.split_whitespace().next() != Some("Z")
}
