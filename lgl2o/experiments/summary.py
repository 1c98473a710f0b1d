"""Per-experiment summaries of the tidy run tables: losses at chosen steps with 95% CIs over seeds,
diverged seeds, and the share of steps on which a guard took the L2O proposal (plain JSON for DVC)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd

from ..core import io
from .stats import mean_ci


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


def headline(doc: dict) -> dict:
    """The measured numbers ``dvc metrics show`` lists for one stage, projected from its ``summary.json``
    document (which also records the task, seeds and rates): comparisons give each optimizer's final
    full-training-set loss (mean over seeds), each guard's L2O share and the diverged seeds in all (an
    ablation: its references' losses and the best of its variants and of GL2O's settings); the
    convex check its bound violations and the final gaps of the L2O alone and guarded; the cost table the
    L2O step against SGD's and the guard's step against the L2O's."""
    if "optimizers" in doc:
        ops = doc["optimizers"]
        out = {"loss": {}, "diverged_seeds": sum(e["diverged_seeds"] for e in ops.values())}
        for name, e in ops.items():
            last = max((k for k in e if k.startswith("full_loss@")), key=lambda k: int(k.split("@")[1]), default=None)
            if last is not None:
                out["loss"][name] = e[last]["mean"]
        if "variants" not in doc:
            out["share"] = {name: e["proposal_share"] for name, e in ops.items() if "proposal_share" in e}
            return out
        # an ablation: its references, and the lowest final loss among its LGL2O variants and among GL2O's
        # other settings; every loss and share is in its summary and figure, not two dozen more columns
        losses = out["loss"]
        out["loss"] = {name: v for name, v in losses.items() if "[" not in name}
        out["best_loss"] = {family: min(v for name, v in losses.items() if name.startswith(prefix))
                            for family, prefix in (("lgl2o_variant", "lgl2o["), ("gl2o_setting", "gl2o["))
                            if any(name.startswith(prefix) for name in losses)}
        return out
    if "bound_violations" in doc:
        return {"bound_violations": doc["bound_violations"],
                "final_gap": {k: doc["final_gap"][k] for k in ("l2o", "lgl2o(l2o)") if k in doc["final_gap"]}}
    if "per_step" in doc:
        ms = {name: e["ms"] for name, e in doc["per_step"].items()}
        return {"l2o_vs_sgd": ms["l2o"] / ms["sgd"], "lgl2o_sgd_vs_l2o": ms["lgl2o-sgd"] / ms["l2o"]}
    raise ValueError(f"no headline for a summary with keys {sorted(doc)}")


def save_summary(doc: dict, out_dir) -> None:
    """``summary.json`` (``doc``, everything the stage reports) and ``metrics.json`` (its ``headline``)."""
    io.write_json(doc, f"{out_dir}/summary.json")
    io.write_json(headline(json.loads(json.dumps(doc))), f"{out_dir}/metrics.json")
