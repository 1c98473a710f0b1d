"""Meta-training probe on a GPU (run through the device tool): does more meta-training, with more
optimizees per meta-step, take the L2O past tuned SGD and Adam at step 100 (issue "Meta-training")?

    python scripts/device/meta_probe.py OUT SECONDS NAME='{"optimizees": 32, ...}' [NAME=...]

Each named configuration (overrides of params.yaml's 02_meta_train config) meta-trains in its own process
for SECONDS wall-clock seconds (all at once, on the one GPU), then is killed: meta-training is resumable,
so OUT/NAME/last.pt is a valid state to continue from, and OUT/NAME/l2o.{pt,json} is its best-validation
checkpoint. Each best checkpoint is then evaluated as stage 02 evaluates it: 10 unseen seeds, 1000 steps,
full training loss at steps 20, 100 and 1000 against SGD and Adam at their stage-01 rates for 100 steps.
Results: OUT/probe.json.
"""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from lgl2o import experiments, l2o, run, tasks  # noqa: E402
from lgl2o.optimizers import SGD, Adam, L2O  # noqa: E402

TRAIN = """
import sys, json
sys.path.insert(0, {root!r})
from lgl2o import meta
cfg = meta.MetaConfig(**json.loads({cfg!r}))
meta.meta_train(cfg, {work!r}, device={device!r}, progress=False)
"""


DEVICE = os.environ.get("PROBE_DEVICE", "cuda")  # cpu: a smoke run of this script


def main():
    out, seconds = Path(sys.argv[1]), float(sys.argv[2])
    configs = dict(a.split("=", 1) for a in sys.argv[3:])
    params = yaml.safe_load((ROOT / "params.yaml").read_text())["02_meta_train"]
    procs, cfgs = {}, {}
    for name, over in configs.items():
        cfg = {**params["config"], **json.loads(over), "episodes": 1_000_000}
        cfgs[name] = cfg
        (out / name).mkdir(parents=True, exist_ok=True)
        code = TRAIN.format(root=str(ROOT), cfg=json.dumps(cfg), work=str(out / name), device=DEVICE)
        procs[name] = subprocess.Popen([sys.executable, "-c", code], stdout=open(out / f"{name}.log", "w"),
                                       stderr=subprocess.STDOUT)
    t0 = time.time()
    while time.time() - t0 < seconds and any(p.poll() is None for p in procs.values()):
        time.sleep(2)
    for p in procs.values():
        p.kill()
        p.wait()
    lrs = experiments.tuned_rates(params["baselines_from"], params["baseline_horizon"])
    task = tasks.make_task(**{**params["config"]["task"], "hidden": (20,)}, device=DEVICE)
    seeds, report = params["eval_seeds"], params["report_steps"]
    steps = int(os.environ.get("PROBE_EVAL_STEPS", params["eval_steps"]))
    gpu = torch.cuda.get_device_name() if DEVICE == "cuda" else None
    result = {"seconds": seconds, "device": DEVICE, "gpu": gpu, "torch": torch.__version__, "lr": lrs, "eval_steps": steps}
    base = run.evaluate(task, {"sgd": SGD(lrs["sgd"]), "adam": Adam(lrs["adam"])}, steps=steps,
                        seeds=seeds, log_every=10, progress=False)
    report = [s for s in report if s <= steps]
    result["baselines"] = experiments.summarize(base, report)
    candidates = {name: out / name / "l2o" for name in configs}
    candidates["committed"] = ROOT / "models" / "l2o"
    for name, path in candidates.items():
        entry = {"config": cfgs.get(name)}
        try:
            net, info = l2o.load(path, device=DEVICE)
        except l2o.CheckpointError as e:
            result[name] = {**entry, "error": str(e)}
            continue
        last = out / name / "last.pt"
        if last.exists():
            ck = torch.load(last, weights_only=True, map_location="cpu")
            entry.update(episodes=ck["episode"], meta_wall_s=ck["wall"], skipped=sum(r["skipped"] for r in ck["rows"]),
                         val=[(r["meta_step"], r["val_loss"]) for r in ck["rows"] if r["val_loss"] == r["val_loss"]])
        table = run.evaluate(task, {"l2o": L2O(net)}, steps=steps, seeds=seeds, log_every=10,
                             progress=False)
        entry.update(best_meta_step=info.get("meta_step"), best_val=info.get("val_loss"),
                     l2o=experiments.summarize(table, report)["l2o"])
        result[name] = entry
        print(name, json.dumps({k: v for k, v in entry.items() if k not in ("val", "config")}, indent=1), flush=True)
    print("baselines", json.dumps(result["baselines"], indent=1))
    (out / "probe.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
