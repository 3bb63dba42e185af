#!/usr/bin/env bash
# `kovra mcp` through a real client (issue 16): the `status` and `list` tools called through
# the official Python MCP SDK (`pip install mcp`), next to the same calls as raw JSON-RPC
# over the server's stdio (no SDK: no result models, no output-schema validation), in one
# interleaved run. The raw round trip is the server's time as a client sees it at best: the
# anchor. Each server also reports its own time per call (`KOVRA_MCP_TIMING`: request to
# result, the daemon's answer included), a build without that knob shows n/a. Prints a
# markdown table on stdout (p50, p90 and mean per call, in-server p50, bytes of each answer).
#
#   bash bench/mcp.sh
#   KOVRA_BENCH_MCP_BASELINE=/path/to/old/kovra bash bench/mcp.sh   # an older build beside it
#
# The vault: `kovra-bench populate` with KOVRA_BENCH_MCP_RECORDS records (1000; a quarter in
# `prod`), in the global vault of a throwaway home on tmpfs; the server's scope is the global
# vault and every environment, so `list` sees all of them. A baseline build gets its own
# home and daemon (a client only talks to a daemon running its own executable).
# Then bench/mcp_levers.py: the SDK's own steps on one `list` answer of as many records, in
# CPU ms, for each result shape tried (typed objects as before, rows as now, and the levers
# between): where a client's time goes, without a server.
# Knobs: KOVRA_BENCH_MCP_RECORDS (1000), KOVRA_BENCH_MCP_ROUNDS (200), KOVRA_BENCH_MCP_WARMUP
# (20), KOVRA_BENCH_MCP_BASELINE (unset), KOVRA_BENCH_MCP_LEVERS (1; 0 skips the shapes
# table), KOVRA_BENCH_BASE (where the homes go).
# shellcheck source=bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
RECORDS=${KOVRA_BENCH_MCP_RECORDS:-1000}
ROUNDS=${KOVRA_BENCH_MCP_ROUNDS:-200}
WARMUP=${KOVRA_BENCH_MCP_WARMUP:-20}
BASELINE=${KOVRA_BENCH_MCP_BASELINE:-}

python3 -c 'import mcp' 2>/dev/null || { log "the Python MCP SDK is missing (pip install mcp)"; exit 1; }
log "building kovra and kovra-bench (release)"
nice -n 5 cargo build --release -q -p kovra-cli -p kovra-bench
BIN=${CARGO_TARGET_DIR:-$REPO/target}/release
KBENCH=$BIN/kovra-bench
declare -A BUILD=([current]=$BIN/kovra)
[[ -n $BASELINE ]] && BUILD[baseline]=$BASELINE

umask 077
WORK=$(mktemp -d "$(bench_base)/kovra-mcp-bench.XXXXXX")
PASS=$WORK/passphrase
unset KOVRA_HOME KOVRA_SOCKET KOVRA_PROJECT KOVRA_PASSPHRASE_FILE KOVRA_NO_AUTOSTART KOVRA_ORIGIN
unset KOVRA_MCP_OPERATIONS KOVRA_MCP_PROJECTS KOVRA_MCP_ENVIRONMENTS
head -c 32 /dev/urandom | base64 | tr -d '/+=\n' >"$PASS"
echo >>"$PASS"
PIDS=()
henv() { echo "KOVRA_HOME=$WORK/home-$1 XDG_RUNTIME_DIR=$WORK/run-$1"; }
dpid() { kovra_daemon_pid env $(henv "$1") "${BUILD[$1]}"; }
cleanup() {
    local b
    for b in "${!BUILD[@]}"; do
        [[ -d $WORK/home-$b ]] && env $(henv "$b") "${BUILD[$b]}" daemon stop >/dev/null 2>&1 || true
    done
    # The daemons this script started: one still there after 5 s is stopped by its pid.
    await_exit "${PIDS[@]}"
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

for b in "${!BUILD[@]}"; do
    mkdir -p "$WORK/run-$b"
    log "$b: populating $RECORDS records and unlocking (${BUILD[$b]})"
    "$KBENCH" populate --home "$WORK/home-$b" --records "$RECORDS" --passphrase-file "$PASS" >/dev/null 2>&1
    env $(henv "$b") "${BUILD[$b]}" unlock --passphrase-file "$PASS" >/dev/null
    p=$(dpid "$b")
    [[ -n $p ]] || { log "$b: no daemon after unlock"; exit 1; }
    PIDS+=("$p")
done

args=()
for b in current baseline; do [[ -n ${BUILD[$b]:-} ]] && args+=("$b" "${BUILD[$b]}"); done
log "timing: $WARMUP warm-up and $ROUNDS interleaved rounds"
python3 - "$WORK" "$ROUNDS" "$WARMUP" "$RECORDS" "${args[@]}" >"$WORK/table.md" <<'PY'
import asyncio, contextlib, json, os, statistics, subprocess, sys, time
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

work, rounds, warmup, records, rest = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5:]
builds = dict(zip(rest[::2], rest[1::2]))

def env(b):
    # The global vault (where populate writes) and every environment: all records listed.
    return dict(os.environ, KOVRA_HOME=f"{work}/home-{b}", XDG_RUNTIME_DIR=f"{work}/run-{b}",
                KOVRA_MCP_PROJECTS="global", KOVRA_MCP_ENVIRONMENTS="*", KOVRA_NO_AUTOSTART="1",
                KOVRA_MCP_TIMING="1")

def in_server(path):
    """The server's own time per call (`KOVRA_MCP_TIMING`), warm-up calls left out."""
    with open(path) as f:
        us = [int(l.split()[-2]) for l in f if l.startswith("kovra mcp: timing: ")]
    return us[warmup:]

class Raw:
    """JSON-RPC over the server's stdio, one line each way: no SDK in between."""
    def __init__(self, exe, e, errlog):
        self.p = subprocess.Popen([exe, "mcp"], env=e, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=errlog)
        self.id = 0
        self.rpc("initialize", {"protocolVersion": "2025-11-25", "capabilities": {},
                                "clientInfo": {"name": "kovra-bench", "version": "0"}})
        self.p.stdin.write(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
        self.p.stdin.flush()

    def rpc(self, method, params):
        self.id += 1
        msg = json.dumps({"jsonrpc": "2.0", "id": self.id, "method": method, "params": params}).encode() + b"\n"
        t = time.perf_counter_ns()
        self.p.stdin.write(msg)
        self.p.stdin.flush()
        while True:
            line = self.p.stdout.readline()
            if not line:
                sys.exit(f"raw: the server closed its stdout during {method}")
            if b'"id"' in line:
                break
        t = time.perf_counter_ns() - t
        reply = json.loads(line)
        if reply.get("id") != self.id or "error" in reply:
            sys.exit(f"raw {method}: {line[:300]!r}")
        return t, reply["result"], len(line)

    def close(self):
        self.p.stdin.close()
        self.p.wait(10)

def check(result, tool, want):
    if result.get("isError"):
        sys.exit(f"{tool}: error result: {json.dumps(result)[:300]}")
    sc = result.get("structuredContent")
    if want is not None and len(sc["records"]) != want:
        sys.exit(f"{tool}: {len(sc['records'])} records, expected {want}")

async def main():
    async with contextlib.AsyncExitStack() as stack:
        cases, logs = [], []
        # One SDK session and one raw client per build and call, each with its own server,
        # so that each server's timing lines belong to one row.
        async def sdk_session(b, exe):
            logs.append(f"{work}/server-{len(logs)}.err")
            r, w = await stack.enter_async_context(
                stdio_client(StdioServerParameters(command=exe, args=["mcp"], env=env(b)),
                             errlog=open(logs[-1], "w")))
            s = await stack.enter_async_context(ClientSession(r, w))
            await s.initialize()
            return s, {t.name: t for t in (await s.list_tools()).tools}
        def raw_client(b, exe):
            logs.append(f"{work}/server-{len(logs)}.err")
            raw = Raw(exe, env(b), open(logs[-1], "w"))
            stack.callback(raw.close)
            raw.rpc("tools/list", {})
            return raw
        for b, exe in builds.items():
            _, tools = await sdk_session(b, exe)
            # A build whose `list` takes `limit` pages; `limit` 1000 asks for the whole vault.
            paged = "limit" in tools["list"].input_schema.get("properties", {})
            calls = [("status", {}, None),
                     ("list", {"limit": records} if paged else {}, records)]
            if paged:
                calls.append(("list", {}, None))  # the first page, at the server's page size
            for tool, args, want in calls:
                s, _ = await sdk_session(b, exe)
                raw = raw_client(b, exe)
                label = f"{b}: `{tool} {json.dumps(args, separators=(',', ':'))}`"
                def sdk_call(s=s, tool=tool, args=args, want=want):
                    async def go():
                        t = time.perf_counter_ns()
                        res = await s.call_tool(tool, args)
                        t = time.perf_counter_ns() - t
                        check(res.model_dump(by_alias=True, exclude_none=True), tool, want)
                        return t, None
                    return go()
                def raw_call(raw=raw, tool=tool, args=args, want=want):
                    async def go():
                        t, result, size = raw.rpc("tools/call", {"name": tool, "arguments": args})
                        check(result, tool, want)
                        return t, size
                    return go()
                cases.append((f"{label} through the SDK", sdk_call, logs[-2]))
                cases.append((f"{label} raw JSON-RPC (anchor)", raw_call, logs[-1]))
        for _ in range(warmup):
            for _, call, _ in cases:
                await call()
        times = [[] for _ in cases]
        sizes = [None] * len(cases)
        for r in range(rounds):
            for i in range(len(cases)):
                j = (i + r) % len(cases)
                t, size = await cases[j][1]()
                times[j].append(t / 1e6)
                sizes[j] = size or sizes[j]
    def q(xs, p):
        xs = sorted(xs)
        return xs[min(len(xs) - 1, int(p * len(xs)))]
        # The servers' stderr is complete once they have exited (leaving the stack).
    print("| call | p50 ms | p90 ms | mean ms | in the server: p50 ms | answer bytes |\n|---|---|---|---|---|---|")
    for (name, _, log), t, size in zip(cases, times, sizes):
        us = in_server(log)
        own = f"{q(us, .5) / 1000:.3f}" if us else "n/a"
        print(f"| {name} | {q(t, .5):.3f} | {q(t, .9):.3f} | {statistics.fmean(t):.3f} | {own} | {size or ''} |")

asyncio.run(main())
PY

echo "## \`kovra mcp\` through the Python SDK ($(python3 -c 'import importlib.metadata as m; print("mcp", m.version("mcp"))'))"
echo
echo "$RECORDS records (populate: a quarter in \`prod\`), all in scope; $ROUNDS interleaved rounds after $WARMUP warm-up; p50/p90/mean of the client's wall time per call."
echo
cat "$WORK/table.md"
echo
if [[ ${KOVRA_BENCH_MCP_LEVERS:-1} != 0 ]]; then
    log "the SDK's steps per result shape (bench/mcp_levers.py)"
    echo "The SDK's work on one \`list\` answer per result shape (bench/mcp_levers.py; CPU ms, median):"
    echo
    python3 "$(dirname "${BASH_SOURCE[0]}")/mcp_levers.py" "$RECORDS"
    echo
fi
echo "| machine | |"
echo "|---|---|"
machine_rows
