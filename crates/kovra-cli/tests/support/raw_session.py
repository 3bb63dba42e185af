#!/usr/bin/env python3
"""Hold one connection to a kovra daemon socket and send it envelopes, one per stdin line.

usage: raw_session.py SOCKET

Connects once, prints `connected`, then for every line read from stdin (one JSON envelope,
docs/protocol.md §4) sends it as one frame and prints the reply frame's JSON on one line.
When the daemon closes the connection, prints `{"closed": "REASON"}` for that request and
every later one. Exits 0 at the end of stdin; 1 when it could not connect. Stdout is
flushed after every line, so a test can act between two requests on the same connection.
"""
import json
import socket
import struct
import sys

from raw_request import read_exact  # the same framing, beside this script


def say(text):
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: raw_session.py SOCKET")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(60)
    try:
        s.connect(sys.argv[1])
    except OSError as e:
        sys.stderr.write("cannot connect: %s\n" % e)
        sys.exit(1)
    say("connected")
    closed = None
    for line in sys.stdin:
        if not line.strip():
            continue
        if closed is None:
            data = json.dumps(json.loads(line)).encode("utf-8")
            try:
                s.sendall(struct.pack(">I", len(data)) + data)
                (length,) = struct.unpack(">I", read_exact(s, 4))
                say(read_exact(s, length).decode("utf-8"))
                continue
            except (EOFError, OSError) as e:
                closed = str(e)
        say(json.dumps({"closed": closed}))
    s.close()


if __name__ == "__main__":
    main()
