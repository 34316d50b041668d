"""Input pipeline: a tf.data stream of {"content", "style", "style_id"} batches.

Content photos are shuffled each epoch and repeated; style images are drawn so that
every style is equally likely however many images it has. Both are resized on their
short side, randomly cropped to a square and randomly flipped. All randomness is
stateless and seeded per element, so the same seed gives the same stream.

A style is either a sub-folder of the style folder (all images under it, e.g. an
artist's collection) or a loose image file in the style folder (a single painting):

    styles/vangogh/001.jpg ... 030.jpg    -> style "vangogh"
    styles/munch-the-scream.jpg           -> style "munch-the-scream"

The same stream can be read from sharded TFRecords of the two folders
(data/tfrecords.py). Under tf.distribute each input pipeline (one per worker) makes
only its share of every global batch (`input_context`).

Images are float32 NHWC RGB in [0, 1]; style_id is int32, an index into the sorted
style names returned with the dataset.
"""
import concurrent.futures
import functools
import os
from pathlib import Path

import numpy as np
import tensorflow as tf
from absl import logging

from data import tfrecords as tfrecords_lib

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

# Stream ids folded into the seed, so each stream draws independent random numbers.
CONTENT_STREAM = 0
STYLE_STREAM = 1
CONTENT_ORDER_STREAM = 2


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


def list_styles(style_dir):
    """The styles in `style_dir` and their readable image files.

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
    for folder in [Path(part.strip()) for part in str(style_dir).split(",")]:
        if not folder.is_dir():
            raise ValueError(f"Style folder {folder} does not exist or is not a folder.")
        found_any = False
        for entry in sorted(folder.iterdir()):
            name, files = style_of(entry)
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


def signature_format(header):
    """The format name whose IMAGE_SIGNATURES the first bytes match, or None."""
    for name, signature in IMAGE_SIGNATURES.items():
        if all(header[offset:offset + len(expected)] == expected
               for offset, expected in signature):
            return name
    return None


def has_image_signature(path):
    """Whether the file starts with the signature of a format decode_image reads."""
    try:
        with open(path, "rb") as file:
            return signature_format(file.read(SIGNATURE_LENGTH)) is not None
    except OSError:
        return False


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
        stat = os.stat(path)
    except OSError as error:
        return f"it cannot be read ({error.strerror})"
    return _image_problem(os.fspath(path), stat.st_size, stat.st_mtime_ns, max_pixels)


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


def keep_readable_images(files, folder=None):
    """The files image_problem finds nothing wrong with; the others are logged, each
    with the reason, and dropped.

    Raises:
      ValueError: if `folder` is given and it has no readable image at all.
    """
    problems = image_problems(files)
    readable = [path for path in files if problems[path] is None]
    if len(readable) < len(files):
        for path in files:
            if problems[path] is not None:
                logging.warning("Skipping %s: %s.", path, problems[path])
        logging.warning("Skipped %d of %d files in %s.", len(files) - len(readable),
                        len(files), folder or Path(files[0]).parent)
    if folder is not None and not files:
        raise ValueError(f"Image folder {folder} has no image files; expected at least one "
                         f"file named {', '.join('*' + e for e in IMAGE_EXTENSIONS)}.")
    if folder is not None and not readable:
        raise ValueError(f"Image folder {folder} has no readable image: none of its "
                         f"{len(files)} image files is a whole {FORMAT_NAMES} image "
                         f"(see the warnings above).")
    return readable


def unreadable_files(data_config):
    """(path, reason) of every image file of the content and style folders that
    training skips; nothing is logged (keep_readable_images logs them). TFRecords
    hold no files to check: their images were checked when they were written."""
    if data_config.get("tfrecords"):
        return []
    folders = [data_config.content_dir] + str(data_config.style_dir).split(",")
    files = [path for folder in folders for path in list_images(folder.strip())]
    return [(path, problem) for path, problem in image_problems(files).items()
            if problem is not None]


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


def random_crop_and_flip(image, image_size, seed):
    """A random `image_size` square crop, flipped left-right half the time.

    `seed` is a shape [2] integer tensor; the same seed gives the same crop and flip.
    """
    crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    image = tf.image.stateless_random_crop(image, [image_size, image_size, 3], crop_seed)
    return tf.image.stateless_random_flip_left_right(image, flip_seed)


def element_seed(seed, stream, index):
    """The stateless seed of element `index` of a stream: fold the index into (seed, stream)."""
    base = tf.constant([seed, stream], tf.int64)
    return tf.random.experimental.stateless_fold_in(base, tf.cast(index, tf.int64))


# --------------------------------------------------------------------------- datasets


def make_dataset(content_dir, style_dir, image_size, global_batch_size, seed,
                 content_resize=None, style_resize=None, cache_styles=True,
                 start_index=0, tfrecords=None, input_context=None):
    """Infinite batches of {"content", "style", "style_id"} for training.

    Args:
      content_dir: folder of content photos (searched recursively).
      style_dir: folder of styles, see the module docstring.
      image_size: side of the square crops.
      global_batch_size: batch size over all replicas (the strategy splits it).
      seed: integer; the same seed gives the same stream.
      content_resize, style_resize: short side to resize to before cropping (None =
        image_size). A larger value crops a smaller part of each image, i.e. shows the
        style's texture at a larger scale.
      cache_styles: decode and resize every style image once and keep it in memory (as
        uint8), instead of decoding a file at every step. Worth it unless the style images
        do not fit in memory.
      start_index: number of examples already consumed; the stream starts there, so a
        resumed run sees exactly the data an uninterrupted run would have seen.
      tfrecords: a prefix written by data/tfrecords.py, read instead of the folders.
      input_context: a tf.distribute.InputContext (from
        strategy.distribute_datasets_from_function): batches are then per replica
        and this input pipeline makes only its share of each global batch. From
        folders, the shares are the parts of the one-pipeline global batch (the same
        stream for any number of workers); from TFRecords each pipeline reads its own
        content shards (file-level sharding) and the same style stream's share.

    Returns:
      (dataset, style_names): batches with content and style float32
      [batch, image_size, image_size, 3] in [0, 1] and style_id int32 [batch], where
      batch is global_batch_size, or the per-replica batch with an input_context;
      the sorted style names that style_id indexes.
    """
    for name, value in (("image_size", image_size), ("global_batch_size", global_batch_size)):
        if value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value}.")
    content_resize = check_resize(content_resize, image_size, "content_resize")
    style_resize = check_resize(style_resize, image_size, "style_resize")
    pipelines, pipeline_id, batch_size = 1, 0, global_batch_size
    if input_context is not None:
        pipelines, pipeline_id = (input_context.num_input_pipelines,
                                  input_context.input_pipeline_id)
        batch_size = input_context.get_per_replica_batch_size(global_batch_size)
    share = global_batch_size // pipelines

    def is_mine(index):
        """Whether global example `index` belongs to this pipeline's share."""
        return tf.equal(index % global_batch_size // share, pipeline_id)

    if tfrecords:
        style_names, files_per_style = tfrecords_lib.load_styles(tfrecords)
        paths, counts = tfrecords_lib.content_shards(tfrecords, pipeline_id, pipelines)
        local_start = start_index // pipelines
        # Each pipeline's elements get their own seeds: pipeline p counts from p * 2^40.
        indexed = tf.data.Dataset.zip(
            tf.data.Dataset.counter(local_start + (pipeline_id << 40)),
            tfrecords_lib.content_records(paths, counts, seed, local_start))
        contents = crop_contents(indexed, image_size, content_resize, seed)
        logging.info("Data: %d content images in %d shards (of this input pipeline); "
                     "%d styles with %d images, from %s.", sum(counts), len(paths),
                     len(style_names), sum(map(len, files_per_style)), tfrecords)
    else:
        content_files = keep_readable_images(list_images(content_dir), content_dir)
        style_names, files_per_style = list_styles(style_dir)
        logging.info("Data: %d content images in %s; %d styles with %d images in %s.",
                     len(content_files), content_dir, len(style_names),
                     sum(map(len, files_per_style)), style_dir)
        contents = content_stream(content_files, image_size, content_resize, seed,
                                  start_index, keep=is_mine if pipelines > 1 else None)
    styles = style_stream(files_per_style, image_size, style_resize, seed, cache_styles,
                          start_index, keep=is_mine if pipelines > 1 else None)
    dataset = tf.data.Dataset.zip(contents, styles).map(
        lambda content, style: {**content, **style})
    dataset = dataset.batch(batch_size, drop_remainder=True)
    return dataset.prefetch(tf.data.AUTOTUNE), style_names


def make_dataset_from_config(data_config, global_batch_size, seed, start_index=0,
                             input_context=None):
    """make_dataset with its settings from a `config.data` ConfigDict.

    Fields: content_dir, style_dir, tfrecords (a prefix; if set, the folders are not
    used), image_size, content_resize and style_resize (0 means image_size),
    cache_styles.
    """
    return make_dataset(
        data_config.content_dir, data_config.style_dir, data_config.image_size,
        global_batch_size, seed,
        content_resize=data_config.content_resize or None,
        style_resize=data_config.style_resize or None,
        cache_styles=data_config.cache_styles, start_index=start_index,
        tfrecords=data_config.get("tfrecords") or None, input_context=input_context)


def style_names_from_config(data_config):
    """The sorted style names of the run's data (folders or TFRecords)."""
    if data_config.get("tfrecords"):
        return tfrecords_lib.read_metadata(data_config.tfrecords)["styles"]
    return list_styles(data_config.style_dir)[0]


def first_images_from_config(data_config, num_contents, num_styles):
    """(the first `num_contents` contents, the first image of each of the first
    `num_styles` styles), as paths or encoded bytes (decode_image reads both)."""
    if data_config.get("tfrecords"):
        contents = tfrecords_lib.first_contents(data_config.tfrecords, num_contents)
        files_per_style = tfrecords_lib.load_styles(data_config.tfrecords)[1]
    else:
        contents = list_images(data_config.content_dir)[:num_contents]
        files_per_style = list_styles(data_config.style_dir)[1]
    return contents, [files[0] for files in files_per_style[:num_styles]]


def check_resize(resize, image_size, name):
    if not resize:
        return image_size
    if resize < image_size:
        raise ValueError(f"{name} ({resize}) must be at least image_size ({image_size}), "
                         "since the crop is taken from the resized image.")
    return resize


def shuffled_epochs(files, seed, start_index=0):
    """The files in a new random order each epoch, forever.

    Each epoch is a full permutation drawn statelessly from (seed, epoch), rather than
    Dataset.shuffle, whose order also depends on tf.random.set_seed: this way the seed
    alone fixes the stream, and a file list costs no more memory than its names.
    """
    files = tf.constant(files)

    def epoch_order(epoch):
        return tf.random.experimental.stateless_shuffle(
            files, element_seed(seed, CONTENT_ORDER_STREAM, epoch))

    first_epoch, offset = divmod(start_index, len(files))
    return tf.data.Dataset.counter(first_epoch).map(epoch_order).unbatch().skip(offset)


def content_stream(files, image_size, resize, seed, start_index=0, keep=None):
    """Content crops, {"content": [S, S, 3]}, in a new shuffled order each epoch, forever.

    keep: optional predicate on the example index; only those examples are decoded.
    """
    indexed = tf.data.Dataset.zip(tf.data.Dataset.counter(start_index),
                                  shuffled_epochs(files, seed, start_index))
    if keep is not None:
        indexed = indexed.filter(lambda index, _: keep(index))
    return crop_contents(indexed, image_size, resize, seed)


def crop_contents(indexed, image_size, resize, seed):
    """(example index, path or encoded image) -> {"content": random crop}."""
    def load(index, path):
        image = resize_short_side(decode_image(path), resize)
        seed_of_element = element_seed(seed, CONTENT_STREAM, index)
        return {"content": random_crop_and_flip(image, image_size, seed_of_element)}

    return indexed.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def style_stream(files_per_style, image_size, resize, seed, cache, start_index=0,
                 keep=None):
    """Style crops with their ids, {"style": [S, S, 3], "style_id": []}, forever.

    Each element draws a style uniformly, then a file uniformly within that style, so a
    one-painting style is seen as often as a 30-painting collection. Files may also be
    encoded images (bytes). keep: optional predicate on the example index.
    """
    counts = [len(files) for files in files_per_style]
    offsets = tf.constant(np.cumsum([0] + counts[:-1]), tf.int32)
    counts = tf.constant(counts, tf.int32)
    flat_files = tf.constant([path for files in files_per_style for path in files])
    load_file = (cached_loader(flat_files, resize) if cache
                 else lambda index: resize_short_side(
                     decode_image(tf.gather(flat_files, index)), resize))

    def draw(index):
        style_seed, file_seed, crop_seed = tf.unstack(tf.random.experimental.stateless_split(
            element_seed(seed, STYLE_STREAM, index), 3))
        style_id = tf.random.stateless_uniform(
            [], style_seed, minval=0, maxval=len(files_per_style), dtype=tf.int32)
        file_in_style = tf.random.stateless_uniform(
            [], file_seed, minval=0, maxval=counts[style_id], dtype=tf.int32)
        image = load_file(offsets[style_id] + file_in_style)
        return {"style": random_crop_and_flip(image, image_size, crop_seed),
                "style_id": style_id}

    indexes = tf.data.Dataset.counter(start_index)
    if keep is not None:
        indexes = indexes.filter(keep)
    return indexes.map(draw, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def cached_loader(files, resize):
    """Decodes and resizes every file once; returns index -> float32 image from memory.

    The images differ in shape, so they are stored flattened end to end in one uint8
    tensor with their start offsets and shapes (uint8 is 4x smaller than float32; the
    rounding error is at most 1/510).
    """
    def decode(path):
        image = resize_short_side(decode_image(path), resize)
        return tf.cast(tf.round(image * 255.0), tf.uint8)

    images = list(tf.data.Dataset.from_tensor_slices(files).map(
        decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).as_numpy_iterator())
    sizes = np.array([image.size for image in images], np.int64)
    starts = tf.constant(np.cumsum(sizes) - sizes, tf.int64)
    shapes = tf.constant([image.shape for image in images], tf.int32)
    pixels = tf.constant(np.concatenate([image.ravel() for image in images]))
    logging.info("Cached %d style images in memory (%.1f MB).", len(images),
                 pixels.shape[0] / 2 ** 20)

    def load(index):
        start = starts[index]
        flat = pixels[start:start + tf.reduce_prod(tf.cast(shapes[index], tf.int64))]
        return tf.cast(tf.reshape(flat, shapes[index]), tf.float32) / 255.0

    return load
