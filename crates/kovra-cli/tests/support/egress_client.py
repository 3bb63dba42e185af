#!/usr/bin/env python3
"""A program a run starts, calling an API the way SDKs do (for tests/cli/broker/egress.rs).

usage: egress_client.py LIB URL [--auth-env VAR] [--data TEXT] [--header NAME:VALUE]
       egress_client.py connect TARGET

LIB is `requests`, `httpx` or `urllib`; all three honour HTTPS_PROXY/HTTP_PROXY and the CA
variables from the environment, as a program given kovra's egress variables would. With
--auth-env, `Authorization: Bearer $VAR` is sent. Prints `status N` and the body.

`connect TARGET` sends `CONNECT TARGET` to the proxy named in HTTPS_PROXY, with its
credentials, and prints the proxy's status line.
"""
import base64
import os
import socket
import sys
import urllib.parse


def connect(target):
    proxy = urllib.parse.urlsplit(os.environ["HTTPS_PROXY"])
    creds = base64.b64encode(
        ("%s:%s" % (proxy.username, proxy.password)).encode()).decode()
    with socket.create_connection((proxy.hostname, proxy.port), timeout=20) as s:
        s.sendall(("CONNECT %s HTTP/1.1\r\nHost: %s\r\nProxy-Authorization: Basic %s\r\n\r\n"
                   % (target, target, creds)).encode())
        print(s.recv(4096).split(b"\r\n", 1)[0].decode(errors="replace"))


def main():
    if sys.argv[1] == "connect":
        return connect(sys.argv[2])
    lib, url = sys.argv[1], sys.argv[2]
    headers, data = {}, None
    args = sys.argv[3:]
    while args:
        flag, value, args = args[0], args[1], args[2:]
        if flag == "--auth-env":
            headers["Authorization"] = "Bearer " + os.environ[value]
        elif flag == "--data":
            data = value.encode()
        elif flag == "--header":
            k, v = value.split(":", 1)
            headers[k] = os.path.expandvars(v)
    method = "POST" if data is not None else "GET"
    if lib == "requests":
        import requests
        r = requests.request(method, url, headers=headers, data=data, timeout=30)
        status, body = r.status_code, r.text
    elif lib == "httpx":
        import httpx
        r = httpx.request(method, url, headers=headers, content=data, timeout=30)
        status, body = r.status_code, r.text
    else:
        import urllib.request
        req = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                status, body = r.status, r.read().decode(errors="replace")
        except urllib.error.HTTPError as e:
            status, body = e.code, e.read().decode(errors="replace")
    print("status %d" % status)
    print(body)


if __name__ == "__main__":
    main()
