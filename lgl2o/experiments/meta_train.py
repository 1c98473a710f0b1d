"""Stage 02: meta-train the L2O (``l2o.meta``'s curriculum) and compare the result with tuned SGD and
Adam on unseen seeds, the question every later figure rests on."""
from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from typing import Any

from ..core import io
from ..core.paths import repo_path
from ..engine.loop import evaluate
from ..l2o import checkpoint, meta
from ..l2o.backends import make_step
from ..l2o.optimizer import L2O
from ..optim.baselines import SGD, Adam
from ..problems.tasks import make_task
from .artifacts import tuned_rates
from .config import Config, ConfigError, TaskConfig, checked, device, positive, positive_each, rates_file, seeds
from .summary import save_summary, summarize


@dataclass(frozen=True)
class MetaTrainConfig(Config):
    """Stage 02: meta-training (``config``: ``l2o.meta.MetaConfig``; ``phases``: its overrides per
    curriculum phase) and the evaluation of the result against SGD and Adam."""

    outputs = ("model_dir", "pretrained_dir")

    config: dict[str, Any]
    phases: list[dict[str, Any]]
    model_dir: str  # where the chosen checkpoint goes: model_dir/l2o.{pt,json}
    baselines_from: str | dict[str, float] = field(metadata=checked(rates_file))
    baseline_horizon: int = field(metadata=checked(positive))
    eval_steps: int = field(metadata=checked(positive))
    eval_seeds: list[int] = field(metadata=checked(seeds))
    report_steps: list[int] = field(metadata=checked(positive_each))
    compile_eval: bool = False
    device: str = field(default="cpu", metadata=checked(device))
    # the resumable working folders, one per configuration: kept in place when a stage is interrupted
    work_dir: str = "models/work"
    # a second copy of the chosen checkpoint, as the package's data (lgl2o/l2o/pretrained): load_l2o()'s default
    pretrained_dir: str | None = None

    def validate(self, where):
        from ..l2o.meta import MetaConfig

        TaskConfig.from_dict(self.config.get("task"), f"{where}.config.task")
        for i, overrides in enumerate([{}, *self.phases]):
            try:
                MetaConfig(**{**self.config, **overrides})
            except (TypeError, ValueError) as e:
                what = f"{where}.config" if i == 0 else f"{where}.phases[{i - 1}]"
                raise ConfigError(f"{what}: {e}") from None

    def meta_config(self):
        from ..l2o.meta import MetaConfig

        return MetaConfig(**self.config)


def train(cfg: MetaTrainConfig, out_dir=None, progress=True):
    """Meta-train in a resumable working folder per configuration (named by its hash, in ``work_dir``: an
    interrupted stage picks up where it stopped), copy the chosen checkpoint to ``model_dir/l2o.{pt,json}``,
    and with ``out_dir`` write the log as ``meta_log.csv``. Returns (log, net, its checkpoint JSON)."""
    mcfg = cfg.meta_config()
    work = repo_path(cfg.work_dir) / meta.config_hash(mcfg, cfg.phases)
    log = meta.meta_train_phases(mcfg, cfg.phases, work, device=cfg.device, progress=progress)
    for folder in filter(None, (cfg.model_dir, cfg.pretrained_dir)):
        repo_path(folder).mkdir(parents=True, exist_ok=True)
        for ext in (".pt", ".json"):  # the chosen (best-validation) checkpoint
            shutil.copy(work / f"l2o{ext}", repo_path(folder) / f"l2o{ext}")
    if out_dir is not None:
        io.write_csv(log, f"{out_dir}/meta_log.csv")
    net, info = checkpoint.load(repo_path(cfg.model_dir) / "l2o", device=cfg.device)
    return log, net, info


def episodes(log) -> int:
    return int(log.groupby("phase").episode.max().add(1).sum())


def evaluate_trained(cfg: MetaTrainConfig, net, log, out_dir=None, progress=True):
    """The trained L2O against SGD and Adam at their tuned rates on ``cfg.eval_seeds``; with ``out_dir``,
    ``eval.csv``, ``summary.json`` and ``metrics.json`` there. Returns (table, summary, problem)."""
    lrs = tuned_rates(cfg.baselines_from, cfg.baseline_horizon)
    problem = make_task(**cfg.config["task"], device=cfg.device)
    stepper = make_step(net, "compile" if cfg.compile_eval else "plain")
    table = evaluate(problem, {"sgd": SGD(lrs["sgd"]), "adam": Adam(lrs["adam"]), "l2o": L2O(stepper)},
                     steps=cfg.eval_steps, seeds=cfg.eval_seeds, log_every=10, progress=progress)
    summary = summarize(table, cfg.report_steps)
    if out_dir is not None:
        io.write_csv(table, f"{out_dir}/eval.csv")
        save_summary({"lr": lrs, "seeds": cfg.eval_seeds, "optimizers": summary, "meta_episodes": episodes(log),
                       "meta_wall_min": float(log.wall_s.max() / 60), "meta_steps_skipped": int(log.skipped.sum())},
                     out_dir)
    return table, summary, problem
