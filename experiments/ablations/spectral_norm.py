r"""Ablation spectral_norm: spectrally normalised D convolutions.

    python train.py --config=experiments/ablations/spectral_norm.py --workdir=runs/ablations/spectral_norm
"""
from experiments.ablations import base


def get_config(variant=None):
    config = base.base_config()
    config.model.spectral_norm = True
    return base.finish(config, variant, "spectral_norm")
