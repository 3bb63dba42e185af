#!/usr/bin/env bash
# Signatures through kovra's ssh-agent as users get it (issue 17): the daemon's agent socket
# (`kovra ssh-agent`), where every signature is decided by the core and audited, next to
# OpenSSH's own `ssh-agent` holding the same throwaway ed25519 key, interleaved:
#
#   1. `kovra-bench sshagent-sign`: one connection per agent, ROUNDS rounds of BATCH sign
#      requests, the agents taking turns batch by batch: signatures per second, p50/p90 round
#      trip, and each agent's CPU per signature (/proc utime+stime, the daemon's whole process).
#   2. `ssh-keygen -Y sign` through each, CLI_RUNS interleaved pairs (a git commit signature).
#
# bench/sshagent.sh measures the protocol crate alone; this is the same with the vault and
# policy in the path. The vault lives on tmpfs (KOVRA_BENCH_BASE to change it), so the audit
# write per signature measures kovra, not the disk.
#
#   bash bench/sshagent_daemon.sh     # prints a markdown table on stdout
#
# Knobs: KOVRA_BENCH_SSHAGENT_ROUNDS (20), KOVRA_BENCH_SSHAGENT_BATCH (100),
# KOVRA_BENCH_SSHAGENT_CLI_RUNS (60).
# shellcheck source=bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
ROUNDS=${KOVRA_BENCH_SSHAGENT_ROUNDS:-20}
BATCH=${KOVRA_BENCH_SSHAGENT_BATCH:-100}
CLI_RUNS=${KOVRA_BENCH_SSHAGENT_CLI_RUNS:-60}
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

log "building kovra and kovra-bench (release)"
cargo build --release -q -p kovra-cli -p kovra-bench
KOVRA=$REPO/target/release/kovra
KBENCH=$REPO/target/release/kovra-bench

BASE=$(bench_base)
umask 077
WORK=$(mktemp -d "$BASE/kovra-sshagent-daemon-bench.XXXXXX")
OPENSSH_PID=
cleanup() {
    [[ -n $OPENSSH_PID ]] && kill "$OPENSSH_PID" 2>/dev/null || true
    KOVRA_HOME=$WORK/home "$KOVRA" daemon stop >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ssh-keygen -q -t ed25519 -N '' -C kovra-bench -f "$WORK/id"
init_vault "$KOVRA"
# A low key: its signatures need no proof, as for a deploy key used by scripts and agents.
"$KOVRA" add secret:dev/ssh/bench --ssh-key --sensitivity low --stdin <"$WORK/id" >/dev/null
KOVRA_SOCK=$("$KOVRA" ssh-agent | sed -n 's/^SSH_AUTH_SOCK=\([^;]*\);.*/\1/p')
[[ -S $KOVRA_SOCK ]] || { log "no kovra agent socket"; exit 1; }
DAEMON=$(kovra_daemon_pid "$KOVRA")
"$(command -v ssh-agent)" -D -a "$WORK/openssh.sock" >/dev/null 2>&1 &
OPENSSH_PID=$!
for _ in $(seq 100); do [[ -S $WORK/openssh.sock ]] && break; sleep 0.05; done
SSH_AUTH_SOCK=$WORK/openssh.sock ssh-add -q "$WORK/id"
rm -f "$WORK/id"

ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)
k0=$(ticks "$DAEMON") o0=$(ticks "$OPENSSH_PID")
log "sign requests: $ROUNDS rounds x $BATCH per agent, interleaved"
"$KBENCH" --json sshagent-sign --agent "kovra=$KOVRA_SOCK" \
    --agent "openssh=$WORK/openssh.sock" --public "$WORK/id.pub" \
    --rounds "$ROUNDS" --batch "$BATCH" >"$WORK/sign.json"
k1=$(ticks "$DAEMON") o1=$(ticks "$OPENSSH_PID")
field() { sed -n "s/.*\"$1\": *\([0-9.]*\).*/\1/p" "$WORK/sign.json"; }
N=$((ROUNDS * BATCH + 200))
cpu_us() { awk -v t="$1" -v hz="$HZ" -v n="$N" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }'; }

log "ssh-keygen -Y sign: $CLI_RUNS interleaved pairs"
echo "a commit to sign" >"$WORK/msg"
: >"$WORK/cli-kovra"; : >"$WORK/cli-openssh"
for i in $(seq "$CLI_RUNS"); do
    if ((i % 2)); then order="kovra openssh"; else order="openssh kovra"; fi
    for a in $order; do
        if [[ $a == kovra ]]; then sock=$KOVRA_SOCK; else sock=$WORK/openssh.sock; fi
        rm -f "$WORK/msg.sig"
        t0=$(date +%s%N)
        SSH_AUTH_SOCK=$sock ssh-keygen -q -Y sign -f "$WORK/id.pub" -n git "$WORK/msg" 2>/dev/null </dev/null
        t1=$(date +%s%N)
        [[ -s $WORK/msg.sig ]] || { log "$a: ssh-keygen -Y sign produced nothing"; exit 1; }
        echo $(((t1 - t0) / 1000)) >>"$WORK/cli-$a"
    done
done
median() { sort -n "$1" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
minimum() { sort -n "$1" | head -n1; }

cat <<EOF2
## SSH agent through the daemon: \`kovra ssh-agent\` vs OpenSSH ssh-agent (same ed25519 key)

| measure | kovra (daemon, policy, audit) | OpenSSH ssh-agent |
|---|---:|---:|
| signatures/s, one connection ($ROUNDS × $BATCH interleaved) | $(field kovra_per_sec) | $(field openssh_per_sec) |
| round trip per signature, p50 / p90 (µs) | $(field kovra_p50_us) / $(field kovra_p90_us) | $(field openssh_p50_us) / $(field openssh_p90_us) |
| agent CPU per signature (µs, /proc utime+stime) | $(cpu_us $((k1 - k0))) | $(cpu_us $((o1 - o0))) |
| \`ssh-keygen -Y sign\` end to end, min / median of $CLI_RUNS (µs) | $(minimum "$WORK/cli-kovra") / $(median "$WORK/cli-kovra") | $(minimum "$WORK/cli-openssh") / $(median "$WORK/cli-openssh") |

| machine | |
|---|---|
$(machine_rows)
EOF2
