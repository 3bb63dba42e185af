#!/usr/bin/env bash
# The daemon's side of `kovra run`, alone: start-up (`kovra run -- true` with 1 and 20 values
# injected, against `env K=v true`) and streaming (`kovra run -- cat FILE` with 100 values,
# against `cat FILE | cat`). Every command runs interleaved with the others, round after
# round, so a busy machine moves them all alike. Prints a table on stdout.
#
#   bash bench/runpath.sh
#
# Knobs (environment): KOVRA_RUNPATH_BEFORE (a directory holding another build's `kovra` and
# `kovra-bench`: its rows run side by side with this build's, each with its own daemon over a
# copy of the same vault), KOVRA_RUNPATH_TRUE_RUNS (200 rounds of the `true` rows),
# KOVRA_RUNPATH_CAT_RUNS (5 rounds of the `cat` rows), KOVRA_BENCH_E2E_BYTES (256 MiB: the
# file `cat` prints), KOVRA_BENCH_REDACT_VALUES (100).
# shellcheck source=bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
TRUE_RUNS=${KOVRA_RUNPATH_TRUE_RUNS:-200}
CAT_RUNS=${KOVRA_RUNPATH_CAT_RUNS:-5}
E2E_BYTES=${KOVRA_BENCH_E2E_BYTES:-268435456}
VALUES=${KOVRA_BENCH_REDACT_VALUES:-100}
BEFORE=${KOVRA_RUNPATH_BEFORE:-}
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

log "building release binaries"
cargo build --release -q -p kovra-cli -p kovra-bench
BIN=${CARGO_TARGET_DIR:-$REPO/target}/release

umask 077
WORK=$(mktemp -d "$(bench_base)/kovra-runpath.XXXXXX")
mkdir -p "$WORK/run"
export XDG_RUNTIME_DIR=$WORK/run
unset KOVRA_HOME KOVRA_SOCKET KOVRA_PROJECT KOVRA_PASSPHRASE_FILE KOVRA_NO_AUTOSTART KOVRA_ORIGIN
PASS=$WORK/passphrase
head -c 32 /dev/urandom | base64 | tr -d '/+=\n' >"$PASS"
echo >>"$PASS"
FILE=$WORK/output.txt
ALL=$WORK/all.env.refs

log "fixture: $VALUES low records, $((E2E_BYTES / 1048576)) MiB of text"
"$BIN/kovra-bench" --json redact-fixture --home "$WORK/home-after" --passphrase-file "$PASS" \
    --refs "$ALL" --file "$FILE" --bytes "$E2E_BYTES" --values "$VALUES" >"$WORK/fixture.json"
# The first N variables of the refs file (its lines other than NAME=… are kept).
refs_of() {
    awk -v n="$1" '/^[A-Z_][A-Z0-9_]*=/ { if (++k > n) next } { print }' "$ALL" >"$WORK/refs-$1"
}
refs_of 1
refs_of 20

builds=(after)
declare -A KOVRA_OF=([after]=$BIN/kovra)
if [[ -n $BEFORE ]]; then
    builds=(before after)
    KOVRA_OF[before]=$BEFORE/kovra
    cp -a "$WORK/home-after" "$WORK/home-before"
fi
for b in "${builds[@]}"; do
    KOVRA_HOME=$WORK/home-$b "${KOVRA_OF[$b]}" unlock --passphrase-file "$PASS" >/dev/null 2>&1
done
stop_daemons() {
    for b in "${builds[@]}"; do
        KOVRA_HOME=$WORK/home-$b "${KOVRA_OF[$b]}" daemon stop >/dev/null 2>&1 || true
    done
    rm -rf "$WORK"
}
trap stop_daemons EXIT

# One untimed pass checks the redaction: every occurrence in the file comes out as a marker.
OCC=$(sed -n 's/.*"occurrences": *\([0-9]*\).*/\1/p' "$WORK/fixture.json")
for b in "${builds[@]}"; do
    got=$(KOVRA_HOME=$WORK/home-$b "${KOVRA_OF[$b]}" run --refs "$ALL" -- cat "$FILE" </dev/null | tr -cd '[' | wc -c)
    log "$b: $OCC occurrences in the file, $got markers out of kovra run"
    [[ $got == "$OCC" ]] || { log "$b: redaction mismatch"; exit 1; }
done

# interleave ROUNDS BYTES LABEL::COMMAND...: each round runs every command once, in order;
# prints one row per command (mean, median and min in ms, and GB/s when BYTES > 0).
interleave() {
    python3 - "$@" <<'EOF'
import os, shlex, statistics, sys, time
rounds, nbytes = int(sys.argv[1]), int(sys.argv[2])
cmds = [a.split("::", 1) for a in sys.argv[3:]]
null = os.open(os.devnull, os.O_RDWR)
times = {label: [] for label, _ in cmds}
def once(cmd):
    env = dict(os.environ)
    words = shlex.split(cmd)
    while words and "=" in words[0] and not words[0].startswith("/"):
        k, v = words.pop(0).split("=", 1)
        env[k] = v
    t = time.perf_counter()
    if "|" in words:
        pid = os.posix_spawn("/bin/sh", ["sh", "-c", cmd], env,
                             file_actions=[(os.POSIX_SPAWN_DUP2, null, 0), (os.POSIX_SPAWN_DUP2, null, 1)])
    else:
        pid = os.posix_spawnp(words[0], words, env,
                              file_actions=[(os.POSIX_SPAWN_DUP2, null, 0), (os.POSIX_SPAWN_DUP2, null, 1)])
    _, status = os.waitpid(pid, 0)
    dt = time.perf_counter() - t
    if status != 0:
        sys.exit(f"failed ({status}): {cmd}")
    return dt
for label, cmd in cmds:  # warm-up
    once(cmd)
for _ in range(rounds):
    for label, cmd in cmds:
        times[label].append(once(cmd))
for label, _ in cmds:
    t = times[label]
    mean, med, low = statistics.mean(t), statistics.median(t), min(t)
    rate = f" | {nbytes / mean / 1e9:.2f} GB/s" if nbytes else ""
    print(f"| {label} | {mean * 1e3:.2f} | {med * 1e3:.2f} | {low * 1e3:.2f}{rate} |")
EOF
}

true_rows=("env K=v true::env K=v true")
cat_rows=("cat FILE \\| cat::cat $FILE | cat")
for b in "${builds[@]}"; do
    k=${KOVRA_OF[$b]} h=KOVRA_HOME=$WORK/home-$b
    true_rows+=("$b: kovra run --no-secrets -- true::$h $k run --no-secrets -- true")
    true_rows+=("$b: kovra run -- true, 1 value::$h $k run --refs $WORK/refs-1 -- true")
    true_rows+=("$b: kovra run -- true, 20 values::$h $k run --refs $WORK/refs-20 -- true")
    cat_rows+=("$b: kovra run -- cat FILE, $VALUES values::$h $k run --refs $ALL -- cat $FILE")
done

# The daemon's own CPU time (user + system, all its threads; its children's not counted)
# over RUNS `kovra run -- true` injecting every value: what one run costs the daemon,
# however busy the machine is.
daemon_cpu_ms() {
    local b=$1 runs=$2 pid before after
    pid=$(KOVRA_HOME=$WORK/home-$b kovra_daemon_pid "${KOVRA_OF[$b]}")
    before=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
    for ((i = 0; i < runs; i++)); do
        KOVRA_HOME=$WORK/home-$b "${KOVRA_OF[$b]}" run --refs "$ALL" -- true </dev/null
    done
    after=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
    awk -v t="$((after - before))" -v hz="$(getconf CLK_TCK)" -v n="$runs" \
        'BEGIN { printf "%.3f", t * 1000 / hz / n }'
}

log "start-up rows: $TRUE_RUNS rounds; streaming rows: $CAT_RUNS rounds"
echo "| command | mean ms | median ms | min ms |"
echo "|---|---|---|---|"
interleave "$TRUE_RUNS" 0 "${true_rows[@]}"
echo
echo "| command ($((E2E_BYTES / 1048576)) MiB) | mean ms | median ms | min ms | GB/s (mean) |"
echo "|---|---|---|---|---|"
interleave "$CAT_RUNS" "$E2E_BYTES" "${cat_rows[@]}"
echo
echo "| daemon CPU per \`kovra run --refs ALL -- true\` ($VALUES values, $TRUE_RUNS runs) | ms |"
echo "|---|---|"
for b in "${builds[@]}"; do
    echo "| $b | $(daemon_cpu_ms "$b" "$TRUE_RUNS") |"
done
echo
echo "load average at start / end: $LOAD_START / $(cut -d' ' -f1-3 /proc/loadavg); nproc $(nproc)"
