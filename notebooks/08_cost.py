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

# %%
from lgl2o.pipeline.stages import cost

# %% tags=["parameters"]
out_dir = "scratch/08_cost"  # the stage writes results/08_cost
figure = "scratch/08_cost.png"
config = {"dataset": "digits", "seeds": 1, "steps": 3, "repeats": 2, "l2o_step": "plain", "device": "cpu"}

# %%
cost.run(config, out_dir, figure)
