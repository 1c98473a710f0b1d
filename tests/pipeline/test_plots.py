"""The figures say what they measured: readable ticks on every ablation panel, bands that stay within the
seeds' values for 2-seed runs."""
import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from lgl2o.pipeline import plots  # noqa: E402


def test_every_ablation_panel_has_labelled_ticks_even_on_a_short_log_axis():
    rows = [{"optimizer": o, "kind": "reference" if o in ("sgd", "l2o") else "variant", "step": s, "mean": m,
             "ci_low": m * 0.98, "ci_high": m * 1.02, "share": np.nan if o == "sgd" else 0.3, "fwd_per_step": 2,
             "bwd_per_step": 1, "examples_per_step": 1, "diverged": "0/5"}
            for s, base in ((100, 0.33), (2000, 0.15)) for o, m in (("sgd", base), ("l2o", base * 1.05),
                                                                   ("lgl2o[z2]", base * 1.02))]
    fig = plots.ablation_dots(pd.DataFrame(rows))
    fig.canvas.draw()
    for ax in fig.axes[:-1]:  # the loss panels; each spans far less than a decade
        lo, hi = ax.get_xlim()
        shown = [t.get_text() for t in ax.get_xticklabels() if t.get_text() and lo <= t.get_position()[0] <= hi]
        assert len(shown) >= 2, (shown, lo, hi)
        assert all(lo <= float(x) <= hi for x in shown)


def test_a_two_seed_band_is_the_seeds_min_and_max():
    g = pd.DataFrame({"step": [0, 0, 10, 10], "seed": [0, 1, 0, 1], "full_loss": [1.0, 3.0, 0.5, 0.7]})
    band = plots._band(g, "full_loss")
    np.testing.assert_allclose(band, [[0, 2.0, 1.0, 3.0], [10, 0.6, 0.5, 0.7]])
    five = pd.DataFrame({"step": [0] * 5, "seed": range(5), "full_loss": [1.0, 1.1, 0.9, 1.05, 0.95]})
    _, m, lo, hi = plots._band(five, "full_loss")[0]
    assert lo < 0.95 and hi > 1.05 and abs(m - 1.0) < 1e-12  # a t-interval from 3 seeds on
