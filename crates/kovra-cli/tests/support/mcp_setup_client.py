#!/usr/bin/env python3
"""Start the `kovra` MCP server exactly as `kovra setup` wired it, and call its tools.

usage: mcp_setup_client.py PLAN.json

PLAN.json: {"command": "...", "args": [...], "env": {...}, "cwd": "...",
            "calls": [{"tool": "list", "arguments": {...}}, ...]}

The server inherits this process's environment (KOVRA_HOME, XDG_RUNTIME_DIR, PATH with the
kovra under test first) plus the entry's `env`, and starts in `cwd`, as a client would.
Prints one JSON document on stdout: a list with, per call, {"tool", "is_error", "text",
"structured"}. The Rust test decides what is right; this script only relays.
"""

import json
import os
import sys

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


async def main(plan):
    env = dict(os.environ)
    env.update(plan.get("env", {}))
    params = StdioServerParameters(
        command=plan["command"], args=plan["args"], env=env, cwd=plan["cwd"]
    )
    results = []
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            for call in plan["calls"]:
                r = await session.call_tool(call["tool"], call.get("arguments", {}))
                text = "\n".join(c.text for c in r.content if getattr(c, "text", None))
                results.append(
                    {
                        "tool": call["tool"],
                        "is_error": bool(getattr(r, "is_error", None) or getattr(r, "isError", False)),
                        "text": text,
                        "structured": getattr(r, "structured_content", None) or getattr(r, "structuredContent", None),
                    }
                )
    print(json.dumps(results))


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        anyio.run(main, json.load(f))
