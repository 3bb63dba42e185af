# The preamble every bench script shares; each sources it first.
# Strict mode, the repository root as the working directory (REPO), and `log` to stderr.
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$PWD
log() { printf 'bench: %s\n' "$*" >&2; }
