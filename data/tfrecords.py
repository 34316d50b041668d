r"""Sharded TFRecords of a content folder and a style folder, and their tf.data streams.

    python -m data.tfrecords --content_dir=photos --style_dir=styles \
        --output=gs://bucket/data/coco_wikiart --shards=64

writes, beside the prefix (local or any filesystem tf.io.gfile reads, e.g. gs://):

    PREFIX-content-00000-of-00064.tfrecord ...  content photos, shuffled once over
                                                the shards: {image, name}
    PREFIX-style-00000-of-00004.tfrecord ...    style images: {image, style_id,
                                                style_name}
    PREFIX.json                                 style names (in style-id order) and
                                                every shard's file name and count

`image` holds the file's original encoded bytes (JPEG, PNG, ...), decoded by
data.images.decode_image like a file. Train on them with
`--config.data.tfrecords=PREFIX` (content_dir and style_dir are then unused).

Content is the large set: it is streamed shard by shard, and with several workers
each one reads its own shards (file-level sharding). Style sets are small (a style
is a painting or a collection), so every worker keeps all style images in memory,
as for folders. The content stream is a pure function of (seed, example index), so
a resumed run continues exactly where it stopped, at the cost of reading at most
one shard to reach its position.
"""
import json
import os
import posixpath

import numpy as np
import tensorflow as tf
from absl import app, flags, logging

from data import images, seeds

CONTENT, STYLE = "content", "style"
# Records are shuffled in blocks of this many within a shard (on top of the writer's
# shuffle over all shards); a block of encoded images is held in memory.
SHUFFLE_BLOCK = 256


def shard_name(prefix, kind, index, count):
    return f"{posixpath.basename(prefix)}-{kind}-{index:05d}-of-{count:05d}.tfrecord"


def _bytes_feature(value):
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def _write_shard(path, records):
    """Writes serialized records to `path` via a temporary name: never half-written."""
    temporary = path + ".tmp"
    with tf.io.TFRecordWriter(temporary) as writer:
        for record in records:
            writer.write(record)
    tf.io.gfile.rename(temporary, path, overwrite=True)


def _content_record(path, name):
    with open(path, "rb") as f:
        image = f.read()
    return tf.train.Example(features=tf.train.Features(feature={
        "image": _bytes_feature(image), "name": _bytes_feature(name.encode())}
    )).SerializeToString()


def _style_record(path, style_id, style_name):
    with open(path, "rb") as f:
        image = f.read()
    return tf.train.Example(features=tf.train.Features(feature={
        "image": _bytes_feature(image),
        "style_id": tf.train.Feature(int64_list=tf.train.Int64List(value=[style_id])),
        "style_name": _bytes_feature(style_name.encode())})).SerializeToString()


def write_tfrecords(content_dir, style_dir, output, shards, seed=0):
    """Converts the folders into sharded TFRecords under the prefix `output`.

    Content photos are shuffled (by `seed`) and dealt round-robin into `shards`
    files; style images go into min(shards, number of style images) files, in
    style order. Returns the metadata written to `output + ".json"`.

    Raises:
      ValueError: if shards < 1, if there are fewer content images than shards, or
        as images.list_images / list_styles do for bad folders.
    """
    if shards < 1:
        raise ValueError(f"--shards must be at least 1, got {shards}.")
    content_files = images.keep_readable_images(images.list_images(content_dir),
                                                content_dir)
    if len(content_files) < shards:
        raise ValueError(f"--shards={shards} is more than the {len(content_files)} "
                         f"content images in {content_dir}; use at most that many.")
    style_names, files_per_style = images.list_styles(style_dir)
    directory = posixpath.dirname(output)
    if directory:
        tf.io.gfile.makedirs(directory)
    metadata = {"styles": style_names, CONTENT: [], STYLE: []}

    order = np.random.default_rng(seed).permutation(len(content_files))
    for index in range(shards):
        files = [content_files[i] for i in order[index::shards]]
        name = shard_name(output, CONTENT, index, shards)
        _write_shard(posixpath.join(directory, name), (
            _content_record(path, os.path.relpath(path, content_dir)) for path in files))
        metadata[CONTENT].append({"file": name, "count": len(files)})

    styled = [(path, style_id, style_names[style_id])
              for style_id, files in enumerate(files_per_style) for path in files]
    style_shards = min(shards, len(styled))
    for index in range(style_shards):
        part = styled[index * len(styled) // style_shards:
                      (index + 1) * len(styled) // style_shards]
        name = shard_name(output, STYLE, index, style_shards)
        _write_shard(posixpath.join(directory, name),
                     (_style_record(*entry) for entry in part))
        metadata[STYLE].append({"file": name, "count": len(part)})

    with tf.io.gfile.GFile(output + ".json.tmp", "w") as f:
        f.write(json.dumps(metadata, indent=2) + "\n")
    tf.io.gfile.rename(output + ".json.tmp", output + ".json", overwrite=True)
    logging.info("Wrote %d content images in %d shards and %d style images (%d "
                 "styles) in %d shards under %s.", len(content_files), shards,
                 len(styled), len(style_names), style_shards, output)
    return metadata


# --------------------------------------------------------------------------- reading


def read_metadata(prefix):
    """The metadata of a prefix, with shard paths made absolute."""
    path = prefix + ".json"
    if not tf.io.gfile.exists(path):
        raise ValueError(f"data.tfrecords={prefix!r}: {path} does not exist; write it "
                         f"with `python -m data.tfrecords --output={prefix} ...`.")
    with tf.io.gfile.GFile(path) as f:
        metadata = json.load(f)
    directory = posixpath.dirname(prefix)
    for kind in (CONTENT, STYLE):
        for shard in metadata[kind]:
            shard["path"] = posixpath.join(directory, shard["file"])
    return metadata


def _parse_style(record):
    features = tf.io.parse_single_example(record, {
        "image": tf.io.FixedLenFeature([], tf.string),
        "style_id": tf.io.FixedLenFeature([], tf.int64)})
    return features["image"], features["style_id"]


def load_styles(prefix):
    """(style names, encoded images per style in id order, as lists of bytes)."""
    metadata = read_metadata(prefix)
    names = metadata["styles"]
    encoded = [[] for _ in names]
    records = tf.data.TFRecordDataset([s["path"] for s in metadata[STYLE]])
    for image, style_id in records.map(_parse_style).as_numpy_iterator():
        encoded[style_id].append(image)
    return names, encoded


def parse_content(record):
    features = tf.io.parse_single_example(record, {
        "image": tf.io.FixedLenFeature([], tf.string),
        "name": tf.io.FixedLenFeature([], tf.string)})
    return features["image"], features["name"]


def first_contents(prefix, count):
    """The encoded bytes of the first `count` records of the first content shard."""
    shard = read_metadata(prefix)[CONTENT][0]["path"]
    return [image for image, _ in tf.data.TFRecordDataset(shard).map(parse_content)
            .take(count).as_numpy_iterator()]


def content_shards(prefix, pipeline_id=0, num_pipelines=1):
    """(paths, counts) of the content shards input pipeline `pipeline_id` reads:
    every num_pipelines-th shard (file-level sharding across workers)."""
    shards = read_metadata(prefix)[CONTENT][pipeline_id::num_pipelines]
    if not shards:
        total = len(read_metadata(prefix)[CONTENT])
        raise ValueError(f"data.tfrecords={prefix!r} has {total} content shards, fewer "
                         f"than the {num_pipelines} workers reading them; write at "
                         f"least {num_pipelines} shards (--shards).")
    return [s["path"] for s in shards], [s["count"] for s in shards]


def content_records(paths, counts, seed, start_index=0):
    """Encoded content images, forever, from `start_index` on.

    Each epoch reads the shards in a new order drawn from (seed, epoch) and shuffles
    each block of a shard's records by (seed, epoch, shard, block). So element k
    is fixed by the seed alone, and resuming at k skips whole epochs and whole shards
    by their counts, reading at most one shard to reach its place.
    """
    total = sum(counts)
    first_epoch, position = divmod(start_index, total)
    # Shards that start at or before `position` in the first epoch's order are
    # skipped whole; the one holding it is entered at its offset.
    num_shards = len(paths)
    paths, counts = tf.constant(paths), tf.constant(counts, tf.int64)

    def epoch_order(epoch):
        epoch = tf.cast(epoch, tf.int64)
        order = tf.random.experimental.stateless_shuffle(
            tf.range(num_shards, dtype=tf.int64),
            seeds.element_seed(seed, seeds.SHARD_ORDER_STREAM, epoch))
        return tf.data.Dataset.from_tensor_slices(
            (tf.fill([num_shards], epoch), order))

    def skip_in_first(epoch_and_shard):
        epoch, order = epoch_and_shard
        ends = tf.cumsum(tf.gather(counts, order))
        whole = tf.reduce_sum(tf.cast(ends <= position, tf.int64))
        offset = position - tf.concat([[0], ends], 0)[whole]
        return (tf.data.Dataset.from_tensor_slices((epoch[whole:], order[whole:]))
                .enumerate().map(lambda i, e_s: (*e_s, tf.where(i == 0, offset, 0))))

    def read_shard(epoch, shard, skip):
        # Stateless shuffles of blocks of records: Dataset.shuffle would also depend
        # on the global seed (and cannot take a seed tensor once one is set).
        shard_seed = tf.random.experimental.stateless_fold_in(
            seeds.element_seed(seed, seeds.SHARD_SHUFFLE_STREAM, epoch), shard)
        return (tf.data.TFRecordDataset(paths[shard])
                .map(lambda record: parse_content(record)[0])
                .batch(SHUFFLE_BLOCK).enumerate()
                .map(lambda block, images: tf.random.experimental.stateless_shuffle(
                    images, tf.random.experimental.stateless_fold_in(shard_seed, block)))
                .unbatch().skip(skip))

    first = epoch_order(first_epoch).batch(num_shards).flat_map(
        lambda epochs, order: skip_in_first((epochs, order)))
    later = tf.data.Dataset.counter(first_epoch + 1).flat_map(epoch_order).map(
        lambda epoch, shard: (epoch, shard, tf.constant(0, tf.int64)))
    return first.concatenate(later).flat_map(read_shard)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    values = flags.FLAGS
    for name in ("content_dir", "style_dir", "output"):
        if not values[name].value:
            raise app.UsageError(f"--{name} is required.")
    metadata = write_tfrecords(values.content_dir, values.style_dir, values.output,
                               values.shards, values.seed)
    print(f"{values.output}: {sum(s['count'] for s in metadata[CONTENT])} content "
          f"images in {len(metadata[CONTENT])} shards, "
          f"{sum(s['count'] for s in metadata[STYLE])} style images of "
          f"{len(metadata['styles'])} styles in {len(metadata[STYLE])} shards.")


if __name__ == "__main__":
    # Defined only when run as a program, so importers (train.py, evaluate.py through
    # data.pipeline) get no flags from this module.
    flags.DEFINE_string("content_dir", None, "Folder of content photos.")
    flags.DEFINE_string("style_dir", None, "Folder of styles (one per sub-folder or "
                        "loose image); several comma-separated folders are pooled.")
    flags.DEFINE_string("output", None, "Output prefix, local or gs://.")
    flags.DEFINE_integer("shards", 16, "Number of content shards: at least the "
                         "number of workers that will read them.")
    flags.DEFINE_integer("seed", 0, "Seed of the content shuffle.")
    app.run(main)
