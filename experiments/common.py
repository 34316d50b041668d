"""What experiment files share: the library's defaults (training/defaults.py
base_config, re-exported so each experiment says `common.base_config()`) and the
tiny `:test` variant every experiment has."""
from training.defaults import base_config  # noqa: F401  (re-exported for experiments)


def test_variant(config):
    """Shrinks any experiment to something that trains a few steps in seconds."""
    config.data.image_size = 32
    config.model.generator = "test"
    config.model.discriminator = "test"
    config.model.code_dim = 8
    config.vgg.weights = "random"
    config.vgg.content_layers = ("block2_conv2",)
    config.vgg.style_layers = ("block1_conv1", "block2_conv1")
    config.model.encoder_layers = ("block1_conv1", "block2_conv1")
    config.model.encoder_mlp_width = 16
    config.train.batch_size = 2
    # Both stages of a two-stage experiment, in 3 steps (1 perceptual, 2
    # adversarial): the variant checks the whole run, D included.
    if 0 < config.train.pretrain_steps < config.train.num_steps:
        config.train.pretrain_steps = 1
    config.train.num_steps = 3
    config.train.log_every = 1
    config.train.image_every = 2
    config.train.checkpoint_every = 2
    config.train.sample_contents = 2
    config.train.sample_styles = 2
    config.train.export_saved_model = False
    # No precision probe per test run: float32 is exact and the same everywhere.
    config.train.precision = "float32"
    config.eval.every = 0  # a test that wants the evaluation turns it on
    return config
