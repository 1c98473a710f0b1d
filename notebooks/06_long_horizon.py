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
# # 06 · Long horizon: 10^6 steps on MNIST
#
# The meta-training task, run 10^4 times longer than the meta-training horizon. Claim 4 of the paper:
# LGL2O stays stable for millions of steps, while the L2O alone drifts.
#
# Each optimizer on each seed is a piece of its own: DVC runs it as the stage
# `06_long_horizon_run@<optimizer>-<seed>` (resumable, one sitting's work on 2 cores), and this notebook
# joins the pieces. Run by hand, it first runs the pieces it lacks. The optimizers may run for different
# numbers of steps (`long_horizon.steps` in params.yaml); the figure's corner says which.
#
# How to read the figure: full-training-set loss against step on log axes, mean and band over seeds
# (min-max with 2 seeds); the right panel is the share of steps on which each guard took the L2O's
# proposal, per logging interval (log-spaced).

# %%
from lgl2o.pipeline.stages import long_horizon

# %% tags=["parameters"]
out_dir = "scratch/06_long_horizon"  # the stage writes results/06_long_horizon
figure = "scratch/06_long_horizon.png"
config = long_horizon.SMOKE  # the stage injects params.yaml's

# %%
long_horizon.run(config, out_dir, figure)
