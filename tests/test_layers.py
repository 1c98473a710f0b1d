"""The package's shape: layers as subpackages that import only downwards, no private names across
modules, and the public API importable from the top."""
import ast
from pathlib import Path

import pytest

from lgl2o.core.paths import ROOT

# lowest first; a module may import from its own layer and the ones before it
LAYERS = ["core", "problems", "optim", "engine", "l2o", "experiments", "pipeline", "perf"]
RANK = {name: i for i, name in enumerate(LAYERS)}
RANK["perf"] = RANK["pipeline"]  # side by side: neither imports the other
MODULES = sorted(p for p in (ROOT / "lgl2o").rglob("*.py") if p.name != "__init__.py" or p.parent.name != "lgl2o")


def _layer(path: Path) -> str:
    return path.relative_to(ROOT / "lgl2o").parts[0]


def _imports(path: Path):
    """(line, absolute module name, imported names) of every import in ``path``."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")
            mod = ".".join(base[: len(base) - node.level + 1] + ([node.module] if node.module else [])) \
                if node.level else node.module
            yield node.lineno, mod, [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            for a in node.names:
                yield node.lineno, a.name, []


def test_every_module_sits_in_a_layer():
    assert {_layer(p) for p in MODULES} <= set(LAYERS)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_go_down_the_layers_only(path):
    mine = RANK[_layer(path)]
    for line, mod, _ in _imports(path):
        parts = mod.split(".")
        if parts[0] != "lgl2o" or len(parts) < 2:
            continue
        other = parts[1]
        assert RANK[other] < mine or other == _layer(path), \
            f"{path.relative_to(ROOT)}:{line} imports {mod}: layer {other!r} is above {_layer(path)!r}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_imports_another_modules_private_names(path):
    for line, mod, names in _imports(path):
        private = [n for n in names if n.startswith("_")]
        assert not private or mod == "__future__", f"{path.relative_to(ROOT)}:{line} imports {private} from {mod}"


def test_the_public_api():
    from lgl2o import GL2O, LGL2O, SGD, Adam, LossGuard, L2O, load_l2o, make_task, evaluate  # noqa: F401
    import lgl2o

    assert LGL2O.__module__ == "lgl2o.optim.guards" and evaluate.__module__ == "lgl2o.engine.loop"
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        lgl2o.nothing  # noqa: B018


@pytest.mark.parametrize("layer", ["engine", "experiments"])
def test_no_public_function_of_the_loop_or_the_experiments_takes_more_than_five_positional_parameters(layer):
    """A run's schedule (steps, seeds, logging, resume, ...) goes by keyword, so calls read and cannot shift."""
    long = []
    for path in sorted((ROOT / "lgl2o" / layer).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.name.startswith("_"):
                names = [a.arg for a in node.args.posonlyargs + node.args.args if a.arg not in ("self", "cls")]
                if len(names) > 5:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}({', '.join(names)})")
    assert not long, "make the schedule keyword-only (after a `*`):\n" + "\n".join(long)
