"""The painter: a loaded model that paints images with fusion plans, whole or in exact
tiles."""
import numpy as np
import tensorflow as tf
from absl import logging

from models import generator as generator_lib
from painting import calibration as calibration_lib
from painting import images, loading, memory, plan as plan_lib, tiling

# tile_size AUTO: whole when the memory allows (painting.memory), else tiles of this.
AUTO = 0
AUTO_TILE_SIZE = 512


class Painter:
    """Paints images with one model. Images with a side above tile_size are painted in
    overlapping tiles (painting.tiling) with the result of painting them whole; with
    tile_size AUTO (0), images are painted whole when that fits in the available
    memory (painting.memory), else in tiles of AUTO_TILE_SIZE."""

    def __init__(self, generator, source, step=None, tile_size=512, tile_overlap=128):
        self.generator, self.source, self.step = generator, source, step
        self.auto = tile_size == AUTO
        tile_size = AUTO_TILE_SIZE if self.auto else tile_size
        tiling.tile_margin(generator, tile_size, tile_overlap)  # bad options fail now
        self.tile_size, self.tile_overlap = tile_size, tile_overlap
        self._tiled = None
        self._paint_codes = None
        self._even_steps = calibration_lib.EvenSteps(self)
        # Traced, not eager: eagerly, a spatial code map is resized and run through
        # the code MLP at every norm's resolution with each intermediate kept, and a
        # masked 512x512 blend peaked at 1.9 GB against 1.0 GB traced (1.05 GB and
        # 0.74 GB unmasked). reduce_retracing: other image sizes reuse one trace.
        self._whole = tf.function(lambda inputs: generator(inputs, training=False),
                                  reduce_retracing=True)

    @property
    def names(self):
        """The model's style names, in bank order."""
        return self.source.names

    def plan(self, styles=(), masks=(), strength=1.0, coarse_style=None,
             fine_style=None, even_steps=False):
        """A validated FusionPlan (painting.plan.make_plan) for this model's styles;
        with even_steps, weights and strength are slider positions mapped through the
        model's calibration (painting.calibration)."""
        if even_steps:
            names = [name for name, _ in plan_lib.parse_styles(styles)]
            styles, strength = self.calibration(names).apply(styles, strength)
        return plan_lib.make_plan(self.source, styles=styles, masks=masks,
                                  strength=strength, coarse_style=coarse_style,
                                  fine_style=fine_style)

    def calibration(self, names=()):
        """The model's even-step Calibration, with the curves of the bank styles in
        `names`: stored with its export, or measured on first use
        (painting.calibration.EvenSteps)."""
        return self._even_steps.get(names)

    def fields(self, image, plan):
        """The (coarse, fine) code fields of `plan` for one content image."""
        return plan.fields(image, self.source)

    def paint_fields(self, image, coarse, fine=None, progress=None):
        """Paints one image [H, W, 3] (H, W multiples of STRIDE) with code fields:
        whole, or in tiles when a side exceeds tile_size (progress(done, total) after
        each tile, if given)."""
        height, width = image.shape[:2]
        if self.tiles_needed(height, width, coarse.weights.ndim > 1 or (
                fine is not None and fine.weights.ndim > 1)):
            if self._tiled is None:
                self._tiled = tiling.TiledPainter(self.generator, self.tile_size,
                                                  self.tile_overlap)
            return self._tiled.paint(image, coarse, fine, progress)
        inputs = [tf.constant(image[None]), coarse.code_map(0, 0, height, width)]
        if fine is not None:
            inputs.append(fine.code_map(0, 0, height, width))
        return np.asarray(self._whole(inputs))[0]

    def tiles_needed(self, height, width, spatial=False):
        """Whether an image of this size is painted in tiles."""
        if self.auto:
            return not memory.fits_whole(self.generator, height, width, spatial)
        return max(height, width) > self.tile_size

    def paint(self, image, plan, preserve_color=False, progress=None):
        """The content image [H, W, 3] (any size) painted with a FusionPlan; with
        preserve_color, the painting's luminance with the content's chroma;
        progress(done, total) after each tile of a tiled painting, if given."""
        padded, (height, width) = images.pad_to_stride(image)
        coarse, fine = self.fields(image, plan)
        painted = self.paint_fields(padded, coarse, fine, progress)[:height, :width]
        del padded  # one image-sized array less while the caller encodes the output
        if preserve_color:
            painted = images.preserve_color(image, painted)
        return painted

    def paint_codes(self, contents, codes):
        """paint_batch with this model, traced once per batch shape."""
        if self._paint_codes is None:
            generator = self.generator
            self._paint_codes = tf.function(
                lambda contents, codes: paint_batch(generator, contents, codes))
        return self._paint_codes(tf.convert_to_tensor(contents, tf.float32),
                                 tf.convert_to_tensor(codes, tf.float32))


def paint_batch(generator, contents, codes):
    """A batch of contents [B, H, W, 3] (H, W multiples of STRIDE), each painted with
    its own uniform code [B, D]."""
    code_maps = generator_lib.as_code_map(tf.convert_to_tensor(codes, tf.float32))
    return generator([tf.convert_to_tensor(contents, tf.float32), code_maps],
                     training=False)


def load(model_path, tile_size=AUTO, tile_overlap=128, precision="auto"):
    """The Painter of an export folder or a run's workdir (its export, or while the run
    has not finished, its newest checkpoint), painting in `precision`
    (models/precision.py CHOICES; "auto" measures which is faster here); tile_size
    AUTO chooses whole or tiled painting per image from the available memory."""
    generator, source, step = loading.load_model(model_path)
    generator, _ = loading.generator_in_precision(generator, precision,
                                                  tile_size or AUTO_TILE_SIZE)
    if step is not None:
        logging.info("%s has no export yet: using its checkpoint at step %d.",
                     model_path, step)
    return Painter(generator, source, step, tile_size, tile_overlap)
