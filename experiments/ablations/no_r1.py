r"""Ablation no_r1: no R1 penalty on D.

    python train.py --config=experiments/ablations/no_r1.py --workdir=runs/ablations/no_r1
"""
from experiments.ablations import base


def get_config(variant=None):
    config = base.base_config()
    config.loss.r1_weight = 0.0
    return base.finish(config, variant, "no_r1")
