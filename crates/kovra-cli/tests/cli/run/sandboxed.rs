//! A run asked for from inside a bubblewrap sandbox starts inside it (docs/protocol.md
//! §11.1): the daemon finds the program and the working directory as the sandbox shows
//! them, and the child, holding the injected value, sees the sandbox's files, processes and
//! network, never the vault's home or the daemon's /tmp. Such a run is never allowlisted.
//! The client inside is `tests/support/raw_run.py`, speaking the protocol as the CLI does
//! (the CLI itself cannot yet authenticate a daemon from inside a pid namespace).

use super::*;

/// In a bubblewrap sandbox that hides /tmp (and so the vault's home, and the daemon's own
/// temporary files) but shows the project directory, the daemon's socket and the client
/// (which may live under /tmp too, in a copy for another user): run the shell
/// command `prepare`, then ask the daemon, as an agent, for a run of `argv` in the project
/// directory with `refs`. The output is the sandbox's: the run's own, then the client's
/// (an error reply's JSON on stderr, exit 100).
fn run_in_sandbox(p: &Proj, prepare: &str, argv: &[&str], refs: &str) -> Output {
    let socket = socket_files(&p.h).pop().expect("the daemon's socket");
    let envelope = json!({
        "v": kovra_proto::PROTOCOL_VERSION,
        "context": {"surface": "cli", "origin": "agent"},
        "request": {
            "op": "run",
            "argv": argv,
            "cwd": p.dir,
            "env": [["PATH", "/usr/bin:/bin"]],
            "refs": refs,
            "refs_path": ".env.refs",
            "env_name": "dev",
        },
    });
    let client = support_dir().join("raw_run.py");
    let inside = format!(
        "{prepare} && exec python3 {client} {socket} '{envelope}'",
        client = client.display(),
        socket = socket.display(),
    );
    let mut bwrap = Command::new("bwrap");
    bwrap
        .args(["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"])
        .args(["--tmpfs", "/tmp", "--bind"])
        .args([&p.dir, &p.dir])
        .arg("--bind")
        .args([&socket, &socket])
        .arg("--ro-bind")
        .args([&client, &client])
        .args([
            "--unshare-pid",
            "--unshare-net",
            "--unshare-ipc",
            "--unshare-uts",
        ])
        .args(["--die-with-parent", "--chdir"])
        .arg(&p.dir)
        .args(["--", "sh", "-c", &inside]);
    p.h.run_with(bwrap, None)
}

#[test]
fn a_run_asked_for_inside_a_sandbox_starts_inside_it() {
    let (p, value) = with_token("sandboxed");
    let want = sha256_hex(value.as_bytes());
    // Something of the daemon's own /tmp that the sandbox must not show.
    let outside = tempfile::NamedTempFile::new_in("/tmp").expect("tempfile");
    // The program exists only inside: the client copies it into the sandbox's /tmp.
    let tool = p.dir.join("tool.sh");
    std::fs::write(
        &tool,
        format!(
            "#!/bin/sh\n\
             echo cwd=$(pwd)\n\
             printf %s \"$TOKEN\" | sha256sum | cut -d' ' -f1 | sed 's/^/token=/'\n\
             test -e {home} && echo home-visible || echo home-absent\n\
             test -e {outside} && echo outside-visible || echo outside-absent\n\
             echo procs=$(ls /proc | grep -c '^[0-9]')\n\
             echo net=$(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | tr '\\n' ' ')\n\
             grep '^CapEff:' /proc/self/status\n\
             echo made-inside > written.txt\n\
             exit 5\n",
            home = p.h.home.display(),
            outside = outside.path().display(),
        ),
    )
    .expect("write tool");
    let prepare = format!("cp {} /tmp/tool && chmod +x /tmp/tool", tool.display());
    let out = run_in_sandbox(
        &p,
        &prepare,
        &["/tmp/tool"],
        "TOKEN=secret:${ENV}/app/token\n",
    );
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert_exit(&out, 5, "the run inside the sandbox");
    assert!(
        text.contains(&format!("cwd={}\n", p.dir.display())),
        "{text}"
    );
    assert!(text.contains(&format!("token={want}\n")), "{text}");
    assert!(text.contains("home-absent\n"), "{text}");
    assert!(text.contains("outside-absent\n"), "{text}");
    assert!(text.contains("net=lo\n"), "{text}");
    assert!(text.contains("CapEff:\t0000000000000000\n"), "{text}");
    let procs: usize = text
        .lines()
        .find_map(|l| l.strip_prefix("procs="))
        .and_then(|n| n.parse().ok())
        .unwrap_or(usize::MAX);
    assert!(procs < 10, "the sandbox's /proc: {text}");
    // The project directory is the one the sandbox shares with the host.
    assert_eq!(
        std::fs::read_to_string(p.dir.join("written.txt")).expect("written inside"),
        "made-inside\n"
    );
    assert!(!text.contains(&value), "{text}");
    // The injection is on the trail, naming the program as the sandbox showed it.
    let injected = p.injections("allow");
    assert!(
        injected.iter().any(|e| e["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("/tmp/tool")),
        "{injected:?}"
    );
    assert_not_printed(&p.h, &value, "the injected value");
}

#[test]
fn an_allowlisted_program_is_not_allowlisted_for_a_run_asked_for_inside_a_sandbox() {
    let p = Proj::new();
    let value = canary("sandboxed-high");
    p.add("secret:dev/api/key", &value, &["--sensitivity", "high"]);
    let tool = p.dir.join("tool.sh");
    write_executable(
        &tool,
        "#!/bin/sh\ntouch child-ran\nprintf %s \"$KEY\" | sha256sum\n",
    );
    let out = p.pty_answer(&["allow", "add", tool.to_str().unwrap()], &[PASSPHRASE]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let refs = "KEY=secret:dev/api/key\n";
    p.refs(refs);
    // Outside, the listed program may have the value with a proof of presence.
    let outside = p.run(&["run", "--", "./tool.sh"]);
    assert_eq!(outside.status.code(), Some(5), "{}", describe(&outside));
    assert_contains(&stderr(&outside), "code: needs-proof", &outside);
    // Inside, the very same file at the very same path (the project directory is shared)
    // is not listed: what it does there depends on what the sandbox puts at every path.
    let inside = run_in_sandbox(&p, "true", &[tool.to_str().unwrap()], refs);
    assert_eq!(inside.status.code(), Some(100), "{}", describe(&inside));
    assert_contains(&stderr(&inside), "\"code\": \"policy-denied\"", &inside);
    p.assert_nothing_ran(&inside);
    let denied = p.injections("deny");
    assert!(
        denied
            .iter()
            .any(|e| e["reason"] == "executable-not-allowlisted"),
        "{denied:?}"
    );
    assert_not_printed(&p.h, &value, "the high value");
}
