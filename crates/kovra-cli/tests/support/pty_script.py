#!/usr/bin/env python3
"""Run a command on a fresh pseudo-terminal (its controlling terminal) and answer prompts by
regular expression, recording everything the terminal showed.

usage: pty_script.py SPEC_FILE -- CMD [ARGS...]

SPEC_FILE is JSON:

    {"rules": [{"expect": REGEX, "send": TEXT, "times": N}, ...],
     "timeout": SECONDS, "answer_delay": SECONDS,
     "stdin": PATH or null, "stdout": PATH or null, "stderr": PATH or null}

- After every chunk of output, the text shown since the last answer is matched against each
  rule that still has answers left (`times`, default 1), in order; the first one whose REGEX
  matches (Python `re.search`, DOTALL) has TEXT typed followed by a newline.
- `stdin`/`stdout`/`stderr` redirect the child's standard streams to files (stdin read from,
  the others created); the pseudo-terminal stays its controlling terminal (`/dev/tty`), so a
  prompt that goes to the terminal is still seen and answered here.
- Everything the terminal showed goes to our stdout, at the end, exactly once. We exit with
  the child's status (128+N for a signal), or 124 after the timeout (the child is killed).
"""
import json
import os
import re
import signal
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from pty_common import exit_code, read_some, spawn


def main() -> int:
    with open(sys.argv[1], "rb") as f:
        spec = json.load(f)
    assert sys.argv[2] == "--", "usage: pty_script.py SPEC_FILE -- CMD [ARGS...]"
    argv = sys.argv[3:]
    rules = [
        [re.compile(r["expect"].encode(), re.S), r["send"].encode(), int(r.get("times", 1))]
        for r in spec.get("rules", [])
    ]
    timeout = float(spec.get("timeout", 60))
    # A moment before typing, so a program that prints its prompt before turning echo off
    # (stock age) does not echo the answer.
    delay = float(spec.get("answer_delay", 0.15))

    def redirect():
        if spec.get("stdin"):
            f = os.open(spec["stdin"], os.O_RDONLY)
            os.dup2(f, 0)
            os.close(f)
        for key, target in (("stdout", 1), ("stderr", 2)):
            if spec.get(key):
                f = os.open(spec[key], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                os.dup2(f, target)
                os.close(f)

    pid, fd = spawn(argv, redirect)
    seen = b""
    mark = 0
    deadline = time.time() + timeout
    timed_out = False
    while True:
        if time.time() > deadline:
            os.kill(pid, signal.SIGKILL)
            timed_out = True
            break
        chunk = read_some(fd, 0.05)
        if chunk is None:
            break
        seen += chunk
        tail = seen[mark:]
        for rule in rules:
            if rule[2] > 0 and rule[0].search(tail):
                rule[2] -= 1
                time.sleep(delay)
                os.write(fd, rule[1] + b"\n")
                mark = len(seen)
                break
    # Drain what is left once the child closed the terminal or was killed.
    while chunk := read_some(fd, 0.05):
        seen += chunk
    if timed_out:
        seen += b"\n[pty_script: timed out]\n"
    sys.stdout.buffer.write(seen)
    sys.stdout.flush()
    _, status = os.waitpid(pid, 0)
    if timed_out:
        return 124
    return exit_code(status)


if __name__ == "__main__":
    sys.exit(main())
