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
