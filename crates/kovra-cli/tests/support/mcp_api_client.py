#!/usr/bin/env python3
"""The broker over MCP: drive `kovra mcp`'s `api` and `providers` tools with the official
Python MCP SDK (`pip install mcp`), against the loopback HTTPS upstream of the broker tests.

usage: mcp_api_client.py KOVRA_BIN FIXTURE.json

Run by `tests/cli/broker.rs` (`the_python_mcp_client_calls_the_broker_and_never_sees_a_credential`),
which has already made the vault home, started the daemon with KOVRA_BROKER_TEST_UPSTREAM and
KOVRA_BROKER_TEST_CA (debug builds: every provider host resolves to the loopback upstream,
which only the test CA vouches for), created the projects `app` and `other` and planted the
canary credentials. This process inherits KOVRA_HOME, XDG_RUNTIME_DIR and the two test
variables; FIXTURE.json holds the canary values (`{"canaries": {"tag": "value", ...}}`), so
that every tool result can be searched for them. The Rust side then reads the upstream's
request log to prove the credential did go out on the wire.

Each MCP session is a stdio client launching `KOVRA_BIN mcp` with the test environment and
a scope from KOVRA_MCP_* (the agent's session has no passphrase and does not autostart a
daemon). Checked:
- tools/list: `api` and `providers` are there with input and output schemas; `api` is
  destructive and open-world, `providers` read-only; no tool takes a value;
- `providers`: the list and one provider; an unknown one is `unknown-provider`;
- `api` via openai against the upstream's `echo`, `encodings` and `headers` endpoints:
  structured results with status 200, the credential scrubbed to `[kovra:OPENAI_API_KEY]`,
  `removed_headers` naming set-cookie;
- refusals, as `isError` results whose text starts with the stable code: a forbidden
  Authorization (and other credential) header `header-forbidden`, a `../` path `path-invalid`,
  a production record `approval-needed` naming an id (again on a second try: the agent never
  gets through), an out-of-scope project's record and an out-of-scope global record
  `not-found` exactly like absent ones, a record pinned to openai used with anthropic and an
  unpinned record `policy-denied`;
- bad arguments are errors and the server keeps serving;
- no canary, in any encoding the broker promises to scrub, appears in any tool result or
  error, nor in the servers' stderr.

Prints one summary line; exits non-zero on any failure, with a message from which every
canary form has been masked. MCP_API_CLIENT_VERBOSE=1 prints each (masked) tool result on
stderr.
"""

import base64
import json
import os
import re
import shutil
import sys
import tempfile
import urllib.parse

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

MARK = "[kovra:OPENAI_API_KEY]"
OPENAI = "secret:dev/openai/openai_api_key"
PROD = "secret:prod/openai/openai_api_key"
CI = "secret:dev/tools/ci_token"
MISC = "secret:dev/misc/token"
GLOBAL = "secret://global/dev/openai/openai_api_key"
GLOBAL_ABSENT = "secret://global/dev/openai/absent_api_key"
ABSENT = "secret:dev/openai/absent_api_key"

# Names an argument carrying a secret value would have.
VALUE_NAMES = {"value", "secret_value", "password", "token", "api_key", "apikey",
               "credential", "credentials", "key", "plaintext"}

API_OUT_FIELDS = {"status", "host", "coordinate", "headers", "body", "body_base64",
                  "removed_headers", "duration_ms"}

# The agent session: project `app` (only), every environment (so production records are
# addressable and policy, not scope, stops them), default operations (metadata, inject).
APP = {
    "KOVRA_PROJECT": "app",
    "KOVRA_MCP_PROJECTS": "app",
    "KOVRA_MCP_ENVIRONMENTS": "*",
}
# A session whose current project, `other`, is outside its scope (`app` only).
OTHER = {
    "KOVRA_PROJECT": "other",
    "KOVRA_MCP_PROJECTS": "app",
    "KOVRA_MCP_ENVIRONMENTS": "*",
}


class Failed(Exception):
    pass


def check(cond, message):
    if not cond:
        raise Failed(message)


def b64_middle(prefix, raw, alphabet):
    enc = alphabet(prefix + raw).decode()
    return enc[4:-4]


def forms(value):
    """Every form of `value` that must never reach the agent (as broker.rs `forms`)."""
    raw = value.encode()
    out = [
        value,
        base64.b64encode(raw).decode(),
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
        raw.hex(),
        raw.hex().upper(),
        urllib.parse.quote(value, safe=""),
        "".join(c if c.isalnum() or c in "-._~" else "%%%02x" % ord(c) for c in value),
        urllib.parse.quote_plus(value, safe=""),
        json.dumps(value)[1:-1],
        value.replace("/", "\\/"),
    ]
    for prefix in (b"x", b"xy"):
        out.append(b64_middle(prefix, raw, base64.b64encode))
        out.append(b64_middle(prefix, raw, base64.urlsafe_b64encode))
    # The longest random run, should only a piece of the value leak.
    runs = sorted(re.findall(r"[0-9a-fA-F]{16,}", value), key=len)
    if runs:
        out.append(runs[-1])
    return sorted({f for f in out if len(f) >= 8}, key=len, reverse=True)


class Harness:
    def __init__(self, kovra_bin, canaries):
        self.bin = os.path.abspath(kovra_bin)
        self.canaries = canaries
        self.forms = [(tag, f) for tag, v in canaries.items() for f in forms(v)]
        self.tmp = tempfile.mkdtemp(prefix="kovra-mcp-api-")
        self.errlog_path = os.path.join(self.tmp, "server-stderr.log")
        base = {k: v for k, v in os.environ.items() if not k.startswith("KOVRA_")}
        for k in ("KOVRA_HOME", "KOVRA_BROKER_TEST_UPSTREAM", "KOVRA_BROKER_TEST_CA"):
            check(os.environ.get(k), f"{k} is not set")
            base[k] = os.environ[k]
        check(os.environ.get("XDG_RUNTIME_DIR"), "XDG_RUNTIME_DIR is not set")
        base["KOVRA_NO_AUTOSTART"] = "1"
        self.env = base
        self.results = 0
        self.api_ok = 0

    def mask(self, text):
        """`text` with every canary form replaced: safe to print whatever happens."""
        for tag, form in self.forms:
            text = text.replace(form, f"[canary {tag}]")
        return text

    def scan(self, where, text):
        for tag, form in self.forms:
            if form in text:
                raise Failed(f"canary {tag} leaked in {where}")

    def params(self, scope):
        env = dict(self.env)
        env.update(scope)
        return StdioServerParameters(command=self.bin, args=["mcp"], env=env, cwd=self.tmp)


def result_text(res):
    parts = [getattr(c, "text", "") or "" for c in res.content]
    if getattr(res, "structured_content", None) is not None:
        parts.append(json.dumps(res.structured_content))
    return "\n".join(parts)


def code_of(text):
    return text.split(":", 1)[0].strip()


async def call(h, s, name, args, expect_error=None, where=None):
    """Call a tool, search what came back, check `is_error`: (is_error, text, structured)."""
    where = where or f"{name} {json.dumps(args)[:160]}"
    h.results += 1
    try:
        res = await s.call_tool(name, args)
    except Exception as e:  # noqa: BLE001 - a JSON-RPC error or an invalid result
        text = f"{type(e).__name__}: {e}"
        h.scan(where, text)
        if expect_error is False:
            raise Failed(f"{where}: raised {text[:400]}")
        return True, text, None
    text = result_text(res)
    h.scan(where, text)
    if os.environ.get("MCP_API_CLIENT_VERBOSE"):
        print(h.mask(f"[{where}] {text[:300]}"), file=sys.stderr)
    err = bool(res.is_error)
    if expect_error is not None and err != expect_error:
        raise Failed(f"{where}: is_error={err}, text={text[:400]!r}")
    return err, text, getattr(res, "structured_content", None)


async def refused(h, s, name, args, code, where=None):
    """A call answered with an error result whose text starts with `code`: its text."""
    _, text, _ = await call(h, s, name, args, expect_error=True, where=where)
    check(code_of(text) == code, f"{where or name}: expected {code}, got {text[:400]!r}")
    return text


async def api_ok(h, s, args, where):
    _, text, out = await call(h, s, "api", args, expect_error=False, where=where)
    check(isinstance(out, dict), f"{where}: no structured result: {text[:300]}")
    check(API_OUT_FIELDS <= set(out), f"{where}: fields {sorted(out)}")
    check(out["status"] == 200, f"{where}: status {out['status']}")
    h.api_ok += 1
    return out


def header(out, name):
    return [v for k, v in out["headers"] if k.lower() == name]


async def check_tools(h, s):
    tools = {t.name: t for t in (await s.list_tools()).tools}
    for name in ("api", "providers"):
        check(name in tools, f"tools/list misses {name}: {sorted(tools)}")
        t = tools[name]
        check(t.description, f"{name}: no description")
        check(t.input_schema.get("type") == "object", f"{name}: no input schema")
        check(t.output_schema and t.output_schema.get("type") == "object",
              f"{name}: no output schema")
    api = tools["api"]
    ann = api.annotations
    check(ann is not None and ann.destructive_hint is True, f"api not destructive: {ann}")
    check(ann.open_world_hint is True, f"api not open-world: {ann}")
    check(ann.read_only_hint is not True, f"api read-only: {ann}")
    pann = tools["providers"].annotations
    check(pann is not None and pann.read_only_hint is True, f"providers not read-only: {pann}")
    props = api.input_schema.get("properties", {})
    for p in ("provider", "method", "path", "query", "headers", "body", "secret", "env",
              "timeout_secs"):
        check(p in props, f"api input schema misses {p}: {sorted(props)}")
    check(set(api.input_schema.get("required", [])) == {"provider", "method", "path"},
          f"api required: {api.input_schema.get('required')}")
    out_props = set(api.output_schema.get("properties", {}))
    check(API_OUT_FIELDS <= out_props, f"api output schema: {sorted(out_props)}")
    check("providers" in tools["providers"].output_schema.get("properties", {}),
          "providers output schema")
    # No tool takes a value: `secret` names a record (a coordinate), never its value.
    for name, t in tools.items():
        names = {p.lower() for p in t.input_schema.get("properties", {})}
        check(not names & VALUE_NAMES, f"{name} takes a value argument: {sorted(names)}")
    check("coordinate" in json.dumps(props["secret"]).lower()
          or "record" in json.dumps(props["secret"]).lower(),
          f"api `secret` is not described as a record: {props['secret']}")
    return tools


async def check_providers(h, s):
    _, text, out = await call(h, s, "providers", {}, expect_error=False)
    listed = out["providers"]
    names = [p.get("name") for p in listed]
    check(len(names) >= 20, f"only {len(names)} providers: {names}")
    check({"openai", "anthropic"} <= set(names), f"providers: {names}")
    for p in listed:
        check(p.get("hosts") and p.get("auth", {}).get("kind"), f"provider {p.get('name')}")
    _, text, out = await call(h, s, "providers", {"name": "openai"}, expect_error=False)
    one = out["providers"]
    check(len(one) == 1 and one[0]["name"] == "openai", f"providers openai: {text[:300]}")
    p = one[0]
    check(p["auth"]["kind"] == "bearer", f"openai auth: {p['auth']}")
    check("api.openai.com" in p["hosts"], f"openai hosts: {p['hosts']}")
    check("OPENAI_API_KEY" in p["secrets"], f"openai secrets: {p['secrets']}")
    check(p["capabilities"], "openai has no capabilities")
    await refused(h, s, "providers", {"name": "no-such-provider"}, "unknown-provider")


async def check_calls(h, s):
    # echo: the request as the upstream saw it, with the credential scrubbed from the echo.
    out = await api_ok(h, s, {
        "provider": "openai", "method": "POST", "path": "/v1/echo",
        "query": {"limit": "2"}, "headers": {"X-Custom": "yes"},
        "body": {"hello": "world"},
    }, "api echo")
    check(out["host"] == "api.openai.com", f"echo host {out['host']}")
    check(out["coordinate"] == OPENAI, f"echo coordinate {out['coordinate']}")
    check(out["body"] is not None and out["body_base64"] is None, "echo body not text")
    echo = json.loads(out["body"])
    check(echo["method"] == "POST" and echo["path"] == "/v1/echo", f"echo: {echo}")
    check(echo["query"] == "limit=2", f"echo query: {echo['query']}")
    check(json.loads(echo["body"]) == {"hello": "world"}, f"echo body: {echo['body']}")
    check(echo["sni"] == "api.openai.com", f"echo sni: {echo['sni']}")
    sent = {k: v for k, v in echo["headers"]}
    check(sent.get("x-custom") == "yes", f"echo x-custom: {sent}")
    check(sent.get("content-type", "").startswith("application/json"), f"content-type: {sent}")
    check(MARK in sent.get("authorization", ""),
          f"echoed authorization not scrubbed to the marker: {sent.get('authorization')}")
    check(isinstance(out["duration_ms"], int), "duration_ms")

    # encodings: every form of the credential, split across TLS records, scrubbed.
    out = await api_ok(h, s, {"provider": "openai", "method": "GET", "path": "/v1/encodings"},
                       "api encodings")
    body = out["body"]
    check(body is not None and len(body) > 15 * 200 * 1024, "encodings: short body")
    check(body.endswith("end\n"), "encodings: the body was cut short")
    labelled = [l for l in body.splitlines() if l and not l.startswith(".") and ": " in l]
    check(len(labelled) == 15, f"encodings: {len(labelled)} labelled lines")
    for line in labelled:
        check(MARK in line, f"encodings: not scrubbed to the marker: {line[:200]}")
    check(body.count(".") >= 15 * 200 * 1024, "encodings: padding lost")

    # headers: credential headers removed (and listed), the rest scrubbed.
    out = await api_ok(h, s, {"provider": "openai", "method": "GET", "path": "/v1/headers"},
                       "api headers")
    removed = [r.lower() for r in out["removed_headers"]]
    check("set-cookie" in removed, f"removed_headers: {removed}")
    check("www-authenticate" in removed, f"removed_headers: {removed}")
    names = [k.lower() for k, _ in out["headers"]]
    check("set-cookie" not in names and "www-authenticate" not in names, f"headers: {names}")
    echoed = header(out, "x-echo-auth")
    check(echoed and MARK in echoed[0], f"x-echo-auth dropped or not scrubbed: {echoed}")
    check(header(out, "x-plain") == ["kept-header-value"], f"x-plain: {header(out, 'x-plain')}")
    check("kovra-test-session" not in json.dumps(out), "the cookie reached the agent")

    # A record pinned to openai explicitly (`--provider openai` at creation).
    out = await api_ok(h, s, {"provider": "openai", "method": "GET", "path": "/v1/echo",
                              "secret": CI}, "api pinned ci token")
    check(out["coordinate"] == CI, f"ci coordinate {out['coordinate']}")
    check("[kovra:" in out["body"], "ci echo not scrubbed")


async def check_refusals(h, s):
    base = {"provider": "openai", "method": "GET", "path": "/v1/echo"}
    # Credentials the caller tries to bring: refused before any connection.
    for name, value in (("Authorization", "Bearer attacker-chosen"),
                        ("authorization", "Basic eDp5"),
                        ("X-Api-Key", "y"), ("Cookie", "a=b"),
                        ("Proxy-Authorization", "Basic eDp5")):
        await refused(h, s, "api", {**base, "headers": {name: value}}, "header-forbidden",
                      where=f"header {name}")
    await refused(h, s, "api", {**base, "headers": {"Host": "evil.test"}}, "header-invalid")
    await refused(h, s, "api", {**base, "query": {"access_token": "x"}}, "query-forbidden")
    for path in ("/v1/../../etc/passwd", "/v1/../x", "/v1/%2e%2e/x", "/v1/a%2fb", "v1/echo",
                 "/v1/x?y=1"):
        await refused(h, s, "api", {**base, "path": path}, "path-invalid",
                      where=f"path {path}")
    await refused(h, s, "api", {**base, "method": "TRACE"}, "method-invalid")
    await refused(h, s, "api", {**base, "path": "/v2/echo"}, "capability-denied")
    await refused(h, s, "api", {**base, "provider": "no-such-provider"}, "unknown-provider")
    await refused(h, s, "api", {**base, "env": "staging"}, "no-credential")

    # Production: parked for the human's approval, every time; the agent never gets through.
    ids = []
    for args in ({**base, "secret": PROD}, {**base, "env": "prod"}, {**base, "secret": PROD}):
        text = await refused(h, s, "api", args, "approval-needed",
                             where=f"production {json.dumps(args)}")
        m = re.search(r"kovra approve (\S+?)`", text)
        check(m, f"approval-needed names no id: {text[:300]}")
        check(m.group(1) in text.split("`")[0], f"the id is not in the message: {text[:300]}")
        ids.append(m.group(1))
    check(all(ids), f"approval ids: {ids}")

    # Pinned to openai: not usable with anthropic; pinned to nothing: never sent.
    anthropic = {"provider": "anthropic", "method": "POST", "path": "/v1/messages",
                 "body": {}}
    for coord in (OPENAI, CI):
        await refused(h, s, "api", {**anthropic, "secret": coord}, "policy-denied",
                      where=f"anthropic with {coord}")
    await refused(h, s, "api", {**base, "secret": MISC}, "policy-denied",
                  where="unpinned record")

    # The global vault is out of this session's scope: its record is answered as absent.
    got = await refused(h, s, "api", {**base, "secret": GLOBAL}, "not-found",
                        where="global record")
    none = await refused(h, s, "api", {**base, "secret": GLOBAL_ABSENT}, "not-found",
                         where="absent global record")
    check(got.replace("openai_api_key", "K") == none.replace("absent_api_key", "K"),
          f"the global record is answered differently from an absent one:\n{got}\n{none}")
    return ids


async def check_bad_arguments(h, s):
    base = {"provider": "openai", "method": "GET", "path": "/v1/echo"}
    await call(h, s, "api", {**base, "value": "x"}, expect_error=True, where="api value arg")
    await call(h, s, "api", {"provider": "openai", "path": "/v1/echo"}, expect_error=True,
               where="api without method")
    await call(h, s, "api", {**base, "headers": ["a"]}, expect_error=True,
               where="api headers list")
    await call(h, s, "api", {**base, "timeout_secs": 0}, expect_error=True,
               where="api timeout 0")
    await call(h, s, "providers", {"name": 5}, expect_error=True, where="providers name int")
    await refused(h, s, "api", {**base, "secret": "not a coordinate"}, "coordinate-invalid")
    await refused(h, s, "api", {**base, "secret": "secret:dev/" + "x" * 5000},
                  "invalid-argument")
    _, _, out = await call(h, s, "providers", {"name": "openai"}, expect_error=False,
                           where="providers after bad input")
    check(out["providers"][0]["name"] == "openai", "the server stopped serving")


async def app_session(h):
    with open(h.errlog_path, "a") as errlog:
        async with stdio_client(h.params(APP), errlog=errlog) as (r, w):
            async with ClientSession(r, w) as s:
                init = await s.initialize()
                check(init.server_info.name == "kovra", f"server name {init.server_info.name}")
                await check_tools(h, s)
                await check_providers(h, s)
                await check_calls(h, s)
                await check_refusals(h, s)
                await check_bad_arguments(h, s)
                # An absent record of the session's own project: the reference answer for the
                # out-of-scope project below.
                h.absent_in_scope = await refused(
                    h, s, "api", {"provider": "openai", "method": "GET", "path": "/v1/echo",
                                  "secret": ABSENT}, "not-found", where="absent in app")


async def other_session(h):
    """Current project `other`, scope `app` only: its records are answered as absent."""
    with open(h.errlog_path, "a") as errlog:
        async with stdio_client(h.params(OTHER), errlog=errlog) as (r, w):
            async with ClientSession(r, w) as s:
                await s.initialize()
                base = {"provider": "openai", "method": "GET", "path": "/v1/echo"}
                got = await refused(h, s, "api", {**base, "secret": OPENAI}, "not-found",
                                    where="other project record")
                none = await refused(h, s, "api", {**base, "secret": ABSENT}, "not-found",
                                     where="other project absent")
                check(got.replace("openai_api_key", "K") == none.replace("absent_api_key", "K"),
                      f"an out-of-scope record is answered differently from an absent one:"
                      f"\n{got}\n{none}")
                check(got.replace("openai_api_key", "K")
                      == h.absent_in_scope.replace("absent_api_key", "K"),
                      f"out of scope and absent in scope differ:\n{got}\n{h.absent_in_scope}")
                # The default credential is not found there either.
                text = await refused(h, s, "api", base, "no-credential",
                                     where="other project default credential")
                check(OPENAI in text, f"no-credential names no coordinate tried: {text}")
                # The providers tool needs no record and works in any scope.
                _, _, out = await call(h, s, "providers", {"name": "openai"},
                                       expect_error=False, where="providers in other")


def load_canaries(path):
    try:
        with open(path) as f:
            canaries = json.load(f)["canaries"]
    except (OSError, ValueError, KeyError, TypeError):
        raise Failed(f"cannot read the canaries from {path}") from None
    check(isinstance(canaries, dict) and canaries
          and all(isinstance(v, str) and len(v) >= 16 for v in canaries.values()),
          "the fixture holds no usable canaries")
    return canaries


def leaves(e):
    """The exceptions inside (nested) exception groups, or `e` itself."""
    if isinstance(e, BaseExceptionGroup):
        return [x for sub in e.exceptions for x in leaves(sub)]
    return [e]


def main():
    if len(sys.argv) != 3:
        print("usage: mcp_api_client.py KOVRA_BIN FIXTURE.json", file=sys.stderr)
        return 2
    try:
        canaries = load_canaries(sys.argv[2])
    except Failed as e:
        print(f"FAIL: {e}", file=sys.stderr)
        return 1
    h = Harness.__new__(Harness)
    h.forms = [(tag, f) for tag, v in canaries.items() for f in forms(v)]
    h.errlog_path = None
    try:
        h = Harness(sys.argv[1], canaries)
        anyio.run(app_session, h)
        anyio.run(other_session, h)
        with open(h.errlog_path) as f:
            h.scan("server stderr", f.read())
    except BaseException as e:  # noqa: BLE001 - report anything, with every canary masked
        msg = "; ".join(
            str(x) if isinstance(x, Failed) else f"{type(x).__name__}: {x}" for x in leaves(e)
        )
        out = f"FAIL: {msg}"
        if h.errlog_path and os.path.exists(h.errlog_path):
            with open(h.errlog_path, errors="replace") as f:
                tail = f.read()[-2000:]
            if tail:
                out += f"\n--- server stderr ---\n{tail}"
        print(h.mask(out), file=sys.stderr)
        return 1
    finally:
        if getattr(h, "tmp", None):
            shutil.rmtree(h.tmp, ignore_errors=True)
    print(f"ok: {h.results} tool results checked, {h.api_ok} brokered calls returned 200, "
          f"no canary leaked")
    return 0


if __name__ == "__main__":
    sys.exit(main())
