"""Writes exported models: the generator plus its style codes (and style encoder),
loadable without the training code's config (painting.loading reads them).

An export is a folder holding
  generator.keras  the Keras model, loaded in safe mode: no pickled code runs;
  encoder.keras    the style encoder (image -> code), when the run trained one;
  styles.json      style names, their codes, and what the encoder expects;
  saved_model/     a TensorFlow SavedModel of the same, for serving without Keras:
                   signatures `serving_default(image, code)`, `layer_fusion(image,
                   code, fine_code)`, `fuse(image, weights)` (weights over the bank's
                   styles, normalised to sum 1) and, with an encoder,
                   `encode(style_image)`. Images float32 [B, H, W, 3] in [0, 1], H and W
                   divisible by 4; codes are code maps [B, h, w, code_dim];
  config.json      the run's config, in an export of a checkpoint (export_checkpoint);
  manifest.json    the step and the sha256 of every other file.
A run's workdir holds its export in `<workdir>/export`.

An export is written as a set, whole or not at all: every file goes into a temporary
folder beside it, with a manifest.json naming the step and the sha256 of every file;
the files are fsynced, and the folder is renamed into place (the previous export is
renamed away first, then deleted). A kill or a full disk at any moment leaves the
previous export whole (or, between the two renames, no export, never a mixed one),
and painting.loading refuses a folder whose files do not match its manifest.
Temporaries a killed export left behind are removed by the next export.
"""
import os
import shutil
import tempfile

import keras
import numpy as np
import tensorflow as tf

from models import style as style_lib
from painting import loading
from storage import atomic
from storage import workdir as workdir_lib


def export_generator(export_dir, generator, bank, style_names, encoder=None,
                     encoder_image_size=None, saved_model=True, step=None,
                     config_json=None):
    """Writes the generator, style codes and encoder into `export_dir`, as one set.

    Args:
      bank: the StyleBank, or its codes [num_styles, code_dim].
      encoder: the style encoder, or None if the run has none.
      encoder_image_size: short side style images were resized to in training; the
        encoder sees images at this scale at inference too.
      saved_model: also write the SavedModel (a few seconds of tracing).
      step: the training step the models are from, recorded in the manifest.
      config_json: the run's config.json text, written into the export too.
    """
    codes = np.asarray(getattr(bank, "codes", bank), np.float32)
    styles = {"names": list(style_names), "codes": codes.tolist(),
              "code_dim": int(codes.shape[1]), "image_range": [0.0, 1.0],
              "encoder": encoder is not None,
              "encoder_image_size": encoder_image_size}

    def write_files(folder):
        generator.save(os.path.join(folder, workdir_lib.GENERATOR_FILE))
        if encoder is not None:
            encoder.save(os.path.join(folder, workdir_lib.ENCODER_FILE))
        if saved_model:
            export_saved_model(os.path.join(folder, workdir_lib.SAVED_MODEL_DIR),
                               generator, codes, encoder)
        atomic.write_json(workdir_lib.styles_path(folder), styles)
        if config_json is not None:
            atomic.write_atomically(workdir_lib.config_path(folder),
                                    config_json.rstrip("\n").encode() + b"\n")

    write_export_set(export_dir, write_files, step)


def write_export_set(export_dir, write_files, step=None):
    """Calls write_files(folder) on a temporary folder beside `export_dir`, adds the
    manifest, fsyncs, and swaps the folder in for the previous export."""
    export_dir = os.path.abspath(export_dir)
    parent, name = os.path.split(export_dir)
    os.makedirs(parent, exist_ok=True)
    remove_leftovers(parent, name)
    temporary = tempfile.mkdtemp(
        dir=parent, prefix=workdir_lib.EXPORT_TEMPORARY_PREFIX.format(name=name))
    try:
        # mkdtemp makes 0700; an export gets the permissions mkdir would give it, so
        # a serving account can read it (the files inside are made with the umask).
        os.chmod(temporary, 0o777 & ~atomic.umask())
        write_files(temporary)
        atomic.write_json(workdir_lib.manifest_path(temporary),
                          {"step": None if step is None else int(step),
                           "files": workdir_lib.folder_checksums(temporary)})
        _fsync_tree(temporary)
        _swap_in(temporary, export_dir)
    finally:
        if os.path.exists(temporary):
            shutil.rmtree(temporary)


def remove_leftovers(parent, name):
    """Removes the temporary and replaced folders of earlier exports of `name` that
    a kill or a full disk left in `parent`."""
    prefixes = tuple(prefix.format(name=name) for prefix in (
        workdir_lib.EXPORT_TEMPORARY_PREFIX, workdir_lib.EXPORT_OLD_PREFIX))
    for entry in sorted(os.listdir(parent)):
        if entry.startswith(prefixes):
            shutil.rmtree(os.path.join(parent, entry), ignore_errors=True)


def _swap_in(temporary, export_dir):
    parent, name = os.path.split(export_dir)
    old = None
    if os.path.lexists(export_dir):
        old = tempfile.mkdtemp(
            dir=parent, prefix=workdir_lib.EXPORT_OLD_PREFIX.format(name=name))
        os.replace(export_dir, os.path.join(old, name))
    os.replace(temporary, export_dir)
    _fsync_directory(parent)
    if old is not None:
        shutil.rmtree(old)


def _fsync_directory(path):
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _fsync_tree(folder):
    """Flushes every file and folder under `folder` to the disk: the rename that
    publishes them must not reach the disk before their contents."""
    for root, _, files in os.walk(folder, topdown=False):
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                os.fsync(f.fileno())
        _fsync_directory(root)


def export_saved_model(path, generator, codes, encoder=None):
    """Writes a SavedModel with the signatures listed in the module docstring.

    Written in place: export_generator writes it inside the export's temporary
    folder, so a reader never sees half a model.
    """
    code_dim = int(codes.shape[1])
    bank_codes = tf.Variable(np.asarray(codes, np.float32), trainable=False,
                             name="style_codes")
    archive = keras.export.ExportArchive()
    archive.track(generator)
    archive.add_variable_collection("style_codes", [bank_codes])
    image_spec = tf.TensorSpec([None, None, None, 3], tf.float32, name="image")
    code_spec = tf.TensorSpec([None, None, None, code_dim], tf.float32, name="code")
    fine_spec = tf.TensorSpec([None, None, None, code_dim], tf.float32,
                              name="fine_code")

    def fuse(image, weights):
        # Divided by the largest first: the sum of huge weights overflows to inf.
        weights = weights / tf.reduce_max(weights)
        code = style_lib.mix(bank_codes, weights / tf.reduce_sum(weights))
        code_map = tf.tile(tf.reshape(code, [1, 1, 1, code_dim]),
                           [tf.shape(image)[0], 1, 1, 1])
        return generator([image, code_map], training=False)

    archive.add_endpoint("serving_default",
                         lambda image, code: generator([image, code], training=False),
                         input_signature=[image_spec, code_spec])
    archive.add_endpoint(
        "layer_fusion",
        lambda image, code, fine_code: generator([image, code, fine_code],
                                                 training=False),
        input_signature=[image_spec, code_spec, fine_spec])
    archive.add_endpoint("fuse", fuse, input_signature=[
        image_spec, tf.TensorSpec([codes.shape[0]], tf.float32, name="weights")])
    if encoder is not None:
        archive.track(encoder)
        archive.add_endpoint(
            "encode", lambda style_image: encoder(style_image, training=False),
            input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32,
                                           name="style_image")])
    archive.write_out(path, verbose=False)


def export_tflite(path, generator, height, width, code_dim):
    """Writes a TFLite flatbuffer of G for one fixed image size and a uniform code.

    Inputs `image` [1, height, width, 3] and `code` [1, 1, 1, code_dim]. The weights are
    frozen into constants first: left as resource variables, the TFLite interpreter
    fails to read them (READ_VARIABLE) or, with XNNPACK, silently returns NaN.
    """
    from tensorflow.python.framework import convert_to_constants
    function = tf.function(lambda image, code: generator([image, code], training=False))
    concrete = function.get_concrete_function(
        tf.TensorSpec([1, height, width, 3], tf.float32, name="image"),
        tf.TensorSpec([1, 1, 1, code_dim], tf.float32, name="code"))
    frozen = convert_to_constants.convert_variables_to_constants_v2(concrete)
    flatbuffer = tf.lite.TFLiteConverter.from_concrete_functions([frozen]).convert()
    atomic.write_atomically(path, flatbuffer)


def export_checkpoint(workdir, export_dir, saved_model=False):
    """Exports the newest checkpoint of a run (e.g. one still training) into
    `export_dir`; returns the checkpoint's step.

    The run's config.json is copied beside the export, so evaluate.py reads the run's
    settings from the folder.
    """
    generator, names, codes, encoder, encoder_image_size, step = \
        loading.load_checkpoint(workdir)
    with open(workdir_lib.config_path(workdir)) as f:
        config_json = f.read()
    export_generator(export_dir, generator, codes, names, encoder=encoder,
                     encoder_image_size=encoder_image_size, saved_model=saved_model,
                     step=step, config_json=config_json)
    return step
