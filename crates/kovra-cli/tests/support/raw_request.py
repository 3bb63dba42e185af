#!/usr/bin/env python3
"""Send one framed envelope to a kovra daemon and print its reply (docs/protocol.md §3-4).

usage: raw_request.py SOCKET < envelope.json

Reads the envelope (JSON) from stdin, so that secret fields (a token, say) never sit on a
command line; sends it as one frame (4-byte big-endian length, then the UTF-8 JSON) on the
Unix socket SOCKET; prints the reply frame's JSON on stdout. Exits 0 when a reply arrived,
whatever it says; 1 when none did.
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
            raise EOFError("the daemon closed the connection")
        buf += chunk
    return buf


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: raw_request.py SOCKET < envelope.json")
    envelope = json.loads(sys.stdin.read())
    data = json.dumps(envelope).encode("utf-8")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(120)
        s.connect(sys.argv[1])
        s.sendall(struct.pack(">I", len(data)) + data)
        try:
            (length,) = struct.unpack(">I", read_exact(s, 4))
            reply = read_exact(s, length)
        except (EOFError, OSError) as e:
            sys.stderr.write("no reply: %s\n" % e)
            sys.exit(1)
    sys.stdout.write(reply.decode("utf-8") + "\n")


if __name__ == "__main__":
    main()
