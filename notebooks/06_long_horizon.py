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

# %% tags=["parameters"]
out_dir = "scratch/06_long_horizon"
figure = "scratch/06_long_horizon.png"
task = {"kind": "mlp", "dataset": "mnist", "hidden": [20], "activation": "sigmoid", "batch_size": 128}
l2o_checkpoint = None  # models/l2o at paper scale; None: an untrained LSTM (smoke only)
rates = {"sgd": 3.0, "adam": 0.03}  # or the path of stage 01's best.json
rates_horizon = 1000
guard = {"compare": "fresh"}
steps = 20
seeds = [0, 1]
log_every = 10
report_steps = [10]
l2o_step = "plain"  # how the L2O step is computed: a backend of lgl2o.l2o.backends (the same step to rounding)
checkpoint_every = 0  # > 0: resumable (the stage sets it)
device = "cpu"

# %%
from lgl2o.experiments import comparison
from lgl2o.experiments.summary import summary_table
from lgl2o.perf import allocator
from lgl2o.pipeline import plots

allocator.keep_freed_memory()  # no page faults per L2O step (as the benchmark); results do not change

table, summary, problem = comparison.run_comparison(
    task, l2o_checkpoint, rates, rates_horizon, steps, seeds, log_every, report_steps, guard,
    out_dir=out_dir, l2o_step=l2o_step, device=device,
    resume_dir=f"{out_dir}/resume" if checkpoint_every else None, checkpoint_every=checkpoint_every)
summary_table(summary)

# %%
fig = plots.loss_curves(table, title=f"{problem.name}, long horizon", order=comparison.ORDER)
plots.save(fig, figure, scale_note=f"{len(seeds)} seeds, {steps} steps, L2O: {l2o_checkpoint or 'untrained (smoke)'}")
