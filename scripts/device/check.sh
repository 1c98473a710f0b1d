#!/usr/bin/env bash
# GPU checks, as one prepared run through the device tool (from the repo root there, with python3 and the
# machine's own PyTorch, the package not installed: PYTHONPATH is the repo; $OUT comes back):
#
#   bash scripts/device/check.sh           # on the GPU machine: every figure as JSON under $OUT
#   bash scripts/device/check.sh --dry     # here, on the CPU: the same steps, CUDA-only parts skipped
#
# Steps: the machine, the data (fetched from the mirror carried in .gpu/mirror, else ../shared/datasets),
# the CUDA tests (graph engine against the eager one, the step backends, the guards, LossGuard; each skips
# itself without a device), then the benchmark (with steps replayed from CUDA graphs on a GPU).
set -uo pipefail
case "${1:-}" in
  "") DRY=0 ;;
  --dry) DRY=1 ;;
  -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "usage: bash scripts/device/check.sh [--dry]" >&2; exit 2 ;;
esac
cd "$(dirname "$0")/../.."
PY=${PYTHON:-python3}
OUT=${OUT:-$(mktemp -d)}
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if [ -z "${LGL2O_DATA_MIRROR:-}" ]; then
  for m in .gpu/mirror ../shared/datasets; do [ -d "$m" ] && export LGL2O_DATA_MIRROR=$m && break; done
fi
status=0
step() { echo "== $*"; "$@" || { echo "!! failed ($?): $*"; status=1; }; }

if [ "$DRY" = 1 ]; then
  DEVICE=cpu
  echo "== dry run on the CPU: nvidia-smi, the CUDA-only tests and --graph are skipped"
else
  DEVICE=cuda
  step nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
fi
step "$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available() and torch.cuda.get_device_name())"
step "$PY" -m lgl2o.problems.data fetch mnist
step "$PY" -m pytest -q -p no:cacheprovider -o addopts="-ra" tests/engine/test_graphs.py tests/l2o/test_backends.py \
  tests/optim/test_guards.py tests/optim/test_torch_guard.py --junitxml="$OUT/tests.xml"
if [ "$DRY" = 1 ]; then
  step "$PY" -m lgl2o.perf.bench --device cpu --seeds 1 --steps 3 --repeats 1 --batched 1 --meta-optimizees 2 \
    --meta-steps plain --no-backends --json "$OUT/bench_cpu.json"
else
  step "$PY" -m lgl2o.perf.bench --device cuda --graph --seeds 1 --steps 50 --repeats 7 --meta-optimizees 16 \
    --meta-steps plain --json "$OUT/bench_cuda.json"
fi
echo "== results in $OUT"
exit $status
