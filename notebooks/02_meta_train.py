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
# # 02 · Meta-training the LSTM optimizer
#
# Truncated backpropagation through optimizee unrolls (Andrychowicz et al. 2016; `lgl2o.l2o.meta`): every
# episode starts fresh MNIST MLPs (784-20-10, sigmoid, batch 128) and unrolls the L2O on them; every
# `unroll` steps the optimizee losses (summed, or their logs summed: `objective`) are backpropagated into
# the LSTM (optimizee gradients detached) and Adam updates it. Validation on held-out optimizee seeds and
# held-out training examples picks the checkpoint, written as `state_dict` + JSON. `phases` make a
# curriculum: each phase overrides some settings (a longer unroll, a lower meta learning rate) and starts
# from the previous phase's best checkpoint.
#
# Then the question every later figure rests on: on unseen seeds, is the L2O ahead of SGD and Adam (at
# their tuned rates) at the meta-training horizon?

# %%
from lgl2o.pipeline.stages import meta_train

# %% tags=["parameters"]
out_dir = "scratch/02_meta_train"  # the stage writes results/02_meta_train
figure = "scratch/02_meta_train.png"
config = {
    "config": {"task": meta_train.MNIST_MLP, "episodes": 1, "episode_steps": 20, "unroll": 10, "optimizees": 2,
               "validate_every": 2, "validate_seeds": 2, "validate_steps": 10, "heldout": 10000, "meta_lr": 0.001,
               "compile": False},
    "phases": [{}, {"unroll": 20, "meta_lr": 0.0003}],  # curriculum: overrides of config, one dict per phase
    "model_dir": "scratch/02_meta_train/model",  # the stage writes models/l2o.{pt,json}
    "baselines_from": meta_train.SMOKE_RATES,  # the stage: stage 01's best.json
    "baseline_horizon": 100, "eval_steps": 20, "eval_seeds": [200, 201], "report_steps": [10],
    "compile_eval": False, "device": "cpu", "work_dir": "scratch/02_meta_train/work",
}

# %% [markdown]
# Meta-training, then the meta-trained L2O against tuned SGD and Adam on unseen seeds (the table, and
# the second figure; the first is the meta-training curve).

# %%
meta_train.run(config, out_dir, figure)
