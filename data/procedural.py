"""A procedural style stream: thousands of distinct styles made on the fly, each
reproducible from (seed, element index), for training the style encoder end to end
on more than the run's own styles (Ghiasi et al. 2017 used ~80k paintings and
textures; with no internet we draw them).

Each style draws its parameters at random:
  family     the demo painters of data/samples.py (swirls, pointillism, mosaic,
             hatching) and two drawn here: dashes (short oriented strokes) and bands
             (woodcut-like contour bands);
  scale      strokes 0.6x-2x their reference size (drawn on a smaller or larger
             canvas, then resized);
  direction  the whole canvas rotated by a random angle (stroke direction);
  density    how many strokes cover the canvas (dashes), how many bands (bands);
  palette    3-6 colours drawn from the real paintings' pixels (colour_pool), ordered
             by lightness and laid along the drawing's lightness; one style in five
             keeps its family's own colours.

In the training stream (data/pipeline.py) a procedural style replaces the real style
of an element with probability data.procedural_prob, with style_id -1: it has no bank
code, the step paints it from the encoder's code (training/step.py). Before that, with
probability data.recolour_prob, a real painting's crop is recoloured (recolour_in)
and becomes such a style too.
"""
import cv2
import numpy as np
import tensorflow as tf

from data import images, samples, seeds

# data/seeds.py stream ids no other stream uses.
PROCEDURAL_STREAM = 20
RECOLOUR_STREAM = 21
# Pixels sampled per style image for the palettes (about 4k colours in all).
COLOURS_PER_IMAGE = 48


def paint_dashes(rng, size, density):
    """Short straight strokes, mostly along one direction, coloured by smooth noise."""
    scale = samples.scale_for(size)
    tone = samples.smooth_noise(rng, size, cells=3, octaves=2)
    image = np.empty((size, size, 3), np.uint8)
    image[:] = samples.to_uint8(samples.palette_lookup(
        np.full((1, 1), rng.random()), [(0, 0, 0), (255, 255, 255)]))[0, 0]
    length, width = 10 * scale + 2, max(1, int(round(2.5 * scale)))
    count = int(density * size * size / (length * width))
    angle = rng.uniform(0, np.pi)
    centres = rng.random((count, 2)) * size
    angles = angle + rng.normal(0, 0.25, count)
    greys = np.clip(tone[centres[:, 1].astype(int), centres[:, 0].astype(int)]
                    + rng.normal(0, 0.08, count), 0, 1) * 255
    offsets = np.stack([np.cos(angles), np.sin(angles)], axis=1) * length / 2
    starts, ends = (centres - offsets).astype(int), (centres + offsets).astype(int)
    for start, end, grey in zip(starts.tolist(), ends.tolist(), greys.astype(int).tolist()):
        cv2.line(image, start, end, (grey, grey, grey), width, cv2.LINE_AA)
    return image


def paint_bands(rng, size, density):
    """Flat bands between contour lines of smooth noise, with dark edges (woodcut)."""
    tone = samples.smooth_noise(rng, size, cells=int(rng.integers(2, 5)), octaves=3)
    levels = max(2, int(round(3 + 6 * density)))
    bands = np.floor(tone * levels) / levels
    edges = np.abs(np.diff(bands, axis=0, prepend=bands[:1])) + np.abs(
        np.diff(bands, axis=1, prepend=bands[:, :1]))
    edges = cv2.dilate((edges > 0).astype(np.float32), np.ones((2, 2), np.uint8))
    grey = np.clip(bands * (1 - 0.8 * edges) + rng.normal(0, 0.02, bands.shape), 0, 1)
    return samples.to_uint8(np.repeat(grey[..., None], 3, axis=-1) * 255)


def _demo_painter(name):
    return lambda rng, size, density: samples.STYLE_PAINTERS[name](rng, size)


FAMILIES = {**{name: _demo_painter(name) for name in sorted(samples.STYLE_PAINTERS)},
            "dashes": paint_dashes, "bands": paint_bands}


def draw_style(seed, size, colours):
    """One procedural style image, uint8 [size, size, 3], from `seed` (an int or a
    sequence of ints) and a colour pool [N, 3] uint8."""
    rng = np.random.default_rng(seed)
    family = sorted(FAMILIES)[rng.integers(len(FAMILIES))]
    scale = float(np.exp(rng.uniform(np.log(0.6), np.log(2.0))))
    density = rng.uniform(0.3, 1.0)
    # A canvas 1.5x the crop so the rotated crop has no empty corners.
    canvas = max(32, int(round(1.5 * size / scale)))
    image = FAMILIES[family](rng, canvas, density)
    image = cv2.resize(image, (int(1.5 * size),) * 2, interpolation=cv2.INTER_AREA
                       if scale < 1 else cv2.INTER_LINEAR)
    rotation = cv2.getRotationMatrix2D((0.75 * size,) * 2, rng.uniform(0, 180), 1.0)
    image = cv2.warpAffine(image, rotation, image.shape[:2][::-1],
                           borderMode=cv2.BORDER_REFLECT)
    start = int(0.25 * size)
    image = image[start:start + size, start:start + size]
    if rng.random() < 0.8:
        image = recolour(image, random_palette(rng, colours))
    return np.ascontiguousarray(image)


def random_palette(rng, colours):
    """3-6 colours of the pool, ordered from dark to light."""
    palette = colours[rng.choice(len(colours), int(rng.integers(3, 7)), replace=False)]
    lightness = palette.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    return palette[np.argsort(lightness)]


def recolour(image, palette):
    """The image's lightness (stretched to [0, 1]) laid along the palette."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return samples.to_uint8(samples.palette_lookup(samples.normalize(grey), palette))


def colour_pool(files_per_style, seed, resize=64):
    """[N, 3] uint8 colours sampled from every style image (paths or encoded bytes),
    the same for the same files and seed."""
    rng = np.random.default_rng(seed)
    pool = []
    for files in files_per_style:
        for file in files:
            image = images.resize_short_side(images.decode_image(file), resize).numpy()
            pixels = image.reshape(-1, 3)
            chosen = pixels[rng.choice(len(pixels), COLOURS_PER_IMAGE, replace=False)]
            pool.append(np.round(chosen * 255).astype(np.uint8))
    return np.concatenate(pool)


def mix_in(styles, probability, image_size, colours, seed, start_index=0, keep=None):
    """The style stream with each element replaced, with `probability`, by a
    procedural style {"style": [S, S, 3] float32 in [0, 1], "style_id": -1}.

    Element i's choice and drawing depend on (seed, i) only, so a resumed stream
    continues exactly; keep is the style stream's predicate on example indexes.
    """
    colours = np.asarray(colours, np.uint8)

    def render(seed_pair):
        return draw_style([int(value) & (2 ** 63 - 1) for value in seed_pair], image_size,
                          colours)

    def procedural(element, element_seed):
        image = tf.numpy_function(render, [element_seed], tf.uint8)
        image = tf.reshape(image, [image_size, image_size, 3])
        return {"style": tf.cast(image, tf.float32) / 255.0,
                "style_id": tf.constant(-1, tf.int32)}

    return replace_some(styles, probability, procedural, seed, PROCEDURAL_STREAM,
                        start_index, keep)


def recolour_in(styles, probability, seed, start_index=0, keep=None):
    """The style stream with each element, with `probability`, recoloured: its hue
    turned by up to half a turn and its saturation scaled by 0.5-1.5, with
    style_id -1. A real painting's strokes and colour layout in colours it never
    had: a style of its own, painted from the encoder's code, so the encoder is
    shown colour combinations beyond the run's paintings. Seeded and resumable as
    mix_in."""

    def recoloured(element, element_seed):
        hue_seed, saturation_seed = tf.unstack(
            tf.random.experimental.stateless_split(element_seed, 2))
        image = tf.image.stateless_random_hue(element["style"], 0.5, hue_seed)
        image = tf.image.stateless_random_saturation(image, 0.5, 1.5, saturation_seed)
        return {"style": tf.clip_by_value(image, 0.0, 1.0),
                "style_id": tf.constant(-1, tf.int32)}

    return replace_some(styles, probability, recoloured, seed, RECOLOUR_STREAM,
                        start_index, keep)


def replace_some(styles, probability, replacement, seed, stream, start_index=0,
                 keep=None):
    """The style stream with element i replaced by replacement(element, seed_i) when
    a draw from seed_i falls below `probability`; seed_i depends on (seed, stream, i)
    only, so a resumed stream continues exactly. keep is the style stream's predicate
    on example indexes."""
    indexes = tf.data.Dataset.counter(start_index)
    if keep is not None:
        indexes = indexes.filter(keep)

    def maybe_replace(index, element):
        element_seed = seeds.element_seed(seed, stream, index)
        chosen = tf.random.stateless_uniform([], element_seed) < probability
        return tf.cond(chosen, lambda: replacement(element, element_seed),
                       lambda: element)

    return tf.data.Dataset.zip(indexes, styles).map(
        maybe_replace, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
