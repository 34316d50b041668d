"""Style fusion at inference: style specs -> codes -> code maps for the generator.

All fusion is done on style codes (DESIGN.md: one mechanism):
  weighted  c = sum_i w_i c_i, weights validated and normalised to sum 1;
  spatial   masks m_i(y, x), normalised per pixel, give a code per pixel (a code map);
  strength  c = a * c_style + (1 - a) * c_content, c_content = encoder(content);
  layers    one code for the coarse layers, another for the fine (decoder) layers.
Colour preservation is the one step done on pixels: the output's luminance with the
content's chroma.

A style spec is a style name of the model's bank or the path of a style image (coded
by the style encoder), optionally followed by `:weight`.
"""
import dataclasses
import os

import numpy as np
import tensorflow as tf
from absl import logging

from data import pipeline
from models import generator as generator_lib
from models import style as style_lib

# Shorthand masks: soft halves (a smooth step over the middle fifth of the image) and a
# centre disc fading out towards the corners. "~" before any mask inverts it.
MASK_SHORTHANDS = ("all", "left", "right", "top", "bottom", "radial")
# A mask must have the content's aspect ratio within this relative tolerance.
MASK_ASPECT_TOLERANCE = 0.02


@dataclasses.dataclass
class StyleSource:
    """Where codes come from: the bank (names, codes) and the encoder (may be None)."""
    names: list
    codes: np.ndarray
    encoder: object = None
    encoder_image_size: int = 256
    model_path: str = ""


@dataclasses.dataclass
class CodeField:
    """Codes [K, D] mixed by weights: global [K], or per pixel [h, w, K] at 1/STRIDE of
    the image resolution (the generator resizes code maps to each layer)."""
    codes: np.ndarray
    weights: np.ndarray

    def code_map(self, top=0, left=0, height=None, width=None):
        """The code map [1, h, w, D] of an image region (pixels, multiples of STRIDE)."""
        if self.weights.ndim == 1:
            code = np.tensordot(self.weights, self.codes, axes=1)
            return tf.constant(code.reshape(1, 1, 1, -1), tf.float32)
        s = generator_lib.STRIDE
        region = self.weights[top // s:(top + height) // s, left // s:(left + width) // s]
        return tf.constant(np.tensordot(region, self.codes, axes=1)[None], tf.float32)

    def with_strength(self, content_code, strength):
        """a * c + (1 - a) * c_content for every code: mixes stay convex, so this is
        the same as applying strength to the fused code."""
        codes = strength * self.codes + (1.0 - strength) * content_code[None]
        return CodeField(codes.astype(np.float32), self.weights)


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


def normalised_weights(weights):
    """Validated weights summing to 1; logs when they had to be normalised."""
    normalised = style_lib.validate_weights(weights, len(weights))
    if not np.isclose(np.sum(weights), 1.0):
        logging.info("Fusion weights %s normalised to sum 1: %s.", list(weights),
                     [round(float(w), 4) for w in normalised])
    return normalised


def load_image(path, what):
    """float32 RGB [H, W, 3] in [0, 1], or ValueError naming the file and its role."""
    if not os.path.isfile(path):
        raise ValueError(f"{what} {path!r} does not exist or is not a file.")
    problem = pipeline.image_problem(path)
    if problem:
        raise ValueError(f"{what} {path!r} is not a readable image: {problem}.")
    try:
        return pipeline.decode_image(path).numpy()
    except tf.errors.InvalidArgumentError as error:  # damage the checks did not see
        raise ValueError(f"{what} {path!r} cannot be decoded: "
                         f"{error.message.strip().splitlines()[-1]}") from error


def encode_image(image, source):
    """Encoder code [D] of an image, seen at the scale the encoder was trained on."""
    resized = pipeline.resize_short_side(image, source.encoder_image_size)
    return np.asarray(source.encoder(resized[None], training=False))[0]


def style_code(name_or_path, source):
    """The code [D] of a bank style name or of a style image file."""
    if name_or_path in source.names:
        return source.codes[source.names.index(name_or_path)]
    known = ", ".join(source.names)
    if not os.path.exists(name_or_path):
        raise ValueError(f"Unknown style {name_or_path!r}: it is neither a style of the "
                         f"model ({known}) nor an image file.")
    if source.encoder is None:
        raise ValueError(
            f"Style {name_or_path!r} is an image file, but the model at "
            f"{source.model_path!r} has no style encoder (train with "
            f"--config.model.encoder=True); use one of its styles: {known}.")
    return encode_image(load_image(name_or_path, "Style image"), source)


def mask_from_spec(spec, height, width, size=None):
    """A mask in [0, 1] for a (height, width) content from a shorthand or a grayscale
    image file, at `size` (default (height, width)): the masks of a large image are
    made directly at the small size of its code map."""
    size = size or (height, width)
    if spec.startswith("~"):
        return 1.0 - mask_from_spec(spec[1:], height, width, size)
    if spec in MASK_SHORTHANDS:
        return _shorthand_mask(spec, *size)
    if not os.path.exists(spec):
        raise ValueError(f"Mask {spec!r} is neither a mask file nor one of the "
                         f"shorthands {', '.join(MASK_SHORTHANDS)} (prefix ~ inverts).")
    image = load_image(spec, "Mask")
    mask_height, mask_width = image.shape[:2]
    if abs(mask_width / mask_height - width / height) > MASK_ASPECT_TOLERANCE * (
            width / height):
        raise ValueError(
            f"Mask {spec!r} is {mask_width}x{mask_height} but the content is "
            f"{width}x{height}; expected a mask with the content's aspect ratio.")
    gray = image.mean(axis=-1, keepdims=True)
    return tf.image.resize(gray, size, antialias=True).numpy()[..., 0]


def _smoothstep(low, high, x):
    t = np.clip((x - low) / (high - low), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _shorthand_mask(name, height, width):
    y = (np.arange(height, dtype=np.float32) + 0.5)[:, None] / height
    x = (np.arange(width, dtype=np.float32) + 0.5)[None, :] / width
    ones = np.ones((height, width), np.float32)
    if name == "all":
        return ones
    if name in ("left", "right"):
        step = _smoothstep(0.4, 0.6, x) * ones
        return 1.0 - step if name == "left" else step
    if name in ("top", "bottom"):
        step = _smoothstep(0.4, 0.6, y) * ones
        return 1.0 - step if name == "top" else step
    radius = np.sqrt((x - 0.5) ** 2 + (y - 0.5) ** 2) / np.sqrt(0.5)
    return (1.0 - _smoothstep(0.3, 0.7, radius)).astype(np.float32)


def mask_weights(mask_specs, height, width):
    """Per-pixel weights [h, w, K] at 1/STRIDE of (height, width), summing to 1.

    Where every mask is 0 the styles share the pixel equally (logged), so any set of
    masks gives a valid code map.
    """
    s = generator_lib.STRIDE
    small = (max(1, -(-height // s)), max(1, -(-width // s)))
    masks = np.stack([mask_from_spec(spec, height, width, small)
                      for spec in mask_specs], axis=-1)
    masks = np.clip(masks, 0.0, 1.0)
    total = masks.sum(axis=-1, keepdims=True)
    uncovered = total[..., 0] <= 1e-6
    if uncovered.any():
        logging.info("%.1f%% of the image is covered by no mask: the styles share it "
                     "equally there.", 100.0 * uncovered.mean())
    masks = np.where(total > 1e-6, masks / np.maximum(total, 1e-6),
                     1.0 / masks.shape[-1])
    return masks.astype(np.float32)


@dataclasses.dataclass
class FusionPlan:
    """Everything about the styles that does not depend on the content image."""
    codes: np.ndarray           # [K, D], one per --style
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
            weights = mask_weights(self.masks, height, width)
            # A spatially constant mix is a uniform style: a 1x1 map is exact and cheap.
            if np.all(weights == weights[:1, :1]):
                weights = weights[0, 0]
        else:
            weights = self.weights
        main = CodeField(self.codes, weights)
        coarse, fine = main, None
        if self.coarse_code is not None:
            coarse = CodeField(self.coarse_code[None], np.ones(1, np.float32))
        if self.coarse_code is not None or self.fine_code is not None:
            fine = main if self.fine_code is None else CodeField(
                self.fine_code[None], np.ones(1, np.float32))
        if self.strength < 1.0:
            content_code = encode_image(content, source)
            coarse = coarse.with_strength(content_code, self.strength)
            fine = fine and fine.with_strength(content_code, self.strength)
        return coarse, fine


def make_plan(source, styles=(), masks=(), strength=1.0, coarse_style=None,
              fine_style=None):
    """Validates the fusion options and resolves every style to its code.

    Args:
      source: StyleSource of the model.
      styles: style specs ('name', 'name:0.6', 'image.jpg:0.4') or (name, weight)
        pairs; weighted (or, with masks, spatially) fused.
      masks: none, or one mask spec per style (file or shorthand).
      strength: a in [0, 1]; below 1 needs the style encoder.
      coarse_style, fine_style: a style for the coarse (stem, downsampling, residual)
        or fine (decoder) layers; the other layers keep the fused --style code.
    """
    parsed = [spec if isinstance(spec, tuple) else parse_style_spec(spec)
              for spec in styles]
    if not parsed and not (coarse_style and fine_style):
        raise ValueError("No style given: pass at least one style (name or image path), "
                         "or both a coarse and a fine style.")
    if masks and len(masks) != len(parsed):
        raise ValueError(f"Got {len(masks)} masks for {len(parsed)} styles; expected "
                         f"one mask per style, in the same order.")
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must be in [0, 1], got {strength}.")
    if strength < 1.0 and source.encoder is None:
        raise ValueError(f"strength {strength} < 1 needs the content's own code, but the "
                         f"model at {source.model_path!r} has no style encoder (train "
                         f"with --config.model.encoder=True).")
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


def preserve_color(content, output):
    """The output's luminance with the content's chroma (BT.601 YCbCr).

    RGB = Y * (1, 1, 1) + a linear function of (Cb, Cr), so swapping luminance is
    content + (Y_output - Y_content) on every channel.
    """
    luma = np.array([0.299, 0.587, 0.114], np.float32)
    shift = output @ luma - content @ luma
    return np.clip(content + shift[..., None], 0.0, 1.0)
