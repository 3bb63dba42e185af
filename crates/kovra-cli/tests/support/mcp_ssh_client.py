#!/usr/bin/env python3
"""Brokered ssh over MCP: drive `kovra mcp`'s `ssh` and `ssh_hosts` tools with the official
Python MCP SDK (`pip install mcp`) against the loopback sshd of `tests/cli/ssh.rs`.

usage: mcp_ssh_client.py KOVRA_BIN FIXTURE.json

FIXTURE.json: {"host": NAME, "file": PATH, "other_file": PATH, "canaries": {...}}. The Rust side
has made the vault, pinned the host NAME (commands `echo *` and `cat *` allowed) and written
PATH on the "server" with a canary in it. Checked:
- tools/list offers `ssh` (destructive, open-world) and `ssh_hosts` (read-only); neither
  takes a value;
- `ssh_hosts` names the host and its patterns;
- `ssh` runs an allowed command (structured stdout and exit status), masks a vault value the
  remote prints (one outside the session's scope as `[kovra:redacted]`), parks a command outside the patterns (`approval-needed`), and says
  `ssh-host-unknown` for a host nobody added;
- no canary appears in any tool result nor in the server's stderr.

Prints one summary line; exits non-zero on any failure (canaries masked in the message).
"""

import json
import os
import sys
import tempfile

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


class Failed(Exception):
    pass


def check(cond, message):
    if not cond:
        raise Failed(message)


def text_of(res):
    parts = [getattr(c, "text", "") or "" for c in res.content]
    if getattr(res, "structured_content", None) is not None:
        parts.append(json.dumps(res.structured_content))
    return "\n".join(parts)


async def main(kovra_bin, fixture):
    host, path = fixture["host"], fixture["file"]
    canaries = fixture["canaries"]
    seen = []

    def scan(where, text):
        seen.append(text)
        for tag, value in canaries.items():
            if value in text:
                raise Failed(f"canary {tag} leaked in {where}")

    env = {k: v for k, v in os.environ.items() if not k.startswith("KOVRA_")}
    env["KOVRA_HOME"] = os.environ["KOVRA_HOME"]
    env["KOVRA_NO_AUTOSTART"] = "1"
    # The keys live in the global vault, which a session addresses only when it lists it.
    env["KOVRA_MCP_PROJECTS"] = "global"
    tmp = tempfile.mkdtemp(prefix="kovra-mcp-ssh-")
    errlog = open(os.path.join(tmp, "server-stderr.log"), "w+")
    params = StdioServerParameters(command=kovra_bin, args=["mcp"], env=env, cwd=tmp)
    async with stdio_client(params, errlog=errlog) as (r, w):
        async with ClientSession(r, w) as s:
            await s.initialize()
            tools = {t.name: t for t in (await s.list_tools()).tools}
            check("ssh" in tools and "ssh_hosts" in tools, f"tools: {sorted(tools)}")
            ssh = tools["ssh"]
            check(ssh.annotations.destructive_hint and ssh.annotations.open_world_hint,
                  f"ssh annotations: {ssh.annotations}")
            check(tools["ssh_hosts"].annotations.read_only_hint, "ssh_hosts is not read-only")
            for t in ("ssh", "ssh_hosts"):
                props = set((tools[t].input_schema or {}).get("properties", {}))
                check(not props & {"value", "secret", "password", "private_key"},
                      f"{t} takes a value: {props}")

            async def call(args, where):
                res = await s.call_tool("ssh", args)
                text = text_of(res)
                scan(where, text)
                return bool(res.is_error), text, res.structured_content

            res = await s.call_tool("ssh_hosts", {})
            text = text_of(res)
            scan("ssh_hosts", text)
            hosts = res.structured_content["hosts"]
            check([h["name"] for h in hosts] == [host], f"ssh_hosts: {text[:300]}")
            check("echo *" in hosts[0]["commands"], f"patterns: {hosts[0]}")

            err, text, out = await call({"host": host, "command": "echo mcp-ssh-ok"}, "echo")
            check(not err, f"echo: {text[:300]}")
            check(out["stdout"] == "mcp-ssh-ok\n" and out["exit_status"] == 0, f"echo: {out}")

            err, text, out = await call({"host": host, "command": f"cat {path}"}, "cat")
            check(not err and out["stdout"].startswith("TOKEN=[kovra:"), f"cat: {text[:300]}")

            err, text, out = await call(
                {"host": host, "command": f"cat {fixture['other_file']}"}, "out of scope")
            check(not err and out["stdout"] == "DB=[kovra:redacted]\n",
                  f"out of scope: {text[:300]}")

            err, text, _ = await call({"host": host, "command": "echo x; id"}, "outside")
            check(err and text.startswith("approval-needed"), f"outside: {text[:300]}")

            err, text, _ = await call({"host": "nowhere", "command": "true"}, "unknown")
            check(err and text.startswith("ssh-host-unknown"), f"unknown: {text[:300]}")

            err, text, _ = await call({"host": host, "command": "  "}, "empty")
            check(err, f"empty command accepted: {text[:300]}")
    errlog.seek(0)
    scan("server stderr", errlog.read())
    print(f"mcp ssh client: ok ({len(seen)} results scanned)")


if __name__ == "__main__":
    with open(sys.argv[2]) as f:
        fixture = json.load(f)
    try:
        anyio.run(main, os.path.abspath(sys.argv[1]), fixture)
    except Failed as e:
        message = str(e)
        for tag, value in fixture["canaries"].items():
            message = message.replace(value, f"[canary {tag}]")
        print(f"mcp ssh client: FAILED: {message}", file=sys.stderr)
        sys.exit(1)
