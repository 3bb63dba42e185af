#!/usr/bin/env bash
# One brokered command through kovra's SSH client (crates/kovra-sshclient, issue 17) next to
# OpenSSH's `ssh` binary running the same command with the same key against the same server,
# interleaved (`kovra-bench sshclient-exec`): each round runs every client, the order rotating.
# `ssh` runs twice: with its default key exchange (sntrup761x25519 on OpenSSH 9.2) and held to
# curve25519-sha256, the one kovra's client (russh 0.65) settles on with that server (OpenSSH 9.2 has no mlkem768x25519).
#
# Each command is a whole connection: TCP connect, key exchange, host key check, publickey
# login, exec, exit status, close. kovra's side runs in-process (what the daemon will do for
# `kovra ssh HOST -- COMMAND`); `ssh` pays its process start too, which is what the daemon
# would pay if it spawned `ssh`. The server is a throwaway sshd on loopback, as the current
# user, with its own host key. Wall time per command (min, p50, p90) and the client side's CPU
# time per command (kovra: this process's; ssh: its children's), which the machine's load moves
# less than wall time. The daemon's vault and policy are not in this path.
#
#   bash bench/sshclient.sh          # prints a markdown table on stdout
#
# Knobs: KOVRA_BENCH_SSHCLIENT_ROUNDS (100), KOVRA_BENCH_SSHCLIENT_COMMAND (true).
# shellcheck source=bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
ROUNDS=${KOVRA_BENCH_SSHCLIENT_ROUNDS:-100}
COMMAND=${KOVRA_BENCH_SSHCLIENT_COMMAND:-true}
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

log "building kovra-bench (release)"
cargo build --release -q -p kovra-bench
KBENCH=$REPO/target/release/kovra-bench

BASE=$(bench_base)
umask 077
WORK=$(mktemp -d "$BASE/kovra-sshclient-bench.XXXXXX")
SSHD_PID=
cleanup() {
    [[ -n $SSHD_PID ]] && kill "$SSHD_PID" 2>/dev/null || true
    await_exit $SSHD_PID
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ssh-keygen -q -t ed25519 -N '' -C host -f "$WORK/host_key"
ssh-keygen -q -t ed25519 -N '' -C kovra-bench -f "$WORK/id"
PIN=$(ssh-keygen -lf "$WORK/host_key.pub" | awk '{ print $2 }')
cp "$WORK/id.pub" "$WORK/authorized_keys"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf '[127.0.0.1]:%s %s\n' "$PORT" "$(cut -d' ' -f1-2 "$WORK/host_key.pub")" >"$WORK/known_hosts"
cat >"$WORK/sshd_config" <<EOF
Port $PORT
ListenAddress 127.0.0.1
HostKey $WORK/host_key
PidFile $WORK/sshd.pid
AuthorizedKeysFile $WORK/authorized_keys
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
StrictModes no
EOF
# As root, sshd insists on its privilege-separation directory.
[[ $(id -u) == 0 ]] && mkdir -p /run/sshd
# sshd re-executes itself, so it is started by absolute path.
SSHD=$(command -v sshd || echo /usr/sbin/sshd)
"$SSHD" -D -e -f "$WORK/sshd_config" 2>"$WORK/sshd.log" &
SSHD_PID=$!
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
    sleep 0.05
done

log "$ROUNDS interleaved rounds of '$COMMAND' through kovra-sshclient and ssh"
"$KBENCH" --json sshclient-exec --port "$PORT" --user "$(id -un)" --key "$WORK/id" \
    --pin "$PIN" --known-hosts "$WORK/known_hosts" --command "$COMMAND" \
    --rounds "$ROUNDS" >"$WORK/exec.json"
field() { sed -n "s/.*\"$1\": *\([0-9.]*\).*/\1/p" "$WORK/exec.json"; }
ms() { awk -v us="$1" 'BEGIN { printf "%.1f", us / 1000 }'; }

echo "## kovra-sshclient vs ssh: one command per connection ('$COMMAND', loopback sshd)"
echo
echo "| client | n | min ms | p50 ms | p90 ms | client CPU ms per command |"
echo "| --- | --- | --- | --- | --- | --- |"
for side in kovra ssh ssh_c25519; do
    case $side in
        kovra) label='kovra-sshclient (in process)' ;;
        ssh) label='ssh binary (its default kex)' ;;
        ssh_c25519) label='ssh binary, KexAlgorithms=curve25519-sha256' ;;
    esac
    printf '| %s | %s | %s | %s | %s | %s |\n' "$label" \
        "$(field "${side}_n")" "$(ms "$(field "${side}_min_us")")" \
        "$(ms "$(field "${side}_p50_us")")" "$(ms "$(field "${side}_p90_us")")" \
        "$(ms "$(field "${side}_cpu_us")")"
done
echo
echo "| machine | |"
echo "| --- | --- |"
machine_rows
