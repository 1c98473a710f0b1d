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
# # 09 · The guard's crux: how LGL2O estimates the expected future loss, and which fallback step it takes
#
# LGL2O keeps, at every step, whichever of two candidates (the L2O's proposal, the fallback's step, both
# from the same gradient) has the lower *estimated* loss. The paper's abstract does not say on what
# data that estimate is made, nor how large the fallback's step is; stages 03 and 04 show that with the
# paper's rule read as a fresh minibatch of the gradient's size, a plain comparison and SGD at its tuned
# rate (`fresh`) the guard keeps taking the stalled L2O. This stage runs the alternatives side by side, each
# with the same seeds and batches (run once per task: in distribution, and Fashion-MNIST out of it):
#
# - **the comparison batch**: the gradient's own minibatch (`same`); a fresh one of 128 (`paper`) or
#   1024 examples; the next step's minibatch, whose forward pass the next gradient reuses (`next`);
#   the whole training set (`full`: the exact expected loss, a reference that costs two passes over it);
# - **a paired test**: the proposal is taken only if better by more than z standard errors of the
#   per-example loss differences on the comparison batch (`z1`, `z2`; z = 0 is the plain comparison);
# - **the fallback step**: SGD at the tuned rate, at smaller (safer) rates, and Adam.
# - **an audit of each acceptance** (`optim.audit`, LossGuard's): every 32 steps a run that took the L2O
#   compares its loss on a fixed audit set of 1024 examples with that at its last audit point and returns
#   there if it rose, then takes the fallback alone for a while; with LossGuard's defaults (z = 2 on 64
#   examples: `b64-z2-audit32`) and with the paper's plain comparison (`paper-audit32`).
#
# GL2O, the older safeguard, runs at its reference setting (`gl2o`: the EMA rule, delta = theta = 0.1)
# and at more settings of its own (`gl2o[<rule>-d<delta>-w<window>]`): some that accept the L2O more
# often and some stricter, so that a verdict against GL2O says how much it depends on GL2O's settings.
#
# How to read the figure: one row per optimizer (the references on top: SGD, Adam, the L2O alone,
# GL2O, then GL2O's other settings), the full-training-set loss at an early, a middle and the last step (dot = mean, bar = 95% CI
# over seeds; dashed line = SGD, dotted = Adam), and the share of steps on which each guard took the L2O.
# A good guard sits at the L2O's loss early and at or below SGD's late.

# %%
from lgl2o.pipeline.stages import guard_ablation

# %% tags=["parameters"]
out_dir = "scratch/09_guard_ablation"  # the stage writes results/09_guard_ablation/<dataset>
figure = "scratch/09_guard_ablation.png"
config = {"task": guard_ablation.MNIST_MLP, "l2o_checkpoint": None, "rates": guard_ablation.SMOKE_RATES, "rates_horizon": 1000,
          "guards": {"paper": {"compare": "fresh"}, "full": {"compare": "full"}, "z1": {"compare": "fresh", "z": 1.0},
                     "sgd-lr0_3": {"compare": "fresh", "fallback_lr": 0.3}, "adam": {"compare": "fresh", "fallback": "adam"}},
          "gl2o": {"recent_max-d0.1-w10": {"mu_rule": "recent_max"}},
          "steps": 10, "seeds": [0, 1], "log_every": 5, "report_steps": [2, 5], "l2o_step": "plain", "device": "cpu"}

# %% [markdown]
# ## Which variant to use by default
#
# The rule, fixed before the runs: among the variants whose loss at the earliest reported step is within
# 10% of the L2O's (they keep the fast start), the one with the lowest mean loss at the last step. The
# line above the table says which it is; the table gives the loss at each reported step, the share of
# steps taking the L2O, the passes per step and the diverged seeds.

# %%
guard_ablation.run(config, out_dir, figure)
