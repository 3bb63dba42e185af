#!/usr/bin/env python3
"""The first hour of a new user, from a fresh home, with only the README to go by (issue 21).

usage: first_hour.py REPO KOVRA_BIN WORKDIR CANARIES.json

Run by `tests/cli/first_hour.rs`. WORKDIR is an empty directory: the user's home, the install
prefix and the project go there. Every command the human types is a line of README.md (its
quick start), checked here before it runs, so a step that needs knowledge from outside the
README fails the test. Commands that ask for something run on a pseudo-terminal, as typed.

The steps:
1. `bash scripts/install.sh --prefix …` (with `--binary`: the test's build, not a release
   build); the installed `kovra` is the one on PATH from then on; the bash completion loads.
2. `kovra init`, two records added to the global vault at the hidden prompt (one an OpenAI
   key, pinned to openai by its name), `kovra list`.
3. In a new project directory with a `.env.refs` that uses `${ENV}`: `kovra setup`, which
   must say what the agent will see; `kovra run -- …` needs no `--env`.
4. The agent: the Python MCP SDK starts the server exactly as `.mcp.json` says, lists the
   tools, sees the global records with `list`; its `run` with the project's references is
   refused for the record no provider pins, naming the human's step, and it asks for a value
   it lacks (`request_secret`).
5. The human opts the group in (`kovra setup --inject-values dev/db`, passphrase typed),
   follows `kovra requests` (the exact command it prints) and adds the value; the agent's
   next `run` has every variable (the pinned keys as placeholders).
6. An upgrade (`install.sh` again) while the daemon runs stops that daemon and says so.
7. No canary appears in anything printed, in any MCP result, or in any file under WORKDIR
   other than the vault itself.

Exits non-zero on the first failure with a message naming the step; prints the transcript
(canaries masked) on failure.
"""

import json
import os
import re
import shlex
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pty_common import exit_code, read_some, spawn  # noqa: E402

import anyio  # noqa: E402
from mcp import ClientSession, StdioServerParameters  # noqa: E402
from mcp.client.stdio import stdio_client  # noqa: E402

REPO, KOVRA_BIN, WORK = sys.argv[1], sys.argv[2], os.path.abspath(sys.argv[3])
CANARIES = json.load(open(sys.argv[4]))
PASSPHRASE = "correct horse battery staple, first hour"
README = open(os.path.join(REPO, "README.md")).read()
HOME = os.path.join(WORK, "home")
PREFIX = os.path.join(HOME, ".local")
APP = os.path.join(HOME, "src", "myapp")
TRANSCRIPT = []


def mask(text):
    for v in CANARIES.values():
        text = text.replace(v, "[CANARY]")
    return text


def fail(step, why):
    sys.stderr.write(mask("".join(TRANSCRIPT)))
    sys.stderr.write(mask(f"\nfirst hour, step {step}: {why}\n"))
    sys.exit(1)


def env():
    """A fresh user's environment: HOME, a PATH with the install prefix, nothing of kovra's."""
    e = {
        "HOME": HOME,
        "PATH": f"{PREFIX}/bin:/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "TERM": "xterm",
        "USER": os.environ.get("USER", "user"),
    }
    # The test harness's own build may need these to find test tools; kovra's variables never.
    for k in ("KOVRA_BROKER_TEST_UPSTREAM", "KOVRA_BROKER_TEST_CA"):
        if k in os.environ:
            e[k] = os.environ[k]
    return e


def readme_has(cmd):
    """The human types only what the README shows (modulo the prefix and paths of this run)."""
    if cmd not in README:
        fail(cmd, "this command is not in README.md, so a new user could not know it")


def sh(step, cmd, cwd=HOME, check=True):
    """A command without a terminal (a pipe), as a script or an agent would run it."""
    p = subprocess.run(cmd, shell=True, cwd=cwd, env=env(), capture_output=True, text=True, timeout=300)
    TRANSCRIPT.append(f"$ {cmd}\n{p.stdout}{p.stderr}")
    if check and p.returncode != 0:
        fail(step, f"`{cmd}` exited {p.returncode}")
    return p


def typed(step, cmd, answers, cwd=HOME, expect_rc=0):
    """A command on a pseudo-terminal; each (prompt, text) answers a prompt as it appears."""
    argv = ["/bin/sh", "-c", f"cd {shlex.quote(cwd)} && exec {cmd}"]
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env())
    try:
        pid, fd = spawn(argv)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    seen, mark, deadline = b"", 0, time.time() + 120
    pending = list(answers)
    while time.time() < deadline:
        if pending:
            at = seen.find(pending[0][0].encode(), mark)
            if at >= 0:
                time.sleep(0.05)
                os.write(fd, (pending.pop(0)[1] + "\n").encode())
                mark = at + 1
                continue
        chunk = read_some(fd, 0.05)
        if chunk is None:
            break
        seen += chunk
    else:
        os.kill(pid, 9)
        fail(step, f"`{cmd}` timed out waiting for {pending[:1]}")
    _, status = os.waitpid(pid, 0)
    text = seen.decode(errors="replace")
    TRANSCRIPT.append(f"$ {cmd}   [terminal]\n{text}")
    rc = exit_code(status)
    if pending:
        fail(step, f"`{cmd}` never asked {pending[0][0]!r}")
    if rc != expect_rc:
        fail(step, f"`{cmd}` exited {rc}")
    return text


def tool_text(result):
    return "".join(getattr(c, "text", "") for c in result.content)


async def agent_session(step, fn):
    """The agent: an MCP client started exactly as the client configuration says."""
    config = json.load(open(os.path.join(APP, ".mcp.json")))
    server = config["mcpServers"]["kovra"]
    params = StdioServerParameters(
        command=server["command"],
        args=server.get("args", []),
        env={**env(), **server.get("env", {})},
        cwd=APP,
    )
    errlog = open(os.path.join(WORK, "mcp-stderr.log"), "a")
    async with stdio_client(params, errlog=errlog) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            return await fn(session)


async def call(session, name, args, step, ok=True):
    r = await session.call_tool(name, args)
    text = tool_text(r)
    structured = getattr(r, "structured_content", None)
    TRANSCRIPT.append(f"[agent] {name} {json.dumps(args)}\n{text}\n{json.dumps(structured)}\n")
    if ok and r.is_error:
        fail(step, f"the agent's `{name}` failed: {text}")
    return r, text, structured


BOTH = ["sh", "-c", 'test -n "$PGPASSWORD" && test -n "$OPENAI_API_KEY" && echo both-set']


def main():
    os.makedirs(APP)
    # 1. Install.
    readme_has("bash scripts/install.sh")
    out = sh("install", f"bash {shlex.quote(REPO)}/scripts/install.sh --prefix {shlex.quote(PREFIX)} "
                        f"--binary {shlex.quote(KOVRA_BIN)}")
    where = sh("install", "command -v kovra").stdout.strip()
    if where != f"{PREFIX}/bin/kovra":
        fail("install", f"`kovra` on PATH is {where!r}, not the installed one")
    if "completion" not in out.stdout + out.stderr:
        fail("install", "the install script does not say where the completions went")
    comp = sh("install", f"bash -c 'source {PREFIX}/share/bash-completion/completions/kovra && complete -p kovra'")
    if "kovra" not in comp.stdout:
        fail("install", "the bash completion does not register `kovra`")

    # 2. A vault and two records in the global vault, as the quick start says.
    readme_has("kovra init")
    typed("init", "kovra init", [("assphrase", PASSPHRASE), ("assphrase", PASSPHRASE)])
    readme_has("kovra add secret:dev/db/password")
    typed("add", "kovra add secret:dev/db/password", [("hidden", CANARIES["db"])])
    readme_has("kovra add secret:dev/openai/OPENAI_API_KEY")
    typed("add", "kovra add secret:dev/openai/OPENAI_API_KEY", [("hidden", CANARIES["openai"])])
    listed = sh("list", "kovra list").stdout
    for c in ("dev/openai/OPENAI_API_KEY", "dev/db/password"):
        if c not in listed:
            fail("list", f"`kovra list` does not show {c}")

    # 3. The project: references with ${ENV}, then setup, then a run without --env.
    readme_has("echo 'PGPASSWORD=secret:${ENV}/db/password' > .env.refs")
    with open(os.path.join(APP, ".env.refs"), "w") as f:
        f.write("PGPASSWORD=secret:${ENV}/db/password\nOPENAI_API_KEY=secret:${ENV}/openai/OPENAI_API_KEY\n")
    readme_has("kovra setup")
    setup = sh("setup", "kovra setup", cwd=APP)
    said = setup.stdout + setup.stderr
    if "will see" not in said:
        fail("setup", "setup does not say what the agent will see")
    refs = open(os.path.join(APP, ".env.refs")).read()
    if not re.search(r"^env\s*=\s*dev\s*$", refs, re.M):
        fail("setup", f"setup wrote no `env = dev` into .env.refs:\n{refs}")
    if not re.search(r"^project\s*=\s*myapp\s*$", refs, re.M):
        fail("setup", f"setup wrote no `project = myapp` into .env.refs:\n{refs}")
    if "PGPASSWORD=secret:${ENV}/db/password" not in refs:
        fail("setup", "setup dropped the user's own line from .env.refs")
    readme_has("kovra run -- psql")
    ran = typed("run", "kovra run -- sh -c 'test -n \"$PGPASSWORD\" && echo password-is-set'", [], cwd=APP)
    if "password-is-set" not in ran:
        fail("run", "the human's `kovra run` did not get PGPASSWORD without --env")

    # 4. and 5. The agent, then the human answering its request, then the agent again.
    wanted = "secret:dev/stripe/STRIPE_API_KEY"

    async def first(session):
        tools = await session.list_tools()
        names = {t.name for t in tools.tools}
        for t in ("list", "run", "request_secret"):
            if t not in names:
                fail("agent", f"the agent has no `{t}` tool (tools: {sorted(names)})")
        _, text, structured = await call(session, "list", {}, "agent list")
        seen = json.dumps(structured) + text
        for c in ("dev/openai/OPENAI_API_KEY", "dev/db/password"):
            if c not in seen:
                fail("agent list", f"the agent's `list` does not show {c}: {mask(seen)}")
        r, text, _ = await call(session, "run", {"command": BOTH, "cwd": APP}, "agent run", ok=False)
        if not r.is_error or "kovra setup --inject-values" not in text:
            fail("agent run", f"a run with an unpinned value before the opt-in must be refused, "
                              f"naming the human's `kovra setup --inject-values`: {mask(text)}")
        await call(session, "request_secret", {
            "coordinate": wanted,
            "description": "Stripe test key for the payment tests",
        }, "request_secret")

    anyio.run(agent_session, "agent", first)

    readme_has("kovra setup --inject-values dev/db")
    said = typed("opt in", "kovra setup --inject-values dev/db", [("assphrase", PASSPHRASE)], cwd=APP)
    if "get the values of dev/db" not in " ".join(said.split()):
        fail("opt in", "setup does not say the agent's programs now get dev/db's values")
    readme_has("kovra requests")
    pending = sh("requests", "kovra requests", cwd=APP).stdout
    m = re.search(r"(kovra (?:add|set)(?: --project \S+)? secret:[^\s`]+)", pending)
    if not m or "stripe/STRIPE_API_KEY" not in m.group(1):
        fail("requests", f"`kovra requests` names no command to add the value:\n{pending}")
    typed("requests", m.group(1), [("hidden", CANARIES["stripe"])], cwd=APP)
    # The agent wires the new record into the project's references, as it would edit a file.
    with open(os.path.join(APP, ".env.refs"), "a") as f:
        f.write("STRIPE_API_KEY=secret:${ENV}/stripe/STRIPE_API_KEY\n")

    async def second(session):
        _, text, _ = await call(session, "run", {"command": BOTH, "cwd": APP}, "agent run after the opt-in")
        if "both-set" not in text:
            fail("agent run after the opt-in", f"the agent's run did not get its variables: {mask(text)}")
        _, text, _ = await call(session, "run", {
            "command": ["sh", "-c", 'test -n "$STRIPE_API_KEY" && echo stripe-set'],
            "cwd": APP,
        }, "agent run after the human added the value")
        if "stripe-set" not in text:
            fail("agent run after add", f"the agent's run did not get STRIPE_API_KEY: {mask(text)}")
        pending = await session.call_tool("list", {})
        return pending

    anyio.run(agent_session, "agent again", second)
    again = sh("requests", "kovra requests", cwd=APP).stdout
    if "STRIPE_API_KEY" in again and "no open" not in again.lower():
        fail("requests", f"the request is still open after the value was added:\n{again}")
    # 6. An upgrade while the daemon runs: the install stops the daemon of the program it
    #    replaced and says so; the next unlock starts the new one.
    running = json.loads(sh("upgrade", "kovra status --json").stdout)
    if not running.get("daemon_pid"):
        fail("upgrade", f"no daemon runs before the upgrade: {running}")
    out = sh("upgrade", f"bash {shlex.quote(REPO)}/scripts/install.sh --prefix {shlex.quote(PREFIX)} "
                        f"--binary {shlex.quote(KOVRA_BIN)}")
    if f"stopped the kovra daemon (pid {running['daemon_pid']})" not in out.stdout:
        fail("upgrade", "the install does not say it stopped the daemon of the replaced kovra")
    after = json.loads(sh("upgrade", "kovra status --json").stdout)
    if after.get("daemon") != "not-running":
        fail("upgrade", f"a daemon still runs after the upgrade: {after}")
    typed("upgrade", "kovra unlock", [("assphrase", PASSPHRASE)])
    sh("stop", "kovra daemon stop", check=False)

    # 7. No canary anywhere it must not be.
    everything = "".join(TRANSCRIPT) + open(os.path.join(WORK, "mcp-stderr.log")).read()
    for tag, v in CANARIES.items():
        if v in everything:
            fail("canaries", f"the {tag} canary appeared in output")
    vault_dir = os.path.join(HOME, ".local", "share", "kovra")
    for root, _, files in os.walk(WORK):
        if root.startswith(vault_dir):
            continue
        for name in files:
            path = os.path.join(root, name)
            try:
                data = open(path, "rb").read()
            except OSError:
                continue
            for tag, v in CANARIES.items():
                if v.encode() in data:
                    fail("canaries", f"the {tag} canary is in {path}")
    if os.environ.get("FIRST_HOUR_VERBOSE"):
        sys.stderr.write(mask("".join(TRANSCRIPT)))
    print(f"first hour: ok ({len(TRANSCRIPT)} steps)")


main()
