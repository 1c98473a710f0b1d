"""dvc.yaml's conventions (docs/design.md): stage name = notebook, params.yaml section = the name without its
number, deps = the notebook's imports; a stage run in pieces has one stage per piece; plots read stage outputs."""
import json

import yaml

from lgl2o.core.paths import ROOT
from lgl2o.engine.loop import COLUMNS

DVC = yaml.safe_load((ROOT / "dvc.yaml").read_text())
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())


def _stages():
    """(name, variant or None, definition with ${item} substituted) for every notebook stage and foreach variant."""
    from lgl2o.pipeline.deps import stage_notebook

    for name, st in DVC["stages"].items():
        if not stage_notebook(st):
            continue
        if "foreach" not in st:
            yield name, None, st
            continue
        for item in st["foreach"]:
            yield name, item, yaml.safe_load(yaml.safe_dump(st["do"]).replace("${item}", str(item)))


def _paths(entries):
    return [next(iter(e)) if isinstance(e, dict) else e for e in entries or []]


def test_every_notebook_is_one_stage_named_after_it_with_its_params_section():
    from lgl2o.pipeline.stage import section_name

    notebooks = {p.stem for p in (ROOT / "notebooks").glob("*.ipynb")}
    assert {name for name, _, _ in _stages()} == notebooks
    for name, variant, st in _stages():
        assert st["cmd"] == f"python -m lgl2o.pipeline.stage {name}" + (f" --variant {variant}" if variant else "")
        section = section_name(name)
        # a variant depends on its section's base and its own settings, not on its siblings' (and on the
        # shared settings it takes: test_every_stage_lists_exactly_the_shared_params_it_takes)
        want = [section] if variant is None else [f"{section}.base", f"{section}.{variant}"]
        own = [p for p in st["params"] if not p.startswith("shared.")]
        assert f"notebooks/{name}.ipynb" in st["deps"] and own == want
        assert section in PARAMS and (variant is None or variant in PARAMS[section])
        outs = _paths(st.get("outs")) + _paths(st.get("metrics"))
        assert any(p.endswith("notebook.ipynb") for p in outs), name


def test_a_stage_run_in_pieces_has_one_stage_per_piece_and_its_notebook_joins_them():
    from lgl2o.pipeline.deps import stage_notebook
    from lgl2o.pipeline.piece import STAGES
    from lgl2o.pipeline.stage import section_name

    assert {n for n, st in DVC["stages"].items() if not stage_notebook(st)} == {f"{j}_run" for j in STAGES}
    for joined in STAGES:
        st, section = DVC["stages"][f"{joined}_run"], section_name(joined)
        # one piece per optimizer (the keys of steps) and seed, depending on the shared settings and its own length
        assert st["matrix"] == {"optimizer": f"${{{section}.steps}}", "seed": f"${{{section}.seeds}}"}
        assert st["cmd"] == f"python -m lgl2o.pipeline.piece {joined} ${{item.optimizer}} ${{item.seed}}"
        own = [p for p in st["params"] if not p.startswith("shared.")]
        assert own == [f"{section}.run", f"{section}.steps.${{item.optimizer}}"]
        assert _paths(st["outs"]) == [f"results/{joined}/runs/${{item.optimizer}}-${{item.seed}}.{ext}"
                                      for ext in ("csv", "json")]
        assert f"results/{joined}/runs" in DVC["stages"][joined]["deps"]
        assert set(PARAMS[section]["steps"]) and PARAMS[section]["seeds"]


def test_dvc_plots_read_stage_outputs_through_a_template_that_exists():
    outs = {p for _, _, st in _stages() for key in ("outs", "plots") for p in _paths(st.get(key))}
    for entry in DVC["plots"]:
        path, spec = next(iter(entry.items()))
        assert path in outs, path
        template = ROOT / ".dvc" / "plots" / f"{spec['template']}.json"
        text = template.read_text()
        json.loads(text)
        assert {spec["x"], spec["y"]} <= set(COLUMNS)
        for column in ("step", "full_loss", "optimizer"):  # the columns the template draws
            assert f"datum.{column}" in text or f'"{column}"' in text
            assert column in COLUMNS


def test_every_stage_depends_on_exactly_the_package_files_its_notebook_imports():
    from lgl2o.pipeline.deps import stage_deps

    for name, st in DVC["stages"].items():
        listed = sorted(d for d in st.get("do", st)["deps"] if d.startswith("lgl2o/"))
        assert listed and listed == stage_deps(st), (
            f"{name}: dvc.yaml's package deps are not its notebook's imports; run `python -m lgl2o.pipeline.deps --write`")


def test_every_stage_lists_exactly_the_shared_params_it_takes():
    from lgl2o.pipeline.deps import shared_params

    for name, st in DVC["stages"].items():
        listed = [p for p in st.get("do", st).get("params", []) if str(p).startswith("shared.")]
        assert listed == shared_params(name, st), (
            f"{name}: dvc.yaml's shared params are not the ones it takes; run `python -m lgl2o.pipeline.deps --write`")
    assert shared_params("07_convex_guarantee", DVC["stages"]["07_convex_guarantee"]) == [
        "shared.device", "shared.l2o_checkpoint"]


def test_a_stage_depends_on_no_code_it_does_not_run():
    """An edit of the L2O's code re-runs no stage without an L2O; the native step's C source, no stage that
    never steps the L2O natively."""
    from lgl2o.pipeline.deps import notebook_deps

    assert not [d for d in notebook_deps("01_tune_baselines") if d.startswith("lgl2o/l2o/")]
    assert not [d for d in notebook_deps("07_convex_guarantee") if d.startswith("lgl2o/l2o/backends/")]
    assert "lgl2o/l2o/backends/csrc/lstm_cell.c" in notebook_deps("08_cost")


def test_the_import_graph_sees_imports_inside_functions_and_the_sources_of_compiled_code():
    from lgl2o.pipeline.deps import notebook_deps, stage_deps

    deps = notebook_deps("03_in_distribution")
    # make_step imports the native backend inside a function; native.py compiles csrc/lstm_cell.c
    assert "lgl2o/l2o/backends/native.py" in deps and "lgl2o/l2o/backends/csrc/lstm_cell.c" in deps
    assert not any(d.startswith(("lgl2o/core/", "lgl2o/pipeline/")) for d in deps)
    assert "lgl2o/experiments/guard_ablation.py" not in deps  # not imported by the comparison
    # a piece runs a package module; the stage runner it borrows the configuration from is not followed
    deps = stage_deps({"cmd": "python -m lgl2o.pipeline.piece 06_long_horizon sgd 0", "deps": []})
    assert "lgl2o/experiments/long_horizon.py" in deps and "lgl2o/experiments/guard_ablation.py" not in deps


def test_committed_metrics_are_the_headlines_of_the_committed_summaries_and_fit_a_terminal():
    from lgl2o.experiments.summary import headline

    def columns(d, prefix=""):
        return [c for k, v in d.items() for c in (columns(v, f"{prefix}{k}.") if isinstance(v, dict) else [prefix + k])]

    metrics = [p for _, _, st in _stages() for p in _paths(st.get("metrics"))]
    assert metrics and all(p.endswith("/metrics.json") for p in metrics)
    union = set()
    for path in metrics:
        summary = json.loads((ROOT / path.replace("metrics.json", "summary.json")).read_text())
        shown = json.loads((ROOT / path).read_text())
        assert shown == headline(summary), f"{path} is not the headline of its summary.json"
        union |= set(columns(shown))
    # `dvc metrics show` prints one column per key in any metrics file (it was 217 with the configs echoed)
    assert len(union) <= 30, sorted(union)
