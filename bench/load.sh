#!/usr/bin/env bash
# kovra load harness (issue 15): one real daemon under
#   1. many concurrent clients mixing status, list, show, set and `kovra run`, with every
#      record read back at the end (lost updates);
#   2. thousands of idle connections held open while the human's `kovra status` is timed;
#   3. a flood of short connections (connect, one status, close), with the daemon's RSS.
# Appends a section to bench/results.md (see bench/README.md, "Load").
#
#   bash bench/load.sh
#   KOVRA_BENCH_OUT= bash bench/load.sh      # only print
#
# Knobs (environment): KOVRA_BENCH_LOAD_CLIENTS (32), KOVRA_BENCH_LOAD_SECS (60),
# KOVRA_BENCH_LOAD_RECORDS (4 per client), KOVRA_BENCH_LOAD_RUN_EVERY (10: one operation in
# ten is a `kovra run`), KOVRA_BENCH_LOAD_IDLE (2000 connections), KOVRA_BENCH_LOAD_STATUS_RUNS
# (20), KOVRA_BENCH_LOAD_HOLD (15 s of watching the idle connections after the status runs),
# KOVRA_BENCH_LOAD_FLOOD (10000 connections), KOVRA_BENCH_LOAD_FLOOD_THREADS (4),
# KOVRA_BENCH_LOAD_SETTLE (5 s), KOVRA_BENCH_LOAD_DAEMON_NOFILE (the daemon's soft
# RLIMIT_NOFILE; empty: inherited from this shell), KOVRA_BENCH_BASE (/dev/shm),
# KOVRA_BENCH_OUT (bench/results.md; empty to only print).
# shellcheck source=bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
CLIENTS=${KOVRA_BENCH_LOAD_CLIENTS:-32}
SECS=${KOVRA_BENCH_LOAD_SECS:-60}
RECORDS=${KOVRA_BENCH_LOAD_RECORDS:-4}
RUN_EVERY=${KOVRA_BENCH_LOAD_RUN_EVERY:-10}
IDLE=${KOVRA_BENCH_LOAD_IDLE:-2000}
STATUS_RUNS=${KOVRA_BENCH_LOAD_STATUS_RUNS:-20}
HOLD=${KOVRA_BENCH_LOAD_HOLD:-15}
FLOOD=${KOVRA_BENCH_LOAD_FLOOD:-10000}
FLOOD_THREADS=${KOVRA_BENCH_LOAD_FLOOD_THREADS:-4}
SETTLE=${KOVRA_BENCH_LOAD_SETTLE:-5}
DAEMON_NOFILE=${KOVRA_BENCH_LOAD_DAEMON_NOFILE:-}
OUT=${KOVRA_BENCH_OUT-$REPO/bench/results.md}

log "building release binaries"
cargo build --release -p kovra-cli -p kovra-bench
BIN=${CARGO_TARGET_DIR:-$REPO/target}/release
KOVRA=$BIN/kovra
KBENCH=$BIN/kovra-bench

# A throwaway home on tmpfs, sockets inside it, the caller's setup ignored.
BASE=$(bench_base)
umask 077
WORK=$(mktemp -d "$BASE/kovra-load-bench.XXXXXX")
HOMED=$WORK/home
PASS=$WORK/passphrase
mkdir -p "$WORK/run"
export XDG_RUNTIME_DIR=$WORK/run KOVRA_HOME=$HOMED
unset KOVRA_SOCKET KOVRA_PROJECT KOVRA_PASSPHRASE_FILE KOVRA_NO_AUTOSTART KOVRA_ORIGIN
head -c 32 /dev/urandom | base64 | tr -d '/+=\n' >"$PASS"
echo >>"$PASS"
DAEMON_PID=

cleanup() {
    "$KOVRA" daemon stop >/dev/null 2>&1 || true
    [[ -z $DAEMON_PID ]] || await_exit "$DAEMON_PID"
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A numeric / string field of a flat JSON object on one line (kovra-bench --json output).
jnum() { sed -n "s/.*\"$2\":\\([0-9.eE+-]*\\).*/\\1/p" "$1" | head -n1; }
jstr() { jq -r --arg k "$2" '.[$k] | if . == null then "" else tostring end' "$1"; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$DAEMON_PID/status"; }
threads() { awk '/^Threads:/ { print $2 }' "/proc/$DAEMON_PID/status"; }

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
KNOBS=$(env | grep '^KOVRA_BENCH_LOAD_' | sort | paste -sd' ' - || true)

# The daemon starts with `kovra init` (or unlock), inheriting this shell's limits; a knob
# lowers its soft descriptor limit to a desktop's usual 1024, say.
(
    if [[ -n $DAEMON_NOFILE ]]; then ulimit -Sn "$DAEMON_NOFILE"; fi
    "$KOVRA" init --passphrase-file "$PASS" >/dev/null
    "$KOVRA" unlock --passphrase-file "$PASS" >/dev/null
)
DAEMON_PID=$(kovra_daemon_pid "$KOVRA")
[[ -n $DAEMON_PID ]] || { log "no daemon pid"; exit 1; }
DAEMON_LIMIT=$(awk '/^Max open files/ { print $4 "/" $5 }' "/proc/$DAEMON_PID/limits")
RSS_START=$(rss_kib) THREADS_START=$(threads)
log "daemon $DAEMON_PID (open files $DAEMON_LIMIT), RSS $RSS_START KiB, $THREADS_START threads"

# --- 1. concurrent mixed clients ----------------------------------------------------------

log "load-mix: $CLIENTS clients for $SECS s"
"$KBENCH" --json load-mix --clients "$CLIENTS" --secs "$SECS" --records "$RECORDS" \
    --run-every "$RUN_EVERY" --kovra "$KOVRA" --work "$WORK" >"$WORK/mix.json" 2> >(tee "$WORK/mix.err" >&2)
RSS_MIX=$(rss_kib) THREADS_MIX=$(threads)
DB_MIB=$(du -cm "$HOMED"/vault.db* | awk 'END { print $1 }')

# --- 2. idle connections ------------------------------------------------------------------

log "load-idle: $IDLE silent connections, kovra status timed $STATUS_RUNS times meanwhile"
"$KBENCH" --json load-idle --connections "$IDLE" --status-runs "$STATUS_RUNS" \
    --hold-secs "$HOLD" --kovra "$KOVRA" >"$WORK/idle.json" 2> >(tee "$WORK/idle.err" >&2)

# --- 3. connection flood ------------------------------------------------------------------

log "load-flood: $FLOOD connections from $FLOOD_THREADS threads"
"$KBENCH" --json load-flood --connections "$FLOOD" --threads "$FLOOD_THREADS" \
    --settle-secs "$SETTLE" >"$WORK/flood.json" 2> >(tee "$WORK/flood.err" >&2)

# The daemon must still answer, unlocked, after all of it.
STILL=$("$KOVRA" status --json | jq -r 'if .unlocked then "unlocked" else "locked" end' 2>/dev/null || echo "not answering")
LOG_WARN=$(grep -ciE 'warn|error' "$HOMED/daemon.log" 2>/dev/null || true)
LOG_SAMPLE=$(grep -iE 'warn|error' "$HOMED/daemon.log" 2>/dev/null | sed -E 's/\x1b\[[0-9;]*m//g; s/^[^ ]+ +//' | sort | uniq -c | sort -rn | head -n 3 | sed -E 's/^ +//; s/\|/\\|/g' | paste -sd ';' - || true)

# --- results --------------------------------------------------------------------------------

M=$WORK/mix.json I=$WORK/idle.json F=$WORK/flood.json
row() {
    printf '| `%s` | %s | %s | %s / %s / %s | %s |\n' "$1" "$(jnum "$M" "$1_n")" "$(jnum "$M" "$1_errors")" \
        "$(jnum "$M" "$1_p50_ms")" "$(jnum "$M" "$1_p95_ms")" "$(jnum "$M" "$1_p99_ms")" "$(jnum "$M" "$1_max_ms")"
}
PROBLEMS=$(jstr "$M" first_problems | sed 's/|/\\|/g')
STATUS_GOAL=$(awk -v m="$(jnum "$I" status_held_median_ms)" -v x="$(jnum "$I" status_held_max_ms)" \
    -v n="$(jnum "$I" status_held_n)" -v r="$STATUS_RUNS" \
    'BEGIN { print (n == r && m < 100) ? ((x < 100) ? "met (median and max)" : "median met, max missed") : "missed" }')
SECTION=$(
    cat <<EOF

## Load (bench/load.sh, issue 15, $(date -u '+%Y-%m-%d %H:%M UTC'))

Release build; one daemon (\`kovra init\` + \`kovra unlock --passphrase-file\`), vault and sockets on $(stat -f -c %T "$WORK") ($BASE);
daemon's open-files limit (soft/hard) ${DAEMON_LIMIT}. Wire-level clients are \`kovra-bench\` threads, each
with its own connection (\`kovra_client::Client\`, peer check included, surface cli, origin agent);
\`run\` is the real CLI, \`kovra run --refs F -- true\` with F injecting the client's ${RECORDS} low \`dev\` records.
Knobs set: ${KNOBS:-none (defaults)}.

| machine | |
|---|---|
$(machine_rows)

**1. ${CLIENTS} concurrent clients for $(jnum "$M" secs) s** (\`kovra-bench load-mix\`): per operation 1 in ${RUN_EVERY} a
\`kovra run\`, else 40 % \`set\` (a new unique value, the request \`kovra set\` sends), 20 % each \`show\`,
\`status\`, \`list --env dev\`. Each client owns ${RECORDS} records and keeps the last value and version the daemon
acknowledged; at the end each of the $(jnum "$M" verified) records is read back with
\`kovra run --refs V -- sh -c 'printf %s "\$V" | sha256sum'\` and compared with the SHA-256 of that value.

| operation | n | errors | p50 / p95 / p99 ms | max ms |
|---|---|---|---|---|
$(row status)
$(row list)
$(row show)
$(row set)
$(row run)

| | |
|---|---|
| total operations | **$(jnum "$M" ops)** ($(jnum "$M" ops_per_sec)/s) |
| errors | **$(jnum "$M" errors)**; reconnects $(jnum "$M" reconnects)${PROBLEMS:+; first: ${PROBLEMS}} |
| lost updates (read back ≠ last acknowledged) | **$(jnum "$M" lost_updates)** of $(jnum "$M" verified) records (read-back errors $(jnum "$M" verify_errors)) |
| \`show\` behind the last acknowledged version / \`set\` answering a version other than the next | $(jnum "$M" stale_shows) / $(jnum "$M" version_skips) |
| daemon RSS at start → after the mix | $(mib "$RSS_START") → $(mib "$RSS_MIX") MiB (threads ${THREADS_START} → ${THREADS_MIX}); vault.db + WAL ${DB_MIB} MiB after the mix |
| daemon RSS (RssAnon) every 5 s of the mix, MiB | $(jstr "$M" rss_trace_mib) |

**2. ${IDLE} idle connections** (\`kovra-bench load-idle\`, its soft RLIMIT_NOFILE raised to $(jnum "$I" nofile_soft)): opened one after
another (abstract name first, as the CLI dials), never written to, watched every 20 ms for replies and EOF; meanwhile
\`kovra status\` (the real CLI, no terminal) ${STATUS_RUNS} times, one after another.

| | |
|---|---|
| connects | $(jnum "$I" held) of ${IDLE} succeeded in $(jnum "$I" connect_secs) s; failed $(jnum "$I" connect_failed)$(f=$(jstr "$I" connect_failures); [[ -n $f ]] && printf ' (%s)' "$f"); stalled: $(jstr "$I" connect_stalled) |
| \`kovra status\` with them open (goal < 100 ms) | **median $(jnum "$I" status_held_median_ms) ms, max $(jnum "$I" status_held_max_ms) ms** ($(jnum "$I" status_held_n) of ${STATUS_RUNS} succeeded; goal: ${STATUS_GOAL}); in order: $(jstr "$I" status_held_all_ms) |
| \`kovra status\` before / after | median $(jnum "$I" status_before_median_ms) ms, max $(jnum "$I" status_before_max_ms) ms / median $(jnum "$I" status_after_median_ms) ms |
| closed by the daemon | $(jnum "$I" closed_by_daemon) (after $(jnum "$I" closed_min_s)–$(jnum "$I" closed_max_s) s from their connect, median $(jnum "$I" closed_median_s) s); $(jnum "$I" closed_during_status) while \`kovra status\` was being timed; $(jnum "$I" still_open) still open after the hold |
| replies before the close (by code) | $(jnum "$I" replied)$(r=$(jstr "$I" replies); [[ -n $r ]] && printf ' (%s)' "$r") |
| daemon while they were held | right after the connects: RSS $(mib "$(jnum "$I" rss_before_kib)") → $(mib "$(jnum "$I" rss_open_kib)") MiB, threads $(jnum "$I" threads_before) → $(jnum "$I" threads_open), descriptors $(jnum "$I" daemon_fds_open) (the rest still in the listen backlog); peak RSS $(mib "$(jnum "$I" rss_peak_kib)") MiB, threads $(jnum "$I" threads_peak); RssAnon $(mib "$(jnum "$I" anon_before_kib)") → peak $(mib "$(jnum "$I" anon_peak_kib)") MiB; after they closed: RSS $(mib "$(jnum "$I" rss_released_kib)") MiB (RssAnon $(mib "$(jnum "$I" anon_released_kib)")), threads $(jnum "$I" threads_released) |

**3. Flood** (\`kovra-bench load-flood\`): ${FLOOD} connections from ${FLOOD_THREADS} threads, each one \`status\` and closed after the reply.

| | |
|---|---|
| connections | $(jnum "$F" ok) ok of ${FLOOD} in $(jnum "$F" secs) s ($(jnum "$F" per_sec)/s); failed $(jnum "$F" failed)$(f=$(jstr "$F" failures); [[ -n $f ]] && printf ' (%s)' "$f"); replies: $(jstr "$F" replies) |
| daemon RSS before / peak / right after / ${SETTLE} s later | $(mib "$(jnum "$F" rss_before_kib)") / $(mib "$(jnum "$F" rss_peak_kib)") / $(mib "$(jnum "$F" rss_after_kib)") / **$(mib "$(jnum "$F" rss_later_kib)") MiB** (threads $(jnum "$F" threads_before) / $(jnum "$F" threads_peak) / $(jnum "$F" threads_after) / $(jnum "$F" threads_later)); RssAnon before / right after / later $(mib "$(jnum "$F" anon_before_kib)") / $(mib "$(jnum "$F" anon_after_kib)") / $(mib "$(jnum "$F" anon_later_kib)") MiB |
| daemon afterwards | ${STILL}; daemon.log lines with warn/error: ${LOG_WARN:-0}${LOG_SAMPLE:+ (most frequent: ${LOG_SAMPLE})} |
EOF
)
echo "$SECTION"
if [[ -n $OUT ]]; then echo "$SECTION" >>"$OUT"; fi
