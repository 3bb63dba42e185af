#!/usr/bin/env bash
# Start-up of the CLI and the cost of its daemon peer check (issue 11), next to `env X=y true`,
# for the normal release build and a static-C-runtime one (`-C target-feature=+crt-static`).
#
#   bash bench/startup.sh      # appends a section to bench/results.md (KOVRA_BENCH_OUT=FILE)
#
# Each build has its own target directory (target/bench-startup, target/bench-startup-static)
# and its own throwaway home and daemon (the peer check wants the daemon to run the client's
# own executable). Timing is python3 `perf_counter_ns` around `subprocess.run`, interleaved:
# every round runs each command once, starting one further along each time.
# Knobs: KOVRA_BENCH_STARTUP_ROUNDS (200), KOVRA_BENCH_PEER_ITERATIONS (2000), KOVRA_BENCH_OUT.
# shellcheck source=bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
ROUNDS=${KOVRA_BENCH_STARTUP_ROUNDS:-200}
PEER_ITER=${KOVRA_BENCH_PEER_ITERATIONS:-2000}
OUT=${KOVRA_BENCH_OUT:-$REPO/bench/results.md}
TRIPLE=x86_64-unknown-linux-gnu

if [[ -d /dev/shm && -w /dev/shm ]]; then BASE=/dev/shm; else BASE=${TMPDIR:-/tmp}; fi
umask 077
WORK=$(mktemp -d "$BASE/kovra-startup-bench.XXXXXX")
declare -A BIN=([dynamic]=$REPO/target/bench-startup/release/kovra
    [static]=$REPO/target/bench-startup-static/$TRIPLE/release/kovra)
declare -A NOTE=()
VARIANTS=() PIDS=()
henv() { echo "KOVRA_HOME=$WORK/home-$1 XDG_RUNTIME_DIR=$WORK/run-$1"; }
# The daemon of a home, as `kovra status --json` reports it (empty when none answers).
dpid() { kovra_daemon_pid env $(henv "$1") "$2"; }
cleanup() {
    local v
    for v in dynamic static idle; do
        [[ -d $WORK/home-$v ]] && env $(henv "$v") "${BIN[${v/idle/dynamic}]}" daemon stop >/dev/null 2>&1 || true
    done
    # The daemons this script started: one still there after 5 s is stopped by its pid.
    await_exit "${PIDS[@]}"
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
unset KOVRA_HOME KOVRA_SOCKET KOVRA_PROJECT KOVRA_PASSPHRASE_FILE KOVRA_NO_AUTOSTART KOVRA_ORIGIN
head -c 24 /dev/urandom | base64 | tr -d '/+=\n' >"$WORK/pass"; echo >>"$WORK/pass"

log "building kovra (release) into target/bench-startup"
nice -n 10 cargo build --release -q -p kovra-cli --target-dir target/bench-startup
log "building kovra (release, +crt-static, $TRIPLE) into target/bench-startup-static"
if ! RUSTFLAGS='-C target-feature=+crt-static' nice -n 10 cargo build --release -q -p kovra-cli \
    --target "$TRIPLE" --target-dir target/bench-startup-static 2>"$WORK/static.log"; then
    NOTE[static]="build failed: $(grep -m1 -E '^error' "$WORK/static.log" || tail -n1 "$WORK/static.log")"
fi
# glibc's "Using 'getaddrinfo' in statically linked applications" is a linker message, which
# rustc hides by default: list the NSS entry points the static binary links in instead.
nss() { nm "$1" 2>/dev/null | awk '$2 ~ /^[tT]$/ && $3 ~ /^(getaddrinfo|getpwuid_r|getpwnam_r|getgrgid_r)$/ { print $3 }' | sort -u | paste -sd' '; }

for v in dynamic static; do
    [[ -z ${NOTE[$v]:-} ]] || { log "$v: ${NOTE[$v]}"; continue; }
    k=${BIN[$v]}
    mkdir -p "$WORK/run-$v"
    if ! "$k" --version >/dev/null 2>"$WORK/smoke.err"; then NOTE[$v]="\`kovra --version\` failed: $(head -n1 "$WORK/smoke.err")"
    elif ! env $(henv "$v") "$k" demo >"$WORK/demo-$v.out" 2>&1; then NOTE[$v]="\`kovra demo\` failed: $(tail -n1 "$WORK/demo-$v.out")"
    elif ! env $(henv "$v") "$k" init --passphrase-file "$WORK/pass" >/dev/null 2>"$WORK/smoke.err"; then NOTE[$v]="\`kovra init\` failed: $(tail -n1 "$WORK/smoke.err")"
    else p=$(dpid "$v" "$k"); [[ -n $p ]] && PIDS+=("$p") || NOTE[$v]="no daemon after \`kovra init\`"
    fi
    [[ -z ${NOTE[$v]:-} ]] && VARIANTS+=("$v") || log "$v: ${NOTE[$v]}"
done
[[ ${VARIANTS[0]:-} == dynamic ]] || { log "the normal build does not run; nothing to measure"; exit 1; }
# An initialised home whose daemon is stopped: `kovra status` there starts, finds no socket and
# prints; the same command with a daemon adds connect + peer check + one round trip.
mkdir -p "$WORK/run-idle"
env $(henv idle) "${BIN[dynamic]}" init --passphrase-file "$WORK/pass" >/dev/null 2>&1
p=$(dpid idle "${BIN[dynamic]}")
env $(henv idle) "${BIN[dynamic]}" daemon stop >/dev/null 2>&1
for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
[[ -z $(dpid idle "${BIN[dynamic]}") ]] || { log "the idle home's daemon did not stop"; exit 1; }
log "timing: $ROUNDS interleaved rounds; peer check replay: $PEER_ITER pairs"
args=()
for v in "${VARIANTS[@]}"; do args+=("$v" "${BIN[$v]}"); done
python3 - "$WORK" "$ROUNDS" "$PEER_ITER" "${args[@]}" >"$WORK/table.md" <<'PY'
import os, socket, statistics, struct, subprocess, sys, time, json
work, rounds, peer_iter, rest = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
builds = dict(zip(rest[::2], rest[1::2]))
def env(v): return dict(os.environ, KOVRA_HOME=f"{work}/home-{v}", XDG_RUNTIME_DIR=f"{work}/run-{v}")
cmds = [("`env X=y true` (anchor)", ["env", "X=y", "true"], None)]
for v, k in builds.items():
    cmds += [(f"{v}: `kovra --version` (start + hardening, no connection)", [k, "--version"], env(v)),
             (f"{v}: `kovra status`, no daemon (failed connect)", [k, "status"], env("idle")),
             (f"{v}: `kovra status`, daemon up (connect + peer check + round trip)", [k, "status"], env(v))]
def run(c):
    t = time.perf_counter_ns()
    r = subprocess.run(c[1], env=c[2], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t = time.perf_counter_ns() - t
    if r.returncode: sys.exit(f"{c[0]} exited {r.returncode}")
    return t / 1e6
for c in cmds * 20: run(c)  # warm-up
times = [[] for _ in cmds]
for r in range(rounds):
    for i in range(len(cmds)):
        j = (i + r) % len(cmds); times[j].append(run(cmds[j]))
def q(xs, p): xs = sorted(xs); return xs[min(len(xs) - 1, int(p * len(xs)))]
st = [(q(t, .5), q(t, .9), statistics.fmean(t)) for t in times]
print("| command | p50 ms | p90 ms | mean ms | p50 − anchor |\n|---|---|---|---|---|")
for (name, _, _), (p50, p90, mean) in zip(cmds, st):
    print(f"| {name} | {p50:.3f} | {p90:.3f} | {mean:.3f} | {p50 - st[0][0]:+.3f} |")
# The peer check's system calls replayed from python against the dynamic build's daemon:
# connect alone vs connect + SO_PEERCRED + stat(lock) + /proc/locks + /proc/PID/status +
# /proc/PID/exe (as root also stat of the own exe and readlink), interleaved.
home = f"{work}/home-dynamic"
sock = json.loads(subprocess.run([builds["dynamic"], "status", "--json"], env=env("dynamic"), capture_output=True).stdout)["socket"]
def once(check):
    t = time.perf_counter_ns()
    s = socket.socket(socket.AF_UNIX); s.connect(sock)
    if check:
        pid, uid, _ = struct.unpack("3i", s.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
        m = os.stat(f"{home}/daemon.lock")
        key = f"{os.major(m.st_dev):02x}:{os.minor(m.st_dev):02x}:{m.st_ino}"
        with open("/proc/locks") as f: ok = any(f" {pid} {key} " in l for l in f)
        with open(f"/proc/{pid}/status") as f: ok &= "TracerPid:\t0\n" in f.read()
        try: os.stat(f"/proc/{pid}/exe"); os.stat(builds["dynamic"]); os.readlink(f"/proc/{pid}/exe")
        except PermissionError: pass
        assert ok and uid == os.geteuid(), "replayed peer check failed"
    s.close()
    return (time.perf_counter_ns() - t) / 1e3
res = {True: [], False: []}
for i in range(2 * peer_iter): res[i % 4 in (0, 3)].append(once(i % 4 in (0, 3)))  # checked first every other pair
checked, c50, b50 = res[True], q(res[True], .5), q(res[False], .5)
print(f"\nPeer check replayed in python3 ({peer_iter} interleaved pairs, same system calls as"
      f" `kovra_client::peer::authenticate`, not its code): connect alone p50 {b50:.1f} µs,"
      f" connect + check p50 {c50:.1f} µs (p90 {q(checked, .9):.1f}): **the check costs"
      f" about {c50 - b50:.0f} µs** (python's own overhead included, so an upper bound); /proc/locks had {sum(1 for _ in open('/proc/locks'))} lines.")
n = {v: i for i, v in enumerate(builds)}
a = lambda v, row: st[1 + 3 * n[v] + row][0]
print(f"\nReading (p50): process start (loader, Rust runtime, clap, hardening) costs {a('dynamic', 0) - st[0][0]:+.2f} ms over the anchor;"
      f" connect + peer check + one `status` round trip add {a('dynamic', 2) - a('dynamic', 1):+.2f} ms"
      f" over a status that finds no daemon, of which the check itself is ~{(c50 - b50) / 1000:.2f} ms; the rest is"
      f" the daemon's side (a thread, its own look at the caller, the reply) and wake-ups. The anchor is two"
      f" dynamically linked execs (`env`, then `true`), so a static binary can start faster than it.")
if "static" in builds:
    print(f"Static C runtime: `--version` {a('static', 0):.2f} vs {a('dynamic', 0):.2f} ms,"
          f" `status` {a('static', 2):.2f} vs {a('dynamic', 2):.2f} ms (static vs dynamic).")
PY

kind() { file -b "$1" | grep -oE 'static-pie linked|statically linked|dynamically linked|not stripped|stripped' | paste -sd, | sed 's/,/, /'; }
{
    echo
    echo "## Start-up and the peer check (issue 11)"
    echo
    echo "\`bash bench/startup.sh\`, $(date -u '+%Y-%m-%d %H:%M UTC'), ${ROUNDS} interleaved rounds (python3 \`perf_counter_ns\` around \`subprocess.run\`, which every row pays alike), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), uid $(id -u), $(rustc --version | cut -d' ' -f1-2), commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo ' (with uncommitted changes)'). Homes and daemons on $(stat -f -c %T "$WORK")."
    echo
    for v in dynamic static; do
        if [[ -n ${NOTE[$v]:-} ]]; then echo "- $v build: **not measured**, ${NOTE[$v]}"
        else echo "- $v build: $(stat -c %s "${BIN[$v]}") bytes ($(kind "${BIN[$v]}"); $(strip -o "$WORK/s" "${BIN[$v]}" 2>/dev/null && stat -c %s "$WORK/s" || echo '?') stripped); \`ldd\`: $(ldd "${BIN[$v]}" 2>&1 | awk '{ print ($2 == "linked") ? $0 : $1 }' | xargs)$([[ $v == static ]] && echo "; glibc NSS entry points linked in: $(nss "${BIN[$v]}")")"; fi
    done
    echo
    cat "$WORK/table.md"
} | tee -a "$OUT"
log "appended to ${OUT#"$REPO"/}"
