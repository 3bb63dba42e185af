#!/usr/bin/env python3
"""Start a command on a fresh pseudo-terminal and leave it waiting at its prompt.

usage: pty_hold.py STATE_DIR SECONDS -- CMD [ARGS...]

Writes STATE_DIR/pid (the command's pid) as soon as it runs, and STATE_DIR/prompt once its
terminal shows a line ending in ':' that mentions a passphrase or a code. Nothing is ever
typed. After SECONDS, on SIGTERM, or when the command exits, the command is killed, what its
terminal showed is written to STATE_DIR/screen, and we exit.
"""
import os
import signal
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from pty_common import read_some, spawn


def main() -> int:
    state, seconds = sys.argv[1], float(sys.argv[2])
    assert sys.argv[3] == "--", "usage: pty_hold.py STATE_DIR SECONDS -- CMD [ARGS...]"
    argv = sys.argv[4:]
    pid, fd = spawn(argv)

    def write(name, text):
        with open(os.path.join(state, name + ".tmp"), "w") as f:
            f.write(text)
        os.rename(os.path.join(state, name + ".tmp"), os.path.join(state, name))

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    write("pid", str(pid))
    seen = b""
    prompted = False
    deadline = time.time() + seconds
    while time.time() < deadline and not stop:
        chunk = read_some(fd, 0.05, 4096)
        if chunk is None:
            break
        seen += chunk
        tail = seen.rstrip(b" ")
        if not prompted and tail.endswith(b":") and (b"passphrase" in tail.lower() or tail.endswith(b"code:")):
            prompted = True
            write("prompt", "1")
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    os.waitpid(pid, 0)
    with open(os.path.join(state, "screen"), "wb") as f:
        f.write(seen)
    return 0


if __name__ == "__main__":
    sys.exit(main())
