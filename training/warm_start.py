"""train.init_generator: start G (and the style bank and encoder) from another run.

The method's "pretrained style-transfer network as the generator": a perceptual-only
run (or any run) provides G, and a new run fine-tunes it adversarially with a fresh D.
"""
import os

import tensorflow as tf
from absl import logging

from storage import workdir as workdir_lib


def resolve_checkpoint(source):
    """(checkpoint prefix, its run's workdir) for a workdir, its checkpoints/ folder or
    a checkpoint prefix inside <workdir>/checkpoints/."""
    checkpoints = workdir_lib.checkpoint_dir(source)
    if os.path.isdir(checkpoints) and tf.train.latest_checkpoint(checkpoints):
        return tf.train.latest_checkpoint(checkpoints), source
    if os.path.isdir(source) and tf.train.latest_checkpoint(source):
        return tf.train.latest_checkpoint(source), os.path.dirname(
            os.path.abspath(source))
    if os.path.exists(source + ".index"):
        return source, os.path.dirname(os.path.dirname(os.path.abspath(source)))
    raise ValueError(f"train.init_generator={source!r} is neither a run's workdir, its "
                     f"checkpoints/ folder nor a checkpoint prefix (no checkpoint found).")


def init_generator(source, models, style_names):
    """Loads the generator, the bank (if `source` trained the same styles, in order)
    and the encoder (if both runs have one) of `source` into `models`.

    Returns the names of what was loaded. Raises ValueError naming the source when
    its generator does not fit (another size variant or code_dim).
    """
    prefix, source_workdir = resolve_checkpoint(source)
    items = {"generator": models.generator}
    if workdir_lib.read_style_names(source_workdir) == list(style_names):
        items["bank"] = models.bank
    else:
        logging.warning("init_generator: %s trained other styles; the style bank "
                        "starts fresh.", source_workdir)
    source_config = workdir_lib.read_config(source_workdir) or {}
    # .get: a source run from before the encoder existed has no model.encoder.
    if (models.encoder is not None
            and source_config.get("model", {}).get("encoder", False)):
        items["encoder"] = models.encoder
    try:
        status = tf.train.Checkpoint(**items).restore(prefix).expect_partial()
        status.assert_existing_objects_matched()
    except (AssertionError, ValueError) as error:
        raise ValueError(
            f"train.init_generator: the checkpoint {prefix} does not fit this run's "
            f"{', '.join(items)} (model.generator and model.code_dim must match the "
            f"source run's): {error}") from error
    logging.info("Initialised %s from %s.", ", ".join(items), prefix)
    return sorted(items)
