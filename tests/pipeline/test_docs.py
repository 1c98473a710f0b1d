"""The landing page and the docs: short, linked, no dangling reference."""
import re

import pytest

from lgl2o.core.paths import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    broken = []
    for target in LINK.findall(page.read_text()):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        path = (page.parent / target.split("#")[0]).resolve()
        if not path.exists():
            broken.append(target)
    assert not broken, f"{page.name}: broken links {broken}"


def test_the_readme_is_short_shows_a_figure_first_and_links_every_docs_page():
    text = (ROOT / "README.md").read_text()
    lines = text.splitlines()
    assert len(lines) <= 250
    assert any(re.match(r"!\[[^\]]*\]\(figures/\S+\.png\)", line) for line in lines[:15])
    for page in (ROOT / "docs").glob("*.md"):
        assert f"(docs/{page.name})" in text, f"README does not link docs/{page.name}"
    assert (ROOT / "LICENSE").is_file() and (ROOT / "CITATION.cff").is_file()


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_page_points_at_what_a_reader_cannot_open(page):
    text = page.read_text()
    for phrase in ("DESIGN §", "these machines", "the performance issue", "in the session"):
        assert phrase not in text, f"{page.name} says {phrase!r}"


def test_the_readmes_time_for_a_full_repro_is_the_sum_of_the_recorded_durations():
    from lgl2o.pipeline.report import total_hours

    m = re.search(r"~(\d+(?:\.\d)?) h for `dvc repro -f`", (ROOT / "README.md").read_text())
    assert m, "README does not say how long `dvc repro -f` takes"
    assert float(m.group(1)) == round(total_hours(), 1)


def test_the_readmes_minutes_per_stage_are_the_recorded_durations():
    from lgl2o.pipeline.report import durations

    recorded = {}
    for r in durations():  # a piece (06_long_horizon_run@sgd-0) counts towards its stage
        stage = r["stage"].replace("_run@", "@").split("@")[0]
        recorded[stage] = recorded.get(stage, 0) + r["minutes"]
    rows = [line for line in (ROOT / "README.md").read_text().splitlines() if re.match(r"\| \[?`\d\d_", line)]
    assert len(rows) == 9, "README's stage table should have one row per stage"
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        stage = re.search(r"`(\d\d_\w+)`", cells[0]).group(1)
        variants = re.findall(r"\[(\w+)\]\(results/", cells[0]) if cells[0].startswith("`") else []
        names = [f"{stage}/{v}" for v in variants] or [stage]
        shown = [c.strip() for c in cells[-1].split(",")]
        want = [f"{recorded[n]:.0f}" if recorded[n] >= 10 else f"{recorded[n]:.1f}" for n in names]
        assert shown == want, f"README gives {stage} {shown} minutes; its recorded durations are {want}"
