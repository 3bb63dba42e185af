#!/usr/bin/env bash
# Fuzz every target in fuzz/ at once, SECONDS each (default 600), and report.
#
#   scripts/fuzz.sh [SECONDS]
#
# Needs the nightly toolchain (cargo-fuzz builds with sanitizers); installs cargo-fuzz if it
# is missing. Builds all targets once, then runs them all in parallel. Corpus growth goes to
# target/fuzz-corpus/<target>/ (git-ignored), seeded from the committed fuzz/corpus/<target>/;
# fuzz/regressions/<target>/ is replayed too. Any crash, out-of-memory or timeout artifact is
# copied into fuzz/regressions/<target>/ (so `cargo test -p kovra-fuzz` replays it on stable)
# and the script exits 1. Not part of scripts/test.sh: it takes minutes and needs nightly.
set -euo pipefail
cd "$(dirname "$0")/.."

duration="${1:-600}"
if ! [[ "$duration" =~ ^[0-9]+$ ]] || ((duration < 1)); then
  echo "usage: scripts/fuzz.sh [SECONDS]  (a positive whole number, default 600)" >&2
  exit 2
fi
# One allocation above this is a failure: every parser here caps what it reads, and none
# should commit memory its input did not pay for.
malloc_limit_mb="${FUZZ_MALLOC_LIMIT_MB:-64}"
# An input that takes longer than this is a hang.
timeout_secs="${FUZZ_TIMEOUT:-30}"

if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  echo "fuzz.sh: the nightly toolchain is not installed (rustup toolchain install nightly)" >&2
  exit 2
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "fuzz.sh: installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

echo "fuzz.sh: building every target (nightly, address sanitizer)"
cargo +nightly fuzz build
mapfile -t targets < <(cargo +nightly fuzz list)
if ((${#targets[@]} == 0)); then
  echo "fuzz.sh: no targets in fuzz/" >&2
  exit 2
fi

logs=target/fuzz-logs
mkdir -p "$logs"
echo "fuzz.sh: running ${#targets[@]} targets in parallel for ${duration}s each"
pids=()
for t in "${targets[@]}"; do
  corpus="target/fuzz-corpus/$t"
  artifacts="target/fuzz-artifacts/$t"
  mkdir -p "$corpus" "fuzz/corpus/$t" "fuzz/regressions/$t"
  rm -rf "$artifacts"
  mkdir -p "$artifacts"
  # New units go to the first directory only; the committed ones are read, never written.
  cargo +nightly fuzz run "$t" "$corpus" "fuzz/corpus/$t" "fuzz/regressions/$t" -- \
    -max_total_time="$duration" -print_final_stats=1 -timeout="$timeout_secs" \
    -malloc_limit_mb="$malloc_limit_mb" -artifact_prefix="$artifacts/" \
    >"$logs/$t.log" 2>&1 &
  pids+=($!)
done
statuses=()
for i in "${!pids[@]}"; do
  if wait "${pids[$i]}"; then statuses[i]=0; else statuses[i]=$?; fi
done

# The last value of a libFuzzer field (`cov: 123`) or final statistic in a log, or `-`.
field() { grep -oE "(^| )$2: [0-9]+" "$1" | tail -n 1 | grep -oE '[0-9]+$' || echo -; }
stat() { grep -E "^stat::$2:" "$1" | tail -n 1 | grep -oE '[0-9]+$' || echo -; }

failed=0
echo
echo "| target | seconds | execs | execs/s | cov | ft | corpus | crashes |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for i in "${!targets[@]}"; do
  t="${targets[$i]}"
  log="$logs/$t.log"
  artifacts="target/fuzz-artifacts/$t"
  crashes=0
  for a in "$artifacts"/crash-* "$artifacts"/oom-* "$artifacts"/timeout-* "$artifacts"/leak-*; do
    [ -f "$a" ] || continue
    crashes=$((crashes + 1))
    cp "$a" "fuzz/regressions/$t/"
  done
  if ((crashes == 0 && statuses[i] != 0)); then
    # Died without leaving an input (the fuzzer itself failed): count it, see the log.
    crashes="? (exit ${statuses[i]})"
  fi
  [ "$crashes" = 0 ] || failed=1
  corpus_size=$(find "target/fuzz-corpus/$t" -type f | wc -l)
  echo "| $t | $duration | $(stat "$log" number_of_executed_units) | $(stat "$log" average_exec_per_sec) | $(field "$log" cov) | $(field "$log" ft) | $corpus_size | $crashes |"
done
echo
echo "load: $(uptime | sed 's/.*load average/load average/')"
echo "logs: $logs/<target>.log"
if ((failed)); then
  echo "fuzz.sh: failures above; their inputs are in fuzz/regressions/<target>/" >&2
  exit 1
fi
