"""A trained model from an export folder or a run's workdir.

An export (written by training/export.py when a run finishes) loads in Keras safe
mode, without the training code's config. A workdir without an export yet (a run
still training) is loaded from its newest checkpoint: its config.json says how to
build the generator, style bank and encoder, the checkpoint fills in their weights.
"""
import dataclasses
import os
import zipfile

import keras
import ml_collections
import numpy as np
import tensorflow as tf
from absl import logging

from models import generator as generator_lib
from models import precision as precision_lib
from models import style as style_lib
from models import vgg as vgg_lib  # noqa: F401  (registers the encoder's layers)
from painting.errors import UsageError
from storage import checkpoints as checkpoints_lib
from storage import workdir as workdir_lib

# Style images are seen at this short side when a model does not say.
DEFAULT_ENCODER_IMAGE_SIZE = 256
# The side of the probe's images when painting with precision="auto" (at most the
# tile size): the speed ratio of the two precisions barely changes with the size
# (README, Performance), and a larger probe costs more than it tells.
PAINT_PROBE_SIZE = 256


@dataclasses.dataclass
class StyleSource:
    """Where codes come from: the bank (names, codes) and the encoder (may be None)."""
    names: list
    codes: np.ndarray
    encoder: object = None
    encoder_image_size: int = DEFAULT_ENCODER_IMAGE_SIZE
    model_path: str = ""


# --------------------------------------------------------------------------- exports


def resolve_export_dir(path):
    """Accepts a run's workdir or an export folder; returns the export folder."""
    for candidate in (path, workdir_lib.export_dir(path)):
        if workdir_lib.is_export(candidate):
            return candidate
    raise UsageError(
        f"No exported model at {path!r}: expected {workdir_lib.GENERATOR_FILE} and "
        f"{workdir_lib.STYLES_FILE} in it or in its '{workdir_lib.EXPORT_DIR}' "
        f"sub-folder (a run writes them when it finishes).")


def load_keras_model(path):
    """A .keras model loaded in safe mode (no pickled code runs), or a ValueError
    naming the file when it is damaged or not a model of this project."""
    if not zipfile.is_zipfile(path):  # Keras would say "File not found"
        raise ValueError(f"{path} is not a whole .keras file (a zip archive): it is "
                         f"cut short or something else; export it again from its run.")
    try:
        return keras.models.load_model(path, safe_mode=True, compile=False)
    except Exception as error:  # zip, JSON, HDF5 and deserialisation errors alike
        detail = str(error).strip().split("\n")[0][:200]
        raise ValueError(f"{path} cannot be loaded as a Keras model "
                         f"({type(error).__name__}: {detail}); export it again from "
                         f"its run.") from error


def check_manifest(export_dir):
    """Checks every file of an export against its manifest.json; returns the step it
    names (None when unknown).

    Raises:
      ValueError: naming the first file that is missing, differs from the one the
        export was written with (files of two exports mixed, or damage), or is a model
        file the export was not written with.
    """
    manifest_path = workdir_lib.manifest_path(export_dir)
    if not os.path.isfile(manifest_path):
        logging.warning("%s has no %s (exports written before manifests): whether its "
                        "files belong together cannot be checked; export it again "
                        "from its run to be sure.", export_dir, workdir_lib.MANIFEST_FILE)
        return None
    manifest = workdir_lib.read_json(manifest_path)
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, dict):
        raise ValueError(f"{manifest_path} lists no files; expected the manifest an "
                         f"export writes; export again from its run.")
    for relative, checksum in files.items():
        path = os.path.join(export_dir, relative)
        if not os.path.isfile(path):
            raise ValueError(f"{export_dir} is not a whole export: {relative} is missing "
                             f"(its {workdir_lib.MANIFEST_FILE} lists it); export again "
                             f"from its run.")
        if workdir_lib.file_sha256(path) != checksum:
            raise ValueError(f"{path} is not the file this export was written with (its "
                             f"checksum differs from {manifest_path}): files of two "
                             f"exports are mixed, or it is damaged; export again from "
                             f"its run.")
    for name in (workdir_lib.GENERATOR_FILE, workdir_lib.ENCODER_FILE,
                 workdir_lib.STYLES_FILE, workdir_lib.CONFIG_FILE):
        if name not in files and os.path.exists(os.path.join(export_dir, name)):
            raise ValueError(f"{os.path.join(export_dir, name)} is not part of this "
                             f"export (its {workdir_lib.MANIFEST_FILE} does not list "
                             f"it): files of two exports are mixed; export again from "
                             f"its run.")
    return manifest.get("step")


def load_export(path):
    """Returns (generator, style_names, codes [num_styles, code_dim] float32).

    Raises:
      ValueError: if the files are damaged or do not belong together.
    """
    export_dir = resolve_export_dir(path)
    check_manifest(export_dir)
    generator = load_keras_model(os.path.join(export_dir, workdir_lib.GENERATOR_FILE))
    styles = load_styles(export_dir)
    codes = np.asarray(styles["codes"], np.float32)
    expected = generator.inputs[1].shape[-1]
    if codes.ndim != 2 or codes.shape[1] != expected:
        raise ValueError(
            f"{workdir_lib.styles_path(export_dir)} has codes of "
            f"{codes.shape[-1] if codes.ndim else 0} values but the generator expects "
            f"{expected}: the two files come from different runs; export again.")
    return generator, styles["names"], codes


def load_styles(path):
    """The export's styles.json as a dict (names, codes, encoder_image_size, ...)."""
    try:
        return workdir_lib.read_json(workdir_lib.styles_path(resolve_export_dir(path)))
    except ValueError as error:
        raise ValueError(f"{error} Export again from its run.") from error


def load_encoder(path):
    """The export's style encoder (safe mode), or None if the run trained none."""
    encoder_path = os.path.join(resolve_export_dir(path), workdir_lib.ENCODER_FILE)
    if not os.path.isfile(encoder_path):
        return None
    return load_keras_model(encoder_path)


# --------------------------------------------------------------------------- checkpoints


def load_checkpoint(workdir, checkpoint_path=None):
    """Returns (generator, style_names, codes [num_styles, code_dim], encoder or None,
    encoder_image_size, step) of `checkpoint_path` (default: the newest readable one,
    as a resumed run takes: a damaged newer one is skipped with a warning)."""
    config = workdir_lib.read_config(workdir)
    if (checkpoint_path or checkpoints_lib.latest_checkpoint(workdir)) is None or config is None:
        raise ValueError(f"No checkpoint in {workdir!r}: expected "
                         f"{workdir_lib.CONFIG_FILE} and {workdir_lib.CHECKPOINT_DIR}/ "
                         f"of a training run.")
    # A config.json of a run older than a key lacks it, so optional keys use .get.
    config = ml_collections.ConfigDict(config)
    names = workdir_lib.read_style_names(workdir)
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
    # An EMA run samples and exports its averaged weights; so does a model loaded
    # from its checkpoint.
    prefix = workdir_lib.EMA_PREFIX if config.train.get("ema_decay", 0.0) else ""
    tracked = {f"{prefix}generator": generator, f"{prefix}bank": bank, "step": step}
    if encoder is not None:
        tracked[f"{prefix}encoder"] = encoder
    # expect_partial: D and the optimizers are in the checkpoint but not needed here.
    checkpoint = tf.train.Checkpoint(**tracked)
    if checkpoint_path:
        checkpoint.restore(checkpoint_path).expect_partial() \
            .assert_existing_objects_matched()
    else:
        manager = tf.train.CheckpointManager(
            checkpoint, workdir_lib.checkpoint_dir(workdir), max_to_keep=None)
        checkpoints_lib.restore_newest_readable(checkpoint, manager,
                                                expect_partial=True)
    encoder_image_size = config.data.get("style_resize") or config.data.image_size
    return (generator, names, np.asarray(bank.codes, np.float32), encoder,
            encoder_image_size, int(step))


# --------------------------------------------------------------------------- either


def uses_checkpoint(model_path):
    """True for a run's workdir that has checkpoints but no export yet."""
    has_export = (workdir_lib.is_export(model_path)
                  or workdir_lib.is_export(workdir_lib.export_dir(model_path)))
    return not has_export and checkpoints_lib.latest_checkpoint(model_path) is not None


def load_model(model_path):
    """(generator, StyleSource, step) of an export folder or a run's workdir: its
    export, or while the run has not finished its newest checkpoint. step is None
    for an export."""
    if uses_checkpoint(model_path):
        generator, names, codes, encoder, image_size, step = load_checkpoint(model_path)
        return generator, StyleSource(names, codes, encoder, image_size,
                                      model_path), step
    generator, names, codes = load_export(model_path)
    image_size = (load_styles(model_path).get("encoder_image_size")
                  or DEFAULT_ENCODER_IMAGE_SIZE)
    return generator, StyleSource(names, codes, load_encoder(model_path), image_size,
                                  model_path), None


def find_run_config(model_path):
    """(config dict, folder holding it) of the run a model belongs to, or (None, None).

    The config is looked up in `model_path`, then beside its export folder (an export
    inside its run's workdir); a workdir still training holds its own.
    """
    if not model_path:
        return None, None
    if uses_checkpoint(model_path):
        folders = (model_path,)
    else:
        export_dir = resolve_export_dir(model_path)
        folders = (model_path, os.path.dirname(os.path.abspath(export_dir)))
    for folder in folders:
        config = workdir_lib.read_config(folder)
        if config is not None:
            return config, folder
    return None, None


# --------------------------------------------------------------------------- precision


def generator_in_precision(generator, precision="auto", tile_size=512, timer=None):
    """(generator, models.precision.Choice): the loaded (float32) generator, or the
    same weights rebuilt to compute in mixed_bfloat16 when `precision` says so or
    "auto" measures it faster here (G forward of one image at PAINT_PROBE_SIZE)."""
    if precision not in precision_lib.CHOICES:
        raise UsageError(f"Unknown precision {precision!r}; expected one of "
                         f"{precision_lib.CHOICES}.")
    size = min(tile_size, PAINT_PROBE_SIZE) // generator_lib.STRIDE * generator_lib.STRIDE
    rebuilt = {"float32": generator}

    def build(name):
        if name not in rebuilt:
            rebuilt[name] = precision_lib.with_policy(generator, name)
        return rebuilt[name]

    key = precision_lib.probe_key(f"G {generator.count_params()} parameters", size,
                                  "paint")
    units = precision_lib.generator_units(build, 1, size, backward=False)
    choice = precision_lib.choose(precision, units, key,
                                  **({"timer": timer} if timer else {}))
    precision_lib.log_choice(choice, "Painting")
    return build(choice.precision), choice
