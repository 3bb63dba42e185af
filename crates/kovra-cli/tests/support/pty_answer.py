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
import pty
import select
import sys
import time


def main() -> int:
    answers_path = sys.argv[1]
    assert sys.argv[2] == "--"
    argv = sys.argv[3:]
    with open(answers_path, "rb") as f:
        answers = [line.rstrip(b"\n") for line in f]
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(argv[0], argv)
    seen = b""
    answered_at = 0
    deadline = time.time() + 60
    while time.time() < deadline:
        r, _, _ = select.select([fd], [], [], 0.1)
        if fd in r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
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
