#!/usr/bin/env bash
# The broker's overhead: a brokered `api` call through the warm daemon against the same HTTPS
# request made directly with the same client configuration, interleaved, both to one loopback
# upstream with a test CA. Also the end-to-end time of the `kovra api` command.
#
#   bash bench/broker.sh            # prints the numbers; KOVRA_BENCH_OUT=FILE appends them
#
# The loopback upstream needs the `test-upstream` feature, so this builds kovra into its own
# target directory (target/bench-broker): the normal release binary never has that switch.
# Knobs: KOVRA_BENCH_BROKER_ITERATIONS (2000), KOVRA_BENCH_BROKER_CLI_RUNS (200),
# KOVRA_BENCH_BASE (where the throwaway vault lives; default /dev/shm).
# shellcheck source=bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
ITER=${KOVRA_BENCH_BROKER_ITERATIONS:-2000}
CLI_RUNS=${KOVRA_BENCH_BROKER_CLI_RUNS:-200}

build_test_upstream_binaries

# The vault on tmpfs by default, so the two audit fsyncs per call measure kovra, not the disk;
# KOVRA_BENCH_BASE=DIR puts it on a real filesystem instead.
BASE=$(bench_base)
umask 077
WORK=$(mktemp -d "$BASE/kovra-broker-bench.XXXXXX")
UPSTREAM_PID=
cleanup() {
    [[ -n $UPSTREAM_PID ]] && kill "$UPSTREAM_PID" 2>/dev/null || true
    KOVRA_HOME=$WORK/home "$KOVRA" daemon stop >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$WORK/run"
export XDG_RUNTIME_DIR=$WORK/run KOVRA_HOME=$WORK/home
unset KOVRA_SOCKET KOVRA_PROJECT KOVRA_NO_AUTOSTART KOVRA_ORIGIN

# A CA and a leaf for the bench provider's host (rustls refuses a CA as its own end entity).
test_pki "$WORK" api.bench.test "kovra bench CA"

# The upstream answers `{"ok":true}`; its stdin is a pipe we hold, so it stops with us.
exec 3> >(exec python3 "$REPO/crates/kovra-cli/tests/support/https_upstream.py" --bind 127.0.0.1 \
    --cert "$WORK/leaf.pem" --key "$WORK/leaf.key" --log "$WORK/requests.jsonl" --timeout 3600 >"$WORK/port")
for _ in $(seq 100); do [[ -s $WORK/port ]] && break; sleep 0.05; done
PORT=$(head -n1 "$WORK/port")
export KOVRA_BROKER_TEST_UPSTREAM=127.0.0.1:$PORT KOVRA_BROKER_TEST_CA=$WORK/ca.pem

head -c 24 /dev/urandom | base64 | tr -d '/+=\n' >"$WORK/pass"; echo >>"$WORK/pass"
printf 'sk-bench-%s' "$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$WORK/secret"
# Created at a (pseudo-)terminal: a daemon unlocked from a passphrase file no longer takes a
# typed passphrase as a proof, and adding the provider below needs one.
cat "$WORK/pass" "$WORK/pass" >"$WORK/answers"
python3 "$REPO/crates/kovra-cli/tests/support/pty_answer.py" "$WORK/answers" -- "$KOVRA" init >/dev/null
# A custom provider like any internal API, with a rate limit the benchmark cannot reach
# (built-ins allow a few hundred calls a minute). Adding it needs a proof: the passphrase,
# typed on a pseudo-terminal.
cat >"$WORK/bench.toml" <<'TOML'
name = "bench"
title = "Benchmark upstream"
secrets = ["BENCH_API_KEY"]
hosts = ["api.bench.test"]
rate_limit = { requests = 1000000, per_seconds = 60 }
[auth]
kind = "bearer"
[[capabilities]]
methods = ["GET"]
paths = ["/v1/"]
TOML
python3 "$REPO/crates/kovra-cli/tests/support/pty_answer.py" "$WORK/pass" -- \
    "$KOVRA" providers add "$WORK/bench.toml" >/dev/null
"$KOVRA" add secret:dev/bench/bench_api_key --stdin <"$WORK/secret" >/dev/null 2>&1

log "daemon protocol: $ITER interleaved pairs"
RESULT=$("$KBENCH" --json broker --upstream "127.0.0.1:$PORT" --ca "$WORK/ca.pem" \
    --secret-file "$WORK/secret" --iterations "$ITER" 2>&1 >"$WORK/broker.json" | tee /dev/stderr)

log "CLI: $CLI_RUNS runs of \`kovra api bench GET /v1/bench\`"
: >"$WORK/cli-times"
for _ in $(seq "$CLI_RUNS"); do
    t0=$(date +%s%N)
    "$KOVRA" api bench GET /v1/bench >/dev/null
    t1=$(date +%s%N)
    echo $(((t1 - t0) / 1000)) >>"$WORK/cli-times"
done
CLI_P50=$(sort -n "$WORK/cli-times" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
CLI_P99=$(sort -n "$WORK/cli-times" | awk '{a[NR]=$1} END {i=int(NR*0.99); if (i<1) i=1; print a[i]}')
SUMMARY=$(printf '%s\nkovra api (CLI, new process each): p50 %s µs, p99 %s µs over %s runs\n' \
    "$RESULT" "$CLI_P50" "$CLI_P99" "$CLI_RUNS")
echo "$SUMMARY"
if [[ -n ${KOVRA_BENCH_OUT:-} ]]; then
    {
        echo
        echo "## Broker overhead (bench/broker.sh, $(date -u +%Y-%m-%d), vault on $(stat -f -c %T "$WORK"))"
        echo
        echo '```'
        echo "$SUMMARY"
        echo '```'
    } >>"$KOVRA_BENCH_OUT"
fi
