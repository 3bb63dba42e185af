#!/usr/bin/env bash
# The database proxy (issue 18 part 3): `pgbench -S` (select-only, 4 clients, 2 threads)
# through kovra's proxy against the same pgbench straight to the server, side by side, on one
# throwaway PostgreSQL on loopback (bench/common.sh start_pg: TLS, SCRAM). Goal: through the
# proxy at least 80 % of the direct throughput.
#
# Legs, interleaved round by round (the order rotates each round):
#   direct TLS    pgbench to the real URL (sslmode=verify-full, the test CA; password in
#                 PGPASSWORD): libpq does TLS and SCRAM-SHA-256-PLUS itself. The anchor.
#   direct plain  the same with sslmode=disable (initdb's pg_hba `host ... scram-sha-256`
#                 accepts plaintext on loopback): what TLS costs, for reference.
#   proxy         `kovra run --refs R -- sh -c 'PGDATABASE=$DATABASE_URL exec pgbench ...'`,
#                 R holding `DATABASE_URL=secret:dev/bench/db#url`, stdin /dev/null (an
#                 agent's run: read-only sessions). pgbench takes a URL in PGDATABASE as its
#                 connection string, so the run's token stays out of argv. The URL names the
#                 proxy's unix socket (`@/DB?host=DIR`, DIR/.s.PGSQL.5432 beside the daemon's
#                 socket); the proxy checks the token, opens the real session (TLS verified,
#                 SCRAM-SHA-256-PLUS, over loopback TCP to the server) and relays.
#   relay floor   (when socat is installed) pgbench through `socat`, a minimal user-space relay
#                 from a unix socket to the server's port, plaintext both ways (no TLS, no
#                 token, no audit): what one extra hop costs on this machine by itself, the
#                 floor under any relay, kovra's included.
# Then the same with `-C` (a new connection per transaction), for a shorter time:
# through the proxy each connection is a token check, the daemon's decision and audit entry,
# and the proxy's own TLS + SCRAM session.
#
# Per leg: tps (pgbench's, without the initial connections; with -C including them),
# pgbench's average latency, the daemon's CPU per 1,000 transactions (/proc/PID/stat, the
# proxy runs in the daemon), the daemon's context switches per transaction (its threads'
# ctxt_switches in /proc/PID/task/*/status) and the machine's idle share (/proc/stat).
#
#   bash bench/dbproxy.sh          # prints a markdown table on stdout; writes nothing
#
# Knobs: KOVRA_BENCH_DBPROXY_SECS (30), KOVRA_BENCH_DBPROXY_ROUNDS (3),
# KOVRA_BENCH_DBPROXY_CONNECT_SECS (10, the -C legs; 0 skips them),
# KOVRA_BENCH_DBPROXY_SCALE (1, pgbench -i -s), KOVRA_BENCH_BASE,
# KOVRA_BENCH_DBPROXY_PERF=FILE (`perf record -e cpu-clock` of the daemon, where the proxy
# runs, during one more proxied select-only leg after the rounds, into FILE).
# shellcheck source=bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
SECS=${KOVRA_BENCH_DBPROXY_SECS:-30}
ROUNDS=${KOVRA_BENCH_DBPROXY_ROUNDS:-3}
CSECS=${KOVRA_BENCH_DBPROXY_CONNECT_SECS:-10}
SCALE=${KOVRA_BENCH_DBPROXY_SCALE:-1}
PERF_OUT=${KOVRA_BENCH_DBPROXY_PERF:-}
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
command -v pgbench >/dev/null || { log "pgbench is missing (apt-get install postgresql-contrib)"; exit 1; }

log "building kovra (release)"
nice -n 5 cargo build --release -q -p kovra-cli
KOVRA=$REPO/target/release/kovra

BASE=$(bench_base)
umask 077
WORK=$(mktemp -d "$BASE/kovra-dbproxy-bench.XXXXXX")
PGD=$(mktemp -d /tmp/kovra-dpb.XXXXXX)
PG_PID=
SOCAT_PID=
cleanup() {
    [[ -n $SOCAT_PID ]] && kill "$SOCAT_PID" 2>/dev/null || true
    [[ -n $PG_PID ]] && kill -QUIT "$PG_PID" 2>/dev/null || true
    KOVRA_HOME=$WORK/home "$KOVRA" daemon stop >/dev/null 2>&1 || true
    await_exit $PG_PID
    rm -rf "$WORK" "$PGD"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_pg "$PGD"
PGBENCH=$PGBIN/pgbench
[[ -x $PGBENCH ]] || PGBENCH=$(command -v pgbench)
PGPASSWORD=$PG_PW "$PGBIN/psql" -X -q -h "$PGD" -p "$PG_PORT" -U postgres -d postgres \
    -c 'create database bench' >/dev/null
URL_TLS="postgresql://postgres@localhost:$PG_PORT/bench?sslmode=verify-full&sslrootcert=$PGD/ca.pem"
URL_PLAIN="postgresql://postgres@localhost:$PG_PORT/bench?sslmode=disable"
log "pgbench -i -s $SCALE (directly, as the owner)"
PGPASSWORD=$PG_PW PGDATABASE=$URL_TLS "$PGBENCH" -i -q -s "$SCALE" >/dev/null 2>"$WORK/init.err" ||
    { log "pgbench -i failed:"; cat "$WORK/init.err" >&2; exit 1; }

# The vault, the connection record (the URL with its password, from stdin) and the refs file.
init_vault "$KOVRA"
printf 'postgresql://postgres:%s@localhost:%s/bench?sslmode=verify-full&sslrootcert=%s' \
    "$PG_PW" "$PG_PORT" "$PGD/ca.pem" |
    "$KOVRA" add secret:dev/bench/db --postgres --sensitivity low --stdin >/dev/null
printf 'DATABASE_URL=secret:dev/bench/db#url\n' >"$WORK/db.refs"
DAEMON=$(kovra_daemon_pid "$KOVRA")
[[ -n $DAEMON ]] || { log "no daemon answers"; exit 1; }

# cpu_ticks PID: utime + stime of PID (all its threads), in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# ctx_switches PID: voluntary and involuntary context switches of PID's threads, summed.
ctx_switches() { cat /proc/"$1"/task/*/status 2>/dev/null | awk '/ctxt_switches/ { n += $2 } END { print n + 0 }'; }
# idle_ticks / all_ticks: the machine's idle and total jiffies (/proc/stat's first line).
cpu_line() { awk '/^cpu / { t = 0; for (i = 2; i <= NF; i++) t += $i; print $5 + $6, t }' /proc/stat; }

# leg NAME SECS EXTRA...: one pgbench run on leg NAME; prints pgbench's output to $WORK/out.
# Only numbers are read from it; on failure its stderr is shown (libpq's messages hold no
# password; the proxied run's output is masked by kovra besides).
leg() {
    local name=$1 secs=$2
    shift 2
    local args=(-n -S -c 4 -j 2 -T "$secs" "$@")
    case $name in
        direct-tls) PGPASSWORD=$PG_PW PGDATABASE=$URL_TLS "$PGBENCH" "${args[@]}" ;;
        direct-plain) PGPASSWORD=$PG_PW PGDATABASE=$URL_PLAIN "$PGBENCH" "${args[@]}" ;;
        relay-floor) PGPASSWORD=$PG_PW PGDATABASE=$URL_RELAY "$PGBENCH" "${args[@]}" ;;
        proxy)
            KOVRA_APPROVAL_WAIT=0 "$KOVRA" run --refs "$WORK/db.refs" -- \
                sh -c 'PGDATABASE=$DATABASE_URL exec "$0" "$@"' "$PGBENCH" "${args[@]}" </dev/null
            ;;
    esac >"$WORK/out" 2>"$WORK/err"
}

LEGS=(direct-tls proxy direct-plain)
if command -v socat >/dev/null 2>&1; then
    mkdir -m 700 "$WORK/relay"
    socat UNIX-LISTEN:"$WORK/relay/.s.PGSQL.5432",fork TCP:127.0.0.1:"$PG_PORT",nodelay &
    SOCAT_PID=$!
    URL_RELAY="postgresql://postgres@/bench?host=$WORK/relay&sslmode=disable"
    for _ in $(seq 50); do [[ -S $WORK/relay/.s.PGSQL.5432 ]] && break; sleep 0.1; done
    LEGS+=(relay-floor)
fi
TCK=$(getconf CLK_TCK)
printf 'variant\tleg\tround\ttps\tlat_ms\tconn_ms\txacts\tdaemon_ms\tswitches\tidle\n' >"$WORK/rows.tsv"

# variant NAME SECS EXTRA...: ROUNDS interleaved rounds of every leg.
variant() {
    local vname=$1 secs=$2
    shift 2
    local r i name d0 d1 s0 s1 c0 c1 tps lat conn xacts failed
    for r in $(seq "$ROUNDS"); do
        for i in "${!LEGS[@]}"; do
            name=${LEGS[$(((i + r - 1) % ${#LEGS[@]}))]}
            d0=$(cpu_ticks "$DAEMON")
            s0=$(ctx_switches "$DAEMON")
            c0=$(cpu_line)
            if ! leg "$name" "$secs" "$@"; then
                log "$vname $name failed:"
                cat "$WORK/err" >&2
                exit 1
            fi
            c1=$(cpu_line)
            d1=$(cpu_ticks "$DAEMON")
            s1=$(ctx_switches "$DAEMON")
            tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$WORK/out" | head -n1)
            lat=$(sed -n 's/^latency average = \([0-9.]*\) ms.*/\1/p' "$WORK/out")
            conn=$(sed -n 's/^\(initial\|average\) connection time = \([0-9.]*\) ms.*/\2/p' "$WORK/out")
            xacts=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$WORK/out")
            [[ -n $tps && -n $xacts ]] || { log "$vname $name: no tps in pgbench's output"; cat "$WORK/err" >&2; exit 1; }
            failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$WORK/out")
            [[ ${failed:-0} == 0 ]] || { log "$vname $name: $failed failed transactions"; exit 1; }
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$vname" "$name" "$r" "$tps" "${lat:-nan}" \
                "${conn:-nan}" "$xacts" "$(((d1 - d0) * 1000 / TCK))" "$((s1 - s0))" \
                "$(awk -v a="$c0" -v b="$c1" 'BEGIN { split(a, x, " "); split(b, y, " ");
                    printf "%.3f", (y[1] - x[1]) / (y[2] - x[2]) }')" >>"$WORK/rows.tsv"
            log "$vname round $r $name: $tps tps"
        done
    done
}

log "warm-up (2 s each, untimed)"
for name in "${LEGS[@]}"; do leg "$name" 2 || { log "$name failed:"; cat "$WORK/err" >&2; exit 1; }; done
log "select-only: $ROUNDS rounds of ${SECS} s per leg"
variant "-S" "$SECS"
if [[ -n $PERF_OUT ]]; then
    # Apart from the rounds: sampling slows the daemon by half on a VM.
    log "one more proxied leg (${SECS} s, not in the table) with perf recording the daemon"
    perf record -q -e cpu-clock -F 2000 -p "$DAEMON" -o "$PERF_OUT" 2>/dev/null &
    perf=$!
    leg proxy "$SECS" || { log "proxy failed:"; cat "$WORK/err" >&2; exit 1; }
    kill -INT "$perf"
    wait "$perf" || true
    log "the daemon's profile: perf report -i $PERF_OUT --no-children --sort dso,sym"
fi
if ((CSECS > 0)); then
    log "select-only, a new connection per transaction (-C): $ROUNDS rounds of ${CSECS} s per leg"
    variant "-S -C" "$CSECS" -C
fi

python3 - "$WORK/rows.tsv" "$SECS" "$CSECS" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
secs, csecs = sys.argv[2], sys.argv[3]
names = {
    "direct-tls": "direct, TLS verify-full",
    "proxy": "through kovra's proxy (unix socket)",
    "direct-plain": "direct, sslmode=disable",
    "relay-floor": "through socat, plaintext (the floor of one user-space hop)",
}
med = statistics.median
for variant in dict.fromkeys(r["variant"] for r in rows):
    vr = [r for r in rows if r["variant"] == variant]
    rounds = sorted({int(r["round"]) for r in vr})
    t = secs if variant == "-S" else csecs
    print(f"#### `pgbench -n {variant} -c 4 -j 2 -T {t}`\n")
    head = " | ".join(f"round {n} tps" for n in rounds)
    conn = "initial connections ms" if variant == "-S" else "connection ms"
    print(f"| leg | {head} | median tps | latency avg ms | {conn} | daemon CPU ms / 1k xacts | daemon context switches / xact | idle | vs direct TLS |")
    print("|---|" + "---|" * (len(rounds) + 7))
    anchor = med(float(r["tps"]) for r in vr if r["variant"] == variant and r["leg"] == "direct-tls")
    for leg in ("direct-tls", "proxy", "relay-floor", "direct-plain"):
        lr = sorted((r for r in vr if r["leg"] == leg), key=lambda r: int(r["round"]))
        if not lr:
            continue
        tps = [float(r["tps"]) for r in lr]
        lat = med(float(r["lat_ms"]) for r in lr)
        cms = med(float(r["conn_ms"]) for r in lr)
        # The daemon's figures mean something on the proxied leg only (elsewhere: its idle
        # threads, and threads of finished runs that are gone).
        xacts = sum(int(r["xacts"]) for r in lr)
        dcpu = sum(int(r["daemon_ms"]) for r in lr) * 1000 / xacts
        sw = sum(int(r["switches"]) for r in lr) / xacts
        dcpu, sw = (f"{dcpu:.1f}", f"{sw:.2f}") if leg == "proxy" else ("–", "–")
        idle = med(float(r["idle"]) for r in lr)
        cells = " | ".join(f"{x:.0f}" for x in tps)
        print(f"| {names[leg]} | {cells} | {med(tps):.0f} | {lat:.3f} | {cms:.1f} | {dcpu} | "
              f"{sw} | {idle:.0%} | {med(tps) / anchor:.2f}x |")
    print()
PY
machine_rows
