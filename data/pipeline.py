"""Input pipeline: a tf.data stream of {"content", "style", "style_id"} batches.

Content photos are shuffled each epoch and repeated; style images are drawn so that
every style is equally likely however many images it has. Both are resized on their
short side, randomly cropped to a square and randomly flipped. All randomness is
stateless and seeded per element, so the same seed gives the same stream.

A style is either a sub-folder of the style folder (all images under it, e.g. an
artist's collection) or a loose image file in the style folder (a single painting):

    styles/vangogh/001.jpg ... 030.jpg    -> style "vangogh"
    styles/munch-the-scream.jpg           -> style "munch-the-scream"

Listing, checking and decoding the image files is data/images.py; the same stream
can be read from sharded TFRecords of the two folders (data/tfrecords.py). Under
tf.distribute each input pipeline (one per worker) makes only its share of every
global batch (`input_context`).

Images are float32 NHWC RGB in [0, 1]; style_id is int32, an index into the sorted
style names returned with the dataset.
"""
import numpy as np
import tensorflow as tf
from absl import logging

from data import images, procedural, seeds
from data import tfrecords as tfrecords_lib  # make_dataset's argument is `tfrecords`


def make_dataset(content_dir, style_dir, image_size, global_batch_size, seed,
                 content_resize=None, style_resize=None, cache_styles=True,
                 start_index=0, tfrecords=None, input_context=None, content_cache_mb=0,
                 exclude=(), procedural_prob=0.0, recolour_prob=0.0,
                 style_zoom=(1.0, 1.0), zoom_single_paintings=True):
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
      content_cache_mb: keep the decoded, resized content photos in memory (uint8)
        when they fit in this many MB, as the style images are; 0 = decode them from
        their files at every step. Folders only (content_cache_loader).
      input_context: a tf.distribute.InputContext (from
        strategy.distribute_datasets_from_function): batches are then per replica
        and this input pipeline makes only its share of each global batch. From
        folders, the shares are the parts of the one-pipeline global batch (the same
        stream for any number of workers); from TFRecords each pipeline reads its own
        content shards (file-level sharding) and the same style stream's share.
      exclude: image files of the two folders that the run must not see (a held-out
        split, data/split.py).
      procedural_prob: the share of style elements replaced by a procedural style
        (data/procedural.py), with style_id -1.
      recolour_prob: the share of style elements recoloured, with style_id -1
        (data/procedural.py recolour_in), before procedural styles replace some.
      style_zoom: (low, high) range of the style crop's side in units of image_size,
        resized to image_size (augmentation at several scales); (1, 1) = plain crops.
      zoom_single_paintings: False = styles of one image get plain crops, only the
        collections are zoomed.

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
    pipelines, pipeline_id, batch_size, keep = pipeline_share(global_batch_size,
                                                              input_context)
    crop = dict(image_size=image_size, resize=content_resize, seed=seed)
    if tfrecords:
        contents, style_names, files_per_style = tfrecord_contents(
            tfrecords, pipeline_id, pipelines, start_index, **crop)
    else:
        contents, style_names, files_per_style = folder_contents(
            content_dir, style_dir, start_index, keep, content_cache_mb,
            exclude=exclude, **crop)
    styles = style_stream(files_per_style, image_size, style_resize, seed, cache_styles,
                          start_index, keep=keep, zoom=tuple(style_zoom),
                          zoom_single_paintings=zoom_single_paintings)
    if recolour_prob > 0:
        styles = procedural.recolour_in(styles, recolour_prob, seed, start_index,
                                        keep=keep)
    if procedural_prob > 0:
        styles = procedural.mix_in(styles, procedural_prob, image_size,
                                   procedural.colour_pool(files_per_style, seed), seed,
                                   start_index, keep=keep)
    dataset = tf.data.Dataset.zip(contents, styles).map(
        lambda content, style: {**content, **style})
    dataset = dataset.batch(batch_size, drop_remainder=True)
    return dataset.prefetch(tf.data.AUTOTUNE), style_names


def pipeline_share(global_batch_size, input_context):
    """(number of input pipelines, this one's id, its batch size, `keep`): keep is the
    predicate on global example indexes that picks this pipeline's share of every
    global batch, None when one pipeline makes all of it."""
    if input_context is None:
        return 1, 0, global_batch_size, None
    pipelines = input_context.num_input_pipelines
    pipeline_id = input_context.input_pipeline_id
    batch_size = input_context.get_per_replica_batch_size(global_batch_size)
    share = global_batch_size // pipelines

    def is_mine(index):
        """Whether global example `index` belongs to this pipeline's share."""
        return tf.equal(index % global_batch_size // share, pipeline_id)

    return pipelines, pipeline_id, batch_size, is_mine if pipelines > 1 else None


def tfrecord_contents(prefix, pipeline_id, pipelines, start_index, image_size, resize,
                      seed):
    """(content crops of this pipeline's shards, style names, encoded style images)."""
    style_names, files_per_style = tfrecords_lib.load_styles(prefix)
    paths, counts = tfrecords_lib.content_shards(prefix, pipeline_id, pipelines)
    local_start = start_index // pipelines
    # Each pipeline's elements get their own seeds: pipeline p counts from p * 2^40.
    indexed = tf.data.Dataset.zip(
        tf.data.Dataset.counter(local_start + (pipeline_id << 40)),
        tfrecords_lib.content_records(paths, counts, seed, local_start))
    contents = crop_contents(indexed, image_size, resize, seed)
    logging.info("Data: %d content images in %d shards (of this input pipeline); "
                 "%d styles with %d images, from %s.", sum(counts), len(paths),
                 len(style_names), sum(map(len, files_per_style)), prefix)
    return contents, style_names, files_per_style


def folder_contents(content_dir, style_dir, start_index, keep, cache_mb, image_size,
                    resize, seed, exclude=()):
    """(content crops of the readable photos, style names, style files per style)."""
    # Quiet: check_data has logged the skipped files once, before the run started.
    content_files = images.keep_readable_images(
        images.without(images.list_images(content_dir), exclude), content_dir, log=False)
    style_names, files_per_style = images.list_styles(style_dir, exclude)
    logging.info("Data: %d content images in %s; %d styles with %d images in %s.",
                 len(content_files), content_dir, len(style_names),
                 sum(map(len, files_per_style)), style_dir)
    contents = content_stream(content_files, image_size, resize, seed, start_index,
                              keep=keep, cache_mb=cache_mb)
    return contents, style_names, files_per_style


def make_dataset_from_config(data_config, global_batch_size, seed, start_index=0,
                             input_context=None):
    """make_dataset with its settings from a `config.data` ConfigDict.

    Fields: content_dir, style_dir, tfrecords (a prefix; if set, the folders are not
    used), image_size, content_resize and style_resize (0 means image_size),
    cache_styles, cache_contents_mb, exclude, procedural_prob, recolour_prob,
    style_zoom_min, style_zoom_max and zoom_single_paintings.
    """
    return make_dataset(
        data_config.content_dir, data_config.style_dir, data_config.image_size,
        global_batch_size, seed,
        content_resize=data_config.content_resize or None,
        style_resize=data_config.style_resize or None,
        cache_styles=data_config.cache_styles, start_index=start_index,
        tfrecords=data_config.tfrecords or None, input_context=input_context,
        content_cache_mb=data_config.get("cache_contents_mb", 0),
        exclude=excluded(data_config),
        procedural_prob=data_config.get("procedural_prob", 0.0),
        recolour_prob=data_config.get("recolour_prob", 0.0),
        style_zoom=(data_config.get("style_zoom_min", 1.0),
                    data_config.get("style_zoom_max", 1.0)),
        zoom_single_paintings=data_config.get("zoom_single_paintings", True))


def excluded(data_config):
    """data.exclude (the held-out files); () for configs written before it existed."""
    return tuple(data_config.get("exclude", ()))


def style_names_from_config(data_config):
    """The sorted style names of the run's data (folders or TFRecords)."""
    if data_config.tfrecords:
        return tfrecords_lib.read_metadata(data_config.tfrecords)["styles"]
    return images.list_styles(data_config.style_dir, excluded(data_config))[0]


def check_data(data_config):
    """Lists and checks every image file of the run's data, before the run writes
    anything: unreadable files are logged and dropped, and a content or style folder
    with nothing usable is an error.

    Returns:
      (style names, skipped): the sorted style names and (path, reason) of every
      file training skips. TFRecords hold no files to check: their images were
      checked when they were written.

    Raises:
      ValueError: naming the folder that is missing or has no usable image.
    """
    if data_config.tfrecords:
        return style_names_from_config(data_config), []
    images.keep_readable_images(
        images.without(images.list_images(data_config.content_dir),
                       excluded(data_config)),
        data_config.content_dir)
    # logs its skips
    style_names = images.list_styles(data_config.style_dir, excluded(data_config))[0]
    return style_names, unreadable_files(data_config)


def style_files_from_config(data_config):
    """Per style (in style-id order) its images: paths, or encoded bytes from
    TFRecords (decode_image reads both)."""
    if data_config.tfrecords:
        return tfrecords_lib.load_styles(data_config.tfrecords)[1]
    return images.list_styles(data_config.style_dir, excluded(data_config))[1]


def first_images_from_config(data_config, num_contents, num_styles):
    """(the first `num_contents` readable contents, the first image of each of the
    first `num_styles` styles), as paths or encoded bytes (decode_image reads both)."""
    if data_config.tfrecords:
        contents = tfrecords_lib.first_contents(data_config.tfrecords, num_contents)
    else:
        contents = images.keep_readable_images(
            images.without(images.list_images(data_config.content_dir),
                           excluded(data_config)),
            data_config.content_dir, log=False)[:num_contents]
    files_per_style = style_files_from_config(data_config)
    return contents, [files[0] for files in files_per_style[:num_styles]]


def unreadable_files(data_config):
    """(path, reason) of every image file of the content and style folders that
    training skips; nothing is logged (check_data logs them). TFRecords hold no
    files to check."""
    if data_config.tfrecords:
        return []
    folders = [data_config.content_dir] + images.style_folders(data_config.style_dir)
    files = images.without([path for folder in folders
                            for path in images.list_images(folder)],
                           excluded(data_config))
    return [(path, problem) for path, problem in images.image_problems(files).items()
            if problem is not None]


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
            files, seeds.element_seed(seed, seeds.CONTENT_ORDER_STREAM, epoch))

    first_epoch, offset = divmod(start_index, len(files))
    return tf.data.Dataset.counter(first_epoch).map(epoch_order).unbatch().skip(offset)


def content_stream(files, image_size, resize, seed, start_index=0, keep=None,
                   cache_mb=0):
    """Content crops, {"content": [S, S, 3]}, in a new shuffled order each epoch, forever.

    keep: optional predicate on the example index; only those examples are decoded.
    cache_mb: decoded contents are kept in memory when they fit (content_cache_loader).
    """
    cached = content_cache_loader(files, resize, cache_mb) if cache_mb else None
    if cached is not None:
        # The same order as the files' (a permutation of the indexes drawn from the
        # same seeds), with the images from memory.
        order = shuffled_epochs(np.arange(len(files), dtype=np.int32), seed, start_index)
    else:
        order = shuffled_epochs(files, seed, start_index)
    indexed = tf.data.Dataset.zip(tf.data.Dataset.counter(start_index), order)
    if keep is not None:
        indexed = indexed.filter(lambda index, _: keep(index))
    return crop_contents(indexed, image_size, resize, seed, load=cached)


def crop_contents(indexed, image_size, resize, seed, load=None):
    """(example index, path or encoded image) -> {"content": random crop}; with
    `load`, (example index, position in the cache) -> the same crop from memory."""
    def crop(index, item):
        image = (load(item) if load is not None else
                 images.resize_short_side(images.decode_image(item), resize))
        crop_seed = seeds.element_seed(seed, seeds.CONTENT_STREAM, index)
        return {"content": images.random_crop_and_flip(image, image_size, crop_seed)}

    return indexed.map(crop, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


# Images decoded to estimate the memory a content set takes before caching it.
CACHE_SIZE_SAMPLE = 8


def content_cache_loader(files, resize, budget_mb):
    """cached_loader of the contents when they fit in `budget_mb` MB decoded (as
    uint8, estimated from the first CACHE_SIZE_SAMPLE images), else None (decoded from
    the files at every step); the log says which and why."""
    sample = [images.resize_short_side(images.decode_image(path), resize)
              for path in files[:CACHE_SIZE_SAMPLE]]
    estimated_mb = np.mean([image.shape.num_elements() for image in sample]) * len(
        files) / 2 ** 20
    if estimated_mb > budget_mb:
        logging.info("Content cache: %d photos would take ~%.3g MB decoded, above the "
                     "%g MB budget (data.cache_contents_mb): decoded from their files at "
                     "every step.", len(files), estimated_mb, budget_mb)
        return None
    logging.info("Content cache: %d photos, ~%.3g MB decoded, fit in the %g MB budget "
                 "(data.cache_contents_mb): kept in memory.", len(files), estimated_mb,
                 budget_mb)
    return cached_loader(tf.constant(files), resize, kind="content")


def style_stream(files_per_style, image_size, resize, seed, cache, start_index=0,
                 keep=None, zoom=(1.0, 1.0), zoom_single_paintings=True):
    """Style crops with their ids, {"style": [S, S, 3], "style_id": []}, forever.

    Each element draws a style uniformly, then a file uniformly within that style, so a
    one-painting style is seen as often as a 30-painting collection. Files may also be
    encoded images (bytes). keep: optional predicate on the example index. zoom:
    the crop side's range in units of image_size (images.random_zoom_crop_and_flip);
    zoom_single_paintings=False leaves the styles of one file at plain crops.
    """
    counts = [len(files) for files in files_per_style]
    offsets = tf.constant(np.cumsum([0] + counts[:-1]), tf.int32)
    counts = tf.constant(counts, tf.int32)
    flat_files = tf.constant([path for files in files_per_style for path in files])
    load_file = (cached_loader(flat_files, resize) if cache
                 else lambda index: images.resize_short_side(
                     images.decode_image(tf.gather(flat_files, index)), resize))

    def draw(index):
        style_seed, file_seed, crop_seed = tf.unstack(tf.random.experimental.stateless_split(
            seeds.element_seed(seed, seeds.STYLE_STREAM, index), 3))
        style_id = tf.random.stateless_uniform(
            [], style_seed, minval=0, maxval=len(files_per_style), dtype=tf.int32)
        file_in_style = tf.random.stateless_uniform(
            [], file_seed, minval=0, maxval=counts[style_id], dtype=tf.int32)
        image = load_file(offsets[style_id] + file_in_style)
        return {"style": crop(image, counts[style_id], crop_seed), "style_id": style_id}

    def crop(image, files_in_style, crop_seed):
        def plain():
            return images.random_crop_and_flip(image, image_size, crop_seed)

        def zoomed():
            return images.random_zoom_crop_and_flip(image, image_size, zoom, crop_seed)

        if zoom == (1.0, 1.0):
            return plain()
        if zoom_single_paintings:
            return zoomed()
        return tf.cond(files_in_style > 1, zoomed, plain)

    indexes = tf.data.Dataset.counter(start_index)
    if keep is not None:
        indexes = indexes.filter(keep)
    return indexes.map(draw, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def cached_loader(files, resize, kind="style"):
    """Decodes and resizes every file once; returns index -> float32 image from memory.

    The images differ in shape, so they are stored flattened end to end in one uint8
    tensor with their start offsets and shapes (uint8 is 4x smaller than float32; the
    rounding error is at most 1/510).
    """
    def decode(path):
        image = images.resize_short_side(images.decode_image(path), resize)
        return tf.cast(tf.round(image * 255.0), tf.uint8)

    decoded = list(tf.data.Dataset.from_tensor_slices(files).map(
        decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).as_numpy_iterator())
    sizes = np.array([image.size for image in decoded], np.int64)
    starts = tf.constant(np.cumsum(sizes) - sizes, tf.int64)
    shapes = tf.constant([image.shape for image in decoded], tf.int32)
    pixels = tf.constant(np.concatenate([image.ravel() for image in decoded]))
    logging.info("Cached %d %s images in memory (%.1f MB).", len(decoded), kind,
                 pixels.shape[0] / 2 ** 20)

    def load(index):
        start = starts[index]
        flat = pixels[start:start + tf.reduce_prod(tf.cast(shapes[index], tf.int64))]
        return tf.cast(tf.reshape(flat, shapes[index]), tf.float32) / 255.0

    return load
