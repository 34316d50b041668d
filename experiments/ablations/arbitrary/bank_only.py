r"""Arbitrary-style ablation row `bank_only` (see __init__.py for the rows).

    python train.py --config=experiments/ablations/arbitrary/bank_only.py --workdir=runs/ablations_arbitrary/bank_only
"""
from experiments.ablations import arbitrary


def get_config(variant=None):
    return arbitrary.row_config("bank_only", variant)
