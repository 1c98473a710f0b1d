"""The comparisons behind the figures: which optimizers, built how, and the per-experiment summary.

Every comparison runs the same optimizers (DESIGN §4): SGD and Adam at their tuned rates, the L2O
alone, GL2O, and LGL2O with an SGD and with an Adam fallback; ``lgl2o-paper`` (the paper-literal
guard: a fresh minibatch of the gradient's size, plain comparison, SGD at the tuned rate) is added
whenever the main guards are configured differently, so both stories stay visible.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from . import l2o as l2o_mod
from .l2o_fast import stepper as l2o_stepper
from .optimizers import GL2O, L2O, LGL2O, SGD, Adam
from .paths import repo_path
from .stats import mean_ci

ORDER = ["sgd", "adam", "l2o", "gl2o", "lgl2o-sgd", "lgl2o-adam", "lgl2o-paper"]
PAPER_GUARD = {"compare": "fresh", "compare_batch": None, "z": 0.0}


def tuned_rates(source, horizon: int | str) -> dict:
    """{"sgd": lr, "adam": lr}: a dict as given, or read from stage 01's best.json at ``horizon``."""
    if isinstance(source, dict):
        return {k: float(v) for k, v in source.items()}
    best = json.loads(repo_path(source).read_text())["best_lr"]
    if str(horizon) not in best:
        raise ValueError(f"{source} has no rates for horizon {horizon}; it has {', '.join(best)}")
    return best[str(horizon)]


def load_l2o(path, device="cpu"):
    """The meta-trained L2O (``path`` without suffix), or a clear error saying which stage makes it."""
    try:
        net, _ = l2o_mod.load(repo_path(path), device=device)
    except l2o_mod.CheckpointError as e:
        raise l2o_mod.CheckpointError(f"{e}\n(the meta-trained L2O comes from stage 02_meta_train)") from None
    return net.eval()


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


def summarize(table: pd.DataFrame, steps=None) -> dict:
    """Per optimizer: full-training-set loss at the given steps (default: the last) and test accuracy at
    the end, mean and 95% CI over the seeds that did not diverge, diverged seeds counted, and the share of
    steps on which a guard took the L2O proposal. Plain JSON for DVC metrics."""
    last = int(table.step.max())
    steps = sorted({*(int(s) for s in (steps or [])), last})
    out = {}
    for name, g in table.groupby("optimizer", sort=False):
        per_seed = g.groupby("seed")
        entry = {"seeds": int(per_seed.ngroups),
                 "diverged_seeds": int((per_seed.diverged_at.first() >= 0).sum())}
        for s in steps:
            v = g[(g.step == s)].full_loss.to_numpy(float)
            v = v[np.isfinite(v)]
            if len(v):
                m, lo, hi = mean_ci(v)
                entry[f"full_loss@{s}"] = {"mean": m, "ci95": [lo, hi]}
        acc = g[g.step == last].test_acc.to_numpy(float)
        acc = acc[np.isfinite(acc)]
        if len(acc):
            m, lo, hi = mean_ci(acc)
            entry["test_acc"] = {"mean": m, "ci95": [lo, hi]}
        if g.proposal_share.notna().any():
            entry["proposal_share"] = proposal_share(g)
        out[name] = entry
    return out


def proposal_share(g: pd.DataFrame) -> float:
    """Share of all steps on which the guard took the proposal (logged shares weighted by interval)."""
    g = g.sort_values(["seed", "step"])
    length = g.groupby("seed").step.diff()
    ok = g.proposal_share.notna() & length.notna()
    return float((g.proposal_share[ok] * length[ok]).sum() / length[ok].sum())


def summary_table(summary: dict) -> pd.DataFrame:
    """The summary as a readable table (one row per optimizer)."""
    rows = []
    for name, e in summary.items():
        row = {"optimizer": name, "diverged": f"{e['diverged_seeds']}/{e['seeds']}"}
        for k, v in e.items():
            if isinstance(v, dict):
                row[k] = f"{v['mean']:.4g} [{v['ci95'][0]:.4g}, {v['ci95'][1]:.4g}]"
        if "proposal_share" in e:
            row["L2O share"] = f"{e['proposal_share']:.2f}"
        rows.append(row)
    return pd.DataFrame(rows).set_index("optimizer")


def with_linear_rate_bound(table: pd.DataFrame, task) -> pd.DataFrame:
    """Add ``gap`` = f(x_k) - f* and ``bound`` = (1 - mu/L)^k (f(x_0) - f*) (GD's rate with step 1/L)."""
    table = table.copy()
    table["gap"] = table.full_loss - task.f_star
    gap0 = table[table.step == 0].groupby("seed").gap.first()
    table["bound"] = table.seed.map(gap0) * (1 - task.mu / task.L) ** table.step
    return table


def bound_violations(table: pd.DataFrame, rtol: float = 1e-4, atol: float = 1e-6) -> int:
    """Logged points above the bound (beyond float32 round-off)."""
    return int((table.gap > table.bound * (1 + rtol) + atol).sum())


def run_comparison(task: dict, l2o_checkpoint, rates, rates_horizon, steps: int, seeds, log_every: int,
                   report_steps=(), guard: dict | None = None, gl2o: dict | None = None, out_dir=None,
                   l2o_step: str = "plain", device="cpu", progress=True,
                   resume_dir=None, checkpoint_every: int = 0):
    """One comparison figure's data: every optimizer of ``comparison_optimizers`` on ``task``.

    ``l2o_checkpoint`` None uses an untrained LSTM (smoke runs only). Writes ``curves.csv`` and
    ``metrics.json`` under ``out_dir`` when given. With ``resume_dir``, every optimizer's run
    checkpoints there every ``checkpoint_every`` steps and an interrupted stage resumes. ``l2o_step``
    (``l2o_fast.STEPS``: plain, compile or fast) picks how the L2O's step is computed.
    Returns (table, summary, problem).
    """
    from .tasks import make_task

    net = load_l2o(l2o_checkpoint, device) if l2o_checkpoint else l2o_mod.LSTMOptimizer().to(device)
    stepper = l2o_stepper(net, l2o_step)
    lrs = tuned_rates(rates, rates_horizon)
    problem = make_task(**task, device=device)
    optimizers = comparison_optimizers(stepper, lrs, guard, gl2o)
    if resume_dir is not None:
        # the fast step keeps its LSTM state in another layout: its checkpoints are not the others'
        layout = {"l2o_state": "fast"} if l2o_step == "fast" else {}
        resume_dir = resume_folder(resume_dir, task=task, l2o=l2o_checkpoint, lrs=lrs, guard=guard, gl2o=gl2o,
                                   steps=steps, seeds=list(seeds), log_every=log_every, device=device, **layout)
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
    from . import io, run

    # the full-training-set loss at every logged step (multiples of log_every and a log-spaced grid), so
    # that the first steps, where the L2O is fast, are drawn from measurements too
    table = run.evaluate(problem, optimizers, steps=steps, seeds=seeds, log_every=log_every, full_every=1,
                         progress=progress, resume=resume_dir, checkpoint_every=checkpoint_every)
    summary = summarize(table, report_steps)
    if out_dir is not None:
        io.write_csv(table, f"{out_dir}/curves.csv")
        io.write_json({"task": problem.name, **(meta or {}), "steps": steps, "seeds": list(seeds),
                       "optimizers": summary}, f"{out_dir}/metrics.json")
    return table, summary
