#!/usr/bin/env bash
# Brokered queries end to end (issue 18): `kovra query DB -- 'select 1'` (the CLI, the warm
# daemon's decision and audit entries, kovra-pgquery opening a TLS connection with SCRAM,
# one READ ONLY transaction, the scrubbed rows) against `psql -c 'select 1'` with the same
# URL (password in PGPASSWORD), interleaved round by round (bench/hotpath.py), both to one
# throwaway PostgreSQL on loopback started here (as the user kovra-test when run as root:
# PostgreSQL refuses root). CPU counts the client, its children and, for kovra, the daemon
# meanwhile; the server's own work is in neither.
#
#   bash bench/query.sh            # prints a markdown table on stdout
#
# Knobs: KOVRA_BENCH_QUERY_ROUNDS (60), KOVRA_BENCH_BASE (where the throwaway vault lives).
# shellcheck source=bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
ROUNDS=${KOVRA_BENCH_QUERY_ROUNDS:-60}
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

log "building kovra (release)"
cargo build --release -q -p kovra-cli
KOVRA=$REPO/target/release/kovra

BASE=$(bench_base)
umask 077
WORK=$(mktemp -d "$BASE/kovra-query-bench.XXXXXX")
# The server's directory (start_pg: a short path, the socket's name is limited).
PGD=$(mktemp -d /tmp/kovra-qb.XXXXXX)
PG_PID=
cleanup() {
    [[ -n $PG_PID ]] && kill -QUIT "$PG_PID" 2>/dev/null || true
    KOVRA_HOME=$WORK/home "$KOVRA" daemon stop >/dev/null 2>&1 || true
    await_exit $PG_PID
    rm -rf "$WORK" "$PGD"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_pg "$PGD"
PW=$PG_PW PORT=$PG_PORT
URL="postgresql://postgres@localhost:$PORT/postgres?sslmode=verify-full&sslrootcert=$PGD/ca.pem"

# The vault, and the connection record (the URL with its password, from stdin).
init_vault "$KOVRA"
printf 'postgresql://postgres:%s@localhost:%s/postgres?sslmode=verify-full&sslrootcert=%s' \
    "$PW" "$PORT" "$PGD/ca.pem" | "$KOVRA" add secret:dev/bench/db --postgres --sensitivity low --stdin >/dev/null
DAEMON=$(kovra_daemon_pid "$KOVRA")
"$KOVRA" query secret:dev/bench/db -- 'select 1' >/dev/null || { log "kovra query failed"; exit 1; }
PGPASSWORD=$PW "$PGBIN/psql" -X -q "$URL" -c 'select 1' >/dev/null || { log "psql failed"; exit 1; }

log "$ROUNDS interleaved rounds"
python3 "$REPO/bench/hotpath.py" "$ROUNDS" "kovra=$DAEMON" -- \
    "kovra-query=$KOVRA query secret:dev/bench/db -- 'select 1'" \
    "psql=PGPASSWORD=$PW $PGBIN/psql -X -q $(printf '%q' "$URL") -c 'select 1'" >"$WORK/times.json"

python3 - "$WORK/times.json" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))
k, o = t["kovra-query"], t["psql"]
print("| `select 1`, a new TLS + SCRAM connection each | min wall ms | p50 wall ms | mean CPU ms |")
print("|---|---|---|---|")
for name, r in (("`kovra query DB -- 'select 1'`", k), ("`psql URL -c 'select 1'`", o)):
    print(f"| {name} | {r['min_ms']:.1f} | {r['p50_ms']:.1f} | {r['cpu_ms']:.1f} |")
print(f"| ratio kovra / psql | {k['min_ms']/o['min_ms']:.2f}x | {k['p50_ms']/o['p50_ms']:.2f}x | {k['cpu_ms']/o['cpu_ms']:.2f}x |")
PY
echo
machine_rows
