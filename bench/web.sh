#!/usr/bin/env bash
# The web UI's records view (`kovra ui`) with 10,000 records, measured in Debian's headless
# Chromium over CDP (playwright-core; tests/support/web_e2e.mjs in bench mode): from the
# navigation's start to the frame after the rows were built (the page, its script, the
# listing from the daemon, search over all of it, the first page of 250 rows, layout), goal
# under 300 ms. Anchor, interleaved run
# by run in the same page: the same listing fetched and parsed with no rows built.
#
#   bash bench/web.sh
#
# Knobs (environment): KOVRA_BENCH_WEB_RECORDS (10000), KOVRA_BENCH_WEB_RUNS (9),
# KOVRA_BENCH_BASE (where the throwaway home goes; default tmpfs). Needs what
# scripts/test.sh installs: chromium, and playwright-core in target/test-tools/playwright.
# shellcheck source=bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
RECORDS=${KOVRA_BENCH_WEB_RECORDS:-10000}
RUNS=${KOVRA_BENCH_WEB_RUNS:-9}
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
PLAYWRIGHT=$REPO/target/test-tools/playwright/node_modules/playwright-core
[[ -x /usr/bin/chromium && -d $PLAYWRIGHT ]] || {
    log "chromium or playwright-core is missing: run scripts/test.sh first"
    exit 1
}

log "building release kovra and kovra-bench"
cargo build --release -q -p kovra-cli -p kovra-bench
BIN=${CARGO_TARGET_DIR:-$REPO/target}/release
KOVRA=$BIN/kovra

umask 077
WORK=$(mktemp -d "$(bench_base)/kovra-web.XXXXXX")
PASS=$WORK/passphrase
mkdir -p "$WORK/run"
export XDG_RUNTIME_DIR=$WORK/run KOVRA_HOME=$WORK/home
unset KOVRA_SOCKET KOVRA_PROJECT KOVRA_PASSPHRASE_FILE KOVRA_NO_AUTOSTART KOVRA_ORIGIN
head -c 32 /dev/urandom | base64 | tr -d '/+=\n' >"$PASS"
echo >>"$PASS"
cleanup() {
    "$KOVRA" daemon stop >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "populating $RECORDS records"
"$BIN/kovra-bench" populate --home "$KOVRA_HOME" --records "$RECORDS" --passphrase-file "$PASS" >/dev/null 2>&1
"$KOVRA" unlock --passphrase-file "$PASS" >/dev/null 2>&1
# The link goes to the browser script on stdin, never in an argument.
LINK=$("$KOVRA" --json ui --no-open | sed -n 's/.*"url": *"\([^"]*\)".*/\1/p')
log "measuring $RUNS loads of the records view"
node "$REPO/crates/kovra-cli/tests/support/web_e2e.mjs" >"$WORK/report.json" <<JSON
{"mode": "bench", "chromium": "/usr/bin/chromium", "playwright": "$PLAYWRIGHT",
 "links": ["$LINK"], "runs": $RUNS}
JSON

python3 - "$WORK/report.json" "$RECORDS" <<'PY'
import json, statistics, sys
report = json.load(open(sys.argv[1]))
runs, n = report["runs"], int(sys.argv[2])
assert all(r["total"] == n and r["rows"] == min(n, 250) for r in runs), "not every record was listed"
med = lambda key: statistics.median(r[key] for r in runs)
print(f"| web UI records view, {n} records ({len(runs)} runs, median) | ms |")
print("|---|---|")
print(f"| navigation start to rows shown (next frame) | {med('shown'):.0f} |")
print(f"| navigation start to rows built | {med('rendered'):.0f} |")
print(f"| anchor: the same listing fetched and parsed, no rows | {med('fetch_only'):.0f} |")
print(f"| goal | under 300 |")
print("| each run: shown / anchor | " + ", ".join(f"{r['shown']:.0f}/{r['fetch_only']:.0f}" for r in runs) + " |")
PY
machine_rows
