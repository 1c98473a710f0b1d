"""The README's code runs as printed."""
import re

from lgl2o.core.paths import ROOT


def test_readme_guard_example_runs(capsys):
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "README has no python example"
    for code in blocks:
        exec(compile(code, "README.md", "exec"), {})
    out = capsys.readouterr().out
    loss = float(re.search(r"loss (\d+\.\d+)", out).group(1))
    assert loss < 1.0  # from ~2.3 at initialisation


def test_the_results_page_matches_the_committed_summaries():
    from lgl2o.pipeline import report

    assert report.main(["--check"]) == 0, "run `python -m lgl2o.pipeline.report` after a stage changes its summary"
