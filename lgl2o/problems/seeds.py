"""The seed policy: which random stream every draw of a run comes from.

A run is named by its seed. Each run has one generator per stream, seeded from (seed, stream), so a
run's numbers do not depend on which other seeds run beside it, and every optimizer at a seed sees the
same initialisation and the same training minibatches (common random numbers).
"""
from __future__ import annotations

import torch

INIT, TRAIN, GUARD = 0, 1, 2  # the optimizee's initialisation, its training minibatches, a guard's batches

# Every evaluation in this repository uses seeds below 1,000; meta-training's validation and training
# optimizees start far above them, so they never share an initialisation with a figure.
VALIDATION_SEED_BASE = 1_000_000
TRAIN_SEED_BASE = 2_000_000


def run_generators(seeds, stream: int) -> list[torch.Generator]:
    """One CPU generator per run for ``stream`` (``INIT``, ``TRAIN`` or ``GUARD``)."""
    gens = []
    for s in seeds:
        g = torch.Generator(device="cpu")
        g.manual_seed(int(s) * 1000 + stream)
        gens.append(g)
    return gens
