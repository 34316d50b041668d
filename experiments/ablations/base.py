r"""Ablations, base: the full method on real paintings, small enough for a CPU.

    python train.py --config=experiments/ablations/base.py --workdir=runs/ablations/base

Every file in experiments/ablations/ starts from base_config() below and changes one
thing (README "Ablations" lists them all and the command that tabulates them). The
method here: the conditional projection PatchGAN, the non-saturating loss, R1, and
two stages (perceptual-only pretraining of G, then adversarial fine-tuning). Data:
the four artist collections of ../shared/data (Van Gogh, Monet, Cezanne, ukiyo-e;
30 paintings each) as 4 styles, painted onto its 23 photos; 96x96 crops; random VGG
features, so the runs need no download and every machine gets the same numbers.
`:test` is the few-step variant the tests run.
"""
from experiments import common


def base_config():
    config = common.base_config()
    config.data.content_dir = "../shared/data/content"
    config.data.style_dir = "../shared/data/collections"
    config.data.image_size = 96
    # Resizing to 120 before the 96 crop keeps most of the canvas (as the paintings
    # config does at 160 -> 128).
    config.data.content_resize = 120
    config.data.style_resize = 120
    config.model.generator = "small"
    config.model.discriminator = "small"
    config.vgg.weights = "random"
    config.vgg.content_layers = ("block3_conv1",)
    # The paintings config's calibration for random features (each term ~1 at step 0).
    config.loss.content_weight = 3e-3
    config.loss.style_weight = 1e-3
    config.loss.tv_weight = 1.0
    config.optim.g_lr = 1e-3  # as the quickstart: 1e-4 is too slow for a short run
    config.train.batch_size = 4
    config.train.num_steps = 1500
    config.train.pretrain_steps = 500
    config.train.log_every = 25
    config.train.image_every = 250
    config.train.checkpoint_every = 250
    config.train.sample_styles = 4
    config.train.export_saved_model = False
    return config


def finish(config, variant, name):
    """Applies `variant` (None or "test") to the ablation `name`'s config."""
    if variant == "test":
        adversarial = config.train.pretrain_steps < config.train.num_steps
        config = common.test_variant(config)
        # The test's few steps must reach stage 2 whenever the ablation has one.
        config.train.pretrain_steps = 0 if adversarial else config.train.num_steps
    elif variant:
        raise ValueError(f"Unknown variant {variant!r} of ablation {name}; expected "
                         f"'test'.")
    return config


def get_config(variant=None):
    return finish(base_config(), variant, "base")
