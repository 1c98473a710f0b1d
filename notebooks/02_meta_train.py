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
# Truncated backpropagation through optimizee unrolls (Andrychowicz et al. 2016; `lgl2o.meta`): every
# episode starts fresh MNIST MLPs (784-20-10, sigmoid, batch 128) and unrolls the L2O on them; every
# `unroll` steps the optimizee losses (summed, or their logs summed: `objective`) are backpropagated into
# the LSTM (optimizee gradients detached) and Adam updates it. Validation on held-out optimizee seeds and
# held-out training examples picks the checkpoint, written as `state_dict` + JSON. `phases` make a
# curriculum: each phase overrides some settings (a longer unroll, a lower meta learning rate) and starts
# from the previous phase's best checkpoint.
#
# Then the question every later figure rests on: on unseen seeds, is the L2O ahead of SGD and Adam (at
# their tuned rates) at the meta-training horizon?

# %% tags=["parameters"]
out_dir = "scratch/02_meta_train"  # repo-relative; the DVC stage writes results/02_meta_train
model_dir = "scratch/02_meta_train/model"  # the stage writes models/l2o.{pt,json}
figure = "scratch/02_meta_train.png"
config = {"task": {"kind": "mlp", "dataset": "mnist", "hidden": [20], "activation": "sigmoid", "batch_size": 128},
          "episodes": 1, "episode_steps": 20, "unroll": 10, "optimizees": 2, "validate_every": 2,
          "validate_seeds": 2, "validate_steps": 10, "heldout": 10000, "meta_lr": 0.001, "compile": False}
phases = [{}, {"unroll": 20, "meta_lr": 0.0003}]  # curriculum: overrides of config, one dict per phase
baselines_from = None  # a best.json of stage 01; None: use baseline_lrs
baseline_horizon = 100
baseline_lrs = {"sgd": 3.0, "adam": 0.03}
eval_steps = 20
eval_seeds = [200, 201]
report_steps = [10]
compile_eval = False  # torch.compile the L2O for the evaluation runs
device = "cpu"

# %%
import shutil

from lgl2o.core import io
from lgl2o.core.paths import repo_path
from lgl2o.engine.loop import evaluate
from lgl2o.experiments import artifacts, summary as summary_mod
from lgl2o.l2o import checkpoint, meta
from lgl2o.l2o.backends import make_step
from lgl2o.l2o.optimizer import L2O
from lgl2o.optim.baselines import SGD, Adam
from lgl2o.pipeline import plots
from lgl2o.problems import tasks

cfg = meta.MetaConfig(**config)
# a resumable working folder per configuration: an interrupted stage picks up where it stopped
work = repo_path(model_dir) / "work" / meta.config_hash(cfg, phases)
log = meta.meta_train_phases(cfg, phases, work, device=device, progress=True)
episodes = int(log.groupby("phase").episode.max().add(1).sum())
for ext in (".pt", ".json"):  # the chosen (best-validation) checkpoint
    shutil.copy(work / f"l2o{ext}", repo_path(model_dir) / f"l2o{ext}")
io.write_csv(log, f"{out_dir}/meta_log.csv")
net, info = checkpoint.load(repo_path(model_dir) / "l2o", device=device)
print(f"best validation loss {info['val_loss']:.4f} at meta-step {info['meta_step']}; "
      f"{int(log.skipped.sum())} meta-steps skipped; {log.wall_s.max() / 60:.1f} min")

# %%
plots.save(plots.meta_learning_curve(log, f"meta-training ({episodes} episodes x {cfg.optimizees} optimizees, "
                                          f"{len(phases)} phases)", cfg.objective),
           str(figure).replace(".png", "_curve.png"))

# %% [markdown]
# ## The meta-trained L2O against tuned SGD and Adam, on unseen seeds

# %%
lrs = artifacts.tuned_rates(baselines_from or baseline_lrs, baseline_horizon)
problem = tasks.make_task(**cfg.task, device=device)
stepper = make_step(net, "compile" if compile_eval else "plain")
table = evaluate(problem, {"sgd": SGD(lrs["sgd"]), "adam": Adam(lrs["adam"]), "l2o": L2O(stepper)},
                 steps=eval_steps, seeds=eval_seeds, log_every=10)
summary = summary_mod.summarize(table, report_steps)
io.write_csv(table, f"{out_dir}/eval.csv")
io.write_json({"lr": lrs, "seeds": eval_seeds, "optimizers": summary, "meta_episodes": episodes, "meta_wall_min": float(log.wall_s.max() / 60),
               "meta_steps_skipped": int(log.skipped.sum())}, f"{out_dir}/metrics.json")
summary_mod.summary_table(summary)

# %%
fig = plots.loss_curves(table, title=f"{problem.name}: meta-trained L2O vs tuned baselines")
plots.save(fig, figure, scale_note=f"meta: {episodes} episodes x {cfg.optimizees}; eval: {len(eval_seeds)} seeds")
