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
# # 03 · In distribution: the meta-training task, far past the meta-training horizon
#
# The MNIST MLP the L2O was meta-trained on (784-20-10, sigmoid, batch 128), run for 100 times the
# meta-training horizon (10^4 steps at paper scale). Claim 1 of the paper: LGL2O is fast early like the
# L2O and keeps improving like SGD once the L2O stalls ("the tortoise overtakes the hare").
#
# How to read the figure: full-training-set loss against step on log axes, mean and 95% band over seeds;
# the right panel is the share of steps on which each guard took the L2O's proposal.

# %%
from lgl2o.pipeline.stages import comparison

# %% tags=["parameters"]
out_dir = "scratch/03_in_distribution"  # the stage writes results/03_in_distribution
figure = "scratch/03_in_distribution.png"
config = {**comparison.SMOKE, "task": comparison.MNIST_MLP}  # the stage injects params.yaml's

# %%
comparison.run(config, out_dir, figure, title="in distribution")
