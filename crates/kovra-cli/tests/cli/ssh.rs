//! Brokered ssh (`kovra ssh`, `kovra ssh-host`) against a real OpenSSH server on loopback:
//! the human pins the host's key with a proof; the daemon logs in with a key from the vault
//! and returns the command's output scrubbed; an agent (no terminal) runs unattended only
//! what the host's patterns allow; a host that presents another key is refused.

use std::process::{Command, Output, Stdio};

use kovra_testsshd::Sshd;

use crate::harness::*;
use crate::leak::canary;
use crate::sshkey::{canaries, made_by_openssh};

const KEY: &str = "secret:dev/ssh/deploy";
const HIGH: &str = "secret:dev/ssh/high";
const TOKEN: &str = "secret:dev/app/token";

fn user() -> String {
    let out = Command::new("id").arg("-un").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A vault with a low key imported from OpenSSH (its private half known, for the canary
/// scan), a high key made here, and a plain secret; an sshd that accepts both keys. Returns
/// the key's canaries and the token's value.
fn setup(h: &Home) -> (Sshd, Vec<String>, String) {
    let pem_path = made_by_openssh(&h.root, "id_deploy", "ed25519", "");
    let pem = std::fs::read_to_string(&pem_path).unwrap();
    std::fs::remove_file(&pem_path).unwrap();
    let out = h.add(KEY, pem.as_bytes(), &["--ssh-key", "--sensitivity", "low"]);
    assert!(out.status.success(), "add --ssh-key: {}", describe(&out));
    h.ok(&["keygen", HIGH]);
    let token = canary("ssh-output");
    h.add_ok(TOKEN, token.as_bytes(), &["--sensitivity", "high"]);
    let authorized = format!(
        "{}\n{}",
        stdout(&h.ok(&["pubkey", KEY])).trim(),
        stdout(&h.ok(&["pubkey", HIGH])).trim()
    );
    let sshd = Sshd::start(&authorized, "ed25519");
    let mut secrets = canaries(&pem);
    secrets.push(pem);
    (sshd, secrets, token)
}

/// `ssh-host add` at the human's terminal, with the proof typed.
fn pin(h: &Home, sshd: &Sshd, name: &str, extra: &[&str]) -> Output {
    let address = format!("127.0.0.1:{}", sshd.port());
    let user = user();
    let mut args = vec!["ssh-host", "add", name, &address, "--user", &user];
    args.extend_from_slice(extra);
    h.run_pty(&args, &[PASSPHRASE])
}

#[test]
fn a_pinned_host_runs_commands_scrubbed_and_an_agent_only_what_its_patterns_allow() {
    let h = Home::init();
    let (sshd, secrets, token) = setup(&h);
    let mut seen = Vec::new();

    // The host's key, as the host shows it now.
    let (_, scanned) = h.json(&["ssh-host", "scan", &format!("127.0.0.1:{}", sshd.port())]);
    assert_eq!(scanned["fingerprint"], sshd.host_fingerprint(), "{scanned}");

    // Pinning is the human's step: an agent's attempt is parked, not written.
    let address = format!("127.0.0.1:{}", sshd.port());
    let out = h.agent(
        &[
            "ssh-host",
            "add",
            "web",
            &address,
            "--user",
            &user(),
            "--key",
            KEY,
        ],
        &mut seen,
    );
    assert_eq!(out.status.code(), Some(5), "{}", describe(&out));
    let (_, hosts) = h.json(&["ssh-host", "list"]);
    assert_eq!(hosts["hosts"].as_array().unwrap().len(), 0, "{hosts}");

    // The human pins it, with the key it presents shown before the proof.
    let out = pin(
        &h,
        &sshd,
        "web",
        &[
            "--key", KEY, "--allow", "echo *", "--allow", "cat *", "--allow", "sh *",
        ],
    );
    assert!(out.status.success(), "ssh-host add: {}", describe(&out));
    // (At a terminal stderr and stdout are one stream.)
    assert_contains(&stdout(&out), sshd.host_fingerprint(), &out);
    let (_, hosts) = h.json(&["ssh-host", "list"]);
    assert_eq!(
        hosts["hosts"][0]["host_keys"][0]["fingerprint"],
        sshd.host_fingerprint(),
        "{hosts}"
    );

    // An agent runs an allowed command and gets its output.
    let out = h.agent(&["ssh", "web", "--", "echo", "brokered-ok"], &mut seen);
    assert!(
        out.status.success(),
        "ssh: {}\n{}",
        describe(&out),
        sshd.log()
    );
    assert_eq!(stdout(&out), "brokered-ok\n");

    // A value of the vault the remote prints comes back masked.
    let file = h.root.join("remote.env");
    std::fs::write(&file, format!("TOKEN={token}\n")).unwrap();
    let out = h.agent(
        &["ssh", "web", "--", "cat", file.to_str().unwrap()],
        &mut seen,
    );
    assert!(out.status.success(), "ssh cat: {}", describe(&out));
    assert!(
        stdout(&out).starts_with("TOKEN=") && !stdout(&out).contains(&token),
        "not masked: {}",
        describe(&out)
    );

    // Output is streamed to a person's terminal (or pipe) as the command writes it.
    let script = h.root.join("slow.sh");
    std::fs::write(&script, "echo first\nsleep 6\necho second\n").unwrap();
    let mut slow = h
        .cmd(&["ssh", "web", "--", "sh", script.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(slow.stdout.as_mut().unwrap()),
        &mut first,
    )
    .unwrap();
    assert_eq!(first, "first\n");
    // However long the connection took to set up, the command still had its sleep ahead of
    // it when its first line arrived: held back to the end, the two would come together.
    let first_at = std::time::Instant::now();
    let out = slow.wait_with_output().unwrap();
    assert!(
        first_at.elapsed() >= std::time::Duration::from_secs(3),
        "the first line came only at the end ({:?} before it)",
        first_at.elapsed()
    );
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(stdout(&out), "second\n");

    // The same through MCP, with the official Python SDK. A value of a vault outside the
    // session's scope is masked too, under a name that says nothing of it.
    h.ok(&["project", "create", "other"]);
    let elsewhere = canary("ssh-elsewhere");
    h.add_ok(
        "secret:dev/db/password",
        elsewhere.as_bytes(),
        &["--project", "other"],
    );
    let other_file = h.root.join("other.env");
    std::fs::write(&other_file, format!("DB={elsewhere}\n")).unwrap();
    require_python_module("mcp");
    let fixture = h.root.join("mcp-ssh.json");
    let doc = serde_json::json!({
        "host": "web",
        "file": file.to_str().unwrap(),
        "other_file": other_file.to_str().unwrap(),
        "canaries": {"token": token, "key": secrets.last().unwrap(), "elsewhere": elsewhere},
    });
    std::fs::write(&fixture, doc.to_string()).unwrap();
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/mcp_ssh_client.py");
    let mut py = Command::new("timeout");
    py.args(["120", "python3"])
        .arg(script)
        .arg(kovra_bin())
        .arg(&fixture);
    let out = h.run_with(h.with_env(py), None);
    std::fs::remove_file(&fixture).unwrap();
    seen.extend_from_slice(&out.stdout);
    seen.extend_from_slice(&out.stderr);
    assert!(
        out.status.success(),
        "mcp_ssh_client.py: {}",
        describe(&out)
    );

    // Anything outside the patterns is parked for the human.
    let out = h.agent(&["ssh", "web", "--", "echo x; id"], &mut seen);
    assert_eq!(out.status.code(), Some(5), "{}", describe(&out));
    let (_, pending) = h.json(&["approve"]);
    let parked = pending["pending"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["action"] == "ssh")
        .unwrap_or_else(|| panic!("no parked ssh: {pending}"));
    let facts = parked["facts"].to_string();
    assert!(
        facts.contains("echo x; id") && facts.contains("web"),
        "{facts}"
    );

    // The same user, for another user than the host's: parked too.
    let out = h.agent(
        &["ssh", "web", "--user", "nobody", "--", "echo", "x"],
        &mut seen,
    );
    assert_eq!(out.status.code(), Some(5), "{}", describe(&out));
    // A terminal is no proof: a person gives one for a command outside the patterns; the
    // remote status is then the exit code.
    let out = h.run_pty(&["ssh", "web", "--", "echo human; exit 3"], &[PASSPHRASE]);
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    assert_contains(&stdout(&out), "human", &out);

    // Control characters never reach the host (nor an approval's display).
    let out = h.agent(&["ssh", "web", "--", "echo a\rb"], &mut seen);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert_contains(&stderr(&out), "control character", &out);

    // JSON for scripts.
    let (code, v) = h.json(&["ssh", "web", "--", "echo", "json-ok"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["kind"], "ssh");
    assert_eq!(v["stdout"], "json-ok\n");
    assert_eq!(v["exit_status"], 0);

    // A high key signs nothing for an agent without the human's approval.
    let out = h.agent(
        &["ssh", "web", "--key", HIGH, "--", "echo", "high"],
        &mut seen,
    );
    assert_eq!(out.status.code(), Some(5), "{}", describe(&out));

    // The trail says who ran what where, and how it ended.
    let runs = audit(&h, &["--action", "ssh"]);
    assert!(
        runs.iter().any(|e| e["decision"] == "allow"
            && e["coordinate"] == KEY
            && e["detail"].as_str().unwrap().contains("echo brokered-ok")),
        "{runs:?}"
    );
    let results = audit(&h, &["--action", "ssh-result"]);
    assert!(
        results
            .iter()
            .any(|e| e["detail"].as_str().unwrap().contains("exit 3")),
        "{results:?}"
    );

    // The key and the token are in no output, file or audit entry.
    let (_, trail) = h.json(&["audit"]);
    seen.extend_from_slice(trail.to_string().as_bytes());
    let mut needles: Vec<Vec<u8>> = secrets.iter().map(|s| s.as_bytes().to_vec()).collect();
    needles.push(token.as_bytes().to_vec());
    for n in &needles {
        assert!(!contains(&seen, n), "a secret in the output");
    }
    assert!(h.files_containing(&needles).is_empty());
    assert!(!h.transcript_contains(&needles));
}

#[test]
fn a_host_that_presents_another_key_is_refused_and_production_is_attended() {
    let h = Home::init();
    let (mut sshd, _, _) = setup(&h);
    let other = Sshd::start("", "ed25519");
    let mut seen = Vec::new();

    // Pinning a key the host does not present writes nothing.
    let out = pin(
        &h,
        &other,
        "spoofed",
        &["--key", KEY, "--host-key", sshd.host_fingerprint()],
    );
    assert_eq!(out.status.code(), Some(8), "{}", describe(&out));
    assert_contains(&stdout(&out), "ssh-host-key-changed", &out);
    let (_, hosts) = h.json(&["ssh-host", "list"]);
    assert_eq!(hosts["hosts"].as_array().unwrap().len(), 0, "{hosts}");
    let refused = audit(&h, &["--action", "ssh-host-add"]);
    assert!(
        refused.iter().any(|e| e["decision"] == "refused"),
        "{refused:?}"
    );

    // A production host: even an allowed command waits for the human.
    let out = pin(
        &h,
        &sshd,
        "prod",
        &["--key", KEY, "--allow", "echo *", "--production"],
    );
    assert!(out.status.success(), "{}", describe(&out));
    let out = h.agent(&["ssh", "prod", "--", "echo", "x"], &mut seen);
    assert_eq!(out.status.code(), Some(5), "{}", describe(&out));
    // The human gives the proof at the terminal.
    let out = h.run_pty(&["ssh", "prod", "--", "echo", "attended"], &[PASSPHRASE]);
    assert!(out.status.success(), "{}", describe(&out));
    assert_contains(&stdout(&out), "attended", &out);

    // Unknown hosts and bad fields are clear errors.
    let out = h.agent(&["ssh", "nowhere", "--", "true"], &mut seen);
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    assert_contains(&stderr(&out), "ssh-host-unknown", &out);
    let out = h.run(&[
        "ssh-host",
        "add",
        "Bad Name",
        "127.0.0.1",
        "--user",
        "x",
        "--host-key",
        "SHA256:x",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let out = h.run(&[
        "ssh-host",
        "add",
        "ok",
        "127.0.0.1",
        "--user",
        "x",
        "--allow",
        "ls; id",
        "--host-key",
        "SHA256:x",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert_contains(&stderr(&out), "pattern", &out);

    // Removing a host only tightens: no proof.
    h.ok(&["ssh-host", "rm", "prod"]);
    let out = h.agent(&["ssh", "prod", "--", "echo", "x"], &mut seen);
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));

    // The host at a pinned address starts presenting another key: refused, loudly, and
    // nothing is signed for it.
    let out = pin(&h, &sshd, "web", &["--key", KEY, "--allow", "echo *"]);
    assert!(out.status.success(), "{}", describe(&out));
    let out = h.agent(&["ssh", "web", "--", "echo", "before"], &mut seen);
    assert!(out.status.success(), "{}", describe(&out));
    let logins = sshd.log().matches("Accepted publickey").count();
    assert!(logins > 0, "sshd logs no logins: {}", sshd.log());
    sshd.replace_host_key("ed25519");
    let out = h.agent(&["ssh", "web", "--", "echo", "after"], &mut seen);
    assert_eq!(out.status.code(), Some(8), "{}", describe(&out));
    assert_contains(&stderr(&out), "ssh-host-key-changed", &out);
    assert_contains(&stderr(&out), sshd.host_fingerprint(), &out);
    assert!(!stdout(&out).contains("after"), "{}", describe(&out));
    let results = audit(&h, &["--action", "ssh-result"]);
    let last = results.last().unwrap();
    assert_eq!(last["decision"], "refused", "{results:?}");
    assert_eq!(
        sshd.log().matches("Accepted publickey").count(),
        logins,
        "a login after the key changed: {}",
        sshd.log()
    );
}

/// RSA both ways: a key `kovra keygen --type rsa-3072` made (written by the vault's ssh-key,
/// read back by russh's) logs in to a host whose only host key is RSA, which is pinned by
/// its fingerprint like any other. OpenSSH 9.2 takes no `ssh-rsa` (SHA-1) signature by
/// default, so this is rsa-sha2 on both sides.
#[test]
fn an_rsa_key_made_by_the_vault_logs_in_to_an_rsa_host() {
    const RSA: &str = "secret:dev/ssh/rsa";
    let h = Home::init();
    h.ok(&["keygen", RSA, "--type", "rsa-3072", "--sensitivity", "low"]);
    let sshd = Sshd::start(stdout(&h.ok(&["pubkey", RSA])).trim(), "rsa");
    let (_, scanned) = h.json(&["ssh-host", "scan", &format!("127.0.0.1:{}", sshd.port())]);
    assert_eq!(scanned["fingerprint"], sshd.host_fingerprint(), "{scanned}");

    let out = pin(&h, &sshd, "rsa-host", &["--key", RSA, "--allow", "echo *"]);
    assert!(out.status.success(), "ssh-host add: {}", describe(&out));
    let mut seen = Vec::new();
    let out = h.agent(&["ssh", "rsa-host", "--", "echo", "rsa-ok"], &mut seen);
    assert!(
        out.status.success(),
        "ssh: {}\n{}",
        describe(&out),
        sshd.log()
    );
    assert_eq!(stdout(&out), "rsa-ok\n");
    assert!(sshd.log().contains("Accepted publickey"), "{}", sshd.log());
}
