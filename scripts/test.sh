#!/usr/bin/env bash
# The test suite: set up, then unit/integration tests and nbval over the notebooks at smoke scale.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
python -m pytest "$@"
