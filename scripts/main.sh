#!/usr/bin/env bash
# The main job: set up, then regenerate every result and figure at the params.yaml scale.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"  # stage commands run `python` from the venv
dvc repro "$@"
