#!/usr/bin/env bash
# Create .venv (Python 3.11), install lgl2o with its pipeline/test extras, fetch and verify the data.
# Run by main.sh and test.sh; safe to run again (installs and verified files are reused).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
"$PY" -c 'import sys; assert sys.version_info[:2] == (3, 11), f"lgl2o needs Python 3.11, found {sys.version}"'
[ -x .venv/bin/python ] || "$PY" -m venv .venv
# torch==2.13.0 first and alone: the CPU build these machines carry (a GPU user installs a CUDA
# build of 2.13.0 into .venv before running this, and pip keeps it).
.venv/bin/python -m pip install -q --disable-pip-version-check torch==2.13.0
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]'
# The offline mirror on development and CI machines; elsewhere the datasets' own sources are used.
if [ -z "${LGL2O_DATA_MIRROR:-}" ] && [ -d ../shared/datasets ]; then
  export LGL2O_DATA_MIRROR=../shared/datasets
fi
.venv/bin/python -m lgl2o.problems.data fetch
# The fetched bytes must be exactly the ones data.dvc pins.
.venv/bin/dvc commit -f -q data.dvc
git diff --exit-code --stat -- data.dvc || { echo "data/ does not match data.dvc" >&2; exit 1; }
