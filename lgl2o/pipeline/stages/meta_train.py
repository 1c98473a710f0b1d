"""Stage 02: meta-training and the trained L2O against tuned SGD and Adam."""
from __future__ import annotations

from ...experiments import meta_train
from ...experiments.summary import summary_table
from .. import plots
from .show import MNIST_MLP, SMOKE_RATES, Shown, save  # noqa: F401 - for the notebook's smoke config


def run(config: dict, out_dir, figure) -> Shown:
    cfg = meta_train.MetaTrainConfig.from_dict(config)
    mcfg = cfg.meta_config()
    log, net, info = meta_train.train(cfg, out_dir)
    n = meta_train.episodes(log)
    curve = save(plots.meta_learning_curve(log, f"meta-training ({n} episodes x {mcfg.optimizees} optimizees, "
                                                f"{len(cfg.phases)} phases)", mcfg.objective),
                 str(figure).replace(".png", "_curve.png"), None)
    table, summary, problem = meta_train.evaluate_trained(cfg, net, log, out_dir)
    png = save(plots.loss_curves(table, title=f"{problem.name}: meta-trained L2O vs tuned baselines"), figure,
               f"meta: {n} episodes x {mcfg.optimizees}; eval: {len(cfg.eval_seeds)} seeds")
    text = (f"best validation loss {info['val_loss']:.4f} at meta-step {info['meta_step']}; "
            f"{int(log.skipped.sum())} meta-steps skipped; {log.wall_s.max() / 60:.1f} min")
    return Shown(summary_table(summary), [curve, png], text=text, data={"log": log, "table": table})
