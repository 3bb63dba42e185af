//! The database proxy under attack, through the real daemon and a real PostgreSQL: a flood of
//! guessed tokens (the trail writes one entry a second), a locked vault (a live run's token
//! opens nothing; unlocking hands over to a new daemon, so it never will again), cancel keys (the client's is the proxy's own, a wrong
//! one cancels nothing, the right one cancels). The password is a canary that must appear in
//! no output, file, trail entry or message.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use kovra_testpg::{Pg, PgOptions, Role};

use crate::harness::*;
use crate::leak::canary;

const DB: &str = "secret:dev/app/db";

struct Live {
    pg: Pg,
    h: Home,
    password: String,
    url_file: PathBuf,
    child: Child,
}

/// A record, and an agent's run that writes its URL to a file and then waits for `URL.go`.
fn live_run() -> Live {
    let password = canary("pg-password");
    let pg = Pg::start(PgOptions::default().role(Role::owner("app", &password)));
    let h = Home::init();
    let out = h.add(
        DB,
        pg.url("app", &password, "verify-full").as_bytes(),
        &["--postgres"],
    );
    assert!(out.status.success(), "add --postgres: {}", describe(&out));
    let refs = h.root.join("db.refs");
    std::fs::write(&refs, format!("DATABASE_URL={DB}#url\n")).unwrap();
    let url_file = h.root.join("url");
    let script = format!(
        "printf '%s' \"$DATABASE_URL\" > {f}; while [ ! -e {f}.go ]; do sleep 0.05; done",
        f = url_file.display()
    );
    let refs = refs.to_string_lossy().to_string();
    let child = h
        .cmd(&["run", "--refs", &refs, "--", "sh", "-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::fs::read_to_string(&url_file).map_or(true, |u| u.is_empty()) {
        assert!(Instant::now() < deadline, "the run never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    Live {
        pg,
        h,
        password,
        url_file,
        child,
    }
}

impl Live {
    /// The proxy's socket, the user, database and token of the child's URL
    /// (`postgresql://USER:TOKEN@/DB?host=DIR&sslmode=disable`).
    fn parts(&self) -> (PathBuf, String, String, String) {
        let url = std::fs::read_to_string(&self.url_file).unwrap();
        let rest = url.strip_prefix("postgresql://").unwrap();
        let (user, rest) = rest.split_once(':').unwrap();
        let (token, rest) = rest.split_once("@/").unwrap();
        let (db, rest) = rest.split_once("?host=").unwrap();
        let dir = rest.split('&').next().unwrap();
        (
            PathBuf::from(dir).join(".s.PGSQL.5432"),
            user.to_string(),
            db.to_string(),
            token.to_string(),
        )
    }

    /// End the run; everything it printed. `survived`: its daemon is still the one it
    /// started with (else `kovra run` reports the lost connection).
    fn finish(self, survived: bool) -> (Home, Pg, String, Vec<u8>) {
        std::fs::write(self.url_file.with_extension("go"), "").unwrap();
        let out = self.child.wait_with_output().unwrap();
        assert_eq!(out.status.success(), survived, "{}", describe(&out));
        let mut seen = out.stdout;
        seen.extend_from_slice(&out.stderr);
        (self.h, self.pg, self.password, seen)
    }
}

fn frame(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend_from_slice(&u32::try_from(body.len() + 4).unwrap().to_be_bytes());
    out.extend_from_slice(body);
    out
}

fn read_msg(c: &mut UnixStream) -> Option<(u8, Vec<u8>)> {
    let mut head = [0u8; 5];
    c.read_exact(&mut head).ok()?;
    let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
    let mut body = vec![0u8; len.checked_sub(4)?];
    c.read_exact(&mut body).ok()?;
    Some((head[0], body))
}

/// Startup and password; the opened connection and its BackendKeyData, or the error's text.
fn open(
    socket: &Path,
    user: &str,
    db: &str,
    token: &str,
) -> Result<(UnixStream, Option<(i32, i32)>), String> {
    let mut c = UnixStream::connect(socket).map_err(|e| e.to_string())?;
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let body = format!("user\0{user}\0database\0{db}\0\0");
    let mut startup = u32::try_from(body.len() + 8)
        .unwrap()
        .to_be_bytes()
        .to_vec();
    startup.extend_from_slice(&196_608u32.to_be_bytes());
    startup.extend_from_slice(body.as_bytes());
    c.write_all(&startup).map_err(|e| e.to_string())?;
    match read_msg(&mut c) {
        Some((b'R', b)) if b == 3u32.to_be_bytes() => {}
        other => return Err(format!("{other:?}")),
    }
    let mut pw = token.as_bytes().to_vec();
    pw.push(0);
    c.write_all(&frame(b'p', &pw)).unwrap();
    let mut key = None;
    loop {
        match read_msg(&mut c) {
            None => return Err("closed".into()),
            Some((b'E', b)) => return Err(String::from_utf8_lossy(&b).into_owned()),
            Some((b'K', b)) => {
                key = Some((
                    i32::from_be_bytes([b[0], b[1], b[2], b[3]]),
                    i32::from_be_bytes([b[4], b[5], b[6], b[7]]),
                ));
            }
            Some((b'Z', _)) => return Ok((c, key)),
            Some(_) => {}
        }
    }
}

/// Send a simple query; don't wait.
fn send_query(c: &mut UnixStream, sql: &str) {
    let mut q = sql.as_bytes().to_vec();
    q.push(0);
    c.write_all(&frame(b'Q', &q)).unwrap();
}

/// The result of the query sent: its first value, or the error's text.
fn result(c: &mut UnixStream) -> Result<String, String> {
    let (mut value, mut error) = (None, None);
    loop {
        match read_msg(c) {
            None => return Err("closed".into()),
            Some((b'D', b)) => {
                let len = i32::from_be_bytes([b[2], b[3], b[4], b[5]]) as usize;
                value = Some(String::from_utf8_lossy(&b[6..6 + len]).into_owned());
            }
            Some((b'E', b)) => error = Some(String::from_utf8_lossy(&b).into_owned()),
            Some((b'Z', _)) => break,
            Some(_) => {}
        }
    }
    error.map_or_else(|| Ok(value.unwrap_or_default()), Err)
}

fn cancel(socket: &Path, pid: i32, key: i32) {
    let mut c = UnixStream::connect(socket).unwrap();
    let mut body = 16u32.to_be_bytes().to_vec();
    body.extend_from_slice(&80_877_102u32.to_be_bytes());
    body.extend_from_slice(&pid.to_be_bytes());
    body.extend_from_slice(&key.to_be_bytes());
    c.write_all(&body).unwrap();
    let mut sink = Vec::new();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = c.read_to_end(&mut sink);
}

fn clean(h: &Home, password: &str, seen: &[u8]) {
    assert!(
        !contains(seen, password.as_bytes()),
        "the password in output"
    );
    let files = h.files_containing(&[password.as_bytes().to_vec()]);
    assert!(files.is_empty(), "the password in {files:?}");
    let trail = audit(h, &[]);
    assert!(
        !serde_json::to_string(&trail).unwrap().contains(password),
        "the password in the trail"
    );
}

#[test]
fn guesses_are_refused_and_written_at_most_once_a_second() {
    let live = live_run();
    let (sock, user, db, token) = live.parts();
    let started = Instant::now();
    for i in 0..60 {
        let guess = format!("kvdb_guess{i}");
        let e = open(&sock, &user, &db, &guess).err().unwrap();
        assert!(e.contains("password authentication failed"), "{e}");
    }
    let seconds = started.elapsed().as_secs() + 1;
    // The run's own token still opens its database.
    let (mut c, _) = open(&sock, &user, &db, &token).unwrap();
    send_query(&mut c, "select current_user");
    assert_eq!(result(&mut c).as_deref(), Ok("app"));
    drop(c);
    let (h, _pg, password, seen) = live.finish(true);
    let stray: Vec<_> = audit(&h, &["--action", "db-connect"])
        .into_iter()
        .filter(|e| e["decision"] == "deny" && e["coordinate"].is_null())
        .collect();
    assert!(
        !stray.is_empty() && stray.len() as u64 <= seconds + 1,
        "{} trail entries for 60 guesses in {seconds} s",
        stray.len()
    );
    clean(&h, &password, &seen);
}

#[test]
fn a_locked_vault_opens_no_connection() {
    let live = live_run();
    let (sock, user, db, token) = live.parts();
    live.h.ok(&["lock"]);
    let e = open(&sock, &user, &db, &token).err().unwrap();
    assert!(e.contains("locked"), "{e}");
    assert!(!e.contains(&live.password));
    // Unlocking hands the home to a fresh daemon: the old one, its proxy and every grant
    // are gone, so the token opens nothing anywhere.
    live.h.unlock_typed();
    assert!(open(&sock, &user, &db, &token).is_err());
    let (h, _pg, password, seen) = live.finish(false);
    clean(&h, &password, &seen);
}

#[test]
fn cancel_keys_are_the_proxys_own_and_only_the_right_one_cancels() {
    let live = live_run();
    let (sock, user, db, token) = live.parts();
    let (mut c, key) = open(&sock, &user, &db, &token).unwrap();
    let (pid, key) = key.expect("a BackendKeyData");
    send_query(&mut c, "select pg_backend_pid()");
    let backend: i32 = result(&mut c).unwrap().parse().unwrap();
    assert_ne!(pid, backend, "the client was given the server's own key");
    // A cancel naming the server's real pid, and one with a wrong secret: nothing happens.
    send_query(&mut c, "select pg_sleep(3)");
    let started = Instant::now();
    cancel(&sock, backend, key);
    cancel(&sock, pid, key.wrapping_add(1));
    assert_eq!(result(&mut c).as_deref(), Ok(""));
    assert!(started.elapsed() >= Duration::from_secs(3));
    // The right one cancels.
    send_query(&mut c, "select pg_sleep(30)");
    let started = Instant::now();
    // A cancel that reaches the server before the statement does is ignored: ask again
    // until the statement ends.
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let canceller = {
        let (done, sock) = (done.clone(), sock.clone());
        std::thread::spawn(move || {
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(300));
                cancel(&sock, pid, key);
            }
        })
    };
    let r = result(&mut c);
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    canceller.join().unwrap();
    assert!(
        r.as_ref().is_err_and(|e| e.contains("canceling statement")),
        "{r:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(15));
    drop(c);
    let (h, _pg, password, seen) = live.finish(true);
    clean(&h, &password, &seen);
}

/// The token alone, or the URL in another shape, printed by the child: masked like the URL.
#[test]
fn the_token_is_masked_in_the_childs_output_in_any_shape() {
    let password = canary("pg-password");
    let pg = Pg::start(PgOptions::default().role(Role::owner("app", &password)));
    let h = Home::init();
    let out = h.add(
        DB,
        pg.url("app", &password, "verify-full").as_bytes(),
        &["--postgres"],
    );
    assert!(out.status.success(), "add --postgres: {}", describe(&out));
    let refs = h.root.join("db.refs");
    std::fs::write(&refs, format!("DATABASE_URL={DB}#url\n")).unwrap();
    let url_file = h.root.join("url");
    let script = format!(
        "printf '%s' \"$DATABASE_URL\" > {f}; \
         t=${{DATABASE_URL#*:*:}}; t=${{t%%@*}}; echo \"token=$t\"; \
         echo \"dsn: user=app password=$t host=127.0.0.1\"; \
         printf '%s' \"$t\" | base64 -w0; echo",
        f = url_file.display()
    );
    let mut seen = Vec::new();
    let refs = refs.to_string_lossy().to_string();
    let out = h.agent(
        &["run", "--refs", &refs, "--", "sh", "-c", &script],
        &mut seen,
    );
    assert!(out.status.success(), "{}", describe(&out));
    let url = std::fs::read_to_string(&url_file).unwrap();
    let token = url.split(':').nth(2).unwrap().split('@').next().unwrap();
    assert!(token.starts_with("kvdb_"), "{url}");
    assert!(
        !contains(&seen, token.as_bytes()),
        "the token in the child's output: {}",
        String::from_utf8_lossy(&seen)
    );
    assert!(!contains(&seen, password.as_bytes()));
    // Nor in the daemon's log, the vault or the trail.
    let files = h.files_containing(&[token.as_bytes().to_vec(), password.as_bytes().to_vec()]);
    assert!(files.is_empty(), "the token or password in {files:?}");
    let trail = serde_json::to_string(&audit(&h, &[])).unwrap();
    assert!(!trail.contains(token) && !trail.contains(&password));
}
