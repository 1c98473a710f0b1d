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
# The meta-training task, run 10^4 times longer than the meta-training horizon (10^6 steps at paper
# scale). Claim 4 of the paper: LGL2O stays stable for millions of steps, while the L2O alone drifts.
# The stage checkpoints every run and resumes after an interruption.
#
# How to read the figure: full-training-set loss against step on log axes, mean and 95% band over seeds;
# the right panel is the share of steps on which each guard took the L2O's proposal.

# %%
from lgl2o.pipeline.stages import comparison

# %% tags=["parameters"]
out_dir = "scratch/06_long_horizon"  # the stage writes results/06_long_horizon
figure = "scratch/06_long_horizon.png"
config = {**comparison.SMOKE, "task": comparison.MNIST_MLP}  # the stage injects params.yaml's

# %%
comparison.run(config, out_dir, figure, title="long horizon")
