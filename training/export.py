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
                   divisible by 4; codes are code maps [B, h, w, code_dim].
A run's workdir holds its export in `<workdir>/export`.
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


def _save_keras_atomically(model, path):
    # Keras picks the format from the suffix, so save to a .keras temporary name.
    handle, temporary = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp_",
                                         suffix=".keras")
    os.close(handle)
    try:
        model.save(temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def export_generator(export_dir, generator, bank, style_names, encoder=None,
                     encoder_image_size=None, saved_model=True):
    """Writes the generator, style codes and encoder atomically into `export_dir`.

    Args:
      bank: the StyleBank, or its codes [num_styles, code_dim].
      encoder: the style encoder, or None if the run has none.
      encoder_image_size: short side style images were resized to in training; the
        encoder sees images at this scale at inference too.
      saved_model: also write the SavedModel (a few seconds of tracing).
    """
    os.makedirs(export_dir, exist_ok=True)
    codes = np.asarray(getattr(bank, "codes", bank), np.float32)
    styles = {"names": list(style_names), "codes": codes.tolist(),
              "code_dim": int(codes.shape[1]), "image_range": [0.0, 1.0],
              "encoder": encoder is not None,
              "encoder_image_size": encoder_image_size}
    _save_keras_atomically(generator,
                           os.path.join(export_dir, workdir_lib.GENERATOR_FILE))
    if encoder is not None:
        _save_keras_atomically(encoder,
                               os.path.join(export_dir, workdir_lib.ENCODER_FILE))
    if saved_model:
        export_saved_model(os.path.join(export_dir, workdir_lib.SAVED_MODEL_DIR),
                           generator, codes, encoder)
    atomic.write_json(workdir_lib.styles_path(export_dir), styles)


def export_saved_model(path, generator, codes, encoder=None):
    """Writes a SavedModel with the signatures listed in the module docstring.

    Written to a temporary folder beside `path`, then swapped in, so a reader never
    sees half a model.
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
    parent = os.path.dirname(os.path.abspath(path))
    temporary = tempfile.mkdtemp(dir=parent, prefix=".tmp_saved_model_")
    try:
        archive.write_out(temporary, verbose=False)
        if os.path.exists(path):
            old = tempfile.mkdtemp(dir=parent, prefix=".old_saved_model_")
            os.replace(path, os.path.join(old, "model"))
            os.replace(temporary, path)
            shutil.rmtree(old)
        else:
            os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            shutil.rmtree(temporary)


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
    export_generator(export_dir, generator, codes, names, encoder=encoder,
                     encoder_image_size=encoder_image_size, saved_model=saved_model)
    with open(workdir_lib.config_path(workdir), "rb") as f:
        atomic.write_atomically(workdir_lib.config_path(export_dir), f.read())
    return step
