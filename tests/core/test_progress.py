"""Progress lines: written to the stage runner's file at most every interval and at the end, with rate and
time left; none of it reaches the executed notebook."""
import json
import re

from lgl2o.core import progress


def test_a_progress_file_gets_a_line_per_interval_and_one_at_the_end(tmp_path, monkeypatch):
    path = tmp_path / "progress.log"
    monkeypatch.setenv(progress.ENV, str(path))
    p = progress.Progress(100, "sgd steps", every=3600.0)
    for _ in range(100):
        p.update()
    p.close()
    lines = path.read_text().splitlines()
    assert len(lines) == 2  # the first update and the end; nothing in between within the interval
    assert lines[0].startswith("sgd steps: 1/100 (1%), ") and "left" in lines[0]
    assert re.match(r"sgd steps: 100/100 \(100%\), [\d.]+/s, 0m0\ds so far$", lines[1])


def test_disabled_progress_writes_nothing(tmp_path, monkeypatch):
    path = tmp_path / "progress.log"
    monkeypatch.setenv(progress.ENV, str(path))
    p = progress.Progress(10, "x", disable=True)
    p.update(10)
    p.close()
    assert not path.exists()


def test_durations_read_as_minutes_or_hours():
    assert progress._duration(59) == "0m59s" and progress._duration(3725) == "1h02m"


def test_a_stage_shows_progress_on_the_terminal_and_not_in_its_notebook(tmp_path, monkeypatch, capfd):
    """The runner tails the progress file that the notebook's kernel writes (here: this process)."""
    from lgl2o.pipeline import stage

    with stage.shown_progress("07_convex_guarantee"):
        p = progress.Progress(3, "gd steps")
        for _ in range(3):
            p.update()
        p.close()
    err = capfd.readouterr().err
    assert "07_convex_guarantee: gd steps: 1/3 (33%)" in err and "07_convex_guarantee: gd steps: 3/3 (100%)" in err
    assert progress.ENV not in __import__("os").environ


def test_an_executed_notebook_at_smoke_scale_keeps_its_outputs_and_no_progress_flood(tmp_path, capfd):
    import papermill

    from lgl2o.core.paths import ROOT
    from lgl2o.pipeline import stage

    out = tmp_path / "nb.ipynb"
    with stage.shown_progress("06_long_horizon"):
        papermill.execute_notebook(str(ROOT / "notebooks" / "06_long_horizon.ipynb"), str(out), progress_bar=False,
                                   cwd=str(ROOT / "notebooks"),
                                   parameters={"out_dir": str(tmp_path), "figure": str(tmp_path / "f.png")})
    cells = [c for c in json.loads(out.read_text())["cells"] if c["cell_type"] == "code"]
    for c in cells:
        streams = [o for o in c["outputs"] if o["output_type"] == "stream"]
        assert sum("".join(o["text"]).count("\n") for o in streams) <= 3, c["source"]
    assert any("image/png" in str(o.get("data", {})) or "<img" in str(o.get("data", {})) for o in cells[-1]["outputs"])
    assert "06_long_horizon: sgd steps: 20/20 (100%)" in capfd.readouterr().err  # on the terminal instead


def test_the_runner_shows_every_line_written_just_before_the_block_ends(capfd):
    """The tail thread may read an empty file, then find the block over: it must still show what was written
    in between. Polling without pause (``every=0``) makes that interleaving common, so 200 runs must all
    show every line."""
    from lgl2o.pipeline import stage

    for i in range(200):
        with stage.shown_progress(f"run{i}", every=0.0):
            p = progress.Progress(3, "gd steps")
            for _ in range(3):
                p.update()
            p.close()
    err = capfd.readouterr().err
    missing = [i for i in range(200) if f"run{i}: gd steps: 3/3 (100%)" not in err]
    assert not missing, f"runs {missing} lost their last progress line"
