//! A grant revoked (its run ended) while one of its connections is still opening: nothing the
//! client sent may reach the server afterwards. The judge here revokes the grant from inside
//! `may_connect`, the latest moment a run can end before the session opens; the client
//! pipelines a query right behind its password, as libpq's pipeline mode or a hostile client
//! would, so it is already waiting in the socket when the relay starts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::Duration;

use kovra_dbproxy::{DbProxy, Grant, Judge, Stats, UpstreamError, mint_token};
use zeroize::Zeroizing;

/// Allows each connection, but its run ends at that very moment.
struct EndsWhileConnecting {
    proxy: OnceLock<Arc<DbProxy>>,
}

impl Judge for EndsWhileConnecting {
    fn may_connect(&self, grant: u64) -> Result<(), String> {
        self.proxy.get().unwrap().unregister(grant);
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

const ROUNDS: u64 = 40;
const MARK: &[u8] = b"select 'after the run ended'";

#[test]
fn a_revoked_grant_relays_nothing_more() {
    // A server that opens every session at once and records what each then receives.
    let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let received = Arc::new(Mutex::new(Vec::<u8>::new()));
    let sink = Arc::clone(&received);
    thread::spawn(move || {
        for s in listener.incoming() {
            let Ok(mut s) = s else { continue };
            let sink = Arc::clone(&sink);
            thread::spawn(move || {
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut len = [0u8; 4];
                s.read_exact(&mut len).unwrap();
                let mut startup = vec![0u8; u32::from_be_bytes(len) as usize - 4];
                s.read_exact(&mut startup).unwrap();
                let mut hello = frame(b'R', &0u32.to_be_bytes());
                hello.extend_from_slice(&frame(b'Z', b"I"));
                s.write_all(&hello).unwrap();
                let mut rest = Vec::new();
                let _ = s.read_to_end(&mut rest);
                sink.lock().unwrap().extend_from_slice(&rest);
            });
        }
    });
    let judge = Arc::new(EndsWhileConnecting {
        proxy: OnceLock::new(),
    });
    let proxy = Arc::new(DbProxy::start(Arc::clone(&judge) as Arc<dyn Judge>).unwrap());
    assert!(judge.proxy.set(Arc::clone(&proxy)).is_ok());
    let url = Zeroizing::new(format!(
        "postgresql://app:kovra-canary-unused@127.0.0.1:{port}/app?sslmode=disable"
    ));
    for id in 1..=ROUNDS {
        let endpoint = kovra_pgquery::endpoint(&kovra_pgquery::Target {
            url: &url,
            ca_pem: None,
        })
        .unwrap();
        let token = mint_token().unwrap();
        proxy.register(Grant {
            id,
            token: token.clone(),
            user: "app".into(),
            database: "app".into(),
            endpoint,
            read_only: true,
            coordinate: "secret:dev/app/db".into(),
        });
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
        let mut pw = token.as_bytes().to_vec();
        pw.push(0);
        let mut both = frame(b'p', &pw);
        let mut q = MARK.to_vec();
        q.push(0);
        both.extend_from_slice(&frame(b'Q', &q));
        c.write_all(&both).unwrap();
        let mut back = Vec::new();
        let _ = c.read_to_end(&mut back);
    }
    // The server threads see their connections closed by the proxy.
    thread::sleep(Duration::from_millis(300));
    let got = received.lock().unwrap();
    let leaked = got.windows(MARK.len()).filter(|w| *w == MARK).count();
    assert_eq!(
        leaked, 0,
        "{leaked} of {ROUNDS} queries reached the server after their grant was revoked"
    );
}
