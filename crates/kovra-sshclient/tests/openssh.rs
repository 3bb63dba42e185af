//! kovra-sshclient against a real OpenSSH server (kovra-testsshd: Debian's sshd as the
//! current user on loopback): output, exit status, the pin refusing before any login, scan's
//! fingerprint against `ssh-keygen -l`, refused keys, the output cap, the run timeout, the
//! client and host key types, and a canary key that must not show in any error or outcome.
//!
//! RSA: the test sshd is OpenSSH 9.2, whose defaults (since 8.8) take neither host key
//! signatures nor client logins as `ssh-rsa` (SHA-1), so every RSA test that succeeds here
//! used rsa-sha2-256 or -512.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use kovra_sshclient::{Limits, Outcome, SshError, Stream, Target, exec, scan};
use kovra_testsshd::Sshd;
use zeroize::Zeroizing;

/// A fresh client key of `kind` (`ssh-keygen -t` argument plus options) made by OpenSSH
/// itself: its private half as the daemon would hold it, and its public line.
fn keygen(args: &[&str]) -> (Zeroizing<String>, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("id");
    let made = Command::new("ssh-keygen")
        .args(["-q", "-N", "", "-C", "client"])
        .args(args)
        .arg("-f")
        .arg(&path)
        .output()
        .unwrap();
    assert!(made.status.success(), "ssh-keygen {args:?}");
    let private = Zeroizing::new(std::fs::read_to_string(&path).unwrap());
    let public = std::fs::read_to_string(path.with_extension("pub")).unwrap();
    (private, public.trim_end().to_string())
}

/// The port the test sshd listens on. kovra-testsshd does not expose it directly; the `ssh`
/// command it builds names it after `-p`.
fn port(sshd: &Sshd) -> u16 {
    let cmd = sshd.ssh(Path::new("/dev/null"), Path::new("/dev/null"), &[], "true");
    let args: Vec<String> = cmd
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let at = args.iter().position(|a| a == "-p").unwrap();
    args[at + 1].parse().unwrap()
}

fn me() -> String {
    let out = Command::new("id").arg("-un").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn target(sshd: &Sshd) -> Target {
    Target {
        host: "127.0.0.1".into(),
        port: port(sshd),
        user: me(),
    }
}

fn limits() -> Limits {
    Limits {
        connect_timeout: Duration::from_secs(10),
        run_timeout: Duration::from_secs(20),
        output_cap: 1 << 20,
    }
}

/// What one exec passed to its callback, per stream, and how it ended.
struct Ran {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    result: Result<Outcome, SshError>,
}

fn run(
    sshd: &Sshd,
    pinned: &[String],
    key: &Zeroizing<String>,
    command: &str,
    limits: &Limits,
) -> Ran {
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let result = exec(
        &target(sshd),
        pinned,
        key,
        command,
        limits,
        &mut |stream, data| match stream {
            Stream::Stdout => stdout.extend_from_slice(data),
            Stream::Stderr => stderr.extend_from_slice(data),
        },
    );
    Ran {
        stdout,
        stderr,
        result,
    }
}

fn pin(sshd: &Sshd) -> Vec<String> {
    vec![sshd.host_fingerprint().to_string()]
}

/// sshd writes its log from another process: give it a moment before reading.
fn log_after_a_moment(sshd: &Sshd) -> String {
    std::thread::sleep(Duration::from_millis(300));
    sshd.log()
}

#[test]
fn exec_returns_stdout_stderr_and_the_exit_status() {
    let (key, public) = keygen(&["-t", "ed25519"]);
    let sshd = Sshd::start(&public, "ed25519");
    let ran = run(
        &sshd,
        &pin(&sshd),
        &key,
        "sh -c 'echo out; echo err >&2; exit 3'",
        &limits(),
    );
    let outcome = ran.result.unwrap_or_else(|e| panic!("{e}: {}", sshd.log()));
    assert_eq!(ran.stdout, b"out\n");
    assert_eq!(ran.stderr, b"err\n");
    assert_eq!(outcome.exit_status, Some(3));
    assert_eq!(outcome.exit_signal, None);
    assert!(!outcome.truncated);
    assert!(outcome.elapsed > Duration::ZERO);
    // The control for the pin test below: a login shows in sshd's log.
    assert!(log_after_a_moment(&sshd).contains("Accepted publickey"));
}

#[test]
fn a_killed_command_reports_its_signal() {
    let (key, public) = keygen(&["-t", "ed25519"]);
    let sshd = Sshd::start(&public, "ed25519");
    let ran = run(&sshd, &pin(&sshd), &key, "kill -TERM $$", &limits());
    let outcome = ran.result.unwrap();
    assert_eq!(outcome.exit_signal.as_deref(), Some("TERM"));
    assert_eq!(outcome.exit_status, None);
}

#[test]
fn a_wrong_pin_is_refused_with_the_seen_key_and_before_any_login() {
    let (key, public) = keygen(&["-t", "ed25519"]);
    let sshd = Sshd::start(&public, "ed25519");
    let wrong = vec!["SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_string()];
    let ran = run(&sshd, &wrong, &key, "touch should-not-run", &limits());
    match ran.result {
        Err(SshError::HostKeyChanged { seen }) => {
            assert_eq!(seen.fingerprint, sshd.host_fingerprint());
            assert_eq!(seen.algorithm, "ssh-ed25519");
        }
        other => panic!("expected HostKeyChanged, got {other:?}"),
    }
    // The key is in authorized_keys, so had the client signed, sshd would have logged it.
    let log = log_after_a_moment(&sshd);
    assert!(!log.contains("Accepted publickey"), "{log}");
    assert!(!log.contains("Postponed publickey"), "{log}");
    // No pins at all is the same refusal.
    let ran = run(&sshd, &[], &key, "true", &limits());
    assert!(matches!(ran.result, Err(SshError::HostKeyChanged { .. })));
}

#[test]
fn scan_returns_what_ssh_keygen_prints_for_the_host_key() {
    for host_type in ["ed25519", "ecdsa", "rsa"] {
        let sshd = Sshd::start("", host_type);
        let seen = scan("127.0.0.1", port(&sshd), Duration::from_secs(10)).unwrap();
        assert_eq!(seen.fingerprint, sshd.host_fingerprint(), "{host_type}");
        // testsshd's line ends with the comment "host"; the wire key has none.
        let mut fields = sshd.host_public().split_whitespace();
        let (algorithm, blob) = (fields.next().unwrap(), fields.next().unwrap());
        assert_eq!(seen.algorithm, algorithm);
        assert_eq!(seen.openssh, format!("{algorithm} {blob}"));
        // And it never logged in.
        assert!(!log_after_a_moment(&sshd).contains("Accepted"));
    }
}

#[test]
fn a_key_not_in_authorized_keys_is_refused() {
    let (key, _) = keygen(&["-t", "ed25519"]);
    let (_, other) = keygen(&["-t", "ed25519"]);
    let sshd = Sshd::start(&other, "ed25519");
    let ran = run(&sshd, &pin(&sshd), &key, "true", &limits());
    assert!(
        matches!(ran.result, Err(SshError::AuthRefused)),
        "{:?}",
        ran.result
    );
}

#[test]
fn output_past_the_cap_is_dropped_and_the_command_still_finishes() {
    let (key, public) = keygen(&["-t", "ed25519"]);
    let sshd = Sshd::start(&public, "ed25519");
    let capped = Limits {
        output_cap: 1000,
        ..limits()
    };
    // 4 MiB on stdout, well past the channel's window, then a status that proves the
    // command ran to its end.
    let ran = run(
        &sshd,
        &pin(&sshd),
        &key,
        "head -c 4194304 /dev/zero; echo e >&2; exit 7",
        &capped,
    );
    let outcome = ran.result.unwrap();
    assert_eq!(ran.stdout.len(), 1000);
    assert_eq!(ran.stderr, b"e\n");
    assert!(outcome.truncated);
    assert_eq!(outcome.exit_status, Some(7));
}

#[test]
fn a_command_past_the_run_timeout_is_a_timeout() {
    let (key, public) = keygen(&["-t", "ed25519"]);
    let sshd = Sshd::start(&public, "ed25519");
    let short = Limits {
        run_timeout: Duration::from_secs(3),
        ..limits()
    };
    let started = Instant::now();
    let ran = run(&sshd, &pin(&sshd), &key, "echo early; sleep 20", &short);
    assert!(
        matches!(ran.result, Err(SshError::Timeout)),
        "{:?}",
        ran.result
    );
    assert!(started.elapsed() < Duration::from_secs(12));
    // What came before the timeout was passed on as it arrived.
    assert_eq!(ran.stdout, b"early\n");
}

#[test]
fn ed25519_ecdsa_and_rsa_client_keys_log_in() {
    for args in [
        &["-t", "ed25519"][..],
        &["-t", "ecdsa", "-b", "256"][..],
        &["-t", "ecdsa", "-b", "384"][..],
        &["-t", "rsa", "-b", "2048"][..],
        &["-t", "rsa", "-b", "3072"][..],
    ] {
        let (key, public) = keygen(args);
        let sshd = Sshd::start(&public, "ed25519");
        let ran = run(&sshd, &pin(&sshd), &key, "echo hi", &limits());
        let outcome = ran
            .result
            .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", sshd.log()));
        assert_eq!(outcome.exit_status, Some(0), "{args:?}");
        assert_eq!(ran.stdout, b"hi\n", "{args:?}");
    }
}

#[test]
fn ecdsa_and_rsa_host_keys_are_pinned_like_ed25519() {
    for host_type in ["ecdsa", "rsa"] {
        let (key, public) = keygen(&["-t", "ed25519"]);
        let sshd = Sshd::start(&public, host_type);
        let ran = run(&sshd, &pin(&sshd), &key, "true", &limits());
        let outcome = ran
            .result
            .unwrap_or_else(|e| panic!("{host_type}: {e}: {}", sshd.log()));
        assert_eq!(outcome.exit_status, Some(0), "{host_type}");
        let wrong = vec!["SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_string()];
        let ran = run(&sshd, &wrong, &key, "true", &limits());
        assert!(
            matches!(&ran.result, Err(SshError::HostKeyChanged { seen })
                if seen.fingerprint == sshd.host_fingerprint()),
            "{host_type}: {:?}",
            ran.result
        );
    }
}

/// Both halves RSA: an RSA key logging in to a host whose only host key is RSA.
#[test]
fn an_rsa_client_key_logs_in_to_an_rsa_host() {
    let (key, public) = keygen(&["-t", "rsa", "-b", "2048"]);
    let sshd = Sshd::start(&public, "rsa");
    let ran = run(&sshd, &pin(&sshd), &key, "echo rsa", &limits());
    let outcome = ran.result.unwrap_or_else(|e| panic!("{e}: {}", sshd.log()));
    assert_eq!(outcome.exit_status, Some(0));
    assert_eq!(ran.stdout, b"rsa\n");
    assert!(log_after_a_moment(&sshd).contains("Accepted publickey"));
}

#[test]
fn unusable_keys_and_unreachable_hosts_are_named() {
    let (locked, public) = keygen(&["-t", "ed25519", "-N", "passphrase"]);
    let sshd = Sshd::start(&public, "ed25519");
    let ran = run(&sshd, &pin(&sshd), &locked, "true", &limits());
    assert!(matches!(ran.result, Err(SshError::BadKey(_))));
    // DSA (which OpenSSH itself no longer offers by default) is not a type this client signs
    // with: refused before connecting.
    let (dsa, _) = keygen(&["-t", "dsa"]);
    let ran = run(&sshd, &pin(&sshd), &dsa, "true", &limits());
    assert!(
        matches!(ran.result, Err(SshError::BadKey(_))),
        "{:?}",
        ran.result
    );

    let (key, _) = keygen(&["-t", "ed25519"]);
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let nowhere = Target {
        host: "127.0.0.1".into(),
        port: closed,
        user: me(),
    };
    let result = exec(&nowhere, &[], &key, "true", &limits(), &mut |_, _| {});
    assert!(
        matches!(result, Err(SshError::Unreachable(_))),
        "{result:?}"
    );
    assert!(matches!(
        scan("127.0.0.1", closed, Duration::from_secs(5)),
        Err(SshError::Unreachable(_))
    ));
}

#[test]
fn a_server_that_never_speaks_is_a_connect_timeout() {
    // The kernel completes the TCP handshake into the backlog; nobody ever answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let (key, _) = keygen(&["-t", "ed25519"]);
    let quick = Limits {
        connect_timeout: Duration::from_millis(500),
        ..limits()
    };
    let at = Target {
        host: "127.0.0.1".into(),
        port,
        user: me(),
    };
    let started = Instant::now();
    let result = exec(&at, &[], &key, "true", &quick, &mut |_, _| {});
    assert!(matches!(result, Err(SshError::Timeout)), "{result:?}");
    let scanned = scan("127.0.0.1", port, Duration::from_millis(500));
    assert!(matches!(scanned, Err(SshError::Timeout)), "{scanned:?}");
    assert!(started.elapsed() < Duration::from_secs(4));
}

#[test]
fn inside_an_async_runtime_it_refuses_instead_of_panicking() {
    let (key, _) = keygen(&["-t", "ed25519"]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let result = rt.block_on(async {
        let at = Target {
            host: "127.0.0.1".into(),
            port: 1,
            user: me(),
        };
        exec(&at, &[], &key, "true", &limits(), &mut |_, _| {})
    });
    assert!(matches!(result, Err(SshError::Protocol(_))), "{result:?}");
}

/// A key built from a canary seed, used on every path (refused, wrong pin, unreachable,
/// timeout, success): no error's or outcome's Display or Debug shows the seed, in any
/// encoding, or any line of the key's text.
#[test]
fn no_error_or_outcome_shows_the_key() {
    use ssh_key::{LineEnding, PrivateKey, private::Ed25519Keypair};

    let seed = *b"kovra-canary-sshclient-seed-0001";
    let key = PrivateKey::from(Ed25519Keypair::from_seed(&seed));
    let text: Zeroizing<String> = key.to_openssh(LineEnding::LF).unwrap();
    let public = key.public_key().to_openssh().unwrap();
    let mut forbidden: Vec<String> = vec![
        "kovra-canary".into(),
        hex::encode(seed),
        hex::encode(&seed[..8]),
    ];
    forbidden.extend(
        text.lines()
            .filter(|l| !l.starts_with("-----"))
            .map(str::to_string),
    );

    let mut shown = Vec::new();
    let mut show = |what: String| shown.push(what);

    let sshd = Sshd::start("", "ed25519");
    // Refused: not authorized yet.
    let ran = run(&sshd, &pin(&sshd), &text, "true", &limits());
    assert!(matches!(ran.result, Err(SshError::AuthRefused)));
    show(format!(
        "{:?} {}",
        ran.result,
        ran.result.as_ref().unwrap_err()
    ));
    // A wrong pin.
    let ran = run(&sshd, &["SHA256:x".into()], &text, "true", &limits());
    assert!(matches!(ran.result, Err(SshError::HostKeyChanged { .. })));
    show(format!(
        "{:?} {}",
        ran.result,
        ran.result.as_ref().unwrap_err()
    ));
    // Authorized: success, then a timeout.
    sshd.authorize(&public);
    let ran = run(&sshd, &pin(&sshd), &text, "echo ok", &limits());
    let outcome = ran.result.unwrap();
    assert_eq!(outcome.exit_status, Some(0));
    show(format!("{outcome:?}"));
    let short = Limits {
        run_timeout: Duration::from_millis(300),
        ..limits()
    };
    let ran = run(&sshd, &pin(&sshd), &text, "sleep 5", &short);
    assert!(matches!(ran.result, Err(SshError::Timeout)));
    show(format!(
        "{:?} {}",
        ran.result,
        ran.result.as_ref().unwrap_err()
    ));
    // Unreachable.
    let nowhere = Target {
        host: "127.0.0.1".into(),
        port: 1,
        user: me(),
    };
    let result = exec(&nowhere, &[], &text, "true", &limits(), &mut |_, _| {});
    show(format!("{:?} {}", result, result.as_ref().unwrap_err()));
    // A damaged key.
    let damaged = Zeroizing::new(text.replace("AAAA", "A*A*"));
    let result = exec(
        &target(&sshd),
        &[],
        &damaged,
        "true",
        &limits(),
        &mut |_, _| {},
    );
    assert!(matches!(result, Err(SshError::BadKey(_))));
    show(format!("{:?} {}", result, result.as_ref().unwrap_err()));

    assert_eq!(shown.len(), 6);
    for s in &shown {
        for f in &forbidden {
            assert!(!s.contains(f.as_str()), "key material in {s:?}");
        }
    }
}
