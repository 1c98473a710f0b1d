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
