"""Frozen VGG19 feature extractor for the perceptual losses (and the VGG discriminator).

build_feature_extractor(layers) returns a Keras model that maps RGB images in [0, 1]
to a dict {layer_name: features [B, H', W', C]}: a dict so that callers pick layers
by name and never depend on an output order. The model does the VGG preprocessing
itself and stops at the deepest requested layer, so no unused block is computed.

Weights (argument `weights`, config key `vgg.weights`):
  "imagenet"      the Keras no-top VGG19 file, from the Keras cache or downloaded;
  "/path/file.h5" that file: the legacy .h5 published by keras-applications (also
                  the with-top file) or a Keras 3 VGG19 .weights.h5;
  "random"        He-normal weights from a seed, identical in every process. Losses on
                  random features still measure colour and texture statistics
                  (Ustyuzhaninov et al. 2016, "Texture synthesis using shallow
                  convolutional networks with random filters") but they are no
                  substitute for ImageNet features: results will differ.
The model's `weights_description` attribute records what was used ("imagenet",
"file:/path", "random(seed=0)") so a run can store it in its config.
"""
import os
import socket

import h5py
import keras
import numpy as np
from absl import logging

IMAGENET_NOTOP_FILENAME = "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"
IMAGENET_NOTOP_URL = ("https://storage.googleapis.com/tensorflow/keras-applications/"
                      "vgg19/" + IMAGENET_NOTOP_FILENAME)
IMAGENET_NOTOP_MD5 = "253f8cb515780f3b799900260a226db6"
# Per socket operation, not for the whole 80 MB download: a stalled connection fails
# after this long instead of hanging the run.
DOWNLOAD_TIMEOUT_SECONDS = 30.0
# Caffe-style VGG input (Simonyan & Zisserman 2015 as converted by keras-applications):
# BGR channels in [0, 255] minus the ImageNet mean of each channel.
IMAGENET_BGR_MEAN = (103.939, 116.779, 123.68)

LAYER_NAMES = (
    "block1_conv1", "block1_conv2", "block1_pool",
    "block2_conv1", "block2_conv2", "block2_pool",
    "block3_conv1", "block3_conv2", "block3_conv3", "block3_conv4", "block3_pool",
    "block4_conv1", "block4_conv2", "block4_conv3", "block4_conv4", "block4_pool",
    "block5_conv1", "block5_conv2", "block5_conv3", "block5_conv4", "block5_pool",
)


@keras.saving.register_keras_serializable(package="stylefusion")
class VGGPreprocessing(keras.layers.Layer):
    """RGB in [0, 1] -> VGG input: x * 255, RGB -> BGR, minus IMAGENET_BGR_MEAN.

    Same result as keras.applications.vgg19.preprocess_input(255 * x), inside the
    model so callers keep the project's [0, 1] RGB convention.
    """

    def call(self, images):
        bgr = keras.ops.flip(images, axis=-1) * 255.0
        return bgr - keras.ops.convert_to_tensor(IMAGENET_BGR_MEAN, dtype=bgr.dtype)


def keras_cache_dir():
    """Directory holding Keras downloads: $KERAS_HOME, else ~/.keras (as Keras does).

    Read on every call (Keras reads KERAS_HOME once, at import) so tests can point it
    at an empty directory.
    """
    return os.path.expanduser(os.environ.get("KERAS_HOME", "~/.keras"))


def build_feature_extractor(layers, weights="imagenet", fallback_to_random=False,
                            seed=0):
    """Frozen VGG19 model: images [B, H, W, 3] RGB in [0, 1] -> {layer: features}.

    Args:
      layers: VGG19 layer names (LAYER_NAMES, e.g. "block3_conv1"); the model ends
        at the deepest of them.
      weights: "imagenet", "random", or the path of a VGG19 weights file.
      fallback_to_random: if the ImageNet file can be neither found nor downloaded,
        warn loudly and use random weights instead of raising.
      seed: seed of the random weights.

    Returns:
      A keras.Model named "vgg19_features" with no trainable weights, whose output
      is a dict keyed by the requested layer names and whose `weights_description`
      attribute says which weights were loaded.

    Raises:
      ValueError: unknown layer name, or `weights` is neither "imagenet", "random"
        nor a loadable VGG19 weights file.
      RuntimeError: "imagenet" weights unavailable and fallback_to_random is False.
    """
    layer_names = _validate_layers(layers)
    _validate_weights(weights)
    full_model = keras.applications.VGG19(include_top=False, weights=None,
                                          input_shape=(None, None, 3))
    description = _load_weights(full_model, weights, fallback_to_random)
    model = _truncated_copy(full_model, layer_names)
    if description is None:
        _set_random_weights(model, seed)
        description = (f"random(seed={seed})" if weights == "random" else
                       f"random(seed={seed}; imagenet unavailable)")
    model.trainable = False
    model.weights_description = description
    return model


def _validate_layers(layers):
    if isinstance(layers, str) or not layers:
        raise ValueError(f"VGG layers must be a non-empty list of layer names, got "
                         f"{layers!r}; valid names: {', '.join(LAYER_NAMES)}.")
    unknown = [name for name in layers if name not in LAYER_NAMES]
    if unknown:
        raise ValueError(f"Unknown VGG19 layer name(s) {unknown}; valid names: "
                         f"{', '.join(LAYER_NAMES)}.")
    return list(dict.fromkeys(layers))


def _validate_weights(weights):
    if weights in ("imagenet", "random"):
        return
    if not isinstance(weights, (str, os.PathLike)) or not os.path.isfile(weights):
        raise ValueError(f"VGG weights {weights!r} is neither 'imagenet', 'random' "
                         f"nor an existing file; expected a VGG19 weights .h5 file.")


def _truncated_copy(full_model, layer_names):
    """New functional model: preprocessing + VGG19 layers up to the deepest requested.

    Layers are cloned with their weights rather than shared, so the unused deeper
    blocks of `full_model` are freed with it.
    """
    deepest = max(LAYER_NAMES.index(name) for name in layer_names)
    images = keras.Input((None, None, 3), name="images")
    x = VGGPreprocessing(name="vgg_preprocessing")(images)
    outputs = {}
    for name in LAYER_NAMES[:deepest + 1]:
        source = full_model.get_layer(name)
        layer = source.__class__.from_config(source.get_config())
        x = layer(x)
        layer.set_weights(source.get_weights())
        if name in layer_names:
            outputs[name] = x
    return keras.Model(images, outputs, name="vgg19_features")


def _set_random_weights(model, seed):
    """He-normal kernels and zero biases (He et al. 2015), from numpy's RandomState.

    Drawn layer by layer in network order from one RandomState, so a layer's weights
    depend only on the seed (not on Keras' global seed, nor on how deep the model is
    cut), and ReLU activations keep their scale through the stack.
    """
    random_state = np.random.RandomState(seed)
    for layer in model.layers:
        if not isinstance(layer, keras.layers.Conv2D):
            continue
        kernel, bias = layer.get_weights()
        fan_in = np.prod(kernel.shape[:-1])
        kernel = random_state.standard_normal(kernel.shape) * np.sqrt(2.0 / fan_in)
        layer.set_weights([kernel.astype(np.float32), np.zeros_like(bias)])


def _load_weights(full_model, weights, fallback_to_random):
    """Loads `weights` into the full no-top VGG19 and returns its description.

    Returns None, loading nothing, when random weights are to be used: they are drawn
    later, for the truncated model only.
    """
    if weights == "random":
        return None
    if weights == "imagenet":
        path = _imagenet_file(fallback_to_random)
        if path is None:
            return None
        _load_weights_file(full_model, path)
        return "imagenet"
    path = os.fspath(weights)
    _load_weights_file(full_model, path)
    return f"file:{os.path.abspath(path)}"


def _imagenet_file(fallback_to_random):
    """Path of the cached or downloaded ImageNet no-top file; None to use random."""
    previous_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_SECONDS)
    try:
        return keras.utils.get_file(
            IMAGENET_NOTOP_FILENAME, IMAGENET_NOTOP_URL, cache_subdir="models",
            file_hash=IMAGENET_NOTOP_MD5, cache_dir=keras_cache_dir())
    except Exception as error:  # Any failure: no network, timeout, bad hash, disk.
        cached_path = os.path.join(keras_cache_dir(), "models", IMAGENET_NOTOP_FILENAME)
        if not fallback_to_random:
            raise RuntimeError(
                f"Could not get the ImageNet VGG19 weights ({error}); download "
                f"{IMAGENET_NOTOP_URL} and put it at {cached_path}, or pass its path "
                f"(config: --config.vgg.weights=/path/to/{IMAGENET_NOTOP_FILENAME}), "
                f"or use --config.vgg.weights=random.") from error
        _warn_random_fallback(error, cached_path)
        return None
    finally:
        socket.setdefaulttimeout(previous_timeout)


def _warn_random_fallback(error, cached_path):
    banner = "!" * 78
    logging.warning(banner)
    logging.warning("ImageNet VGG19 weights unavailable: %s", error)
    logging.warning("FALLING BACK TO RANDOM VGG19 WEIGHTS: the content and style losses")
    logging.warning("now use random features. Results will differ from ImageNet runs")
    logging.warning("and are not comparable with them.")
    logging.warning("To use ImageNet features, download %s", IMAGENET_NOTOP_URL)
    logging.warning("to %s or set vgg.weights=/path/to/that/file.", cached_path)
    logging.warning(banner)


def _load_weights_file(full_model, path):
    """Loads a VGG19 weights file into the full no-top model, or raises ValueError."""
    try:
        if path.endswith((".h5", ".hdf5")) and not path.endswith(".weights.h5"):
            _load_legacy_h5(full_model, path)
        else:
            full_model.load_weights(path)
    except Exception as error:
        raise ValueError(
            f"Could not load VGG19 weights from {path!r} ({error}); expected the Keras "
            f"VGG19 weights file {IMAGENET_NOTOP_FILENAME} (legacy .h5) or a VGG19 "
            f"'.weights.h5' saved by Keras 3.") from error


def _load_legacy_h5(full_model, path):
    """Loads a keras-applications style .h5 (one group per layer) by layer name.

    By name, so the with-top file works too (its classifier layers are ignored); every
    convolution of the model must be present, since loading by name silently skips
    layers that are missing from the file.
    """
    with h5py.File(path, "r") as weights_file:
        group = weights_file["model_weights"] if "model_weights" in weights_file \
            else weights_file
        saved_names = {name.decode("utf8") if isinstance(name, bytes) else name
                       for name in group.attrs.get("layer_names", [])}
    missing = [layer.name for layer in full_model.layers
               if layer.weights and layer.name not in saved_names]
    if missing:
        raise ValueError(f"the file has no weights for layers {missing}")
    full_model.load_weights(path, by_name=True)
