#!/usr/bin/env python3
"""A loopback HTTPS upstream for the broker tests (`tests/cli/broker.rs`).

usage: https_upstream.py --bind 127.0.0.1 --cert leaf.pem --key leaf.key --log requests.jsonl
                         [--redirect-port PORT] [--timeout 120]

Listens on BIND, port 0 (the kernel picks one), prints the port on stdout once listening,
and exits when its stdin closes or after --timeout seconds, whichever comes first. Every
request is logged, before it is answered, as one JSON line (method, path, query, headers,
body, SNI) in --log.

Answers by the last segment of the path (any prefix: `/v1/echo`, `/bot<token>/echo`, ...):

- `echo`      200, JSON echo of method, path, query, headers and body;
- `encodings` 200, the credential it received in plain, base64, hex, URL-encoded and
              JSON-escaped forms, separated by >200 KiB of padding and written so that each
              form straddles two writes (TLS records);
- `headers`   200 with Set-Cookie, WWW-Authenticate and X-Echo-Auth: <credential>;
- `redirect`  302 to https://second.test:<redirect-port>/steal;
- `redirect-leak` 302 to that host with the credential in the location's query;
- `redirect-http` 302 to http://second.test:<redirect-port>/steal (plain HTTP: a client
              that follows it goes back through the egress proxy in the clear);
- `binary`    200, a non-UTF-8 body holding the credential;
- `slow`      waits 5 s, then 200;
- `big`       200 with a 9 MiB body;
- `status404` 404, a JSON body holding the credential;
- `gzip`      200, `Content-Encoding: gzip`, a gzip body holding the credential (sent
              whatever the request's Accept-Encoding);
- `partial`   206 with `Content-Range`, a body holding the first half of the credential;
- `headername` 200 with a header named `X-<credential>` (when the credential is a valid
              header name token);
- `refs`      (git's `/info/refs`) 401 with `WWW-Authenticate: Basic` without a credential,
              404 with one (the log shows what arrived);
- anything else 200 `{"ok":true}`.

The credential is taken from Authorization (after the scheme; Basic is decoded), x-api-key,
x-goog-api-key, api-key, private-token and similar headers, the `key` / `api_key` /
`access_token` query parameter, or a `/bot<token>/` path segment.
"""
import argparse
import base64
import gzip
import json
import os
import socket
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOG_LOCK = threading.Lock()
ARGS = None

CREDENTIAL_HEADERS = [
    "x-api-key",
    "x-goog-api-key",
    "api-key",
    "private-token",
    "dd-api-key",
    "x-auth-token",
    "x-access-token",
    "apikey",
]
CREDENTIAL_PARAMS = ["key", "api_key", "apikey", "access_token", "token"]


def log_request(entry):
    line = json.dumps(entry, sort_keys=True) + "\n"
    with LOG_LOCK:
        with open(ARGS.log, "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())


def credential_of(path, query, headers):
    auth = headers.get("authorization")
    if auth:
        scheme, _, rest = auth.partition(" ")
        rest = rest.strip()
        if scheme.lower() == "basic":
            try:
                return base64.b64decode(rest).decode("utf-8", "replace")
            except Exception:  # noqa: BLE001
                return rest
        return rest or auth
    for name in CREDENTIAL_HEADERS:
        if headers.get(name):
            return headers[name]
    for name in CREDENTIAL_PARAMS:
        if query.get(name):
            return query[name][0]
    for seg in path.split("/"):
        if seg.startswith("bot") and len(seg) > 3:
            return urllib.parse.unquote(seg[3:])
    return ""


def encodings_body(cred):
    """The credential in every form the broker promises to scrub, far apart."""
    raw = cred.encode("utf-8")
    forms = [
        ("plain", raw),
        ("base64", base64.b64encode(raw)),
        ("base64-nopad", base64.b64encode(raw).rstrip(b"=")),
        ("base64url", base64.urlsafe_b64encode(raw)),
        ("base64url-nopad", base64.urlsafe_b64encode(raw).rstrip(b"=")),
        # Inside a longer encoded run, at the two other alignments.
        ("base64-shift1", base64.b64encode(b"x" + raw)),
        ("base64-shift2", base64.b64encode(b"xy" + raw)),
        ("hex", raw.hex().encode()),
        ("HEX", raw.hex().upper().encode()),
        ("percent", urllib.parse.quote(cred, safe="").encode()),
        ("percent-lower", "".join(
            c if c.isalnum() or c in "-._~" else "%%%02x" % ord(c) for c in cred
        ).encode()),
        ("percent-plus", urllib.parse.quote_plus(cred, safe="").encode()),
        ("json", json.dumps(cred)[1:-1].encode()),
        ("json-slash", json.dumps(cred)[1:-1].replace("/", "\\/").encode()),
        ("json-in-object", json.dumps({"token": cred}).encode()),
    ]
    parts = []
    for i, (label, form) in enumerate(forms):
        # Odd, growing padding: each form lands at a different offset.
        pad = b"." * (200 * 1024 + 997 * i + 13)
        parts.append(pad)
        parts.append(b"\n" + label.encode() + b": ")
        parts.append(form)
        parts.append(b"\n")
    parts.append(b"end\n")
    return parts


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kovra-test-upstream/1"

    def log_message(self, fmt, *args):  # quiet
        pass

    def read_body(self):
        te = (self.headers.get("transfer-encoding") or "").lower()
        if "chunked" in te:
            out = b""
            while True:
                line = self.rfile.readline()
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length else b""

    def handle_any(self):
        parsed = urllib.parse.urlsplit(self.path)
        path = parsed.path
        query = urllib.parse.parse_qs(parsed.query, keep_blank_values=True)
        body = self.read_body()
        headers = {}
        header_list = []
        for k, v in self.headers.items():
            headers[k.lower()] = v
            header_list.append([k.lower(), v])
        sni = getattr(self.connection, "kovra_sni", None)
        entry = {
            "time": time.time(),
            "method": self.command,
            "target": self.path,
            "path": path,
            "query": parsed.query,
            "headers": header_list,
            "body": body.decode("utf-8", "replace"),
            "sni": sni,
            "version": self.request_version,
        }
        log_request(entry)
        cred = credential_of(path, query, headers)
        last = path.rstrip("/").rsplit("/", 1)[-1]
        try:
            self.answer(last, entry, cred)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            self.close_connection = True

    def send_simple(self, status, body, ctype="application/json", extra=()):
        self.send_response(status)
        self.send_header("content-type", ctype)
        for k, v in extra:
            self.send_header(k, v)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def answer(self, last, entry, cred):
        if last == "refs" and not cred:
            # git's smart-HTTP discovery: credentials only after this challenge.
            self.send_simple(401, b"authentication required", ctype="text/plain",
                             extra=[("WWW-Authenticate", 'Basic realm="kovra-test-git"')])
        elif last == "refs":
            self.send_simple(404, b"no such repository", ctype="text/plain")
        elif last == "echo":
            doc = {
                "method": entry["method"],
                "path": entry["path"],
                "target": entry["target"],
                "query": entry["query"],
                "headers": entry["headers"],
                "body": entry["body"],
                "sni": entry["sni"],
            }
            self.send_simple(200, json.dumps(doc, indent=1).encode())
        elif last == "encodings":
            parts = encodings_body(cred)
            total = sum(len(p) for p in parts)
            self.send_response(200)
            self.send_header("content-type", "text/plain; charset=utf-8")
            self.send_header("content-length", str(total))
            self.end_headers()
            for p in parts:
                if len(p) >= 4 and not p.startswith(b"."):
                    # Split the form itself across two writes (two TLS records).
                    mid = len(p) // 2
                    self.wfile.write(p[:mid])
                    self.wfile.flush()
                    time.sleep(0.01)
                    self.wfile.write(p[mid:])
                else:
                    self.wfile.write(p)
                self.wfile.flush()
        elif last == "headers":
            self.send_simple(
                200,
                b'{"headers":"sent"}',
                extra=[
                    ("Set-Cookie", "session=kovra-test-session; Path=/; HttpOnly"),
                    ("WWW-Authenticate", 'Bearer realm="kovra-test", error="invalid_token"'),
                    ("X-Echo-Auth", cred),
                    ("X-Plain", "kept-header-value"),
                ],
            )
        elif last == "redirect":
            loc = "https://second.test:%d/steal" % ARGS.redirect_port
            self.send_simple(302, b'{"moved":true}', extra=[("Location", loc)])
        elif last == "redirect-http":
            loc = "http://second.test:%d/steal" % ARGS.redirect_port
            self.send_simple(302, b'{"moved":true}', extra=[("Location", loc)])
        elif last == "redirect-leak":
            # A redirect whose location carries the credential (a pre-signed URL, say).
            loc = "https://second.test:%d/steal?k=%s&raw=%s" % (
                ARGS.redirect_port,
                urllib.parse.quote(cred, safe=""),
                cred,
            )
            self.send_simple(302, b'{"moved":true}', extra=[("Location", loc)])
        elif last == "binary":
            body = b"\xff\xfe\x00binary:" + cred.encode() + b":\x00\x80\xff"
            self.send_simple(200, body, ctype="application/octet-stream")
        elif last == "slow":
            time.sleep(5)
            self.send_simple(200, b'{"slow":true}')
        elif last == "big":
            size = 9 * 1024 * 1024
            self.send_response(200)
            self.send_header("content-type", "application/octet-stream")
            self.send_header("content-length", str(size))
            self.end_headers()
            chunk = b"b" * 65536
            sent = 0
            while sent < size:
                self.wfile.write(chunk)
                sent += len(chunk)
        elif last == "gzip":
            body = gzip.compress(json.dumps({"echo": cred}).encode())
            self.send_simple(200, body, extra=[("Content-Encoding", "gzip")])
        elif last == "partial":
            whole = json.dumps({"key": cred}).encode()
            half = cred.encode()[: max(1, len(cred) // 2)]
            self.send_simple(
                206,
                half,
                ctype="application/octet-stream",
                extra=[("Content-Range", "bytes 8-%d/%d" % (8 + len(half) - 1, len(whole)))],
            )
        elif last == "headername":
            token_ok = cred and all(c.isalnum() or c in "-_.!#$%&'*+^`|~" for c in cred)
            extra = [("X-" + cred, "1")] if token_ok else []
            self.send_simple(200, b'{"headername":"sent"}', extra=extra + [("X-Plain", "kept")])
        elif last == "status404":
            self.send_simple(404, json.dumps({"error": "not found", "key": cred}).encode())
        else:
            self.send_simple(200, b'{"ok":true}')

    do_GET = handle_any
    do_POST = handle_any
    do_PUT = handle_any
    do_PATCH = handle_any
    do_DELETE = handle_any
    do_OPTIONS = handle_any
    do_HEAD = handle_any


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False

    def __init__(self, addr, handler, context):
        self.context = context
        super().__init__(addr, handler)

    def get_request(self):
        sock, addr = super().get_request()
        sock.settimeout(30)
        # Headers and body go out in separate writes: without this, Nagle's algorithm and the
        # client's delayed ACK add ~40 ms to every keep-alive response.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock, addr

    def finish_request(self, request, client_address):
        # TLS handshake in the worker thread, so a bad client cannot stall accept().
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            request.close()
            return
        self.RequestHandlerClass(tls, client_address, self)


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--bind", required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--redirect-port", type=int, default=1)
    p.add_argument("--timeout", type=float, default=120)
    ARGS = p.parse_args()
    if not ARGS.bind.startswith("127."):
        sys.exit("loopback addresses only")
    open(ARGS.log, "a").close()

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(ARGS.cert, ARGS.key)
    ctx.set_alpn_protocols(["http/1.1"])

    def on_sni(sslobj, name, _ctx):
        try:
            sslobj.kovra_sni = name
        except Exception:  # noqa: BLE001
            pass
        return None

    ctx.sni_callback = on_sni

    server = Server((ARGS.bind, 0), Handler, ctx)
    port = server.server_address[1]

    def die_on_stdin_eof():
        try:
            while sys.stdin.buffer.read(4096):
                pass
        except Exception:  # noqa: BLE001
            pass
        os._exit(0)

    threading.Thread(target=die_on_stdin_eof, daemon=True).start()
    killer = threading.Timer(ARGS.timeout, lambda: os._exit(0))
    killer.daemon = True
    killer.start()

    sys.stdout.write("%d\n" % port)
    sys.stdout.flush()
    server.serve_forever(poll_interval=0.2)


if __name__ == "__main__":
    main()
