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
# # 05 · Out-of-distribution optimizee: another activation, another shape, a conv net
#
# MNIST again, but optimizees the L2O never saw in meta-training (a sigmoid 784-20-10 MLP): ReLU
# activation; a wider and deeper MLP; a small convolutional net. One notebook, run once per variant
# (`params.yaml`: `05_ood_optimizee.variants`, a DVC `foreach` stage). Claim 3 of the paper: out of
# distribution the L2O alone fails or stalls, and LGL2O does not.
#
# How to read the figure: full-training-set loss against step on log axes, mean and 95% band over seeds;
# the right panel is the share of steps on which each guard took the L2O's proposal.

# %%
from lgl2o.pipeline.stages import comparison

# %% tags=["parameters"]
out_dir = "scratch/05_ood_optimizee"  # the stage writes results/05_ood_optimizee
figure = "scratch/05_ood_optimizee.png"
config = {**comparison.SMOKE, "task": {**comparison.MNIST_MLP, "activation": "relu"}}  # the stage injects params.yaml's

# %%
comparison.run(config, out_dir, figure, title="out-of-distribution optimizee")
