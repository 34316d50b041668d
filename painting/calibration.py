"""Even sliders: per-model maps from slider positions to strengths and fusion weights,
so that equal slider steps move the painting by equal steps of style.

Along a path of codes c(v) = (1 - v) c_0 + v c_1 (models.style.mix), v = 0, 0.1, ..., 1,
painted on a few photos, the style position is the relative Gram position

    t(v) = d(y(v), T_0) / (d(y(v), T_0) + d(y(v), T_1))

with d the Gram distance over the VGG style layers (losses.perceptual.style_loss), the
measure evaluate.py reports, and T_0, T_1 the Gram targets of the path's two ends: a
style's (the mean over its first training images, as evaluate.py makes them) or the
photo's own. The curves are measured per style pair and per style, because their shapes
differ between pairs, and a pair's path is not symmetric (on the paintings model the
positions dip before they rise from the first style):
  weights   c_0, c_1 two bank styles, from the first in sorted order to the other;
            two styles are mapped along their pair's path, so w and 1 - w agree;
  strength  c_0 the photo's own code (the style encoder), T_0 the photo's Gram; c_1 a
            bank style; only for models with an encoder (others have no strength
            below 1).
A pair's or a style's curve is measured the first time it is used (a few seconds) and
stored with the export; fusions of more than two styles use the mean of their pairs'
curves, and styles without a bank code (style images) the mean of the first pairs'.
Each curve is normalised to run from 0 to 1 (outputs never reach a style's target),
made increasing and inverted: slider u -> v = t^-1(u). evaluate.py measures the step
ratio of t on other photos, before and after.
"""
import dataclasses
import itertools
import os
import threading

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
MAX_STYLES = 4       # styles measured up front, with their pairs (the fallbacks)
MAX_STYLE_IMAGES = 8  # images per style averaged into its Gram target (evaluate.py's)


def inverse_curve(position):
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


def pair_key(name_a, name_b):
    """The key of a style pair's weight curve: its names, sorted (order-free)."""
    return "|".join(sorted((name_a, name_b)))


def _mean_curve(curves):
    return np.mean([np.asarray(curve, np.float64) for curve in curves], axis=0).tolist()


def _both_ways(curve):
    """A path's curve and the curve of the same path walked backwards."""
    curve = np.asarray(curve, np.float64)
    return [curve, 1.0 - curve[::-1]]


def _even(slider, curve):
    """The setting for a slider at `slider` through a measured curve's inverse."""
    return float(np.interp(slider, VALUES, inverse_curve(curve)))


@dataclasses.dataclass
class Calibration:
    """Measured style positions at VALUES; even_* map slider positions to settings.

    weight_position / strength_position are the fallbacks (means over the pairs, each
    both ways, and the styles measured up front); pair_positions {pair_key: curve
    from the pair's first name in sorted order to the other} and style_positions
    {style name: strength curve} are used where measured."""
    weight_position: list
    strength_position: list = None   # None: the model has no style encoder
    generator_sha256: str = ""
    photos: list = dataclasses.field(default_factory=list)
    pair_positions: dict = dataclasses.field(default_factory=dict)
    style_positions: dict = dataclasses.field(default_factory=dict)

    def symmetric_weight_curve(self, names=()):
        """The order-free weight curve of a fusion of `names`: the mean of their pairs'
        curves, each with its reverse, when all are measured, else the fallback."""
        keys = [pair_key(a, b) for a, b in itertools.combinations(names, 2)]
        if keys and all(key in self.pair_positions for key in keys):
            return _mean_curve(curve for key in keys for curve in _both_ways(
                self.pair_positions[key]))
        return self.weight_position

    def strength_curve(self, names=()):
        """The strength curve toward a fusion of `names` (the mean of theirs when all
        are measured, else the fallback), or None without an encoder."""
        if self.strength_position is None:
            return None
        if names and all(name in self.style_positions for name in names):
            return _mean_curve(self.style_positions[name] for name in names)
        return self.strength_position

    def even_share(self, slider, start, end):
        """The share of style `end` on the path start -> end for a slider at `slider`
        in [0, 1]: through the pair's own curve (measured from the first of the two
        names in sorted order) when there is one, else the fallback."""
        curve = self.pair_positions.get(pair_key(start, end))
        if curve is None:
            return _even(slider, self.weight_position)
        if (start, end) == tuple(sorted((start, end))):
            return _even(slider, curve)
        return 1.0 - _even(1.0 - slider, curve)

    def even_strength(self, slider, names=()):
        """The strength for a slider at `slider`; unchanged without a strength curve."""
        curve = self.strength_curve(names)
        return float(slider) if curve is None else _even(slider, curve)

    def even_weights(self, weights, names):
        """Weights of the styles `names`, normalised to sum 1, as even slider positions
        -> the fusion weights: two styles along their pair's path; more, each share
        mapped through the order-free curve and renormalised."""
        shares = np.asarray(plan_lib.normalised_weights(list(weights)), np.float64)
        if len(names) == 2:
            end_share = self.even_share(shares[1], *names)
            return np.array([1.0 - end_share, end_share], np.float32)
        curve = self.symmetric_weight_curve(names)
        mapped = np.array([_even(share, curve) for share in shares])
        return (mapped / mapped.sum()).astype(np.float32)

    def apply(self, styles, strength):
        """(styles as (name, weight) pairs with even weights, even strength)."""
        parsed = plan_lib.parse_styles(styles)
        names = [name for name, _ in parsed]
        if len(parsed) > 1:
            weights = self.even_weights([weight for _, weight in parsed], names)
            parsed = [(name, float(w)) for (name, _), w in zip(parsed, weights)]
        return parsed, self.even_strength(strength, names)

    def missing(self, names, bank_names, has_encoder):
        """(pairs, styles) among `names` that are bank styles without a curve yet."""
        bank = [name for name in dict.fromkeys(names) if name in bank_names]
        if len(bank) < len(set(names)):
            return [], []  # a style image is fused: the fallback curves apply
        pairs = [pair for pair in itertools.combinations(sorted(bank), 2)
                 if pair_key(*pair) not in self.pair_positions]
        styles = ([name for name in bank if name not in self.style_positions]
                  if has_encoder else [])
        return pairs, styles

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


def calibration_data(model_path, count=PHOTOS, size=None):
    """(photos [N, S, S, 3], their names, VGG settings, style folders, style resize,
    held-out files) of the run a model belongs to: the first `count` training photos
    of its content folder at `size` (default: the run's image size, as evaluate.py
    sees them)."""
    config, workdir = loading.find_run_config(model_path)
    if config is None:
        raise UsageError(f"Even steps need the run's photos to calibrate on, but no "
                         f"{workdir_lib.CONFIG_FILE} was found for {model_path!r}; "
                         f"expected a run's workdir or the export inside it.")
    content_dir, style_dir = workdir_lib.data_folders(config, workdir)
    # The run's own training photos: never a held-out one (data.exclude).
    exclude = tuple(config["data"].get("exclude") or ())
    files = (image_files.without(image_files.keep_readable_images(
        image_files.list_images(content_dir), content_dir, log=False), exclude)[:count]
             if os.path.isdir(content_dir) else [])
    if not files or not image_files.has_style_folders(style_dir):
        raise UsageError(f"Even steps need the run's photos and style images to "
                         f"calibrate on, but {content_dir!r} or {style_dir!r} has "
                         f"none.")
    size = size or config["data"]["image_size"]
    resize = max(size, round((config["data"].get("style_resize") or
                              config["data"]["image_size"]) * size
                             / config["data"]["image_size"]))
    contents = image_files.center_squares(files, size, size)
    return (contents, [os.path.basename(path) for path in files], config["vgg"],
            style_dir, resize, exclude)


class Calibrator:
    """Measures a painter's curves on its run's first photos and style images; the
    photos and the Gram function are loaded once, each style's target when first
    needed."""

    def __init__(self, painter, count=PHOTOS, size=None):
        self.painter = painter
        (self.contents, self.photos, vgg_config, style_dir, self.resize,
         exclude) = calibration_data(painter.source.model_path, count, size)
        self.grams = gram_function(vgg_config)
        self.style_files = dict(zip(*image_files.list_styles(style_dir, exclude)))
        self.targets = {}

    def target(self, name):
        """A bank style's Gram target (the mean over its first training images), or
        None when the run's style folders have no image of it."""
        if name not in self.targets:
            files = self.style_files.get(name, [])[:MAX_STYLE_IMAGES]
            self.targets[name] = self._mean_grams(files) if files else None
        return self.targets[name]

    def _mean_grams(self, files):
        size = self.contents.shape[1]
        images = image_files.center_squares(files, self.resize, size)
        return [tf.reduce_mean(gram, axis=0, keepdims=True)
                for gram in self.grams(images)]

    def code(self, name):
        return self.painter.source.codes[self.painter.names.index(name)]

    def weight_positions(self, name_a, name_b, contents, values=VALUES):
        """t at `values` along name_a -> name_b, one curve per photo of `contents`
        (None: a style without a target)."""
        targets = (self.target(name_a), self.target(name_b))
        if None in targets:
            return None
        return [path_positions(self.painter, self.grams, content, self.code(name_a),
                               self.code(name_b), targets, values)
                for content in contents]

    def strength_positions(self, name, contents, values=VALUES):
        """t at `values` along photo -> style `name`, one curve per photo of
        `contents` (None: no target)."""
        target = self.target(name)
        if target is None:
            return None
        return [path_positions(self.painter, self.grams, content,
                               plan_lib.encode_image(content, self.painter.source),
                               self.code(name), (self.grams(content[None]), target),
                               values)
                for content in contents]

    def pair_curve(self, name_a, name_b):
        """The weight curve of a pair over the photos, along the path from the first
        of the two names in sorted order to the other (None: no target)."""
        positions = self.weight_positions(*sorted((name_a, name_b)), self.contents)
        return None if positions is None else _mean_curve(positions)

    def strength_curve(self, name):
        """The strength curve photo -> style over the photos (None: no target)."""
        positions = self.strength_positions(name, self.contents)
        return None if positions is None else _mean_curve(positions)

    def add(self, calibration, pairs, styles):
        """Measures the curves of `pairs` and `styles` into `calibration`."""
        for name_a, name_b in pairs:
            curve = self.pair_curve(name_a, name_b)
            if curve is not None:
                calibration.pair_positions[pair_key(name_a, name_b)] = curve
        for name in styles:
            curve = self.strength_curve(name)
            if curve is not None:
                calibration.style_positions[name] = curve

    def calibrate(self, generator_sha256=""):
        """A Calibration with the curves of the first MAX_STYLES styles and of their
        pairs measured, and their means as the fallbacks."""
        styles = [name for name in self.painter.names
                  if self.target(name) is not None][:MAX_STYLES]
        has_encoder = self.painter.source.encoder is not None
        calibration = Calibration(weight_position=VALUES.tolist(),
                                  generator_sha256=generator_sha256,
                                  photos=list(self.photos))
        self.add(calibration, list(itertools.combinations(styles, 2)),
                 styles if has_encoder else [])
        calibration.weight_position = calibration.symmetric_weight_curve(styles)
        if has_encoder:
            calibration.strength_position = (
                _mean_curve(calibration.style_positions.values())
                if calibration.style_positions else VALUES.tolist())
        return calibration


class EvenSteps:
    """A painter's Calibration: read from its export, or measured on first use, and
    completed with each new pair or style the first time it is used; stored with the
    export after each change (atomically; kept in memory when the export is
    read-only). Thread-safe: the studio's sessions share one."""

    def __init__(self, painter):
        self.painter = painter
        self.lock = threading.Lock()
        self.calibration = None
        self.calibrator = None

    def get(self, names=()):
        """The Calibration, with curves for the bank styles among `names`."""
        model_path = self.painter.source.model_path
        with self.lock:
            if self.calibration is None:
                self.calibration = read_calibration(model_path)
            if self.calibration is None:
                logging.info("Calibrating even steps on the run's first %d photos.",
                             PHOTOS)
                self.calibration = self._calibrator().calibrate(
                    export_sha256(model_path))
                store_calibration(model_path, self.calibration)
            pairs, styles = self.calibration.missing(
                names, self.painter.names, self.painter.source.encoder is not None)
            if pairs or styles:
                logging.info("Measuring even-step curves of %s.",
                             ", ".join([" + ".join(pair) for pair in pairs] + styles))
                self._calibrator().add(self.calibration, pairs, styles)
                store_calibration(model_path, self.calibration)
            return self.calibration

    def _calibrator(self):
        if self.calibrator is None:
            self.calibrator = Calibrator(self.painter)
        return self.calibrator


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


def store_calibration(model_path, calibration):
    """Writes calibration.json into the model's export folder, atomically; a warning
    (the calibration is measured again next time) when the folder is read-only.
    Nothing for a checkpoint, which has no export folder."""
    if loading.uses_checkpoint(model_path):
        return
    path = workdir_lib.calibration_path(loading.resolve_export_dir(model_path))
    try:
        atomic.write_json(path, calibration.to_json())
    except OSError as error:
        logging.warning("Cannot store the calibration in %s (%s): it is measured "
                        "again next time.", path, error.strerror)
