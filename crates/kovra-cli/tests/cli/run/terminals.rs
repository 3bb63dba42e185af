//! Pseudo-terminals: a child gets one of the caller's size only when kovra is on one; line
//! editing, Ctrl-C and window size changes reach it; its output is redacted too.

use super::*;

// ---------------------------------------------------------------------------------------
// Pseudo-terminals
// ---------------------------------------------------------------------------------------

const PY_TTY: &str = "import os,sys;print('tty', sys.stdin.isatty(), sys.stdout.isatty(), sys.stderr.isatty());print('size', os.get_terminal_size(1) if sys.stdout.isatty() else None)";

#[test]
fn a_child_gets_a_terminal_of_the_callers_size_only_when_kovra_is_on_one() {
    let (p, value) = with_token("pty");
    let out = p.pty_run(40, 120, json!([]), &run_dev(&["python3", "-c", PY_TTY]));
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let text = stdout(&out);
    assert!(text.contains("tty True True True"), "{text}");
    assert!(
        text.contains("size os.terminal_size(columns=120, lines=40)"),
        "{text}"
    );
    // Without a terminal: pipes, no PTY.
    let out = p.expect(0, &run_dev(&["python3", "-c", PY_TTY]));
    assert_eq!(stdout(&out), "tty False False False\nsize None\n");
    assert_not_printed(&p.h, &value, "the injected value");
}

#[test]
fn a_child_gets_a_terminal_even_when_the_callers_terminal_has_no_size() {
    let (p, _) = with_token("pty0");
    let out = p.pty_answer(&run_dev(&["python3", "-c", PY_TTY]), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let text = stdout(&out);
    assert!(text.contains("tty True True True"), "{text}");
}

#[test]
fn on_a_terminal_input_line_editing_ctrl_c_and_window_size_changes_reach_the_child() {
    let (p, value) = with_token("ptyio");
    // Typed input reaches the child (through its own line discipline: a backspace edits).
    let out = p.pty_run(
        24,
        80,
        json!([["ready>", "type", "helo\u{7f}lo\r"]]),
        &run_dev(&[
            "python3",
            "-c",
            "print('ready>', flush=True); s=input(); print('got', s[::-1], len(s))",
        ]),
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_contains(&stdout(&out), "got olleh 5", &out);

    // Ctrl-C typed at the terminal interrupts the child, not just kovra.
    let out = p.pty_run(
        24,
        80,
        json!([["sleeping", "sleep", 0.2], ["", "type", "\u{3}"]]),
        &run_dev(&[
            "python3",
            "-c",
            "import time; print('sleeping', flush=True); time.sleep(20); print('overslept')",
        ]),
    );
    assert_eq!(out.status.code(), Some(130), "{}", describe(&out));
    assert!(!stdout(&out).contains("overslept"), "{}", describe(&out));

    // A window size change is forwarded: the child sees SIGWINCH and the new size.
    let out = p.pty_run(
        24,
        80,
        json!([["ready>", "sleep", 0.3], ["", "resize", [50, 132]]]),
        &run_dev(&["python3",
            "-c",
            "import os,signal,sys,time\n\
             def winch(*a):\n    s=os.get_terminal_size(1); print('winch', s.columns, s.lines, flush=True); sys.exit(0)\n\
             signal.signal(signal.SIGWINCH, winch)\n\
             print('ready>', flush=True)\n\
             time.sleep(10)\n\
             print('no winch')"]),
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_contains(&stdout(&out), "winch 132 50", &out);
    assert_not_printed(&p.h, &value, "the injected value");
}

#[test]
fn on_a_terminal_the_childs_output_is_redacted_too() {
    let p = Proj::new();
    let value = tricky_canary("ptyredact");
    p.add("secret:dev/app/token", &value, &[]);
    p.refs("TOKEN=secret:dev/app/token\n");
    let out = p.pty_run(
        24,
        200,
        json!([]),
        &[
            "run",
            "--",
            "python3",
            "-c",
            "import base64,os,sys,time\n\
             v=os.environ['TOKEN']; b=v.encode()\n\
             print('plain', v, flush=True)\n\
             print('b64', base64.b64encode(b).decode(), flush=True)\n\
             print('hex', b.hex(), flush=True)\n\
             sys.stderr.write('err ' + v + '\\n'); sys.stderr.flush()\n\
             h=len(v)//2; sys.stdout.write('split ' + v[:h]); sys.stdout.flush(); time.sleep(0.5)\n\
             print(v[h:], flush=True)",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let text = stdout(&out);
    for label in ["plain", "b64", "hex", "err", "split"] {
        assert!(
            text.contains(&format!("{label} [kovra:TOKEN]")),
            "{label}: {text}"
        );
    }
    assert_absent_decoded(&out.stdout, &value, "pty output");
}
