//! A locked vault at a terminal asks instead of stopping (issue 21, point 8): `reveal` and
//! `run` offer to unlock, a wrong passphrase is asked again, and the request then goes
//! through once. Without a terminal the error stays as it was. Driven through a real PTY
//! (`tests/support/pty_answer.py`), as a person at a shell.

use crate::harness::*;

const COORD: &str = "secret:dev/db/password";
const VALUE: &str = "plain-test-value-7781";

fn locked_home() -> Home {
    let h = Home::init();
    h.add_ok(
        COORD,
        VALUE.as_bytes(),
        &["--revealable", "--sensitivity", "low"],
    );
    h.ok(&["lock"]);
    h
}

#[test]
fn reveal_at_a_terminal_unlocks_after_one_wrong_passphrase() {
    let h = locked_home();
    let out = h.run_pty(&["reveal", COORD], &["not the passphrase", PASSPHRASE]);
    let shown = stdout(&out);
    assert_exit(&out, 0, format!("reveal at a PTY: {shown}"));
    assert!(shown.contains("the vault is locked"), "{shown}");
    assert!(shown.contains("wrong passphrase (try 1 of 3)"), "{shown}");
    assert!(shown.contains("waits at least"), "{shown}");
    assert!(shown.contains(VALUE), "{shown}");
    // Unlocked for good, not for this one request.
    let (_, status) = h.json(&["status"]);
    assert_eq!(status["unlocked"], true, "{status}");
}

#[test]
fn run_at_a_terminal_unlocks_and_starts_the_program_once() {
    let h = locked_home();
    let dir = h.root.join("proj");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(".env.refs"), format!("DB_PASSWORD={COORD}\n")).unwrap();
    let mut py = h.pty_answer_cmd(
        "answers-run",
        &[
            "run",
            "--",
            "sh",
            "-c",
            "test -n \"$DB_PASSWORD\" && echo started-with-it",
        ],
        &[PASSPHRASE],
    );
    py.current_dir(&dir);
    let out = h.run_with(py, None);
    let shown = stdout(&out);
    assert_exit(&out, 0, format!("run at a PTY: {shown}"));
    assert_eq!(shown.matches("started-with-it").count(), 1, "{shown}");
    assert!(!shown.contains(VALUE), "{shown}");
}

#[test]
fn without_a_terminal_a_locked_vault_is_the_error_it_was() {
    let h = locked_home();
    let out = h.run(&["reveal", COORD]);
    assert_exit(&out, 6, "reveal without a terminal");
    let err = stderr(&out);
    assert!(err.contains("code: vault-locked"), "{err}");
    assert!(err.contains("kovra unlock"), "{err}");
    assert!(!err.contains("type its passphrase"), "{err}");
    assert!(!stdout(&out).contains(VALUE));
}

#[test]
fn unlock_at_a_terminal_asks_again_after_a_wrong_passphrase_and_stops_after_three() {
    let h = locked_home();
    let out = h.run_pty(&["unlock"], &["wrong one", PASSPHRASE]);
    let shown = stdout(&out);
    assert_exit(&out, 0, format!("unlock: {shown}"));
    assert!(shown.contains("wrong passphrase (try 1 of 3)"), "{shown}");
    h.ok(&["lock"]);
    let out = h.run_pty(&["unlock"], &["wrong one", "wrong two", "wrong three"]);
    let shown = stdout(&out);
    assert_exit(&out, 1, format!("unlock: {shown}"));
    assert!(shown.contains("try 2 of 3"), "{shown}");
    assert!(shown.contains("code: wrong-passphrase"), "{shown}");
    let (_, status) = h.json(&["status"]);
    assert_eq!(status["unlocked"], false, "{status}");
}
