"""Painting an image of any size in tiles, with the result of painting it whole.

Two things differ between a tile and the whole image, and both are removed:
- instance norm: each tile would be normalised by its own statistics (seams up to 0.7
  of the range). Every conditional norm instead uses the whole image's statistics,
  accumulated over the tiles, layer by layer: norm k's input depends on the statistics
  of norms 0..k-1, so pass k runs G up to norm k with those fixed and sums its input
  over the tiles. Memory is one tile's activations per pass; time is about (number of
  norms / 2 + 1) untiled paintings.
- borders: a tile's edge sees reflection padding instead of its neighbours, which
  changes features up to the receptive radius of G from the edge. Each tile's weight
  is 0 within that margin of an inner edge and rises with a raised cosine over the
  rest of the overlap; weights are normalised to sum to 1 at every pixel, and the
  same weights (at each layer's resolution) both blend the outputs and weight the
  statistics, so every pixel is counted once and only where it is exact.
So tiled and untiled outputs agree up to float rounding.
"""
import dataclasses

import numpy as np
import tensorflow as tf

from models import generator as generator_lib
from painting.errors import UsageError


def tile_starts(length, tile, overlap):
    """Start of each tile along an axis: a step of tile - overlap, the last flush
    with the end."""
    if length <= tile:
        return [0]
    return sorted(set(range(0, length - tile, tile - overlap)) | {length - tile})


def _window(length, overlap, margin, ramp_start, ramp_end):
    """1-D tile weights: 0 over `margin` at an inner edge, a raised cosine up to 1 over
    the rest of the overlap, 1 in the middle; an edge on the image border stays 1."""
    ramp = np.zeros(overlap, np.float64)
    rising = overlap - 2 * margin
    ramp[margin:overlap - margin] = 0.5 - 0.5 * np.cos(
        np.pi * (np.arange(rising) + 0.5) / rising)
    ramp[overlap - margin:] = 1.0
    weights = np.ones(length, np.float64)
    if ramp_start:
        weights[:overlap] = ramp
    if ramp_end:
        weights[length - overlap:] = np.minimum(weights[length - overlap:], ramp[::-1])
    return weights


def axis_weights(length, tile, overlap, margin, scale=1):
    """{start: weights} along one axis at 1/scale resolution, summing to 1 over the
    tiles at every position."""
    starts = tile_starts(length, tile, overlap)
    size = min(tile, length) // scale
    total = np.zeros(length // scale, np.float64)
    windows = {}
    for start in starts:
        windows[start] = _window(size, overlap // scale, -(-margin // scale),
                                 start > 0, start + tile < length)
        total[start // scale:start // scale + size] += windows[start]
    return {start: (weights / total[start // scale:start // scale + size]).astype(
        np.float32) for start, weights in windows.items()}


@dataclasses.dataclass
class _Moments:
    """Weighted count, mean and sum of squared deviations per channel, merged tile by
    tile (Chan et al. 1979): stable where sum(x^2) - n mean^2 would cancel."""
    count: float = 0.0
    mean: np.ndarray = 0.0
    squares: np.ndarray = 0.0

    def add(self, count, mean, squares):
        total = self.count + count
        delta = mean - self.mean
        self.mean = self.mean + delta * (count / total)
        self.squares = self.squares + squares + delta ** 2 * (self.count * count / total)
        self.count = total

    def statistics(self):
        shape = (1, 1, 1, -1)
        return (tf.constant(self.mean.reshape(shape), tf.float32),
                tf.constant((self.squares / self.count).reshape(shape), tf.float32))


@tf.function(reduce_retracing=True)
def _weighted_moments(features, row_weights, col_weights):
    weights = row_weights[:, None, None] * col_weights[None, :, None]
    x = tf.cast(features[0], tf.float64)
    weights = tf.cast(weights, tf.float64)
    count = tf.reduce_sum(weights)
    mean = tf.reduce_sum(weights * x, axis=[0, 1]) / count
    squares = tf.reduce_sum(weights * tf.square(x - mean), axis=[0, 1])
    return count, mean, squares


def _compiled(model):
    return tf.function(lambda inputs: model(inputs, training=False),
                       reduce_retracing=True)


def tile_margin(generator, tile_size, overlap):
    """The margin (pixels) at a tile's inner edge where features are not exact; a
    ValueError when tiles of this size and overlap cannot paint exactly."""
    stride = generator_lib.STRIDE
    margin = generator_lib.receptive_radius(generator) + stride
    margin = -(-margin // stride) * stride
    if tile_size % stride or overlap % stride:
        raise UsageError(f"tile_size ({tile_size}) and tile_overlap ({overlap}) "
                         f"must be multiples of {stride}.")
    if not 2 * margin < overlap <= tile_size // 2:
        raise UsageError(
            f"tile_overlap ({overlap}) must be above {2 * margin} (twice the "
            f"generator's receptive radius plus {stride}) and at most half of "
            f"tile_size ({tile_size}).")
    return margin


class TiledPainter:
    """Paints [H, W, 3] images (H, W multiples of STRIDE) tile by tile, exactly."""

    def __init__(self, generator, tile_size=512, overlap=128):
        self.margin = tile_margin(generator, tile_size, overlap)
        self.tile_size, self.overlap = tile_size, overlap
        models = generator_lib.build_statistics_models(generator)
        # Traced once per tile shape: eager Keras calls cost ~10x more per tile here.
        self.features = [_compiled(model) for model in models.features]
        self.output = _compiled(models.output)

    def _tiles(self, height, width, coarse, fine):
        """Yields (top, left, (height, width), [code map, fine code map]) per tile."""
        for top in tile_starts(height, self.tile_size, self.overlap):
            for left in tile_starts(width, self.tile_size, self.overlap):
                size = (min(self.tile_size, height), min(self.tile_size, width))
                code = coarse.code_map(top, left, *size)
                fine_code = code if fine is None else fine.code_map(top, left, *size)
                yield top, left, size, [code, fine_code]

    def paint(self, image, coarse, fine=None, progress=None):
        """The painted image [H, W, 3] for code fields (painting.plan.CodeField);
        progress(done, total) is called after each tile of each pass, if given."""
        height, width = image.shape[:2]
        by_scale = {}
        tiles = len(list(self._tiles(height, width, coarse, fine)))
        total, done = tiles * (len(self.features) + 1), 0

        def tile_done():
            nonlocal done
            done += 1
            if progress is not None:
                progress(done, total)

        def axis(scale):
            """(row, column) weights of the tiles at 1/scale of the image size."""
            if scale not in by_scale:
                by_scale[scale] = tuple(
                    axis_weights(length, self.tile_size, self.overlap, self.margin,
                                 scale) for length in (height, width))
            return by_scale[scale]

        statistics = []
        for model in self.features:
            moments = _Moments()
            for top, left, size, codes in self._tiles(height, width, coarse, fine):
                tile = tf.constant(image[None, top:top + size[0], left:left + size[1]])
                features = model([tile, *codes, *statistics])
                rows, cols = axis(size[0] // features.shape[1])
                moments.add(*(np.asarray(value) for value in _weighted_moments(
                    features, rows[top], cols[left])))
                tile_done()
            statistics.extend(moments.statistics())
        painted = np.zeros((height, width, 3), np.float32)
        rows, cols = axis(1)
        for top, left, size, codes in self._tiles(height, width, coarse, fine):
            tile = tf.constant(image[None, top:top + size[0], left:left + size[1]])
            output = np.asarray(self.output([tile, *codes, *statistics]))[0]
            painted[top:top + size[0], left:left + size[1]] += (
                rows[top][:, None, None] * cols[left][None, :, None] * output)
            tile_done()
        return painted
