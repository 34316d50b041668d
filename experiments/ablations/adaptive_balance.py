r"""Ablation adaptive_balance: D's update is skipped while the moving average of its accuracy
on real and fake patches is above 0.8.

    python train.py --config=experiments/ablations/adaptive_balance.py --workdir=runs/ablations/adaptive_balance
"""
from experiments.ablations import base


def get_config(variant=None):
    config = base.base_config()
    config.train.d_skip_accuracy = 0.8
    config.train.d_accuracy_decay = 0.9
    return base.finish(config, variant, "adaptive_balance")
