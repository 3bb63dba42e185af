//! Listeners bound to one grant (an agent profile's port, a sandbox's socket): a request
//! without a credential is the grant's, every request is held to the grant's egress whatever
//! credential it carries, domain allowlists, and a dropped listener stops serving.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use kovra_proxy::Egress;

const CANARY: &str = "sk-real-CANARY-b0und-4c1e9f";

/// curl through `127.0.0.1:port`, with `token` as the proxy credential when given.
fn via(f: &Fixture, port: u16, token: Option<&str>, args: &[&str]) -> Curl {
    let mut c = curl_cmd();
    let proxy = match token {
        Some(t) => format!("http://kovra:{t}@127.0.0.1:{port}"),
        None => format!("http://127.0.0.1:{port}"),
    };
    c.arg("-x").arg(proxy).arg("--cacert").arg(&f.bundle);
    c.args(args);
    run_curl(c)
}

#[test]
fn a_bound_port_serves_its_grant_without_a_credential_and_holds_every_request_to_its_egress() {
    let f = fixture();
    let s = swap(bearer(), CANARY);
    let ph = s.placeholder.clone();
    f.proxy
        .register(grant(1, "profile", Egress::PinnedOnly, vec![s]));
    f.proxy.register(grant(2, "open-run", Egress::Open, vec![]));
    let bound = f.proxy.listen_tcp(0, 1).unwrap();
    let auth = format!("Authorization: Bearer {ph}");
    // No credential: the grant's own; its placeholder is swapped towards its provider.
    let out = via(
        &f,
        bound.port(),
        None,
        &["-H", &auth, "https://api.example.test/echo"],
    );
    assert_eq!(out.status, 200, "{out:?}");
    assert!(f.upstream.seen_any(CANARY), "the upstream got the value");
    assert!(!out.body.contains(CANARY), "{out:?}");
    // The proxy's own port still wants a credential.
    let out = f.curl(None, false, &["https://api.example.test/echo"]);
    assert_eq!(out.connect_status, 407, "{out:?}");
    // A run with open egress, through the bound port: the grant's pinned-only holds.
    let url = format!("https://127.0.0.1:{}/echo", f.upstream.addr.port());
    let out = via(&f, bound.port(), Some("open-run"), &[&url]);
    assert_eq!(out.connect_status, 403, "{out:?}");
    // The same run on the proxy's own port may tunnel there.
    let out = f.curl(Some("open-run"), false, &[&url]);
    assert_eq!(out.status, 200, "{out:?}");
    // A wrong credential on the bound port is not the grant's: 407.
    let out = via(
        &f,
        bound.port(),
        Some("wrong"),
        &["https://api.example.test/echo"],
    );
    assert_eq!(out.connect_status, 407, "{out:?}");
    // Dropped: the port closes.
    let port = bound.port();
    drop(bound);
    // The listener closes when the runtime next polls its aborted task.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "the dropped port still accepts after 5 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn a_domain_allowlist_admits_its_domains_and_their_subdomains_only() {
    let f = fixture();
    let url = format!("https://127.0.0.1:{}/echo", f.upstream.addr.port());
    f.proxy.register(grant(
        1,
        "listed",
        Egress::Domains(vec!["127.0.0.1".to_string()].into()),
        vec![],
    ));
    f.proxy.register(grant(
        2,
        "elsewhere",
        Egress::Domains(vec!["example.org".to_string()].into()),
        vec![],
    ));
    let out = f.curl(Some("listed"), false, &[&url]);
    assert_eq!(out.status, 200, "{out:?}");
    let out = f.curl(Some("elsewhere"), false, &[&url]);
    assert_eq!(out.connect_status, 403, "{out:?}");
    let out = f.curl(Some("elsewhere"), false, &["http://notexample.org/x"]);
    assert_eq!(out.status, 403, "{out:?}");
}

#[test]
fn a_bound_unix_socket_serves_its_grant_and_is_removed_when_dropped() {
    let f = fixture();
    f.proxy.register(grant(1, "g", Egress::PinnedOnly, vec![]));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("egress.sock");
    let bound = f.proxy.listen_unix(&path, 1).unwrap();
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&path).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    // A CONNECT to a host outside the grant's egress, spoken by hand over the socket.
    use std::io::{Read, Write};
    let mut s = std::os::unix::net::UnixStream::connect(&path).unwrap();
    s.write_all(b"CONNECT elsewhere.example:443 HTTP/1.1\r\nHost: elsewhere.example:443\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 256];
    let n = s.read(&mut buf).unwrap();
    let head = String::from_utf8_lossy(&buf[..n]);
    assert!(head.starts_with("HTTP/1.1 403"), "{head}");
    drop(bound);
    assert!(!path.exists());
}

/// `curl` as the user `nobody` (another uid; the tests run as root, as for the daemon's
/// peer tests).
fn as_nobody_curl(args: &[&str]) -> Curl {
    let mut c = std::process::Command::new("setpriv");
    c.args([
        "--reuid=nobody",
        "--regid=nogroup",
        "--clear-groups",
        "curl",
        "-sS",
        "--max-time",
        "10",
        "--noproxy",
        "*",
        "-w",
        "\n%{http_code} %{http_connect}",
    ]);
    c.args(args);
    run_curl(c)
}

/// Review: a profile's grant token is fixed for the daemon's life and `kovra agent env`
/// prints it inside a base URL (`OPENAI_BASE_URL=http://127.0.0.1:PORT/kovra/TOKEN/…`) for a
/// dotenv file, which other users of the machine may be able to read. The proxy's own port
/// checked no peer, so another user with that line and the placeholder beside it had the
/// human's credential used for them. Only our own uid is served, on every port.
#[test]
fn the_proxys_own_port_serves_no_other_user_even_with_a_credential() {
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        std::fs::metadata("/proc/self").unwrap().uid(),
        0,
        "this test connects as another user: run it as root"
    );
    let f = fixture();
    let s = swap(bearer(), CANARY);
    let ph = s.placeholder.clone();
    f.proxy
        .register(grant(1, "profile-token", Egress::PinnedOnly, vec![s]));
    let url = format!("http://{}/kovra/profile-token/bearer/echo", f.proxy.addr());
    let auth = format!("Authorization: Bearer {ph}");
    let theirs = as_nobody_curl(&["-H", &auth, &url]);
    assert_ne!(theirs.status, 200, "{theirs:?}");
    assert!(
        !f.upstream.seen_any(CANARY),
        "another user's request reached the upstream with the value"
    );
    // Our own uid, the same request: served.
    let mut c = curl_cmd();
    c.args(["-H", &auth, &url]);
    let ours = run_curl(c);
    assert_eq!(ours.status, 200, "{ours:?}");
    assert!(f.upstream.seen_any(CANARY));
}

#[test]
fn through_a_bound_listener_even_open_egress_never_reaches_the_machines_own_addresses() {
    let f = fixture();
    f.proxy.register(grant(1, "any", Egress::Open, vec![]));
    let bound = f.proxy.listen_tcp(0, 1).unwrap();
    let port = f.upstream.addr.port();
    for target in [
        format!("https://127.0.0.1:{port}/echo"),
        format!("https://localhost:{port}/echo"),
        format!("https://[::1]:{port}/echo"),
    ] {
        let out = via(&f, bound.port(), None, &[&target]);
        assert_eq!(out.connect_status, 403, "{target}: {out:?}");
    }
    let out = via(
        &f,
        bound.port(),
        None,
        &[&format!("http://127.0.0.1:{port}/echo")],
    );
    assert_eq!(out.status, 403, "{out:?}");
    assert!(
        f.upstream.seen().is_empty(),
        "nothing reached the loopback upstream"
    );
    // The same grant's credential on the proxy's own port (a run outside any sandbox, which
    // reaches loopback by itself anyway) still tunnels there.
    let out = f.curl(
        Some("any"),
        false,
        &[&format!("https://127.0.0.1:{port}/echo")],
    );
    assert_eq!(out.status, 200, "{out:?}");
}
