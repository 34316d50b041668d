r"""Arbitrary-style ablation row `augmentation` (see __init__.py for the rows).

    python train.py --config=experiments/ablations/arbitrary/augmentation.py --workdir=runs/ablations_arbitrary/augmentation
"""
from experiments.ablations import arbitrary


def get_config(variant=None):
    return arbitrary.row_config("augmentation", variant)
