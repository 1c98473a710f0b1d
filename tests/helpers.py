"""Adversarial proposals for the guard tests (from the package, so notebooks and tests share them)."""
from lgl2o.adversarial import Divergent, Fixed, NonFinite, RandomStep

FixedProposal = Fixed


def random_proposal(scale=3.0, seed=0):
    return RandomStep(scale, seed)


def divergent_proposal():
    return Divergent()


def nan_proposal(kind="nan"):
    return NonFinite(float(kind))
