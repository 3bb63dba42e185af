//! The unix socket the daemon serves the proxy on: a directory of the daemon's user (0700,
//! re-moded if it was looser, refused if it is a link), the socket 0600 and named as libpq
//! looks for it, the child's URL naming the directory, and a client of another uid turned
//! away even when the modes would let it in (root relaxes them here to prove the peer check).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use kovra_dbproxy::{DbProxy, Judge, SOCKET_NAME, Stats, UpstreamError};

struct Nobody;

impl Judge for Nobody {
    fn may_connect(&self, _: u64) -> Result<(), String> {
        Err("no grants here".into())
    }
    fn refused(&self, _: Option<u64>, _: &str) {}
    fn failed(&self, _: u64, _: &UpstreamError) {}
    fn ended(&self, _: u64, _: &Stats) {}
}

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

fn chmod(p: &Path, m: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
}

/// A protocol 3.0 startup as app/app.
fn startup() -> Vec<u8> {
    let body = b"user\0app\0database\0app\0\0";
    let mut out = u32::try_from(body.len() + 8)
        .unwrap()
        .to_be_bytes()
        .to_vec();
    out.extend_from_slice(&196_608u32.to_be_bytes());
    out.extend_from_slice(body);
    out
}

#[test]
fn the_socket_and_its_directory_are_the_daemon_users_alone() {
    let base = tempfile::tempdir().unwrap();
    let dir = base.path().join("daemon.pg");
    let proxy = DbProxy::start_unix(Arc::new(Nobody), &dir).unwrap();
    assert_eq!(proxy.port(), None);
    assert_eq!(proxy.socket_dir(), Some(dir.as_path()));
    assert_eq!(mode(&dir), 0o700);
    let socket = dir.join(SOCKET_NAME);
    assert_eq!(SOCKET_NAME, ".s.PGSQL.5432");
    assert_eq!(mode(&socket), 0o600);
    // Its own user is answered: the proxy asks for the token.
    let mut c = UnixStream::connect(&socket).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.write_all(&startup()).unwrap();
    let mut back = [0u8; 9];
    c.read_exact(&mut back).unwrap();
    assert_eq!(back, [b'R', 0, 0, 0, 8, 0, 0, 0, 3]);
    drop(proxy);

    // A second start (the next daemon) finds the directory and a stale socket: re-moded,
    // replaced, served.
    chmod(&dir, 0o755);
    let again = DbProxy::start_unix(Arc::new(Nobody), &dir).unwrap();
    assert_eq!(mode(&dir), 0o700);
    assert!(UnixStream::connect(&socket).is_ok());
    drop(again);

    // A link where the directory should be is not followed.
    let elsewhere = base.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let link = base.path().join("linked.pg");
    std::os::unix::fs::symlink(&elsewhere, &link).unwrap();
    let e = DbProxy::start_unix(Arc::new(Nobody), &link).err().unwrap();
    assert!(
        e.to_string().contains("not a directory of this user"),
        "{e}"
    );
    assert!(!elsewhere.join(SOCKET_NAME).exists());
}

#[test]
fn the_childs_url_names_the_directory() {
    let base = tempfile::tempdir().unwrap();
    let dir = base.path().join("daemon.pg");
    let proxy = DbProxy::start_unix(Arc::new(Nobody), &dir).unwrap();
    let url = zeroize::Zeroizing::new(
        "postgresql://app:kovra-canary-unused@127.0.0.1:1/my%20db?sslmode=disable".to_string(),
    );
    let endpoint = kovra_pgquery::endpoint(&kovra_pgquery::Target {
        url: &url,
        ca_pem: None,
    })
    .unwrap();
    let grant = kovra_dbproxy::Grant {
        id: 1,
        token: kovra_dbproxy::mint_token().unwrap(),
        user: "app".into(),
        database: "my db".into(),
        endpoint,
        read_only: true,
        coordinate: "secret:dev/app/db".into(),
    };
    let url = proxy.url(&grant);
    assert_eq!(
        url.as_str(),
        format!(
            "postgresql://app:{}@/my%20db?host={}&sslmode=disable",
            grant.token.as_str(),
            dir.display()
        )
    );
}

/// Root, and a user `kovra-test` (this repository's test machines have one): the peer check
/// is what turns a client of another uid away once the modes are opened up.
#[test]
fn a_client_of_another_user_is_turned_away() {
    if !nix::unistd::geteuid().is_root()
        || nix::unistd::User::from_name("kovra-test")
            .ok()
            .flatten()
            .is_none()
    {
        eprintln!("skipped: needs root and a user kovra-test");
        return;
    }
    let base = tempfile::tempdir().unwrap();
    let dir = base.path().join("daemon.pg");
    let _proxy = DbProxy::start_unix(Arc::new(Nobody), &dir).unwrap();
    let socket = dir.join(SOCKET_NAME);
    let client = format!(
        "import socket, sys\n\
         s = socket.socket(socket.AF_UNIX)\n\
         s.settimeout(5)\n\
         s.connect({socket:?})\n\
         s.sendall(bytes.fromhex('{}'))\n\
         print('got', s.recv(64).hex())\n",
        startup()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>(),
        socket = socket.display().to_string()
    );
    let as_user = |user: &str| {
        let out = Command::new("su")
            .args([user, "-s", "/bin/sh", "-c", "exec python3 -c \"$0\""])
            .arg(&client)
            .output()
            .unwrap();
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    // As the modes are: the other user cannot even reach the socket.
    let denied = as_user("kovra-test");
    assert!(denied.contains("PermissionError"), "{denied}");
    // Opened up: it connects, and is closed on without a word.
    chmod(base.path(), 0o711);
    chmod(&dir, 0o711);
    chmod(&socket, 0o666);
    let closed = as_user("kovra-test");
    // (Closed with its startup unread: Linux reports that to the client as an empty read, a
    // reset, or, when the close wins the race with the client's send, a broken pipe.)
    assert!(
        closed.contains("got \n")
            || closed.contains("ConnectionResetError")
            || closed.contains("BrokenPipeError"),
        "{closed}"
    );
    assert!(!closed.contains("got 52"), "{closed}");
    // The same client as the daemon's user is asked for its password.
    let answered = as_user("root");
    assert!(answered.contains("got 520000000800000003"), "{answered}");
}
