"""How far two runs of a stage agree: every mean at a reported step, per optimizer, old against new.

    python scripts/summary_diff.py <old summary.json> <new summary.json>
    git show HEAD:results/03_in_distribution/summary.json > /tmp/old.json && python scripts/summary_diff.py /tmp/old.json results/03_in_distribution/summary.json

Prints each optimizer's means at the reported steps (full-training-set loss, test accuracy, L2O share)
with the relative change, and the largest change per optimizer family.
"""
import argparse
import json


def rows(old: dict, new: dict):
    for name, e in old["optimizers"].items():
        f = new["optimizers"].get(name)
        if f is None:
            continue
        for key in sorted(e, key=lambda k: (not k.startswith("full_loss@"), int(k.split("@")[1]) if "@" in k else 0)):
            a, b = e[key], f.get(key)
            if isinstance(a, dict):
                a, b = a["mean"], (b or {}).get("mean")
            if isinstance(a, float) and isinstance(b, float):
                yield name, key, a, b, (b - a) / abs(a) if a else float("nan")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="scripts/summary_diff.py", description=__doc__.splitlines()[0])
    ap.add_argument("old", help="a stage's summary.json before (e.g. from git show)")
    ap.add_argument("new", help="the same stage's summary.json after")
    args = ap.parse_args(argv)
    old, new = (json.loads(open(p).read()) for p in (args.old, args.new))
    worst = {}
    for name, key, a, b, rel in rows(old, new):
        print(f"{name:<14} {key:<18} {a:10.4f} {b:10.4f} {100 * rel:+7.2f}%")
        family = "l2o-based" if "l2o" in name else "sgd/adam"
        if key.startswith("full_loss@"):
            worst[family] = max(worst.get(family, 0.0), abs(rel))
    for family, w in worst.items():
        print(f"largest change of a mean loss at a reported step, {family}: {100 * w:.2f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
