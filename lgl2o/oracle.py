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

from .tasks import run_generators


class Oracle:
    def __init__(self, task, seeds):
        self.task, self.seeds = task, list(seeds)
        self.train_gens = run_generators(self.seeds, 1)
        self.guard_gens = run_generators(self.seeds, 2)
        self.batch = None  # the current step's minibatch
        self._next = None  # the next step's minibatch, once somebody looked at it
        self._stash = None  # (x, batch, cache): a forward pass the next gradient may reuse
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

    def _count_forward(self, losses):
        self.fwd += 1
        self.examples += losses.shape[1]

    def forward(self, x, batch=None):
        """Per-example losses (S, B) at ``x`` on ``batch`` (default: the current one), and the cache."""
        losses, cache = self.task.forward(x, self.batch if batch is None else batch)
        self._count_forward(losses)
        return losses, cache

    def full_loss(self, x):
        """(S,) loss on the whole training set: one forward pass over it."""
        self.fwd += 1
        self.examples += getattr(self.task, "n_train", 1)
        return self.task.full_loss(x)

    def stash(self, x, batch, losses, cache):
        """Keep a forward pass at ``x`` on ``batch`` for the gradient the next step will ask for."""
        if getattr(self.task, "reusable_forward", False):
            self._stash = (x, batch, losses, cache)

    def grad(self, x, batch=None):
        """(mean minibatch loss (S,), gradient (S, P)) at ``x``; reuses a stashed forward pass."""
        batch = self.batch if batch is None else batch
        st, self._stash = self._stash, None
        if st is not None and st[0] is x and st[1] is batch:
            losses, cache = st[2], st[3]
        else:
            losses, cache = self.forward(x, batch)
        self.bwd += 1
        return losses.mean(1), self.task.backward(x, cache)
