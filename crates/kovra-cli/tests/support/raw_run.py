#!/usr/bin/env python3
"""Ask a kovra daemon for one run as the CLI does, from wherever this process lives (a
sandbox, say), and end with the run's exit code (docs/protocol.md §11).

usage: raw_run.py SOCKET ENVELOPE_JSON

Sends the envelope as one frame (4-byte big-endian length, then the UTF-8 JSON) on the
Unix socket SOCKET, with this process's stdin, stdout and stderr attached to the length
prefix (SCM_RIGHTS), so the child writes straight into them. Then reads replies until
`exited` and exits with its code. An error reply is printed on stderr (exit 100); a
connection closed before `exited` exits 101.
"""
import json
import socket
import struct
import sys


def read_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            sys.stderr.write("the daemon closed the connection\n")
            sys.exit(101)
        buf += chunk
    return buf


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: raw_run.py SOCKET ENVELOPE_JSON")
    data = json.dumps(json.loads(sys.argv[2])).encode("utf-8")
    frame = struct.pack(">I", len(data)) + data
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(sys.argv[1])
        socket.send_fds(s, [frame[:4]], [0, 1, 2])
        s.sendall(frame[4:])
        while True:
            (length,) = struct.unpack(">I", read_exact(s, 4))
            reply = json.loads(read_exact(s, length))
            if reply.get("status") != "ok":
                sys.stderr.write(json.dumps(reply) + "\n")
                sys.exit(100)
            if reply["reply"].get("kind") == "exited":
                sys.exit(reply["reply"]["code"])


if __name__ == "__main__":
    main()
