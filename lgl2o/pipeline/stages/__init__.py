"""What each stage's notebook runs: one module per stage kind whose ``run`` builds the typed
configuration, runs the experiment (``lgl2o.experiments``: the numbers), draws and saves the figure, and
returns what the notebook shows (``show.Shown``: the summary table and the figure).

    from lgl2o.pipeline.stages import comparison
    comparison.run(config, out_dir, figure, title="in distribution")

``config`` is the notebook's ``config`` parameter: a smoke configuration in the notebook, the
``params.yaml`` section when the stage runs. One module per kind, so that a stage's import graph (its
DVC dependencies) holds only the experiment it runs."""
