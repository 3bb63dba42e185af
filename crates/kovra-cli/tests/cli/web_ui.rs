//! `kovra ui` against the real daemon: plain HTTP from here for what a browser would never
//! send (a foreign Host or Origin, a forged cookie, oversized and malformed bodies, traversal
//! in static paths), and Debian's headless Chromium driven over CDP by playwright-core
//! (`tests/support/web_e2e.mjs`) for the rest: the login link works once, the cookie's
//! flags, the CSP header, markup shown as text, no inline script running, a record added
//! through the page whose value then appears in no page, response, output or file, its
//! metadata edited, a generated record, 100 concurrent calls and 100 sessions logged in at
//! once, the records view's time with 10,000 records, and the lock button.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::harness::{Home, PASSPHRASE, describe, test_tool_dir};
use crate::leak::{assert_absent, assert_not_in_files, canary};

const RECORDS: usize = 10_000;

/// `kovra ui --no-open` at a terminal (a human's origin): the link it printed.
pub(crate) fn login_link(h: &Home) -> String {
    let out = h.run_pty(&["ui", "--no-open"], &[PASSPHRASE]);
    assert!(out.status.success(), "kovra ui: {}", describe(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let start = text.find("http://localhost:").expect("a link");
    let link: String = text[start..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    assert!(link.contains("/login/"), "{link}");
    link
}

fn port_of(link: &str) -> u16 {
    let rest = &link["http://localhost:".len()..];
    rest[..rest.find('/').unwrap()].parse().unwrap()
}

struct Answer {
    status: u16,
    head: String,
    body: String,
}

fn send(port: u16, raw: &[u8]) -> Answer {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(raw).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    Answer {
        status: head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0),
        head: head.to_ascii_lowercase(),
        body: body.to_string(),
    }
}

fn request(port: u16, method: &str, path: &str, headers: &str, body: &[u8]) -> Answer {
    let mut raw = format!(
        "{method} {path} HTTP/1.1\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    raw.extend_from_slice(body);
    send(port, &raw)
}

/// What a browser would never send, answered by the daemon's UI without a session.
fn hostile_requests(port: u16, seen: &mut Vec<u8>) {
    let host = format!("Host: localhost:{port}\r\n");
    let origin = format!("Origin: http://localhost:{port}\r\n");
    let json = "Content-Type: application/json\r\n";
    let mut check = |what: &str, a: Answer, status: u16, code: &str| {
        assert_eq!(a.status, status, "{what}: {}\n{}", a.head, a.body);
        assert!(a.body.contains(code), "{what}: {}", a.body);
        assert!(
            a.head
                .contains("content-security-policy: default-src 'none'"),
            "{what}: no CSP"
        );
        seen.extend_from_slice(a.body.as_bytes());
    };
    // DNS rebinding: a page on another name that resolves to 127.0.0.1.
    let a = request(
        port,
        "GET",
        "/api/records",
        &format!("Host: rebind.example:{port}\r\n"),
        b"",
    );
    check("foreign Host", a, 421, "web-host-refused");
    let a = request(
        port,
        "GET",
        "/",
        &format!("Host: 127.0.0.1:{port}\r\n"),
        b"",
    );
    check("IP Host", a, 421, "web-host-refused");
    // CSRF: a write from another origin, or with none.
    let body = br#"{"coordinate":"secret:dev/web/X","value":"v"}"#;
    let a = request(
        port,
        "POST",
        "/api/add",
        &format!("{host}Origin: https://evil.example\r\n{json}"),
        body,
    );
    check("foreign Origin", a, 403, "web-origin-refused");
    let a = request(port, "POST", "/api/lock", &format!("{host}{json}"), b"{}");
    check("no Origin", a, 403, "web-origin-refused");
    let a = request(
        port,
        "GET",
        "/api/records",
        &format!("{host}Sec-Fetch-Site: cross-site\r\n"),
        b"",
    );
    check("cross-site fetch", a, 403, "web-origin-refused");
    // No session, or a forged one.
    let a = request(port, "GET", "/api/records", &host, b"");
    check("no cookie", a, 401, "web-not-logged-in");
    let forged = format!("{host}Cookie: kovra_ui={}\r\n", "5a".repeat(32));
    let a = request(port, "GET", "/api/records", &forged, b"");
    check("forged cookie", a, 401, "web-not-logged-in");
    // Bodies: too large, malformed.
    let big = vec![b'x'; 200 * 1024];
    let a = request(
        port,
        "POST",
        "/api/add",
        &format!("{host}{origin}{json}"),
        &big,
    );
    check("oversized body", a, 413, "web-body-refused");
    let a = request(
        port,
        "POST",
        "/api/add",
        &format!("{host}{origin}{json}"),
        b"{\"coordinate\": ",
    );
    check("malformed JSON", a, 400, "web-bad-json");
    let a = request(port, "GET", "/api/nope", &host, b"");
    check("unknown API route", a, 404, "web-not-found");
    for path in [
        "/static/../../../../etc/passwd",
        "/static/%2e%2e/%2e%2e/Cargo.toml",
        "/static/..%2fapp.js",
        "/static//etc/passwd",
    ] {
        let a = request(port, "GET", path, &host, b"");
        check(path, a, 404, "web-not-found");
    }
}

pub(crate) fn chromium() -> PathBuf {
    let path = PathBuf::from("/usr/bin/chromium");
    assert!(
        path.exists(),
        "Debian's chromium is missing: run scripts/test.sh, which installs it"
    );
    path
}

pub(crate) fn playwright() -> PathBuf {
    let dir = test_tool_dir("playwright").join("node_modules/playwright-core");
    assert!(
        dir.is_dir(),
        "playwright-core is missing: run scripts/test.sh, which installs it into target/test-tools/playwright"
    );
    dir
}

/// Run the browser script with its configuration on stdin; its JSON report.
fn browse(h: &Home, config: serde_json::Value) -> (serde_json::Value, Vec<u8>) {
    run_script(h, "web_e2e.mjs", config)
}

/// Run `script` (in tests/support) under node with `config` on stdin: its JSON report, and
/// everything it printed (also kept in the home's transcript for the canary scan).
pub(crate) fn run_script(
    h: &Home,
    script: &str,
    config: serde_json::Value,
) -> (serde_json::Value, Vec<u8>) {
    let mut child = Command::new("node")
        .arg(crate::harness::support_dir().join(script))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(config.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let mut seen = out.stdout.clone();
    seen.extend_from_slice(&out.stderr);
    assert!(out.status.success(), "{script}: {}", describe(&out));
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{script} printed no JSON ({e}): {}", describe(&out)));
    h.transcript.borrow_mut().extend_from_slice(&seen);
    (report, seen)
}

/// 10,000 records in five imports (an import holds at most 2,000), one with markup in its
/// description, and a high one an agent was refused.
fn fill(h: &Home) {
    let dir = h.root.join("imports");
    std::fs::create_dir_all(&dir).unwrap();
    for part in 0..RECORDS / 2000 {
        let file = dir.join(format!("part{part}.env"));
        let text: String = (0..2000)
            .map(|i| format!("KEY_{part}_{i:04}=value-{part}-{i}\n"))
            .collect();
        std::fs::write(&file, text).unwrap();
        let group = format!("g{part}");
        let out = h.run(&[
            "import",
            &file.to_string_lossy(),
            "--env",
            "dev",
            "--group",
            &group,
        ]);
        assert!(out.status.success(), "import: {}", describe(&out));
    }
    let out = h.run(&[
        "edit",
        "secret:dev/g0/KEY_0_0000",
        "--description",
        "<img src=x onerror=\"window.__xss=1\"><script>window.__xss=1</script>",
    ]);
    assert!(out.status.success(), "edit: {}", describe(&out));
    // A refusal on the trail, for the audit page to explain.
    h.add_ok(
        "secret:prod/pay/STRIPE_KEY",
        b"sk-not-a-real-key-0000",
        &["--sensitivity", "high"],
    );
    let mut seen = Vec::new();
    let out = h.agent(&["reveal", "secret:prod/pay/STRIPE_KEY"], &mut seen);
    assert!(
        !out.status.success(),
        "an agent's reveal of a high record is refused"
    );
}

pub(crate) fn screenshots_dir() -> Option<PathBuf> {
    std::env::var_os("KOVRA_WEB_SCREENSHOTS").map(PathBuf::from)
}

#[test]
fn the_web_ui_in_chromium_against_the_real_daemon() {
    let (chromium, playwright) = (chromium(), playwright());
    let h = Home::init();
    fill(&h);
    let link = login_link(&h);
    let second = login_link(&h);
    let port = port_of(&link);
    assert_eq!(port, port_of(&second), "one server per daemon");

    let mut seen = Vec::new();
    hostile_requests(port, &mut seen);
    let value = canary("web");
    let (r, printed) = browse(
        &h,
        serde_json::json!({
            "mode": "e2e",
            "chromium": chromium,
            "playwright": playwright,
            "links": [link, second],
            "canary": value,
            "screenshots": screenshots_dir(),
        }),
    );
    seen.extend_from_slice(&printed);

    // For failure messages: the report without the pages and bodies it carries.
    let b = {
        let mut b = r.clone();
        if let Some(o) = b.as_object_mut() {
            o.remove("pages");
            o.remove("bodies");
        }
        b
    };
    // The link logged in once, and set a strict cookie the page's script cannot read.
    assert_eq!(r["login_status"], 200, "{b}");
    assert_eq!(r["after_login"], "/");
    assert_eq!(r["second_use_status"], 403, "a link works once");
    let cookie = &r["cookie"][0];
    assert_eq!(cookie["httpOnly"], true, "{b}");
    assert_eq!(cookie["sameSite"], "Strict", "{b}");
    assert_eq!(cookie["secure"], true, "{b}");
    let csp = r["csp"].as_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    // Markup is text; an inline script never runs.
    assert!(
        r["xss_text"]
            .as_str()
            .unwrap()
            .contains("<script>window.__xss=1</script>")
    );
    assert_eq!(r["xss_ran"], false);
    assert_eq!(r["inline_ran"], false, "{b}");
    assert!(
        r["violations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v.as_str().unwrap().starts_with("script-src")),
        "the blocked script was reported: {b}"
    );
    // The records view held every record (a page of rows at a time), and loaded in a bounded time (the 300 ms goal is
    // measured in release by bench/web.sh; a debug daemon on a shared machine is slower).
    let view = &r["records_view"];
    assert_eq!(view["total"], RECORDS + 1, "{b}");
    assert_eq!(view["rows"], 250, "one page of rows: {b}");
    let shown = view["shown"].as_f64().unwrap();
    assert!(shown < 10_000.0, "the records view took {shown} ms");
    eprintln!("records view with {RECORDS} records: {shown:.0} ms (debug build)");

    // The record added through the page exists, as metadata; the value field was cleared.
    assert!(
        r["add_message"]
            .as_str()
            .unwrap()
            .starts_with("Added secret:dev/web/ADDED"),
        "{b}"
    );
    assert_eq!(r["value_field_after"], "");
    assert_eq!(r["listed_added"], 1);
    assert_eq!(r["history_rows"], 1);
    assert!(
        r["edit_message"].as_str().unwrap().starts_with("Saved"),
        "{b}"
    );
    assert!(
        r["generate_message"]
            .as_str()
            .unwrap()
            .starts_with("Generated secret:dev/web/GENERATED"),
        "{b}"
    );
    let audit = r["audit_text"].as_str().unwrap();
    assert!(audit.contains("add") && audit.contains("web"), "{audit}");
    assert!(
        audit.contains("An agent asked to reveal a high, production"),
        "the refusal's why, from docs/errors.md: {audit}"
    );

    // 100 concurrent calls were all answered, and the UI kept serving.
    let concurrent = r["concurrent"].as_object().unwrap();
    assert_eq!(
        concurrent.get("200").and_then(|v| v.as_u64()),
        Some(100),
        "{b}"
    );
    assert_eq!(r["after_concurrent"], 200);
    assert_eq!(
        r["api_navigation"], 403,
        "the API only answers the pages' own calls"
    );
    // The lock button locked the vault and ended the other session too.
    assert_eq!(r["second_link_status"], 200);
    assert!(
        r["lock_message"].as_str().unwrap().contains("locked"),
        "{b}"
    );
    assert_eq!(r["after_lock"], 401, "{b}");

    // The value is in no page, no response the browser saw, nothing printed, no file.
    for (name, html) in r["pages"].as_object().unwrap() {
        assert_absent(
            html.as_str().unwrap().as_bytes(),
            &value,
            &format!("the {name} page"),
        );
    }
    for body in r["bodies"].as_array().unwrap() {
        assert_absent(body.as_str().unwrap().as_bytes(), &value, "a response body");
    }
    assert_absent(
        &seen,
        &value,
        "the test's HTTP answers and the browser script's output",
    );
    assert_not_in_files(
        &h,
        &value,
        "the home, runtime and state directories (daemon.log)",
    );
    // The record is in the vault with what the page sent, value included.
    h.unlock_typed();
    let shown_json = h.json(&["show", "secret:dev/web/ADDED"]).1;
    assert_eq!(
        shown_json["description"], "edited in the web UI",
        "{shown_json}"
    );
    let out = h.run_pty(&["reveal", "secret:dev/web/ADDED"], &[PASSPHRASE]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&value),
        "the record holds the typed value: {}",
        describe(&out)
    );
}

#[test]
fn an_agent_gets_an_agent_session_and_the_port_is_fixed_once_serving() {
    let h = Home::init();
    let mut seen = Vec::new();
    let out = h.agent(&["--json", "ui", "--no-open"], &mut seen);
    assert!(out.status.success(), "{}", describe(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let link = doc["url"].as_str().unwrap();
    assert_eq!(doc["expires_in"], 120);
    let port = port_of(link);
    // The login is recorded with the agent's origin.
    let path = &link[link.find("/login/").unwrap()..];
    let a = request(
        port,
        "GET",
        path,
        &format!("Host: localhost:{port}\r\n"),
        b"",
    );
    assert_eq!(a.status, 303, "{}", a.head);
    let trail = h.json(&["audit", "--action", "ui-login"]).1;
    let text = trail.to_string();
    assert!(text.contains("\"origin\":\"agent\""), "{text}");
    // The session acts as the agent it was made for: lowering a record's sensitivity is
    // parked for the human's approval, as it is for the agent on the socket.
    h.add_ok(
        "secret:dev/app/TOKEN",
        b"not-a-real-token-1234",
        &["--sensitivity", "high"],
    );
    let headers = format!(
        "Host: localhost:{port}\r\nOrigin: http://localhost:{port}\r\n{}Content-Type: application/json\r\n",
        cookie_of(&a)
    );
    let body = br#"{"coordinate":"secret:dev/app/TOKEN","sensitivity":"low"}"#;
    let lowered = request(port, "POST", "/api/edit", &headers, body);
    assert_eq!(lowered.status, 403, "{}", lowered.body);
    let doc: serde_json::Value = serde_json::from_str(&lowered.body).unwrap();
    assert_eq!(doc["status"], "needs-proof", "{doc}");
    assert_eq!(doc["code"], "lowering-needs-proof", "{doc}");
    assert!(doc["approval"].is_string(), "parked for approval: {doc}");
    let pending = h.json(&["approve"]).1;
    let text = pending.to_string();
    assert!(
        text.contains("\"surface\":\"web\"") && text.contains("\"origin\":\"agent\""),
        "{text}"
    );
    // Asking for another port while serving is refused with the port in use.
    let other = if port == 65535 { port - 1 } else { port + 1 };
    let out = h.agent(
        &["ui", "--no-open", "--port", &other.to_string()],
        &mut seen,
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&port.to_string()),
        "{}",
        describe(&out)
    );
}

/// The session cookie a login answer set, as a request header line.
fn cookie_of(a: &Answer) -> String {
    let value = a
        .head
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: kovra_ui="))
        .expect("a session cookie");
    format!("Cookie: kovra_ui={}\r\n", &value[..64])
}

#[test]
fn a_hundred_sessions_at_once_and_the_daemon_keeps_serving() {
    let h = Home::init();
    let mut seen = Vec::new();
    let links: Vec<String> = (0..100)
        .map(|_| {
            let out = h.agent(&["--json", "ui", "--no-open"], &mut seen);
            assert!(out.status.success(), "{}", describe(&out));
            let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            doc["url"].as_str().unwrap().to_string()
        })
        .collect();
    let port = port_of(&links[0]);
    // 100 logins at once, then 100 calls at once, each with its own session.
    let host = format!("Host: localhost:{port}\r\n");
    let cookies: Vec<String> = std::thread::scope(|s| {
        let logins: Vec<_> = links
            .iter()
            .map(|link| {
                let path = link[link.find("/login/").unwrap()..].to_string();
                let host = host.clone();
                s.spawn(move || request(port, "GET", &path, &host, b""))
            })
            .collect();
        logins
            .into_iter()
            .map(|t| {
                let a = t.join().unwrap();
                assert_eq!(a.status, 303, "{}", a.head);
                cookie_of(&a)
            })
            .collect()
    });
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let calls: Vec<_> = cookies
            .iter()
            .map(|c| {
                let headers = format!("{host}{c}Sec-Fetch-Site: same-origin\r\n");
                s.spawn(move || request(port, "GET", "/api/status", &headers, b"").status)
            })
            .collect();
        calls.into_iter().map(|t| t.join().unwrap()).collect()
    });
    assert!(statuses.iter().all(|&s| s == 200), "{statuses:?}");
    // Every link was used once; the daemon and the UI still answer.
    let again = &links[7][links[7].find("/login/").unwrap()..];
    assert_eq!(request(port, "GET", again, &host, b"").status, 403);
    h.ok(&["status"]);
    let a = request(
        port,
        "GET",
        "/api/records",
        &format!("{host}{}", cookies[99]),
        b"",
    );
    assert_eq!(a.status, 200, "{}", a.body);
}
