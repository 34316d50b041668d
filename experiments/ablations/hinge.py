r"""Ablation hinge: the hinge loss (Lim & Ye 2017) instead of the non-saturating one.

    python train.py --config=experiments/ablations/hinge.py --workdir=runs/ablations/hinge
"""
from experiments.ablations import base


def get_config(variant=None):
    config = base.base_config()
    config.loss.adversarial = "hinge"
    return base.finish(config, variant, "hinge")
