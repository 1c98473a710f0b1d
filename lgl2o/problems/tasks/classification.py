"""Classification on a dataset: preloaded tensors, index minibatches, the full-set loss and accuracy; the
MLP and the conv net build on it."""
from __future__ import annotations

import torch

from .. import data as data_mod


class Classification:
    """Shared dataset handling: preloaded tensors, index minibatches, full-set loss and accuracy."""

    loss_chunk = 10_000

    def __init__(self, dataset: str, device="cpu", batch_size: int = 128):
        if int(batch_size) <= 0:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.dataset, self.device, self.batch_size = dataset, torch.device(device), int(batch_size)
        self.train = data_mod.load(dataset, "train", device)
        self._test = None
        self.n_train, self.in_features = self.train.x.shape
        self.classes = self.train.classes

    @property
    def test(self):
        if self._test is None:
            self._test = data_mod.load(self.dataset, "test", self.device)
        return self._test

    def sample_batch(self, gens: list[torch.Generator], size: int | None = None) -> torch.Tensor:
        size = self.batch_size if size is None else size
        idx = torch.stack([torch.randint(self.n_train, (size,), generator=g) for g in gens])
        return idx.to(self.device)

    def examples(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The inputs (S, B, D) and labels (S, B) of a minibatch of indices (S, B)."""
        flat = batch.reshape(-1)
        return (self.train.x.index_select(0, flat).view(*batch.shape, -1),
                self.train.y.index_select(0, flat).view(batch.shape))

    def losses(self, points, batch) -> list[torch.Tensor]:
        """Per-example losses (S, B) at each of ``points`` ((S, P) each) on one ``batch``, with no cache for a
        backward pass (a guard comparing its candidates): the examples are gathered once for all points,
        and each loss is computed by the same operations as ``forward``'s, so it has the same bits."""
        x, y = self.examples(batch)
        return [self._example_losses(self._logits(p, x), y) for p in points]

    def _logits_shared(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Logits (S, N, C) for inputs ``x`` (N, D) shared by all runs."""
        return self._logits(params, x.unsqueeze(0).expand(params.shape[0], -1, -1))

    @torch.no_grad()
    def full_loss(self, params: torch.Tensor) -> torch.Tensor:
        total = torch.zeros(params.shape[0], dtype=params.dtype, device=params.device)
        for i in range(0, self.n_train, self.loss_chunk):
            x, y = self.train.x[i : i + self.loss_chunk], self.train.y[i : i + self.loss_chunk]
            z = self._logits_shared(params, x)
            total += (torch.logsumexp(z, -1) - z.gather(-1, y.expand(z.shape[0], -1).unsqueeze(-1)).squeeze(-1)).sum(1)
        return total / self.n_train

    @torch.no_grad()
    def accuracy(self, params: torch.Tensor, split: str = "test") -> torch.Tensor:
        d = self.test if split == "test" else self.train
        correct = torch.zeros(params.shape[0], device=params.device)
        for i in range(0, len(d.y), self.loss_chunk):
            z = self._logits_shared(params, d.x[i : i + self.loss_chunk])
            correct += (z.argmax(-1) == d.y[i : i + self.loss_chunk]).float().sum(1)
        return correct / len(d.y)
