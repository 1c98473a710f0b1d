"""The package files a stage's numbers depend on, from the import graph of its notebook.

    python -m lgl2o.pipeline.deps            # every stage's package dependencies, as dvc.yaml lists them
    python -m lgl2o.pipeline.deps --write    # rewrite the package files among dvc.yaml's deps, and the
                                             # shared params each stage takes, to match

A stage depends on every module its notebook imports (a stage without a notebook: the module its ``cmd``
runs with ``python -m``), directly or through other modules (imports inside functions included), except
the layers that cannot change a number: ``core`` (paths, atomic writes) and ``pipeline`` (the stage
runner, the report, the figures), the top-level ``__init__`` (the lazily loaded public API) and the
subpackages' ``__init__`` files that hold only their docstring. The stage runner's own imports are not
followed: it loads every stage kind's configuration to check parameters, and a stage's numbers come from
the modules of its own kind, which its notebook or module imports itself. A module that compiles C source
depends on that source too.
``tests/pipeline/test_dvc_pipeline.py`` checks that ``dvc.yaml`` lists exactly these files.

Likewise its params: a stage takes from ``params.yaml``'s ``shared`` section each setting its own section
does not state (``stage.with_shared``), and lists exactly those as ``shared.<key>`` (``shared_params``).
"""
from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

from ..core.paths import ROOT

PACKAGE = ROOT / "lgl2o"
NO_NUMBERS = ("lgl2o/core/", "lgl2o/pipeline/")
NOT_FOLLOWED = ("lgl2o/pipeline/stage.py",)
SOURCES = {"lgl2o/l2o/backends/native.py": ("lgl2o/l2o/backends/csrc/lstm_cell.c",),
           "lgl2o/optim/candidates.py": ("lgl2o/optim/csrc/select_rows.c",)}


def _module_file(name: str) -> Path | None:
    """The file of module ``lgl2o.x.y`` (a package's __init__.py), or None outside the package."""
    if name != "lgl2o" and not name.startswith("lgl2o."):
        return None
    base = ROOT.joinpath(*name.split("."))
    for f in (base.with_suffix(".py"), base / "__init__.py"):
        if f.is_file():
            return f
    return None


def _imported(tree: ast.AST, package: str) -> set[str]:
    """Module names imported anywhere in ``tree`` (relative imports resolved against ``package``)."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                mod = f"{base}.{node.module}" if node.module else base
            else:
                mod = node.module
            out.add(mod)
            out.update(f"{mod}.{a.name}" for a in node.names)  # "from pkg import module"
    return out


def _closure(start: set[Path]) -> set[Path]:
    """Every package file that the files ``start`` reach by imports, themselves included."""
    seen, todo = set(start), list(start)
    while todo:
        path = todo.pop()
        if path.relative_to(ROOT).as_posix() in NOT_FOLLOWED:
            continue
        rel = path.relative_to(ROOT).with_suffix("")
        package = ".".join(rel.parts[:-1])  # for a package's __init__, the package itself
        for name in _imported(ast.parse(path.read_text()), package):
            parts = name.split(".")
            for i in range(1, len(parts) + 1):  # a module's parent packages run first
                f = _module_file(".".join(parts[:i]))
                if f is not None and f not in seen:
                    seen.add(f)
                    todo.append(f)
    return seen


def _docstring_only(rel: str) -> bool:
    body = ast.parse((ROOT / rel).read_text()).body
    return all(isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant) for n in body)


def source_deps(source: Path) -> list[str]:
    """Repo-relative files that a stage running ``source`` (a notebook's paired .py, or a package module)
    depends on, sorted."""
    package = ".".join(source.relative_to(ROOT).with_suffix("").parts[:-1]) if source.is_relative_to(PACKAGE) else "lgl2o"
    start = {f for f in map(_module_file, _imported(ast.parse(source.read_text()), package)) if f is not None}
    rel = {f.relative_to(ROOT).as_posix() for f in _closure(start)}
    rel = {r for r in rel if not r.startswith(NO_NUMBERS) and r != "lgl2o/__init__.py" and not _docstring_only(r)}
    rel |= {src for r in rel for src in SOURCES.get(r, ())}
    return sorted(rel)


def notebook_deps(notebook: str | Path) -> list[str]:
    """Repo-relative files that the stage of ``notebook`` (its paired .py) depends on, sorted."""
    return source_deps(ROOT / "notebooks" / f"{Path(notebook).stem}.py")


def stage_notebook(stage: dict) -> str | None:
    """The notebook among a dvc.yaml stage's deps (``do`` of a foreach stage), or None."""
    body = stage.get("do", stage)
    return next((d for d in body.get("deps", []) if str(d).startswith("notebooks/")), None)


def stage_source(stage: dict) -> Path | None:
    """What a dvc.yaml stage runs: its notebook's paired .py, or the package module of its ``python -m``
    command; None for a stage that runs neither."""
    nb = stage_notebook(stage)
    if nb is not None:
        return ROOT / "notebooks" / f"{Path(nb).stem}.py"
    m = re.match(r"python -m (lgl2o(?:\.\w+)+)", stage.get("do", stage).get("cmd", ""))
    return _module_file(m.group(1)) if m else None


def stage_deps(stage: dict) -> list[str]:
    """The package files a dvc.yaml stage must list among its deps (none for a stage that runs neither a
    notebook nor a package module)."""
    source = stage_source(stage)
    return source_deps(source) if source is not None else []


def shared_params(name: str, stage: dict, params: dict | None = None) -> list[str]:
    """``shared.<key>`` for every key of params.yaml's shared section that the dvc.yaml stage ``name``
    (every variant of a foreach stage) takes, sorted; none for a stage without a params.yaml section."""
    import yaml

    from .piece import STAGES as PIECED
    from .stage import section_name, stage_section

    params = params if params is not None else yaml.safe_load((ROOT / "params.yaml").read_text())
    name = {f"{s}_run": s for s in PIECED}.get(name, name)  # a piece reads the section of the stage it is part of
    if section_name(name) not in params:
        return []
    used: set = set()
    variants = stage.get("foreach")  # a list for a foreach stage (a matrix's pieces read one section)
    for variant in variants if isinstance(variants, list) else [None]:
        stage_section(name, variant, params, used)
    return [f"shared.{k}" for k in sorted(used)]


def write_dvc_yaml(path: Path = ROOT / "dvc.yaml") -> None:
    """Replace the package files among every stage's deps with ``notebook_deps``, and the shared params
    among its params with ``shared_params`` (comments kept)."""
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    doc = yaml.load(path.read_text())
    for stage in doc["stages"].values():
        if stage_source(stage) is None:
            continue
        deps = stage.get("do", stage)["deps"]
        keep = [d for d in deps if not str(d).startswith("lgl2o/")]
        first = 1 if stage_notebook(stage) else 0  # after the notebook
        deps[:] = keep[:first] + stage_deps(stage) + keep[first:]
    for name, stage in doc["stages"].items():
        body = stage.get("do", stage)
        if "params" in body:
            own = [p for p in body["params"] if not str(p).startswith("shared.")]
            body["params"][:] = own + shared_params(name, stage)
    with open(path, "w") as f:
        yaml.dump(doc, f)


def main(argv=None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m lgl2o.pipeline.deps", description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="rewrite dvc.yaml's package deps")
    args = ap.parse_args(argv)
    if args.write:
        write_dvc_yaml()
        return 0
    import yaml

    for name, stage in yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"].items():
        print(f"{name}:")
        for d in stage_deps(stage):
            print(f"  - {d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
