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

# Build what scripts/install.sh installs on Linux/glibc: kovra-full with a static C runtime, and
# the front (`kovra`) built for musl (`--profile front`) when musl-gcc and the musl Rust target
# are there, else the static glibc one. Sets INSTALLED_FULL and INSTALLED_FRONT (their paths)
# and FRONT_KIND ("musl" or "static glibc"). Ends the script on another host.
build_installed() {
    local host musl target
    host=$(rustc -vV | sed -n 's/^host: //p')
    [[ $host == *-linux-gnu ]] || { log "the installed build is the Linux/glibc one; host is $host"; exit 1; }
    target=${CARGO_TARGET_DIR:-$REPO/target}
    log "building kovra-full with a static C runtime (--target $host)"
    RUSTFLAGS='-C target-feature=+crt-static' nice -n 5 cargo build --release -q -p kovra-cli --target "$host"
    INSTALLED_FULL=$target/$host/release/kovra-full
    INSTALLED_FRONT=$target/$host/release/kovra
    FRONT_KIND="static glibc"
    musl=${host%%-*}-unknown-linux-musl
    if command -v musl-gcc >/dev/null 2>&1 && [[ -d $(rustc --print target-libdir --target "$musl" 2>/dev/null) ]]; then
        log "building the kovra front with musl (--target $musl)"
        nice -n 5 cargo build --profile front -q -p kovra-cli --bin kovra --target "$musl"
        INSTALLED_FRONT=$target/$musl/front/kovra
        FRONT_KIND=musl
    fi
}

# Copy the pair build_installed made into DIR, as an install does (a client talks only to a
# daemon started from its own directory), and point KOVRA at it.
install_into() {
    cp "$INSTALLED_FULL" "$1/kovra-full"
    cp "$INSTALLED_FRONT" "$1/kovra"
    KOVRA=$1/kovra
}

# The run fixture of bench/runstatic.sh and scripts/front-hot.sh: in WORK, a passphrase file,
# a home (KOVRA_HOME) with 20 low records made by kovra-bench (KBENCH), refs files naming one
# (one.refs) and twenty (twenty.refs) of them, and the vault unlocked by the kovra in KOVRA.
# BYTES is the size of the log text the fixture also writes (out.txt).
run_fixture() {
    local work=$1 bytes=$2
    head -c 32 /dev/urandom | base64 | tr -d '/+=\n' >"$work/pass"
    echo >>"$work/pass"
    "$KBENCH" --json redact-fixture --home "$KOVRA_HOME" --passphrase-file "$work/pass" \
        --refs "$work/all.refs" --file "$work/out.txt" --bytes "$bytes" --values 20 >/dev/null
    printf 'BENCH_VALUE=secret:dev/bench/value-000\n' >"$work/one.refs"
    grep -v '^#' "$work/all.refs" | head -n 20 >"$work/twenty.refs"
    "$KOVRA" unlock --passphrase-file "$work/pass" >/dev/null 2>&1
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


# start_pg DIR: a throwaway PostgreSQL on 127.0.0.1 (TLS with a test_pki leaf for localhost,
# SCRAM passwords, fsync off), its data, socket and CA in DIR (a short path: the socket's
# name is limited). As root, everything of the server's belongs to the user kovra-test and
# runs as it (PostgreSQL refuses root); AS_PG is the prefix that runs a command as that user.
# pg_hba is initdb's: `host all all 127.0.0.1/32 scram-sha-256`, so plaintext on loopback is
# accepted too. Sets PGBIN, PG_PORT, PG_PID and PG_PW (postgres's password; never print it).
# The caller's cleanup stops PG_PID (kill -QUIT) and deletes DIR.
start_pg() {
    local dir=$1
    PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
    [[ -x $PGBIN/initdb ]] || { log "PostgreSQL is missing (apt-get install postgresql)"; return 1; }
    AS_PG=()
    if [[ $(id -u) == 0 ]]; then
        id kovra-test >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin kovra-test
        AS_PG=(setpriv --reuid=kovra-test --regid=kovra-test --clear-groups)
    fi
    test_pki "$dir" localhost "kovra bench CA"
    PG_PW=$(head -c 18 /dev/urandom | base64 | tr -d '/+=\n')
    printf '%s\n' "$PG_PW" >"$dir/pw"
    chmod 600 "$dir/leaf.key"
    if [[ $(id -u) == 0 ]]; then chown -R kovra-test:kovra-test "$dir"; fi
    "${AS_PG[@]}" "$PGBIN/initdb" -D "$dir/data" -U postgres --pwfile="$dir/pw" \
        --auth=scram-sha-256 -E UTF8 --locale=C --no-sync >/dev/null
    rm -f "$dir/pw"
    PG_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    "${AS_PG[@]}" "$PGBIN/postgres" -D "$dir/data" -c port="$PG_PORT" -c listen_addresses=127.0.0.1 \
        -c unix_socket_directories="$dir" -c ssl=on -c ssl_cert_file="$dir/leaf.pem" \
        -c ssl_key_file="$dir/leaf.key" -c fsync=off -c synchronous_commit=off \
        >"$dir/log" 2>&1 &
    PG_PID=$!
    for _ in $(seq 200); do
        PGPASSWORD=$PG_PW "$PGBIN/psql" -X -q -h "$dir" -p "$PG_PORT" -U postgres -d postgres \
            -c 'select 1' >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    log "PostgreSQL did not start (see $dir/log)"
    return 1
}
