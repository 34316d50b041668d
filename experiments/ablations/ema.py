r"""Ablation ema: the sample grids and the export use an exponential moving average of G
(decay 0.99: a half-life of about 70 steps, short enough for 1000 adversarial steps).

    python train.py --config=experiments/ablations/ema.py --workdir=runs/ablations/ema
"""
from experiments.ablations import base


def get_config(variant=None):
    config = base.base_config()
    config.train.ema_decay = 0.99
    return base.finish(config, variant, "ema")
