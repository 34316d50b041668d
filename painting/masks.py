"""Masks of spatial fusion: one per style, from a grayscale image file or a shorthand,
normalised per pixel into the weights of a code map."""
import os

import numpy as np
import tensorflow as tf
from absl import logging

from models import generator as generator_lib
from painting import images
from painting.errors import UsageError

# Shorthand masks: soft halves (a smooth step over the middle fifth of the image), a
# centre disc fading out towards the corners, and a board of hard-edged squares (1 on
# the top-left square and every other one). "~" before any mask inverts it.
MASK_SHORTHANDS = ("all", "left", "right", "top", "bottom", "radial", "checkerboard")
CHECKERBOARD_SQUARES = 4  # squares along each side of the image
# A mask must have the content's aspect ratio within this relative tolerance.
MASK_ASPECT_TOLERANCE = 0.02


def mask_from_spec(spec, height, width, size=None):
    """A mask in [0, 1] for a (height, width) content from a shorthand, a grayscale
    image file or a painted array [h, w] in [0, 1], at `size` (default (height,
    width)): the masks of a large image are made directly at the small size of its
    code map."""
    size = size or (height, width)
    if isinstance(spec, np.ndarray):
        return _resized_mask(spec, "A painted mask", height, width, size)
    if spec.startswith("~"):
        return 1.0 - mask_from_spec(spec[1:], height, width, size)
    if spec in MASK_SHORTHANDS:
        return _shorthand_mask(spec, *size)
    if not os.path.exists(spec):
        raise UsageError(f"Mask {spec!r} is neither a mask file nor one of the "
                         f"shorthands {', '.join(MASK_SHORTHANDS)} (prefix ~ inverts).")
    gray = images.load_image(spec, "Mask").mean(axis=-1)
    return _resized_mask(gray, f"Mask {spec!r}", height, width, size)


def _resized_mask(gray, what, height, width, size):
    """A grayscale mask [h, w] resized to `size`, if it has the content's aspect."""
    mask_height, mask_width = gray.shape[:2]
    if abs(mask_width / mask_height - width / height) > MASK_ASPECT_TOLERANCE * (
            width / height):
        raise ValueError(
            f"{what} is {mask_width}x{mask_height} but the content is "
            f"{width}x{height}; expected a mask with the content's aspect ratio.")
    return tf.image.resize(np.asarray(gray, np.float32)[..., None], size,
                           antialias=True).numpy()[..., 0]


def painted_masks(strokes):
    """One mask per style from brush strokes: `strokes` holds, per style, an alpha
    layer [h, w] in [0, 1] painted over the photo (all the same size), or None for a
    style without strokes. Unpainted pixels are shared equally by the styles
    (mask_weights); the masks have the photo's aspect, at any resolution.

    Raises:
      UsageError: when no style has a stroke.
    """
    painted = [stroke for stroke in strokes if stroke is not None]
    if not any(np.any(stroke > 0) for stroke in painted):
        raise UsageError("Painted masks have no stroke: brush a region for at least "
                         "one style on the photo, or choose another mask mode.")
    shape = painted[0].shape[:2]
    return [np.zeros(shape, np.float32) if stroke is None else
            np.clip(np.asarray(stroke, np.float32), 0.0, 1.0) for stroke in strokes]


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
    if name == "checkerboard":
        squares = (np.floor(CHECKERBOARD_SQUARES * y).astype(np.int32)
                   + np.floor(CHECKERBOARD_SQUARES * x).astype(np.int32))
        return (squares % 2 == 0).astype(np.float32)
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
