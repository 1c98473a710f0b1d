#!/usr/bin/env bash
# GPU checks through the device tool (run from the repo root there; $OUT comes back):
# the CUDA-graph and fast-L2O-step equivalence tests (the latter run on CUDA too where it exists), then the benchmark on the GPU (the fast L2O step;
# eager and replayed from graphs).
# The device image has PyTorch and the scientific stack; the dataset travels as the mirror in .gpu/.
set -uo pipefail
export PYTHONUNBUFFERED=1 LGL2O_DATA_MIRROR=.gpu/mirror
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())"
python3 -m lgl2o.data fetch mnist
python3 -m pytest -q -p no:cacheprovider -o addopts="" tests/engine/test_graphs.py tests/l2o/test_backends.py tests/optim/test_guards.py 2>&1 | tail -15
python3 -m lgl2o.perf.bench --device cuda --graph --seeds 1 --steps 50 --repeats 7 --meta-optimizees 16 --meta-steps plain \
    --json "$OUT/bench_cuda.json"
