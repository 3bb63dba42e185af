//! A read-only grant (an agent's run) against startup parameters that try to open the
//! session writable, on a real PostgreSQL (kovra-testpg, TLS verify-full, SCRAM): `options`,
//! the setting itself, its name in other cases, duplicates, `_pq_.` options, a protocol 3.2
//! startup. Every attempt ends either refused or with `default_transaction_read_only` on and
//! a write failing. (`SET` after the session opened is outside this guard, as documented.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use kovra_dbproxy::{DbProxy, Grant, Judge, Stats, UpstreamError, mint_token};
use kovra_testpg::{Pg, PgOptions, Role};
use zeroize::Zeroizing;

struct AllowAll;

impl Judge for AllowAll {
    fn may_connect(&self, _: u64) -> Result<(), String> {
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

fn read_msg(c: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    let mut head = [0u8; 5];
    c.read_exact(&mut head).ok()?;
    let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
    let mut body = vec![0u8; len - 4];
    c.read_exact(&mut body).ok()?;
    Some((head[0], body))
}

/// Messages until ReadyForQuery (`Ok`) or an ErrorResponse (`Err(its text)`).
fn until_ready(c: &mut TcpStream) -> Result<Vec<(u8, Vec<u8>)>, String> {
    let mut seen = Vec::new();
    loop {
        match read_msg(c) {
            None => return Err("closed".into()),
            Some((b'E', body)) => return Err(String::from_utf8_lossy(&body).into_owned()),
            Some((b'Z', _)) => return Ok(seen),
            Some(m) => seen.push(m),
        }
    }
}

/// One simple query: its first DataRow's first column, or the error's text.
fn query(c: &mut TcpStream, sql: &str) -> Result<String, String> {
    let mut q = sql.as_bytes().to_vec();
    q.push(0);
    c.write_all(&frame(b'Q', &q)).unwrap();
    let mut value = None;
    let mut error = None;
    loop {
        match read_msg(c) {
            None => return Err("closed".into()),
            Some((b'D', body)) => {
                let len = i32::from_be_bytes([body[2], body[3], body[4], body[5]]) as usize;
                value = Some(String::from_utf8_lossy(&body[6..6 + len]).into_owned());
            }
            Some((b'E', body)) => error = Some(String::from_utf8_lossy(&body).into_owned()),
            Some((b'Z', _)) => break,
            Some(_) => {}
        }
    }
    match error {
        Some(e) => Err(e),
        None => Ok(value.unwrap_or_default()),
    }
}

/// Open a session through the proxy with `params` (after user and database), protocol
/// 3.`minor`; `Err` when the startup was refused.
fn open(
    port: u16,
    db: &str,
    token: &str,
    minor: u16,
    params: &[(&str, &str)],
) -> Result<TcpStream, String> {
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let mut body = Vec::new();
    for (k, v) in [("user", "app"), ("database", db)]
        .iter()
        .chain(params.iter())
    {
        body.extend_from_slice(k.as_bytes());
        body.push(0);
        body.extend_from_slice(v.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut startup = u32::try_from(body.len() + 8)
        .unwrap()
        .to_be_bytes()
        .to_vec();
    startup.extend_from_slice(&(196_608u32 + u32::from(minor)).to_be_bytes());
    startup.extend_from_slice(&body);
    c.write_all(&startup).unwrap();
    loop {
        match read_msg(&mut c) {
            Some((b'v', _)) => continue,
            Some((b'R', body)) if body == 3u32.to_be_bytes() => break,
            Some((b'E', body)) => return Err(String::from_utf8_lossy(&body).into_owned()),
            other => panic!("unexpected before the password: {other:?}"),
        }
    }
    let mut pw = token.as_bytes().to_vec();
    pw.push(0);
    c.write_all(&frame(b'p', &pw)).unwrap();
    until_ready(&mut c)?;
    Ok(c)
}

#[test]
fn startup_parameters_cannot_open_a_read_only_grant_writable() {
    let password = "kovra-canary-ro-3f9d1c7a5e";
    let pg = Pg::start(PgOptions::default().role(Role::owner("app", password)));
    let url = Zeroizing::new(pg.url("app", password, "verify-full"));
    let endpoint = kovra_pgquery::endpoint(&kovra_pgquery::Target {
        url: &url,
        ca_pem: None,
    })
    .unwrap();
    let proxy = DbProxy::start(Arc::new(AllowAll)).unwrap();
    let token = mint_token().unwrap();
    let db = pg.database().to_string();
    proxy.register(Grant {
        id: 1,
        token: token.clone(),
        user: "app".into(),
        database: db.clone(),
        endpoint,
        read_only: true,
        coordinate: "secret:dev/app/db".into(),
    });
    let off = "-c default_transaction_read_only=off";
    let attempts: &[(u16, &[(&str, &str)])] = &[
        (0, &[]),
        (0, &[("options", off)]),
        (
            0,
            &[(
                "options",
                "-c default_transaction_read_only=off -c transaction_read_only=off",
            )],
        ),
        (0, &[("default_transaction_read_only", "off")]),
        (0, &[("Default_Transaction_Read_Only", "off")]),
        (0, &[("DEFAULT_TRANSACTION_READ_ONLY", "0")]),
        (
            0,
            &[
                ("default_transaction_read_only", "off"),
                ("default_transaction_read_only", "off"),
            ],
        ),
        (0, &[("Options", off)]),
        (0, &[("OPTIONS", off)]),
        (0, &[("transaction_read_only", "off")]),
        (0, &[("_pq_.options", off)]),
        (0, &[("_pq_.default_transaction_read_only", "off")]),
        (2, &[("options", off), ("_pq_.x", "y")]),
        (0, &[("replication", "false"), ("options", off)]),
    ];
    let mut opened = 0;
    for (minor, params) in attempts {
        let mut c = match open(proxy.port().unwrap(), &db, &token, *minor, params) {
            Ok(c) => c,
            Err(e) => {
                assert!(!e.contains(password), "the password in a refusal");
                continue;
            }
        };
        opened += 1;
        assert_eq!(
            query(&mut c, "show default_transaction_read_only").as_deref(),
            Ok("on"),
            "{params:?} opened a writable session"
        );
        let wrote = query(&mut c, "create table escaped(x int)");
        assert!(
            wrote.as_ref().is_err_and(|e| e.contains("read-only")),
            "{params:?}: a write went through: {wrote:?}"
        );
    }
    assert!(opened >= 5, "too few sessions opened to prove anything");
    assert!(!pg.log().contains(password));
}
