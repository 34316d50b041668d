"""A run's models from its newest checkpoint, for painting while it still trains.

The export (training/export.py) is written when a run finishes; before that, the
checkpoints are the only copy of the model. The run's config.json says how to build
the generator, style bank and encoder, and the checkpoint fills in their weights.
"""
import json
import os

import ml_collections
import numpy as np
import tensorflow as tf

from models import generator as generator_lib
from models import style as style_lib
from storage import workdir as workdir_lib

CHECKPOINT_DIR = "checkpoints"


def latest_checkpoint(workdir):
    """Path prefix of the newest checkpoint of a run, or None."""
    return tf.train.latest_checkpoint(os.path.join(workdir, CHECKPOINT_DIR))


def load_checkpoint(workdir, checkpoint_path=None):
    """Returns (generator, style_names, codes [num_styles, code_dim], encoder or None,
    encoder_image_size, step) of `checkpoint_path` (default: the newest) of a run."""
    checkpoint_path = checkpoint_path or latest_checkpoint(workdir)
    config_path = os.path.join(workdir, "config.json")
    if checkpoint_path is None or not os.path.isfile(config_path):
        raise ValueError(f"No checkpoint in {workdir!r}: expected config.json and "
                         f"{CHECKPOINT_DIR}/ of a training run.")
    with open(config_path) as f:
        config = ml_collections.ConfigDict(json.load(f))
    with open(os.path.join(workdir, "styles.json")) as f:
        names = json.load(f)["names"]
    generator = generator_lib.build_generator(config.model.generator,
                                              config.model.code_dim)
    bank = style_lib.StyleBank(len(names), config.model.code_dim, name="style_bank")
    encoder = None
    if config.model.get("encoder", False):
        # Its frozen VGG weights are in the checkpoint too: random ones do to build it.
        vgg_config = ml_collections.ConfigDict(config.vgg.to_dict())
        vgg_config.fallback_to_random = True
        encoder = style_lib.encoder_from_config(config.model, vgg_config).model
    step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
    # An EMA run samples and exports its averaged weights (training/ema.py); so does a
    # model loaded from its checkpoint.
    prefix = workdir_lib.EMA_PREFIX if config.train.get("ema_decay", 0.0) else ""
    tracked = {f"{prefix}generator": generator, f"{prefix}bank": bank, "step": step}
    if encoder is not None:
        tracked[f"{prefix}encoder"] = encoder
    # expect_partial: D and the optimizers are in the checkpoint but not needed here.
    tf.train.Checkpoint(**tracked).restore(checkpoint_path).expect_partial() \
        .assert_existing_objects_matched()
    encoder_image_size = config.data.get("style_resize") or config.data.image_size
    return (generator, names, np.asarray(bank.codes, np.float32), encoder,
            encoder_image_size, int(step))
