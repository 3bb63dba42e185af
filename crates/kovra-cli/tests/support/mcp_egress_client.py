#!/usr/bin/env python3
"""An agent's MCP `run` with a record pinned to a provider (tests/cli/broker/egress.rs).

usage: mcp_egress_client.py KOVRA_BIN SCRIPT

Launches `KOVRA_BIN mcp` with the official Python SDK (`pip install mcp`) under a scope of
inject on the global vault's `dev` environment, calls the `run` tool with
`OPENAI_API_KEY=secret:dev/openai/openai_api_key` as inline refs and `sh -c SCRIPT` as the
command, and prints the tool result's text content (stdout of the child included). The
environment (KOVRA_HOME, the test upstream and CA) is inherited.
"""
import asyncio
import json
import os
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


async def main(kovra, script):
    env = dict(os.environ)
    env.update({
        "KOVRA_MCP_OPERATIONS": "metadata,inject",
        "KOVRA_MCP_PROJECTS": "global",
        "KOVRA_MCP_ENVIRONMENTS": "dev",
    })
    params = StdioServerParameters(command=kovra, args=["mcp"], env=env)
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            result = await session.call_tool("run", {
                "command": ["sh", "-c", script],
                "refs": "OPENAI_API_KEY=secret:dev/openai/openai_api_key\n",
                "env": "dev",
            })
            for c in result.content:
                if getattr(c, "text", None):
                    print(c.text)
            # The SDK's attribute names changed case between releases.
            structured = getattr(result, "structured_content",
                                 getattr(result, "structuredContent", None))
            if structured is not None:
                print(json.dumps(structured))
            print("isError=%s" % getattr(result, "is_error",
                                         getattr(result, "isError", None)))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
