"""What the pseudo-terminal drivers (pty_answer.py, pty_hold.py, pty_script.py, pty_drive.py)
share: starting a command on a fresh pseudo-terminal, reading what it shows, its exit code."""
import os
import pty
import select


def spawn(argv, before_exec=None):
    """Fork `argv` onto a fresh pseudo-terminal (its controlling terminal); returns (pid, fd).

    `before_exec` runs in the child first (redirections, window size); a child that cannot
    exec exits 127 instead of running on as a copy of the driver.
    """
    pid, fd = pty.fork()
    if pid == 0:
        try:
            if before_exec is not None:
                before_exec()
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)
    return pid, fd


def read_some(fd, wait, size=65536):
    """What the terminal shows within `wait` seconds: b"" for nothing yet, None once closed."""
    try:
        r, _, _ = select.select([fd], [], [], wait)
    except InterruptedError:
        return b""
    if fd not in r:
        return b""
    try:
        chunk = os.read(fd, size)
    except OSError:
        return None
    return chunk or None


def exit_code(status):
    """A wait status as a shell would report it: the code, or 128+N for signal N."""
    code = os.waitstatus_to_exitcode(status)
    return code if code >= 0 else 128 - code
