# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 08 · Cost per step
#
# Claim 2 of the paper, in part: LGL2O costs less per step than GL2O, because its check needs forward
# passes only (two candidates on one comparison batch), while GL2O needs a gradient at the proposal.
# Measured on the MNIST MLP (batch 128): milliseconds per step (median over repeated blocks, after a
# warm-up) and the forward/backward passes each optimizer spends per step, counted by the oracle.
# The same numbers come from `python -m lgl2o.perf.bench`. The L2O's step is computed by `l2o_step`, a
# backend of `lgl2o.l2o.backends` (`plain`, `compile`, `fast`, `native`: the same step to rounding); the
# stage measures the backend the comparison stages use.

# %% tags=["parameters"]
out_dir = "scratch/08_cost"
figure = "scratch/08_cost.png"
dataset = "digits"
seeds = 1
steps = 3
repeats = 2
l2o_step = "plain"
device = "cpu"

# %%
import platform

import torch

from lgl2o.core import io
from lgl2o.experiments import cost as cost_mod
from lgl2o.l2o.backends import make_step
from lgl2o.l2o.model import LSTMOptimizer
from lgl2o.perf import allocator
from lgl2o.pipeline import plots
from lgl2o.problems import tasks

malloc_tuned = allocator.keep_freed_memory()  # as python -m lgl2o.perf.bench does: no page faults per step
task = tasks.MLP(dataset, device=device)
net = LSTMOptimizer().to(device)  # the weights do not change the cost
cost = cost_mod.cost_table(task, make_step(net, l2o_step), list(range(seeds)), steps, repeats)
machine = f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}, {device}"
io.write_csv(cost, f"{out_dir}/cost.csv")
io.write_json({"machine": machine, "task": task.name, "l2o_step": l2o_step, "malloc_keeps_freed_memory": malloc_tuned,
               "per_step": cost.set_index("optimizer").to_dict("index")}, f"{out_dir}/metrics.json")
cost

# %%
fig = plots.cost_bars(cost, title=f"{task.name}, {seeds} seed(s): {machine}")
plots.save(fig, figure, scale_note=f"{repeats} blocks of {steps} steps, L2O step: {l2o_step}")
