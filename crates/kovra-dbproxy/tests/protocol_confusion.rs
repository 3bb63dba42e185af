//! Clients that speak PostgreSQL's protocol wrongly, on purpose: encryption requests over and
//! over, a protocol 3.2 startup, a CancelRequest of the wrong length, a password message of
//! the wrong type or length, a token followed by more bytes. Each ends within a second or two
//! with an error (or a plain close), never touches the upstream, and the proxy still serves a
//! proper client afterwards.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use kovra_dbproxy::{DbProxy, Grant, Judge, Stats, UpstreamError, mint_token};
use zeroize::Zeroizing;

/// Counts the connections it lets open upstream.
struct Counting(AtomicUsize);

impl Judge for Counting {
    fn may_connect(&self, _: u64) -> Result<(), String> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
    fn refused(&self, _: Option<u64>, _: &str) {}
    fn failed(&self, _: u64, _: &UpstreamError) {}
    fn ended(&self, _: u64, _: &Stats) {}
}

fn frame(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend_from_slice(&u32::try_from(body.len() + 4).unwrap().to_be_bytes());
    out.extend_from_slice(body);
    out
}

fn packet(code: u32, body: &[u8]) -> Vec<u8> {
    let mut out = u32::try_from(body.len() + 8)
        .unwrap()
        .to_be_bytes()
        .to_vec();
    out.extend_from_slice(&code.to_be_bytes());
    out.extend_from_slice(body);
    out
}

const STARTUP: &[u8] = b"user\0app\0database\0app\0\0";
const V3: u32 = 196_608;

/// Send `bytes`, read until the proxy closes (3 s at most); what came back and how long.
fn exchange(port: u16, bytes: &[u8]) -> (Vec<u8>, Duration) {
    let started = Instant::now();
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let _ = c.write_all(bytes);
    let mut back = Vec::new();
    let _ = c.read_to_end(&mut back);
    (back, started.elapsed())
}

#[test]
fn malformed_clients_end_quickly_and_leave_the_proxy_serving() {
    // An upstream that opens any session at once.
    let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let up = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for s in listener.incoming() {
            let Ok(mut s) = s else { continue };
            thread::spawn(move || {
                let mut len = [0u8; 4];
                if s.read_exact(&mut len).is_err() {
                    return;
                }
                let mut rest = vec![0u8; u32::from_be_bytes(len) as usize - 4];
                let _ = s.read_exact(&mut rest);
                let mut hello = frame(b'R', &0u32.to_be_bytes());
                hello.extend_from_slice(&frame(b'Z', b"I"));
                let _ = s.write_all(&hello);
                let mut sink = Vec::new();
                let _ = s.read_to_end(&mut sink);
            });
        }
    });
    let judge = Arc::new(Counting(AtomicUsize::new(0)));
    let proxy = DbProxy::start(Arc::clone(&judge) as Arc<dyn Judge>).unwrap();
    let url = Zeroizing::new(format!(
        "postgresql://app:kovra-canary-unused@127.0.0.1:{up}/app?sslmode=disable"
    ));
    let endpoint = kovra_pgquery::endpoint(&kovra_pgquery::Target {
        url: &url,
        ca_pem: None,
    })
    .unwrap();
    let token = mint_token().unwrap();
    proxy.register(Grant {
        id: 1,
        token: token.clone(),
        user: "app".into(),
        database: "app".into(),
        endpoint,
        read_only: false,
        coordinate: "secret:dev/app/db".into(),
    });
    let port = proxy.port().unwrap();
    let mut pw = token.as_bytes().to_vec();
    pw.push(0);
    let ssl = packet(80_877_103, &[]);
    let gss = packet(80_877_104, &[]);
    let then = |mut a: Vec<u8>, b: &[u8]| {
        a.extend_from_slice(b);
        a
    };
    let mut token_then_more = pw.clone();
    token_then_more.extend_from_slice(b"extra\0");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "three SSLRequests",
            [ssl.clone(), ssl.clone(), ssl.clone()].concat(),
        ),
        (
            "SSL, GSSENC, SSL",
            [ssl.clone(), gss.clone(), ssl.clone()].concat(),
        ),
        (
            "a CancelRequest 4 bytes short",
            packet(80_877_102, &[0, 0, 0, 1]),
        ),
        ("a CancelRequest 4 bytes long", packet(80_877_102, &[0; 12])),
        ("protocol 2", packet(0x0002_0000, STARTUP)),
        ("protocol 4", packet(0x0004_0000, STARTUP)),
        (
            "a password message of type Q",
            then(packet(V3, STARTUP), &frame(b'Q', &pw)),
        ),
        (
            "a password message claiming 2 GiB",
            then(packet(V3, STARTUP), &[b'p', 0x7f, 0xff, 0xff, 0xff]),
        ),
        (
            "a password message claiming 3 bytes",
            then(packet(V3, STARTUP), &[b'p', 0, 0, 0, 3]),
        ),
        (
            "the token followed by more",
            then(packet(V3, STARTUP), &frame(b'p', &token_then_more)),
        ),
        (
            "the token without its NUL",
            then(packet(V3, STARTUP), &frame(b'p', token.as_bytes())),
        ),
        (
            "a startup with a name and no value",
            packet(V3, b"user\0app\0database\0\0"),
        ),
        (
            "no user",
            then(packet(V3, b"database\0app\0\0"), &frame(b'p', &pw)),
        ),
        (
            "replication=database",
            then(
                packet(V3, b"user\0app\0database\0app\0replication\0database\0\0"),
                &frame(b'p', &pw),
            ),
        ),
        (
            "a user name in another case",
            then(
                packet(V3, b"user\0APP\0database\0app\0\0"),
                &frame(b'p', &pw),
            ),
        ),
    ];
    for (what, bytes) in &cases {
        let (back, took) = exchange(port, bytes);
        assert!(took < Duration::from_secs(3), "{what}: held for {took:?}");
        assert!(
            back.is_empty() || back.contains(&b'E') || back.iter().all(|&b| b == b'N'),
            "{what}: {back:?}"
        );
    }
    assert_eq!(
        judge.0.load(Ordering::SeqCst),
        0,
        "a malformed client reached the judge"
    );
    // A protocol 3.2 client is told 3.0 and served; so is a plain one.
    for code in [V3 + 2, V3] {
        let (back, _) = exchange(
            port,
            &then(
                packet(code, STARTUP),
                &then(frame(b'p', &pw), &frame(b'X', &[])),
            ),
        );
        assert!(
            back.ends_with(&frame(b'Z', b"I")),
            "3.{}: {back:?}",
            code - V3
        );
        assert_eq!(back[0], if code == V3 { b'R' } else { b'v' }, "{back:?}");
    }
    assert_eq!(judge.0.load(Ordering::SeqCst), 2);
}
