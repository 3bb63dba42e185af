#!/usr/bin/env bash
# The pre-commit scan (issue 19): `kovra hook pre-commit` on a commit that adds 10 MB of text
# (source-like lines in 1,000 files), with 100 values in the vault (each matched in all its
# encodings) and every well-known key format, next to the least any such hook must do: git
# reading the staged lines (`git diff --cached --unified=0`, the very command the hook runs).
# The two run alternately, round by round (which goes first alternates too): min / p50 wall.
#
#   bash bench/hooks.sh            # prints a markdown table on stdout
#
# Knobs: KOVRA_BENCH_HOOKS_MB (10), KOVRA_BENCH_HOOKS_RECORDS (100),
# KOVRA_BENCH_HOOKS_ROUNDS (15), KOVRA_BENCH_BASE (where the throwaway vault lives).
# shellcheck source=bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
MB=${KOVRA_BENCH_HOOKS_MB:-10}
RECORDS=${KOVRA_BENCH_HOOKS_RECORDS:-100}
ROUNDS=${KOVRA_BENCH_HOOKS_ROUNDS:-15}
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

log "building kovra (release)"
nice -n 5 cargo build --release -q -p kovra-cli
KOVRA=$REPO/target/release/kovra

BASE=$(bench_base)
umask 077
WORK=$(mktemp -d "$BASE/kovra-hooks-bench.XXXXXX")
cleanup() {
    "$KOVRA" daemon stop >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

init_vault "$KOVRA"
log "adding $RECORDS records"
for i in $(seq 1 "$RECORDS"); do
    head -c 18 /dev/urandom | base64 | tr -d '/+=\n' | "$KOVRA" add "secret:dev/app/key$i" --stdin >/dev/null
done

log "staging $MB MB of text"
REPO_DIR=$WORK/repo
mkdir -p "$REPO_DIR"
git -C "$REPO_DIR" init -q -b main
python3 - "$REPO_DIR" "$MB" <<'EOF'
import os, random, sys
root, mb = sys.argv[1], int(sys.argv[2])
random.seed(7)
words = ["let", "value", "config", "request", "return", "self", "fn", "import", "def", "const",
         "token_count", "user_id", "handler", "async", "await", "error", "result", "match"]
total, n = 0, 0
while total < mb * 1_000_000:
    lines = []
    for _ in range(250):
        lines.append("    " + " ".join(random.choice(words) for _ in range(6)) + f" = {random.randrange(10**9)};")
    text = "\n".join(lines) + "\n"
    d = os.path.join(root, f"src{n % 20}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"file{n}.rs"), "w") as f:
        f.write(text)
    total += len(text)
    n += 1
print(n, total, file=sys.stderr)
EOF
git -C "$REPO_DIR" add -A
BYTES=$(git -C "$REPO_DIR" diff --cached --unified=0 | wc -c)

# One timing in ms of "$@" run in the repository (its exit status must be 0).
time_ms() {
    local t0 t1
    t0=$(date +%s%N)
    (cd "$REPO_DIR" && "$@" >/dev/null 2>&1)
    t1=$(date +%s%N)
    echo $(((t1 - t0) / 1000))
}
GIT_DIFF=(git diff --cached --no-color --no-ext-diff --no-renames --unified=0 --diff-filter=ACMRT)
# Warm both (page cache, the daemon's redactor).
time_ms "${GIT_DIFF[@]}" >/dev/null
(cd "$REPO_DIR" && "$KOVRA" hook pre-commit) || { log "the hook refused a clean commit"; exit 1; }
git_us=() hook_us=()
for r in $(seq 1 "$ROUNDS"); do
    if ((r % 2)); then
        git_us+=("$(time_ms "${GIT_DIFF[@]}")")
        hook_us+=("$(time_ms "$KOVRA" hook pre-commit)")
    else
        hook_us+=("$(time_ms "$KOVRA" hook pre-commit)")
        git_us+=("$(time_ms "${GIT_DIFF[@]}")")
    fi
done
stats() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {printf "%.1f %.1f", a[1]/1000, a[int((NR+1)/2)]/1000}'; }
read -r git_min git_p50 <<<"$(stats "${git_us[@]}")"
read -r hook_min hook_p50 <<<"$(stats "${hook_us[@]}")"

echo "## Pre-commit scan (bench/hooks.sh, $(date -u '+%Y-%m-%d %H:%M UTC'))"
echo
echo "A commit adding $BYTES bytes of staged lines; $RECORDS values in the vault (each in all its encodings) and every well-known key format; $ROUNDS alternating rounds, release build, the vault on $(df --output=fstype "$BASE" | tail -n1)."
echo
echo "| | min ms | p50 ms |"
echo "|---|---|---|"
echo "| \`git diff --cached --unified=0\` (the staged lines, what the hook reads) | $git_min | $git_p50 |"
echo "| \`kovra hook pre-commit\` (that, plus the daemon's scan) | $hook_min | $hook_p50 |"
awk -v a="$hook_p50" -v b="$git_p50" 'BEGIN {printf "| the scan alone (p50 difference) | | %.1f |\n", a - b}'
echo
echo "| machine | |"
echo "|---|---|"
machine_rows
