//! Out-of-band approval: an agent (no terminal) that needs a proof parks its request; only a
//! proof of presence at the human's terminal approves it, once.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::*;
use crate::leak::*;

const HIGH: &str = "secret:dev/api/key";

fn vault() -> Home {
    let h = Home::init();
    h.add_ok(
        HIGH,
        canary("approval").as_bytes(),
        &["--sensitivity", "high"],
    );
    h
}

/// Start an agent-origin request that will wait for approval.
fn agent_request(h: &Home, args: &[&str]) -> Child {
    let mut c: Command = h.cmd(args);
    c.env("KOVRA_APPROVAL_WAIT", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c.spawn().expect("spawn agent request")
}

fn pending_ids(h: &Home) -> Vec<String> {
    let (_, v) = h.json(&["approve"]);
    v["pending"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|p| p["id"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn wait_for_pending(h: &Home) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(id) = pending_ids(h).into_iter().next() {
            return id;
        }
        assert!(Instant::now() < deadline, "no request was parked");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn sensitivity(h: &Home) -> String {
    let (_, v) = h.json(&["show", HIGH]);
    v["sensitivity"].as_str().unwrap().to_string()
}

fn finish(child: Child) -> std::process::Output {
    child.wait_with_output().expect("agent output")
}

#[test]
fn an_agent_request_waits_for_a_human_proof_and_runs_once() {
    let h = vault();
    let agent = agent_request(&h, &["edit", HIGH, "--sensitivity", "low"]);
    let id = wait_for_pending(&h);
    // The listing shows what is asked, the requester's own words fenced.
    let out = h.ok(&["approve"]);
    let text = stdout(&out);
    assert!(
        text.contains(&id)
            && text.contains("new sensitivity")
            && text.contains("the requester's own text"),
        "{text}"
    );
    // The agent cannot approve without the passphrase, and its attempt is not parked in turn.
    let out = h.run(&["--json", "approve", &id]);
    assert_eq!(out.status.code(), Some(5), "{}", describe(&out));
    assert_eq!(pending_ids(&h), vec![id.clone()]);
    // A wrong passphrase at a terminal is refused and audited.
    let out = h.run_pty(&["approve", &id], &["not the passphrase"]);
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    assert_eq!(sensitivity(&h), "high");
    // The right one approves; the waiting agent's very request then goes through.
    let out = h.run_pty(&["approve", &id], &[PASSPHRASE]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let out = finish(agent);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(sensitivity(&h), "low");
    // Once: the same request again is parked anew, and approving the old id does nothing.
    h.ok(&["edit", HIGH, "--sensitivity", "high"]);
    let again = h
        .cmd(&["edit", HIGH, "--sensitivity", "low"])
        .env("KOVRA_APPROVAL_WAIT", "0")
        .output()
        .expect("run");
    assert_eq!(again.status.code(), Some(5), "{}", describe(&again));
    assert_contains(&stderr(&again), "approval needed", &again);
    let out = h.run_pty(&["approve", &id], &[PASSPHRASE]);
    assert_ne!(
        out.status.code(),
        Some(0),
        "an old approval id was accepted twice: {}",
        describe(&out)
    );
    assert_eq!(sensitivity(&h), "high");
    let (_, audit) = h.json(&["audit", "--action", "approval-used"]);
    assert_eq!(audit["entries"].as_array().unwrap().len(), 1, "{audit}");
}

#[test]
fn a_denied_request_fails_and_nothing_on_disk_stands_in_for_the_proof() {
    let h = vault();
    let agent = agent_request(&h, &["edit", HIGH, "--sensitivity", "low"]);
    let id = wait_for_pending(&h);
    // Files an agent could write change nothing: approvals live in the daemon's memory.
    for name in ["approvals", "approved", &id] {
        std::fs::write(h.home.join(name), format!("{id} approved\n")).unwrap();
    }
    std::fs::write(h.home.join("config.toml"), "idle_timeout_secs = 60\n").unwrap();
    assert_eq!(pending_ids(&h), vec![id.clone()]);
    h.ok(&["deny", &id]);
    let out = finish(agent);
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    assert_contains(&stderr(&out), "denied", &out);
    assert_eq!(sensitivity(&h), "high");
    assert!(pending_ids(&h).is_empty());
}

/// A home with a high record wired as API_KEY into an allowlisted script `body`; returns the
/// home, the value, the project directory and the script.
fn allowlisted_tool(
    tag: &str,
    body: &str,
) -> (Home, String, std::path::PathBuf, std::path::PathBuf) {
    let h = Home::init();
    let value = canary(tag);
    h.add_ok(HIGH, value.as_bytes(), &["--sensitivity", "high"]);
    let project = h.root.join("project");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(project.join(".env.refs"), format!("API_KEY={HIGH}\n")).unwrap();
    let script = project.join("tool.sh");
    write_program(&script, body);
    let out = h.run_pty(&["allow", "add", script.to_str().unwrap()], &[PASSPHRASE]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    (h, value, project, script)
}

/// The everyday case: an agent's `kovra run` needs a high value; the human approves it in
/// their own terminal and the command runs with it, its output still masked.
#[test]
fn an_agent_run_of_a_high_value_proceeds_after_approval() {
    let (h, value, project, script) = allowlisted_tool(
        "run-approval",
        "#!/bin/sh\nprintf 'len=%s key=%s\\n' \"${#API_KEY}\" \"$API_KEY\"\n",
    );
    let mut c = h.cmd(&["run", "--", script.to_str().unwrap()]);
    c.env("KOVRA_APPROVAL_WAIT", "1")
        .current_dir(&project)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let agent = c.spawn().unwrap();
    let id = wait_for_pending(&h);
    let listing = stdout(&h.ok(&["approve"]));
    assert!(
        listing.contains("tool.sh")
            && listing.contains(HIGH)
            && listing.contains("sensitivity high"),
        "{listing}"
    );
    // The run's own description of what it injects: the refs line of each record, and the
    // environment a protected child gets.
    assert!(
        listing.contains(".env.refs:1") && listing.contains("PYTHONSAFEPATH=1"),
        "{listing}"
    );
    let out = h.run_pty(&["approve", &id], &[PASSPHRASE]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let out = finish(agent);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let text = stdout(&out);
    assert!(text.contains(&format!("len={}", value.len())), "{text}");
    assert!(text.contains("key=[kovra:API_KEY]"), "{text}");
    assert_not_printed(&h, &value, "the record's value");
    assert!(
        !out.stdout
            .windows(value.len())
            .any(|w| w == value.as_bytes())
    );
}

/// Without waiting, the agent is told the id and stops (a tool call must not hang). Once the
/// human approved, the same command run again, from a shell whose environment differs in
/// incidental ways, is the approved request, and only once.
#[test]
fn an_approved_run_is_the_same_request_when_started_again() {
    let (h, value, project, script) =
        allowlisted_tool("rerun", "#!/bin/sh\necho \"len=${#API_KEY}\"\n");
    let run = |extra: &str| {
        let mut c = h.cmd(&["run", "--", script.to_str().unwrap()]);
        c.current_dir(&project).env("INCIDENTAL", extra);
        h.run_with(c, None)
    };
    let first = run("one");
    assert_eq!(first.status.code(), Some(5), "{}", describe(&first));
    assert_contains(&stderr(&first), "approval needed", &first);
    let id = wait_for_pending(&h);
    assert_contains(&stderr(&first), &id, &first);
    let out = h.run_pty(&["approve", &id], &[PASSPHRASE]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let second = run("two");
    assert_eq!(second.status.code(), Some(0), "{}", describe(&second));
    assert!(
        stdout(&second).contains(&format!("len={}", value.len())),
        "{}",
        describe(&second)
    );
    let third = run("three");
    assert_exit(&third, 5, "approved once, used twice");
    assert_not_printed(&h, &value, "the record's value");
}

/// The human is told: a parked request and each use of a medium record raise a desktop
/// notification (here a stand-in `notify-send` on the daemon's PATH records them).
#[test]
fn parked_requests_and_medium_uses_notify_the_human() {
    let h = Home::new();
    let bin = h.root.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = h.root.join("notifications");
    let notifier = bin.join("notify-send");
    write_program(
        &notifier,
        &format!(
            "#!/bin/sh\nprintf '%s | %s\\n' \"$1\" \"$2\" >> {}\n",
            log.display()
        ),
    );
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let with_path = |args: &[&str], stdin: Option<&[u8]>| {
        let mut c = h.cmd(args);
        c.env("PATH", &path);
        h.run_with(c, stdin)
    };
    let pass = h.pass_file.to_str().unwrap().to_string();
    assert!(
        with_path(&["init", "--passphrase-file", &pass], None)
            .status
            .success()
    );
    let medium = canary("medium");
    assert!(
        with_path(
            &["add", "secret:dev/app/token", "--stdin", "--revealable"],
            Some(medium.as_bytes())
        )
        .status
        .success()
    );
    assert!(
        with_path(
            &["add", HIGH, "--stdin", "--sensitivity", "high"],
            Some(b"high-value-123456")
        )
        .status
        .success()
    );
    assert!(
        with_path(&["reveal", "secret:dev/app/token"], None)
            .status
            .success()
    );
    let out = with_path(&["edit", HIGH, "--sensitivity", "low"], None);
    assert_eq!(out.status.code(), Some(5), "{}", describe(&out));
    let id = wait_for_pending(&h);
    let deadline = Instant::now() + Duration::from_secs(10);
    let text = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if (text.contains(&id) && text.contains("medium secret used")) || Instant::now() > deadline
        {
            break text;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        text.contains("medium secret used | reveal secret:dev/app/token"),
        "{text}"
    );
    assert!(
        text.contains("approval needed") && text.contains(&format!("kovra approve {id}")),
        "{text}"
    );
    assert_absent(
        text.as_bytes(),
        &medium,
        "the approval notice (medium canary)",
    );
}

/// Variables and claims a same-user process can set do not approve anything.
#[test]
fn environment_variables_do_not_approve() {
    let h = vault();
    let agent = agent_request(&h, &["edit", HIGH, "--sensitivity", "low"]);
    let id = wait_for_pending(&h);
    let mut c = h.cmd(&["approve", &id]);
    c.env("KOVRA_ORIGIN", "human")
        .env("KOVRA_APPROVE", "1")
        .env("KOVRA_PASSPHRASE_FILE", &h.pass_file);
    let out = h.run_with(c, None);
    assert_eq!(out.status.code(), Some(5), "{}", describe(&out));
    assert_eq!(pending_ids(&h), vec![id.clone()]);
    h.ok(&["deny", &id]);
    assert_eq!(finish(agent).status.code(), Some(4));
    assert_eq!(sensitivity(&h), "high");
}

/// The configuration can narrow the kinds of proof (never widen them): with only codes
/// accepted, the passphrase no longer approves.
#[test]
fn proof_kinds_can_only_narrow() {
    let h = vault();
    h.stop();
    std::fs::write(h.home.join("config.toml"), "proof_kinds = [\"totp\"]\n").unwrap();
    h.unlock_typed();
    let out = h.run_pty(&["edit", HIGH, "--sensitivity", "low"], &[PASSPHRASE]);
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    assert_contains(&stdout(&out), "only a TOTP code", &out);
    assert_eq!(sensitivity(&h), "high");
    h.stop();
    std::fs::write(h.home.join("config.toml"), "proof_kinds = [\"anything\"]\n").unwrap();
    let out = h.run(&["unlock", "--passphrase-file", h.pass_file.to_str().unwrap()]);
    assert!(!out.status.success(), "{}", describe(&out));
}

/// `kovra allow add NAME` finds a bare name on PATH, as `kovra run` finds its program, and
/// pins the file it found.
#[test]
fn allow_add_finds_a_bare_name_on_path() {
    let h = Home::init();
    let real = std::fs::canonicalize("/usr/bin/true")
        .or_else(|_| std::fs::canonicalize("/bin/true"))
        .unwrap();
    let dir = real.parent().unwrap().to_path_buf();
    let path = format!("{}:/usr/bin:/bin", dir.display());
    let out = h.run_pty_env(
        &["allow", "add", "true"],
        &[PASSPHRASE],
        &[("PATH".to_string(), path)],
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let (_, list) = h.json(&["allow", "list"]);
    let entries = list["entries"].as_array().unwrap();
    assert!(
        entries
            .iter()
            .any(|e| e["path"] == real.display().to_string()),
        "{list}"
    );
}
