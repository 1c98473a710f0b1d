"""A whole optimizer step captured as one CUDA graph: the eager loop's numbers, one launch per step.

On a GPU the eager step (the MLP's forward and backward, the LSTM over every coordinate, the guard's
comparison: dozens of small kernels) is bound by kernel launches, not by arithmetic. ``GraphedLoop``
records one step of ``run.run_one``'s loop (the minibatch gradient at the iterate, then the optimizer's
step, guard comparisons included) as a CUDA graph and replays it. The graph also keeps, on the device,
the count of steps on which a guard took the L2O and the first step of divergence, so that the host
never waits for the device between logged steps.

Same numbers as eager: the minibatch indices are drawn on the host from the same per-run generators and
in the same order as the eager ``Oracle`` draws them, and copied into the graph's static index buffers
before each replay; ``run_graphed`` returns ``run.run_one``'s table (a test compares the two).

What a graph cannot hold is refused with ``GraphError`` before anything runs: a CPU device; optimizer
state kept on the host (``Adam`` counts its steps on the host); a host-side decision inside the step
(``GL2O`` tests its first step on the host); ``LGL2O(compare="next")``, whose reuse of a forward pass
across steps is a host-side hand-over. Those run eagerly with ``run.run_one``.
"""
from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import torch

from .oracle import Oracle
from .run import _flatten, _load_checkpoint, _save_checkpoint, _table, new_run, schedule


class GraphError(RuntimeError):
    pass


def draw_indices(task, gens, out: torch.Tensor) -> torch.Tensor:
    """``task.sample_batch(gens, out.shape[1])`` written into ``out`` (host memory), without its copy to the
    device: the same generators, the same numbers."""
    for row, g in zip(out, gens):
        torch.randint(task.n_train, row.shape, generator=g, out=row)
    return out


class _FeedingOracle(Oracle):
    """An ``Oracle`` whose minibatches live in static device buffers that the host fills before a step.

    The first step records the plan: which stream each draw of a step comes from and its size. Every
    later step draws the same plan from the same generators, as the eager oracle would, into pinned host
    buffers (two per slot, used in turn, so the host never overwrites one that a queued copy still reads)
    and copies them to the device without waiting for it.
    """

    def __init__(self, task, seeds):
        super().__init__(task, seeds)
        self.plan: list[tuple[str, int | None]] | None = None
        self.slots: list[torch.Tensor | None] = []
        self._recording, self._k, self._turn = False, 0, 0

    def _draw(self, stream: str, size: int | None):
        if self._recording:
            idx = self.task.sample_batch(self.train_gens if stream == "train" else self.guard_gens, size)
            self.plan.append((stream, size))
            self.slots.append(idx)
            return idx
        batch = self.slots[self._k]
        self._k += 1
        return batch

    def record(self):
        self._recording, self.plan, self.slots = True, [], []

    def end_record(self):
        self._recording = False
        self._pinned = [None if s is None else [torch.empty(s.shape, dtype=s.dtype, pin_memory=True) for _ in "ab"]
                        for s in self.slots]
        self._copied = [torch.cuda.Event(), torch.cuda.Event()]

    def fill(self):
        """Draw the next step's minibatches (host generators) into the static buffers."""
        self._k, b = 0, self._turn
        self._turn ^= 1
        self._copied[b].synchronize()  # the copies from these host buffers two steps ago are done
        for (stream, _), slot, pinned in zip(self.plan, self.slots, self._pinned):
            if slot is None:
                continue
            draw_indices(self.task, self.train_gens if stream == "train" else self.guard_gens, pinned[b])
            slot.copy_(pinned[b], non_blocking=True)
        self._copied[b].record()

    # the three ways the eager oracle draws a batch
    def advance(self):
        self.batch = self._draw("train", None)
        return self.batch

    def fresh_batch(self, size=None):
        return self._draw("guard", size)

    def next_batch(self):
        raise GraphError(_NEXT)


_NEXT = ("LGL2O(compare='next') hands a forward pass from one step to the next on the host; it cannot be "
         "captured as one step's graph: run it eagerly (run.run_one)")


def _check_graphable(opt, params, state):
    if params.device.type != "cuda":
        raise GraphError(f"CUDA graphs need a CUDA device; the task is on {params.device} (use run.run_one)")
    for k, v in _flatten(state).items():
        if not isinstance(v, torch.Tensor) or v.device != params.device:
            where = v.device if isinstance(v, torch.Tensor) else type(v).__name__
            raise GraphError(f"{type(opt).__name__} keeps state {k!r} on {where}, not on {params.device}: a graph "
                             "cannot update host state (Adam counts its steps on the host); run it eagerly")
    if getattr(opt, "compare", None) == "next":
        raise GraphError(_NEXT)


class GraphedLoop:
    """Steps of one optimizer on all seeds, replayed from a CUDA graph captured after ``warmup`` eager steps.

    ``step()`` takes one step of the eager loop (gradient at the iterate, optimizer step); ``loss`` holds
    the minibatch loss at the iterate it started from, ``taken`` the guard's acceptances so far, and
    ``diverged_at`` the first step with a non-finite loss (-1: none), all on the device.
    """

    def __init__(self, task, opt, seeds, params=None, state=None, oracle=None, warmup: int = 3, step: int = 0):
        self.task, self.opt = task, opt
        self.oracle = oracle if oracle is not None else _FeedingOracle(task, seeds)
        self.params = task.init_params(seeds) if params is None else params
        self.state = opt.init(self.params) if state is None else state
        _check_graphable(opt, self.params, self.state)
        S, dev = self.params.shape[0], self.params.device
        self.taken = torch.zeros(S, device=dev)
        self.diverged_at = torch.full((S,), -1, dtype=torch.int64, device=dev)
        self.t = torch.full((), step, dtype=torch.int64, device=dev)  # the step being taken
        self.loss = torch.zeros(S, device=dev)
        if int(warmup) < 1:
            raise ValueError(f"warmup must be a positive integer (eager steps before capture), got {warmup!r}")
        self.graph, self.warmup = None, int(warmup)
        self.per_step = None  # (fwd, bwd, examples) that one step spends
        self.guarded = False  # whether the optimizer reports which proposal it took

    def _body(self):
        """One step of the eager loop, its results written into the static tensors."""
        o = self.oracle
        o.advance()
        loss, grad = o.grad(self.params)
        bad = ~torch.isfinite(loss) & (self.diverged_at < 0)
        self.diverged_at.copy_(torch.where(bad, self.t, self.diverged_at))
        new, state, info = self.opt.step(self.params, self.state, grad, o)
        if "took_proposal" in info:
            self.guarded = True
            self.taken.add_(info["took_proposal"].to(self.taken.dtype))
        self.loss.copy_(loss)
        self.params.copy_(new)
        flat_new, flat_old = _flatten(state), _flatten(self.state)
        if set(flat_new) != set(flat_old):
            raise GraphError(f"{type(self.opt).__name__}.step changed the structure of its state")
        for k, v in flat_old.items():
            v.copy_(flat_new[k])
        self.t.add_(1)

    def step(self):
        o = self.oracle
        if o.plan is None:  # the first step records what it draws and what it spends
            before = (o.fwd, o.bwd, o.examples)
            o.record()
            self._body()
            o.end_record()
            self.per_step = tuple(a - b for a, b in zip((o.fwd, o.bwd, o.examples), before))
            return
        o.fill()
        if self.graph is None and self.warmup > 0:  # eager steps on a side stream, as capture asks
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            mode = torch.cuda.get_sync_debug_mode()
            torch.cuda.set_sync_debug_mode("error")  # a step that waits for the device cannot be captured
            try:
                with torch.cuda.stream(side):
                    self._body()
            except RuntimeError as e:
                raise GraphError(f"{type(self.opt).__name__}.step cannot be captured as a CUDA graph: it waits for "
                                 f"the device (a host-side decision?): {e}") from e
            finally:
                torch.cuda.set_sync_debug_mode(mode)
            torch.cuda.current_stream().wait_stream(side)
            self.warmup -= 1
            return
        if self.graph is None:  # capture records the step without running it; the replay below runs it
            before = (o.fwd, o.bwd, o.examples)
            self.graph = torch.cuda.CUDAGraph()
            try:
                with torch.cuda.graph(self.graph):
                    self._body()
            except RuntimeError as e:
                raise GraphError(f"{type(self.opt).__name__}.step cannot be captured as a CUDA graph (a host-side "
                                 f"decision or sync inside the step?): {e}") from e
            o.fwd, o.bwd, o.examples = before
        self.graph.replay()
        o.fwd, o.bwd, o.examples = (a + b for a, b in zip((o.fwd, o.bwd, o.examples), self.per_step))

    def final_loss(self):
        """The minibatch loss at the iterate, on the next training batch (the eager loop's last row)."""
        o = self.oracle
        loss, _ = o.forward(self.params, self.task.sample_batch(o.train_gens))
        return loss.mean(1)


@torch.no_grad()
def run_graphed(task, name, opt, steps, seeds, log_every=100, full_every=None, test_accuracy=True,
                progress=True, checkpoint: Path | None = None, checkpoint_every: int = 0, full_steps=None,
                warmup: int = 3) -> pd.DataFrame:
    """``run.run_one`` with every step replayed from a CUDA graph: the same table, to float tolerance.

    Resumable like ``run_one`` (``checkpoint``, ``checkpoint_every``). ``wall_s`` is the host's time
    spent stepping, the device's work included (the device is synchronised at every logged step).
    """
    from tqdm.auto import tqdm

    logged, full_steps = schedule(steps, log_every, full_every, full_steps)
    seeds = [int(s) for s in seeds]
    oracle = _FeedingOracle(task, seeds)
    params = task.init_params(seeds)
    state = opt.init(params)
    run = new_run(len(seeds))
    if checkpoint is not None and Path(checkpoint).exists():
        params, state, run = _load_checkpoint(Path(checkpoint), oracle, state)
    loop = GraphedLoop(task, opt, seeds, params=params, state=state, oracle=oracle, warmup=warmup, step=run["step"])
    loop.diverged_at.copy_(run["diverged_at"])
    loop.taken.copy_(run["taken"])
    rows = run["rows"]
    bar = tqdm(total=steps, initial=run["step"], desc=name, disable=not progress, leave=False, mininterval=1.0)
    t0 = time.perf_counter()
    for t in range(run["step"], steps + 1):
        if t in logged:
            torch.cuda.synchronize()
            run["wall"] += time.perf_counter() - t0
            counts = (oracle.fwd, oracle.bwd, oracle.examples)  # spent to reach x_t
            full = task.full_loss(loop.params).cpu() if t in full_steps else None
            taken = loop.taken.cpu()
            loop.taken.zero_()
            share = taken / run["guarded_steps"] if loop.guarded and run["guarded_steps"] else None
            run["guarded_steps"] = 0
            t0 = time.perf_counter()
            if t < steps:
                loop.step()
                loss = loop.loss.cpu()
            else:
                loss = loop.final_loss().cpu()
                bad = ~torch.isfinite(loss) & (loop.diverged_at.cpu() < 0)
                loop.diverged_at.copy_(torch.where(bad, t, loop.diverged_at.cpu()))
            rows.append({"step": t, "batch_loss": loss, "full_loss": full, "share": share, "counts": counts,
                         "wall": run["wall"]})
        elif t < steps:
            loop.step()
        if t == steps:
            break
        run["guarded_steps"] += 1
        bar.update(1)
        if checkpoint is not None and checkpoint_every and (t + 1) % checkpoint_every == 0:
            torch.cuda.synchronize()
            run.update(step=t + 1, diverged_at=loop.diverged_at.cpu(), taken=loop.taken.cpu())
            _save_checkpoint(Path(checkpoint), loop.params, loop.state, oracle, run)
    bar.close()
    return _table(task, name, seeds, rows, loop.params, test_accuracy, loop.diverged_at.cpu())
