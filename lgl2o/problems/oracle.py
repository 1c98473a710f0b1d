"""What an optimizer may ask of the problem during a step, with every pass counted.

The evaluation loop owns one ``Oracle`` per (task, seeds). It draws the training minibatches from a
per-run stream (the same sequence for every optimizer at a seed: common random numbers), hands the
optimizer the gradient at the current iterate, and lets it ask for more: losses of candidates on the
current batch, on a fresh batch from a separate stream, or on the batch that the *next* step will use
(whose forward pass can then be reused by that step's gradient), or gradients at other points.

Counters (per run, since all runs of a batch do the same work): ``fwd`` forward passes, ``bwd``
backward passes, ``examples`` examples pushed through a forward pass.
"""
from __future__ import annotations

import torch

from .seeds import GUARD, TRAIN, run_generators


class Oracle:
    def __init__(self, task, seeds):
        self.task, self.seeds = task, list(seeds)
        self.train_gens = run_generators(self.seeds, TRAIN)
        self.guard_gens = run_generators(self.seeds, GUARD)
        self.batch = None  # the current step's minibatch
        self._next = None  # the next step's minibatch, once somebody looked at it
        self._stash = None  # (x, batch, losses, cache): a forward pass the next gradient may reuse
        self.reset_counters()

    # -- batches ------------------------------------------------------------------------------
    def advance(self):
        """Move to the next step's minibatch (drawn now unless it was already peeked at)."""
        self.batch = self._next if self._next is not None else self.task.sample_batch(self.train_gens)
        self._next = None
        return self.batch

    def next_batch(self):
        if self._next is None:
            self._next = self.task.sample_batch(self.train_gens)
        return self._next

    def fresh_batch(self, size: int | None = None):
        return self.task.sample_batch(self.guard_gens, size)

    # -- passes -------------------------------------------------------------------------------
    def reset_counters(self):
        self.fwd = self.bwd = self.examples = 0

    @property
    def counts(self) -> tuple[int, int, int]:
        """(forward passes, backward passes, examples) per run so far."""
        return self.fwd, self.bwd, self.examples

    def forward(self, x, batch=None):
        """Per-example losses (S, B) at ``x`` on ``batch`` (default: the current one), and the cache."""
        losses, cache = self.task.forward(x, self.batch if batch is None else batch)
        self.fwd += 1
        self.examples += losses.shape[1]
        return losses, cache

    def losses(self, points, batch=None) -> list[torch.Tensor]:
        """Per-example losses (S, B) at each of ``points`` on ``batch`` (default: the current one), one
        forward pass each and no cache (comparing candidates); the task shares the batch among the points
        where it can (``losses``), else each point takes a ``forward``."""
        batch = self.batch if batch is None else batch
        shared = getattr(self.task, "losses", None)
        out = shared(points, batch) if shared is not None else [self.task.forward(x, batch)[0] for x in points]
        self.fwd += len(out)
        self.examples += sum(losses.shape[1] for losses in out)
        return out

    def full_loss(self, x):
        """(S,) loss on the whole training set: one forward pass over it."""
        self.fwd += 1
        self.examples += getattr(self.task, "n_train", 1)
        return self.task.full_loss(x)

    def keep_forward(self, x, batch, take_a, a, b, valid=None) -> None:
        """Keep, for the gradient the next step asks for at ``x`` on ``batch``, the forward pass ``a`` or
        ``b`` ((losses, cache) pairs of two candidates on ``batch``) per run, ``a`` where ``take_a``.
        Does nothing for a task whose forward pass cannot be reused, or unless every run is ``valid`` (a
        run whose iterate is neither candidate needs its own forward pass)."""
        select = getattr(self.task, "select_cache", None)
        if valid is not None and not bool(valid.all()):
            return
        if getattr(self.task, "reusable_forward", False) and select is not None:
            losses = torch.where(take_a.view(-1, 1), a[0], b[0])
            self._stash = (x, batch, losses, select(take_a, a[1], b[1]))

    def grad(self, x, batch=None):
        """(mean minibatch loss (S,), gradient (S, P)) at ``x``; reuses a kept forward pass."""
        batch = self.batch if batch is None else batch
        st, self._stash = self._stash, None
        if st is not None and st[0] is x and st[1] is batch:
            losses, cache = st[2], st[3]
        else:
            losses, cache = self.forward(x, batch)
        self.bwd += 1
        return losses.mean(1), self.task.backward(x, cache)

    # -- resume -------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """The random streams' positions, the peeked-at next batch and the pass counters (a resume
        checkpoint's part)."""
        return {"train_gens": [g.get_state() for g in self.train_gens],
                "guard_gens": [g.get_state() for g in self.guard_gens], "next_batch": self._next,
                "counts": torch.tensor(self.counts, dtype=torch.int64)}

    def load_state_dict(self, state: dict) -> None:
        for g, s in zip(self.train_gens, state["train_gens"]):
            g.set_state(s)
        for g, s in zip(self.guard_gens, state["guard_gens"]):
            g.set_state(s)
        self._next = state["next_batch"]
        if "counts" in state:  # checkpoints written before the counters were saved resume them from 0
            self.fwd, self.bwd, self.examples = (int(c) for c in state["counts"])
