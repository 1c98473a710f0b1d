"""Optimizee problems as pure functions of a flat parameter matrix.

Every task works on ``params`` of shape (S, P): S independent runs (seeds) of a problem with P
parameters, so optimizers never see modules and several seeds run as one batched computation.

A task exposes:
    init_params(seeds)            -> (S, P) initial parameters, one generator per seed
    sample_batch(gens, size)      -> a minibatch per run (indices (S, B)), from each run's generator
    forward(params, batch)        -> per-example losses (S, B) and a cache for ``backward``
    backward(params, cache)       -> gradient of the mean minibatch loss, (S, P)
    losses(points, batch)         -> per-example losses at several points, no cache (optional)
    select_cache(take_a, a, b)    -> per-run choice between two caches of the same batch
    full_loss(params)             -> (S,) loss on the whole training set
    accuracy(params, split)       -> (S,) accuracy (classification tasks)

``forward`` + ``backward`` is one forward and one backward pass. Keeping the cache lets a guard that
compared candidates on the next step's batch reuse that forward pass (``LGL2O(compare="next")``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import torch
import torch.nn.functional as F

from . import data as data_mod
from .seeds import INIT, run_generators

ACTIVATIONS = ("sigmoid", "relu", "tanh")


@runtime_checkable
class Task(Protocol):
    """What the oracle and the engines need of an optimizee (the module docstring says what each does).

    ``reusable_forward``: whether a forward pass's cache may serve a later gradient (``select_cache`` is
    then not None); ``name``: a short name for tables and titles.
    """

    name: str
    reusable_forward: bool

    def init_params(self, seeds) -> torch.Tensor: ...
    def sample_batch(self, gens: list[torch.Generator], size: int | None = None) -> Any: ...
    def forward(self, params: torch.Tensor, batch) -> tuple[torch.Tensor, Any]: ...
    def backward(self, params: torch.Tensor, cache) -> torch.Tensor: ...
    def full_loss(self, params: torch.Tensor) -> torch.Tensor: ...


def _check(name: str, value, allowed) -> None:
    if value not in allowed:
        raise ValueError(f"unknown {name} {value!r}; allowed: {', '.join(map(str, allowed))}")


# ----------------------------------------------------------------------------------------------
# Classification on a dataset: MLP (logistic regression = no hidden layer) and a small conv net


class _Classification:
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


@dataclass
class MLPCache:
    acts: list  # a_0 (inputs), a_1 ... a_{L-1}: the inputs of each linear layer
    probs: torch.Tensor  # softmax of the logits (S, B, C)
    y: torch.Tensor  # (S, B)


class MLP(_Classification):
    """A fully connected classifier with cross-entropy loss, forward and backward written out.

    ``hidden=()`` is multinomial logistic regression (convex). Weights and biases start from
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)), PyTorch's ``nn.Linear`` default. The flat layout is, per
    layer, the weight (fan_in x fan_out, row-major) followed by the bias.
    """

    reusable_forward = True

    def __init__(self, dataset="mnist", hidden=(20,), activation="sigmoid", device="cpu", batch_size=128):
        _check("activation", activation, ACTIVATIONS)
        super().__init__(dataset, device, batch_size)
        self.hidden, self.activation = tuple(int(h) for h in hidden), activation
        widths = (self.in_features, *self.hidden, self.classes)
        self.shapes = list(zip(widths[:-1], widths[1:]))
        self._sizes = [n for i, o in self.shapes for n in (i * o, o)]
        self.dim = sum(self._sizes)
        self.name = f"mlp{'-'.join(map(str, widths))}-{activation}-{dataset}"

    def _layers(self, params):
        """[(weight (S, fan_in, fan_out), bias (S, 1, fan_out))] per layer: views of ``params`` (one split; the
        bias broadcasts over a batch's examples)."""
        parts = params.view(params.shape[0], 1, -1).split(self._sizes, dim=2)
        return [(parts[2 * j].view(-1, i, o), parts[2 * j + 1]) for j, (i, o) in enumerate(self.shapes)]

    def init_params(self, seeds) -> torch.Tensor:
        rows = []
        for g in run_generators(seeds, INIT):
            parts = []
            for i, o in self.shapes:
                bound = 1.0 / math.sqrt(i)
                parts.append((torch.rand(i * o + o, generator=g) * 2 - 1) * bound)
            rows.append(torch.cat(parts))
        return torch.stack(rows).to(self.device)

    def _act(self, z):
        if self.activation == "sigmoid":
            return torch.sigmoid(z)
        if self.activation == "relu":
            return torch.relu(z)
        return torch.tanh(z)

    def _act_grad(self, a):  # derivative of the activation, written in terms of its output
        if self.activation == "sigmoid":
            return a * (1 - a)
        if self.activation == "relu":
            return (a > 0).to(a.dtype)
        return 1 - a * a

    def _logits(self, params, x):
        layers = self._layers(params)
        a = x
        for w, b in layers[:-1]:
            a = self._act(torch.baddbmm(b, a, w))
        w, b = layers[-1]
        return torch.baddbmm(b, a, w)

    @staticmethod
    def _nll(logp, y):
        return -logp.gather(-1, y.unsqueeze(-1)).squeeze(-1)

    @staticmethod
    def _example_losses(z, y):
        return MLP._nll(torch.log_softmax(z, -1), y)

    def forward(self, params, batch):
        x, y = self.examples(batch)
        layers = self._layers(params)
        acts, a = [x], x
        for w, b in layers[:-1]:
            a = self._act(torch.baddbmm(b, a, w))
            acts.append(a)
        w, b = layers[-1]
        z = torch.baddbmm(b, a, w)
        logp = torch.log_softmax(z, -1)
        return self._nll(logp, y), MLPCache(acts, logp.exp(), y)

    def backward(self, params, cache: MLPCache):
        layers = self._layers(params)
        B = cache.y.shape[1]
        dz = cache.probs.clone()
        dz.scatter_add_(-1, cache.y.unsqueeze(-1), torch.full_like(dz[..., :1], -1.0))
        dz /= B
        grads = []
        for li in range(len(layers) - 1, -1, -1):
            w, _ = layers[li]
            a = cache.acts[li]
            grads.append(dz.sum(1))
            grads.append(torch.bmm(a.transpose(1, 2), dz).flatten(1))
            if li:
                dz = torch.bmm(dz, w.transpose(1, 2)) * self._act_grad(a)
        return torch.cat(grads[::-1], dim=1)

    @staticmethod
    def select_cache(take_a, a: MLPCache, b: MLPCache) -> MLPCache:
        m = take_a.view(-1, 1, 1)
        return MLPCache([torch.where(m, u, v) for u, v in zip(a.acts, b.acts)], torch.where(m, a.probs, b.probs), a.y)


def logistic_regression(dataset="mnist", device="cpu", batch_size=128) -> MLP:
    """Multinomial logistic regression: a convex problem on real data."""
    return MLP(dataset, hidden=(), device=device, batch_size=batch_size)


class ConvNet(_Classification):
    """A small conv net on 28x28 images: conv5x5/2 (c1) - act - conv5x5/2 (c2) - act - linear.

    Runs are batched as convolution groups; the gradient comes from autograd, so the forward pass is
    not reusable across steps (a guard comparing on the next batch recomputes it, and says so).
    """

    reusable_forward = False

    def __init__(self, dataset="mnist", channels=(8, 16), activation="relu", device="cpu", batch_size=128):
        _check("activation", activation, ACTIVATIONS)
        super().__init__(dataset, device, batch_size)
        if self.train.image_shape != (28, 28):
            raise ValueError(f"ConvNet needs 28x28 images; {dataset} has {self.train.image_shape}")
        self.c1, self.c2 = (int(c) for c in channels)
        self.activation = activation
        self.sizes = [self.c1 * 25, self.c1, self.c2 * self.c1 * 25, self.c2, self.c2 * 16 * self.classes, self.classes]
        self.fans = [25, 25, self.c1 * 25, self.c1 * 25, self.c2 * 16, self.c2 * 16]
        self.dim = sum(self.sizes)
        self.name = f"conv{self.c1}-{self.c2}-{activation}-{dataset}"

    def init_params(self, seeds):
        rows = []
        for g in run_generators(seeds, INIT):
            rows.append(torch.cat([(torch.rand(n, generator=g) * 2 - 1) / math.sqrt(f) for n, f in zip(self.sizes, self.fans)]))
        return torch.stack(rows).to(self.device)

    def _logits(self, params, x):
        S, N = x.shape[:2]
        w1, b1, w2, b2, w3, b3 = torch.split(params, self.sizes, dim=1)
        act = getattr(torch, self.activation)
        h = x.reshape(S, N, 28, 28).transpose(0, 1)  # (N, S, 28, 28): runs as groups
        h = act(F.conv2d(h, w1.reshape(S * self.c1, 1, 5, 5), b1.reshape(-1), stride=2, groups=S))
        h = act(F.conv2d(h, w2.reshape(S * self.c2, self.c1, 5, 5), b2.reshape(-1), stride=2, groups=S))
        h = h.reshape(N, S, self.c2 * 16).transpose(0, 1)
        return torch.baddbmm(b3.unsqueeze(1), h, w3.reshape(S, self.c2 * 16, self.classes))

    @staticmethod
    def _example_losses(z, y):
        return torch.logsumexp(z, -1) - z.gather(-1, y.unsqueeze(-1)).squeeze(-1)

    def forward(self, params, batch):
        x, y = self.examples(batch)
        with torch.enable_grad():
            p = params.detach().requires_grad_(True)
            losses = self._example_losses(self._logits(p, x), y)
        return losses.detach(), (p, losses)

    def backward(self, params, cache):
        p, losses = cache
        with torch.enable_grad():  # the evaluation loop runs under no_grad; the graph was built with grad
            (g,) = torch.autograd.grad(losses.mean(1).sum(), p)
        return g

    select_cache = None


# ----------------------------------------------------------------------------------------------
# Strongly convex quadratic with exact gradients


@dataclass
class QuadCache:
    diff: torch.Tensor  # x - x*


@dataclass
class Quadratic:
    """f(x) = 1/2 (x - x*)^T A (x - x*) + f*, with the spectrum of A log-spaced in [mu, L].

    A = Q diag(eigs) Q^T with a random rotation Q (from ``seed``); the problem is the same for every run,
    the starting point x0 ~ N(0, I) differs by run seed. Gradients are exact: a "batch" is a placeholder.
    """

    dim: int = 50
    mu: float = 0.1
    L: float = 10.0
    f_star: float = 1.0
    seed: int = 0
    rotate: bool = True  # False: A is diagonal (exact, for hand-checked tests)
    device: str = "cpu"
    reusable_forward: bool = field(default=True, init=False)

    def __post_init__(self):
        if not (0 < self.mu <= self.L):
            raise ValueError(f"need 0 < mu <= L, got mu={self.mu}, L={self.L}")
        g = torch.Generator().manual_seed(self.seed)
        q, _ = torch.linalg.qr(torch.randn(self.dim, self.dim, generator=g, dtype=torch.float64))
        if not self.rotate:
            q = torch.eye(self.dim, dtype=torch.float64)
        eigs = torch.logspace(math.log10(self.L), math.log10(self.mu), self.dim, dtype=torch.float64)
        self.A = ((q * eigs) @ q.T).float().to(self.device)
        self.x_star = torch.randn(self.dim, generator=g).to(self.device)
        self.name = f"quadratic{self.dim}-mu{self.mu:g}-L{self.L:g}"

    def init_params(self, seeds):
        return torch.stack([torch.randn(self.dim, generator=g) for g in run_generators(seeds, INIT)]).to(self.device)

    def sample_batch(self, gens, size=None):
        return None

    def forward(self, params, batch=None):
        diff = params - self.x_star
        f = 0.5 * ((diff @ self.A) * diff).sum(1) + self.f_star
        return f.unsqueeze(1), QuadCache(diff)

    def backward(self, params, cache: QuadCache):
        return cache.diff @ self.A

    @staticmethod
    def select_cache(take_a, a: QuadCache, b: QuadCache) -> QuadCache:
        return QuadCache(torch.where(take_a.view(-1, 1), a.diff, b.diff))

    def full_loss(self, params):
        return self.forward(params)[0].squeeze(1)


# ----------------------------------------------------------------------------------------------


def make_task(kind: str = "mlp", **kw):
    """Build a task from a params.yaml-style description (``kind`` plus keyword arguments; YAML lists,
    such as ``hidden: [20]``, are taken as the tuples the tasks expect)."""
    kw = {k: tuple(v) if isinstance(v, list) else v for k, v in kw.items()}
    kinds = {"mlp": MLP, "logreg": logistic_regression, "conv": ConvNet, "quadratic": Quadratic}
    _check("task kind", kind, tuple(kinds))
    if "dataset" in kw and kw["dataset"] not in data_mod.KNOWN:
        raise ValueError(f"unknown dataset {kw['dataset']!r}; allowed: {', '.join(data_mod.KNOWN)}")
    return kinds[kind](**kw)
