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


def test_a_stage_of_two_seeds_shows_each_seed_not_an_interval():
    """A 95% t-interval on one degree of freedom can reach below zero (SGD at 10^5: [-0.011, 0.054]); the
    long horizon's tables give the mean and each seed's value instead."""
    import pandas as pd

    from lgl2o.pipeline import report
    from lgl2o.pipeline.stages.show import per_seed, seed_table

    assert per_seed([0.01903, 0.02408]) == "0.02155 (0.01903, 0.02408)"
    page = report.render()
    block = page[page.index("**06_long_horizon**"):page.index("**07_convex_guarantee**")]
    assert "each seed's value" in block and "[" not in block.replace("[figure]", "")
    assert "| sgd | 0.3742 (0.3928, 0.3556) |" in block
    table = pd.DataFrame({"optimizer": ["a"] * 4, "seed": [0, 1, 0, 1], "step": [1, 1, 2, 2],
                          "full_loss": [1.0, 3.0, 0.5, 1.5], "test_acc": [0.5, 0.5, 0.9, 0.7]})
    shown = seed_table(table, [1, 2])
    assert shown.loc["a"].tolist() == ["2 (1, 3)", "1 (0.5, 1.5)", "0.8 (0.9, 0.7)", "–"]
