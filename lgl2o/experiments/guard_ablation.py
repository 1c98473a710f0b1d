"""The guard ablation: how LGL2O estimates the expected future loss, and which fallback step it takes.

A variant is LGL2O's settings plus its fallback, as in params.yaml::

    {"compare": "fresh", "compare_batch": 1024, "z": 1.0, "fallback": "sgd", "fallback_lr": 0.3}

(``compare``/``compare_batch``/``z``/``test`` as in ``optim.guards.LGL2O``; ``fallback`` "sgd" or "adam", at the
tuned rate unless ``fallback_lr`` is given). Every variant runs beside the references (SGD, Adam, the
L2O alone, GL2O) on the same seeds and batches, and is summarised by its loss early (where the L2O is
fast) and late (where SGD wins), the share of steps on which it took the L2O, and the passes it spends.
GL2O runs at more settings than the reference's (``gl2o``: named settings of ``optim.guards.GL2O``, each as
``gl2o[<name>]``), so that a verdict against GL2O says how much it depends on GL2O's own settings.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd


from ..l2o.optimizer import L2O
from ..optim.baselines import SGD, Adam
from ..optim.guards import GL2O, LGL2O
from .config import Config, ConfigError, given
from .runs import GuardConfig, RunConfig, comparison_optimizers, evaluate_and_save, prepare


@dataclass(frozen=True)
class GL2OConfig(Config):
    """A setting of GL2O (``optim.guards.GL2O``'s keywords); keys not given take its defaults (the EMA rule,
    delta = theta = 0.1, window 10: the reference ``gl2o``). Checked by GL2O's own constructor."""

    delta: float | None = None
    theta: float | None = None
    mu_rule: str | None = None
    window: int | None = None

    def validate(self, where):
        try:
            GL2O(None, lr=1.0, **given(self))
        except ValueError as e:
            raise ConfigError(f"{where}: {e}") from None

    def to_dict(self) -> dict:
        return given(self)


@dataclass(frozen=True, kw_only=True)
class AblationConfig(RunConfig):
    """Stage 09: guard variants beside the references (and GL2O at more settings) on one task."""

    guards: dict[str, GuardConfig]
    gl2o: dict[str, GL2OConfig] = field(default_factory=dict)

    def validate(self, where):
        if not self.guards:
            raise ConfigError(f"{where}.guards: name at least one guard variant")

    def to_dict(self) -> dict:
        return {**super().to_dict(), "guards": {k: v.to_dict() for k, v in self.guards.items()},
                "gl2o": {k: v.to_dict() for k, v in self.gl2o.items()}}


REFERENCES = ("sgd", "adam", "l2o", "gl2o")


def variant_name(name: str) -> str:
    return f"lgl2o[{name}]"


def gl2o_name(name: str) -> str:
    return f"gl2o[{name}]"


def kind(optimizer: str) -> str:
    """"reference", "gl2o" (GL2O at another setting) or "variant" (an LGL2O variant)."""
    return "reference" if optimizer in REFERENCES else "gl2o" if optimizer.startswith("gl2o[") else "variant"


def variant_optimizer(net, lrs: dict, spec: GuardConfig) -> LGL2O:
    """The LGL2O of one variant (its settings were checked when ``spec`` was built)."""
    spec = spec.to_dict()
    fallback, lr = spec.pop("fallback", "sgd"), spec.pop("fallback_lr", None)
    step = SGD(lr if lr is not None else lrs["sgd"]) if fallback == "sgd" else Adam(lr if lr is not None else lrs["adam"])
    return LGL2O(L2O(net), step, **spec)


def ablation_optimizers(net, lrs: dict, variants: dict[str, GuardConfig], references: bool = True,
                        gl2o: dict[str, GL2OConfig] | None = None) -> dict:
    """The references (SGD, Adam, L2O, GL2O at the tuned rates; unless ``references`` is False), GL2O at
    each setting of ``gl2o`` (its fallback SGD at the tuned rate, as the reference's), and one LGL2O per
    variant."""
    refs = comparison_optimizers(net, lrs) if references else {}
    opts = {name: refs[name] for name in REFERENCES if name in refs}
    opts.update({gl2o_name(n): GL2O(L2O(net), lr=float(lrs["sgd"]), **spec.to_dict()) for n, spec in (gl2o or {}).items()})
    opts.update({variant_name(n): variant_optimizer(net, lrs, spec) for n, spec in variants.items()})
    return opts


def run_ablation(cfg: AblationConfig, out_dir=None, progress=True, references: bool = True):
    """Run every variant of ``cfg.guards`` and (unless ``references`` is False) the references on
    ``cfg.task``; returns (table, summary, problem) and, with ``out_dir``, writes ``curves.csv`` and
    ``metrics.json`` there."""
    run = prepare(cfg)
    lrs, problem = run.lrs, run.problem
    optimizers = ablation_optimizers(run.net, lrs, cfg.guards, references, cfg.gl2o)
    table, summary = evaluate_and_save(problem, optimizers, steps=cfg.steps, seeds=cfg.seeds, log_every=cfg.log_every,
                                       report_steps=cfg.report_steps, out_dir=out_dir,
                                       meta={"lr": lrs, "l2o": str(cfg.l2o_checkpoint),
                                             "variants": {name: v.to_dict() for name, v in cfg.guards.items()},
                                             **({"gl2o": {n: v.to_dict() for n, v in cfg.gl2o.items()}}
                                                if cfg.gl2o else {})},
                                       progress=progress)
    return table, summary, problem


def tidy_summary(table: pd.DataFrame, summary: dict) -> pd.DataFrame:
    """One row per optimizer x reported step: mean, CI, L2O share, passes per step, diverged seeds."""
    last = int(table.step.max())
    end = table[table.step == last].groupby("optimizer")[["fwd", "bwd", "examples"]].first() / last
    rows = []
    for name, e in summary.items():
        for key, v in e.items():
            if key.startswith("full_loss@"):
                rows.append({"optimizer": name, "kind": kind(name),
                             "step": int(key.split("@")[1]), "mean": v["mean"], "ci_low": v["ci95"][0],
                             "ci_high": v["ci95"][1], "share": e.get("proposal_share", np.nan),
                             "fwd_per_step": end.fwd[name], "bwd_per_step": end.bwd[name],
                             "examples_per_step": end.examples[name],
                             "diverged": f"{e['diverged_seeds']}/{e['seeds']}"})
    return pd.DataFrame(rows)


def recommend(tidy: pd.DataFrame, early: int, late: int, keep: float = 0.10):
    """The variant to use by default, by a rule fixed before the runs: among the variants whose loss at
    step ``early`` is within ``keep`` (relative) of the L2O's (they keep the fast start), the lowest mean
    loss at step ``late``. Returns (name, reason); name is None if no variant keeps the fast start."""
    at = lambda step: tidy[tidy.step == step].set_index("optimizer")["mean"]  # noqa: E731
    e, f = at(early), at(late)
    l2o_early = e.get("l2o", np.nan)
    variants = [n for n in tidy[tidy.kind == "variant"].optimizer.unique() if n in e and n in f]
    fast = [n for n in variants if e[n] <= (1 + keep) * l2o_early]
    if not fast:
        return None, (f"no variant is within {keep:.0%} of the L2O's loss at step {early} "
                      f"({l2o_early:.4g}); the fast start is lost by every estimate")
    best = min(fast, key=lambda n: f[n])
    return best, (f"{best}: loss {e[best]:.4g} at step {early} (L2O {l2o_early:.4g}, SGD {e.get('sgd', np.nan):.4g}) "
                  f"and {f[best]:.4g} at step {late} (SGD {f.get('sgd', np.nan):.4g}, Adam {f.get('adam', np.nan):.4g}, "
                  f"GL2O {f.get('gl2o', np.nan):.4g}); {len(fast)} of {len(variants)} variants kept the fast start")
