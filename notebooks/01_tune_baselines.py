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
# # 01 · Baseline tuning: learning-rate grids for SGD and Adam
#
# Every comparison in this repository runs SGD and Adam at learning rates chosen here, and the guards'
# fallbacks use the same rates (docs/design.md, experimental protocol). The grid runs on the in-distribution task (the MNIST MLP
# 784-20-10, sigmoid, batch 128) on seeds that no figure uses, and it is logged in full: a reader can
# check that the chosen rate is not on the edge of the grid.
#
# The defaults below are a smoke configuration (seconds); `dvc repro` injects the `params.yaml` scale.

# %% tags=["parameters"]
out_dir = "scratch/01_tune_baselines"  # repo-relative; the DVC stage writes results/01_tune_baselines
figure = "scratch/01_tune_baselines.png"
task = {"kind": "mlp", "dataset": "mnist", "hidden": [20], "activation": "sigmoid", "batch_size": 128}
grid = {"sgd": [0.3, 3.0], "adam": [0.003, 0.03]}
steps = 20
horizons = [10]
seeds = [100, 101]
device = "cpu"

# %%
from lgl2o.core import io
from lgl2o.experiments import artifacts, tuning
from lgl2o.pipeline import plots
from lgl2o.problems import tasks

problem = tasks.make_task(**task, device=device)
table = tuning.grid_search(problem, grid, steps, seeds, horizons)
summary = tuning.summarize(table)
best = tuning.best_rates(summary)
io.write_csv(table, f"{out_dir}/grid.csv")
artifacts.write_best_rates(best, f"{out_dir}/best.json", problem.name, steps, seeds)
summary.pivot_table(index=["optimizer", "lr"], columns="step", values="mean")

# %% [markdown]
# The table gives the mean full-training-set loss over the tuning seeds after each horizon. Below, the
# same with 95% intervals over seeds. The rates with the lowest loss at each horizon:

# %%
best

# %%
fig = plots.lr_grid(summary, title=f"{problem.name}: learning-rate grid ({len(seeds)} seeds)")
plots.save(fig, figure, scale_note=f"{len(seeds)} seeds, {steps} steps")
