r"""Arbitrary-style ablation row `procedural` (see __init__.py for the rows).

    python train.py --config=experiments/ablations/arbitrary/procedural.py --workdir=runs/ablations_arbitrary/procedural
"""
from experiments.ablations import arbitrary


def get_config(variant=None):
    return arbitrary.row_config("procedural", variant)
