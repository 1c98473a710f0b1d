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

# %%
from lgl2o.pipeline.stages import tune_baselines

# %% tags=["parameters"]
out_dir = "scratch/01_tune_baselines"  # the stage writes results/01_tune_baselines
figure = "scratch/01_tune_baselines.png"
config = {"task": tune_baselines.MNIST_MLP, "grid": {"sgd": [0.3, 3.0], "adam": [0.003, 0.03]}, "steps": 20,
          "horizons": [10], "seeds": [100, 101], "device": "cpu"}

# %% [markdown]
# The table gives the mean full-training-set loss over the tuning seeds after each horizon, the figure the
# same with 95% intervals over seeds; above them, the rates with the lowest loss at each horizon.

# %%
tune_baselines.run(config, out_dir, figure)
