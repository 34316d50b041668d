"""The sample grid of a run: fixed contents x styles painted at every image step, as
a TensorBoard image and as <workdir>/samples/NNNNNNN.png."""
import numpy as np
import tensorflow as tf

from data import images, pipeline
import painting
from storage import atomic, workdir as workdir_lib


def fixed_samples(data_config, train_config):
    """Content and style images shown in every sample grid: the first few contents,
    and the first image of each of the first few styles, centre-cropped; the style
    ids and names."""
    size = data_config.image_size
    contents, styles = pipeline.first_images_from_config(
        data_config, train_config.sample_contents, train_config.sample_styles)
    names = pipeline.style_names_from_config(data_config)[:len(styles)]
    return (images.center_squares(contents, size, size),
            images.center_squares(styles, size, size), np.arange(len(styles), dtype=np.int32), names)


def render_samples(models, contents, styles, style_ids, names=None):
    """Paints every (content, style) pair of the fixed samples -> grid image, its
    style columns named by `names`."""
    codes = np.asarray(models.bank(style_ids))
    num_contents, num_styles = len(contents), len(style_ids)
    outputs = painting.paint_batch(models.generator,
                                   np.repeat(contents, num_styles, axis=0),
                                   np.tile(codes, [num_contents, 1]))
    outputs = np.asarray(outputs).reshape((num_contents, num_styles) + contents.shape[1:])
    return painting.sample_grid(contents, styles, outputs, names=names)


def write_sample_grid(models, samples, workdir, step):
    """Paints the fixed `samples` with `models`; logs and saves the grid."""
    grid = render_samples(models, *samples)
    tf.summary.image("samples", grid[None], step=step)
    atomic.write_image(workdir_lib.sample_grid_path(workdir, step), grid)
