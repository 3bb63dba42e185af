#!/usr/bin/env bash
# How `kovra list --json`, `kovra audit --json` and `kovra audit verify` grow with the vault:
# vaults of 1,000 / 10,000 / 100,000 records (each record add is one audit entry, so the
# trail grows alike), and per size: unlock, status, show, run, list --json (end to end, the
# daemon's part, the client's max RSS), the table plain `kovra list` prints (end to end, max
# RSS), audit verify, audit --json, the database size and the daemon's RSS (idle after
# unlock, which opens and keeps every vault's metadata; after the first list; right after all
# the lists and audits; and a while later). Prints one table with a fitted growth exponent
# between sizes (the log-log slope: 1 is linear, 0 constant).
#
# Anchor: `cat` of the very output, interleaved run by run with the command that printed
# it (same bytes through the same kind of pipe), for list and audit alike.
#
#   bash bench/list.sh
#
# Knobs (environment): KOVRA_BENCH_LIST_SIZES ("1000 10000 100000"), KOVRA_BENCH_LIST_RUNS
# (5: timed runs of each command per size), KOVRA_BENCH_RSS_WAIT (60: seconds before the
# daemon's RSS is read again after the lists), KOVRA_BENCH_BASE (where the throwaway homes
# go; default tmpfs), KOVRA_BENCH_LIST_INSTALLED (1: time the installed build, see below).
# shellcheck source=bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
SIZES=${KOVRA_BENCH_LIST_SIZES:-1000 10000 100000}
RUNS=${KOVRA_BENCH_LIST_RUNS:-5}
WAIT=${KOVRA_BENCH_RSS_WAIT:-60}
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

log "building release kovra and kovra-bench"
cargo build --release -q -p kovra-cli -p kovra-bench
BIN=${CARGO_TARGET_DIR:-$REPO/target}/release
KOVRA=$BIN/kovra
KBENCH=$BIN/kovra-bench
# KOVRA_BENCH_LIST_INSTALLED=1: the commands run on the build scripts/install.sh makes on
# Linux/glibc instead (a static C runtime for kovra-full, the musl front as kovra), as
# bench/runstatic.sh does; the front runs `list`, so its C library is what a user's list meets.
if [[ ${KOVRA_BENCH_LIST_INSTALLED:-0} == 1 ]]; then
    build_installed
    BIN=$(mktemp -d "$(bench_base)/kovra-list-bin.XXXXXX")
    install_into "$BIN"
fi

umask 077
WORK=$(mktemp -d "$(bench_base)/kovra-list.XXXXXX")
PASS=$WORK/passphrase
mkdir -p "$WORK/run"
export XDG_RUNTIME_DIR=$WORK/run
unset KOVRA_HOME KOVRA_SOCKET KOVRA_PROJECT KOVRA_PASSPHRASE_FILE KOVRA_NO_AUTOSTART KOVRA_ORIGIN
head -c 32 /dev/urandom | base64 | tr -d '/+=\n' >"$PASS"
echo >>"$PASS"

daemon_pid() { kovra_daemon_pid "$KOVRA"; }

# Stop the daemon of $KOVRA_HOME (the one this script started), by its pid if it lingers.
stop_daemon() {
    local pid
    pid=$(daemon_pid || true)
    "$KOVRA" daemon stop >/dev/null 2>&1 || true
    [[ -z $pid ]] || await_exit "$pid"
}

cleanup() {
    local home
    for home in "$WORK"/home-*; do
        [[ -d $home ]] && KOVRA_HOME=$home stop_daemon
    done
    rm -rf "$WORK"
    [[ ${KOVRA_BENCH_LIST_INSTALLED:-0} != 1 ]] || rm -rf "$BIN"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now_ns() { date +%s%N; }
# Wall time (ms) of one run of a command, its stdout discarded.
t_ms() {
    local t0
    t0=$(now_ns)
    "$@" >/dev/null 2>"$WORK/last.err" || {
        cat "$WORK/last.err" >&2
        log "failed: $*"
        return 1
    }
    awk -v a="$t0" -v b="$(now_ns)" 'BEGIN { printf "%.2f\n", (b - a) / 1e6 }'
}
median() { sort -n | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else printf "%.2f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
# Median over $RUNS runs of a command.
med_ms() {
    local i
    for ((i = 0; i < RUNS; i++)); do t_ms "$@"; done | median
}
# Interleaved, run by run: a command and `cat` of FILE; sets PAIR_CMD and PAIR_CAT (medians).
pair_with_cat() {
    local file=$1 i a=() b=()
    shift
    for ((i = 0; i < RUNS; i++)); do
        a+=("$(t_ms "$@")")
        b+=("$(t_ms cat "$file")")
    done
    PAIR_CMD=$(printf '%s\n' "${a[@]}" | median)
    PAIR_CAT=$(printf '%s\n' "${b[@]}" | median)
}
# Max RSS (KiB) of one run of a command.
maxrss_kb() {
    /usr/bin/time -f %M -o "$WORK/rss" "$@" >/dev/null 2>"$WORK/last.err" || {
        cat "$WORK/last.err" >&2
        return 1
    }
    tail -n1 "$WORK/rss"
}
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
jnum() { sed -n "s/.*\"$2\":\\([0-9.eE+-]*\\).*/\\1/p" "$1" | head -n1; }

declare -A R
ROWS=(populate_s unlock_first_ms unlock_ms status_ms show_ms run_ms
    list_first_ms list_ms list_cat_ms list_daemon_ms list_first_byte_ms list_bytes list_maxrss_kb
    table_ms table_cat_ms table_bytes table_maxrss_kb
    verify_ms audit_ms audit_cat_ms audit_bytes audit_maxrss_kb db_bytes
    rss_idle_kb rss_listed_kb rss_after_kb rss_later_kb)

for n in $SIZES; do
    home=$WORK/home-$n
    export KOVRA_HOME=$home
    log "size $n: populating"
    t0=$(now_ns)
    "$KBENCH" --json populate --home "$home" --records "$n" --passphrase-file "$PASS" >"$WORK/pop.json" 2>/dev/null
    R[populate_s,$n]=$(awk -v a="$t0" -v b="$(now_ns)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
    R[unlock_first_ms,$n]=$(t_ms "$KOVRA" unlock --passphrase-file "$PASS")
    # Unlocking a locked daemon starts a fresh one (a handover): each run is lock + unlock.
    for ((i = 0; i < RUNS; i++)); do
        "$KOVRA" lock >/dev/null 2>&1
        t_ms "$KOVRA" unlock --passphrase-file "$PASS"
    done >"$WORK/unlock.txt"
    R[unlock_ms,$n]=$(median <"$WORK/unlock.txt")
    pid=$(daemon_pid)
    R[rss_idle_kb,$n]=$(rss_kb "$pid")
    R[status_ms,$n]=$(med_ms "$KOVRA" status --json)
    R[show_ms,$n]=$(med_ms "$KOVRA" show secret:dev/db/key-0000000 --json)
    # One low dev record injected: what a run's resolve and audit cost as the vault grows.
    printf 'K=secret:dev/db/key-0000000\n' >"$WORK/run.refs"
    R[run_ms,$n]=$(med_ms "$KOVRA" run --refs "$WORK/run.refs" -- true)

    R[list_first_ms,$n]=$(t_ms "$KOVRA" list --json)
    R[rss_listed_kb,$n]=$(rss_kb "$pid")
    "$KOVRA" list --json >"$WORK/list.json"
    R[list_bytes,$n]=$(wc -c <"$WORK/list.json")
    pair_with_cat "$WORK/list.json" "$KOVRA" list --json
    R[list_ms,$n]=$PAIR_CMD R[list_cat_ms,$n]=$PAIR_CAT
    R[list_maxrss_kb,$n]=$(maxrss_kb "$KOVRA" list --json)
    # The table a person gets (`kovra list`, not a terminal: 100 columns).
    "$KOVRA" list >"$WORK/table.txt"
    R[table_bytes,$n]=$(wc -c <"$WORK/table.txt")
    pair_with_cat "$WORK/table.txt" "$KOVRA" list
    R[table_ms,$n]=$PAIR_CMD R[table_cat_ms,$n]=$PAIR_CAT
    R[table_maxrss_kb,$n]=$(maxrss_kb "$KOVRA" list)
    "$KBENCH" --json list --iterations 3 >"$WORK/phases.json" 2>/dev/null
    R[list_daemon_ms,$n]=$(awk -v x="$(jnum "$WORK/phases.json" received_p50_us)" 'BEGIN { printf "%.2f", x / 1000 }')
    R[list_first_byte_ms,$n]=$(awk -v x="$(jnum "$WORK/phases.json" daemon_p50_us)" 'BEGIN { printf "%.2f", x / 1000 }')

    R[verify_ms,$n]=$(med_ms "$KOVRA" audit verify --json)
    "$KOVRA" audit --json >"$WORK/audit.json"
    R[audit_bytes,$n]=$(wc -c <"$WORK/audit.json")
    pair_with_cat "$WORK/audit.json" "$KOVRA" audit --json
    R[audit_ms,$n]=$PAIR_CMD R[audit_cat_ms,$n]=$PAIR_CAT
    R[audit_maxrss_kb,$n]=$(maxrss_kb "$KOVRA" audit --json)
    R[db_bytes,$n]=$(cat "$home/vault.db" "$home/vault.db-wal" 2>/dev/null | wc -c)

    R[rss_after_kb,$n]=$(rss_kb "$pid")
    log "size $n: waiting ${WAIT}s for the daemon's RSS"
    sleep "$WAIT"
    R[rss_later_kb,$n]=$(rss_kb "$pid")
    stop_daemon
    rm -rf "$home"
    log "size $n: list ${R[list_ms,$n]} ms (cat ${R[list_cat_ms,$n]} ms), daemon ${R[list_daemon_ms,$n]} ms, verify ${R[verify_ms,$n]} ms, audit ${R[audit_ms,$n]} ms"
done

# The table: one column per size, then the exponent between each pair of neighbouring sizes.
read -r -a S <<<"$SIZES"
{
    printf '| metric |'
    for n in "${S[@]}"; do printf ' %s |' "$n"; done
    for ((i = 1; i < ${#S[@]}; i++)); do printf ' exp %s→%s |' "${S[i - 1]}" "${S[i]}"; done
    printf '\n|---|'
    for ((i = 0; i < 2 * ${#S[@]} - 1; i++)); do printf -- '---|'; done
    printf '\n'
    for row in "${ROWS[@]}"; do
        printf '| %s |' "$row"
        for n in "${S[@]}"; do printf ' %s |' "${R[$row,$n]}"; done
        for ((i = 1; i < ${#S[@]}; i++)); do
            a=${R[$row,${S[i - 1]}]} b=${R[$row,${S[i]}]}
            awk -v a="$a" -v b="$b" -v n1="${S[i - 1]}" -v n2="${S[i]}" \
                'BEGIN { if (a > 0 && b > 0) printf " %.2f |", log(b / a) / log(n2 / n1); else printf " - |" }'
        done
        printf '\n'
    done
    printf '\nruns per command: %s; RSS read again after %s s; load average at start / end: %s / %s; nproc %s\n' \
        "$RUNS" "$WAIT" "$LOAD_START" "$(cut -d' ' -f1-3 /proc/loadavg)" "$(nproc)"
}
