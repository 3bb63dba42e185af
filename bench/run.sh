#!/usr/bin/env bash
# kovra benchmarks: unlock time with the default Argon2id settings, daemon request round-trip,
# and `kovra list --json` over a 100,000-record vault. Writes bench/results.md.
#
#   bash bench/run.sh
#
# Knobs (environment): KOVRA_BENCH_RECORDS (100000), KOVRA_BENCH_UNLOCK_RUNS (10),
# KOVRA_BENCH_ROUNDTRIPS (10000), KOVRA_BENCH_LIST_RUNS (5), KOVRA_BENCH_STATUS_RUNS (20),
# KOVRA_BENCH_NO_HYPERFINE=1 (time with `date +%s%N` even when hyperfine is installed),
# KOVRA_BENCH_OUT (bench/results.md).
set -euo pipefail
shopt -s inherit_errexit

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$PWD
RECORDS=${KOVRA_BENCH_RECORDS:-100000}
UNLOCK_RUNS=${KOVRA_BENCH_UNLOCK_RUNS:-10}
ROUNDTRIPS=${KOVRA_BENCH_ROUNDTRIPS:-10000}
LIST_RUNS=${KOVRA_BENCH_LIST_RUNS:-5}
STATUS_RUNS=${KOVRA_BENCH_STATUS_RUNS:-20}
OUT=${KOVRA_BENCH_OUT:-$REPO/bench/results.md}

log() { printf 'bench: %s\n' "$*" >&2; }

log "building release binaries"
cargo build --release -p kovra-cli -p kovra-bench
BIN=${CARGO_TARGET_DIR:-$REPO/target}/release
KOVRA=$BIN/kovra
KBENCH=$BIN/kovra-bench

HYPERFINE=
if [[ -z ${KOVRA_BENCH_NO_HYPERFINE:-} ]] && command -v hyperfine >/dev/null 2>&1; then
    HYPERFINE=$(command -v hyperfine)
fi

# A throwaway home on tmpfs, so per-write fsyncs measure kovra rather than the disk.
if [[ -d /dev/shm && -w /dev/shm ]]; then BASE=/dev/shm; else BASE=${TMPDIR:-/tmp}; fi
umask 077
WORK=$(mktemp -d "$BASE/kovra-bench.XXXXXX")
SMALL=$WORK/small-home   # created by `kovra init`: no records
BIG=$WORK/big-home       # created by `kovra-bench populate`: $RECORDS records
PASS=$WORK/passphrase
mkdir -p "$WORK/run"
# Keep the daemons' sockets inside the throwaway directory, and ignore the caller's setup.
export XDG_RUNTIME_DIR=$WORK/run
unset KOVRA_HOME KOVRA_SOCKET KOVRA_PROJECT KOVRA_PASSPHRASE_FILE KOVRA_NO_AUTOSTART KOVRA_ORIGIN
head -c 32 /dev/urandom | base64 | tr -d '/+=\n' >"$PASS"
echo >>"$PASS"

daemon_pid() {
    KOVRA_HOME=$1 "$KOVRA" status --json 2>/dev/null |
        sed -n 's/.*"daemon_pid": *\([0-9][0-9]*\).*/\1/p' | head -n1
}

cleanup() {
    local home pid i
    for home in "$SMALL" "$BIG"; do
        [[ -d $home ]] || continue
        pid=$(daemon_pid "$home" || true)
        KOVRA_HOME=$home "$KOVRA" daemon stop >/dev/null 2>&1 || true
        if [[ -n $pid ]]; then
            for i in $(seq 50); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
            done
            # Still there: stop the daemon this script started, by its pid.
            if kill -0 "$pid" 2>/dev/null; then kill "$pid" 2>/dev/null || true; fi
        fi
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- timing helpers -------------------------------------------------------------------------

now_ns() { date +%s%N; }
# Milliseconds since a `now_ns` stamp.
ms_since() { awk -v a="$1" -v b="$(now_ns)" 'BEGIN { printf "%.1f", (b - a) / 1e6 }'; }
# Run a command with its output discarded; print its wall time in ms (its errors on failure).
time_ms() {
    local t0
    t0=$(now_ns)
    if ! "$@" >/dev/null 2>"$WORK/last.err"; then
        cat "$WORK/last.err" >&2
        log "failed: $*"
        return 1
    fi
    ms_since "$t0"
}
median() { sort -n | awk '{ a[NR] = $1 } END { if (NR == 0) exit 1; if (NR % 2) print a[(NR + 1) / 2]; else printf "%.1f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
minimum() { sort -n | head -n1; }
# A numeric field of a flat JSON object on one line (kovra-bench --json output).
jnum() { sed -n "s/.*\"$2\":\\([0-9.eE+-]*\\).*/\\1/p" "$1" | head -n1; }
# median and min (ms) from a hyperfine --export-json file
hf_ms() { awk -v k="\"$2\":" '$1 == k { gsub(/,/, "", $2); printf "%.1f\n", $2 * 1000; exit }' "$1"; }

# measure NAME RUNS PREPARE COMMAND...: sets M_MEDIAN and M_MIN (ms). PREPARE ("" for none) runs
# untimed before every run; COMMAND's stdout is discarded.
measure() {
    local name=$1 runs=$2 prepare=$3
    shift 3
    if [[ -n $HYPERFINE ]]; then
        local json=$WORK/hf-$name.json
        local args=(--runs "$runs" --style none --export-json "$json" -N)
        [[ -n $prepare ]] && args+=(--prepare "$prepare")
        # hyperfine's outlier warnings are noise here; show its stderr only when it fails.
        if ! "$HYPERFINE" "${args[@]}" "$(printf '%q ' "$@")" >/dev/null 2>"$WORK/hf.err"; then
            cat "$WORK/hf.err" >&2
            return 1
        fi
        M_MEDIAN=$(hf_ms "$json" median)
        M_MIN=$(hf_ms "$json" min)
    else
        local i times=()
        for ((i = 0; i < runs; i++)); do
            if [[ -n $prepare ]]; then bash -c "$prepare" >/dev/null 2>&1; fi
            times+=("$(time_ms "$@")")
        done
        M_MEDIAN=$(printf '%s\n' "${times[@]}" | median)
        M_MIN=$(printf '%s\n' "${times[@]}" | minimum)
    fi
    log "$name: median ${M_MEDIAN} ms, min ${M_MIN} ms (${runs} runs)"
}

TIMER=${HYPERFINE:+hyperfine $("$HYPERFINE" --version | awk '{print $2}')}
TIMER=${TIMER:-date +%s%N}
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
log "work dir $WORK ($(stat -f -c %T "$WORK")); timing with $TIMER"

# --- 1. Argon2id alone, and unlock of an empty vault ----------------------------------------

"$KBENCH" --json kdf --iterations 10 >"$WORK/kdf.json"
KDF_P50=$(awk -v x="$(jnum "$WORK/kdf.json" derive_p50_us)" 'BEGIN { printf "%.1f", x / 1000 }')
KDF_MIN=$(awk -v x="$(jnum "$WORK/kdf.json" derive_min_us)" 'BEGIN { printf "%.1f", x / 1000 }')
KDF_DESC="m=$(jnum "$WORK/kdf.json" m_kib) KiB, t=$(jnum "$WORK/kdf.json" t), p=$(jnum "$WORK/kdf.json" p)"
log "argon2id ($KDF_DESC) alone: p50 $KDF_P50 ms, min $KDF_MIN ms"

export KOVRA_HOME=$SMALL
"$KOVRA" init --passphrase-file "$PASS" >/dev/null 2>&1
measure unlock-empty "$UNLOCK_RUNS" "$KOVRA lock" "$KOVRA" unlock --passphrase-file "$PASS"
UNLOCK_EMPTY_MEDIAN=$M_MEDIAN UNLOCK_EMPTY_MIN=$M_MIN

# --- 2. Daemon round-trip ----------------------------------------------------------------------

"$KBENCH" --json roundtrip --iterations "$ROUNDTRIPS" --connect-iterations 1000 >"$WORK/rt.json"
for k in one_connection_p50_us one_connection_p90_us one_connection_p99_us one_connection_mean_us \
    one_connection_rps new_connection_p50_us new_connection_p99_us new_connection_mean_us; do
    printf -v "RT_${k^^}" '%s' "$(jnum "$WORK/rt.json" "$k")"
done
log "round-trip (status, one connection): p50 ${RT_ONE_CONNECTION_P50_US} us, p90 ${RT_ONE_CONNECTION_P90_US} us, p99 ${RT_ONE_CONNECTION_P99_US} us, mean ${RT_ONE_CONNECTION_MEAN_US} us"
measure status-process "$STATUS_RUNS" "" "$KOVRA" status --json
STATUS_MEDIAN=$M_MEDIAN STATUS_MIN=$M_MIN
"$KOVRA" daemon stop >/dev/null 2>&1 || true

# --- 3. list --json over a large vault -------------------------------------------------------

export KOVRA_HOME=$BIG
log "populating $RECORDS records (one transaction + fsync each, as the daemon writes)"
"$KBENCH" --json populate --home "$BIG" --records "$RECORDS" --passphrase-file "$PASS" >"$WORK/populate.json"
POP_SECS=$(jnum "$WORK/populate.json" put_secs)
POP_US=$(jnum "$WORK/populate.json" per_put_us)
POP_MIB=$(awk -v b="$(jnum "$WORK/populate.json" db_bytes)" 'BEGIN { printf "%.1f", b / 1048576 }')

# The first CLI call starts the daemon; unlock rebuilds and verifies the record index.
FIRST_UNLOCK=$(time_ms "$KOVRA" unlock --passphrase-file "$PASS")
log "first unlock of the ${RECORDS}-record vault (daemon autostart included): ${FIRST_UNLOCK} ms"
FIRST_LIST=$(time_ms "$KOVRA" list --json)
LIST_BYTES=$("$KOVRA" list --json | wc -c)
log "first list --json after unlock: ${FIRST_LIST} ms ($LIST_BYTES bytes of output)"
measure list-json "$LIST_RUNS" "" "$KOVRA" list --json
LIST_MEDIAN=$M_MEDIAN LIST_MIN=$M_MIN

# Where the time goes: daemon work vs reply transfer vs client parse vs rendering.
"$KBENCH" --json list --iterations 3 >"$WORK/phases.json"
ph() { awk -v x="$(jnum "$WORK/phases.json" "$1_p50_us")" 'BEGIN { printf "%.0f", x / 1000 }'; }
PH_DAEMON=$(ph daemon) PH_TRANSFER=$(ph transfer) PH_PARSE=$(ph parse) PH_RENDER=$(ph render)
PH_MIB=$(awk -v b="$(jnum "$WORK/phases.json" reply_bytes)" 'BEGIN { printf "%.1f", b / 1048576 }')
log "list phases (p50): daemon ${PH_DAEMON} ms, transfer ${PH_TRANSFER} ms, client parse ${PH_PARSE} ms, render ${PH_RENDER} ms (reply ${PH_MIB} MiB)"

BIG_UNLOCK_RUNS=$(((UNLOCK_RUNS + 1) / 2))
measure unlock-big "$BIG_UNLOCK_RUNS" "$KOVRA lock" "$KOVRA" unlock --passphrase-file "$PASS"
UNLOCK_BIG_MEDIAN=$M_MEDIAN UNLOCK_BIG_MIN=$M_MIN

# --- results -----------------------------------------------------------------------------------

CPU=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -n1)
MEM=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
REV=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$REPO" diff --quiet HEAD 2>/dev/null || REV="$REV (with uncommitted changes)"
FS=$(stat -f -c %T "$WORK")
{
    cat <<EOF
# kovra benchmark results

Produced by \`bash bench/run.sh\` (see bench/README.md). Release build, throwaway home on ${FS} (${BASE}).

| machine | |
|---|---|
| date | $(date -u '+%Y-%m-%d %H:%M UTC') |
| cpu | ${CPU:-unknown} |
| nproc | $(nproc) |
| load average at start / end | ${LOAD_START} / $(cut -d' ' -f1-3 /proc/loadavg) |
| memory | ${MEM} |
| kernel | $(uname -r) |
| rustc | $(rustc --version 2>/dev/null || echo unknown) |
| commit | ${REV} |
| timer | ${TIMER} |

| benchmark | result |
|---|---|
| Argon2id alone (${KDF_DESC}) | p50 ${KDF_P50} ms, min ${KDF_MIN} ms (10 runs, in-process, fresh 64 MiB each run) |
| \`kovra unlock\`, empty vault (process + socket + Argon2id + audit write) | median ${UNLOCK_EMPTY_MEDIAN} ms, min ${UNLOCK_EMPTY_MIN} ms (${UNLOCK_RUNS} runs, \`kovra lock\` before each) |
| \`kovra unlock\`, ${RECORDS}-record vault (adds index rebuild + verification) | median ${UNLOCK_BIG_MEDIAN} ms, min ${UNLOCK_BIG_MIN} ms (${BIG_UNLOCK_RUNS} runs) |
| first \`kovra unlock\` of the ${RECORDS}-record vault, daemon autostart included | ${FIRST_UNLOCK} ms |
| daemon round-trip, \`status\`, one connection | p50 ${RT_ONE_CONNECTION_P50_US} µs, p90 ${RT_ONE_CONNECTION_P90_US} µs, p99 ${RT_ONE_CONNECTION_P99_US} µs, mean ${RT_ONE_CONNECTION_MEAN_US} µs (${ROUNDTRIPS} requests, ${RT_ONE_CONNECTION_RPS} req/s) |
| daemon round-trip, \`status\`, new connection per request | p50 ${RT_NEW_CONNECTION_P50_US} µs, p99 ${RT_NEW_CONNECTION_P99_US} µs, mean ${RT_NEW_CONNECTION_MEAN_US} µs (1000 requests) |
| \`kovra status --json\` end to end (process start to exit) | median ${STATUS_MEDIAN} ms, min ${STATUS_MIN} ms (${STATUS_RUNS} runs) |
| \`kovra list --json > /dev/null\`, ${RECORDS} records | median ${LIST_MEDIAN} ms, min ${LIST_MIN} ms (${LIST_RUNS} runs); output ${LIST_BYTES} bytes |
| first \`kovra list --json\` after unlock | ${FIRST_LIST} ms |
| list phases (p50 of 3): daemon / transfer / client parse / render | ${PH_DAEMON} / ${PH_TRANSFER} / ${PH_PARSE} / ${PH_RENDER} ms (reply ${PH_MIB} MiB) |
| populate ${RECORDS} records through kovra-core (setup, not a product path) | ${POP_SECS} s, ${POP_US} µs per put; vault.db + WAL ${POP_MIB} MiB |
EOF
} >"$OUT"
cat "$OUT"
log "wrote ${OUT#"$REPO"/}"
