#!/usr/bin/env bash
# Install the MCP Inspector (the second independent MCP client of `kovra mcp` in the tests,
# crates/kovra-cli/tests/cli/mcp_inspector/) into target/test-tools/inspector, at a pinned
# version. Idempotent; installs Node with apt-get when npm is missing. Prints one line on
# success. Exits 3 when Node is older than 18 (scripts/test.sh then stops; the test, an
# ignored one that scripts/test.sh runs, fails naming this script).
set -euo pipefail
cd "$(dirname "$0")/.."

# 0.21.x is the last line that runs on Node 18/20 (1.x and later need Node >= 22).
VERSION=0.21.2
PREFIX="$PWD/target/test-tools/inspector"
BIN="$PREFIX/node_modules/.bin/mcp-inspector"
PKG_JSON="$PREFIX/node_modules/@modelcontextprotocol/inspector/package.json"

node_ok() {
  local major
  major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
  if [ "$major" -lt 18 ]; then
    echo "the MCP Inspector $VERSION needs Node >= 18; found $(node --version 2>/dev/null || echo none)" >&2
    exit 3
  fi
}

if command -v node >/dev/null 2>&1; then
  node_ok
  if [ -x "$BIN" ] && [ -f "$PKG_JSON" ] &&
    [ "$(node -p "require(process.argv[1]).version" "$PKG_JSON")" = "$VERSION" ]; then
    echo "mcp-inspector $VERSION already installed: $BIN"
    exit 0
  fi
fi

if ! command -v npm >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nodejs npm >/dev/null
fi
node_ok

mkdir -p "$PREFIX"
log="$PREFIX/install.log"
# Some dependencies of the pinned version declare engines node >= 22 (EBADENGINE warnings);
# the CLI runs on 18 and 20.
if ! npm install --prefix "$PREFIX" --no-audit --no-fund --save-exact --loglevel=error \
  "@modelcontextprotocol/inspector@$VERSION" >"$log" 2>&1; then
  cat "$log" >&2
  echo "npm install @modelcontextprotocol/inspector@$VERSION failed" >&2
  exit 1
fi
[ -x "$BIN" ] || { echo "mcp-inspector not found at $BIN after install" >&2; exit 1; }
echo "mcp-inspector $VERSION installed: $BIN"
