//! The server's own checks, against a stand-in backend, over plain TCP: the login link works
//! once, cookies are checked, foreign hosts and origins are refused, bodies are bounded and
//! parsed with clear errors, static paths come from a fixed table.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use kovra_proto::{Reply, Request, Response};
use kovra_web::{Backend, Config, Origin, Server, Who};

#[derive(Default)]
struct Fake {
    epoch: AtomicU64,
    seen: Mutex<Vec<String>>,
}

impl Backend for Fake {
    fn call(&self, who: &Who, _project: Option<String>, request: Request) -> Response {
        let name = serde_json::to_value(&request).unwrap()["op"]
            .as_str()
            .unwrap()
            .to_string();
        self.seen
            .lock()
            .unwrap()
            .push(format!("{name} {:?}", who.origin));
        if matches!(request, Request::Lock) {
            self.epoch.fetch_add(1, Ordering::SeqCst);
        }
        Response::Ok {
            reply: Box::new(Reply::Done { message: name }),
        }
    }
    fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }
}

fn start() -> (Server, Arc<Fake>) {
    let fake = Arc::new(Fake::default());
    let server = Server::start(0, fake.clone(), Config::default()).unwrap();
    (server, fake)
}

struct Answer {
    status: u16,
    head: String,
    body: String,
}

fn send(port: u16, raw: &str) -> Answer {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(raw.as_bytes()).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let text = String::from_utf8_lossy(&out).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    Answer {
        status: head[9..12].parse().unwrap(),
        head: head.to_ascii_lowercase(),
        body: body.to_string(),
    }
}

fn get(port: u16, path: &str, extra: &str) -> Answer {
    send(
        port,
        &format!(
            "GET {path} HTTP/1.1\r\nHost: localhost:{port}\r\n{extra}Connection: close\r\n\r\n"
        ),
    )
}

fn post(port: u16, path: &str, extra: &str, body: &str) -> Answer {
    send(
        port,
        &format!(
            "POST {path} HTTP/1.1\r\nHost: localhost:{port}\r\nOrigin: http://localhost:{port}\r\n{extra}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
}

fn login(server: &Server) -> String {
    let who = Who {
        origin: Origin::Human,
        pid: 1,
        uid: 1,
        exe: None,
    };
    let link = server.login_link(who).unwrap();
    let path = &link[link.find("/login/").unwrap()..];
    let a = get(server.port(), path, "");
    assert_eq!(a.status, 303, "{}", a.head);
    let cookie = a
        .head
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: kovra_ui="))
        .unwrap();
    assert!(cookie.contains("httponly") && cookie.contains("samesite=strict"));
    let again = get(server.port(), path, "");
    assert_eq!(again.status, 403, "a link works once");
    format!("Cookie: kovra_ui={}\r\n", &cookie[..64])
}

#[test]
fn login_once_cookie_checked_and_dropped_on_lock() {
    let (server, fake) = start();
    let port = server.port();
    assert_eq!(get(port, "/api/status", "").status, 401);
    let cookie = login(&server);
    let ok = get(port, "/api/status", &cookie);
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert!(
        ok.head
            .contains("content-security-policy: default-src 'none'; script-src 'self'")
    );
    for h in [
        "x-content-type-options: nosniff",
        "referrer-policy: no-referrer",
        "cache-control: no-store",
        "x-frame-options: deny",
    ] {
        assert!(ok.head.contains(h), "{h}");
    }
    let forged = format!("Cookie: kovra_ui={}\r\n", "ab".repeat(32));
    assert_eq!(get(port, "/api/status", &forged).status, 401);
    assert_eq!(post(port, "/api/lock", &cookie, "{}").status, 200);
    assert_eq!(
        get(port, "/api/status", &cookie).status,
        401,
        "locking ends sessions"
    );
    assert_eq!(
        fake.seen.lock().unwrap().as_slice(),
        ["status Human", "lock Human"]
    );
}

#[test]
fn foreign_host_and_origin_are_refused() {
    let (server, _) = start();
    let port = server.port();
    let cookie = login(&server);
    let rebound = send(
        port,
        &format!(
            "GET /api/status HTTP/1.1\r\nHost: evil.example:{port}\r\n{cookie}Connection: close\r\n\r\n"
        ),
    );
    assert_eq!(rebound.status, 421);
    assert!(rebound.head.contains("content-security-policy"));
    let ip = send(
        port,
        &format!("GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"),
    );
    assert_eq!(ip.status, 421);
    let body = r#"{"coordinate":"secret:dev/app/X","value":"v"}"#;
    let foreign = send(
        port,
        &format!(
            "POST /api/add HTTP/1.1\r\nHost: localhost:{port}\r\nOrigin: http://evil.example\r\n{cookie}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    );
    assert_eq!(foreign.status, 403);
    assert!(foreign.body.contains("web-origin-refused"));
    let none = send(
        port,
        &format!(
            "POST /api/lock HTTP/1.1\r\nHost: localhost:{port}\r\n{cookie}Content-Length: 2\r\nConnection: close\r\n\r\n{{}}"
        ),
    );
    assert_eq!(none.status, 403, "a write without Origin");
    let cross = get(
        port,
        "/api/status",
        &format!("{cookie}Sec-Fetch-Site: cross-site\r\n"),
    );
    assert_eq!(cross.status, 403);
}

#[test]
fn bad_input_gets_clear_errors() {
    let (server, _) = start();
    let port = server.port();
    let cookie = login(&server);
    let big = format!(
        r#"{{"coordinate":"secret:dev/app/X","value":"{}"}}"#,
        "x".repeat(70_000)
    );
    let a = post(port, "/api/add", &cookie, &big);
    assert_eq!(a.status, 413, "{}", a.body);
    assert!(a.body.contains("web-body-refused"));
    let canary = "CANARY-not-json-7f3a";
    let a = post(
        port,
        "/api/add",
        &cookie,
        &format!(r#"{{"coordinate": {canary}"#),
    );
    assert_eq!(a.status, 400);
    assert!(
        a.body.contains("web-bad-json") && a.body.contains("line 1"),
        "{}",
        a.body
    );
    assert!(!a.body.contains(canary));
    let a = post(
        port,
        "/api/add",
        &cookie,
        &format!(r#"{{"coordinate":"x","value":1,"length":"{canary}"}}"#),
    );
    assert_eq!(a.status, 400);
    assert!(!a.body.contains(canary), "{}", a.body);
    assert_eq!(get(port, "/api/nothing", &cookie).status, 404);
    for path in [
        "/static/../Cargo.toml",
        "/static/%2e%2e/%2e%2e/Cargo.toml",
        "/static//etc/passwd",
        "/static/app.js/../../x",
    ] {
        let a = get(port, path, "");
        assert_eq!(a.status, 404, "{path}");
    }
    let js = get(port, "/static/app.js", "");
    assert_eq!(js.status, 200);
    assert!(js.head.contains("text/javascript"));
    let page = get(port, "/records", "");
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("<script>") && !page.body.contains(" style="));
}

#[test]
fn ask_sends_only_approval_grant_and_passkey_requests_with_one_proof_beside_them() {
    let (server, fake) = start();
    let port = server.port();
    let cookie = login(&server);
    let a = post(
        port,
        "/api/ask",
        &cookie,
        r#"{"request":{"op":"approve","id":"ab12"}}"#,
    );
    assert_eq!(a.status, 200, "{}", a.body);
    let a = post(
        port,
        "/api/ask",
        &cookie,
        r#"{"request":{"op":"grant-list"}}"#,
    );
    assert_eq!(a.status, 200, "{}", a.body);
    // Anything else has its own route, or none.
    let a = post(
        port,
        "/api/ask",
        &cookie,
        r#"{"request":{"op":"reveal","coordinate":"secret:dev/app/X"}}"#,
    );
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(a.body.contains("web-bad-json"), "{}", a.body);
    // The proof goes beside the request, and is exactly one thing.
    let canary = "CANARY-code-5521";
    let inside = format!(
        r#"{{"request":{{"op":"approve","id":"ab12","proof":{{"challenge":"c","code":"{canary}"}}}}}}"#
    );
    let a = post(port, "/api/ask", &cookie, &inside);
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(!a.body.contains(canary), "{}", a.body);
    let inside =
        r#"{"request":{"op":"approve","id":"ab12","proof":{"challenge":"c","passkey":{}}}}"#;
    let a = post(port, "/api/ask", &cookie, inside);
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(a.body.contains("web-bad-proof"), "{}", a.body);
    let two = format!(
        r#"{{"request":{{"op":"approve","id":"ab12"}},"proof":{{"challenge":"c","code":"{canary}","passkey":{{}}}}}}"#
    );
    let a = post(port, "/api/ask", &cookie, &two);
    assert_eq!(a.status, 400, "{}", a.body);
    // A passphrase answers only a challenge that offered one.
    let bare = format!(
        r#"{{"request":{{"op":"approve","id":"ab12"}},"proof":{{"challenge":"c","passphrase":"{canary}"}}}}"#
    );
    let a = post(port, "/api/ask", &cookie, &bare);
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(!a.body.contains(canary), "{}", a.body);
    // A request that takes no proof is not sent with one.
    let a = post(
        port,
        "/api/ask",
        &cookie,
        r#"{"request":{"op":"deny","id":"ab12"},"proof":{"challenge":"c","passkey":{}}}"#,
    );
    assert_eq!(a.status, 400, "{}", a.body);
    let seen = fake.seen.lock().unwrap().clone();
    assert_eq!(seen, vec!["approve Human", "grant-list Human"], "{seen:?}");
    assert_eq!(get(port, "/static/proof.js", "").status, 200);
    assert_eq!(get(port, "/passkeys", "").status, 200);
}
