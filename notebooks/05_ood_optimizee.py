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

# %% tags=["parameters"]
out_dir = "scratch/05_ood_optimizee"
figure = "scratch/05_ood_optimizee.png"
task = {"kind": "mlp", "dataset": "mnist", "hidden": [20], "activation": "relu", "batch_size": 128}
l2o_checkpoint = None  # models/l2o at paper scale; None: an untrained LSTM (smoke only)
rates = {"sgd": 3.0, "adam": 0.03}  # or the path of stage 01's best.json
rates_horizon = 1000
guard = {"compare": "fresh"}
steps = 20
seeds = [0, 1]
log_every = 10
report_steps = [10]
l2o_step = "plain"  # how the L2O step is computed: a backend of lgl2o.l2o.backends (the same step to rounding)
device = "cpu"

# %%
from lgl2o.experiments import comparison
from lgl2o.experiments.summary import summary_table
from lgl2o.perf import allocator
from lgl2o.pipeline import plots

allocator.keep_freed_memory()  # no page faults per L2O step (as the benchmark); results do not change

table, summary, problem = comparison.run_comparison(
    task, l2o_checkpoint, rates, rates_horizon, steps, seeds, log_every, report_steps, guard,
    out_dir=out_dir, l2o_step=l2o_step, device=device)
summary_table(summary)

# %%
fig = plots.loss_curves(table, title=f"{problem.name}, out-of-distribution optimizee", order=comparison.ORDER)
plots.save(fig, figure, scale_note=f"{len(seeds)} seeds, {steps} steps, L2O: {l2o_checkpoint or 'untrained (smoke)'}")
