"""The graph engine: a whole optimizer step captured as one CUDA graph, the eager engine's numbers.

On a GPU the eager step (the MLP's forward and backward, the LSTM over every coordinate, the guard's
comparison: dozens of small kernels) is bound by kernel launches, not by arithmetic. ``GraphEngine``
records one step of the loop (the minibatch gradient at the iterate, then the optimizer's
step, guard comparisons included) as a CUDA graph and replays it. The graph also keeps, on the device,
the count of steps on which a guard took the L2O and the first step of divergence, so that the host
never waits for the device between logged steps.

Same numbers as eager: the minibatch indices are drawn on the host from the same per-run generators and
in the same order as the eager ``Oracle`` draws them, and copied into the graph's static index buffers
before each replay; ``loop.run_one(..., engine="graph")`` returns the eager table (a test compares the two).

What a graph cannot hold is refused with ``GraphError`` before anything runs: a CPU device; optimizer
state kept off the device; a step that waits for the device (a host-side decision);
``LGL2O(compare="next")``, whose reuse of a forward pass across steps is a host-side hand-over. Those
run with the eager engine.
"""
from __future__ import annotations

import torch

from ..optim.protocol import Guard
from ..problems.oracle import Oracle
from .checkpoint import flatten


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
         "captured as one step's graph: run it with the eager engine")


def _check_graphable(opt, params, state):
    if params.device.type != "cuda":
        raise GraphError(f"CUDA graphs need a CUDA device; the task is on {params.device} (use the eager engine)")
    for k, v in flatten(state).items():
        if not isinstance(v, torch.Tensor) or v.device != params.device:
            where = v.device if isinstance(v, torch.Tensor) else type(v).__name__
            raise GraphError(f"{type(opt).__name__} keeps state {k!r} on {where}, not on {params.device}: a graph "
                             "cannot update host state; run it with the eager engine")
    if getattr(opt, "compare", None) == "next":
        raise GraphError(_NEXT)
    if getattr(opt, "audit_every", None) is not None:
        raise GraphError("LGL2O(audit_every=...) decides on the host, once a window, whether to audit; it cannot "
                         "be captured as one step's graph: run it with the eager engine")


class GraphEngine:
    """Steps of one optimizer on all seeds, replayed from a CUDA graph captured after ``warmup`` eager steps.

    The interface of ``loop.EagerEngine``: ``step()`` takes one step of the loop (gradient at the iterate,
    optimizer step) and returns the minibatch loss at the iterate it started from (a static device
    tensor: copy it before the next step); ``taken`` and ``diverged_at`` live on the device.
    """

    def __init__(self, task, opt, seeds, warmup: int = 3):
        self.task, self.opt = task, opt
        self.oracle = _FeedingOracle(task, seeds)
        self.params = task.init_params(seeds)
        self.state = opt.init(self.params)
        _check_graphable(opt, self.params, self.state)
        S, dev = self.params.shape[0], self.params.device
        self.guarded = isinstance(opt, Guard)
        self.taken = torch.zeros(S, device=dev)
        self.diverged_at = torch.full((S,), -1, dtype=torch.int64, device=dev)
        self.t = torch.zeros((), dtype=torch.int64, device=dev)  # the step being taken
        self.loss = torch.zeros(S, device=dev)
        if int(warmup) < 1:
            raise ValueError(f"warmup must be a positive integer (eager steps before capture), got {warmup!r}")
        self.graph, self.warmup = None, int(warmup)
        self.per_step = None  # (fwd, bwd, examples) that one step spends

    def resume(self, params, state, run) -> None:
        if self.oracle.plan is not None:
            raise GraphError("a graph engine resumes before its first step only")
        _check_graphable(self.opt, params, state)
        self.params, self.state = params, state
        self.t.fill_(int(run["step"]))
        self.taken.copy_(run["taken"])
        self.diverged_at.copy_(run["diverged_at"])

    def sync(self) -> None:
        torch.cuda.synchronize()

    def _body(self):
        """One step of the eager loop, its results written into the static tensors."""
        o = self.oracle
        o.advance()
        loss, grad = o.grad(self.params)
        bad = ~torch.isfinite(loss) & (self.diverged_at < 0)
        self.diverged_at.copy_(torch.where(bad, self.t, self.diverged_at))
        new, state, info = self.opt.step(self.params, self.state, grad, o)
        if self.guarded:
            self.taken.add_(info["took_proposal"].to(self.taken.dtype))
        self.loss.copy_(loss)
        self.params.copy_(new)
        flat_new, flat_old = flatten(state), flatten(self.state)
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
            return self.loss
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
            return self.loss
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
        return self.loss

    def final_loss(self):
        """The minibatch loss at the iterate, on the next training batch (the eager loop's last row)."""
        o = self.oracle
        loss, _ = o.forward(self.params, self.task.sample_batch(o.train_gens))
        loss = loss.mean(1)
        bad = ~torch.isfinite(loss) & (self.diverged_at < 0)
        self.diverged_at.copy_(torch.where(bad, self.t, self.diverged_at))
        return loss
