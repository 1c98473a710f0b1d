"""The comparisons behind the figures of stages 03-05 (in distribution, out-of-distribution data and
optimizee): every optimizer of ``runs.comparison_optimizers`` on one task, resumable, run and saved."""
from __future__ import annotations

import shutil
from dataclasses import dataclass, field

from ..l2o.backends import backend
from .config import checked, non_negative, subset_of
from .runs import (PAPER_GUARD, READINGS, ComparisonGuard, RunConfig, comparison_optimizers, evaluate_and_save,
                   kept_rows, prepare, resume_folder)


@dataclass(frozen=True, kw_only=True)
class ComparisonConfig(RunConfig):
    """Stages 03-05: every optimizer of ``runs.comparison_optimizers`` on one task."""

    guard: ComparisonGuard
    # the paper's rule under these readings (runs.READINGS) beside the main guards
    readings: list[str] = field(default_factory=lambda: ["fresh"], metadata=checked(subset_of(tuple(READINGS))))
    checkpoint_every: int = field(default=0, metadata=checked(non_negative))  # > 0: resumable
    # an earlier curves.csv of these settings but the readings, whose optimizers are kept rather than run
    # again; set by the stage runner, and only where dvc.lock shows the same code, data and settings
    # (pipeline.reuse), never in params.yaml
    reuse: str | None = None


def run_comparison(cfg: ComparisonConfig, out_dir=None, progress=True):
    """One comparison figure's data: every optimizer of ``comparison_optimizers`` on ``cfg.task``.

    Writes ``curves.csv``, ``summary.json`` and ``metrics.json`` under ``out_dir`` when given. With ``cfg.checkpoint_every``
    > 0 (and an ``out_dir``), every optimizer's run checkpoints in ``out_dir/resume`` and an interrupted
    stage resumes. With ``cfg.reuse``, the optimizers that file holds are not run again. Returns (table,
    summary, problem).
    """
    run, guard = prepare(cfg), cfg.guard.to_dict()
    lrs, task, problem = run.lrs, run.task, run.problem
    optimizers = comparison_optimizers(run.net, lrs, guard, cfg.readings)
    resume_dir = None
    if cfg.checkpoint_every and out_dir is not None:
        # a checkpoint of the L2O's state is only valid for a backend with the same state layout
        resume_dir = resume_folder(f"{out_dir}/resume", task=task, l2o=cfg.l2o_checkpoint, lrs=lrs, guard=guard,
                                   steps=cfg.steps, seeds=list(cfg.seeds), log_every=cfg.log_every,
                                   device=cfg.device, l2o_state=backend(cfg.l2o_step).state_layout)
    done = kept_rows(cfg.reuse, optimizers, steps=cfg.steps, seeds=cfg.seeds) if cfg.reuse else None
    table, summary = evaluate_and_save(problem, optimizers, steps=cfg.steps, seeds=cfg.seeds, log_every=cfg.log_every,
                                       report_steps=cfg.report_steps, out_dir=out_dir,
                                       meta={"lr": lrs, "l2o": str(cfg.l2o_checkpoint),
                                             "guard": {**PAPER_GUARD, **guard}},
                                       progress=progress, resume_dir=resume_dir, checkpoint_every=cfg.checkpoint_every,
                                       done=done)
    if resume_dir is not None:  # finished: a re-run starts over rather than replaying the last checkpoint
        shutil.rmtree(resume_dir, ignore_errors=True)
    return table, summary, problem
