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

# %% tags=["parameters"]
out_dir = "scratch/07_convex_guarantee"
figure = "scratch/07_convex_guarantee.png"
quadratic = {"dim": 100, "mu": 0.01, "L": 1.0, "f_star": 0.0, "seed": 0}
l2o_checkpoint = None  # models/l2o at paper scale; None: an untrained LSTM (smoke only)
steps = 50
seeds = [0, 1]
device = "cpu"

# %%
from lgl2o.experiments import convex
from lgl2o.pipeline import plots

table, violations, final, problem = convex.run_convex(quadratic, l2o_checkpoint, steps, seeds, device, out_dir)
print(f"points of a guarded run above the bound: {violations}")
final

# %%
fig = plots.gap_vs_bound(table, title=f"{problem.name}: f(x_k) - f* under a GD guard (step 1/L)")
plots.save(fig, figure, scale_note=f"{len(seeds)} seeds, {steps} steps, L2O: {l2o_checkpoint or 'untrained (smoke)'}")
