r"""Ablation multiscale_d: the PatchGAN at three image scales (full, 1/2, 1/4).

    python train.py --config=experiments/ablations/multiscale_d.py --workdir=runs/ablations/multiscale_d
"""
from experiments.ablations import base


def get_config(variant=None):
    config = base.base_config()
    config.model.discriminator_kind = "multiscale"
    config.model.discriminator_scales = 3
    return base.finish(config, variant, "multiscale_d")
