"""Built-in demo data, made on the fly with no download.

Content images are the photographs bundled with scikit-image; styles are four procedural
"paintings" (swirls, pointillism, mosaic, hatching) drawn with numpy and OpenCV. Together
they let the quickstart and the tests train on a fresh machine without internet.

    python -m data.samples --output /tmp/demo_data
"""
import argparse
import contextlib
import fcntl
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

from storage import workdir as workdir_lib

# scikit-image sample photos that ship inside the wheel. `cat` is the same picture as
# `chelsea`, and `horse` is a binary silhouette, so neither is listed.
CONTENT_IMAGE_NAMES = (
    "astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field",
    "immunohistochemistry", "stereo_motorcycle", "retina", "camera", "coins")
# Held-out photos for the evaluation during training: none is in the training set.
EVAL_IMAGE_NAMES = ("brick", "cell", "clock", "moon")
MAX_CONTENT_SIDE = 512
JPEG_QUALITY = 95

# The marker is written last: its presence (with matching settings) means the folders
# are complete. The claim marker says the folders under root are ours while we swap them.
COMPLETE_MARKER = ".demo_data_complete.json"
WRITE_LOCK = ".demo_data_lock"
DEMO_FOLDERS = (workdir_lib.DEMO_CONTENT_DIR, workdir_lib.DEMO_STYLE_DIR,
                workdir_lib.DEMO_EVAL_CONTENT_DIR)
CLAIM_MARKER = ".demo_data_writing"
STAGING_PREFIX = ".demo_data_staging_"


# --------------------------------------------------------------------------- noise helpers


def smooth_noise(rng, size, cells, octaves=3):
    """Fractal value noise in [0, 1]: random grids upsampled bicubically and summed.

    `cells` is the number of grid cells across the coarsest octave; each further octave
    doubles it at half the amplitude.
    """
    total = np.zeros((size, size), np.float32)
    amplitude, weight = 1.0, 0.0
    for octave in range(octaves):
        grid_size = cells * 2 ** octave + 1
        grid = rng.random((grid_size, grid_size), dtype=np.float32)
        total += amplitude * cv2.resize(grid, (size, size), interpolation=cv2.INTER_CUBIC)
        weight += amplitude
        amplitude /= 2
    return normalize(total)


def normalize(values):
    """Stretches an array linearly to [0, 1]."""
    low, high = values.min(), values.max()
    return (values - low) / max(high - low, 1e-6)


def palette_lookup(values, palette):
    """Maps values in [0, 1] to colours interpolated along `palette` (N x 3, RGB 0..255)."""
    palette = np.asarray(palette, np.float32)
    stops = np.linspace(0.0, 1.0, len(palette))
    return np.stack([np.interp(values, stops, palette[:, channel]) for channel in range(3)],
                    axis=-1).astype(np.float32)


def scale_for(size):
    """How much larger than the 256-pixel reference the canvas is (features scale with it)."""
    return size / 256.0


def to_uint8(image):
    return np.clip(image, 0, 255).round().astype(np.uint8)


# --------------------------------------------------------------------------- styles


def paint_swirls(rng, size):
    """Flowing strokes along a vortex flow field in night blues and yellows (Starry-Night-ish).

    Colour is smeared along streamlines of a divergence-free field (line integral
    convolution), which turns random dabs into long curved brush strokes.
    """
    scale = scale_for(size)
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float32)
    # Curl of a smooth potential is divergence-free, so streamlines swirl instead of
    # converging; a few explicit vortices add the big eddies.
    potential = smooth_noise(rng, size, cells=3, octaves=2) * size * 0.35
    potential_dy, potential_dx = np.gradient(potential)
    velocity_x, velocity_y = potential_dy, -potential_dx
    velocity_x += 0.35  # a steady wind from the left, like the sky in the painting
    star_centres = rng.random((rng.integers(3, 6), 2)) * size
    star_radii = rng.uniform(0.04, 0.09, len(star_centres)) * size
    for (centre_x, centre_y), radius in zip(star_centres, star_radii):
        offset_x, offset_y = cols - centre_x, rows - centre_y
        falloff = np.exp(-(offset_x ** 2 + offset_y ** 2) / (2 * (2.5 * radius) ** 2))
        spin = rng.choice([-1.0, 1.0]) * 2.0
        velocity_x += spin * -offset_y / radius * falloff
        velocity_y += spin * offset_x / radius * falloff
    length = np.sqrt(velocity_x ** 2 + velocity_y ** 2) + 1e-6
    velocity_x, velocity_y = velocity_x / length, velocity_y / length

    # Colour index: broad light/dark regions plus coarse dabs that the smearing stretches.
    regions = smooth_noise(rng, size, cells=2, octaves=2)
    dab_size = max(2, int(round(3 * scale)))
    dabs = cv2.resize(rng.random((size // dab_size, size // dab_size), dtype=np.float32),
                      (size, size), interpolation=cv2.INTER_NEAREST)
    for (centre_x, centre_y), radius in zip(star_centres, star_radii):
        distance = np.sqrt((cols - centre_x) ** 2 + (rows - centre_y) ** 2)
        regions = np.maximum(regions, np.exp(-(distance / (1.6 * radius)) ** 2) * 1.3)
    colour_index = np.clip(0.55 * regions + 0.45 * dabs, 0, 1)
    strokes = line_integral_convolution(colour_index, velocity_x, velocity_y,
                                        steps=int(10 * scale) + 2)
    palette = [(12, 22, 60), (22, 50, 120), (40, 90, 170), (90, 140, 200),
               (170, 200, 210), (235, 215, 110), (250, 225, 60)]
    image = palette_lookup(np.clip((strokes - 0.2) / 0.65, 0, 1), palette)
    # Brush ridges: a faint relief across the stroke direction catches the light.
    ridges = line_integral_convolution(dabs, velocity_x, velocity_y, steps=3)
    image *= (0.85 + 0.3 * ridges)[..., None]
    return to_uint8(image)


def line_integral_convolution(texture, velocity_x, velocity_y, steps):
    """Averages `texture` along streamlines of a unit velocity field, `steps` pixels each way."""
    size = texture.shape[0]
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float32)
    total = texture.copy()
    for direction in (1.0, -1.0):
        position_x, position_y = cols.copy(), rows.copy()
        for _ in range(steps):
            step_x = cv2.remap(velocity_x, position_x, position_y, cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REFLECT)
            step_y = cv2.remap(velocity_y, position_x, position_y, cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REFLECT)
            position_x += direction * step_x
            position_y += direction * step_y
            total += cv2.remap(texture, position_x, position_y, cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REFLECT)
    return total / (2 * steps + 1)


def paint_pointillism(rng, size):
    """Dense dots of warm colour on a light ground, in the manner of Seurat and Signac.

    The dots sample a warm "scene" (a sky with a sun over rolling hills) so they group
    into soft shapes; each dot is jittered in colour for optical mixing, and a few are
    cool complementary accents.
    """
    scale = scale_for(size)
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float32) / size
    phase, frequency = rng.uniform(0, 2 * np.pi), rng.uniform(1.0, 2.5)
    horizon = 0.5 + 0.1 * np.sin(2 * np.pi * frequency * cols + phase)
    sky = palette_lookup(np.clip(rows / horizon, 0, 1),
                         [(250, 240, 190), (250, 200, 130), (240, 150, 120)])
    sun_x, sun_y = rng.uniform(0.15, 0.85), rng.uniform(0.1, 0.3)
    sun = np.exp(-((cols - sun_x) ** 2 + (rows - sun_y) ** 2) / 0.006)[..., None]
    sky = sky * (1 - sun) + np.array([255, 215, 60], np.float32) * sun
    hills = palette_lookup(smooth_noise(rng, size, cells=3, octaves=2),
                           [(200, 60, 50), (235, 120, 40), (170, 50, 90), (245, 170, 60)])
    scene = np.where((rows > horizon)[..., None], hills, sky)

    # Enough dots to cover the canvas about 1.2 times over (some ground still shows
    # through the overlaps), whatever the canvas size.
    mean_radius = max(1.0, 2.8 * scale)
    count = int(1.2 * size * size / (np.pi * mean_radius ** 2))
    centres = rng.random((count, 2)) * size
    radii = np.maximum(1, np.round(rng.uniform(0.7, 1.3, count) * mean_radius)).astype(int)
    colours = scene[centres[:, 1].astype(int), centres[:, 0].astype(int)]
    colours = colours + rng.normal(0, 16, (count, 3))
    accents = rng.random(count) < 0.05
    colours[accents] = rng.choice(
        np.array([(70, 150, 160), (120, 165, 95), (110, 120, 185)], np.float32),
        accents.sum())
    # Anti-aliased drawing only works on 8-bit canvases in OpenCV.
    ground = (246, 238, 222)
    image = np.empty((size, size, 3), np.uint8)
    image[:] = ground
    for (centre_x, centre_y), radius, colour in zip(centres.astype(int), radii,
                                                    to_uint8(colours)):
        cv2.circle(image, (int(centre_x), int(centre_y)), int(radius), colour.tolist(), -1,
                   cv2.LINE_AA)
    # Paper tooth keeps the ground from looking like flat digital fill.
    return to_uint8(image + rng.normal(0, 3, (size, size, 1)))


def paint_mosaic(rng, size):
    """Voronoi tiles of saturated colour separated by dark grout lines."""
    scale = scale_for(size)
    tile = 16 * scale
    # A jittered grid gives tiles of similar size, as a mosaicist would cut them.
    cells = max(3, int(round(size / tile)))
    grid_y, grid_x = np.mgrid[0:cells, 0:cells].astype(np.float32)
    points = (np.stack([grid_x, grid_y], -1).reshape(-1, 2)
              + rng.uniform(0.15, 0.85, (cells * cells, 2))) * (size / cells)
    subdivision = cv2.Subdiv2D((-size, -size, 3 * size, 3 * size))
    subdivision.insert([tuple(map(float, point)) for point in points])
    facets, centres = subdivision.getVoronoiFacetList([])

    hues = smooth_noise(rng, size, cells=2, octaves=1)
    palette = np.array([(200, 30, 40), (240, 150, 20), (250, 210, 40), (30, 140, 70),
                        (20, 110, 180), (40, 50, 150), (150, 40, 140)], np.float32)
    image = np.zeros((size, size, 3), np.float32)
    for facet, centre in zip(facets, centres):
        column, row = np.clip(centre.astype(int), 0, size - 1)
        index = hues[row, column] * (len(palette) - 1) + rng.normal(0, 0.6)
        colour = palette[int(np.clip(np.round(index), 0, len(palette) - 1))]
        colour = np.clip(colour * rng.uniform(0.8, 1.15), 0, 255)
        cv2.fillConvexPoly(image, facet.astype(np.int32), colour.tolist(), cv2.LINE_AA)
    grout = (45, 38, 34)
    thickness = max(1, int(round(2.2 * scale)))
    cv2.polylines(image, [facet.astype(np.int32) for facet in facets], True, grout,
                  thickness, cv2.LINE_AA)
    # Glazed ceramic is never perfectly flat: fine mottling per pixel.
    image *= 1 + rng.normal(0, 0.05, (size, size, 1)).astype(np.float32)
    return to_uint8(image)


def paint_hatching(rng, size):
    """Cross-hatched ink on cream paper: darker tones get more layers of parallel strokes.

    Each layer is a family of slightly wavy parallel lines, cut into short strokes, drawn
    where the tone is darker than the layer's threshold; every line ends at its own
    jittered threshold so layer edges look drawn rather than masked.
    """
    scale = scale_for(size)
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float32)
    tone = smooth_noise(rng, size, cells=2, octaves=3)
    tone = np.clip((tone - 0.1) / 0.8, 0, 1)
    spacing = 5.0 * scale
    ink = np.zeros((size, size), np.float32)
    layers = ((np.pi / 4, 0.62), (-np.pi / 4, 0.42), (0.0, 0.25), (np.pi / 2, 0.1))
    for angle, threshold in layers:
        angle += rng.normal(0, 0.1)
        wobble = (smooth_noise(rng, size, cells=4, octaves=2) - 0.5) * 4 * scale
        across = cols * np.cos(angle) + rows * np.sin(angle) + wobble
        along = -cols * np.sin(angle) + rows * np.cos(angle)
        line_index = np.floor(across / spacing).astype(np.int64)
        line_jitter = rng.random(4096)[line_index % 4096]
        distance_to_line = np.abs((across / spacing) % 1.0 - 0.5) * spacing
        width = 0.35 + 0.6 * (1 - tone)
        line = np.clip((width * scale + 0.5 - distance_to_line), 0, 1)
        # Short strokes: a small gap every stroke length, staggered from line to line.
        stroke_length = 28 * scale
        stroke_phase = (along / stroke_length + line_jitter * 7) % 1.0
        line *= stroke_phase > 0.06
        line *= tone < threshold + 0.08 * (line_jitter - 0.5)
        ink = np.maximum(ink, line)
    # An outline along one tone level, like the contour drawn before the hatching;
    # |tone - level| / |gradient| is the distance in pixels to that level line.
    gradient_y, gradient_x = np.gradient(tone)
    distance_to_outline = np.abs(tone - 0.62) / (np.hypot(gradient_x, gradient_y) + 1e-6)
    ink = np.maximum(ink, np.clip(0.6 * scale + 0.5 - distance_to_outline, 0, 1))

    paper = np.array([240, 230, 205], np.float32)
    ink_colour = np.array([35, 28, 25], np.float32)
    grain = rng.normal(0, 3, (size, size, 1)).astype(np.float32)
    image = paper + (ink_colour - paper) * ink[..., None] + grain
    return to_uint8(image)


STYLE_PAINTERS = {
    "hatching": paint_hatching,
    "mosaic": paint_mosaic,
    "pointillism": paint_pointillism,
    "swirls": paint_swirls,
}


def paint_style(style_name, size, seed):
    """One RGB uint8 `size` x `size` image of a procedural style; `seed` is an int or a
    sequence of ints (numpy SeedSequence entropy)."""
    if style_name not in STYLE_PAINTERS:
        raise ValueError(f"Unknown demo style {style_name!r}; expected one of "
                         f"{sorted(STYLE_PAINTERS)}.")
    return STYLE_PAINTERS[style_name](np.random.default_rng(seed), size)


# --------------------------------------------------------------------------- content


def load_content_photos(photo_names=CONTENT_IMAGE_NAMES):
    """Bundled scikit-image photos as (name, RGB uint8 array) pairs, long side <= 512."""
    import skimage.data  # Imported here: it is slow to import and only needed for writing.

    photos = []
    for name in photo_names:
        image = getattr(skimage.data, name)()
        if name == "stereo_motorcycle":
            image = image[0]  # (left, right, disparity): the left view is a plain photo.
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=-1)
        photos.append((name, downscale_long_side(image, MAX_CONTENT_SIDE)))
    return photos


def downscale_long_side(image, max_side):
    """Shrinks an image (area filter) so its longer side is at most `max_side` pixels."""
    height, width = image.shape[:2]
    factor = max_side / max(height, width)
    if factor >= 1:
        return image
    new_size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return cv2.resize(image, new_size, interpolation=cv2.INTER_AREA)


# --------------------------------------------------------------------------- writing


def write_demo_data(root, image_size=256, images_per_style=8, seed=0):
    """Writes demo content photos and procedural styles under `root`; returns the folders.

    Layout: `root/content/*.jpg`, `root/styles/<style>/<style>_NN.jpg` and the held-out
    photos `root/eval_content/*.jpg` (storage/workdir.py names them). Writing is
    idempotent and crash-safe: everything is rendered into a hidden staging folder, moved
    into place, and only then is a marker holding the settings written. A later call with
    the same settings returns at once; a call after an interrupted write (or with other
    settings) replaces the folders this function wrote before. Concurrent calls on one
    root (two runs, or `python -m data.samples`, started at once) take turns on an OS
    lock: the first writes, the others then find the data complete.

    Returns:
      (content_dir, style_dir) as str paths (str so they drop straight into a ConfigDict
      field or config.json).
    """
    if image_size < 16:
        raise ValueError(f"image_size must be at least 16 pixels, got {image_size}.")
    if images_per_style < 1:
        raise ValueError(f"images_per_style must be at least 1, got {images_per_style}.")
    root = Path(root)
    settings = {"image_size": image_size, "images_per_style": images_per_style,
                "seed": seed, "eval_photos": list(EVAL_IMAGE_NAMES)}
    content_dir, style_dir, eval_dir = (root / name for name in DEMO_FOLDERS)
    if is_complete(root, settings):
        return str(content_dir), str(style_dir)
    root.mkdir(parents=True, exist_ok=True)
    with exclusive(root / WRITE_LOCK):
        if not is_complete(root, settings):  # another process may have written it
            write_locked(root, settings)
    return str(content_dir), str(style_dir)


def is_complete(root, settings):
    return (read_marker(root / COMPLETE_MARKER) == settings
            and all((root / name).is_dir() for name in DEMO_FOLDERS))


@contextlib.contextmanager
def exclusive(path):
    """Holds a blocking OS lock (flock) on `path` while the block runs; the kernel
    drops it when the holder dies, so a killed writer never blocks the next one."""
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


def write_locked(root, settings):
    """write_demo_data's writing, by the holder of the root's lock."""
    names = DEMO_FOLDERS
    content_dir, style_dir, eval_dir = (root / name for name in names)
    image_size, images_per_style, seed = (settings["image_size"],
                                          settings["images_per_style"], settings["seed"])
    check_folders_are_ours(root, content_dir, style_dir)

    with tempfile.TemporaryDirectory(prefix=STAGING_PREFIX, dir=root) as staging:
        staging = Path(staging)
        write_content(staging / content_dir.name, CONTENT_IMAGE_NAMES)
        write_styles(staging / style_dir.name, image_size, images_per_style, seed)
        write_content(staging / eval_dir.name, EVAL_IMAGE_NAMES)
        # From here until the complete marker exists, the folders under root are ours
        # to delete, so an interrupted swap is repaired by the next call.
        (root / CLAIM_MARKER).touch()
        (root / COMPLETE_MARKER).unlink(missing_ok=True)
        for name in names:
            shutil.rmtree(root / name, ignore_errors=True)
            os.replace(staging / name, root / name)
    write_marker(root / COMPLETE_MARKER, settings)
    (root / CLAIM_MARKER).unlink()
    # Staging folders left behind by interrupted calls are hidden but still take
    # space; no other call is staging now (the lock is ours).
    for leftover in root.glob(STAGING_PREFIX + "*"):
        shutil.rmtree(leftover, ignore_errors=True)


def check_folders_are_ours(root, content_dir, style_dir):
    """Refuses to replace content/ or styles/ folders that this module did not write."""
    ours = (root / COMPLETE_MARKER).exists() or (root / CLAIM_MARKER).exists()
    if not ours and (content_dir.exists() or style_dir.exists()):
        raise ValueError(
            f"{root} already has a content/ or styles/ folder that write_demo_data did not "
            "write; expected an empty or new folder for the demo data.")


def write_content(folder, photo_names):
    folder.mkdir(parents=True)
    for name, image in load_content_photos(photo_names):
        write_jpeg(folder / f"{name}.jpg", image)


def write_styles(folder, image_size, images_per_style, seed):
    for style_index, style_name in enumerate(sorted(STYLE_PAINTERS)):
        (folder / style_name).mkdir(parents=True)
        for image_index in range(images_per_style):
            image = paint_style(style_name, image_size, (seed, style_index, image_index))
            write_jpeg(folder / style_name / f"{style_name}_{image_index:02d}.jpg", image)


def write_jpeg(path, rgb_image):
    if not cv2.imwrite(str(path), rgb_image[..., ::-1],
                       [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]):
        raise OSError(f"Could not write {path}.")


def read_marker(path):
    """The settings stored in a completion marker, or None when there is no valid one."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def write_marker(path, settings):
    """Writes the marker atomically, so it never exists half-written."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(settings, sort_keys=True))
    os.replace(temporary, path)


def main(argv=None):
    # argparse rather than absl flags: flags defined at import time would collide with
    # train.py's flags whenever train.py imports this module for the quickstart.
    parser = argparse.ArgumentParser(
        prog="python -m data.samples",
        description="Write the built-in demo content photos and procedural styles.")
    parser.add_argument("--output", required=True, help="Folder to write the data into.")
    parser.add_argument("--image_size", type=int, default=256,
                        help="Side in pixels of each square style image.")
    parser.add_argument("--images_per_style", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args(argv)
    content_dir, style_dir = write_demo_data(
        arguments.output, arguments.image_size, arguments.images_per_style, arguments.seed)
    print(f"content: {content_dir}")
    print(f"styles:  {style_dir}")


if __name__ == "__main__":
    sys.exit(main())
