#!/usr/bin/env bash
# Issue 16's first goal alone, on the build scripts/install.sh makes on Linux/glibc (a static
# C runtime for `kovra-full`, musl for the `kovra` front when musl-gcc is there):
# `kovra run -- true` with 1 and 20 low records against `env X=y true`, interleaved round by
# round by bench/hotpath.py (min and p50 wall; CPU with the daemon's share), RUNS times, then
# the daemon's own CPU per run (`perf stat --no-inherit`, its threads only, not the child) when
# perf is installed. bench/run.sh has the same rows inside its whole run; this takes a minute.
# With a C compiler, the same rounds also time the floor of this shape (bench/floor/floor.c:
# a static client, a daemon that starts the program behind pipes and syncs 1 or 20 records
# to a file, nothing else), so the table says how much of the gap to `env` is kovra's.
#
#   bash bench/runstatic.sh          # a markdown table on stdout; writes nothing
#
# Then the same commands (and `kovra status`) started after a pause each, as people and agents
# start them. Knobs: KOVRA_RUNSTATIC_ROUNDS (600 interleaved rounds per run), KOVRA_RUNSTATIC_RUNS
# (3), KOVRA_RUNSTATIC_PAUSE (0.3 s), KOVRA_RUNSTATIC_COLD_ROUNDS (40).
# shellcheck source=bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
ROUNDS=${KOVRA_RUNSTATIC_ROUNDS:-600}
RUNS=${KOVRA_RUNSTATIC_RUNS:-3}
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
build_installed
log "building kovra-bench"
nice -n 5 cargo build --release -q -p kovra-bench
TARGET=${CARGO_TARGET_DIR:-$REPO/target}

umask 077
WORK=$(mktemp -d "$(bench_base)/kovra-runstatic.XXXXXX")
mkdir -p "$WORK/bin" "$WORK/run"
install_into "$WORK/bin"
export XDG_RUNTIME_DIR=$WORK/run KOVRA_HOME=$WORK/home
unset KOVRA_SOCKET KOVRA_PROJECT KOVRA_PASSPHRASE_FILE KOVRA_NO_AUTOSTART KOVRA_ORIGIN
cleanup() {
    local pid
    declare -F stop_floor >/dev/null && stop_floor
    pid=$(kovra_daemon_pid "$KOVRA" || true)
    "$KOVRA" daemon stop >/dev/null 2>&1 || true
    [[ -z $pid ]] || await_exit "$pid"
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

KBENCH=$TARGET/release/kovra-bench
run_fixture "$WORK" 65536
DAEMON=$(kovra_daemon_pid "$KOVRA")
[[ -n $DAEMON ]] || { log "no daemon answers"; exit 1; }

# The floor of this shape (bench/floor/floor.c): a client handing its descriptors and
# environment to a daemon that starts the program behind pipes, relays them, appends 1 or 20
# records to a file and fdatasyncs it, with nothing else. Needs a C compiler.
FLOOR_ROWS=()
FLOOR_PIDS=()
if command -v cc >/dev/null 2>&1; then
    if command -v musl-gcc >/dev/null 2>&1; then
        musl-gcc -static -O2 -o "$WORK/floor-client" "$REPO/bench/floor/floor.c"
    else
        cc -O2 -o "$WORK/floor-client" "$REPO/bench/floor/floor.c"
    fi
    cc -O2 -o "$WORK/floor-daemon" "$REPO/bench/floor/floor.c"
    for n in 1 20; do
        "$WORK/floor-daemon" serve "$WORK/floor-$n.sock" pipes audit "$WORK/floor-$n.log" "$n" &
        FLOOR_PIDS+=("$!")
        FLOOR_ROWS+=("fl$n=$!")
    done
    for n in 1 20; do
        for _ in $(seq 50); do [[ -S $WORK/floor-$n.sock ]] && break; sleep 0.1; done
    done
fi
stop_floor() {
    local pid
    for pid in "${FLOOR_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
}

echo "| run | \`env X=y true\` min / p50 ms, CPU ms | 1 record: min / p50 ms, CPU ms | × env (min wall / CPU) | 20 records: min / p50 ms, CPU ms | × env (min wall / CPU) | the floor, 1 / 20 records: × env (min wall / CPU) |"
echo "|---|---|---|---|---|---|---|"
for r in $(seq "$RUNS"); do
    log "run $r of $RUNS: $ROUNDS interleaved rounds"
    FLOOR_CMDS=()
    if ((${#FLOOR_ROWS[@]})); then
        FLOOR_CMDS=("fl1-one=X=y $WORK/floor-client run $WORK/floor-1.sock -- true"
            "fl20-twenty=X=y $WORK/floor-client run $WORK/floor-20.sock -- true")
    fi
    python3 "$REPO/bench/hotpath.py" "$ROUNDS" kovra="$DAEMON" "${FLOOR_ROWS[@]}" -- "env=env X=y true" \
        "kovra-one=$KOVRA run --refs $WORK/one.refs -- true" \
        "kovra-twenty=$KOVRA run --refs $WORK/twenty.refs -- true" "${FLOOR_CMDS[@]}" >"$WORK/hp.json"
    python3 - "$WORK/hp.json" "$r" "$WORK/cpu-read" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
open(sys.argv[3], "w").write(d.pop("daemon_cpu"))
e = d["env"]
def cell(v):
    return f"{v['min_ms']:.3f} / {v['p50_ms']:.3f}, {v['cpu_ms']:.3f}"
def ratio(v):
    return f"{v['min_ms'] / e['min_ms']:.2f}× / {v['cpu_ms'] / e['cpu_ms']:.2f}×"
one, twenty = d["kovra-one"], d["kovra-twenty"]
floor = " – "
if "fl1-one" in d:
    floor = f"{ratio(d['fl1-one'])}, {ratio(d['fl20-twenty'])}"
print(f"| {sys.argv[2]} | {cell(e)} | {cell(one)} | **{ratio(one)}** | {cell(twenty)} | **{ratio(twenty)}** | {floor} |")
PY
done

# Started now and then, not back to back: each command after a pause of PAUSE seconds.
PAUSE=${KOVRA_RUNSTATIC_PAUSE:-0.3}
COLD=${KOVRA_RUNSTATIC_COLD_ROUNDS:-40}
log "$COLD rounds, each command after a pause of $PAUSE s"
HOTPATH_PAUSE=$PAUSE python3 "$REPO/bench/hotpath.py" "$COLD" kovra="$DAEMON" -- "env=env X=y true" \
    "kovra-one=$KOVRA run --refs $WORK/one.refs -- true" \
    "kovra-status=$KOVRA status" >"$WORK/cold.json"
echo
echo "| after a pause of $PAUSE s ($COLD rounds) | min / p50 / mean ms | CPU ms | × env (p50 wall / CPU) |"
echo "|---|---|---|---|"
python3 - "$WORK/cold.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d.pop("daemon_cpu")
e = d["env"]
for name, label in [("env", "`env X=y true`"), ("kovra-one", "`kovra run -- true`, 1 record"), ("kovra-status", "`kovra status`")]:
    v = d[name]
    print(f"| {label} | {v['min_ms']:.3f} / {v['p50_ms']:.3f} / {v['mean_ms']:.3f} | {v['cpu_ms']:.3f} | {v['p50_ms'] / e['p50_ms']:.2f}× / {v['cpu_ms'] / e['cpu_ms']:.2f}× |")
PY

if command -v perf >/dev/null 2>&1; then
    echo
    echo "| the daemon's own CPU per \`kovra run -- true\` (perf stat --no-inherit, 300 runs) | ms |"
    echo "|---|---|"
    for refs in one twenty; do
        ms=$(perf stat -x, -e task-clock --no-inherit -p "$DAEMON" -- \
            bash -c "for i in \$(seq 300); do '$KOVRA' run --refs '$WORK/$refs.refs' -- true; done" 2>&1 |
            awk -F, '/task-clock/ { printf "%.3f", $1 / 300 }')
        echo "| $refs record(s) | $ms |"
    done
fi
echo
echo "front: $FRONT_KIND; kovra-full: static glibc; the daemon's share of CPU read from: $(cat "$WORK/cpu-read")"
echo
echo "| machine | |"
echo "|---|---|"
machine_rows
