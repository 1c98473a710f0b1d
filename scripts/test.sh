#!/usr/bin/env bash
# The test suite: set up, then unit/integration tests and nbval over the notebooks at smoke scale.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python -m pytest "$@"
