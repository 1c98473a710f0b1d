"""Benchmark: time and passes per step for every optimizer, meta-training and batched-seed throughput.

    python -m lgl2o.perf.bench [--device cpu] [--steps 20] [--repeats 5] [--l2o-step native] [--graph] [--json out.json]

On the MNIST MLP 784-20-10 (15,910 coordinates), batch 128. Every figure is a median over ``repeats``
blocks of ``steps`` steps after a warm-up, measured in one run on one machine; ratios are to the SGD step.
With ``--graph`` (CUDA only) the steps that a CUDA graph can hold are also timed replayed from one
(the graph engine), and the batched-seed LGL2O throughput is measured that way.

``--l2o-step`` names the backend of the L2O's step (``lgl2o.l2o.backends``: plain, compile, fast, native;
default native, the stages' step) in the per-optimizer table; then every backend that runs on the device
is timed in the same run, the L2O step and LGL2O-SGD's, with ratios to the SGD step and to ``plain`` (the
``nn.LSTM``-style reference); there SGD, the L2O and LGL2O-SGD take turns block by block
(``experiments.cost.time_interleaved``), so that their ratios are paired.
Meta-training is timed with the differentiable backends (plain and compile).
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

import torch

from ..experiments.cost import cost_table, time_interleaved, time_steps
from ..l2o.backends import BACKENDS
from ..l2o.backends import NAMES as L2O_STEPS
from ..l2o.backends import make_step
from ..l2o.backends.native import NativeUnavailable
from ..l2o.meta import unroll_loss
from ..l2o.model import LSTMOptimizer
from ..l2o.optimizer import L2O
from ..optim.baselines import SGD
from ..optim.guards import LGL2O
from ..problems.seeds import TRAIN, run_generators
from ..problems.tasks import MLP
from ..core.allocator import keep_freed_memory


def _sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def time_meta(task, net, optimizees, unroll, repeats, device):
    """Optimizee steps per second of meta-training (forward and backward through the L2O)."""
    seeds = list(range(optimizees))
    gens = run_generators(seeds, TRAIN)
    rates = []
    for r in range(repeats + 1):
        params = task.init_params(seeds)
        hidden = net.init_state(params.shape, params.device)
        _sync(device)
        t0 = time.perf_counter()
        loss, _, _ = unroll_loss(net, task, params, hidden, gens, unroll)
        loss.backward()
        _sync(device)
        if r:  # the first is a warm-up (and compilation)
            rates.append(optimizees * unroll / (time.perf_counter() - t0))
    return statistics.median(rates)


def time_backends(task, net, seeds, args) -> dict:
    """The L2O step and LGL2O-SGD's step with every backend that runs on the device, against the SGD step
    and against the plain module. Per backend, SGD, the L2O and LGL2O-SGD are timed in interleaved
    rounds (``time_interleaved``): each ratio is the median of the rounds' ratios, a paired measurement."""
    print(f"every L2O step backend, {args.repeats} interleaved rounds of {args.steps} steps (ratios: medians "
          "of the rounds' ratios): L2O ms/step, x SGD, x plain; LGL2O-SGD with it: ms/step, x its L2O step")
    out, plain = {}, None
    for name, b in BACKENDS.items():
        if torch.device(args.device).type not in b.devices:
            continue
        try:
            step = make_step(net, name)
        except NativeUnavailable as e:
            print(f"{name:<8} unavailable: {e}")
            continue
        t = time_interleaved(task, {"sgd": SGD(3.0), "l2o": L2O(step), "guard": LGL2O(L2O(step), SGD(3.0))},
                             seeds, steps=args.steps, repeats=args.repeats)
        l2o, guard = statistics.median(t["l2o"]), statistics.median(t["guard"])
        plain = l2o if name == "plain" else plain
        out[name] = {"sgd_ms": statistics.median(t["sgd"]), "l2o_ms": l2o,
                     "l2o_vs_sgd": statistics.median(a / s for a, s in zip(t["l2o"], t["sgd"])),
                     "l2o_vs_plain": l2o / plain if plain else None, "lgl2o_sgd_ms": guard,
                     "lgl2o_sgd_vs_l2o": statistics.median(g / a for g, a in zip(t["guard"], t["l2o"]))}
        r = out[name]
        vs_plain = f"{r['l2o_vs_plain']:6.2f}" if plain else "     –"
        print(f"{name:<8} {l2o:8.3f} {r['l2o_vs_sgd']:6.1f} {vs_plain}   {guard:8.3f} {r['lgl2o_sgd_vs_l2o']:6.2f}")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lgl2o.perf.bench", description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dataset", default="mnist")
    ap.add_argument("--seeds", type=int, default=1, help="seeds batched in the per-optimizer timings")
    ap.add_argument("--steps", type=int, default=20, help="steps per timed block")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--batched", default="1,4,16", help="seed counts for the LGL2O throughput")
    ap.add_argument("--meta-optimizees", type=int, default=4)
    ap.add_argument("--meta-steps", default="plain,compile",
                    help="which differentiable L2O backends to time meta-training with (plain and/or compile)")
    ap.add_argument("--l2o-step", choices=L2O_STEPS, default="native",
                    help="how the L2O's step is computed (default: native, the stages' step)")
    ap.add_argument("--keep-malloc", action="store_true",
                    help="leave the C allocator's settings alone (see allocator.keep_freed_memory)")
    ap.add_argument("--graph", action="store_true", help="also time steps replayed from CUDA graphs (CUDA only)")
    ap.add_argument("--no-backends", action="store_true", help="skip timing every L2O step backend")
    ap.add_argument("--json", default=None, help="write the results here as JSON")
    args = ap.parse_args(argv)
    for name in ("seeds", "steps", "repeats", "meta_optimizees"):
        if getattr(args, name) <= 0:
            ap.error(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
    meta_kinds = [k for k in args.meta_steps.split(",") if k]
    differentiable = [n for n, b in BACKENDS.items() if b.differentiable]
    if not meta_kinds or set(meta_kinds) - set(differentiable):
        ap.error(f"--meta-steps must list differentiable backends ({', '.join(differentiable)}), got {args.meta_steps!r}")
    if torch.device(args.device).type == "cuda" and not torch.cuda.is_available():
        ap.error(f"--device {args.device}: CUDA is not available on this machine")
    if args.graph and torch.device(args.device).type != "cuda":
        ap.error(f"--graph needs a CUDA device, got --device {args.device}")
    if torch.device(args.device).type not in BACKENDS[args.l2o_step].devices:
        ap.error(f"--l2o-step {args.l2o_step} runs on {', '.join(BACKENDS[args.l2o_step].devices)} only, "
                 f"got --device {args.device}")

    tuned = False if args.keep_malloc else keep_freed_memory()
    task = MLP(args.dataset, device=args.device)
    net = LSTMOptimizer().to(args.device)
    try:
        stepper = make_step(net, args.l2o_step)
    except NativeUnavailable as e:
        ap.error(f"{e}; --l2o-step fast times the fast step instead")
    seeds = list(range(args.seeds))
    out = {"machine": platform.platform(), "processor": platform.processor() or platform.machine(),
           "cpu_count": os.cpu_count(), "threads": torch.get_num_threads(), "torch": torch.__version__,
           "device": str(args.device), "l2o_step": args.l2o_step, "malloc_keeps_freed_memory": tuned,
           "graph": args.graph, "task": task.name, "batch": task.batch_size,
           "seeds": args.seeds, "steps_per_block": args.steps, "repeats": args.repeats, "per_step": {}}
    if torch.device(args.device).type == "cuda":
        out["gpu"] = torch.cuda.get_device_name(args.device)
    print(f"{task.name}, {task.dim} coordinates, batch {task.batch_size}, {args.seeds} seed(s), "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}, L2O step {args.l2o_step}"
          f"{', malloc keeps freed memory' if tuned else ''}")
    print(f"{'optimizer':<12} {'ms/step':>9} {'x SGD':>7} {'fwd':>5} {'bwd':>5}")
    for r in cost_table(task, stepper, seeds, steps=args.steps, repeats=args.repeats).itertuples():
        out["per_step"][r.optimizer] = {"ms": r.ms, "fwd": r.fwd, "bwd": r.bwd, "ratio_to_sgd": r.ratio_to_sgd}
        print(f"{r.optimizer:<12} {r.ms:9.3f} {r.ratio_to_sgd:7.1f} {r.fwd:5.1f} {r.bwd:5.1f}")
    if args.graph:
        out["per_step_graph"] = {}
        # a graph captures the plain kernels (the eager LSTM), not the compiled ones
        print("replayed from CUDA graphs (ms/step, x SGD; NaN: the step cannot be captured):")
        for r in cost_table(task, net, seeds, steps=args.steps, repeats=args.repeats, engine="graph").itertuples():
            out["per_step_graph"][r.optimizer] = {"ms": r.ms, "ratio_to_sgd": r.ratio_to_sgd}
            print(f"{r.optimizer:<12} {r.ms:9.3f} {r.ratio_to_sgd:7.1f}")

    if not args.no_backends:
        out["backends"] = time_backends(task, net, seeds, args)

    out["lgl2o_throughput"] = {}
    for s in (int(x) for x in args.batched.split(",")):
        ms, _, _ = time_steps(task, LGL2O(L2O(stepper), SGD(3.0)), list(range(s)), steps=args.steps,
                              repeats=args.repeats)
        out["lgl2o_throughput"][s] = {"ms_per_step": ms, "seed_steps_per_s": 1000 * s / ms, "us_per_seed_step": 1000 * ms / s}
        print(f"LGL2O-SGD, {s:>2} seeds batched: {ms:8.2f} ms/step, {1000 * s / ms:8.1f} seed-steps/s")
        if args.graph:
            ms, _, _ = time_steps(task, LGL2O(L2O(net), SGD(3.0)), list(range(s)), steps=args.steps, repeats=args.repeats,
                                  engine="graph")
            out["lgl2o_throughput"][s].update(graph_ms_per_step=ms, graph_us_per_seed_step=1000 * ms / s)
            print(f"    the same replayed from a CUDA graph: {ms:8.3f} ms/step, {1000 * ms / s:8.1f} us per seed-step")

    # meta-training needs a backward: the differentiable backends
    out["meta_train"] = {"optimizees": args.meta_optimizees, "unroll": 20}
    for kind in meta_kinds:
        rate = time_meta(task, make_step(net, kind), args.meta_optimizees, 20, max(1, args.repeats // 2),
                         args.device)
        out["meta_train"][f"{kind}_optimizee_steps_per_s"] = rate
        print(f"meta-training ({args.meta_optimizees} optimizees, unroll 20, {kind}): {rate:.1f} optimizee steps/s")
    if len(meta_kinds) == 2:
        out["meta_train"]["compile_speedup"] = (out["meta_train"]["compile_optimizee_steps_per_s"]
                                                / out["meta_train"]["plain_optimizee_steps_per_s"])
        print(f"meta-training, compiled / plain: {out['meta_train']['compile_speedup']:.2f}x")
    if args.json:
        from ..core.io import write_json

        write_json(out, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
