# The preamble every bench script shares; each sources it first.
# Strict mode, the repository root as the working directory (REPO), and `log` to stderr.
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$PWD
log() { printf 'bench: %s\n' "$*" >&2; }

# The rows every results table shows about the machine and the build, since a busy machine
# moves every number. LOAD_START is the load average the script read when it began.
machine_rows() {
    local cpu mem rev
    cpu=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -n1)
    mem=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
    rev=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
    git -C "$REPO" diff --quiet HEAD 2>/dev/null || rev="$rev (with uncommitted changes)"
    printf '| cpu | %s |\n| nproc | %s |\n| load average at start / end | %s / %s |\n' \
        "${cpu:-unknown}" "$(nproc)" "$LOAD_START" "$(cut -d' ' -f1-3 /proc/loadavg)"
    printf '| memory | %s |\n| kernel | %s |\n| rustc | %s |\n| commit | %s |\n' \
        "$mem" "$(uname -r)" "$(rustc --version 2>/dev/null || echo unknown)" "$rev"
}

# The pid of the daemon the command "$@" (a kovra binary, maybe behind `env A=b`) reaches with
# `status`; empty when none answers.
kovra_daemon_pid() {
    "$@" status --json 2>/dev/null | sed -n 's/.*"daemon_pid": *\([0-9][0-9]*\).*/\1/p' | head -n1
}

# Wait up to 5 s for each pid to be gone (a daemon told to stop); stop one still there.
await_exit() {
    local p
    for p in "$@"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$p" 2>/dev/null; then kill "$p" 2>/dev/null || true; fi
    done
}

# Where throwaway homes go: KOVRA_BENCH_BASE, else tmpfs (/dev/shm), else TMPDIR or /tmp.
bench_base() {
    if [[ -n ${KOVRA_BENCH_BASE:-} ]]; then echo "$KOVRA_BENCH_BASE"
    elif [[ -d /dev/shm && -w /dev/shm ]]; then echo /dev/shm
    else echo "${TMPDIR:-/tmp}"; fi
}

# Release kovra with the loopback test upstream, in its own target directory (a shipped
# build never has that switch), and kovra-bench beside it (its client checks that the daemon
# runs the kovra next to it): sets KOVRA and KBENCH.
build_test_upstream_binaries() {
    log "building kovra and kovra-bench (release, test-upstream) into target/bench-broker"
    cargo build --release -q -p kovra-cli -p kovra-bench --features kovra-cli/test-upstream \
        --target-dir target/bench-broker
    KOVRA=$REPO/target/bench-broker/release/kovra
    KBENCH=$REPO/target/bench-broker/release/kovra-bench
}

# test_pki DIR HOST CN: an openssl P-256 CA (DIR/ca.pem) and a leaf for HOST (DIR/leaf.pem,
# DIR/leaf.key); rustls refuses a CA as its own end entity, so the two are separate.
test_pki() {
    local dir=$1 host=$2 cn=$3
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
        -subj "/CN=$cn" -keyout "$dir/ca.key" -out "$dir/ca.pem" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$host" \
        -keyout "$dir/leaf.key" -out "$dir/leaf.csr" 2>/dev/null
    printf 'basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:%s\n' "$host" >"$dir/ext.cnf"
    openssl x509 -req -in "$dir/leaf.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
        -days 1 -extfile "$dir/ext.cnf" -out "$dir/leaf.pem" 2>/dev/null
}

# init_vault KOVRA: a throwaway vault in $WORK/home (XDG_RUNTIME_DIR in $WORK/run), made at a
# pseudo-terminal so that a typed passphrase still proves presence to its daemon (pinning a
# host, adding a provider). The passphrase is in $WORK/pass, for later pty answers.
init_vault() {
    mkdir -p "$WORK/run"
    export XDG_RUNTIME_DIR=$WORK/run KOVRA_HOME=$WORK/home
    unset KOVRA_SOCKET KOVRA_PROJECT KOVRA_NO_AUTOSTART KOVRA_ORIGIN SSH_AUTH_SOCK
    head -c 24 /dev/urandom | base64 | tr -d '/+=\n' >"$WORK/pass"; echo >>"$WORK/pass"
    cat "$WORK/pass" "$WORK/pass" >"$WORK/answers"
    python3 "$REPO/crates/kovra-cli/tests/support/pty_answer.py" "$WORK/answers" -- "$1" init >/dev/null
}

