#!/usr/bin/env bash
# The egress proxy's cost (docs/placeholders.md), against a loopback HTTPS upstream with a test CA:
#   1. one keep-alive request through the proxy against the same request made directly, from one
#      client started by `kovra run` as an agent (it holds a placeholder), interleaved;
#   2. a 100 MB response streamed through the proxy against the same stream made directly;
#   3. `kovra run -- true` with 20 placeholders against the same run with 20 values.
#
#   bash bench/egress.sh      # prints a markdown section and appends it to bench/results.md
#
# The upstream is `kovra-bench egress-upstream` (hyper + tokio-rustls, h2 and HTTP/1.1, bodies
# generated as they are sent); the client is `kovra-bench egress-client`. The daemon resolves
# every provider host to the upstream and trusts only its CA, which needs the `test-upstream`
# feature: kovra is built into target/bench-broker, as bench/broker.sh does (they share it).
# Knobs: KOVRA_BENCH_EGRESS_ITERATIONS (2000 interleaved pairs), KOVRA_BENCH_EGRESS_WARMUP (200),
# KOVRA_BENCH_EGRESS_STREAM_BYTES (100000000), KOVRA_BENCH_EGRESS_STREAM_RUNS (5 each way),
# KOVRA_BENCH_EGRESS_RUN_RUNS (200 runs of each `kovra run -- true`),
# KOVRA_BENCH_EGRESS_RUN_ROUNDS (10 alternating blocks), KOVRA_BENCH_EGRESS_RECORDS (20),
# KOVRA_BENCH_NO_HYPERFINE=1, KOVRA_BENCH_BASE (where the throwaway vault lives; default
# /dev/shm), KOVRA_BENCH_OUT (bench/results.md; set it empty to only print).
# shellcheck source=bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
ITER=${KOVRA_BENCH_EGRESS_ITERATIONS:-2000}
WARMUP=${KOVRA_BENCH_EGRESS_WARMUP:-200}
STREAM_BYTES=${KOVRA_BENCH_EGRESS_STREAM_BYTES:-100000000}
STREAM_RUNS=${KOVRA_BENCH_EGRESS_STREAM_RUNS:-5}
RUN_RUNS=${KOVRA_BENCH_EGRESS_RUN_RUNS:-200}
ROUNDS=${KOVRA_BENCH_EGRESS_RUN_ROUNDS:-10}
RECORDS=${KOVRA_BENCH_EGRESS_RECORDS:-20}
OUT=${KOVRA_BENCH_OUT-$REPO/bench/results.md}
PER=$(((RUN_RUNS + ROUNDS - 1) / ROUNDS))
HYPERFINE=
if [[ -z ${KOVRA_BENCH_NO_HYPERFINE:-} ]] && command -v hyperfine >/dev/null 2>&1; then
    HYPERFINE=$(command -v hyperfine)
fi

build_test_upstream_binaries

BASE=$(bench_base)
umask 077
WORK=$(mktemp -d "$BASE/kovra-egress-bench.XXXXXX")
UPSTREAM_PID=
cleanup() {
    exec 3>&- 2>/dev/null || true
    [[ -n $UPSTREAM_PID ]] && kill "$UPSTREAM_PID" 2>/dev/null || true
    KOVRA_HOME=$WORK/home "$KOVRA" daemon stop >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$WORK/run"
export XDG_RUNTIME_DIR=$WORK/run KOVRA_HOME=$WORK/home
unset KOVRA_SOCKET KOVRA_PROJECT KOVRA_NO_AUTOSTART KOVRA_ORIGIN
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

# A CA and a leaf for api.openai.com (the record below is pinned to the openai provider).
HOST=api.openai.com
test_pki "$WORK" "$HOST" "kovra egress bench CA"

head -c 24 /dev/urandom | base64 | tr -d '/+=\n' >"$WORK/pass"; echo >>"$WORK/pass"
printf 'sk-bench-%s' "$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$WORK/secret"

# The upstream answers only the real credential; its stdin is a pipe we hold, so it stops with us.
exec 3> >(exec "$KBENCH" egress-upstream --cert "$WORK/leaf.pem" --key "$WORK/leaf.key" \
    --secret-file "$WORK/secret" >"$WORK/port")
UPSTREAM_PID=$!
for _ in $(seq 100); do [[ -s $WORK/port ]] && break; sleep 0.05; done
PORT=$(head -n1 "$WORK/port")
[[ -n $PORT ]] || { log "the upstream did not start"; exit 1; }
export KOVRA_BROKER_TEST_UPSTREAM=127.0.0.1:$PORT KOVRA_BROKER_TEST_CA=$WORK/ca.pem

"$KOVRA" init --passphrase-file "$WORK/pass" >/dev/null 2>&1 3>&-
"$KOVRA" add secret:dev/openai/openai_api_key --stdin <"$WORK/secret" >/dev/null 2>&1 3>&-
printf 'OPENAI_API_KEY=secret:dev/openai/openai_api_key\n' >"$WORK/openai.refs"

# --- 3. `kovra run -- true`: 20 placeholders against 20 values ---------------------------------
# RECORDS built-in providers (alphabetical), each with the first name it claims: pinned by name.
# The other file: the same value sizes under names no provider claims.
: >"$WORK/ph.refs"
: >"$WORK/val.refs"
i=0
for f in "$REPO"/crates/kovra-broker/providers/*.toml; do
    ((i < RECORDS)) || break
    name=$(sed -n 's/^secrets = \["\([A-Z0-9_]*\)".*/\1/p' "$f")
    [[ -n $name ]] || continue
    [[ $name == OPENAI_API_KEY ]] && continue
    len=$((32 + i * 2))
    head -c 64 /dev/urandom | od -An -tx1 | tr -d ' \n' | head -c "$len" >"$WORK/v"
    "$KOVRA" add "secret:dev/ph/$name" --stdin <"$WORK/v" >/dev/null 2>&1 3>&-
    head -c 64 /dev/urandom | od -An -tx1 | tr -d ' \n' | head -c "$len" >"$WORK/v"
    val=$(printf 'BENCH_VALUE_%02d' "$i")
    "$KOVRA" add "secret:dev/val/$val" --stdin <"$WORK/v" >/dev/null 2>&1 3>&-
    printf '%s=secret:dev/ph/%s\n' "$name" "$name" >>"$WORK/ph.refs"
    printf '%s=secret:dev/val/%s\n' "$val" "$val" >>"$WORK/val.refs"
    i=$((i + 1))
done
rm -f "$WORK/v"
NREC=$i
PROVIDERS=$(cut -d= -f1 "$WORK/ph.refs" | paste -sd' ')
# Doctor says, per line, placeholder or value (as an agent: no terminal).
N_PH=$("$KOVRA" doctor --refs "$WORK/ph.refs" --env dev </dev/null 2>&1 3>&- | grep -c 'gets a placeholder' || true)
N_PH_VAL=$("$KOVRA" doctor --refs "$WORK/val.refs" --env dev </dev/null 2>&1 3>&- | grep -c 'gets a placeholder' || true)
log "$NREC pinned records, doctor: $N_PH placeholders; unpinned file: $N_PH_VAL placeholders"
[[ $N_PH == "$NREC" && $N_PH_VAL == 0 ]] || {
    "$KOVRA" doctor --refs "$WORK/ph.refs" --env dev </dev/null >&2 3>&- || true
    log "not every pinned line gets a placeholder"
    exit 1
}

# The first run with a placeholder creates the CA and starts the proxy: timed once, apart.
t0=$(date +%s%N)
"$KOVRA" run --refs "$WORK/ph.refs" -- true </dev/null >/dev/null 3>&-
FIRST_PH_MS=$(awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e6 }')
log "first placeholder run (CA creation, proxy start): $FIRST_PH_MS ms"

CMD_VAL="$KOVRA run --refs $WORK/val.refs -- true"
CMD_PH="$KOVRA run --refs $WORK/ph.refs -- true"
# ROUNDS alternating blocks of PER runs of each (the order flips every round), so that drift in
# the machine's load hits both alike. With hyperfine: one invocation per block (-N, no shell,
# 2 warm-up runs each), every run's time kept. Without: `date +%s%N` around each block.
: >"$WORK/times-val"
: >"$WORK/times-ph"
block() { # block TAG COMMAND
    local tag=$1 cmd=$2 t0 k
    if [[ -n $HYPERFINE ]]; then
        "$HYPERFINE" -N --style none --warmup 2 --runs "$PER" --export-json "$WORK/hf.json" \
            "$cmd" >/dev/null 2>"$WORK/hf.err" 3>&- || { cat "$WORK/hf.err" >&2; return 1; }
        python3 -c 'import json,sys; print("\n".join(str(t * 1000) for t in json.load(open(sys.argv[1]))["results"][0]["times"]))' \
            "$WORK/hf.json" >>"$WORK/times-$tag"
    else
        for ((k = 0; k < 2; k++)); do $cmd </dev/null >/dev/null 2>&1 3>&-; done
        t0=$(date +%s%N)
        for ((k = 0; k < PER; k++)); do $cmd </dev/null >/dev/null 3>&-; done
        awk -v a="$t0" -v b="$(date +%s%N)" -v n="$PER" 'BEGIN { printf "%.4f\n", (b - a) / 1e6 / n }' >>"$WORK/times-$tag"
    fi
}
log "kovra run -- true: $ROUNDS rounds of $PER runs each, values and placeholders"
for ((r = 0; r < ROUNDS; r++)); do
    if ((r % 2)); then block ph "$CMD_PH"; block val "$CMD_VAL"
    else block val "$CMD_VAL"; block ph "$CMD_PH"; fi
done
# mean, sd, median, min (ms) of a file of times
stats() { sort -n "$1" | awk '{ a[NR] = $1; s += $1; q += $1 * $1 } END { m = s / NR; v = q / NR - m * m; printf "%.3f %.3f %.3f %.3f\n", m, (v > 0) ? sqrt(v) : 0, (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2, a[1] }'; }
read -r VAL_MEAN VAL_SD VAL_MED VAL_MIN < <(stats "$WORK/times-val")
read -r PH_MEAN PH_SD PH_MED PH_MIN < <(stats "$WORK/times-ph")
RUN_RATIO=$(awk -v a="$PH_MEAN" -v b="$VAL_MEAN" 'BEGIN { printf "%.3f", a / b }')
RUN_RATIO_MED=$(awk -v a="$PH_MED" -v b="$VAL_MED" 'BEGIN { printf "%.3f", a / b }')
RUN_GOAL=$(awk -v r="$RUN_RATIO" 'BEGIN { print (r <= 1.2) ? "met" : "missed" }')
log "values: mean $VAL_MEAN ms; placeholders: mean $PH_MEAN ms; ratio $RUN_RATIO"

# --- 1 and 2. requests and a stream, through the proxy and direct --------------------------------
log "requests: $ITER interleaved pairs after $WARMUP; stream: $STREAM_RUNS x $STREAM_BYTES bytes each way"
"$KOVRA" run --refs "$WORK/openai.refs" -- "$KBENCH" --json egress-client \
    --upstream "127.0.0.1:$PORT" --ca "$WORK/ca.pem" --secret-file "$WORK/secret" --host "$HOST" \
    --iterations "$ITER" --warmup "$WARMUP" --stream-bytes "$STREAM_BYTES" --stream-runs "$STREAM_RUNS" \
    </dev/null >"$WORK/egress.json" 2>"$WORK/egress.err" 3>&- || { cat "$WORK/egress.err" >&2; exit 1; }
cat "$WORK/egress.err" >&2
jnum() { sed -n "s/.*\"$1\":\\([0-9.eE+-]*\\).*/\\1/p" "$WORK/egress.json" | head -n1; }
jstr() { sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p" "$WORK/egress.json" | head -n1; }
OVER=$(jnum overhead_p50_us)
LAT_GOAL=$(awk -v o="$OVER" 'BEGIN { print (o <= 1000) ? "met" : "missed" }')
RATIO=$(jnum stream_ratio)
STREAM_GOAL=$(awk -v r="$RATIO" 'BEGIN { print (r >= 0.5) ? "met" : "missed" }')
ms() { awk -v u="$(jnum "$1")" 'BEGIN { printf "%.3f", u / 1000 }'; }

# --- results ------------------------------------------------------------------------------------
TIMER=${HYPERFINE:+hyperfine $("$HYPERFINE" --version | awk '{print $2}'), one invocation per block}
TIMER=${TIMER:-date +%s%N around each block}
SECTION=$(
    cat <<EOF

## Egress proxy (bench/egress.sh, $(date -u '+%Y-%m-%d %H:%M UTC'))

Release build with \`test-upstream\` (target/bench-broker); vault and daemon sockets on $(stat -f -c %T "$WORK") ($BASE).
Upstream: \`kovra-bench egress-upstream\` on 127.0.0.1 (hyper + tokio-rustls, one thread, ALPN h2 and http/1.1,
answers only \`Authorization: Bearer VALUE\`), with an openssl-made P-256 CA; the daemon routes $HOST there
and trusts only that CA. Client: \`kovra-bench egress-client\` (reqwest blocking, rustls, HTTP/1.1), started by
\`kovra run --refs F\` with no terminal (an agent's run), \`OPENAI_API_KEY\` pinned to openai by its name.
Direct leg: the same client configuration, $HOST resolved to the upstream, the test CA as the only root, the
real value. Proxied leg: the run's \`HTTPS_PROXY\` (its proxy credential) and \`SSL_CERT_FILE\` bundle, the
placeholder from its environment. One process, the two legs alternating, keep-alive on both.

| machine | |
|---|---|
$(machine_rows)
| timer (\`kovra run\` rows) | ${TIMER} |

| benchmark | result |
|---|---|
| GET /v1/ping direct, keep-alive ($ITER, interleaved, after $WARMUP pairs) | p50 $(ms direct_p50_us) ms, p95 $(ms direct_p95_us) ms, mean $(ms direct_mean_us) ms (p99 $(ms direct_p99_us)) |
| GET /v1/ping through the egress proxy, keep-alive | p50 $(ms proxied_p50_us) ms, p95 $(ms proxied_p95_us) ms, mean $(ms proxied_mean_us) ms (p99 $(ms proxied_p99_us)) |
| proxy overhead at p50 (goal ≤ 1 ms) | **+$(ms overhead_p50_us) ms**: ${LAT_GOAL} |
| HTTP version the upstream saw | direct: $(jstr direct_protocols); proxied: $(jstr proxied_protocols) |
| stream $STREAM_BYTES bytes direct ($STREAM_RUNS runs, interleaved, after one each) | $(jnum stream_direct_mb_s) MB/s |
| stream $STREAM_BYTES bytes through the egress proxy | $(jnum stream_proxied_mb_s) MB/s: **ratio ${RATIO}** (goal ≥ 0.5: ${STREAM_GOAL}) |
| \`kovra run -- true\`, $NREC unpinned records (values) | mean ${VAL_MEAN} ms ± ${VAL_SD}, median ${VAL_MED}, min ${VAL_MIN} ($(wc -l <"$WORK/times-val") timings) |
| \`kovra run -- true\`, $NREC pinned records (placeholders, doctor: $N_PH of $NREC) | mean ${PH_MEAN} ms ± ${PH_SD}, median ${PH_MED}, min ${PH_MIN}: **${RUN_RATIO}×** the values run (median ${RUN_RATIO_MED}×; goal ≤ 1.2×: ${RUN_GOAL}) |
| first run with placeholders (creates the CA, starts the proxy) | ${FIRST_PH_MS} ms, once |

Pinned names: ${PROVIDERS}. Value sizes 32 to $((32 + (NREC - 1) * 2)) bytes, the same in both files.
EOF
)
echo "$SECTION"
if [[ -n $OUT ]]; then echo "$SECTION" >>"$OUT"; fi
