//! A client on `KOVRA_AGENT_SOCKET` does not authenticate its peer (inside a sandbox the
//! daemon's process is invisible), so it must never send a passphrase or a two-factor code
//! there (docs/protocol.md §13.1). A listener at that path records what each command sends.

use std::io::Read;
use std::os::unix::net::UnixListener;
use std::time::Duration;

use crate::harness::*;

/// Everything one command sent to a listener at `KOVRA_AGENT_SOCKET`.
fn sent_by(h: &Home, args: &[&str]) -> Vec<u8> {
    let path = h.root.join("impostor.sock");
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).unwrap();
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        listener.set_nonblocking(false).unwrap();
        // Each connection in turn, read until the client stops writing, then hung up.
        while let Ok((mut s, _)) = listener.accept() {
            s.set_read_timeout(Some(Duration::from_millis(500)))
                .unwrap();
            let mut buf = [0u8; 4096];
            while let Ok(n) = s.read(&mut buf) {
                if n == 0 {
                    break;
                }
                all.extend_from_slice(&buf[..n]);
            }
            if all.ends_with(b"\n--done--") {
                break;
            }
        }
        all
    });
    let mut c = h.cmd(args);
    c.env("KOVRA_AGENT_SOCKET", &path);
    let out = h.run_with(c, None);
    assert_ne!(out.status.code(), Some(0), "{args:?}: {}", describe(&out));
    // Wake the reader for good.
    if let Ok(mut s) = std::os::unix::net::UnixStream::connect(&path) {
        use std::io::Write;
        let _ = s.write_all(b"\n--done--");
    }
    reader.join().unwrap()
}

#[test]
fn no_code_or_passphrase_goes_to_an_agent_socket() {
    let h = Home::new();
    let code_file = h.root.join("code");
    std::fs::write(&code_file, "493817\n").unwrap();
    let pass_file = h.root.join("pass");
    std::fs::write(&pass_file, "typed-passphrase-5521\n").unwrap();
    let new_file = h.root.join("new");
    std::fs::write(&new_file, "new-passphrase-77123\n").unwrap();
    let code = code_file.to_str().unwrap();
    let pass = pass_file.to_str().unwrap();
    let new = new_file.to_str().unwrap();
    for args in [
        vec!["2fa", "confirm", "--code-file", code],
        vec![
            "2fa",
            "disable",
            "--passphrase-file",
            pass,
            "--code-file",
            code,
        ],
        vec![
            "passwd",
            "--passphrase-file",
            pass,
            "--new-passphrase-file",
            new,
        ],
    ] {
        let sent = sent_by(&h, &args);
        for secret in ["493817", "typed-passphrase-5521", "new-passphrase-77123"] {
            assert!(
                !contains(&sent, secret.as_bytes())
                    && !contains(
                        &sent,
                        base64::Engine::encode(
                            &base64::engine::general_purpose::STANDARD,
                            secret.as_bytes()
                        )
                        .as_bytes()
                    ),
                "{args:?} sent {secret} to the agent socket: {}",
                String::from_utf8_lossy(&sent)
            );
        }
    }
}
