r"""Ablation lsgan: the least-squares loss (Mao et al. 2017) instead of the
non-saturating one.

    python train.py --config=experiments/ablations/lsgan.py --workdir=runs/ablations/lsgan
"""
from experiments.ablations import base


def get_config(variant=None):
    config = base.base_config()
    config.loss.adversarial = "lsgan"
    return base.finish(config, variant, "lsgan")
