"""Diagnostic: why LGL2O-SGD collapses on the conv net of stage 05 (docs/findings.md, stage 05).

Runs the stage's LGL2O-SGD (paired test z = 2, fresh batch) on the conv net, step by step, and prints every
step at which a seed's minibatch loss jumps from below 1 to above 2, with the guard's decision and both
candidates' comparison losses at the step that caused it. ``--test sign`` replays the same run with the
sign test in place of the paired mean test (``LGL2O``'s ``test``); ``--max-fallback-increase X``
with catastrophic fallback steps refused (``LGL2O``'s ``max_fallback_increase``).

    .venv/bin/python scripts/guard_collapse.py [--steps 2600] [--threads 1] [--test sign] [--max-fallback-increase 1]
"""
import argparse

import torch

from lgl2o import LGL2O, load_l2o, make_task
from lgl2o.engine.loop import EagerEngine
from lgl2o.experiments import artifacts, runs
from lgl2o.pipeline.stage import stage_config


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=2600)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--test", choices=LGL2O.TESTS, default=None, help="override the stage's guard test")
    ap.add_argument("--max-fallback-increase", type=float, default=None,
                    help="refuse fallback steps that raise the comparison loss by more than this factor - 1")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    _, p = stage_config("05_ood_optimizee", "conv")  # the stage's own task, L2O, rates and guard
    net = load_l2o(p.l2o_checkpoint)
    lrs = artifacts.tuned_rates(p.rates, p.rates_horizon)
    task = make_task(**p.task.to_dict())
    guard = {**p.guard.to_dict(), **({"test": args.test} if args.test else {}),
             **({} if args.max_fallback_increase is None else {"max_fallback_increase": args.max_fallback_increase})}
    print("guard:", guard)
    opt = runs.comparison_optimizers(net, lrs, guard)["lgl2o-sgd"]
    eng = EagerEngine(task, opt, args.seeds)
    prev = last = None
    refused = torch.zeros(len(args.seeds), dtype=torch.long)
    with torch.no_grad():
        for t in range(args.steps):
            loss = eng.step()  # the minibatch loss at x_t, then the step from x_t
            if prev is not None:
                for s, seed in enumerate(args.seeds):
                    if prev[s] < 1.0 and loss[s] > 2.0:
                        print(f"seed {seed}, step {t}: minibatch loss {prev[s]:.3f} -> {loss[s]:.3f}; the step before "
                              f"took the {'L2O' if last['took_proposal'][s] else 'fallback'} with comparison losses "
                              f"L2O {float(last['loss_proposal'][s]):.3f}, fallback {float(last['loss_fallback'][s]):.3f}"
                              + ("" if last["took_proposal"][s] or opt.test != "mean" or opt.z == 0 else
                                 f" (so, by the rule, the paired differences' standard error was above "
                                 f"{float(last['loss_fallback'][s] - last['loss_proposal'][s]) / opt.z:.2f})"))
            last, prev = eng.info, loss
            if "refused_fallback" in last:
                refused += last["refused_fallback"].long()
            if t % 500 == 0 or t == args.steps - 1:
                print(f"step {t}: minibatch losses", " ".join(f"{float(v):.3f}" for v in loss),
                      *([f"(fallback steps refused so far: {refused.tolist()})"] if "refused_fallback" in last else []),
                      flush=True)

if __name__ == "__main__":
    main()
