r"""Ablation single_stage: no perceptual-only pretraining: G and D start together from
step 0, against the method's two stages.

    python train.py --config=experiments/ablations/single_stage.py --workdir=runs/ablations/single_stage
"""
from experiments.ablations import base


def get_config(variant=None):
    config = base.base_config()
    config.train.pretrain_steps = 0
    return base.finish(config, variant, "single_stage")
