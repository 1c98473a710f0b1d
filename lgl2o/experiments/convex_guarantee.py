"""Stage 07's analysis: the guarded runs on a strongly convex quadratic against GD's linear rate."""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from ..core import io
from ..engine.loop import evaluate
from ..l2o.checkpoint import load_l2o
from ..l2o.model import LSTMOptimizer
from ..l2o.optimizer import L2O
from ..optim.adversarial import Divergent, RandomStep
from ..optim.baselines import SGD
from ..optim.guards import LGL2O
from ..problems.tasks import Quadratic
from .config import Config, ConfigError, checked, device, finite, l2o_checkpoint, non_negative, positive, seeds
from .summary import save_summary


@dataclass(frozen=True)
class QuadraticConfig(Config):
    """A strongly convex quadratic (``problems.tasks.Quadratic``)."""

    dim: int = field(metadata=checked(positive))
    mu: float = field(metadata=checked(positive))
    L: float = field(metadata=checked(positive))
    f_star: float = field(metadata=checked(finite))
    seed: int = field(default=0, metadata=checked(non_negative))

    def validate(self, where):
        if not self.mu <= self.L:
            raise ConfigError(f"{where}: need mu <= L, got mu={self.mu}, L={self.L}")


@dataclass(frozen=True)
class ConvexConfig(Config):
    """Stage 07: the guarded runs on a strongly convex quadratic against GD's rate."""

    quadratic: QuadraticConfig
    l2o_checkpoint: str | None = field(metadata=checked(l2o_checkpoint))
    steps: int = field(metadata=checked(positive))
    seeds: list[int] = field(metadata=checked(seeds))
    device: str = field(default="cpu", metadata=checked(device))


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


def convex_optimizers(net, problem) -> dict:
    """GD at the theorem's descent step 1/L, the L2O alone, and LGL2O (exact losses, GD fallback) around
    the L2O, a random proposal and a divergent one (x -> 10x + 1)."""
    gd = lambda: SGD(1.0 / problem.L)  # noqa: E731 - a fresh GD per guard
    return {
        "gd": gd(),
        "l2o": L2O(net),
        "lgl2o(l2o)": LGL2O(L2O(net), gd(), compare="full"),
        "lgl2o(random)": LGL2O(RandomStep(scale=1.0, seed=0), gd(), compare="full"),
        "lgl2o(divergent)": LGL2O(Divergent(), gd(), compare="full"),
    }


def run_convex(cfg: ConvexConfig, out_dir=None):
    """Every optimizer of ``convex_optimizers`` on the quadratic, exact gradients, every step logged; with
    ``out_dir``, ``curves.csv``, ``summary.json`` and ``metrics.json`` there. Returns (table with gap and bound, violations,
    final gaps, problem)."""
    net = load_l2o(cfg.l2o_checkpoint, cfg.device) if cfg.l2o_checkpoint else LSTMOptimizer().to(cfg.device)
    problem = Quadratic(**cfg.quadratic.to_dict(), device=cfg.device)
    steps = cfg.steps
    table = evaluate(problem, convex_optimizers(net, problem), steps=steps, seeds=cfg.seeds, log_every=1,
                     test_accuracy=False)
    table = with_linear_rate_bound(table, problem)
    violations = bound_violations(table[table.optimizer.str.startswith("lgl2o")])
    final = table[table.step == steps].groupby("optimizer").gap.agg(["mean", "max"])
    if out_dir is not None:
        io.write_csv(table, f"{out_dir}/curves.csv")
        save_summary({"task": problem.name, "steps": steps, "seeds": list(cfg.seeds), "bound_violations": violations,
                       "final_gap": final["mean"].to_dict(),
                       "final_bound": float(table[table.step == steps].bound.mean())}, out_dir)
    return table, violations, final, problem
