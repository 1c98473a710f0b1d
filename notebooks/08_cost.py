# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
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
# The same numbers come from `python -m lgl2o.bench`.

# %% tags=["parameters"]
out_dir = "scratch/08_cost"
figure = "scratch/08_cost.png"
dataset = "digits"
seeds = 1
steps = 3
repeats = 2
compile_l2o = False
device = "cpu"

# %%
import platform

import torch

from lgl2o import bench, io, l2o, plots, tasks

task = tasks.MLP(dataset, device=device)
net = l2o.LSTMOptimizer().to(device)  # the weights do not change the cost
stepper = torch.compile(net, dynamic=False) if compile_l2o else net
cost = bench.cost_table(task, stepper, list(range(seeds)), steps, repeats, device)
machine = f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}, {device}"
io.write_csv(cost, f"{out_dir}/cost.csv")
io.write_json({"machine": machine, "task": task.name, "compile": compile_l2o,
               "per_step": cost.set_index("optimizer").to_dict("index")}, f"{out_dir}/metrics.json")
cost

# %%
fig = plots.cost_bars(cost, title=f"{task.name}, {seeds} seed(s): {machine}")
plots.save(fig, figure, scale_note=f"{repeats} blocks of {steps} steps, compile={compile_l2o}")
