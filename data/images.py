"""Image files and image tensors: listing style and content folders, checking files
before training, decoding, resizing and seeded crops.

Images are float32 RGB [H, W, 3] in [0, 1]. Both data.pipeline (the training stream)
and data.tfrecords (which stores the same files as records) build on this module.
"""
import concurrent.futures
import functools
import os
import stat
from pathlib import Path

import numpy as np
import tensorflow as tf
from absl import logging

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")

# The first bytes of each format, as (offset, bytes) pairs that must all match. They are
# checked up front to skip non-images cheaply, and in decode_image to tell encoded bytes
# from a path: no path starts with these bytes (BMP's reserved zero bytes and GIF's
# version letters make even the ASCII signatures impossible as path text).
IMAGE_SIGNATURES = {
    "JPEG": ((0, b"\xff\xd8\xff"),),
    "PNG": ((0, b"\x89PNG\r\n\x1a\n"),),
    "GIF": ((0, b"GIF8"), (5, b"a")),
    "BMP": ((0, b"BM"), (6, b"\x00\x00\x00\x00")),
    "WebP": ((0, b"RIFF"), (8, b"WEBP")),
}
SIGNATURE_LENGTH = 12
FORMAT_NAMES = "JPEG, PNG, GIF, BMP or WebP"
# Larger images are refused from their header, before decoding: TF decodes to float32,
# so 50 Mpixels already take 600 MB (a 20000x20000 image would take 4.8 GB).
MAX_IMAGE_PIXELS = 50_000_000


# --------------------------------------------------------------------------- listing


def list_images(folder):
    """All image files under `folder` (recursively), sorted by relative path.

    Image files are recognised by extension (jpg, jpeg, png, bmp, gif, webp, any case);
    hidden files and folders are skipped.

    Raises:
      ValueError: if `folder` is not an existing folder.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"Image folder {folder} does not exist or is not a folder.")
    relative_paths = []
    walked = set()  # real paths: a symbolic link back up the tree is walked once
    for directory, subdirectories, filenames in os.walk(folder, followlinks=True):
        walked.add(os.path.realpath(directory))
        for name in [name for name in subdirectories if not name.startswith(".")]:
            if os.path.realpath(os.path.join(directory, name)) in walked:
                logging.warning("Skipping %s: it links to a folder already listed "
                                "(a symbolic link loop).", os.path.join(directory, name))
        subdirectories[:] = [
            name for name in subdirectories if not name.startswith(".")
            and os.path.realpath(os.path.join(directory, name)) not in walked]
        relative_directory = Path(directory).relative_to(folder)
        relative_paths.extend(
            relative_directory / name for name in filenames
            if not name.startswith(".") and Path(name).suffix.lower() in IMAGE_EXTENSIONS)
    return [str(folder / path) for path in sorted(relative_paths, key=lambda p: p.parts)]


def style_folders(style_dir):
    """The folders of a style-folder setting: one, or several separated by commas
    (empty parts, as after a trailing comma, name no folder)."""
    return [Path(part.strip()) for part in str(style_dir).split(",") if part.strip()]


def has_style_folders(style_dir):
    """Whether the setting names a folder and every folder it names exists."""
    folders = style_folders(style_dir)
    return bool(folders) and all(folder.is_dir() for folder in folders)


def list_styles(style_dir, exclude=()):
    """The styles in `style_dir` and their readable image files, without the files
    named in `exclude` (a held-out split: a style all of whose files are excluded is
    not listed).

    Each sub-folder holding images (at any depth) is one style named after the
    sub-folder; each image file directly in `style_dir` is a style of its own named after
    its stem. Several folders can be given separated by commas (e.g. artist collections
    and single paintings); their styles are pooled. Files that are not images by their
    first bytes are skipped with a warning.

    Returns:
      (names, files_per_style): sorted style names and, for each, its sorted file paths.

    Raises:
      ValueError: if a folder is missing or holds no style, if a style sub-folder has
        no readable image, or if two styles share a name (`a/` and `a.jpg`).
    """
    files_by_name = {}
    for folder in style_folders(style_dir):
        if not folder.is_dir():
            raise ValueError(f"Style folder {folder} does not exist or is not a folder.")
        found_any = False
        for entry in sorted(folder.iterdir()):
            name, files = style_of(entry)
            files = without(files, exclude)
            if not files:
                continue
            if name in files_by_name:
                raise ValueError(
                    f"Two styles in {style_dir} are named {name!r} (a sub-folder and a "
                    "file, or two files with the same stem); expected unique style names.")
            files_by_name[name] = files
            found_any = True
        if not found_any:
            raise ValueError(
                f"Style folder {folder} holds no images; expected sub-folders of images or "
                "image files (.jpg, .png, ...), each of which is one style.")
    names = sorted(files_by_name)
    return names, [files_by_name[name] for name in names]


def without(files, exclude):
    """`files` minus those naming the same file as an entry of `exclude` (compared as
    real paths, so "a/../b.jpg" and a symbolic link to it count as b.jpg)."""
    if not exclude:
        return list(files)
    excluded = {os.path.realpath(path) for path in exclude}
    return [path for path in files if os.path.realpath(path) not in excluded]


def style_of(entry):
    """(name, readable files) of one entry of a style folder; no files if not a style."""
    if entry.name.startswith("."):
        return entry.name, []
    if entry.is_dir():
        files = list_images(entry)
        # A sub-folder with image files is meant as a style: if none is readable, that
        # is an error (raised by keep_readable_images), not a style to drop silently.
        return entry.name, keep_readable_images(files, entry) if files else []
    if entry.suffix.lower() in IMAGE_EXTENSIONS:
        return entry.stem, keep_readable_images([str(entry)])
    return entry.name, []


# --------------------------------------------------------------------------- checking


def signature_format(header):
    """The format name whose IMAGE_SIGNATURES the first bytes match, or None."""
    for name, signature in IMAGE_SIGNATURES.items():
        if all(header[offset:offset + len(expected)] == expected
               for offset, expected in signature):
            return name
    return None



def image_problem(path, max_pixels=MAX_IMAGE_PIXELS):
    """Why the file at `path` cannot be used as an image, as the end of a sentence, or
    None when it decodes.

    The size is read from the header first, so a huge image is refused without being
    decoded; then the file is decoded once by PIL (a JPEG at 1/8 scale, which still
    reads all its data: ~4 ms per megapixel photo), so a truncated or damaged file is
    found before training starts, not when the data stream reaches it. Results are
    cached per (path, size, modification time).
    """
    try:
        status = os.stat(path)
    except OSError as error:
        return f"it cannot be read ({error.strerror})"
    if not stat.S_ISREG(status.st_mode):
        # Opening a FIFO would block until a writer comes; its size (0) says nothing.
        return f"it is {file_kind(status.st_mode)}, not a regular file"
    return _image_problem(os.fspath(path), status.st_size, status.st_mtime_ns,
                          max_pixels)


def file_kind(mode):
    """The kind of file of an os.stat mode, in words ("a FIFO", "a socket", ...)."""
    kinds = ((stat.S_ISREG, "a regular file"), (stat.S_ISDIR, "a folder"),
             (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
             (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))
    return next((name for test, name in kinds if test(mode)), "a special file")


def other_entries(folder, limit=3):
    """What `folder` holds besides image files, as "name (why it is not one)" for
    at most `limit` entries and a count of the rest: what a user needs to hear
    when the folder looks empty to list_images."""
    found = []
    for directory, subdirectories, filenames in os.walk(folder):
        subdirectories[:] = [name for name in subdirectories if not name.startswith(".")]
        for name in sorted(filenames):
            path = os.path.join(directory, name)
            mode = os.lstat(path).st_mode
            if name.startswith("."):
                reason = "a hidden file"
            elif not stat.S_ISREG(mode) and not stat.S_ISLNK(mode):
                reason = file_kind(mode)
            elif Path(name).suffix.lower() not in IMAGE_EXTENSIONS:
                reason = "not an image file name"
            else:
                continue
            found.append(f"{os.path.relpath(path, folder)} ({reason})")
    shown = ", ".join(found[:limit])
    return shown + (f" and {len(found) - limit} more" if len(found) > limit else "")


@functools.lru_cache(maxsize=None)
def _image_problem(path, size, modified, max_pixels):
    del modified  # part of the cache key only
    if size == 0:
        return "it is empty (0 bytes)"
    try:
        with open(path, "rb") as file:
            image_format = signature_format(file.read(SIGNATURE_LENGTH))
    except OSError as error:
        return f"it cannot be read ({error.strerror})"
    if image_format is None:
        return f"its first bytes are not those of a {FORMAT_NAMES} image"
    try:
        with _open_with_pil(path, image_format) as image:
            width, height = image.size
            if width * height > max_pixels:
                return (f"it is {width}x{height} pixels, more than the {max_pixels} "
                        f"pixels an image may have; downscale it")
            image.draft("RGB", (width // 8, height // 8))  # JPEG only: 1/8 scale
            image.load()
    except Exception as error:  # PIL raises many types (OSError, SyntaxError, ...)
        return f"it is not a whole {image_format} image ({error})"
    return None


def _open_with_pil(path, image_format):
    """PIL's reader of that format. Image.open would refuse huge images with its own
    'decompression bomb' error before the size can be reported, so the format's
    class is used directly: it reads the header only."""
    from PIL import BmpImagePlugin, GifImagePlugin, JpegImagePlugin, PngImagePlugin
    from PIL import WebPImagePlugin
    return {"JPEG": JpegImagePlugin.JpegImageFile, "PNG": PngImagePlugin.PngImageFile,
            "GIF": GifImagePlugin.GifImageFile, "BMP": BmpImagePlugin.BmpImageFile,
            "WebP": WebPImagePlugin.WebPImageFile}[image_format](path)


def image_problems(files):
    """image_problem of each file, decoded in parallel (PIL releases the GIL)."""
    with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        return dict(zip(files, pool.map(image_problem, files)))


def keep_readable_images(files, folder=None, log=True):
    """The files image_problem finds nothing wrong with; the others are dropped and
    (with `log`) logged, each with the reason.

    Raises:
      ValueError: if `folder` is given and it has no readable image at all.
    """
    problems = image_problems(files)
    readable = [path for path in files if problems[path] is None]
    if log and len(readable) < len(files):
        for path in files:
            if problems[path] is not None:
                logging.warning("Skipping %s: %s.", path, problems[path])
        logging.warning("Skipped %d of %d files in %s.", len(files) - len(readable),
                        len(files), folder or Path(files[0]).parent)
    if folder is not None and not files:
        others = other_entries(folder)
        raise ValueError(
            f"Image folder {folder} has no image files"
            + (f" (skipped: {others})" if others else " (it is empty)")
            + f"; expected at least one file named "
            f"{', '.join('*' + e for e in IMAGE_EXTENSIONS)}.")
    if folder is not None and not readable:
        reasons = "; ".join(f"{Path(path).name}: {problems[path]}"
                            for path in files[:3])
        raise ValueError(f"Image folder {folder} has no readable image: none of its "
                         f"{len(files)} image files is a whole {FORMAT_NAMES} image "
                         f"({reasons}{'; ...' if len(files) > 3 else ''}).")
    return readable


# --------------------------------------------------------------------------- image ops


def decode_image(path_or_bytes):
    """Decodes a JPEG, PNG, GIF, BMP or WebP image into float32 RGB [H, W, 3] in [0, 1].

    Accepts a path or the encoded bytes (Python str/bytes/PathLike or a scalar tf.string,
    eagerly or inside tf.data): a string starting with an image signature is taken as
    the encoded image, anything else as a path. Grayscale becomes RGB, alpha is dropped,
    an animated GIF gives its first frame.
    """
    if isinstance(path_or_bytes, os.PathLike):
        path_or_bytes = os.fspath(path_or_bytes)
    data = tf.convert_to_tensor(path_or_bytes, tf.string)
    encoded = tf.cond(tf_has_image_signature(data), lambda: data,
                      lambda: tf.io.read_file(data))
    # TF's WebP decoder cannot drop an alpha channel by itself (channels=3 fails on RGBA
    # WebP), and it only decodes to uint8; every other format does both.
    image = tf.cond(
        tf_matches_signature(encoded, IMAGE_SIGNATURES["WebP"]),
        lambda: tf.image.convert_image_dtype(
            tf.io.decode_image(encoded, channels=0, expand_animations=False)[..., :3],
            tf.float32),
        lambda: tf.io.decode_image(encoded, channels=3, dtype=tf.float32,
                                   expand_animations=False))
    image.set_shape([None, None, 3])
    return image


def tf_matches_signature(data, signature):
    """Graph version of one IMAGE_SIGNATURES check on a scalar tf.string."""
    length = tf.strings.length(data)
    matches = []
    for offset, expected in signature:
        # substr fails when it starts past the end, so clamp the start and check length.
        part = tf.strings.substr(data, tf.minimum(offset, length), len(expected))
        matches.append(tf.logical_and(length >= offset + len(expected),
                                      tf.equal(part, expected)))
    return tf.reduce_all(matches)


def tf_has_image_signature(data):
    return tf.reduce_any([tf_matches_signature(data, signature)
                          for signature in IMAGE_SIGNATURES.values()])


def resize_short_side(image, size):
    """Resizes an [H, W, C] image so its shorter side is `size`, keeping the aspect ratio.

    Downscaling is antialiased; small images are upscaled, so a crop of `size` always fits.
    """
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    scale = tf.cast(size, tf.float32) / tf.reduce_min(shape)
    # max() guards the short side against rounding down to size - 1.
    new_shape = tf.maximum(tf.cast(tf.round(shape * scale), tf.int32), size)
    resized = tf.image.resize(image, new_shape, method="bilinear", antialias=True)
    return tf.clip_by_value(resized, 0.0, 1.0)


def center_square(path_or_bytes, resize, size):
    """An image resized on its short side to `resize`, centre-cropped to size x size,
    as a numpy array."""
    image = resize_short_side(decode_image(path_or_bytes), resize)
    return np.asarray(tf.image.resize_with_crop_or_pad(image, size, size))


def center_squares(paths_or_bytes, resize, size):
    """center_square of each image, stacked: [N, size, size, 3]."""
    return np.stack([center_square(path, resize, size) for path in paths_or_bytes])


def random_crop_and_flip(image, image_size, seed):
    """A random `image_size` square crop, flipped left-right half the time.

    `seed` is a shape [2] integer tensor; the same seed gives the same crop and flip.
    """
    crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    image = tf.image.stateless_random_crop(image, [image_size, image_size, 3], crop_seed)
    return tf.image.stateless_random_flip_left_right(image, flip_seed)


def random_zoom_crop_and_flip(image, image_size, zoom_range, seed):
    """A random square crop of side image_size * zoom (zoom uniform in `zoom_range`,
    at most the image's short side) resized to `image_size`, flipped left-right half
    the time: the same painting at several scales (zoom < 1 enlarges its strokes).

    `seed` is a shape [2] integer tensor; the same seed gives the same crop.
    """
    zoom_seed, crop_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    zoom = tf.random.stateless_uniform([], zoom_seed, zoom_range[0], zoom_range[1])
    short_side = tf.reduce_min(tf.shape(image)[:2])
    side = tf.minimum(tf.cast(tf.round(zoom * image_size), tf.int32), short_side)
    crop = random_crop_and_flip(image, side, crop_seed)
    resized = tf.image.resize(crop, [image_size, image_size], method="bilinear",
                              antialias=True)
    return tf.clip_by_value(resized, 0.0, 1.0)
