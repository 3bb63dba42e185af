#!/usr/bin/env python3
"""Run a command on a fresh pseudo-terminal (its controlling terminal) and answer prompts.

usage: pty_answer.py ANSWER_FILE -- CMD [ARGS...]

ANSWER_FILE holds one answer per line; each time the child's terminal output shows a new
line ending in ': ' that contains 'passphrase' (or ends in 'code: '), the next answer is
typed. The answer `!totp` is replaced by oathtool's current code for the last
`secret=BASE32` the child printed (an otpauth:// URI). Everything the
child printed goes to our stdout; we exit with the child's status. A real PTY, so kovra
sees a human-style terminal exactly as it would in an interactive shell.
"""
import os
import re
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from pty_common import read_some, spawn


def main() -> int:
    answers_path = sys.argv[1]
    assert sys.argv[2] == "--"
    argv = sys.argv[3:]
    with open(answers_path, "rb") as f:
        answers = [line.rstrip(b"\n") for line in f]
    pid, fd = spawn(argv)
    seen = b""
    answered_at = 0
    deadline = time.time() + 60
    while time.time() < deadline:
        chunk = read_some(fd, 0.1, 4096)
        if chunk is None:
            break
        if chunk:
            seen += chunk
            sys.stdout.buffer.write(chunk)
            sys.stdout.buffer.flush()
        tail = seen[answered_at:]
        prompt = tail.rstrip(b" ")
        if answers and prompt.endswith(b":") and (b"passphrase" in tail or prompt.endswith(b"code:")):
            answer = answers.pop(0)
            if answer == b"!totp":
                secret = re.findall(rb"secret=([A-Z2-7]+)", seen)[-1]
                answer = subprocess.run(
                    ["oathtool", "--totp", "--base32", secret.decode()],
                    check=True, capture_output=True,
                ).stdout.strip()
            os.write(fd, answer + b"\n")
            answered_at = len(seen)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main())
