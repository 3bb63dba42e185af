#!/usr/bin/env python3
"""Start a command on a fresh pseudo-terminal and leave it waiting at its prompt.

usage: pty_hold.py STATE_DIR SECONDS -- CMD [ARGS...]

Writes STATE_DIR/pid (the command's pid) as soon as it runs, and STATE_DIR/prompt once its
terminal shows a line ending in ':' that mentions a passphrase or a code. Nothing is ever
typed. After SECONDS, on SIGTERM, or when the command exits, the command is killed, what its
terminal showed is written to STATE_DIR/screen, and we exit.
"""
import os
import pty
import select
import signal
import sys
import time


def main() -> int:
    state, seconds = sys.argv[1], float(sys.argv[2])
    assert sys.argv[3] == "--", "usage: pty_hold.py STATE_DIR SECONDS -- CMD [ARGS...]"
    argv = sys.argv[4:]
    pid, fd = pty.fork()
    if pid == 0:
        try:
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)

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
        try:
            r, _, _ = select.select([fd], [], [], 0.05)
        except InterruptedError:
            continue
        if fd in r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
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
