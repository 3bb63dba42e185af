#!/usr/bin/env python3
"""Drive `KOVRA_BIN mcp` with the official Python MCP SDK (`pip install mcp`).

Usage: python3 crates/kovra-mcp/tests/mcp_client.py KOVRA_BIN

Plants canary values at every sensitivity and environment (and in the global vault), starts
the MCP server over stdio under a project scope, lists the tools, calls each one, and checks:
- no canary (plain, base64 or hex) appears in any tool result, error, or the server's stderr;
- reveal of high, production and inject-only records is refused;
- attack (a): edit_metadata lowering high->low and setting revealable, then reveal: refused;
- attack (b): a project-scoped session reaching a global record through status, reveal,
  fingerprint, run or a `secret://global/...` coordinate: answered as absent;
- unknown tools, wrong argument types, malformed and huge arguments are errors, and the
  server keeps serving;
- tools/list offers only the tools the session's scope allows (from KOVRA_MCP_OPERATIONS or
  an agent profile), and a call to an unlisted tool is refused with what it needs;
- no error names a CLI flag outside a `kovra ...` command the human is asked to run, and a
  locked vault answers with the human step `kovra unlock`.
Exits 0 on success; non-zero with a message on failure. Always stops the daemon it started.
"""

import base64
import json
import re
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

EXPECTED_TOOLS = {
    "list",
    "status",
    "fingerprint",
    "run",
    "reveal",
    "generate",
    "request_secret",
    "api",
    "providers",
    "edit_metadata",
    "delete",
    "ssh",
    "ssh_hosts",
    "query",
}
# The tools each scope offers (crates/kovra-mcp/src/access.rs).
DEFAULT_TOOLS = {
    "list", "status", "fingerprint", "run", "request_secret", "api", "providers", "ssh", "ssh_hosts",
    "query",
}
METADATA_TOOLS = {"list", "status", "fingerprint", "request_secret"}


class Failed(Exception):
    pass


def check(cond, message):
    if not cond:
        raise Failed(message)


def records(listing):
    """A `list` result's rows as objects: each row's values under `columns`, in order."""
    cols = listing["columns"]
    rows = listing["records"]
    check(all(len(row) == len(cols) for row in rows), f"rows and columns {cols} differ: {rows}")
    return [dict(zip(cols, row)) for row in rows]


def canary(tag):
    return f"kvCANARY{tag}{secrets.token_hex(12)}"


class Harness:
    def __init__(self, kovra_bin):
        self.bin = os.path.abspath(kovra_bin)
        self.tmp = tempfile.mkdtemp(prefix="kovra-mcp-test-")
        self.home = os.path.join(self.tmp, "home")
        self.runtime = os.path.join(self.tmp, "run")
        self.work = os.path.join(self.tmp, "work")
        for d in (self.runtime, self.work):
            os.makedirs(d, mode=0o700)
        self.passfile = os.path.join(self.tmp, "passphrase")
        with open(self.passfile, "w") as f:
            f.write("correct horse battery staple mcp test\n")
        os.chmod(self.passfile, 0o600)
        base = {k: v for k, v in os.environ.items() if not k.startswith("KOVRA_")}
        base.update(
            KOVRA_HOME=self.home,
            XDG_RUNTIME_DIR=self.runtime,
            KOVRA_PASSPHRASE_FILE=self.passfile,
        )
        self.env = base
        self.canaries = {}
        self.texts = []  # every text the client saw, for the final scan
        self.errors = []  # every error text, for the flag check
        self.errlog_path = os.path.join(self.tmp, "server-stderr.log")

    def kovra(self, *args, stdin=None, ok=True):
        p = subprocess.run(
            [self.bin, *args],
            input=stdin,
            env=self.env,
            cwd=self.work,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if ok and p.returncode != 0:
            raise Failed(f"kovra {' '.join(args)} failed ({p.returncode}): {p.stderr.strip()}")
        return p

    def plant(self, tag, coordinate, *flags, project=True):
        value = canary(tag)
        self.canaries[tag] = value
        args = ["add", coordinate, "--stdin", *flags]
        if project:
            args += ["--project", "app"]
        self.kovra(*args, stdin=value + "\n")

    def setup(self):
        self.kovra("init", "--passphrase-file", self.passfile)
        self.kovra("project", "create", "app")
        self.plant("low", "secret:dev/canary/low", "--sensitivity", "low")
        self.plant("medium", "secret:dev/canary/medium", "--sensitivity", "medium")
        self.plant("high", "secret:dev/canary/high", "--sensitivity", "high", "--revealable")
        self.plant("injectonly", "secret:dev/canary/injectonly", "--sensitivity", "inject-only")
        self.plant("prod", "secret:prod/canary/prod", "--sensitivity", "high")
        self.plant("target", "secret:dev/canary/target", "--sensitivity", "high")
        self.plant("global", "secret://global/dev/canary/global", "--sensitivity", "low",
                   "--revealable", project=False)
        # A value policy lets this session see: the reveal tool's happy path.
        self.shown = f"shownvalue{secrets.token_hex(8)}"
        self.kovra("add", "secret:dev/open/shown", "--stdin", "--sensitivity", "low",
                   "--revealable", "--project", "app", stdin=self.shown + "\n")

    def forbidden_forms(self):
        for tag, value in self.canaries.items():
            raw = value.encode()
            yield tag, value
            yield tag + "/base64", base64.b64encode(raw).decode()
            yield tag + "/base64url", base64.urlsafe_b64encode(raw).decode().rstrip("=")
            yield tag + "/hex", raw.hex()
            yield tag + "/HEX", raw.hex().upper()

    def scan(self, where, text):
        for tag, form in self.forbidden_forms():
            if form in text:
                raise Failed(f"canary {tag} leaked in {where}")

    def stop(self):
        try:
            self.kovra("daemon", "stop", ok=False)
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)


def result_text(res):
    parts = [getattr(c, "text", "") or "" for c in res.content]
    if getattr(res, "structured_content", None) is not None:
        parts.append(json.dumps(res.structured_content))
    return "\n".join(parts)


async def call(h, session, name, args, expect_error=None, where=None):
    """Call a tool; record its text; check is_error against `expect_error` when given."""
    try:
        res = await session.call_tool(name, args)
    except Exception as e:  # a JSON-RPC error
        text = f"{type(e).__name__}: {e}"
        h.texts.append((where or name, text))
        h.errors.append((where or name, text))
        h.scan(where or name, text)
        if expect_error is False:
            raise Failed(f"{name} {args!r:.200} raised {text}")
        return True, text, None
    text = result_text(res)
    h.texts.append((where or name, text))
    h.scan(where or name, text)
    err = bool(res.is_error)
    if err:
        h.errors.append((where or name, text))
    if expect_error is not None and err != expect_error:
        raise Failed(f"{name} {args!r:.200}: is_error={err}, text={text[:400]!r}")
    return err, text, getattr(res, "structured_content", None)


def bare_flag(text):
    """A `--flag` outside a backticked `kovra ...` command (which the human runs), if any."""
    parts = text.split("`")
    outside = [p for i, p in enumerate(parts) if i % 2 == 0 or not p.startswith("kovra ")]
    for part in outside:
        m = re.search(r"(?<![A-Za-z0-9-])--[a-z][a-z-]*", part)
        if m:
            return m.group(0)
    return None


def p_desc(pending):
    return pending[0]["description"] if pending else None


def code_of(text):
    return text.split(":", 1)[0].strip()


async def scenario(h):
    server_env = dict(h.env)
    server_env.pop("KOVRA_PASSPHRASE_FILE", None)  # the agent's session has no passphrase
    server_env.update(
        KOVRA_PROJECT="app",
        KOVRA_MCP_OPERATIONS="metadata,inject,reveal,write",
        KOVRA_NO_AUTOSTART="1",
    )
    params = StdioServerParameters(command=h.bin, args=["mcp"], env=server_env, cwd=h.work)
    with open(h.errlog_path, "w") as errlog:
        async with stdio_client(params, errlog=errlog) as (r, w):
            async with ClientSession(r, w) as s:
                init = await s.initialize()
                check(init.server_info.name == "kovra", f"server name {init.server_info.name}")
                tools = {t.name: t for t in (await s.list_tools()).tools}
                check(EXPECTED_TOOLS <= set(tools), f"tools: {sorted(tools)}")
                for name, t in tools.items():
                    check(t.input_schema.get("type") == "object", f"{name}: no input schema")
                    check(t.description, f"{name}: no description")
                for name in ("list", "status", "fingerprint", "run", "generate"):
                    check(tools[name].output_schema, f"{name}: no output schema")
                check(tools["list"].annotations.read_only_hint is True, "list not read-only")
                check(tools["delete"].annotations.destructive_hint is True, "delete not destructive")
                for name, t in tools.items():
                    props = t.input_schema.get("properties", {})
                    check("value" not in props, f"{name} takes a value argument")

                # Metadata.
                _, text, st = await call(h, s, "status", {}, expect_error=False)
                check(st and st.get("unlocked") is True, f"status: {text[:300]}")
                _, text, listing = await call(h, s, "list", {}, expect_error=False)
                coords = {r["coordinate"] for r in records(listing)}
                check("secret:dev/canary/low" in coords, f"list misses low: {coords}")
                kinds = {r["coordinate"]: r["type"] for r in records(listing)}
                check(kinds["secret:dev/canary/low"] == "secret", f"list types: {kinds}")
                check(not any("prod/" in c for c in coords), f"list shows production: {coords}")
                check(all(r["vault"] != "global" for r in records(listing)),
                      f"list shows the global vault: {coords}")
                # The records travel once: structured; the text is a summary pointing there.
                check(listing.get("total") == len(listing["records"]) and
                      "next_cursor" not in listing, f"list is one page: {text[:300]}")
                summary = text.split("\n", 1)[0]  # the text content (then the structured)
                check("structured content" in summary and "secret:dev/" not in summary,
                      f"list text is not a summary: {summary[:300]}")
                # Pages of one record walk the same listing, in order, once.
                walked, cursor, pages = [], None, 0
                while True:
                    args = {"env": "dev", "limit": 1}
                    if cursor:
                        args["cursor"] = cursor
                    _, text, page = await call(h, s, "list", args, expect_error=False,
                                               where="list page")
                    walked += [r["coordinate"] for r in records(page)]
                    pages += 1
                    cursor = page.get("next_cursor")
                    if not cursor:
                        check("no more pages" in text, f"last page: {text[:300]}")
                        break
                    check(cursor in text, f"the summary does not give the cursor: {text[:300]}")
                    check(pages < 100, "list pages never end")
                _, _, dev = await call(h, s, "list", {"env": "dev"}, expect_error=False)
                check(walked == [r["coordinate"] for r in records(dev)] and pages == len(walked),
                      f"pages walked {walked}, one page holds {dev['records']}")
                _, text, _ = await call(h, s, "list", {"cursor": "forged"}, expect_error=True)
                check(code_of(text) == "invalid-argument", f"forged cursor: {text[:200]}")
                await call(h, s, "fingerprint", {"coordinate": "secret:dev/canary/low"},
                           expect_error=False)
                _, text, _ = await call(h, s, "fingerprint",
                                        {"coordinate": "secret:dev/canary/high"},
                                        expect_error=True)

                # Reveal: only what policy allows.
                _, text, _ = await call(h, s, "reveal", {"coordinate": "secret:dev/open/shown"},
                                        expect_error=False)
                check(h.shown in text, "reveal of an allowed value did not return it")
                for coord in ("secret:dev/canary/high", "secret:dev/canary/injectonly",
                              "secret:prod/canary/prod", "secret:dev/canary/low",
                              "secret:dev/canary/medium"):
                    _, text, _ = await call(h, s, "reveal", {"coordinate": coord},
                                            expect_error=True)

                # Run: output arrives redacted, in every common encoding.
                script = (
                    'echo "low=$LOW"; echo "med=$MED"; printf %s "$LOW" | base64; '
                    'printf %s "$LOW" | od -An -tx1 | tr -d " \\n"; echo; echo to-stderr >&2; exit 3'
                )
                err, text, out = await call(
                    h, s, "run",
                    {"command": ["sh", "-c", script],
                     "refs": "LOW=secret:dev/canary/low\nMED=secret:dev/canary/medium\n"})
                if err:
                    check(code_of(text) in ("approval-needed", "policy-denied"),
                          f"run refused oddly: {text[:300]}")
                else:
                    check(out["exit_code"] == 3, f"run exit code: {out}")
                    check("low=" in out["stdout"] and "to-stderr" in out["stderr"],
                          f"run output: {out}")
                # No secrets, a timeout and an output cap.
                t0 = time.monotonic()
                _, text, out = await call(h, s, "run",
                                          {"command": ["sleep", "30"], "timeout_secs": 1},
                                          expect_error=False)
                check(out["timed_out"] and out["exit_code"] != 0, f"timeout: {out}")
                check(time.monotonic() - t0 < 15, "timeout not enforced")
                _, text, out = await call(
                    h, s, "run",
                    {"command": ["sh", "-c", "yes kovra | head -c 200000"],
                     "max_output_bytes": 1000},
                    expect_error=False)
                check(out["truncated"] and len(out["stdout"]) <= 1000, f"cap: {text[:200]}")
                # Protected values: refused or parked for approval, never injected here.
                for coord in ("secret:dev/canary/high", "secret:dev/canary/injectonly"):
                    err, text, out = await call(
                        h, s, "run",
                        {"command": ["sh", "-c", "echo $X"], "refs": f"X={coord}\n"})
                    if not err:
                        check(h.canaries["high"] not in out["stdout"], "high value in output")
                    elif code_of(text) == "approval-needed":
                        check("kovra approve" in text, f"approval message: {text}")

                # Generate never returns the value; request_secret takes none.
                _, text, out = await call(h, s, "generate",
                                          {"coordinate": "secret:dev/gen/token", "length": 40},
                                          expect_error=False)
                check(out["coordinate"].endswith("dev/gen/token"), f"generate: {text}")
                await call(h, s, "reveal", {"coordinate": "secret:dev/gen/token"},
                           expect_error=True)
                _, text, _ = await call(h, s, "request_secret",
                                        {"coordinate": "secret:dev/stripe/key",
                                         "description": "Stripe test key"},
                                        expect_error=False)
                check("kovra add" in text and "secret:dev/stripe/key" in text,
                      f"request_secret: {text}")
                # The request is recorded for the human, and closed once the value is added.
                pending = json.loads(h.kovra("requests", "--json").stdout)["pending"]
                check([p["coordinate"] for p in pending] == ["secret:dev/stripe/key"]
                      and p_desc(pending) == "Stripe test key", f"requests: {pending}")
                h.kovra("add", "--project", "app", "--stdin", "secret:dev/stripe/key",
                        stdin=canary("stripe"))
                pending = json.loads(h.kovra("requests", "--json").stdout)["pending"]
                check(pending == [], f"request not closed by add: {pending}")
                _, text, _ = await call(h, s, "request_secret",
                                        {"coordinate": "secret://global/dev/x/y",
                                         "description": "out of scope"},
                                        expect_error=True)
                check(code_of(text) == "not-found", f"request_secret out of scope: {text}")
                await call(h, s, "edit_metadata",
                           {"coordinate": "secret:dev/canary/low", "description": "renamed"},
                           expect_error=False)

                # Attack (a): loosen a high record, then reveal it.
                err, text, _ = await call(
                    h, s, "edit_metadata",
                    {"coordinate": "secret:dev/canary/target", "sensitivity": "low",
                     "revealable": True},
                    expect_error=True, where="attack-a edit")
                check(code_of(text) in ("approval-needed", "needs-proof", "policy-denied"),
                      f"attack a: {text}")
                await call(h, s, "reveal", {"coordinate": "secret:dev/canary/target"},
                           expect_error=True, where="attack-a reveal")
                # Each half alone does not help either.
                for edit in ({"sensitivity": "low"}, {"revealable": True}):
                    await call(h, s, "edit_metadata",
                               {"coordinate": "secret:dev/canary/target", **edit},
                               expect_error=True, where="attack-a step")
                await call(h, s, "reveal", {"coordinate": "secret:dev/canary/target"},
                           expect_error=True, where="attack-a reveal 2")

                # Attack (b): the global vault is not addressable from a project scope.
                _, absent, _ = await call(h, s, "reveal",
                                          {"coordinate": "secret://global/dev/canary/nothing"},
                                          expect_error=True)
                for coord in ("secret://global/dev/canary/global", "secret:dev/canary/global"):
                    for tool in ("reveal", "fingerprint", "delete"):
                        _, text, _ = await call(h, s, tool, {"coordinate": coord},
                                                expect_error=True, where=f"attack-b {tool}")
                        check(code_of(text) == "not-found",
                              f"attack b: {tool} {coord} answered {text[:200]}")
                    await call(h, s, "edit_metadata", {"coordinate": coord, "description": "x"},
                               expect_error=True, where="attack-b edit")
                _, text, _ = await call(h, s, "reveal",
                                        {"coordinate": "secret://global/dev/canary/global"},
                                        expect_error=True)
                check(text.replace("canary/global", "canary/X")
                      == absent.replace("canary/nothing", "canary/X"),
                      f"global record answered differently from an absent one:\n{text}\n{absent}")
                err, text, out = await call(
                    h, s, "run",
                    {"command": ["sh", "-c", "echo G=$G"],
                     "refs": "G=secret://global/dev/canary/global\n"},
                    where="attack-b run")
                check(err, f"attack b: run with a global ref succeeded: {text[:300]}")
                _, text, st = await call(h, s, "status", {}, expect_error=False)

                # Error paths whose hints must speak in tools and arguments.
                _, text, _ = await call(h, s, "fingerprint", {"coordinate": "secret:dev/no/such"},
                                        expect_error=True)
                check("`list`" in text and "`request_secret`" in text, f"not-found: {text}")
                _, text, _ = await call(h, s, "run",
                                        {"command": ["true"], "refs": "X=secret:${ENV}/canary/low\n"},
                                        expect_error=True, where="run without env")
                check("`env`" in text, f"run without env: {text}")
                _, text, _ = await call(h, s, "run",
                                        {"command": ["true"], "refs": "X=secret:dev/no/such\n"},
                                        expect_error=True, where="run unresolved")
                check("`request_secret`" in text, f"unresolved: {text}")
                await call(h, s, "run", {"command": ["true"], "refs": "X=${env:KOVRA_NO_SUCH}\n"},
                           expect_error=True, where="run env unset")
                _, text, _ = await call(h, s, "generate", {"coordinate": "secret:dev/canary/low"},
                                        expect_error=True, where="generate existing")
                _, text, _ = await call(h, s, "api", {"provider": "nosuch", "method": "GET",
                                                      "path": "/"},
                                        expect_error=True, where="api unknown provider")
                check("`providers`" in text, f"api unknown provider: {text}")
                await call(h, s, "api", {"provider": "github", "method": "GET", "path": "/user"},
                           expect_error=True, where="api no credential")
                await call(h, s, "api", {"provider": "github", "method": "GET", "path": "../x",
                                         "secret": "secret:dev/canary/low"},
                           expect_error=True, where="api bad path")
                await call(h, s, "reveal", {"coordinate": "secret:${ENV}/canary/low"},
                           expect_error=True, where="reveal template")

                # Bad input: the server answers with errors and keeps serving.
                await call(h, s, "no_such_tool", {}, expect_error=True)
                await call(h, s, "list", {"env": 5}, expect_error=True)
                await call(h, s, "run", {"command": "ls"}, expect_error=True)
                await call(h, s, "reveal", {}, expect_error=True)
                await call(h, s, "reveal", {"coordinate": "secret:dev/x", "value": "v"},
                           expect_error=True)
                _, text, _ = await call(h, s, "reveal", {"coordinate": "not a coordinate"},
                                        expect_error=True)
                check(code_of(text) == "coordinate-invalid", f"malformed: {text[:200]}")
                _, text, _ = await call(h, s, "reveal", {"coordinate": "secret:dev/" + "x" * 200000},
                                        expect_error=True)
                check(code_of(text) == "invalid-argument", f"huge: {text[:200]}")
                await call(h, s, "run", {"command": ["true"], "refs": "A=" * 300000},
                           expect_error=True)
                await call(h, s, "generate", {"coordinate": "secret:dev/gen/x", "charset": "emoji"},
                           expect_error=True)
                _, text, st = await call(h, s, "status", {}, expect_error=False)
                check(st.get("unlocked") is True, "server stopped serving after bad input")

                if os.environ.get("KOVRA_MCP_BENCH"):
                    for label, tool, args, n in (
                        ("status", "status", {}, 200),
                        ("list", "list", {}, 200),
                        ("list, pages of 1", "list", {"limit": 1}, 200),
                        ("run true", "run", {"command": ["true"]}, 50),
                        ("run with refs", "run",
                         {"command": ["true"], "refs": "LOW=secret:dev/canary/low\n"}, 50),
                        ("request_secret", "request_secret",
                         {"coordinate": "secret:dev/a/b", "description": "d"}, 200),
                    ):
                        times = []
                        for _ in range(n):
                            t0 = time.perf_counter()
                            res = await s.call_tool(tool, args)
                            times.append(time.perf_counter() - t0)
                            check(not res.is_error, f"bench {label}: {result_text(res)[:200]}")
                        times.sort()
                        print(f"bench {label}: median {times[len(times) // 2] * 1000:.2f} ms, "
                              f"p90 {times[int(len(times) * 0.9)] * 1000:.2f} ms over {n} calls",
                              file=sys.stderr)

                # Delete within scope.
                err, text, _ = await call(h, s, "delete", {"coordinate": "secret:dev/gen/token"})
                check(not err or code_of(text) == "approval-needed", f"delete: {text[:200]}")


async def discover_session(h):
    """The 2026-07-28 era (`server/discover`), with the global vault in scope: the global
    record becomes addressable, which shows the earlier not-found came from the scope."""
    server_env = dict(h.env)
    server_env.pop("KOVRA_PASSPHRASE_FILE", None)
    server_env.update(KOVRA_MCP_PROJECTS="app,global", KOVRA_NO_AUTOSTART="1")
    params = StdioServerParameters(command=h.bin, args=["mcp"], env=server_env, cwd=h.work)
    with open(h.errlog_path, "a") as errlog:
        async with stdio_client(params, errlog=errlog) as (r, w):
            async with ClientSession(r, w) as s:
                await s.discover()
                tools = {t.name for t in (await s.list_tools()).tools}
                check(tools == DEFAULT_TOOLS, f"default scope tools: {sorted(tools)}")
                _, text, _ = await call(h, s, "fingerprint",
                                        {"coordinate": "secret://global/dev/canary/global"},
                                        expect_error=False, where="global in scope")
                _, text, listing = await call(h, s, "list", {}, expect_error=False)
                check(any(r["vault"] == "global" for r in records(listing)),
                      "global vault in scope but not listed")
                # Default operations: no reveal, no write.
                _, text, _ = await call(h, s, "reveal", {"coordinate": "secret:dev/open/shown"},
                                        expect_error=True, where="reveal out of scope")
                check(code_of(text) == "policy-denied" and "reveal operation" in text,
                      f"reveal without the operation: {text}")
                await call(h, s, "generate", {"coordinate": "secret:dev/gen/y"},
                           expect_error=True, where="write out of scope")


async def narrow_sessions(h):
    """Scopes without reveal or write, from the environment and from an agent profile:
    tools/list leaves out what they forbid, and calling one anyway is refused with why."""
    server_env = dict(h.env)
    server_env.pop("KOVRA_PASSPHRASE_FILE", None)
    server_env.update(KOVRA_PROJECT="app", KOVRA_MCP_OPERATIONS="metadata",
                      KOVRA_NO_AUTOSTART="1")
    params = StdioServerParameters(command=h.bin, args=["mcp"], env=server_env, cwd=h.work)
    with open(h.errlog_path, "a") as errlog:
        async with stdio_client(params, errlog=errlog) as (r, w):
            async with ClientSession(r, w) as s:
                await s.initialize()
                tools = {t.name for t in (await s.list_tools()).tools}
                check(tools == METADATA_TOOLS, f"metadata scope tools: {sorted(tools)}")
                for tool, args in (("run", {"command": ["true"]}),
                                   ("delete", {"coordinate": "secret:dev/canary/low"})):
                    _, text, _ = await call(h, s, tool, args, expect_error=True,
                                            where=f"unlisted {tool}")
                    check(code_of(text) == "policy-denied" and f"`{tool}`" in text,
                          f"unlisted {tool}: {text}")
                await call(h, s, "list", {}, expect_error=False, where="metadata list")

    # An agent profile narrows whatever the environment says (here: everything).
    h.kovra("agent", "create", "narrow", "--operations", "metadata,inject", "--projects", "app")
    server_env.update(KOVRA_MCP_OPERATIONS="*")
    params = StdioServerParameters(command=h.bin, args=["mcp", "--agent", "narrow"],
                                   env=server_env, cwd=h.work)
    with open(h.errlog_path, "a") as errlog:
        async with stdio_client(params, errlog=errlog) as (r, w):
            async with ClientSession(r, w) as s:
                await s.initialize()
                tools = {t.name for t in (await s.list_tools()).tools}
                check(tools == DEFAULT_TOOLS, f"profile scope tools: {sorted(tools)}")
                _, text, st = await call(h, s, "status", {}, expect_error=False,
                                         where="profile status")
                check(sorted(st["operations"]) == ["inject", "metadata"], f"profile status: {text}")
                _, text, _ = await call(h, s, "reveal", {"coordinate": "secret:dev/open/shown"},
                                        expect_error=True, where="profile reveal")
                check(code_of(text) == "policy-denied", f"profile reveal: {text}")


async def locked_session(h):
    """A locked vault: the answer is the human's step, never a command for the model."""
    h.kovra("lock")
    server_env = dict(h.env)
    server_env.pop("KOVRA_PASSPHRASE_FILE", None)
    server_env.update(KOVRA_PROJECT="app", KOVRA_NO_AUTOSTART="1")
    params = StdioServerParameters(command=h.bin, args=["mcp"], env=server_env, cwd=h.work)
    with open(h.errlog_path, "a") as errlog:
        async with stdio_client(params, errlog=errlog) as (r, w):
            async with ClientSession(r, w) as s:
                await s.initialize()
                for tool, args in (("list", {}),
                                   ("fingerprint", {"coordinate": "secret:dev/canary/low"}),
                                   ("run", {"command": ["true"],
                                            "refs": "X=secret:dev/canary/low\n"})):
                    _, text, _ = await call(h, s, tool, args, expect_error=True,
                                            where=f"locked {tool}")
                    check(code_of(text) == "vault-locked"
                          and "ask the human to run `kovra unlock` in a terminal" in text
                          and f"call {tool} again" in text, f"locked {tool}: {text}")


def check_no_flags(h):
    """Every error the model saw speaks in tools and arguments."""
    check(len(h.errors) > 30, f"only {len(h.errors)} errors seen")
    for where, text in h.errors:
        flag = bare_flag(text)
        check(flag is None, f"{where}: error names the CLI flag {flag}: {text[:400]}")


async def disconnect_session(h):
    """A client that goes away mid-run: the child is stopped."""
    server_env = dict(h.env)
    server_env.pop("KOVRA_PASSPHRASE_FILE", None)
    server_env.update(KOVRA_PROJECT="app", KOVRA_NO_AUTOSTART="1")
    params = StdioServerParameters(command=h.bin, args=["mcp"], env=server_env, cwd=h.work)
    pidfile = os.path.join(h.work, "child.pid")
    with open(h.errlog_path, "a") as errlog:
        async with stdio_client(params, errlog=errlog) as (r, w):
            async with ClientSession(r, w) as s:
                await s.initialize()
                # The call is left hanging once the child has written its pid (at most 30 s
                # on a slow machine), then the client goes away.
                async def started():
                    for _ in range(300):
                        if os.path.exists(pidfile) and os.path.getsize(pidfile) > 0:
                            return
                        await anyio.sleep(0.1)

                async with anyio.create_task_group() as tg:
                    async def call():
                        await s.call_tool("run", {"command": ["sh", "-c", f"echo $$ > {pidfile}; exec sleep 120"],
                                                  "timeout_secs": 300})
                        raise Failed("run of sleep 120 returned early")
                    tg.start_soon(call)
                    await started()
                    tg.cancel_scope.cancel()
    check(os.path.exists(pidfile), "the child never started")
    with open(pidfile) as f:
        pid = int(f.read().strip())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    raise Failed(f"child {pid} still running after the client disconnected")


def main():
    if len(sys.argv) != 2:
        print("usage: mcp_client.py KOVRA_BIN", file=sys.stderr)
        return 2
    h = Harness(sys.argv[1])
    try:
        h.setup()
        anyio.run(scenario, h)
        anyio.run(discover_session, h)
        anyio.run(disconnect_session, h)
        anyio.run(narrow_sessions, h)
        anyio.run(locked_session, h)
        check_no_flags(h)
        with open(h.errlog_path) as f:
            h.scan("server stderr", f.read())
        log = os.path.join(h.home, "daemon.log")
        if os.path.exists(log):
            with open(log, errors="replace") as f:
                h.scan("daemon log", f.read())
    except BaseException as e:  # noqa: BLE001 - report anything, then stop the daemon
        msg = e
        if isinstance(e, BaseExceptionGroup):
            msg = "; ".join(f"{type(x).__name__}: {x}" for x in e.exceptions)
        print(f"FAIL: {msg}", file=sys.stderr)
        if os.path.exists(h.errlog_path):
            with open(h.errlog_path) as f:
                tail = f.read()[-2000:]
            if tail:
                print(f"--- server stderr ---\n{tail}", file=sys.stderr)
        h.stop()
        return 1
    if os.environ.get("KOVRA_TEST_VERBOSE"):
        for where, text in h.texts:
            print(f"[{where}] {text[:300]}", file=sys.stderr)
    h.stop()
    print(f"ok: {len(h.texts)} tool results checked, no canary leaked")
    return 0


if __name__ == "__main__":
    sys.exit(main())
