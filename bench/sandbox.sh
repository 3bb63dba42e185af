#!/usr/bin/env bash
# Start-up of `kovra sandbox -- true` (issue 14) next to its anchors, side by side: `true`,
# bare `bwrap --ro-bind / / true`, `bwrap` with the very arguments kovra builds (shown by
# `kovra sandbox --dry-run`, run with the same environment but without the daemon round trip
# or kovra's init inside), and `kovra sandbox -- true` itself (ask the daemon for the grant,
# build the sandbox, start `kovra sandbox-init` inside with its egress bridge, then `true`).
#
#   bash bench/sandbox.sh      # appends a section to bench/results.md (KOVRA_BENCH_OUT=FILE)
#
# Timing is python3 `perf_counter_ns` around `subprocess.run`, interleaved: every round runs
# each command once, starting one further along each time. Run as a non-root user to measure
# what users get (as root bubblewrap also makes a user namespace here, as kovra asks it to).
# Knobs: KOVRA_BENCH_SANDBOX_ROUNDS (100), KOVRA_BENCH_OUT.
# shellcheck source=bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
ROUNDS=${KOVRA_BENCH_SANDBOX_ROUNDS:-100}
OUT=${KOVRA_BENCH_OUT:-$REPO/bench/results.md}
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
command -v bwrap >/dev/null || { log "bubblewrap is not installed"; exit 1; }

log "building kovra (release)"
nice -n 10 cargo build --release -q -p kovra-cli
KOVRA=${CARGO_TARGET_DIR:-$REPO/target}/release/kovra
umask 077
WORK=$(mktemp -d "$(bench_base)/kovra-sandbox-bench.XXXXXX")
export KOVRA_HOME=$WORK/home XDG_RUNTIME_DIR=$WORK/run
unset KOVRA_SOCKET KOVRA_PROJECT KOVRA_PASSPHRASE_FILE KOVRA_NO_AUTOSTART KOVRA_ORIGIN KOVRA_AGENT_SOCKET
mkdir -p "$XDG_RUNTIME_DIR" "$WORK/project"
cleanup() { "$KOVRA" daemon stop >/dev/null 2>&1 || true; rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
head -c 24 /dev/urandom | base64 | tr -d '/+=\n' >"$WORK/pass"; echo >>"$WORK/pass"
"$KOVRA" init --passphrase-file "$WORK/pass" >/dev/null 2>&1
"$KOVRA" agent create bench >/dev/null
cd "$WORK/project"
# The bubblewrap line kovra builds, as a JSON argv for python (it needs the grant's sockets,
# which live as long as the dry run's connection did not: the line ends in `kovra sandbox-init`,
# replaced here by `true`, so this anchor is bubblewrap with kovra's mounts and namespaces).
"$KOVRA" sandbox --agent bench --dry-run -- true >"$WORK/line.txt"
log "timing: $ROUNDS interleaved rounds"
python3 - "$ROUNDS" "$KOVRA" "$WORK/line.txt" >"$WORK/table.md" <<'PY'
import shlex, statistics, subprocess, sys, time
rounds, kovra, line = int(sys.argv[1]), sys.argv[2], open(sys.argv[3]).read()
argv = shlex.split(line)
cut = argv.index("--", argv.index("--chdir"))
same = argv[:cut] + ["--", "true"]
cmds = [("`true` (anchor)", ["true"]),
        ("`bwrap --ro-bind / / true`", ["bwrap", "--ro-bind", "/", "/", "true"]),
        ("`bwrap` with kovra's mounts and namespaces, then `true`", same),
        ("`kovra sandbox --agent bench -- true`", [kovra, "sandbox", "--agent", "bench", "--", "true"])]
def run(c):
    t = time.perf_counter_ns()
    r = subprocess.run(c[1], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    t = time.perf_counter_ns() - t
    if r.returncode: sys.exit(f"{c[0]} exited {r.returncode}: {r.stderr.decode()[:300]}")
    return t / 1e6
for c in cmds * 5: run(c)
times = [[] for _ in cmds]
for r in range(rounds):
    for i in range(len(cmds)):
        j = (i + r) % len(cmds); times[j].append(run(cmds[j]))
def q(xs, p): xs = sorted(xs); return xs[min(len(xs) - 1, int(p * len(xs)))]
st = [(min(t), q(t, .5), q(t, .9), statistics.fmean(t)) for t in times]
print("| command | min ms | p50 ms | p90 ms | mean ms | p50 − anchor |\n|---|---|---|---|---|---|")
for (name, _), (mn, p50, p90, mean) in zip(cmds, st):
    print(f"| {name} | {mn:.2f} | {p50:.2f} | {p90:.2f} | {mean:.2f} | {p50 - st[0][1]:+.2f} |")
print(f"\nReading (p50): kovra adds {st[3][1] - st[2][1]:+.2f} ms over bubblewrap with the same mounts"
      f" (the client's start, one daemon round trip for the grant, the proxy socket, and `kovra sandbox-init`"
      f" with its bridge inside); those mounts and namespaces cost {st[2][1] - st[1][1]:+.2f} ms over a bare `bwrap`.")
PY
{
    printf '\n## Sandbox start-up (`bench/sandbox.sh`, %s)\n\n' "$(date -u +%Y-%m-%d)"
    printf '| machine | |\n|---|---|\n'
    machine_rows
    printf '| user | %s |\n| rounds | %s (interleaved) |\n\n' "$(id -un)" "$ROUNDS"
    cat "$WORK/table.md"
} >>"$OUT"
cat "$WORK/table.md"
