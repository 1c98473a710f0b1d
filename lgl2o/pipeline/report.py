"""docs/results.md's tables, generated from the committed stage summaries (never typed by hand).

    python -m lgl2o.pipeline.report          # rewrite the block between the results markers in docs/results.md
    python -m lgl2o.pipeline.report --check  # exit 1 if docs/results.md is out of date with results/
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..core.paths import RESULTS, ROOT
from ..experiments.runs import ORDER
from .stages.show import FEW_SEEDS, seed_table

PAGE = "docs/results.md"
START, END = "<!-- results:start (python -m lgl2o.pipeline.report) -->", "<!-- results:end -->"


def _fmt(e: dict | None) -> str:
    if not e:
        return "–"
    lo, hi = e["ci95"]
    return f"{e['mean']:.3f} [{lo:.3f}, {hi:.3f}]"


def _per_seed_cells(stage_dir: Path, keys: list[str]) -> dict:
    """{(optimizer, key): "mean (seed values)"} from the stage's curves.csv, for a stage of few seeds."""
    import pandas as pd

    shown = seed_table(pd.read_csv(stage_dir / "curves.csv"), [int(k.split("@")[1]) for k in keys])
    return {(name, k): row[k] for name, row in shown.iterrows() for k in [*keys, "test_acc"] if isinstance(row.get(k), str)}


def _comparison(stage: str, metrics: dict, stage_dir: Path | None = None) -> list[str]:
    ops = metrics["optimizers"]
    keys = sorted({k for e in ops.values() for k in e if k.startswith("full_loss@")}, key=lambda k: int(k.split("@")[1]))
    head = ["optimizer", *[f"loss @ {k.split('@')[1]}" for k in keys], "test acc.", "L2O share", "diverged"]
    what = ", ".join(x for x in (metrics.get("task"), f"{metrics['steps']} steps" if "steps" in metrics else None,
                                 f"{len(metrics['seeds'])} seeds") if x)
    few = len(metrics["seeds"]) <= FEW_SEEDS and stage_dir is not None  # a t-interval on 1 dof says nothing
    cells = _per_seed_cells(stage_dir, keys) if few else {}
    how = "mean (each seed's value)" if few else "mean [95% CI]"
    lines = [f"**{stage}** — {what} (full-training-set loss, {how}; [figure](../figures/{stage}.png))", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name in [n for n in ORDER if n in ops] + [n for n in ops if n not in ORDER]:
        e = ops[name]
        share = f"{e['proposal_share']:.2f}" if "proposal_share" in e else "–"
        values = [cells.get((name, k), "–") if few else _fmt(e.get(k)) for k in [*keys, "test_acc"]]
        lines.append("| " + " | ".join([name, *values, share, f"{e['diverged_seeds']}/{e['seeds']}"]) + " |")
    return lines + [""]


def durations() -> list[dict]:
    """Per executed stage notebook: its minutes (``run_minutes``) and date, and the machine and L2O step the
    stage runner recorded (older runs lack the machine; a run that kept an earlier one's optimizers: its
    own); per piece of a stage run in pieces, the same from
    the piece's record (for a piece resumed from a checkpoint, the minutes spent stepping in all sittings)."""
    rows = []
    for nb in sorted(RESULTS.rglob("notebook.ipynb")):
        meta = json.loads(nb.read_text())["metadata"]
        pm, run = meta.get("papermill", {}), meta.get("lgl2o", {})
        params = pm.get("parameters", {})
        config = params.get("config") or params  # older runs passed the configuration's keys one by one
        host = run.get("host", {})
        rows.append({"stage": str(nb.parent.relative_to(RESULTS)), "minutes": run_minutes(nb),
                     "date": (pm.get("start_time") or "")[:10],
                     "l2o_step": run.get("l2o_step") or config.get("l2o_step") or "–",
                     "cpu": host.get("cpu", "not recorded"), "threads": host.get("threads", "–")})
    for record in sorted(RESULTS.glob("*/runs/*.json")):  # the pieces of a stage run in pieces
        r = json.loads(record.read_text())
        minutes = r["stepping_minutes"] if r["resumed_from"] else r["minutes"]
        rows.append({"stage": f"{record.parent.parent.name}_run@{record.stem}", "minutes": minutes,
                     "date": r["started"][:10], "l2o_step": r["l2o_step"] if "l2o" in r["optimizer"] else "–",
                     "cpu": r["host"]["cpu"], "threads": r["host"]["threads"]})
    return rows


def run_minutes(notebook) -> float:
    """An executed stage notebook's minutes in all: papermill's duration and, where the run kept the
    optimizers of an earlier one (``pipeline.reuse``), the minutes that one took (``earlier_minutes``)."""
    meta = json.loads(Path(notebook).read_text())["metadata"]
    return (meta.get("papermill", {}).get("duration") or 0) / 60 + meta.get("lgl2o", {}).get("earlier_minutes", 0)


def total_hours(rows=None) -> float:
    """The sum of the stages' durations, in hours: how long ``dvc repro -f`` takes, one stage at a time."""
    return sum(r["minutes"] for r in (rows if rows is not None else durations())) / 60


def _durations() -> list[str]:
    rows = durations()
    lines = [f"**Durations** — each executed notebook's papermill record, one stage at a time (2 threads), or "
             f"two at once with one thread each (threads 1); in all {total_hours(rows):.1f} h", "", "| stage | minutes | run on | L2O step | CPU | threads |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['stage']} | {r['minutes']:.1f} | {r['date']} | {r['l2o_step']} | {r['cpu']} | {r['threads']} |")
    return lines + [""]


def render() -> str:
    out = [START, ""]
    for stage_dir in sorted(p for p in RESULTS.glob("*") if p.is_dir()):
        best = stage_dir / "best.json"
        if best.exists():
            b = json.loads(best.read_text())
            rates = "; ".join(f"after {h} steps: " + ", ".join(f"{o} {lr:g}" for o, lr in sorted(v.items()))
                              for h, v in sorted(b["best_lr"].items(), key=lambda kv: int(kv[0])))
            out += [f"**{stage_dir.name}** — {b['task']}, {len(b['seeds'])} seeds: best rates {rates} "
                    f"([figure](../figures/{stage_dir.name}.png))", ""]
        for m in sorted(stage_dir.rglob("summary.json")):
            metrics = json.loads(m.read_text())
            name = str(m.parent.relative_to(RESULTS)).replace("/", "_")
            if "optimizers" in metrics:
                out += _comparison(name, metrics, m.parent)
            elif "bound_violations" in metrics:
                out += [f"**{name}** — {metrics['task']}, {metrics['steps']} steps, {len(metrics['seeds'])} seeds: "
                        f"{metrics['bound_violations']} logged points of a guarded run above the bound "
                        f"(1 - mu/L)^k (f(x0) - f*) = {metrics['final_bound']:.3g} at the end; final f - f*: "
                        + ", ".join(f"{k} {v:.3g}" for k, v in metrics["final_gap"].items())
                        + f" ([figure](../figures/{name}.png))", ""]
    return "\n".join(out + _durations() + [END])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lgl2o.pipeline.report", description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args(argv)
    page = ROOT / PAGE
    text = page.read_text()
    if START not in text or END not in text:
        print(f"{PAGE} lacks the markers {START} ... {END}", file=sys.stderr)
        return 1
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    new = head + render() + tail
    if args.check:
        if new != text:
            print(f"{PAGE} is out of date with results/: run `python -m lgl2o.pipeline.report`", file=sys.stderr)
            return 1
        return 0
    page.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
