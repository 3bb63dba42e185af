#!/usr/bin/env bash
# Signatures through kovra's SSH agent surface (crates/kovra-sshagent, issue 17) next to
# OpenSSH's own `ssh-agent` holding the same throwaway ed25519 key, interleaved:
#
#   1. `kovra-bench sshagent-sign`: one connection per agent, ROUNDS rounds of BATCH sign
#      requests each, the agents taking turns batch by batch (each round starts with the other
#      one); signatures per second and per-signature round trips; plus each agent's own CPU
#      time (utime+stime from /proc/PID/stat, read before and after) per signature. Then FRESH
#      interleaved rounds of a new connection per signature (connect, list keys, sign, close),
#      what `ssh-keygen -Y sign` and git do: kovra's thread per connection and peer lookup.
#   2. `ssh-keygen -Y sign` through each agent, CLI_RUNS interleaved pairs: what a git commit
#      signature costs end to end (process start dominates).
#   3. each agent's instructions per signature under callgrind (when valgrind is installed),
#      which the machine's load does not move.
#
# kovra's side is `kovra-bench sshagent-serve`: kovra-sshagent's server with a backend that
# signs with the key in memory. The daemon's vault and policy are not in this path (they are
# not wired yet): this is the protocol surface's cost, and its floor once they are.
#
#   bash bench/sshagent.sh          # prints a markdown table on stdout
#
# Knobs: KOVRA_BENCH_SSHAGENT_ROUNDS (40), KOVRA_BENCH_SSHAGENT_BATCH (250),
# KOVRA_BENCH_SSHAGENT_CLI_RUNS (100), KOVRA_BENCH_SSHAGENT_FRESH (2000).
# shellcheck source=bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
ROUNDS=${KOVRA_BENCH_SSHAGENT_ROUNDS:-40}
BATCH=${KOVRA_BENCH_SSHAGENT_BATCH:-250}
CLI_RUNS=${KOVRA_BENCH_SSHAGENT_CLI_RUNS:-100}
FRESH=${KOVRA_BENCH_SSHAGENT_FRESH:-2000}
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

log "building kovra-bench (release)"
cargo build --release -q -p kovra-bench
KBENCH=$REPO/target/release/kovra-bench

BASE=$(bench_base)
umask 077
WORK=$(mktemp -d "$BASE/kovra-sshagent-bench.XXXXXX")
OPENSSH_PID= KOVRA_PID=
cleanup() {
    exec 3>&- 2>/dev/null || true
    [[ -n $OPENSSH_PID ]] && kill "$OPENSSH_PID" 2>/dev/null || true
    await_exit $OPENSSH_PID $KOVRA_PID
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ssh-keygen -q -t ed25519 -N '' -C kovra-bench -f "$WORK/id"
# Debian installs ssh-agent setgid, which valgrind refuses to run: a plain copy of the same
# binary (the copy drops the bit), used for every OpenSSH row.
cp "$(command -v ssh-agent)" "$WORK/ssh-agent"
# OpenSSH's agent in the foreground (-D), on its own socket, with the key added.
"$WORK/ssh-agent" -D -a "$WORK/openssh.sock" >/dev/null 2>&1 &
OPENSSH_PID=$!
# kovra's surface; its stdin is a pipe this script holds, so it stops when the script does.
exec 3> >(exec "$KBENCH" sshagent-serve --key "$WORK/id" --socket "$WORK/kovra.sock")
for _ in $(seq 100); do [[ -S $WORK/openssh.sock && -S $WORK/kovra.sock ]] && break; sleep 0.05; done
KOVRA_PID=$(pgrep -n -f "sshagent-serve --key $WORK/id" || true)
[[ -n $KOVRA_PID ]] || { log "kovra-bench sshagent-serve did not start"; exit 1; }
SSH_AUTH_SOCK=$WORK/openssh.sock ssh-add -q "$WORK/id"
# The throwaway key's private half is only needed by the two agents now.
rm -f "$WORK/id"

# utime+stime of a pid, in clock ticks.
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)
k0=$(ticks "$KOVRA_PID") o0=$(ticks "$OPENSSH_PID")
log "sign requests: $ROUNDS rounds x $BATCH per agent, interleaved"
"$KBENCH" --json sshagent-sign --agent "kovra=$WORK/kovra.sock" \
    --agent "openssh=$WORK/openssh.sock" --public "$WORK/id.pub" \
    --rounds "$ROUNDS" --batch "$BATCH" >"$WORK/sign.json"
k1=$(ticks "$KOVRA_PID") o1=$(ticks "$OPENSSH_PID")
field() { sed -n "s/.*\"$1\": *\([0-9.]*\).*/\1/p" "$WORK/${2:-sign}.json"; }
# The warm-up signatures (200 per agent) count in the CPU time too.
N=$((ROUNDS * BATCH + 200))

log "fresh connections: $FRESH interleaved rounds of connect + list + sign"
"$KBENCH" --json sshagent-sign --agent "kovra=$WORK/kovra.sock" \
    --agent "openssh=$WORK/openssh.sock" --public "$WORK/id.pub" \
    --rounds 0 --warmup 1 --fresh "$FRESH" >"$WORK/fresh.json"
cpu_us() { awk -v t="$1" -v hz="$HZ" -v n="$N" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }'; }

log "ssh-keygen -Y sign: $CLI_RUNS interleaved pairs"
echo "a commit to sign" >"$WORK/msg"
: >"$WORK/cli-kovra"; : >"$WORK/cli-openssh"
for i in $(seq "$CLI_RUNS"); do
    if ((i % 2)); then order="kovra openssh"; else order="openssh kovra"; fi
    for a in $order; do
        rm -f "$WORK/msg.sig"
        t0=$(date +%s%N)
        SSH_AUTH_SOCK=$WORK/$a.sock ssh-keygen -q -Y sign -f "$WORK/id.pub" -n git "$WORK/msg" 2>/dev/null
        t1=$(date +%s%N)
        [[ -s $WORK/msg.sig ]] || { log "$a: ssh-keygen -Y sign produced nothing"; exit 1; }
        echo $(((t1 - t0) / 1000)) >>"$WORK/cli-$a"
    done
done
median() { sort -n "$1" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# Instructions per signature under callgrind (the load of other work on the machine does not
# move them): each agent runs under valgrind twice, serving FEW then FEW+1000 signatures over
# one connection; the difference of the two totals over 1000 is one signature's cost in the
# agent, start-up and key loading cancelled out.
CG_FEW=100 CG_MORE=1100
callgrind_total() { # AGENT SIGNS -> total instructions (Ir) of that agent process
    local agent=$1 signs=$2 sock=$WORK/cg.sock out=$WORK/cg.out pid
    rm -f "$sock" "$out"
    if [[ $agent == kovra ]]; then
        # Its own key file again (deleted above for the timed runs), removed right after.
        ssh-keygen -q -t ed25519 -N '' -C kovra-bench -f "$WORK/cg-id"
        exec 4> >(exec valgrind -q --tool=callgrind --callgrind-out-file="$out" \
            "$KBENCH" sshagent-serve --key "$WORK/cg-id" --socket "$sock")
    else
        ssh-keygen -q -t ed25519 -N '' -C kovra-bench -f "$WORK/cg-id"
        valgrind -q --tool=callgrind --callgrind-out-file="$out" "$WORK/ssh-agent" -D -a "$sock" >/dev/null 2>&1 &
        pid=$!
    fi
    for _ in $(seq 600); do [[ -S $sock ]] && break; sleep 0.05; done
    [[ $agent == openssh ]] && SSH_AUTH_SOCK=$sock ssh-add -q "$WORK/cg-id"
    rm -f "$WORK/cg-id"
    "$KBENCH" sshagent-sign --agent "x=$sock" --public "$WORK/cg-id.pub" \
        --rounds 1 --batch "$signs" --warmup 1 >/dev/null 2>&1
    if [[ $agent == kovra ]]; then exec 4>&-; else kill "$pid"; fi
    for _ in $(seq 600); do [[ -s $out ]] && grep -q '^totals:' "$out" && break; sleep 0.1; done
    [[ $agent == openssh ]] && wait "$pid" 2>/dev/null || true
    sed -n 's/^totals: *\([0-9]*\).*/\1/p' "$out"
}
CG_KOVRA=- CG_OPENSSH=-
if command -v valgrind >/dev/null 2>&1; then
    log "callgrind: instructions per signature in each agent"
    per_sig() { awk -v a="$1" -v b="$2" -v n=$((CG_MORE - CG_FEW)) 'BEGIN { printf "%.0f", (b - a) / n }'; }
    CG_KOVRA=$(per_sig "$(callgrind_total kovra $CG_FEW)" "$(callgrind_total kovra $CG_MORE)")
    CG_OPENSSH=$(per_sig "$(callgrind_total openssh $CG_FEW)" "$(callgrind_total openssh $CG_MORE)")
fi

cat <<EOF
## SSH agent: kovra-sshagent vs OpenSSH ssh-agent (same ed25519 key)

| measure | kovra-sshagent | OpenSSH ssh-agent |
|---|---:|---:|
| signatures/s, one connection ($ROUNDS × $BATCH interleaved) | $(field kovra_per_sec) | $(field openssh_per_sec) |
| round trip per signature, p50 / p90 (µs) | $(field kovra_p50_us) / $(field kovra_p90_us) | $(field openssh_p50_us) / $(field openssh_p90_us) |
| fresh connection: connect + list + sign, p50 / p90 (µs, $FRESH interleaved) | $(field kovra_fresh_p50_us fresh) / $(field kovra_fresh_p90_us fresh) | $(field openssh_fresh_p50_us fresh) / $(field openssh_fresh_p90_us fresh) |
| agent CPU per signature (µs, /proc utime+stime) | $(cpu_us $((k1 - k0))) | $(cpu_us $((o1 - o0))) |
| agent instructions per signature (callgrind) | $CG_KOVRA | $CG_OPENSSH |
| \`ssh-keygen -Y sign\` end to end, median of $CLI_RUNS (µs) | $(median "$WORK/cli-kovra") | $(median "$WORK/cli-openssh") |

| machine | |
|---|---|
$(machine_rows)
EOF
