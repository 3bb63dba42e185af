#!/usr/bin/env bash
# Brokered ssh end to end (issue 17): `kovra ssh HOST -- true` (the CLI asks the warm daemon,
# which decides, connects with russh, logs in with the vault's key and runs the command)
# against OpenSSH's own `ssh HOST true` with the same key in a file, interleaved round by
# round (bench/hotpath.py), both to one throwaway sshd on loopback started here as the
# current user. Wall time is what a person or an agent waits; CPU counts the client, its
# children and, for kovra, the daemon meanwhile. sshd's own work is in neither.
#
#   bash bench/ssh.sh               # prints a markdown table on stdout
#
# Knobs: KOVRA_BENCH_SSH_ROUNDS (60), KOVRA_BENCH_BASE (where the throwaway vault lives).
# shellcheck source=bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
ROUNDS=${KOVRA_BENCH_SSH_ROUNDS:-60}
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

log "building kovra (release)"
cargo build --release -q -p kovra-cli
KOVRA=$REPO/target/release/kovra
SSHD=$(command -v sshd || echo /usr/sbin/sshd)
[[ -x $SSHD ]] || { log "sshd is missing (apt-get install openssh-server)"; exit 1; }

BASE=$(bench_base)
umask 077
WORK=$(mktemp -d "$BASE/kovra-ssh-bench.XXXXXX")
SSHD_PID=
cleanup() {
    [[ -n $SSHD_PID ]] && kill "$SSHD_PID" 2>/dev/null || true
    KOVRA_HOME=$WORK/home "$KOVRA" daemon stop >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The server: its own host key and authorized_keys, loopback only, a free port.
ssh-keygen -q -t ed25519 -N '' -C host -f "$WORK/host_key"
ssh-keygen -q -t ed25519 -N '' -C kovra-bench -f "$WORK/id"
cp "$WORK/id.pub" "$WORK/authorized_keys"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$WORK/sshd_config" <<CONF
Port $PORT
ListenAddress 127.0.0.1
HostKey $WORK/host_key
PidFile $WORK/sshd.pid
AuthorizedKeysFile $WORK/authorized_keys
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
StrictModes no
LogLevel ERROR
CONF
[[ $(id -u) == 0 ]] && mkdir -p /run/sshd
"$SSHD" -D -e -f "$WORK/sshd_config" 2>"$WORK/sshd.log" &
SSHD_PID=$!
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.05; done
printf '[127.0.0.1]:%s %s\n' "$PORT" "$(cut -d' ' -f1-2 "$WORK/host_key.pub")" >"$WORK/known_hosts"

# The vault, made at a (pseudo-)terminal so the typed passphrase proves presence for the pin.
init_vault "$KOVRA"
"$KOVRA" add secret:dev/ssh/bench --ssh-key --sensitivity low --stdin <"$WORK/id" >/dev/null
python3 "$REPO/crates/kovra-cli/tests/support/pty_answer.py" "$WORK/pass" -- "$KOVRA" ssh-host add \
    bench "127.0.0.1:$PORT" --user "$(id -un)" --key secret:dev/ssh/bench --allow true >/dev/null
DAEMON=$(kovra_daemon_pid "$KOVRA")
[[ -n $DAEMON ]] || { log "no daemon"; exit 1; }
"$KOVRA" ssh bench -- true || { log "kovra ssh bench -- true failed"; exit 1; }

SSH=(ssh -F /dev/null -i "$WORK/id" -o IdentitiesOnly=yes -o "UserKnownHostsFile=$WORK/known_hosts"
    -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o BatchMode=yes
    -p "$PORT" -l "$(id -un)" 127.0.0.1 true)
"${SSH[@]}" || { log "ssh ... true failed"; exit 1; }

log "$ROUNDS interleaved rounds"
python3 "$REPO/bench/hotpath.py" "$ROUNDS" "kovra=$DAEMON" -- \
    "kovra-ssh=$KOVRA ssh bench -- true" \
    "openssh=$(printf '%q ' "${SSH[@]}")" >"$WORK/times.json"

python3 - "$WORK/times.json" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))
k, o = t["kovra-ssh"], t["openssh"]
print("| `HOST -- true` | min wall ms | p50 wall ms | mean CPU ms |")
print("|---|---|---|---|")
for name, r in (("`kovra ssh bench -- true`", k), ("`ssh HOST true` (OpenSSH, key file)", o)):
    print(f"| {name} | {r['min_ms']:.1f} | {r['p50_ms']:.1f} | {r['cpu_ms']:.1f} |")
print(f"| ratio kovra / OpenSSH | {k['min_ms']/o['min_ms']:.2f}x | {k['p50_ms']/o['p50_ms']:.2f}x | {k['cpu_ms']/o['cpu_ms']:.2f}x |")
PY
echo
machine_rows
