//! The proxy against an upstream it must not trust: a server (or whatever listens at the
//! record's host and port — on loopback, a same-user agent can) that asks for the password in
//! cleartext over a plaintext leg, or floods the session's opening. Each fake server is a
//! thread on loopback speaking just enough of PostgreSQL's protocol; each grant's password is
//! a fresh canary that must reach no socket but a TLS-protected one.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use kovra_dbproxy::{DbProxy, Grant, Judge, Stats, UpstreamError, mint_token};
use zeroize::Zeroizing;

/// Allows every connection; the trail is not under test here.
struct AllowAll;

impl Judge for AllowAll {
    fn may_connect(&self, _: u64) -> Result<(), String> {
        Ok(())
    }
    fn refused(&self, _: Option<u64>, _: &str) {}
    fn failed(&self, _: u64, _: &UpstreamError) {}
    fn ended(&self, _: u64, _: &Stats) {}
}

fn canary() -> String {
    let mut raw = [0u8; 12];
    getrandom::fill(&mut raw).unwrap();
    let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    format!("kovra-canary-pgpw-{hex}")
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn frame(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend_from_slice(&u32::try_from(body.len() + 4).unwrap().to_be_bytes());
    out.extend_from_slice(body);
    out
}

fn auth(code: u32) -> Vec<u8> {
    frame(b'R', &code.to_be_bytes())
}

/// A fake server: accepts one connection, reads its startup packet, then runs `script`.
/// Returns its port and a handle yielding every byte it received after the startup.
fn fake_upstream(
    script: impl FnOnce(&mut TcpStream) + Send + 'static,
) -> (u16, JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let mut len = [0u8; 4];
        s.read_exact(&mut len).unwrap();
        let mut startup = vec![0u8; u32::from_be_bytes(len) as usize - 4];
        s.read_exact(&mut startup).unwrap();
        script(&mut s);
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest);
        rest
    });
    (port, handle)
}

/// The proxy with one grant whose record says `postgresql://app:PASSWORD@127.0.0.1:PORT/app
/// ?sslmode=disable`; returns the proxy (keep it alive) and the grant's token.
fn proxy_to(port: u16, password: &str) -> (DbProxy, Zeroizing<String>) {
    let url = Zeroizing::new(format!(
        "postgresql://app:{password}@127.0.0.1:{port}/app?sslmode=disable"
    ));
    let endpoint = kovra_pgquery::endpoint(&kovra_pgquery::Target {
        url: &url,
        ca_pem: None,
    })
    .unwrap();
    let proxy = DbProxy::start(Arc::new(AllowAll)).unwrap();
    let token = mint_token().unwrap();
    proxy.register(Grant {
        id: 1,
        token: token.clone(),
        user: "app".into(),
        database: "app".into(),
        endpoint,
        read_only: true,
        coordinate: "secret:dev/app/db".into(),
    });
    (proxy, token)
}

/// A client's whole conversation: startup as app/app, the token as its password, then every
/// byte the proxy sends until it closes (5 s at most).
fn client(proxy: &DbProxy, token: &str) -> Vec<u8> {
    let mut c = TcpStream::connect(("127.0.0.1", proxy.port().unwrap())).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let body = b"user\0app\0database\0app\0\0";
    let mut startup = u32::try_from(body.len() + 8)
        .unwrap()
        .to_be_bytes()
        .to_vec();
    startup.extend_from_slice(&196_608u32.to_be_bytes());
    startup.extend_from_slice(body);
    c.write_all(&startup).unwrap();
    let mut ask = [0u8; 9];
    c.read_exact(&mut ask).unwrap();
    assert_eq!(ask, auth(3)[..], "the proxy asks for the token");
    let mut pw = token.as_bytes().to_vec();
    pw.push(0);
    c.write_all(&frame(b'p', &pw)).unwrap();
    let mut back = Vec::new();
    let _ = c.read_to_end(&mut back);
    back
}

/// A server on the record's plaintext address asks for the password in cleartext (method
/// `password` in pg_hba.conf, or an agent's listener bound to a dev database's port while
/// the database is down): the proxy must not hand it over, since no TLS certificate says who
/// is listening. Before the fix the canary arrived in the fake server's `PasswordMessage`.
#[test]
fn a_plaintext_upstream_asking_for_a_cleartext_password_never_gets_it() {
    let password = canary();
    let (port, upstream) = fake_upstream(|s| {
        s.write_all(&auth(3)).unwrap();
    });
    let (proxy, token) = proxy_to(port, &password);
    let back = client(&proxy, &token);
    let received = upstream.join().unwrap();
    assert!(
        !contains(&received, password.as_bytes()),
        "the stored password went to a plaintext upstream in cleartext"
    );
    assert_eq!(back.first(), Some(&b'E'), "{back:?}");
    assert!(contains(&back, b"cleartext"), "{back:?}");
    assert!(!contains(&back, password.as_bytes()));
}

/// After AuthenticationOk, a server that sends tens of MiB of ParameterStatus before its
/// ReadyForQuery: the proxy buffers the opening for the client, so it must bound it (before
/// the fix it held all of it in the daemon's memory, then sent it on).
#[test]
fn an_upstream_flooding_the_opening_is_cut_off() {
    let password = canary();
    const FLOOD: usize = 32 << 20;
    let (port, upstream) = fake_upstream(|s| {
        s.write_all(&auth(0)).unwrap();
        let mut param = b"x\0".to_vec();
        param.resize(60 * 1024, b'a');
        param.push(0);
        let msg = frame(b'S', &param);
        let mut sent = 0;
        while sent < FLOOD {
            if s.write_all(&msg).is_err() {
                return;
            }
            sent += msg.len();
        }
        let _ = s.write_all(&frame(b'Z', b"I"));
    });
    let (proxy, token) = proxy_to(port, &password);
    let back = client(&proxy, &token);
    let _ = upstream.join();
    assert!(
        back.len() < 1 << 20,
        "the proxy relayed a {} byte opening",
        back.len()
    );
    assert_eq!(
        back.first(),
        Some(&b'E'),
        "{:?}",
        &back[..back.len().min(64)]
    );
}

/// Read one typed message from the fake server's side.
fn read_typed(s: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut head = [0u8; 5];
    s.read_exact(&mut head).unwrap();
    let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
    let mut body = vec![0u8; len - 4];
    s.read_exact(&mut body).unwrap();
    (head[0], body)
}

/// A server that starts SCRAM, takes the client's proof, then says AuthenticationOk without
/// the SASLFinal that proves it knows the password: an impostor (it could also keep the proof
/// to guess the password offline). libpq refuses this; so must the proxy, or the child talks
/// to whatever listens at the record's address as if it were the database.
#[test]
fn an_upstream_skipping_the_scram_final_is_refused() {
    let password = canary();
    let (port, upstream) = fake_upstream(|s| {
        let mut sasl = 10u32.to_be_bytes().to_vec();
        sasl.extend_from_slice(b"SCRAM-SHA-256\0\0");
        s.write_all(&frame(b'R', &sasl)).unwrap();
        let (_, first) = read_typed(s);
        let text = String::from_utf8_lossy(&first).into_owned();
        let nonce = text.rsplit("r=").next().unwrap().to_string();
        let mut cont = 11u32.to_be_bytes().to_vec();
        cont.extend_from_slice(format!("r={nonce}impostor,s=c2FsdHNhbHQ=,i=4096").as_bytes());
        s.write_all(&frame(b'R', &cont)).unwrap();
        let _final = read_typed(s);
        let mut ok = auth(0);
        ok.extend_from_slice(&frame(b'Z', b"I"));
        s.write_all(&ok).unwrap();
    });
    let (proxy, token) = proxy_to(port, &password);
    let back = client(&proxy, &token);
    let _ = upstream.join();
    assert_eq!(back.first(), Some(&b'E'), "{back:?}");
    assert!(!contains(&back, password.as_bytes()));
}

/// A record saying `channel_binding=require`, and a server that says AuthenticationOk at
/// once, with no SCRAM-SHA-256-PLUS at all: libpq refuses ("channel binding required, but
/// server authenticated client without channel binding"); so must the proxy.
#[test]
fn channel_binding_require_is_not_skipped_by_an_immediate_ok() {
    let password = canary();
    let (port, upstream) = fake_upstream(|s| {
        let mut ok = auth(0);
        ok.extend_from_slice(&frame(b'Z', b"I"));
        s.write_all(&ok).unwrap();
    });
    let url = Zeroizing::new(format!(
        "postgresql://app:{password}@127.0.0.1:{port}/app?sslmode=disable&channel_binding=require"
    ));
    let endpoint = kovra_pgquery::endpoint(&kovra_pgquery::Target {
        url: &url,
        ca_pem: None,
    })
    .unwrap();
    let proxy = DbProxy::start(Arc::new(AllowAll)).unwrap();
    let token = mint_token().unwrap();
    proxy.register(Grant {
        id: 1,
        token: token.clone(),
        user: "app".into(),
        database: "app".into(),
        endpoint,
        read_only: true,
        coordinate: "secret:dev/app/db".into(),
    });
    let back = client(&proxy, &token);
    let _ = upstream.join();
    assert_eq!(back.first(), Some(&b'E'), "{back:?}");
    assert!(contains(&back, b"channel"), "{back:?}");
}
