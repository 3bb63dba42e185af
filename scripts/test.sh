#!/usr/bin/env bash
# Install what the tests need (on a fresh Debian machine), then run every check and test.
set -euo pipefail
cd "$(dirname "$0")/.."

have() { command -v "$1" >/dev/null 2>&1; }
missing=()
have python3 || missing+=(python3)     # the PTY driver for attended-proof tests
have setpriv || missing+=(util-linux)  # connect as another uid in the peer test
have gcc || missing+=(gcc)             # SQLite and ring build C code
have oathtool || missing+=(oathtool)   # the reference for TOTP codes
have openssl || missing+=(openssl)     # the test CA for the broker's loopback HTTPS upstreams
have age || missing+=(age)             # a stock age must open what `kovra share` seals
have ssh-keygen || missing+=(openssh-client)  # an ssh-ed25519 recipient for `kovra share`
# sshd as the current user on a loopback port: `ssh` logs in through kovra's agent (kovra-sshagent)
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
# A throwaway PostgreSQL on loopback (crates/kovra-testpg): Debian puts initdb and postgres in
# /usr/lib/postgresql/<version>/bin, not on PATH; psql is the client the tests drive it with
compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || missing+=(postgresql)
have psql || missing+=(postgresql-client)
have strace || missing+=(strace)       # the trusted-path tests: tracing a waiting CLI is refused
have curl || missing+=(curl)           # a real client of the egress proxy
have bwrap || missing+=(bubblewrap)    # `kovra sandbox` (the containment tests), and srt on Linux
have socat || missing+=(socat)         # srt on Linux bridges its sandbox's proxy ports with socat
have rg || missing+=(ripgrep)          # srt on Linux scans for files to deny with ripgrep
have unshare || missing+=(util-linux)  # namespaces only root can make, in the daemon's nsjoin tests
have man || missing+=(man-db)          # `man -l` renders kovra's man pages (help tests)
have groff || missing+=(groff-base)    # man's formatter
have chromium || missing+=(chromium)   # the web UI's end-to-end test (tests/cli/web_ui.rs), headless over CDP
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi
# The Python MCP SDK is the independent client of `kovra mcp` in the tests.
if ! python3 -c 'import mcp' 2>/dev/null; then
  python3 -m pip --version >/dev/null 2>&1 || {
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-pip
  }
  python3 -m pip install -q mcp || python3 -m pip install -q --break-system-packages mcp
fi
# The sharing tests forge signed packages with Python's `cryptography`.
if ! python3 -c 'import cryptography' 2>/dev/null; then
  python3 -m pip install -q cryptography || python3 -m pip install -q --break-system-packages cryptography
fi
# Real clients of the egress proxy (crates/kovra-cli/tests/cli/broker/egress.rs): Python
# requests and httpx here, Node's undici after the Inspector (which installs npm).
# Python's psycopg (libpq in its wheel) is a real client of the database proxy
# (crates/kovra-cli/tests/cli/dbproxy.rs); Node's pg is the other, after npm is installed.
if ! python3 -c "import psycopg" 2>/dev/null; then
  python3 -m pip install -q "psycopg[binary]" || python3 -m pip install -q --break-system-packages "psycopg[binary]"
fi
for mod in requests httpx; do
  if ! python3 -c "import $mod" 2>/dev/null; then
    python3 -m pip install -q "$mod" || python3 -m pip install -q --break-system-packages "$mod"
  fi
done
# The MCP Inspector (CLI mode) is the second independent client of `kovra mcp`. Exit 3 means
# Node is older than 18: stop here rather than run the suite without that client.
bash scripts/install-inspector.sh || {
  rc=$?
  [ "$rc" = 3 ] && echo "the MCP Inspector test needs Node >= 18: install a newer nodejs, then re-run" >&2
  exit "$rc"
}
# Node's fetch ignores HTTPS_PROXY before Node 24: the egress test uses undici's env agent.
if [ ! -f target/test-tools/undici/node_modules/undici/package.json ]; then
  mkdir -p target/test-tools/undici
  (cd target/test-tools/undici && npm install --silent --no-audit --no-fund undici@6.21.3 >/dev/null)
fi
if [ ! -f target/test-tools/node-pg/node_modules/pg/package.json ]; then
  mkdir -p target/test-tools/node-pg
  (cd target/test-tools/node-pg && npm install --silent --no-audit --no-fund pg@8.13.1 >/dev/null)
fi
# `kovra import` reads .env files the way python-dotenv and Node's dotenv do: both read the
# round-trip file of crates/kovra-cli/tests/cli/import.rs.
if ! python3 -c "import dotenv" 2>/dev/null; then
  python3 -m pip install -q python-dotenv==1.2.2 || python3 -m pip install -q --break-system-packages python-dotenv==1.2.2
fi
if ! grep -qs '"version": "17.4.2"' target/test-tools/dotenv/node_modules/dotenv/package.json; then
  mkdir -p target/test-tools/dotenv
  (cd target/test-tools/dotenv && npm install --silent --no-audit --no-fund dotenv@17.4.2 >/dev/null)
fi
# dotenvx seals the file `kovra import --from-dotenvx` opens (tests/cli/import_dotenvx.rs).
if ! grep -qs '"version": "1.51.1"' target/test-tools/dotenvx/node_modules/@dotenvx/dotenvx/package.json; then
  mkdir -p target/test-tools/dotenvx
  (cd target/test-tools/dotenvx && npm install --silent --no-audit --no-fund @dotenvx/dotenvx@1.51.1 >/dev/null)
fi
# playwright-core drives Debian's chromium over CDP in the web UI's test; it downloads no
# browser of its own (tests/cli/web_ui.rs, bench/web.sh).
if ! grep -qs '"version": "1.65.2"' target/test-tools/playwright/node_modules/playwright-core/package.json; then
  mkdir -p target/test-tools/playwright
  (cd target/test-tools/playwright && npm install --silent --no-audit --no-fund playwright-core@1.65.2 >/dev/null)
fi
# Anthropic's sandbox runtime, run by the containment tests with the settings file
# `kovra setup --sandbox --srt-settings` writes (crates/kovra-cli/tests/containment/srt.rs).
if ! grep -qs '"version": "0.0.78"' target/test-tools/srt/node_modules/@anthropic-ai/sandbox-runtime/package.json; then
  mkdir -p target/test-tools/srt
  (cd target/test-tools/srt && npm install --silent --no-audit --no-fund @anthropic-ai/sandbox-runtime@0.0.78 >/dev/null)
fi
have cargo || { echo "cargo is required (Rust stable >= 1.89): install it with rustup" >&2; exit 1; }
getent passwd nobody >/dev/null || { echo "the peer test needs a 'nobody' user" >&2; exit 1; }
[ -n "${KOVRA_TEST_PG_BIN:-}" ] || compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || {
  echo "kovra-testpg needs initdb and postgres in /usr/lib/postgresql/<version>/bin, or KOVRA_TEST_PG_BIN set to their directory" >&2
  exit 1
}
# The trusted-path tests attack kovra as a same-user, non-root agent: run as root, they
# re-run themselves as this user (root can ptrace and read everything, hiding the difference).
# kovra-testpg runs PostgreSQL as this user too (PostgreSQL refuses root).
if [ "$(id -u)" = 0 ]; then
  id kovra-test >/dev/null 2>&1 || useradd --system --create-home --shell /bin/bash kovra-test
fi

# A clean build needs a few GB of disk (target/); say so plainly rather than fail in the linker.
free_kb=$(df -Pk . | awk 'NR==2 {print $4}')
if [ "${free_kb:-0}" -lt 4000000 ]; then
  echo "warning: only $((free_kb / 1024)) MB free here; a clean build of the tests needs about 4 GB" >&2
fi
# Incremental caches double target/ and buy nothing in a one-shot run.
export CARGO_INCREMENTAL=0

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
# No test passes by skipping itself. A test that needs a tool installed above fails when the
# tool is missing (python3's `mcp` and `cryptography` with a message naming this script; age,
# openssl, oathtool... on the missing command): those are quick apt/pip installs, and a bare
# `cargo test --workspace` must not report them as passed. The one that needs an npm download of hundreds of packages and
# minutes of Node processes (the MCP Inspector, crates/kovra-cli/tests/cli/mcp_inspector/) is
# `#[ignore = "... run scripts/test.sh"]` instead: `cargo test --workspace` lists it as
# ignored, with that reason, and this script, having installed it, runs it with the rest.
cargo test --workspace -- --include-ignored
