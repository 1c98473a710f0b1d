"""The shared figure style: one colour per optimizer across every figure, log axes, 95% bands."""
from __future__ import annotations

import os

import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np
import seaborn as sns

from ..core.io import atomic
from ..experiments.stats import mean_ci

COLORS = {
    "sgd": "#1f77b4",
    "adam": "#ff7f0e",
    "l2o": "#d62728",
    "gl2o": "#9467bd",
    "lgl2o-sgd": "#2ca02c",
    "lgl2o-adam": "#17becf",
    "lgl2o-paper": "#8c564b",
    "lgl2o-paper-same": "#e377c2",
    "lgl2o-paper-next": "#bcbd22",
    # the convex-guarantee figure
    "gd": "#1f77b4",
    "lgl2o(l2o)": "#2ca02c",
    "lgl2o(random)": "#e377c2",
    "lgl2o(divergent)": "#bcbd22",
}


# legend labels that differ from the optimizer's key: the paper's rule is named by its reading
LABELS = {"lgl2o-paper": "lgl2o-paper-fresh"}


def label(name: str) -> str:
    return LABELS.get(name, name)


def color(name: str) -> str:
    return COLORS.get(name, COLORS.get(name.split("@")[0], "#7f7f7f"))


def style():
    sns.set_theme(context="notebook", style="whitegrid", font_scale=0.95)


def save(fig, path: str | os.PathLike, scale_note: str | None = None):
    """Write ``fig`` as PNG atomically; ``scale_note`` (e.g. "smoke scale: 2 seeds, 50 steps") is
    printed in the corner so that a figure always says at what scale it was made."""
    if scale_note:
        fig.text(0.995, 0.005, scale_note, ha="right", va="bottom", fontsize=7, color="0.4")
    with atomic(path) as tmp:
        fig.savefig(tmp, dpi=130, bbox_inches="tight")


def lr_grid(summary, title: str = ""):
    """Loss against learning rate, one panel per horizon, mean and 95% CI over seeds."""
    style()
    steps = sorted(summary.step.unique())
    fig, axes = plt.subplots(1, len(steps), figsize=(4.2 * len(steps), 3.4), squeeze=False)
    for ax, step in zip(axes[0], steps):
        for opt, g in summary[summary.step == step].groupby("optimizer"):
            g = g.sort_values("lr")
            ax.plot(g.lr, g["mean"], "o-", color=color(opt), label=opt)
            ax.fill_between(g.lr, g.ci_low, g.ci_high, color=color(opt), alpha=0.2)
        ax.set(xscale="log", yscale="log", xlabel="learning rate", ylabel="full training loss",
               title=f"after {step} steps")
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _band(g, metric):
    """Mean and 95% t-interval over seeds at each step (diverged seeds excluded, counted by the caller);
    with fewer than 3 seeds the band is their min-max (a t-interval with 1 degree of freedom would reach
    values no seed had)."""
    rows = []
    for step, s in g.groupby("step"):
        v = s[metric].to_numpy(float)
        v = v[np.isfinite(v)]
        if len(v):
            m, lo, hi = mean_ci(v) if len(v) >= 3 else (float(v.mean()), float(v.min()), float(v.max()))
            rows.append((step, m, max(lo, m / 100) if m > 0 else lo, hi))  # a log axis has no room below 0
    return np.array(rows).reshape(-1, 4)


def _plot_band(ax, g, metric, name, **line):
    """Mean line and band over seeds (``_band``) of ``metric`` against step + 1; returns the band rows."""
    b = _band(g, metric)
    x = b[:, 0] + 1  # step 0 on a log axis
    ax.plot(x, b[:, 1], color=color(name), **{"label": name, "lw": 1.6, **line})
    ax.fill_between(x, b[:, 2], b[:, 3], color=color(name), alpha=0.18, lw=0)
    return b


def loss_curves(df, metric: str = "full_loss", title: str = "", order=None):
    """Loss against step on log axes (mean and 95% band over seeds), one colour per optimizer; a second
    panel with the share of steps on which a guard took the L2O proposal, when a guard is present.

    A run that diverged ends its curve with an x at its last finite point, and the legend counts such runs.
    """
    style()
    guards = [o for o in df.optimizer.unique() if df[df.optimizer == o].proposal_share.notna().any()]
    ncols = 2 if guards else 1
    fig, axes = plt.subplots(1, ncols, figsize=(6.2 * ncols, 4.0), squeeze=False)
    ax = axes[0][0]
    names = order or list(dict.fromkeys(df.optimizer))
    for name in names:
        g = df[(df.optimizer == name) & df[metric].notna()]
        if g.empty:
            continue
        n_div = int(g.groupby("seed").diverged_at.first().ge(0).sum()) if "diverged_at" in g else 0
        b = _plot_band(ax, g, metric, name, label=label(name) + (f" ({n_div} diverged)" if n_div else ""))
        if n_div:
            ax.plot(b[-1:, 0] + 1, b[-1:, 1], "x", color=color(name), ms=9, mew=2)
    ax.set(xscale="log", yscale="log", xlabel="step + 1", ylabel=metric.replace("_", " "), title=title)
    ax.legend(fontsize=8)
    if guards:
        ax2 = axes[0][1]
        for name in guards:
            g = df[(df.optimizer == name) & df.proposal_share.notna()]
            m = g.groupby("step").proposal_share.mean()
            ax2.plot(m.index + 1, m.values, color=color(name), label=label(name), lw=1.4)
        ax2.set(xscale="log", ylim=(-0.03, 1.03), xlabel="step + 1", ylabel="share of steps taking the L2O proposal",
                title="guard decisions (mean over seeds, per logging interval)")
        ax2.legend(fontsize=8)
    fig.tight_layout()
    return fig


def meta_learning_curve(log, title: str = "meta-training", objective: str = "sum"):
    """Meta-loss per meta-step (for the "log" objective exp of it: the unroll's geometric-mean loss), the
    validation loss, and the boundaries of curriculum phases where the log has a ``phase`` column."""
    style()
    fig, ax = plt.subplots(figsize=(6.2, 3.8))
    y, what = (np.exp(log.meta_loss), "geometric mean") if objective == "log" else (log.meta_loss, "mean")
    ax.plot(log.meta_step, y, color="0.6", lw=0.8, label=f"meta-loss ({what} per unrolled step)")
    smooth = y.rolling(max(1, len(log) // 50), min_periods=1).mean()
    ax.plot(log.meta_step, smooth, color=color("l2o"), lw=1.6, label="meta-loss, smoothed")
    v = log.dropna(subset=["val_loss"])
    ax.plot(v.meta_step, v.val_loss, "o-", color="k", ms=4, label="validation (held-out seeds and examples)")
    if "phase" in log:
        for step in log.meta_step[log.phase.diff() > 0]:
            ax.axvline(step, color="0.3", ls=":", lw=1)
    ax.set(xlabel="meta-step", ylabel="loss", yscale="log", title=title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def gap_vs_bound(table, title: str = ""):
    """f(x_k) - f* per optimizer (mean and 95% band over seeds) with the linear-rate bound, dashed."""
    style()
    fig, ax = plt.subplots(figsize=(6.8, 4.2))
    for name, g in table.groupby("optimizer", sort=False):
        unguarded = not name.startswith("lgl2o")
        _plot_band(ax, g, "gap", name, lw=3.0 if unguarded else 1.6, ls=":" if unguarded else "-")
    bound = table.groupby("step").bound.mean()
    ax.plot(bound.index + 1, bound.values, "k--", lw=1.2, label="bound (1 - mu/L)^k (f(x0) - f*)")
    ax.set(xscale="log", yscale="log", xlabel="step + 1", ylabel="f(x_k) - f*", title=title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def cost_bars(cost, title: str = ""):
    """Milliseconds per step (left) and forward/backward passes per step (right), one bar per optimizer."""
    style()
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.6))
    colors = [color(n) for n in cost.optimizer]
    a.bar(cost.optimizer, cost.ms, color=colors)
    for x, (ms, r) in enumerate(zip(cost.ms, cost.ratio_to_sgd)):
        a.text(x, ms, f"{r:.1f}x", ha="center", va="bottom", fontsize=8)
    a.set(ylabel="ms per step (median)", title="time per step (ratio to SGD)")
    x = np.arange(len(cost))
    b.bar(x - 0.2, cost.fwd, 0.4, label="forward passes", color="0.35")
    b.bar(x + 0.2, cost.bwd, 0.4, label="backward passes", color="0.7")
    b.set_xticks(x, cost.optimizer)
    b.set(ylabel="passes per step", title="passes per step")
    b.legend(fontsize=8)
    for ax in (a, b):
        ax.tick_params(axis="x", rotation=30)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def ablation_dots(tidy, title: str = ""):
    """The guard ablation at a glance: one row per variant (references on top), loss at each reported
    step as a dot with its 95% CI (log axis; SGD and Adam as dashed lines for reference), and the share
    of steps on which the variant took the L2O."""
    style()
    steps = sorted(tidy.step.unique())
    refs = [n for n in ("sgd", "adam", "l2o", "gl2o") if n in set(tidy.optimizer)]
    names = refs + [n for n in dict.fromkeys(tidy.optimizer) if n not in refs]
    y = {n: i for i, n in enumerate(names)}
    fig, axes = plt.subplots(1, len(steps) + 1, figsize=(3.3 * (len(steps) + 1), 0.32 * len(names) + 1.6),
                             sharey=True, squeeze=False)
    axes = axes[0]

    def dot_color(n):
        if n in COLORS or n.startswith("gl2o["):
            return color(n.split("[")[0])
        return color("lgl2o-adam" if "adam" in n else "lgl2o-sgd")

    for ax, step in zip(axes, steps):
        t = tidy[tidy.step == step]
        for r in t.itertuples():
            ax.errorbar(r.mean, y[r.optimizer], xerr=[[r.mean - max(r.ci_low, r.mean / 100)], [r.ci_high - r.mean]],
                        fmt="o", color=dot_color(r.optimizer), ms=5, capsize=2)
        for ref, ls in (("sgd", "--"), ("adam", ":")):
            m = t[t.optimizer == ref]["mean"]
            if len(m):
                ax.axvline(m.iloc[0], color=color(ref), ls=ls, lw=1)
        ax.set(xscale="log", title=f"full training loss, step {step}", xlabel="loss (mean, 95% CI)")
        # a log axis shorter than a decade may hold no labelled tick: a few plain ones instead
        ax.xaxis.set_major_locator(mticker.MaxNLocator(4))
        ax.xaxis.set_major_formatter(mticker.FormatStrFormatter("%.3g"))
        ax.xaxis.set_minor_locator(mticker.NullLocator())
    share = tidy.drop_duplicates("optimizer").dropna(subset=["share"])
    axes[-1].barh([y[n] for n in share.optimizer], share.share, color=[dot_color(n) for n in share.optimizer])
    axes[-1].set(xlim=(0, 1), title="share of steps taking the L2O", xlabel="share (all steps)")
    axes[0].set_yticks(range(len(names)), names)
    axes[0].invert_yaxis()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
