"""Fusion plans: style specs -> codes -> code fields for the generator.

All fusion is done on style codes, one mechanism (models.style.mix):
  weighted  c = sum_i w_i c_i, weights validated and normalised to sum 1;
  spatial   masks m_i(y, x), normalised per pixel, give a code per pixel (a code map);
  strength  c = a * c_style + (1 - a) * c_content, c_content = encoder(content);
  layers    one code for the coarse layers, another for the fine (decoder) layers.
Colour preservation is the one step done on pixels (painting.images.preserve_color).

A style spec is a style name of the model's bank or the path of a style image (coded
by the style encoder), optionally followed by `:weight`.
"""
import dataclasses
import os

import numpy as np
import tensorflow as tf
from absl import logging

from data import images as image_files
from models import generator as generator_lib
from models import style as style_lib
from painting import images, masks as masks_lib
from painting.errors import UsageError


@dataclasses.dataclass
class CodeField:
    """Codes [K, D] mixed by weights: global [K], or per pixel [h, w, K] at 1/STRIDE of
    the image resolution (the generator resizes code maps to each layer)."""
    codes: np.ndarray
    weights: np.ndarray

    def code_map(self, top=0, left=0, height=None, width=None):
        """The code map [1, h, w, D] of an image region (pixels, multiples of STRIDE)."""
        if self.weights.ndim == 1:
            return tf.reshape(style_lib.mix(self.codes, self.weights), (1, 1, 1, -1))
        s = generator_lib.STRIDE
        region = self.weights[top // s:(top + height) // s, left // s:(left + width) // s]
        return style_lib.mix(self.codes, region)[None]

    def with_strength(self, content_code, strength):
        """a * c + (1 - a) * c_content for every code: mixes stay convex, so this is
        the same as applying strength to the fused code."""
        pairs = np.stack([self.codes, np.broadcast_to(content_code, self.codes.shape)],
                         axis=1)
        codes = style_lib.mix(pairs, np.array([strength, 1.0 - strength], np.float32))
        return CodeField(np.asarray(codes, np.float32), self.weights)


def parse_style_spec(spec):
    """'name', 'name:0.6' or 'path/to/image.jpg:0.4' -> (name_or_path, weight)."""
    spec = str(spec)
    name, separator, weight_text = spec.rpartition(":")
    if separator:
        try:
            return name, float(weight_text)
        except ValueError:
            pass
    return spec, 1.0


def parse_styles(styles):
    """Style specs ('name:0.6', 'path.jpg') or (name, weight) pairs -> (name, weight)
    pairs."""
    return [spec if isinstance(spec, tuple) else parse_style_spec(spec)
            for spec in styles]


def normalised_weights(weights):
    """Validated weights summing to 1; logs when they had to be normalised."""
    try:
        normalised = style_lib.validate_weights(weights, len(weights))
    except ValueError as error:
        raise UsageError(str(error)) from error
    if not np.allclose(normalised, weights):
        logging.info("Fusion weights %s normalised to sum 1: %s.", list(weights),
                     [round(float(w), 4) for w in normalised])
    return normalised


def encode_image(image, source):
    """Encoder code [D] of an image, seen at the scale the encoder was trained on."""
    resized = image_files.resize_short_side(image, source.encoder_image_size)
    return np.asarray(source.encoder(resized[None], training=False))[0]


def style_code(name_or_path, source):
    """The code [D] of a bank style name or of a style image file."""
    if name_or_path in source.names:
        return source.codes[source.names.index(name_or_path)]
    known = ", ".join(source.names)
    if not os.path.exists(name_or_path):
        raise UsageError(f"Unknown style {name_or_path!r}: it is neither a style of the "
                         f"model ({known}) nor an image file.")
    if source.encoder is None:
        raise UsageError(
            f"Style {name_or_path!r} is an image file, but the model at "
            f"{source.model_path!r} has no style encoder (train with "
            f"--config.model.encoder=True); use one of its styles: {known}.")
    return encode_image(images.load_image(name_or_path, "Style image"), source)


def _one_code(code):
    return CodeField(code[None], np.ones(1, np.float32))


@dataclasses.dataclass
class FusionPlan:
    """Everything about the styles that does not depend on the content image."""
    codes: np.ndarray           # [K, D], one per style
    weights: np.ndarray         # [K], normalised
    masks: tuple = ()           # one spec per style, or none
    coarse_code: np.ndarray = None  # [D] for the coarse layers, or None
    fine_code: np.ndarray = None    # [D] for the fine layers, or None
    strength: float = 1.0

    def fields(self, content, source):
        """(coarse, fine) CodeFields for one content image; fine is None unless layer
        fusion is asked for."""
        height, width = content.shape[:2]
        if self.masks:
            weights = masks_lib.mask_weights(self.masks, height, width)
            # A spatially constant mix is a uniform style: a 1x1 map is exact and cheap.
            if np.all(weights == weights[:1, :1]):
                weights = weights[0, 0]
        else:
            weights = self.weights
        main = CodeField(self.codes, weights)
        coarse, fine = main, None
        if self.coarse_code is not None:
            coarse = _one_code(self.coarse_code)
        if self.coarse_code is not None or self.fine_code is not None:
            fine = main if self.fine_code is None else _one_code(self.fine_code)
        if self.strength < 1.0:
            # With a keep flag (models/style.py) the content's own code says so.
            content_code = np.asarray(style_lib.content_code(
                source.encoder, encode_image(content, source)), np.float32)
            coarse = coarse.with_strength(content_code, self.strength)
            fine = fine and fine.with_strength(content_code, self.strength)
        return coarse, fine


def check_options(source, parsed, masks, strength, coarse_style, fine_style):
    """ValueError naming the first fusion option that cannot work."""
    if not parsed and not (coarse_style and fine_style):
        raise UsageError("No style given: pass at least one style (name or image path), "
                         "or both a coarse and a fine style.")
    if masks and len(masks) != len(parsed):
        raise UsageError(f"Got {len(masks)} masks for {len(parsed)} styles; expected "
                         f"one mask per style, in the same order.")
    if not 0.0 <= strength <= 1.0:
        raise UsageError(f"--strength must be in [0, 1], got {strength}.")
    if strength < 1.0 and source.encoder is None:
        raise UsageError(f"strength {strength} < 1 needs the content's own code, but the "
                         f"model at {source.model_path!r} has no style encoder (train "
                         f"with --config.model.encoder=True).")


def make_plan(source, styles=(), masks=(), strength=1.0, coarse_style=None,
              fine_style=None):
    """Validates the fusion options and resolves every style to its code.

    Args:
      source: StyleSource of the model (painting.loading).
      styles: style specs ('name', 'name:0.6', 'image.jpg:0.4') or (name, weight)
        pairs; weighted (or, with masks, spatially) fused.
      masks: none, or one mask spec per style (file or shorthand).
      strength: a in [0, 1]; below 1 needs the style encoder.
      coarse_style, fine_style: a style for the coarse (stem, downsampling, residual)
        or fine (decoder) layers; the other layers keep the fused style code.
    """
    parsed = parse_styles(styles)
    check_options(source, parsed, masks, strength, coarse_style, fine_style)
    if parsed:
        codes = np.stack([style_code(name, source) for name, _ in parsed])
        weights = (np.full(len(parsed), 1.0 / len(parsed), np.float32) if masks
                   else normalised_weights([weight for _, weight in parsed]))
        if masks and any(weight != 1.0 for _, weight in parsed):
            logging.info("Masks given: the per-pixel mask values are the weights; the "
                         ":weight suffixes are ignored.")
    else:
        codes = style_code(coarse_style, source)[None]
        weights = np.ones(1, np.float32)
    return FusionPlan(
        codes.astype(np.float32), weights, tuple(masks),
        coarse_code=None if coarse_style is None else style_code(coarse_style, source),
        fine_code=None if fine_style is None else style_code(fine_style, source),
        strength=float(strength))
