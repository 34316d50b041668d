"""Even sliders: a per-model map from slider positions to strengths and fusion weights,
so that equal slider steps move the painting by equal steps of style.

Along a path of codes c(v) = (1 - v) c_0 + v c_1 (models.style.mix), v = 0, 0.1, ..., 1,
painted on a few photos, the style position is the relative Gram position

    t(v) = d(y(v), T_0) / (d(y(v), T_0) + d(y(v), T_1))

with d the Gram distance over the VGG style layers (losses.perceptual.style_loss), the
measure evaluate.py reports, and T_0, T_1 the Gram targets of the path's two ends: a
style's (the mean over its first images in the run's style folder, as evaluate.py
makes them) or the photo's own. Two paths per model:
  weights   c_0, c_1 two bank styles (the first pairs), averaged with each pair's
            reversed path, so the map of w and of 1 - w agree;
  strength  c_0 the photo's own code (the style encoder), T_0 the photo's Gram; c_1 a
            bank style; only for models with an encoder (others have no strength
            below 1).
The curves are normalised to run from 0 to 1 (outputs never reach a style's target).
The mean curve is made increasing and inverted: slider u -> v = t^-1(u). evaluate.py
measures the step ratio of t on other photos, before and after.
"""
import dataclasses
import os

import numpy as np
import tensorflow as tf
from absl import logging

from data import images as image_files
from losses import perceptual
from models import style as style_lib
from models import vgg as vgg_lib
from painting import loading, plan as plan_lib
from painting.errors import UsageError
from storage import atomic
from storage import workdir as workdir_lib

VALUES = np.round(np.linspace(0.0, 1.0, 11), 2)
PHOTOS = 4           # photos of the run's content folder the curves are averaged over
MAX_PAIRS = 6        # style pairs of the weight curve
MAX_STYLES = 4       # styles of the strength curve
MAX_STYLE_IMAGES = 8  # images per style averaged into its Gram target (evaluate.py's)


def _inverse(position):
    """slider u -> v with t(v) = u, for a measured curve t on VALUES; the identity
    when the curve does not move (an untrained model paints every code alike)."""
    position = np.maximum.accumulate(np.asarray(position, np.float64))
    span = position[-1] - position[0]
    if not span > 1e-9:
        return VALUES.astype(np.float64)
    position = (position - position[0]) / span
    # A tiny ramp keeps the curve strictly increasing where it is flat.
    position = (1.0 - 1e-6) * position + 1e-6 * VALUES
    return np.interp(VALUES, position, VALUES)


@dataclasses.dataclass
class Calibration:
    """Measured style positions at VALUES; even_* map slider positions to settings."""
    weight_position: list
    strength_position: list = None   # None: the model has no style encoder
    generator_sha256: str = ""
    photos: list = dataclasses.field(default_factory=list)

    def even_weight(self, slider):
        """The share of style b for a slider at `slider` in [0, 1] (two styles)."""
        return float(np.interp(slider, VALUES, _inverse(self.weight_position)))

    def even_strength(self, slider):
        """The strength for a slider at `slider`; unchanged without a strength curve."""
        if self.strength_position is None:
            return float(slider)
        return float(np.interp(slider, VALUES, _inverse(self.strength_position)))

    def even_weights(self, weights):
        """Weights normalised to sum 1, each mapped by even_weight, renormalised: for
        two styles exactly (1 - g(u), g(u)), as the curve is symmetric."""
        shares = np.asarray(plan_lib.normalised_weights(list(weights)), np.float64)
        mapped = np.array([self.even_weight(share) for share in shares])
        return (mapped / mapped.sum()).astype(np.float32)

    def apply(self, styles, strength):
        """(styles as (name, weight) pairs with even weights, even strength)."""
        parsed = [spec if isinstance(spec, tuple) else plan_lib.parse_style_spec(spec)
                  for spec in styles]
        if len(parsed) > 1:
            weights = self.even_weights([weight for _, weight in parsed])
            parsed = [(name, float(w)) for (name, _), w in zip(parsed, weights)]
        return parsed, self.even_strength(strength)

    def to_json(self):
        return dataclasses.asdict(self)


def gram_function(vgg_config):
    """images [B, H, W, 3] -> Gram matrices of the style layers (traced once)."""
    layers = list(vgg_config["style_layers"])
    model = vgg_lib.build_feature_extractor(
        layers, weights=vgg_config["weights"],
        fallback_to_random=bool(vgg_config.get("fallback_to_random", False)),
        seed=vgg_config["seed"])

    @tf.function(reduce_retracing=True)
    def grams(images):
        features = model(images)
        return perceptual.gram_matrices([features[layer] for layer in layers])

    return grams


def path_positions(painter, grams, content, start_code, end_code, targets,
                   values=VALUES):
    """t(v) at `values` for one photo [S, S, 3] along start_code -> end_code, with
    targets = (start Gram target, end Gram target), each a list of [1, C, C], and
    grams(images) -> the images' Gram matrices, a list of [B, C, C]."""
    weights = np.stack([1.0 - values, values], axis=1).astype(np.float32)
    codes = style_lib.mix(np.stack([start_code, end_code]).astype(np.float32), weights)
    outputs = painter.paint_codes(np.repeat(content[None], len(values), axis=0), codes)
    output_grams = grams(outputs)
    to_start, to_end = (np.asarray(perceptual.style_loss(output_grams, target),
                                   np.float64) for target in targets)
    return to_start / np.maximum(to_start + to_end, 1e-30)


def calibrate(painter, contents, style_targets, grams, generator_sha256="",
              photos=()):
    """The Calibration of a painter, measured on photos `contents` [N, S, S, 3] with
    style_targets {bank style name: its Gram target} and grams (gram_function)."""
    source = painter.source
    styles = [index for index, name in enumerate(source.names) if name in style_targets]
    pairs = [(i, j) for i in styles for j in styles if i < j]
    weight_curves = []
    for i, j in pairs[:MAX_PAIRS]:
        targets = (style_targets[source.names[i]], style_targets[source.names[j]])
        for content in contents:
            curve = path_positions(painter, grams, content, source.codes[i],
                                   source.codes[j], targets)
            weight_curves.extend([curve, 1.0 - curve[::-1]])
    strength_curves = []
    if source.encoder is not None:
        for content in contents:
            own = (plan_lib.encode_image(content, source), grams(content[None]))
            strength_curves.extend(path_positions(
                painter, grams, content, own[0], source.codes[k],
                (own[1], style_targets[source.names[k]])) for k in styles[:MAX_STYLES])
    return Calibration(
        weight_position=(np.mean(weight_curves, axis=0).tolist() if weight_curves
                         else VALUES.tolist()),
        strength_position=(np.mean(strength_curves, axis=0).tolist()
                           if strength_curves else None),
        generator_sha256=generator_sha256, photos=list(photos))


def style_targets(grams, style_dir, names, size, resize, max_images=MAX_STYLE_IMAGES):
    """{name: mean Gram target} of the bank styles found in the run's style folder."""
    folder_names, files = image_files.list_styles(style_dir)
    targets = {}
    for name, style_files in zip(folder_names, files):
        if name in names[:max(MAX_STYLES, 2 * MAX_PAIRS)] and style_files:
            images = np.stack([image_files.center_square(path, resize, size)
                               for path in style_files[:max_images]])
            targets[name] = [tf.reduce_mean(gram, axis=0, keepdims=True)
                             for gram in grams(images)]
    return targets


def calibration_data(model_path, count=PHOTOS, size=None):
    """(photos [N, S, S, 3], their names, VGG settings, style folder, style resize)
    of the run a model belongs to: the first `count` photos of its content folder at
    `size` (default: the run's image size, as evaluate.py sees them)."""
    config, workdir = loading.find_run_config(model_path)
    if config is None:
        raise UsageError(f"Even steps need the run's photos to calibrate on, but no "
                         f"{workdir_lib.CONFIG_FILE} was found for {model_path!r}; "
                         f"expected a run's workdir or the export inside it.")
    content_dir, style_dir = workdir_lib.data_folders(config, workdir)
    files = (image_files.keep_readable_images(image_files.list_images(content_dir),
                                              content_dir, log=False)[:count]
             if os.path.isdir(content_dir) else [])
    if not files or not os.path.isdir(style_dir):
        raise UsageError(f"Even steps need the run's photos and style images to "
                         f"calibrate on, but {content_dir!r} or {style_dir!r} has "
                         f"none.")
    size = size or config["data"]["image_size"]
    resize = max(size, round((config["data"].get("style_resize") or
                              config["data"]["image_size"]) * size
                             / config["data"]["image_size"]))
    contents = np.stack([image_files.center_square(path, size, size) for path in files])
    return (contents, [os.path.basename(path) for path in files], config["vgg"],
            style_dir, resize)


def calibrate_run(painter, model_path, count=PHOTOS, size=None):
    """calibrate() on the run's first photos and its style images."""
    contents, photos, vgg_config, style_dir, resize = calibration_data(
        model_path, count, size)
    grams = gram_function(vgg_config)
    targets = style_targets(grams, style_dir, painter.names, contents.shape[1], resize)
    return calibrate(painter, contents, targets, grams, export_sha256(model_path),
                     photos)


def export_sha256(model_path):
    """The sha256 of the export's generator.keras, or "" for a checkpoint."""
    if loading.uses_checkpoint(model_path):
        return ""
    return workdir_lib.file_sha256(os.path.join(loading.resolve_export_dir(model_path),
                                                workdir_lib.GENERATOR_FILE))


def read_calibration(model_path):
    """The Calibration stored with an export for its generator, or None."""
    if loading.uses_checkpoint(model_path):
        return None
    path = workdir_lib.calibration_path(loading.resolve_export_dir(model_path))
    if not os.path.isfile(path):
        return None
    stored = Calibration(**workdir_lib.read_json(path))
    if stored.generator_sha256 != export_sha256(model_path):
        logging.warning("%s was measured on another generator: calibrating again.", path)
        return None
    return stored


def load_or_calibrate(painter):
    """The painter's stored Calibration, or one measured now (first use) and stored
    with its export (atomically; kept in memory when the export is read-only)."""
    model_path = painter.source.model_path
    stored = read_calibration(model_path)
    if stored is not None:
        return stored
    logging.info("Calibrating even steps on the run's first %d photos.", PHOTOS)
    calibration = calibrate_run(painter, model_path)
    if not loading.uses_checkpoint(model_path):
        store_calibration(model_path, calibration)
    return calibration


def store_calibration(model_path, calibration):
    """Writes calibration.json into the model's export folder, atomically; a warning
    (the calibration is measured again next time) when the folder is read-only."""
    path = workdir_lib.calibration_path(loading.resolve_export_dir(model_path))
    try:
        atomic.write_json(path, calibration.to_json())
    except OSError as error:
        logging.warning("Cannot store the calibration in %s (%s): it is measured "
                        "again next time.", path, error.strerror)
