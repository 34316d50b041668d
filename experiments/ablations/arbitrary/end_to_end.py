r"""Arbitrary-style ablation row `end_to_end` (see __init__.py for the rows).

    python train.py --config=experiments/ablations/arbitrary/end_to_end.py --workdir=runs/ablations_arbitrary/end_to_end
"""
from experiments.ablations import arbitrary


def get_config(variant=None):
    return arbitrary.row_config("end_to_end", variant)
