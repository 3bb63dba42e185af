#!/usr/bin/env bash
# kovra benchmarks: unlock time with the default Argon2id settings, daemon request round-trip,
# `kovra list --json` over a 100,000-record vault, `kovra run -- true` (1 and 20 records, by
# wall and CPU, dynamic and static C runtime) against `env X=y true`, redaction throughput
# (in-process and through `kovra run -- cat`), the broker, then bench/list.sh's growth table
# (1k/10k/100k records) and bench/mcp.sh (the MCP server through the Python SDK). Writes
# bench/results.md.
#
#   bash bench/run.sh
#
# Knobs (environment): KOVRA_BENCH_RECORDS (100000), KOVRA_BENCH_UNLOCK_RUNS (10),
# KOVRA_BENCH_ROUNDTRIPS (10000), KOVRA_BENCH_LIST_RUNS (5), KOVRA_BENCH_STATUS_RUNS (20),
# KOVRA_BENCH_RUN_RUNS (200: runs of each `true` command), KOVRA_BENCH_REDACT_BYTES (1 GiB:
# in-process stream), KOVRA_BENCH_E2E_BYTES (1 GiB when the work directory has room, else
# 256 MiB: the file `kovra run -- cat` prints), KOVRA_BENCH_E2E_RUNS (3),
# KOVRA_BENCH_REDACT_VALUES (100), KOVRA_BENCH_NO_HYPERFINE=1 (time with `date +%s%N` even
# when hyperfine is installed), KOVRA_BENCH_STATIC=0 (skip the static-C-runtime build),
# KOVRA_BENCH_OUT (bench/results.md). bench/list.sh and bench/mcp.sh take their own knobs.
# shellcheck source=bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
RECORDS=${KOVRA_BENCH_RECORDS:-100000}
UNLOCK_RUNS=${KOVRA_BENCH_UNLOCK_RUNS:-10}
ROUNDTRIPS=${KOVRA_BENCH_ROUNDTRIPS:-10000}
LIST_RUNS=${KOVRA_BENCH_LIST_RUNS:-5}
STATUS_RUNS=${KOVRA_BENCH_STATUS_RUNS:-20}
RUN_RUNS=${KOVRA_BENCH_RUN_RUNS:-200}
REDACT_BYTES=${KOVRA_BENCH_REDACT_BYTES:-1073741824}
E2E_BYTES=${KOVRA_BENCH_E2E_BYTES:-}
E2E_RUNS=${KOVRA_BENCH_E2E_RUNS:-3}
REDACT_VALUES=${KOVRA_BENCH_REDACT_VALUES:-100}
OUT=${KOVRA_BENCH_OUT:-$REPO/bench/results.md}


log "building release binaries"
cargo build --release -p kovra-cli -p kovra-bench
BIN=${CARGO_TARGET_DIR:-$REPO/target}/release
KOVRA=$BIN/kovra
KBENCH=$BIN/kovra-bench
# The build scripts/install.sh installs on Linux/glibc: kovra-full with the C runtime linked in
# (static-pie), and the `kovra` front program built with musl when the musl target and
# musl-gcc are there (else the static glibc one). KOVRA_BENCH_STATIC=0 skips it (two more
# release builds, ~18 minutes on 2 cores the first time). Put together in one directory, as
# installed: the front finds kovra-full beside it.
KOVRA_STATIC=
STATIC_FRONT=
HOST=$(rustc -vV | sed -n 's/^host: //p')
if [[ ${KOVRA_BENCH_STATIC:-1} != 0 && $HOST == *-linux-gnu ]]; then
    log "building the static-C-runtime release binaries (--target $HOST)"
    RUSTFLAGS='-C target-feature=+crt-static' cargo build --release -p kovra-cli --target "$HOST"
    STATIC_BIN=${CARGO_TARGET_DIR:-$REPO/target}/$HOST/release
    front=$STATIC_BIN/kovra
    STATIC_FRONT="static glibc"
    MUSL=${HOST%%-*}-unknown-linux-musl
    if command -v musl-gcc >/dev/null 2>&1 && [[ -d $(rustc --print target-libdir --target "$MUSL" 2>/dev/null) ]]; then
        log "building the kovra front program with musl (--target $MUSL)"
        cargo build --profile front -p kovra-cli --bin kovra --target "$MUSL"
        front=${CARGO_TARGET_DIR:-$REPO/target}/$MUSL/front/kovra
        STATIC_FRONT=musl
    fi
fi

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
RUNH=$WORK/run-home      # created by `kovra-bench redact-fixture`: $REDACT_VALUES low records
RUNS_HOME=$WORK/run-home-static   # a copy of $RUNH for the static build's own daemon
PASS=$WORK/passphrase
mkdir -p "$WORK/run"
if [[ -n $STATIC_FRONT ]]; then
    mkdir -p "$WORK/static"
    cp "$STATIC_BIN/kovra-full" "$front" "$WORK/static/"
    KOVRA_STATIC=$WORK/static/kovra
fi
# Keep the daemons' sockets inside the throwaway directory, and ignore the caller's setup.
export XDG_RUNTIME_DIR=$WORK/run
unset KOVRA_HOME KOVRA_SOCKET KOVRA_PROJECT KOVRA_PASSPHRASE_FILE KOVRA_NO_AUTOSTART KOVRA_ORIGIN
head -c 32 /dev/urandom | base64 | tr -d '/+=\n' >"$PASS"
echo >>"$PASS"

daemon_pid() { KOVRA_HOME=$1 kovra_daemon_pid "$KOVRA"; }

cleanup() {
    local home pid
    for home in "$SMALL" "$BIG" "$RUNH" "$RUNS_HOME"; do
        [[ -d $home ]] || continue
        # A client talks only to a daemon of its own executable.
        local kovra=$KOVRA
        [[ $home != "$RUNS_HOME" ]] || kovra=$KOVRA_STATIC
        pid=$(KOVRA=$kovra daemon_pid "$home" || true)
        KOVRA_HOME=$home "$kovra" daemon stop >/dev/null 2>&1 || true
        [[ -z $pid ]] || await_exit "$pid"
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

# side_by_side TAG RUNS WARMUP COMMAND...: time several commands (each one string, split into
# words as hyperfine -N does, quotes included; no shell in between) in one go, stdin and
# stdout on /dev/null. Sets SBS_MEAN,
# SBS_SD and SBS_MIN (ms, arrays in command order). With hyperfine: one invocation, commands
# one after another. Without: WARMUP untimed runs each, then rounds that time a block of runs
# of each command in turn, so that drift in the machine's load hits every command alike.
hf_nth() { awk -v k="\"$2\":" -v n="$3" '$1 == k { if (++c == n) { gsub(/,/, "", $2); printf "%.3f\n", $2 * 1000; exit } }' "$1"; }
side_by_side() {
    local tag=$1 runs=$2 warmup=$3 i r k
    shift 3
    SBS_MEAN=() SBS_SD=() SBS_MIN=()
    if [[ -n $HYPERFINE ]]; then
        local json=$WORK/hf-$tag.json
        if ! "$HYPERFINE" -N --style none --warmup "$warmup" --runs "$runs" --export-json "$json" \
            "$@" >/dev/null 2>"$WORK/hf.err"; then
            cat "$WORK/hf.err" >&2
            return 1
        fi
        for ((i = 1; i <= $#; i++)); do
            SBS_MEAN+=("$(hf_nth "$json" mean "$i")")
            SBS_SD+=("$(hf_nth "$json" stddev "$i")")
            SBS_MIN+=("$(hf_nth "$json" min "$i")")
        done
    else
        local cmds=("$@") rounds=$((runs < 10 ? runs : 10)) total=() best=() sq=() t0 ms
        local per=$(((runs + rounds - 1) / rounds))
        for ((i = 0; i < ${#cmds[@]}; i++)); do
            # eval only splits the string into words: each run is one fork and exec, as with
            # hyperfine -N.
            for ((r = 0; r < warmup; r++)); do eval "${cmds[i]}" </dev/null >/dev/null 2>&1 || true; done
            total[i]=0 best[i]=1e18 sq[i]=0
        done
        for ((r = 0; r < rounds; r++)); do
            for ((i = 0; i < ${#cmds[@]}; i++)); do
                t0=$(now_ns)
                for ((k = 0; k < per; k++)); do
                    eval "${cmds[i]}" </dev/null >/dev/null 2>"$WORK/last.err" || {
                        cat "$WORK/last.err" >&2
                        log "failed: ${cmds[i]}"
                        return 1
                    }
                done
                # Per-run mean of this block; the spread is over blocks.
                ms=$(awk -v a="$t0" -v b="$(now_ns)" -v n="$per" 'BEGIN { printf "%.3f", (b - a) / 1e6 / n }')
                total[i]=$(awk -v a="${total[i]}" -v b="$ms" 'BEGIN { print a + b }')
                sq[i]=$(awk -v a="${sq[i]}" -v b="$ms" 'BEGIN { print a + b * b }')
                best[i]=$(awk -v a="${best[i]}" -v b="$ms" 'BEGIN { print (b < a) ? b : a }')
            done
        done
        for ((i = 0; i < ${#cmds[@]}; i++)); do
            SBS_MEAN+=("$(awk -v t="${total[i]}" -v n="$rounds" 'BEGIN { printf "%.3f", t / n }')")
            SBS_SD+=("$(awk -v t="${total[i]}" -v q="${sq[i]}" -v n="$rounds" 'BEGIN { m = t / n; v = q / n - m * m; printf "%.3f", (v > 0) ? sqrt(v) : 0 }')")
            SBS_MIN+=("${best[i]}")
        done
    fi
    for ((i = 0; i < $#; i++)); do
        log "$tag: ${*:i+1:1}: mean ${SBS_MEAN[i]} ms ± ${SBS_SD[i]}, min ${SBS_MIN[i]} ms"
    done
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
# Throughput in GB/s (10^9 bytes per second) of BYTES in MS milliseconds.
gbs() { awk -v b="$1" -v ms="$2" 'BEGIN { printf "%.2f", b / (ms / 1000) / 1e9 }'; }

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

# --- 4. `kovra run -- true` against `env X=y true` ---------------------------------------------

# A home of its own, holding the redaction values as low records (dev environment), so that
# injecting them needs no proof and no allowlist.
if [[ -z $E2E_BYTES ]]; then
    avail=$(df -P -B1 "$WORK" | awk 'NR == 2 { print $4 }')
    # 1 GiB when there is room for it with 1 GiB to spare; else 256 MiB.
    if ((avail > 2 * 1073741824)); then E2E_BYTES=1073741824; else E2E_BYTES=268435456; fi
fi
E2E_FILE=$WORK/output.txt
ALL_REFS=$WORK/all.env.refs
ONE_REFS=$WORK/one.env.refs
TWENTY_REFS=$WORK/twenty.env.refs
log "making the redaction fixture: $REDACT_VALUES values, $((E2E_BYTES / 1048576)) MiB of text"
"$KBENCH" --json redact-fixture --home "$RUNH" --passphrase-file "$PASS" --refs "$ALL_REFS" \
    --file "$E2E_FILE" --bytes "$E2E_BYTES" --values "$REDACT_VALUES" >"$WORK/fixture.json"
FIX_OCC=$(jnum "$WORK/fixture.json" occurrences)
FIX_PATTERNS=$(jnum "$WORK/fixture.json" patterns)
printf 'BENCH_VALUE=secret:dev/bench/value-000\n' >"$ONE_REFS"
export KOVRA_HOME=$RUNH
"$KOVRA" unlock --passphrase-file "$PASS" >/dev/null 2>&1

# Side by side in one interleaved python3 run (bench/hotpath.py): wall time and CPU time, the
# daemon's share included (its threads and the child it starts). With the static build (see
# STATIC below) its own copy of the home and its own daemon, since a client talks only to a
# daemon running its own executable.
grep -v '^#' "$ALL_REFS" | head -n 20 >"$TWENTY_REFS"
RUN_PID=$(daemon_pid "$RUNH")
hp_args=(dyn="$RUN_PID")
hp_cmds=("env=env X=y true" "dyn-nosec=$KOVRA run --no-secrets -- true"
    "dyn-one=$KOVRA run --refs $ONE_REFS -- true" "dyn-twenty=$KOVRA run --refs $TWENTY_REFS -- true")
if [[ -n $KOVRA_STATIC ]]; then
    "$KOVRA" daemon stop >/dev/null 2>&1 || true
    cp -a "$RUNH" "$RUNS_HOME"
    KOVRA_HOME=$RUNS_HOME "$KOVRA_STATIC" unlock --passphrase-file "$PASS" >/dev/null 2>&1
    KOVRA_HOME=$RUNH "$KOVRA" unlock --passphrase-file "$PASS" >/dev/null 2>&1
    RUN_PID=$(daemon_pid "$RUNH")
    RUNS_PID=$(KOVRA=$KOVRA_STATIC daemon_pid "$RUNS_HOME")
    hp_args=(dyn="$RUN_PID" static="$RUNS_PID")
    hp_cmds+=("static-one=KOVRA_HOME=$RUNS_HOME $KOVRA_STATIC run --refs $ONE_REFS -- true"
        "static-twenty=KOVRA_HOME=$RUNS_HOME $KOVRA_STATIC run --refs $TWENTY_REFS -- true")
fi
log "kovra run -- true against env X=y true: $RUN_RUNS interleaved rounds"
python3 "$REPO/bench/hotpath.py" "$RUN_RUNS" "${hp_args[@]}" -- "${hp_cmds[@]}" >"$WORK/hotpath.json"
# hp NAME FIELD: one figure of bench/hotpath.py's output
hp() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]][sys.argv[3]])' "$WORK/hotpath.json" "$1" "$2"; }
hp_row() {
    local name=$1 what=$2 min cpu
    min=$(hp "$name" min_ms) cpu=$(hp "$name" cpu_ms)
    printf '| %s | min %s ms, p50 %s ms, mean %s ms; CPU %s ms | **%s×** | **%s×** |\n' "$what" "$min" \
        "$(hp "$name" p50_ms)" "$(hp "$name" mean_ms)" "$cpu" \
        "$(ratio "$min" "$(hp env min_ms)")" "$(ratio "$cpu" "$(hp env cpu_ms)")"
}
RUN_ROWS=$(
    hp_row env '`env X=y true` (anchor)'
    hp_row dyn-nosec '`kovra run --no-secrets -- true`'
    hp_row dyn-one '`kovra run -- true`, 1 low record'
    hp_row dyn-twenty '`kovra run -- true`, 20 low records'
    if [[ -n $KOVRA_STATIC ]]; then
        hp_row static-one "static C runtime ($STATIC_FRONT front): \`kovra run -- true\`, 1 low record"
        hp_row static-twenty "static C runtime ($STATIC_FRONT front): \`kovra run -- true\`, 20 low records"
    fi
)
best=static
[[ -n $KOVRA_STATIC ]] || best=dyn
RT_RATIO=$(ratio "$(hp "$best-twenty" min_ms)" "$(hp env min_ms)")
RT_CPU_RATIO=$(ratio "$(hp "$best-twenty" cpu_ms)" "$(hp env cpu_ms)")
RT_GOAL=$(awk -v r="$RT_RATIO" -v c="$RT_CPU_RATIO" 'BEGIN { print (r <= 1.2 && c <= 1.2) ? "met" : "missed" }')
log "kovra run -- true (20 records, $best): ${RT_RATIO}x env X=y true by min wall, ${RT_CPU_RATIO}x by CPU; goal <= 1.2x: $RT_GOAL"
# The client's instructions for one run (callgrind; the daemon is not traced).
RT_INSTR=
if command -v valgrind >/dev/null 2>&1; then
    for v in "$KOVRA" ${KOVRA_STATIC:+"$KOVRA_STATIC"}; do
        h=$RUNH
        [[ $v == "$KOVRA" ]] || h=$RUNS_HOME
        n=$(KOVRA_HOME=$h valgrind --tool=callgrind --callgrind-out-file=/dev/null "$v" run --refs "$ONE_REFS" -- true 2>&1 |
            sed -n 's/.*Collected : \([0-9]*\).*/\1/p')
        RT_INSTR+="${RT_INSTR:+; }$([[ $v == "$KOVRA" ]] && echo dynamic || echo static) ${n:-?}"
    done
    log "client instructions for kovra run -- true: $RT_INSTR"
fi
[[ -z $KOVRA_STATIC ]] || KOVRA_HOME=$RUNS_HOME "$KOVRA_STATIC" daemon stop >/dev/null 2>&1 || true

# --- 5. Redaction throughput -----------------------------------------------------------------

log "redaction in-process: $REDACT_VALUES values, $((REDACT_BYTES / 1048576)) MiB in 256 KiB reads"
"$KBENCH" --json redact --bytes "$REDACT_BYTES" --values "$REDACT_VALUES" >"$WORK/redact.json"
for k in patterns redact_gbs redact_gibs copy_gbs copy_gibs occurrences markers max_held; do
    printf -v "RD_${k^^}" '%s' "$(jnum "$WORK/redact.json" "$k")"
done
RD_GOAL=$(awk -v r="$RD_REDACT_GBS" 'BEGIN { print (r >= 2) ? "met" : "missed" }')

# End to end: the daemon relays the child's output through the redactor (reads of 16 KiB growing to 256 KiB) into
# the client's stdout, here /dev/null. One untimed pass first also checks the redaction: every
# occurrence in the file must come out as one marker (the text has no other `[`).
E2E_MARKERS=$("$KOVRA" run --refs "$ALL_REFS" -- cat "$E2E_FILE" </dev/null | tr -cd '[' | wc -c)
log "end to end: $FIX_OCC occurrences in the file, $E2E_MARKERS markers out of kovra run"
side_by_side e2e "$E2E_RUNS" 1 \
    "cat $E2E_FILE" \
    "sh -c 'cat $E2E_FILE | cat'" \
    "$KOVRA run --no-secrets -- cat $E2E_FILE" \
    "$KOVRA run --refs $ALL_REFS -- cat $E2E_FILE"
E2E_CAT=$(gbs "$E2E_BYTES" "${SBS_MEAN[0]}") E2E_PIPE=$(gbs "$E2E_BYTES" "${SBS_MEAN[1]}")
E2E_NOSEC=$(gbs "$E2E_BYTES" "${SBS_MEAN[2]}") E2E_ALL=$(gbs "$E2E_BYTES" "${SBS_MEAN[3]}")
E2E_MS=("${SBS_MEAN[@]}")
E2E_GOAL=$(awk -v r="$E2E_ALL" 'BEGIN { print (r >= 1) ? "met" : "missed" }')
log "end to end GB/s: cat $E2E_CAT, cat | cat $E2E_PIPE, kovra run --no-secrets $E2E_NOSEC, kovra run ($REDACT_VALUES values) $E2E_ALL"
"$KOVRA" daemon stop >/dev/null 2>&1 || true
rm -f "$E2E_FILE"

# --- results -----------------------------------------------------------------------------------

FS=$(stat -f -c %T "$WORK")
{
    cat <<EOF
# kovra benchmark results

Produced by \`bash bench/run.sh\` (see bench/README.md). Release build, throwaway home on ${FS} (${BASE}).

| machine | |
|---|---|
| date | $(date -u '+%Y-%m-%d %H:%M UTC') |
$(machine_rows)
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

## \`kovra run\` overhead and redaction

Measured side by side, daemon unlocked, stdin and stdout on /dev/null (no PTY). Goals (issue 16):
\`kovra run -- true\` with 1 and 20 records at most 1.2× \`env X=y true\` by min wall and by CPU
(the client's and the daemon's, the child's included); redaction at least 2 GB/s in-process and
1 GB/s end to end with ${REDACT_VALUES} values.

${RUN_RUNS} interleaved rounds (bench/hotpath.py): every round runs each command once.

| command | time | × anchor (min wall) | × anchor (CPU) |
|---|---|---|---|
${RUN_ROWS}

Goal (20 records, ${best} build): ${RT_RATIO}× by min wall, ${RT_CPU_RATIO}× by CPU: ${RT_GOAL}. Client instructions for one \`kovra run -- true\` (callgrind, 1 record): ${RT_INSTR:-valgrind not installed}.

| benchmark | result |
|---|---|
| redaction in-process (\`kovra-bench redact\`), ${REDACT_VALUES} values → ${RD_PATTERNS} patterns, $((REDACT_BYTES / 1048576)) MiB of log text in 256 KiB reads | **${RD_REDACT_GBS} GB/s** (${RD_REDACT_GIBS} GiB/s; goal ≥ 2 GB/s: ${RD_GOAL}); plain copy of the same reads ${RD_COPY_GBS} GB/s; ${RD_OCCURRENCES} occurrences in, ${RD_MARKERS} markers out; at most ${RD_MAX_HELD} bytes held back |
| \`cat FILE > /dev/null\`, $((E2E_BYTES / 1048576)) MiB on ${FS} | ${E2E_CAT} GB/s (mean ${E2E_MS[0]} ms, ${E2E_RUNS} runs) |
| \`cat FILE \| cat > /dev/null\` (one pipe hop, no redaction) | ${E2E_PIPE} GB/s (mean ${E2E_MS[1]} ms) |
| \`kovra run --no-secrets -- cat FILE > /dev/null\` (daemon relay, nothing to mask) | ${E2E_NOSEC} GB/s (mean ${E2E_MS[2]} ms) |
| \`kovra run -- cat FILE > /dev/null\`, ${REDACT_VALUES} values injected (${FIX_PATTERNS} patterns) | **${E2E_ALL} GB/s** (mean ${E2E_MS[3]} ms; goal ≥ 1 GB/s: ${E2E_GOAL}); ${FIX_OCC} occurrences in the file, ${E2E_MARKERS} markers out |
EOF
} >"$OUT"
KOVRA_BENCH_OUT=$OUT bash "$REPO/bench/broker.sh"
# Issue 16's growth table and the MCP server through the Python SDK: each script prints its
# own table (their headers say how they measure).
{
    printf '\n## Growth with the vault (`bench/list.sh`, load at start %s)\n\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
    bash "$REPO/bench/list.sh"
} >>"$OUT"
# bench/mcp.sh's own heading and machine table (load included) come with it.
{
    echo
    bash "$REPO/bench/mcp.sh"
} >>"$OUT"
cat "$OUT"
log "wrote ${OUT#"$REPO"/}"
