#!/usr/bin/env python3
"""Run a command on a fresh pseudo-terminal of a given size and follow scripted steps.

usage: pty_drive.py ROWS COLS STEPS_JSON -- CMD [ARGS...]

The window size is set before exec. STEPS_JSON is a list of `[wait_for_text, "type", text]`,
`[wait_for_text, "resize", [rows, cols]]` or `[wait_for_text, "sleep", seconds]`, done in
order as their text appears. Everything the terminal showed goes to our stdout; we exit with
the child's status (128+N for a signal).
"""
import fcntl
import json
import os
import signal
import struct
import sys
import termios
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from pty_common import exit_code, read_some, spawn

rows, cols = int(sys.argv[1]), int(sys.argv[2])
steps = json.loads(sys.argv[3])
assert sys.argv[4] == "--"
argv = sys.argv[5:]
pid, fd = spawn(argv, lambda: fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0)))
seen = b""
mark = 0
deadline = time.time() + 30
while True:
    if time.time() > deadline:
        os.kill(pid, signal.SIGKILL)
        seen += b"\n[pty_drive: timed out]\n"
        break
    if steps:
        at = seen.find(steps[0][0].encode(), mark)
        if at >= 0:
            _, action, arg = steps.pop(0)
            mark = at + 1
            if action == "type":
                os.write(fd, arg.encode())
            elif action == "resize":
                fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", arg[0], arg[1], 0, 0))
            elif action == "sleep":
                time.sleep(arg)
            continue
    chunk = read_some(fd, 0.05)
    if chunk is None:
        break
    seen += chunk
sys.stdout.buffer.write(seen)
sys.stdout.flush()
_, status = os.waitpid(pid, 0)
sys.exit(exit_code(status))
