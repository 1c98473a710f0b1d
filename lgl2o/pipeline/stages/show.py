"""What a stage's notebook shows, and the smoke settings the notebooks share."""
from __future__ import annotations

import base64
import io
from dataclasses import dataclass, field

import pandas as pd

from .. import plots

MNIST_MLP = {"kind": "mlp", "dataset": "mnist", "hidden": [20], "activation": "sigmoid", "batch_size": 128}
SMOKE_RATES = {"sgd": 3.0, "adam": 0.03}  # in place of stage 01's best.json in smoke runs


@dataclass
class Shown:
    """A table and figures (PNG bytes), shown as HTML in Jupyter; ``data`` keeps what the stage computed."""

    table: pd.DataFrame | None = None
    figures: list[bytes] = field(default_factory=list)
    text: str = ""
    data: dict = field(default_factory=dict)

    def _repr_html_(self) -> str:
        parts = [f"<pre>{self.text}</pre>"] if self.text else []
        if self.table is not None:
            parts.append(self.table.to_html())
        parts += [f'<img src="data:image/png;base64,{base64.b64encode(png).decode()}"/>' for png in self.figures]
        return "\n".join(parts)


FEW_SEEDS = 2  # up to this many seeds a 95% t-interval says nothing (1 degree of freedom): show the seeds


def per_seed(values) -> str:
    """``mean (seed values)``: ``0.0216 (0.00977, 0.0334)``."""
    values = [float(v) for v in values]
    return f"{sum(values) / len(values):.4g} ({', '.join(f'{v:.4g}' for v in values)})"


def seed_table(table: pd.DataFrame, steps, proposal_share: dict | None = None) -> pd.DataFrame:
    """One row per optimizer: the full-training-set loss at each of ``steps`` it reached as ``per_seed``, and
    its L2O share; for runs over ``FEW_SEEDS`` seeds or fewer, in place of ``summary_table``'s intervals."""
    rows = []
    for name, g in table.groupby("optimizer", sort=False):
        row = {"optimizer": name}
        for s in steps:
            at = g[g.step == s].sort_values("seed")
            if len(at):
                row[f"full_loss@{s}"] = per_seed(at.full_loss)
        last = g[g.step == g.step.max()].sort_values("seed")
        row["test_acc"] = per_seed(last.test_acc)
        share = (proposal_share or {}).get(name)
        row["L2O share"] = "–" if share is None else f"{share:.2f}"
        rows.append(row)
    return pd.DataFrame(rows).set_index("optimizer")


def save(fig, path, scale_note) -> bytes:
    """Save ``fig`` to ``path`` with its scale note (``plots.save``); return it as PNG bytes and close it."""
    import matplotlib.pyplot as plt

    plots.save(fig, path, scale_note=scale_note)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def scale(seeds, steps, checkpoint=None) -> str:
    """The scale note of a figure: seeds, steps and (where ``checkpoint`` is not False) the L2O."""
    n = seeds if isinstance(seeds, int) else len(seeds)
    note = f"{n} seed{'s' if n != 1 else ''}, {steps} steps"
    return note if checkpoint is False else f"{note}, L2O: {checkpoint or 'untrained (smoke)'}"
