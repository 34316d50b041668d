r"""Quickstart: the built-in demo data, a small model, CPU, about 6 minutes on 2 cores.

    python train.py --config=experiments/quickstart.py --workdir=runs/quickstart
    tensorboard --logdir=runs/quickstart

Trains on 4 procedural styles (swirls, pointillism, mosaic, hatching) and
scikit-image's photos. VGG features use fixed random weights, so the run needs no
download and gives the same numbers on every machine; random features capture
colour and texture statistics, not ImageNet semantics (see README).

`--config=experiments/quickstart.py:test` is the few-second variant used by tests
(without the evaluation during training, which the quickstart itself has on).
"""
from experiments import common


def get_config(variant=None):
    config = common.base_config()
    config.data.demo = True
    config.data.image_size = 96
    config.model.generator = "small"
    config.model.discriminator = "small"
    config.vgg.weights = "random"
    # Random features at block4 keep little layout; block3 keeps the content
    # recognisable.
    config.vgg.content_layers = ("block3_conv1",)
    # Random VGG features are large (Gram distances ~1e3 at step 0): these weights
    # bring content, style and adversarial terms to the same order (~1).
    config.loss.content_weight = 1e-3
    config.loss.style_weight = 1e-3
    config.loss.tv_weight = 1.0
    # G at 1e-3 (the method's 1e-4 for D): at 1e-4 the styles stay alike for
    # hundreds of steps, too slow for a 1000-step run.
    config.optim.g_lr = 1e-3
    config.train.batch_size = 4
    config.train.num_steps = 1000
    config.train.pretrain_steps = 300
    config.train.log_every = 25
    config.train.image_every = 200
    config.train.checkpoint_every = 200
    config.train.sample_styles = 4
    # eval/... curves on the demo data's 4 held-out photos x the 4 styles, at about
    # 2% of the training time (README "Watch a run").
    config.eval.every = 200
    if variant == "test":
        config = common.test_variant(config)
    elif variant:
        raise ValueError(f"Unknown variant {variant!r} of quickstart; expected 'test'.")
    return config
