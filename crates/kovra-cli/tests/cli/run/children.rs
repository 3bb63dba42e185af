//! Real children: injection, exit codes and signal deaths, stdin, streaming, signal
//! forwarding, and a child that outlives neither its reader nor its client.

use super::*;

// ---------------------------------------------------------------------------------------
// Real children: injection, exit codes, signals, stdin, streaming
// ---------------------------------------------------------------------------------------

/// The daemon starts a child in its caller's directory from a thread of its own, which moves
/// there only for the spawn (`os::spawn_in`): every run sees its own directory, and no
/// daemon thread is left holding a caller's directory afterwards.
#[test]
fn each_run_starts_in_its_callers_directory_and_the_daemon_keeps_none() {
    let (p, _) = with_token("cwd");
    let refs = p.dir.join(".env.refs").display().to_string();
    let deeper = p.dir.join("deeper dir");
    std::fs::create_dir(&deeper).unwrap();
    for dir in [&p.dir, &deeper] {
        let mut cmd = p.cmd(&["run", "--env", "dev", "--refs", &refs, "--", "pwd", "-P"]);
        cmd.current_dir(dir);
        let out = p.h.run_with(cmd, None);
        assert_exit(&out, 0, "pwd in a run");
        let want = dir.canonicalize().unwrap();
        assert_eq!(stdout(&out).trim_end(), want.display().to_string());
    }
    let pid = p.h.daemon_pid().expect("the daemon");
    let deeper = deeper.canonicalize().unwrap();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let cwd = std::fs::read_link(task.unwrap().path().join("cwd")).unwrap();
        assert_ne!(cwd, deeper, "a daemon thread kept a run's directory");
    }
}

#[test]
fn sh_python_and_cat_children_receive_the_values_without_printing_them() {
    let (p, value) = with_token("inject");
    let want = sha256_hex(value.as_bytes());

    // sh: hash and length, computed by the child.
    let out = p.expect(
        0,
        &run_dev(&[
            "sh",
            "-c",
            "printf %s \"$TOKEN\" | sha256sum; echo \"len=${#TOKEN}\"",
        ]),
    );
    let text = stdout(&out);
    assert!(text.starts_with(&want), "sh saw another value: {text}");
    assert!(text.contains(&format!("len={}", value.len())), "{text}");

    // python3: the same hash, from os.environ.
    let out = p.expect(0, &run_dev(&["python3", "-c", PY_SHA_OF, "TOKEN"]));
    assert_eq!(stdout(&out).trim(), want, "{}", describe(&out));

    // The working directory and argv reach the child intact (spaces, empty strings, dashes).
    let out = p.expect(
        0,
        &run_dev(&[
            "python3",
            "-c",
            "import os,sys,json;print(json.dumps([os.getcwd()]+sys.argv[1:]))",
            "a b",
            "",
            "--x",
            "$TOKEN",
        ]),
    );
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    let cwd = p.dir.canonicalize().unwrap().display().to_string();
    assert_eq!(got, json!([cwd, "a b", "", "--x", "$TOKEN"]));

    // cat: stdin passes through unchanged.
    let input = b"hello\nworld, from stdin\n\tno secret here\n";
    let out = p.run_stdin(&run_dev(&["cat"]), input);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(out.stdout, input);

    // The audit names each injection: the variable and the executable.
    let injected = p.injections("allow");
    assert_eq!(injected.len(), 4, "{injected:?}");
    assert!(
        injected
            .iter()
            .all(|e| e["coordinate"] == "secret:dev/app/token"
                && e["detail"].as_str().unwrap().starts_with("TOKEN into ")),
        "{injected:?}"
    );
    assert_not_printed(&p.h, &value, "the injected value");
}

#[test]
fn the_childs_exit_code_and_signal_death_become_kovras_exit_code() {
    let (p, value) = with_token("exit");
    let cases: &[(&[&str], i32)] = &[
        (&["sh", "-c", "exit 0"], 0),
        (&["sh", "-c", "exit 3"], 3),
        (&["sh", "-c", "exit 42"], 42),
        (&["sh", "-c", "exit 255"], 255),
        (&["python3", "-c", "import sys; sys.exit(42)"], 42),
        (&["sh", "-c", "kill -TERM $$"], 143),
        (&["sh", "-c", "kill -KILL $$"], 137),
        (&["sh", "-c", "kill -INT $$"], 130),
        (&["sh", "-c", "kill -HUP $$"], 129),
        (
            &[
                "python3",
                "-c",
                "import os,signal; os.kill(os.getpid(), signal.SIGSEGV)",
            ],
            139,
        ),
        (&["false"], 1),
        (&["true"], 0),
    ];
    for (argv, code) in cases {
        let out = p.run(&run_dev(argv));
        assert_exit(&out, *code, format!("{argv:?}"));
        // A child's own failure is not dressed up as a kovra error.
        assert!(
            !stderr(&out).contains("kovra: error"),
            "{argv:?}: {}",
            describe(&out)
        );
    }
    assert_not_printed(&p.h, &value, "the injected value");
}

#[test]
fn large_stdin_through_cat_arrives_complete_with_the_value_masked() {
    let (p, value) = with_token("cat");
    // ~3 MiB of arbitrary bytes, with the value planted at many offsets, including across
    // every 64 KiB boundary (the relay's read size) and at the very start and end.
    let mut data = Vec::new();
    let mut state: u64 = 0x9e3779b97f4a7c15;
    let mut plants = 0;
    while data.len() < 3 << 20 {
        let boundary = (data.len() / 65536 + 1) * 65536;
        let before = boundary.saturating_sub(data.len() + value.len() / 2);
        for _ in 0..before.min(40_000) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            data.push((state >> 24) as u8);
        }
        data.extend_from_slice(value.as_bytes());
        plants += 1;
    }
    let input_file = p.h.root.join("cat-input");
    std::fs::write(&input_file, &data).unwrap();
    let mut c = p.cmd(&run_dev(&["cat"]));
    c.stdin(std::fs::File::open(&input_file).unwrap())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = c.spawn().unwrap().wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let marker = b"[kovra:TOKEN]";
    let mut expected = Vec::with_capacity(data.len());
    let mut rest = &data[..];
    while let Some(at) = rest
        .windows(value.len())
        .position(|w| w == value.as_bytes())
    {
        expected.extend_from_slice(&rest[..at]);
        expected.extend_from_slice(marker);
        rest = &rest[at + value.len()..];
    }
    expected.extend_from_slice(rest);
    assert_eq!(
        out.stdout
            .windows(marker.len())
            .filter(|w| w == marker)
            .count(),
        plants
    );
    assert!(
        out.stdout == expected,
        "the output differs from the input with each value replaced by its marker \
         ({} bytes vs {} expected)",
        out.stdout.len(),
        expected.len()
    );
    assert!(!contains(&out.stdout, value.as_bytes()));
}

#[test]
fn output_streams_while_the_child_runs() {
    let (p, value) = with_token("stream");
    let started = Instant::now();
    let mut live = Live::start(p.cmd(&run_dev(&[
        "sh",
        "-c",
        "echo \"first line ${#TOKEN}\"; printf 'prompt> '; sleep 5; echo; echo second line",
    ])));
    let first = live.wait_for("first line", Duration::from_secs(10));
    let prompt = live.wait_for("prompt> ", Duration::from_secs(10));
    let done = live.finish(&p.h, Duration::from_secs(15));
    assert_eq!(done.status.code(), Some(0), "{}", done.describe());
    let text = String::from_utf8_lossy(&done.out);
    assert_eq!(
        text,
        format!("first line {}\nprompt> \nsecond line\n", value.len())
    );
    // The first line and a prompt without a newline arrive while the child sleeps, not
    // when it exits.
    for (what, at) in [("first line", first), ("prompt", prompt)] {
        let early = done.exited_at.saturating_duration_since(at);
        assert!(
            early >= Duration::from_millis(1500),
            "{what} arrived only {early:?} before the end (started {:?} before it)",
            at.saturating_duration_since(started)
        );
    }
}

#[test]
fn a_reader_that_goes_away_stops_the_child() {
    let (p, _) = with_token("pipe");
    // `yes | head -1`: once our end of the pipe is closed, the child must not run forever.
    let mut c = p.cmd(&run_dev(&["yes", "still here"]));
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = c.spawn().unwrap();
    let mut so = child.stdout.take().unwrap();
    let mut buf = [0u8; 64];
    let n = so.read(&mut buf).unwrap();
    assert!(n > 0 && buf.starts_with(b"still here"));
    drop(so);
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("kovra run kept going after its stdout was closed");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // `yes` dies of SIGPIPE (141) or stops on the write error; either way not a success.
    assert_ne!(status.code(), Some(0));
}

#[test]
fn sigint_to_kovra_stops_a_python_http_server_and_kovra_exits_with_its_status() {
    let (p, value) = with_token("http");
    let mut live = Live::start(p.cmd(&run_dev(&[
        "sh",
        "-c",
        "echo \"pid=$$\"; exec python3 -u -m http.server 0 --bind 127.0.0.1",
    ])));
    live.wait_for("Serving HTTP on 127.0.0.1 port ", Duration::from_secs(20));
    let server: i32 = live.line_after("pid=").trim().parse().unwrap();
    let port: u16 = live
        .line_after("port ")
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    // It really serves: a request gets an answer through the child.
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    conn.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let mut reply = Vec::new();
    conn.read_to_end(&mut reply).unwrap();
    assert!(
        reply.starts_with(b"HTTP/1.0 200"),
        "{}",
        String::from_utf8_lossy(&reply)
    );
    assert!(alive(server));

    // Ctrl-C, as a shell delivers it to the foreground command: SIGINT to the kovra client.
    wait_catching(live.pid(), Signal::SIGINT, Duration::from_secs(10));
    let sent = Instant::now();
    kill(live.pid(), Signal::SIGINT).unwrap();
    let done = live.finish(&p.h, Duration::from_secs(10));
    assert!(
        done.exited_at.duration_since(sent) < Duration::from_secs(5),
        "took {:?}",
        done.exited_at.duration_since(sent)
    );
    // http.server catches KeyboardInterrupt, says so, and exits 0: kovra passes that on.
    let text = String::from_utf8_lossy(&done.out);
    assert!(
        text.contains("Keyboard interrupt received, exiting."),
        "the server did not see a SIGINT: {}",
        done.describe()
    );
    assert!(
        matches!(done.status.code(), Some(0) | Some(130)),
        "{}",
        done.describe()
    );
    assert!(
        wait_gone(server, Duration::from_secs(3)),
        "the server survived"
    );
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
    assert_not_printed(&p.h, &value, "the injected value");
}

#[test]
fn signals_to_kovra_reach_the_child_and_its_status_comes_back() {
    let (p, _) = with_token("signals");
    // A child with the default disposition dies of the signal: 128 + N.
    for (sig, code) in [
        (Signal::SIGINT, 130),
        (Signal::SIGTERM, 143),
        (Signal::SIGHUP, 129),
        (Signal::SIGQUIT, 131),
    ] {
        let mut live =
            Live::start(p.cmd(&run_dev(&["sh", "-c", "echo \"pid=$$\"; exec sleep 30"])));
        live.wait_for("pid=", Duration::from_secs(10));
        let child: i32 = live.line_after("pid=").trim().parse().unwrap();
        wait_comm(child, "sleep", Duration::from_secs(10));
        wait_catching(live.pid(), sig, Duration::from_secs(10));
        kill(live.pid(), sig).unwrap();
        let done = live.finish(&p.h, Duration::from_secs(10));
        assert_eq!(
            done.status.code(),
            Some(code),
            "{sig:?}: {}",
            done.describe()
        );
        assert!(!alive(child), "{sig:?}: the child survived");
    }
    // A child that handles the signal exits with its own code, which kovra passes on.
    let mut live = Live::start(p.cmd(&run_dev(&[
        "python3",
        "-u",
        "-c",
        "import signal,sys,time\n\
         signal.signal(signal.SIGINT, lambda *a: sys.exit(42))\n\
         print('ready')\n\
         time.sleep(30)",
    ])));
    live.wait_for("ready", Duration::from_secs(10));
    wait_catching(live.pid(), Signal::SIGINT, Duration::from_secs(10));
    kill(live.pid(), Signal::SIGINT).unwrap();
    let done = live.finish(&p.h, Duration::from_secs(10));
    assert_eq!(done.status.code(), Some(42), "{}", done.describe());
    // Python's own KeyboardInterrupt: it re-raises SIGINT on exit, so 130.
    let mut live = Live::start(p.cmd(&run_dev(&[
        "python3",
        "-u",
        "-c",
        "import time\nprint('ready')\ntime.sleep(30)",
    ])));
    live.wait_for("ready", Duration::from_secs(10));
    wait_catching(live.pid(), Signal::SIGINT, Duration::from_secs(10));
    kill(live.pid(), Signal::SIGINT).unwrap();
    let done = live.finish(&p.h, Duration::from_secs(10));
    assert_eq!(done.status.code(), Some(130), "{}", done.describe());
    assert!(
        String::from_utf8_lossy(&done.err).contains("KeyboardInterrupt"),
        "{}",
        done.describe()
    );
}

#[test]
fn a_killed_client_takes_its_child_with_it() {
    let (p, _) = with_token("orphan");
    let mut live = Live::start(p.cmd(&run_dev(&["sh", "-c", "echo \"pid=$$\"; exec sleep 60"])));
    live.wait_for("pid=", Duration::from_secs(10));
    let child: i32 = live.line_after("pid=").trim().parse().unwrap();
    assert!(alive(child));
    kill(live.pid(), Signal::SIGKILL).unwrap();
    let _ = live.finish(&p.h, Duration::from_secs(5));
    assert!(
        wait_gone(child, Duration::from_secs(6)),
        "the child outlived its kovra client"
    );
}

#[test]
fn a_child_that_closed_its_output_still_gets_signals_and_its_status_comes_back() {
    let (p, _) = with_token("closed");
    // Its output ends at once; the run is not over until it exits.
    let mut live = Live::start(p.cmd(&run_dev(&[
        "sh",
        "-c",
        "echo \"pid=$$\"; exec >&- 2>&-; exec sleep 30",
    ])));
    live.wait_for("pid=", Duration::from_secs(10));
    let child: i32 = live.line_after("pid=").trim().parse().unwrap();
    wait_comm(child, "sleep", Duration::from_secs(10));
    wait_catching(live.pid(), Signal::SIGTERM, Duration::from_secs(10));
    kill(live.pid(), Signal::SIGTERM).unwrap();
    let done = live.finish(&p.h, Duration::from_secs(10));
    assert_eq!(done.status.code(), Some(143), "{}", done.describe());
    assert!(!alive(child), "the child survived");
}

#[test]
fn output_held_open_by_a_grandchild_ends_shortly_after_the_child() {
    let (p, _) = with_token("grandchild");
    // The background sleep keeps stdout and stderr open long after `sh` has exited.
    let started = std::time::Instant::now();
    let mut live = Live::start(p.cmd(&run_dev(&[
        "sh",
        "-c",
        "sleep 20 & echo \"done $!\"; exit 3",
    ])));
    live.wait_for("done ", Duration::from_secs(10));
    let grandchild: i32 = live.line_after("done ").trim().parse().unwrap();
    let done = live.finish(&p.h, Duration::from_secs(10));
    assert_eq!(done.status.code(), Some(3), "{}", done.describe());
    // When kovra exited, not when this test finished reading what was left.
    let took = done.exited_at - started;
    assert!(
        took < Duration::from_secs(10),
        "kovra waited for the grandchild: {took:?}"
    );
    let _ = kill(Pid::from_raw(grandchild), Signal::SIGKILL);
}
