"""Typed, strict stage configurations: the machinery and the parts they share. Each stage kind's
configuration is a ``Config`` beside the code that runs it (``comparison.ComparisonConfig``, ...), built
from a ``params.yaml`` section (``Config.from_dict``) before any work starts.

An unknown, missing or wrongly typed key, or a bad value, fails with ``ConfigError`` naming the key, the
value and what is allowed. Types are checked from the annotations; values by each field's ``check``
(``field(metadata={"check": ...})``) and by the constructors the settings are for (a guard's settings
are tried on ``LGL2O`` itself), so every rule is written once.
"""
from __future__ import annotations

import math
import re
import types
import typing
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from typing import Any, ClassVar

from ..core.paths import repo_path
from ..problems.data import KNOWN as DATASETS
from ..problems.tasks import ACTIVATIONS, KINDS, parameters


class ConfigError(ValueError):
    """A bad stage configuration; the message names the key, the value and what is allowed."""


def fail(where: str, value, allowed: str):
    raise ConfigError(f"bad parameter {where}={value!r}: {allowed}")


# -- value checks (field metadata "check": a function of (where, value) that raises ConfigError) ----


def positive(where, v):
    if not v > 0:
        fail(where, v, "a positive number")


def non_negative(where, v):
    if not v >= 0:
        fail(where, v, "a number >= 0")


def finite(where, v):
    if not math.isfinite(v):
        fail(where, v, "a finite number")


def seeds(where, v):
    if not v or any(s < 0 for s in v):
        fail(where, v, "a non-empty list of non-negative integer seeds")


def positive_each(where, v):
    if not v or any(not x > 0 for x in v):
        fail(where, v, "a non-empty list of positive numbers")


def device(where, v):
    import torch

    if not re.fullmatch(r"cpu|cuda(:\d+)?", v):
        fail(where, v, "'cpu' or 'cuda[:index]'")
    if v.startswith("cuda") and not torch.cuda.is_available():
        fail(where, v, "CUDA is not available on this machine; use 'cpu' here")


def l2o_checkpoint(where, v):
    if v is not None and not repo_path(f"{v}.pt").is_file():
        fail(where, v, f"{v}.pt does not exist (the meta-trained L2O comes from stage 02_meta_train)")


def rates_file(where, v):
    if isinstance(v, str) and not repo_path(v).is_file():
        fail(where, v, f"{v} does not exist (the tuned rates come from stage 01_tune_baselines)")
    if isinstance(v, dict) and set(v) != {"sgd", "adam"}:
        fail(where, v, "a best.json path or rates for exactly 'sgd' and 'adam'")


def one_of(allowed: tuple[str, ...]):
    """A check that the value is one of ``allowed``."""
    def check(where, v):
        if v not in allowed:
            fail(where, v, f"one of {', '.join(allowed)}")
    return check


def subset_of(allowed):
    """A check that the value is a list of distinct items of ``allowed``."""
    def check(where, v):
        if len(set(v)) != len(v) or any(x not in allowed for x in v):
            fail(where, v, f"a list of distinct items of {', '.join(allowed)}")
    return check


dataset, activation = one_of(DATASETS), one_of(ACTIVATIONS)


def checked(fn) -> dict:
    """A field's metadata: check its value with ``fn(where, value)`` (which raises ConfigError)."""
    return {"check": fn}


# -- the schema machinery ------------------------------------------------------------------------


def _type_name(hint) -> str:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(hint))
    if origin is list:
        return f"a list of {_type_name(typing.get_args(hint)[0])}"
    if origin is dict:
        return f"a mapping of names to {_type_name(typing.get_args(hint)[1])}"
    if isinstance(hint, type) and issubclass(hint, Config):
        return f"a mapping of {hint.__name__} settings"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false",
            type(None): "null"}.get(hint, getattr(hint, "__name__", str(hint)))


def _coerce(hint, value, where: str):
    """``value`` checked against the annotation ``hint`` (nested configs built); ConfigError if it is not one."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(hint):
            try:
                return _coerce(option, value, where)
            except ConfigError:
                continue
        fail(where, value, _type_name(hint))
    if origin is list:
        if not isinstance(value, list):
            fail(where, value, _type_name(hint))
        return [_coerce(typing.get_args(hint)[0], v, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            fail(where, value, _type_name(hint))
        return {k: _coerce(typing.get_args(hint)[1], v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(hint, type) and issubclass(hint, Config):
        return hint.from_dict(value, where)
    ok = {
        bool: lambda v: isinstance(v, bool),
        int: lambda v: isinstance(v, int) and not isinstance(v, bool),
        float: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        str: lambda v: isinstance(v, str),
        type(None): lambda v: v is None,
    }[hint](value)
    if not ok:
        fail(where, value, _type_name(hint))
    return value


@dataclass(frozen=True)
class Config:
    """A strict configuration: ``from_dict`` refuses unknown, missing and wrongly typed keys and bad values."""

    # fields naming where the stage writes (repo-relative): the stage runner redirects them into its staging
    # folder (``pipeline.outputs``), as it does out_dir and the figure
    outputs: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def from_dict(cls, d, where: str | None = None):
        where = where or cls.__name__
        if not isinstance(d, dict):
            fail(where, d, f"a mapping of {cls.__name__} settings")
        hints = typing.get_type_hints(cls)
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(d) - set(known))
        if unknown:
            raise ConfigError(f"{where}: unknown parameter(s) {', '.join(unknown)} (a misspelling?); "
                              f"allowed: {', '.join(known)}")
        missing = [n for n, f in known.items() if n not in d and f.default is MISSING and f.default_factory is MISSING]
        if missing:
            raise ConfigError(f"{where}: missing parameter(s) {', '.join(missing)}")
        values = {}
        for name, value in d.items():
            values[name] = _coerce(hints[name], value, f"{where}.{name}")
            check = known[name].metadata.get("check")
            if check is not None and values[name] is not None:
                check(f"{where}.{name}", values[name])
        obj = cls(**values)
        obj.validate(where)
        return obj

    def validate(self, where: str) -> None:
        """Checks across fields (a subclass's); raise ConfigError."""

    def staged(self, where) -> Config:
        """This configuration with each of its ``outputs`` paths ``p`` replaced by ``where(p)``."""
        return replace(self, **{name: where(getattr(self, name)) for name in self.outputs
                                if getattr(self, name) is not None})

    def to_dict(self) -> dict:
        """Plain data, as papermill injects it into a notebook (nested configs as mappings of the keys given)."""
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            out[f.name] = v.to_dict() if isinstance(v, Config) else v
        return out


def given(cfg: Config) -> dict:
    """The fields of ``cfg`` that are not None (what was given, for configs whose every field is optional)."""
    return {k: v for k, v in asdict(cfg).items() if v is not None}


# -- the parts ------------------------------------------------------------------------------------

# the keys each kind of classification task takes: its constructor's keywords (problems.tasks.parameters)
TASK_KEYS = {kind: keys for kind in KINDS if "dataset" in (keys := tuple(parameters(kind)))}


@dataclass(frozen=True)
class TaskConfig(Config):
    """A classification optimizee (``problems.tasks.make_task``); keys not given take the task's defaults.
    Its fields are the keywords of every kind (``TASK_KEYS``, from the constructors; a test keeps them so)."""

    kind: str
    dataset: str | None = field(default=None, metadata=checked(dataset))
    hidden: list[int] | None = field(default=None, metadata=checked(positive_each))
    channels: list[int] | None = field(default=None, metadata=checked(positive_each))
    activation: str | None = field(default=None, metadata=checked(activation))
    batch_size: int | None = field(default=None, metadata=checked(positive))

    def validate(self, where):
        if self.kind not in TASK_KEYS:
            fail(f"{where}.kind", self.kind, f"one of {', '.join(TASK_KEYS)}")
        bad = sorted(set(given(self)) - {"kind", *TASK_KEYS[self.kind]})
        if bad:
            raise ConfigError(f"{where}: {', '.join(bad)} do(es) not apply to a {self.kind} task; "
                              f"allowed: {', '.join(TASK_KEYS[self.kind])}")

    def to_dict(self) -> dict:
        return given(self)
