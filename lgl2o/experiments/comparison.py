"""The comparisons behind the figures (stages 03-06): which optimizers, built how, run and saved.

Every comparison runs the same optimizers (docs/design.md, experimental protocol): SGD and Adam at their tuned rates, the L2O
alone, GL2O, and LGL2O with an SGD and with an Adam fallback; ``lgl2o-paper`` (the paper-literal
guard: a fresh minibatch of the gradient's size, plain comparison, SGD at the tuned rate) is added
whenever the main guards are configured differently, so both stories stay visible.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from ..core import io
from ..core.paths import repo_path
from ..engine.loop import evaluate
from ..l2o.backends import backend, make_step
from ..l2o.checkpoint import load_l2o
from ..l2o.model import LSTMOptimizer
from ..l2o.optimizer import L2O
from ..optim.baselines import SGD, Adam
from ..optim.guards import GL2O, LGL2O
from ..problems.tasks import make_task
from .artifacts import tuned_rates
from .summary import summarize

ORDER = ["sgd", "adam", "l2o", "gl2o", "lgl2o-sgd", "lgl2o-adam", "lgl2o-paper"]
PAPER_GUARD = {"compare": "fresh", "compare_batch": None, "z": 0.0}


def comparison_optimizers(net, lrs: dict, guard: dict | None = None, gl2o: dict | None = None,
                          fallback_lr: float | None = None) -> dict:
    """The optimizers of every comparison figure, keyed by the names that fix their colours."""
    guard = {**PAPER_GUARD, **(guard or {})}
    sgd_lr = float(lrs["sgd"])
    fb_lr = float(fallback_lr or sgd_lr)
    opts = {
        "sgd": SGD(sgd_lr),
        "adam": Adam(lrs["adam"]),
        "l2o": L2O(net),
        "gl2o": GL2O(L2O(net), lr=sgd_lr, **(gl2o or {})),
        "lgl2o-sgd": LGL2O(L2O(net), SGD(fb_lr), **guard),
        "lgl2o-adam": LGL2O(L2O(net), Adam(lrs["adam"]), **guard),
    }
    if guard != PAPER_GUARD or fb_lr != sgd_lr:
        opts["lgl2o-paper"] = LGL2O(L2O(net), SGD(sgd_lr), **PAPER_GUARD)
    return opts


def run_comparison(task: dict, l2o_checkpoint, rates, rates_horizon, steps: int, seeds, log_every: int,
                   report_steps=(), guard: dict | None = None, gl2o: dict | None = None, out_dir=None,
                   l2o_step: str = "plain", device="cpu", progress=True,
                   resume_dir=None, checkpoint_every: int = 0):
    """One comparison figure's data: every optimizer of ``comparison_optimizers`` on ``task``.

    ``l2o_checkpoint`` None uses an untrained LSTM (smoke runs only). Writes ``curves.csv`` and
    ``metrics.json`` under ``out_dir`` when given. With ``resume_dir``, every optimizer's run
    checkpoints there every ``checkpoint_every`` steps and an interrupted stage resumes. ``l2o_step``
    (a name of ``l2o.backends``) picks how the L2O's step is computed.
    Returns (table, summary, problem).
    """
    net = load_l2o(l2o_checkpoint, device) if l2o_checkpoint else LSTMOptimizer().to(device)
    stepper = make_step(net, l2o_step)
    lrs = tuned_rates(rates, rates_horizon)
    problem = make_task(**task, device=device)
    optimizers = comparison_optimizers(stepper, lrs, guard, gl2o)
    if resume_dir is not None:
        # a checkpoint of the L2O's state is only valid for a backend with the same state layout
        resume_dir = resume_folder(resume_dir, task=task, l2o=l2o_checkpoint, lrs=lrs, guard=guard, gl2o=gl2o,
                                   steps=steps, seeds=list(seeds), log_every=log_every, device=device,
                                   l2o_state=backend(l2o_step).state_layout)
    table, summary = evaluate_and_save(problem, optimizers, steps, seeds, log_every, report_steps, out_dir,
                                       {"lr": lrs, "l2o": str(l2o_checkpoint), "guard": {**PAPER_GUARD, **(guard or {})}},
                                       progress, resume_dir, checkpoint_every)
    if resume_dir is not None:  # finished: a re-run starts over rather than replaying the last checkpoint
        shutil.rmtree(resume_dir, ignore_errors=True)
    return table, summary, problem


def resume_folder(resume_dir, l2o=None, **config) -> Path:
    """``resume_dir/<key>``: one folder per configuration (and per L2O checkpoint's bytes), so that an
    interrupted run resumes only into the same run, never one with another parameter or another L2O.
    A relative ``resume_dir`` is taken from the repo root, like every path of params.yaml (a notebook
    runs with notebooks/ as its working directory)."""
    content = {**config, "l2o": None}
    if l2o:
        content["l2o"] = hashlib.sha256(repo_path(f"{l2o}.pt").read_bytes()).hexdigest()
    key = hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()[:12]
    return repo_path(resume_dir) / key


def evaluate_and_save(problem, optimizers: dict, steps: int, seeds, log_every: int, report_steps=(), out_dir=None,
                      meta: dict | None = None, progress=True, resume_dir=None, checkpoint_every: int = 0):
    """Run ``optimizers`` on ``problem``, summarise, and with ``out_dir`` write ``curves.csv`` and
    ``metrics.json`` (the summary, with ``meta``). Returns (table, summary)."""
    # the full-training-set loss at every logged step (multiples of log_every and a log-spaced grid), so
    # that the first steps, where the L2O is fast, are drawn from measurements too
    table = evaluate(problem, optimizers, steps=steps, seeds=seeds, log_every=log_every, full_every=1,
                         progress=progress, resume=resume_dir, checkpoint_every=checkpoint_every)
    summary = summarize(table, report_steps)
    if out_dir is not None:
        io.write_csv(table, f"{out_dir}/curves.csv")
        io.write_json({"task": problem.name, **(meta or {}), "steps": steps, "seeds": list(seeds),
                       "optimizers": summary}, f"{out_dir}/metrics.json")
    return table, summary
