//! The database proxy (`DATABASE_URL=secret:dev/app/db#url` in `.env.refs`) against a real
//! PostgreSQL on loopback (kovra-testpg: TLS verified by name, SCRAM passwords): `psql`,
//! Python's psycopg and Node's `pg` connect through it; the child holds a token of its run's,
//! never the password (its environment and `/proc/PID/environ` are scanned for it); a token
//! dies with its run; an agent's sessions are read-only; garbage and a 1 GB startup packet
//! leave the proxy and the daemon serving.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use kovra_testpg::{Pg, PgOptions, Role, psql_bin};

use crate::harness::*;
use crate::leak::canary;

const DB: &str = "secret:dev/app/db";

struct Setup {
    pg: Pg,
    h: Home,
    password: String,
    refs: std::path::PathBuf,
}

fn setup() -> Setup {
    let password = canary("pg-password");
    let pg = Pg::start(PgOptions::default().role(Role::owner("app", &password)));
    let h = Home::init();
    let url = pg.url("app", &password, "verify-full");
    let out = h.add(DB, url.as_bytes(), &["--postgres"]);
    assert!(out.status.success(), "add --postgres: {}", describe(&out));
    let made = pg.psql_as(
        pg.login("app"),
        "verify-full",
        &[
            "-c",
            "create table items(id int); insert into items values (1), (2)",
        ],
    );
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let refs = h.root.join("db.refs");
    std::fs::write(&refs, format!("DATABASE_URL={DB}#url\n")).unwrap();
    Setup {
        pg,
        h,
        password,
        refs,
    }
}

/// `kovra run --refs R -- sh -c SCRIPT`, started as an agent would (no terminal).
fn run_sh(s: &Setup, script: &str, seen: &mut Vec<u8>) -> Output {
    let refs = s.refs.to_string_lossy().to_string();
    s.h.agent(&["run", "--refs", &refs, "--", "sh", "-c", script], seen)
}

fn psql() -> String {
    psql_bin().to_string_lossy().to_string()
}

/// The URL a run's child got, written by the child to `file` (its output is masked).
fn child_url(file: &Path) -> String {
    std::fs::read_to_string(file).unwrap().trim().to_string()
}

/// The directory of the proxy's socket: `host=DIR` in the child's URL.
fn proxy_dir(url: &str) -> PathBuf {
    let after = url.split("?host=").nth(1).unwrap();
    PathBuf::from(after.split('&').next().unwrap())
}

fn proxy_socket(url: &str) -> PathBuf {
    proxy_dir(url).join(".s.PGSQL.5432")
}

#[test]
fn psql_connects_through_the_proxy_and_never_holds_the_password() {
    let s = setup();
    let mut seen = Vec::new();
    let url_file = s.h.root.join("url");
    let environ_file = s.h.root.join("environ");
    let script = format!(
        "printf '%s' \"$DATABASE_URL\" > {url}; tr '\\0' '\\n' < /proc/$$/environ > {env}; \
         {psql} -X -A -t \"$DATABASE_URL\" -c 'select current_user, count(*) from items'; env",
        url = url_file.display(),
        env = environ_file.display(),
        psql = psql(),
    );
    let out = run_sh(&s, &script, &mut seen);
    assert!(
        out.status.success(),
        "run: {}\n{}",
        describe(&out),
        s.pg.log()
    );
    assert!(stdout(&out).contains("app|2"), "{}", describe(&out));
    let url = child_url(&url_file);
    assert!(url.starts_with("postgresql://app:kvdb_"), "{url}");
    assert!(
        url.contains("@/") && url.contains("?host=/") && url.ends_with("&sslmode=disable"),
        "{url}"
    );
    // The socket is the daemon user's alone: its directory 0700, itself 0600, beside the
    // daemon's own socket.
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777;
        let dir = proxy_dir(&url);
        assert_eq!(mode(&dir), 0o700, "{}", dir.display());
        assert_eq!(mode(&proxy_socket(&url)), 0o600);
        assert_eq!(dir.parent(), Some(s.h.runtime.join("kovra").as_path()));
        assert!(
            dir.extension().is_some_and(|x| x == "pg"),
            "{}",
            dir.display()
        );
    }
    let environ = std::fs::read_to_string(&environ_file).unwrap();
    assert!(environ.contains("DATABASE_URL=postgresql://app:kvdb_"));
    // The password is in none of: the child's environment, anything printed, the vault's
    // files, the audit trail.
    for (what, text) in [
        ("/proc/PID/environ", environ.as_bytes()),
        ("output", &seen[..]),
    ] {
        assert!(
            !contains(text, s.password.as_bytes()),
            "the password in {what}"
        );
    }
    assert!(h_files_clean(&s.h, &s.password));
    // The token is masked in the child's output, as a value would be.
    assert!(!stdout(&out).contains("kvdb_"), "{}", stdout(&out));
    let trail = audit(&s.h, &["--action", "db-connect"]);
    assert!(!trail.is_empty(), "no db-connect entry");
    assert_eq!(trail[0]["coordinate"], DB);
    assert_eq!(trail[0]["decision"], "allow");
    assert!(
        !serde_json::to_string(&trail).unwrap().contains(&s.password),
        "the password in the trail"
    );
    // The run has ended: its token opens nothing.
    let stale = Command::new(psql())
        .args(["-X", "-A", "-t", &url, "-c", "select 1"])
        .env("PGCONNECT_TIMEOUT", "5")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!stale.status.success());
    assert!(
        stderr(&stale).contains("password authentication failed"),
        "{}",
        describe(&stale)
    );
    // A second run gets a different token on the same proxy.
    let out = run_sh(
        &s,
        &format!("printf '%s' \"$DATABASE_URL\" > {}", url_file.display()),
        &mut seen,
    );
    assert!(out.status.success(), "{}", describe(&out));
    let second = child_url(&url_file);
    assert_ne!(second, url);
    assert_eq!(proxy_dir(&second), proxy_dir(&url));
}

fn h_files_clean(h: &Home, password: &str) -> bool {
    h.files_containing(&[password.as_bytes().to_vec()])
        .is_empty()
}

#[test]
fn an_agents_sessions_are_read_only_and_a_humans_may_write() {
    let s = setup();
    let mut seen = Vec::new();
    let insert = format!(
        "{} -X -A -t -v ON_ERROR_STOP=1 \"$DATABASE_URL\" -c 'insert into items values (3)'",
        psql()
    );
    let out = run_sh(&s, &insert, &mut seen);
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(
        stderr(&out).contains("read-only transaction"),
        "{}",
        describe(&out)
    );
    // At a terminal, the human's run writes.
    let refs = s.refs.to_string_lossy().to_string();
    let out =
        s.h.run_pty(&["run", "--refs", &refs, "--", "sh", "-c", &insert], &[]);
    assert!(out.status.success(), "{}\n{}", describe(&out), s.pg.log());
    let n = s.pg.psql_as(
        s.pg.login("app"),
        "verify-full",
        &["-c", "select count(*) from items"],
    );
    assert_eq!(String::from_utf8_lossy(&n.stdout).trim(), "3");
    assert!(!contains(&seen, s.password.as_bytes()));
}

#[test]
fn wrong_user_database_and_lines_are_refused_clearly() {
    let s = setup();
    let mut seen = Vec::new();
    // Another database than the record's, with the run's own token.
    let script = format!(
        "u=$(printf '%s' \"$DATABASE_URL\" | sed 's#/[^/?]*?#/postgres?#'); {} -X -A -t \"$u\" -c 'select 1'",
        psql()
    );
    let out = run_sh(&s, &script, &mut seen);
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(
        stderr(&out).contains(&format!(
            "opens database \"{}\" as user \"app\" only",
            s.pg.database()
        )),
        "{}",
        describe(&out)
    );
    // `#url` on a plain secret, and a connection record without `#url`.
    s.h.add_ok("secret:dev/app/token", b"plain-value", &[]);
    let refs = s.h.root.join("bad.refs");
    std::fs::write(&refs, "X=secret:dev/app/token#url\n").unwrap();
    let r = refs.to_string_lossy().to_string();
    let out = s.h.agent(&["run", "--refs", &r, "--", "true"], &mut seen);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("not one"), "{}", describe(&out));
    std::fs::write(&refs, format!("X={DB}\n")).unwrap();
    let out = s.h.agent(&["run", "--refs", &r, "--", "true"], &mut seen);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("#url"), "{}", describe(&out));
    // `kovra doctor` says the same before any run, and what a `#url` line gets.
    let out = s.h.agent(&["doctor", "--refs", &r], &mut seen);
    assert!(!out.status.success());
    assert!(
        stdout(&out).contains("add `#url`") || stderr(&out).contains("add `#url`"),
        "{}",
        describe(&out)
    );
    let good = s.refs.to_string_lossy().to_string();
    let out = s.h.agent(&["doctor", "--refs", &good], &mut seen);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        stdout(&out).contains("kovra's database proxy") && stdout(&out).contains("read-only"),
        "{}",
        describe(&out)
    );
    assert!(!contains(&seen, s.password.as_bytes()));
}

#[test]
fn a_stored_password_the_server_refuses_is_a_clear_error() {
    let s = setup();
    let mut seen = Vec::new();
    let refs = s.refs.to_string_lossy().to_string();
    // `doctor --connect` opens the connection before any run does.
    let out =
        s.h.agent(&["doctor", "--refs", &refs, "--connect"], &mut seen);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        stdout(&out).contains("[connection-ok]"),
        "{}",
        describe(&out)
    );
    let out =
        s.pg.psql(&["-c", "alter role app password 'changed-elsewhere'"]);
    assert!(out.status.success());
    let script = format!("{} -X -A -t \"$DATABASE_URL\" -c 'select 1'", psql());
    let out = run_sh(&s, &script, &mut seen);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("refused the stored credentials"),
        "{}",
        describe(&out)
    );
    let out =
        s.h.agent(&["doctor", "--refs", &refs, "--connect"], &mut seen);
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(
        stdout(&out).contains("[connection-failed]") && stdout(&out).contains("db-auth-refused"),
        "{}",
        describe(&out)
    );
    assert!(!contains(&seen, s.password.as_bytes()));
}

/// Send `bytes` to the proxy and read what comes back (until it closes, 5 s at most).
fn poke(socket: &Path, bytes: &[u8]) -> Vec<u8> {
    let mut c = UnixStream::connect(socket).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = c.write_all(bytes);
    let mut back = Vec::new();
    let _ = c.read_to_end(&mut back);
    back
}

#[test]
fn garbage_and_a_huge_startup_packet_leave_the_proxy_serving() {
    let s = setup();
    let mut seen = Vec::new();
    let url_file = s.h.root.join("url");
    // Keep a run alive while the proxy is attacked, then use it.
    let script = format!(
        "printf '%s' \"$DATABASE_URL\" > {f}; while [ ! -e {f}.go ]; do sleep 0.05; done; \
         {psql} -X -A -t \"$DATABASE_URL\" -c 'select count(*) from items'",
        f = url_file.display(),
        psql = psql()
    );
    let refs = s.refs.to_string_lossy().to_string();
    let child =
        s.h.cmd(&["run", "--refs", &refs, "--", "sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !url_file.exists() || child_url(&url_file).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the run never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let url = child_url(&url_file);
    let socket = proxy_socket(&url);
    // Garbage: an error, then the connection closes.
    let back = poke(&socket, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(back.first() == Some(&b'E') || back.is_empty(), "{back:?}");
    // A startup packet claiming 1 GB: refused at once, nothing read or allocated.
    let mut huge = (1u32 << 30).to_be_bytes().to_vec();
    huge.extend_from_slice(&196_608u32.to_be_bytes());
    let started = std::time::Instant::now();
    let back = poke(&socket, &huge);
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(back.first(), Some(&b'E'), "{back:?}");
    assert!(contains(&back, b"invalid length of startup packet"));
    // A guessed token.
    let guess = Command::new(psql())
        .args([
            "-X",
            &format!(
                "postgresql://app:kvdb_guess@/app?host={}",
                proxy_dir(&url).display()
            ),
            "-c",
            "select 1",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(stderr(&guess).contains("password authentication failed"));
    // A client that says nothing is cut off; meanwhile the live run is served.
    let silent = UnixStream::connect(&socket).unwrap();
    std::fs::write(url_file.with_extension("go"), "").unwrap();
    let out = child.wait_with_output().unwrap();
    seen.extend_from_slice(&out.stdout);
    seen.extend_from_slice(&out.stderr);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(stdout(&out).contains('2'), "{}", describe(&out));
    drop(silent);
    // The daemon still answers.
    s.h.ok(&["status"]);
    assert!(!contains(&seen, s.password.as_bytes()));
}

#[test]
fn psycopg_and_node_pg_connect_through_the_proxy() {
    require_python_module("psycopg");
    let pg_module = test_tool_dir("node-pg").join("node_modules/pg");
    assert!(
        pg_module.is_dir(),
        "Node's pg is missing: run scripts/test.sh, which installs it into target/test-tools/node-pg"
    );
    let s = setup();
    let mut seen = Vec::new();
    let py = "import os, psycopg\n\
              with psycopg.connect(os.environ['DATABASE_URL']) as c:\n    \
              print('py', c.execute('select count(*) from items').fetchone()[0])\n";
    let refs = s.refs.to_string_lossy().to_string();
    let out = s.h.agent(
        &["run", "--refs", &refs, "--", "python3", "-c", py],
        &mut seen,
    );
    assert!(
        out.status.success(),
        "psycopg: {}\n{}",
        describe(&out),
        s.pg.log()
    );
    assert!(stdout(&out).contains("py 2"), "{}", describe(&out));
    // A cancel reaches the server through the proxy's own cancel key. One that arrives before
    // the statement is ignored by the server, so it is sent again until the statement ends.
    let cancel = "import os, threading, time, psycopg\n\
                  c = psycopg.connect(os.environ['DATABASE_URL'])\n\
                  stop = getattr(c, 'cancel_safe', c.cancel)\n\
                  done = threading.Event()\n\
                  def again():\n    while not done.wait(0.5):\n        stop()\n\
                  threading.Thread(target=again, daemon=True).start()\n\
                  t = time.time()\n\
                  try:\n    c.execute('select pg_sleep(30)')\n    print('not cancelled')\n\
                  except psycopg.errors.QueryCanceled:\n    print('cancelled', time.time() - t < 10)\n\
                  done.set()\n";
    let out = s.h.agent(
        &["run", "--refs", &refs, "--", "python3", "-c", cancel],
        &mut seen,
    );
    assert!(
        out.status.success(),
        "cancel: {}\n{}",
        describe(&out),
        s.pg.log()
    );
    assert!(
        stdout(&out).contains("cancelled True"),
        "{}",
        describe(&out)
    );
    let js = format!(
        "const {{ Client }} = require({:?});\n\
         (async () => {{ const c = new Client({{ connectionString: process.env.DATABASE_URL }});\n\
         await c.connect(); const r = await c.query('select count(*)::int as n from items');\n\
         console.log('node', r.rows[0].n); await c.end(); }})().catch(e => {{ console.error(e.message); process.exit(1); }});\n",
        pg_module.to_string_lossy()
    );
    let out = s.h.agent(
        &["run", "--refs", &refs, "--", "node", "-e", &js],
        &mut seen,
    );
    assert!(
        out.status.success(),
        "node pg: {}\n{}",
        describe(&out),
        s.pg.log()
    );
    assert!(stdout(&out).contains("node 2"), "{}", describe(&out));
    assert!(!contains(&seen, s.password.as_bytes()));
}
