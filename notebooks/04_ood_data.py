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
# # 04 · Out-of-distribution data: Fashion-MNIST
#
# The same MLP (784-20-10, sigmoid, batch 128) on Fashion-MNIST, a dataset the L2O never saw during
# meta-training (MNIST). Claim 3 of the paper: out of distribution the L2O alone fails or stalls, and
# LGL2O does not.
#
# How to read the figure: full-training-set loss against step on log axes, mean and 95% band over seeds;
# the right panel is the share of steps on which each guard took the L2O's proposal.

# %%
from lgl2o.pipeline.stages import comparison

# %% tags=["parameters"]
out_dir = "scratch/04_ood_data"  # the stage writes results/04_ood_data
figure = "scratch/04_ood_data.png"
config = {**comparison.SMOKE, "task": {**comparison.MNIST_MLP, "dataset": "fashion_mnist"}}  # the stage injects params.yaml's

# %%
comparison.run(config, out_dir, figure, title="out-of-distribution data")
