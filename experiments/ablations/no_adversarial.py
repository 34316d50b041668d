r"""Ablation no_adversarial: perceptual losses only (stage 1 for every step, D never runs):
what the adversarial term adds.

    python train.py --config=experiments/ablations/no_adversarial.py --workdir=runs/ablations/no_adversarial
"""
from experiments.ablations import base


def get_config(variant=None):
    config = base.base_config()
    config.train.pretrain_steps = config.train.num_steps
    return base.finish(config, variant, "no_adversarial")
