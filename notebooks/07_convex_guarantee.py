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
# # 07 · The convex guarantee: a GD guard on a strongly convex quadratic
#
# Claim 4 of the paper: with gradient descent as the fallback, LGL2O converges on strongly convex,
# L-smooth problems. With exact losses and the descent step 1/L, the guarded iterate is never worse
# than one GD step from the previous iterate, so it obeys GD's linear rate
# f(x_k) - f* <= (1 - mu/L)^k (f(x_0) - f*), whatever the proposal does.
# Here the proposals are the meta-trained L2O (out of distribution: it never saw a quadratic), a random
# one and a divergent one (x -> 10x + 1); the bound is the dashed line.

# %%
from lgl2o.pipeline.stages import convex_guarantee

# %% tags=["parameters"]
out_dir = "scratch/07_convex_guarantee"  # the stage writes results/07_convex_guarantee
figure = "scratch/07_convex_guarantee.png"
config = {"quadratic": {"dim": 100, "mu": 0.01, "L": 1.0, "f_star": 0.0, "seed": 0}, "l2o_checkpoint": None,
          "steps": 50, "seeds": [0, 1], "device": "cpu"}  # l2o_checkpoint None: an untrained LSTM (smoke only)

# %%
convex_guarantee.run(config, out_dir, figure)
