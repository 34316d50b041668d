r"""Ablation vgg_d: "a pretrained classifier as the discriminator": frozen VGG19
(config.vgg's weights) up to block3_conv1 + a trainable conditional head.

    python train.py --config=experiments/ablations/vgg_d.py --workdir=runs/ablations/vgg_d
"""
from experiments.ablations import base


def get_config(variant=None):
    config = base.base_config()
    config.model.discriminator_kind = "vgg"
    config.model.discriminator_vgg_layer = "block3_conv1"
    return base.finish(config, variant, "vgg_d")
