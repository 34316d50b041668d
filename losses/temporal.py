"""Temporal loss without video: compound regularisation (Wang et al., AAAI 2020,
"Consistent Video Style Transfer via Compound Regularization").

A small motion of the camera should move the painting with it, and sensor noise
should not change it:

    L_temporal(x) = sum_p V(p) ||G(T(x) + n)(p) - T(G(x))(p)||^2 / (3 sum_p V(p))

for a random small warp T per example (rotation, zoom and translation about the
image centre) and Gaussian noise n. V masks the pixels T brings in from outside the
image, where the two sides differ by construction (padding). Both sides carry
gradients, as in the paper. 0 for T = identity and n = 0.
"""
import math

import tensorflow as tf

IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0)


def random_warps(batch_size, height, width, max_shift, max_rotation, max_zoom,
                 seed=None):
    """[B, 8] projective transforms (tf.raw_ops.ImageProjectiveTransformV3's layout,
    output pixel -> input pixel): a rotation by up to max_rotation degrees and a zoom
    by up to 1 +- max_zoom about the centre, then a shift by up to max_shift pixels
    along each axis, each drawn uniformly."""
    def uniform(limit, offset=0):
        return tf.random.uniform([batch_size], -limit, limit,
                                 seed=None if seed is None else seed + offset)
    angle = uniform(max_rotation * math.pi / 180.0, 1)
    scale = 1.0 + uniform(max_zoom, 2)
    shift_x, shift_y = uniform(max_shift, 3), uniform(max_shift, 4)
    centre_x = (tf.cast(width, tf.float32) - 1.0) / 2.0
    centre_y = (tf.cast(height, tf.float32) - 1.0) / 2.0
    cos, sin = tf.cos(angle) / scale, tf.sin(angle) / scale
    # input = R/s (output - centre) + centre - shift
    offset_x = centre_x - cos * centre_x + sin * centre_y - shift_x
    offset_y = centre_y - sin * centre_x - cos * centre_y - shift_y
    zeros = tf.zeros([batch_size])
    return tf.stack([cos, -sin, offset_x, sin, cos, offset_y, zeros, zeros], axis=1)


def warp(images, transforms, fill_mode="REFLECT"):
    """images [B, H, W, C] warped by [B, 8] transforms (bilinear)."""
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images, transforms=tf.cast(transforms, tf.float32),
        output_shape=tf.shape(images)[1:3], fill_value=0.0,
        interpolation="BILINEAR", fill_mode=fill_mode)


def valid_mask(images, transforms):
    """[B, H, W, 1]: 1 where the warp samples inside the image (bilinear weight of
    the inside; a pixel that is not wholly inside counts partly)."""
    ones = tf.ones_like(images[..., :1])
    return warp(ones, transforms, fill_mode="CONSTANT")


def compound_regularisation(paint, content, painted, transforms, noise_std,
                            seed=None):
    """Per-example L_temporal [B] (module docstring).

    Args:
      paint: images [B, H, W, 3] -> G's paintings with the same codes as `painted`.
      content: x [B, H, W, 3]; painted: G(x).
      transforms: [B, 8] warps (random_warps; IDENTITY rows for none).
      noise_std: the standard deviation of n (0: none).
    """
    warped_content = warp(content, transforms)
    if noise_std > 0:
        warped_content += tf.random.normal(tf.shape(content), stddev=noise_std,
                                           seed=seed)
    mask = valid_mask(content, transforms)
    difference = paint(warped_content) - warp(painted, transforms)
    squared = tf.reduce_sum(mask * tf.square(difference), axis=[1, 2, 3])
    return squared / (3.0 * tf.maximum(tf.reduce_sum(mask, axis=[1, 2, 3]), 1.0))
