"""data/tfrecords.py: folders -> sharded TFRecords -> the same images, ids and an
exactly resumable stream; and the per-pipeline shares of the input under
tf.distribute."""
import json
import subprocess
import sys

import ml_collections
import numpy as np
import pytest
import tensorflow as tf

from data import images, pipeline, tfrecords
from tests.helpers import REPO, random_image, write_image


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """7 content photos (32x32, so a 32 crop is the whole photo) and 3 styles."""
    root = tmp_path_factory.mktemp("folders")
    for index in range(7):
        write_image(root / "content" / f"photo{index}.png",
                    random_image(32, 32, 3, seed=index))
    write_image(root / "styles" / "collection" / "a.png", random_image(40, 36, 3, 10))
    write_image(root / "styles" / "collection" / "b.jpg", random_image(36, 36, 3, 11))
    write_image(root / "styles" / "single.png", random_image(32, 48, 3, 12))
    write_image(root / "styles" / "zebra.bmp", random_image(33, 33, 3, 13))
    return str(root / "content"), str(root / "styles")


@pytest.fixture(scope="module")
def prefix(folders, tmp_path_factory):
    prefix = str(tmp_path_factory.mktemp("records") / "data")
    tfrecords.write_tfrecords(*folders, prefix, shards=3, seed=0)
    return prefix


def test_records_hold_the_files_bytes_and_the_style_ids(folders, prefix):
    content_dir, style_dir = folders
    metadata = tfrecords.read_metadata(prefix)
    assert [s["count"] for s in metadata["content"]] == [3, 2, 2]
    names, per_style = tfrecords.load_styles(prefix)
    folder_names, folder_files = images.list_styles(style_dir)
    assert names == folder_names == ["collection", "single", "zebra"]
    for files, encoded in zip(folder_files, per_style):
        assert [open(f, "rb").read() for f in files] == encoded
    records = tf.data.TFRecordDataset([s["path"] for s in metadata["content"]])
    stored = {name.decode(): image for image, name in
              records.map(tfrecords.parse_content).as_numpy_iterator()}
    files = images.list_images(content_dir)
    assert sorted(stored) == sorted(f.rsplit("/", 1)[1] for f in files)
    for path in files:
        assert stored[path.rsplit("/", 1)[1]] == open(path, "rb").read()


def dataset(folders, prefix, start_index=0, **kwargs):
    return pipeline.make_dataset(*folders, image_size=32, global_batch_size=7, seed=3,
                                 start_index=start_index, tfrecords=prefix, **kwargs)


def batches(data, count):
    return list(data.take(count).as_numpy_iterator())


def test_records_give_the_folders_styles_and_every_content_once_per_epoch(
        folders, prefix):
    from_folders, names = dataset(folders, None)
    from_records, record_names = dataset(folders, prefix)
    assert names == record_names
    folder_batch, record_batch = batches(from_folders, 1)[0], batches(from_records, 1)[0]
    # The style stream is the same function of (seed, index) for both sources.
    np.testing.assert_array_equal(record_batch["style_id"], folder_batch["style_id"])
    np.testing.assert_allclose(record_batch["style"], folder_batch["style"], atol=1e-6)
    # One epoch of 7 contents: each photo exactly once, maybe flipped.
    photos = [images.decode_image(f).numpy()
              for f in images.list_images(folders[0])]
    seen = []
    for content in record_batch["content"]:
        matches = [i for i, photo in enumerate(photos)
                   if np.allclose(content, photo, atol=1e-6)
                   or np.allclose(content, photo[:, ::-1], atol=1e-6)]
        assert len(matches) == 1
        seen += matches
    assert sorted(seen) == list(range(7))


@pytest.mark.parametrize("start_index", [5, 7, 16])
def test_records_stream_resumes_exactly(folders, prefix, start_index):
    """Resuming mid-shard, at an epoch boundary, and in a later epoch."""
    whole = np.concatenate([b["content"] for b in batches(dataset(folders, prefix)[0], 4)])
    resumed = np.concatenate([b["content"] for b in batches(
        dataset(folders, prefix, start_index)[0], 1)])
    np.testing.assert_array_equal(resumed, whole[start_index:start_index + 7])
    # A new epoch reads the shards in a new order.
    assert not np.array_equal(whole[:7], whole[7:14])


def test_records_stream_does_not_depend_on_the_global_seed(folders, prefix):
    streams = []
    for global_seed in (1, 2):
        tf.random.set_seed(global_seed)
        streams.append(batches(dataset(folders, prefix)[0], 2))
    for first, second in zip(*streams):
        np.testing.assert_array_equal(first["content"], second["content"])


def input_context(pipeline_id, pipelines, replicas):
    return tf.distribute.InputContext(num_input_pipelines=pipelines,
                                      input_pipeline_id=pipeline_id,
                                      num_replicas_in_sync=replicas)


def test_folder_pipelines_make_their_share_of_the_same_global_batches(folders):
    """Two workers of one replica each: worker i's batch is half i of the global
    batch of one pipeline, so the stream does not depend on the number of workers."""
    data = lambda **kwargs: pipeline.make_dataset(  # noqa: E731
        *folders, image_size=32, global_batch_size=4, seed=3, start_index=8, **kwargs)[0]
    whole = batches(data(), 2)
    halves = [batches(data(input_context=input_context(i, 2, 2)), 2) for i in (0, 1)]
    for step in range(2):
        for key in ("content", "style", "style_id"):
            np.testing.assert_array_equal(
                np.concatenate([halves[0][step][key], halves[1][step][key]]),
                whole[step][key])


def test_record_pipelines_read_disjoint_shards(folders, prefix):
    shards = [tfrecords.content_shards(prefix, i, 2)[0] for i in (0, 1)]
    assert [len(s) for s in shards] == [2, 1] and not set(shards[0]) & set(shards[1])
    with pytest.raises(ValueError, match="has 3 content shards, fewer than the 4"):
        tfrecords.content_shards(prefix, 3, 4)
    data = pipeline.make_dataset(*folders, image_size=32, global_batch_size=6, seed=3,
                                 tfrecords=prefix,
                                 input_context=input_context(1, 2, 2))[0]
    # Per-replica batches of 3, from shard 2 only: its 2 photos, then again.
    photos = [images.decode_image(f).numpy()
              for f in images.list_images(folders[0])]
    (batch,) = batches(data, 1)
    assert batch["content"].shape == (3, 32, 32, 3)
    in_shard = {i for content in batch["content"] for i, photo in enumerate(photos)
                if np.allclose(content, photo, atol=1e-6)
                or np.allclose(content, photo[:, ::-1], atol=1e-6)}
    stored = tf.data.TFRecordDataset(shards[1]).map(tfrecords.parse_content)
    names = {name.decode() for _, name in stored.as_numpy_iterator()}
    assert {f"photo{i}.png" for i in in_shard} == names


def test_mirrored_strategy_gives_replicas_consecutive_batches(folders, mirrored_cpus):
    """With distribute_datasets_from_function, 2 replicas of one worker receive
    consecutive per-replica batches: together, the one-device global batch."""
    strategy = mirrored_cpus(2)
    data = lambda **kwargs: pipeline.make_dataset(  # noqa: E731
        *folders, image_size=32, global_batch_size=4, seed=3, **kwargs)[0]
    distributed = iter(strategy.distribute_datasets_from_function(
        lambda context: data(input_context=context)))
    whole = batches(data(), 2)
    for step in range(2):
        parts = strategy.experimental_local_results(next(distributed))
        np.testing.assert_array_equal(
            np.concatenate([p["style_id"] for p in parts]), whole[step]["style_id"])
        np.testing.assert_array_equal(
            np.concatenate([p["content"] for p in parts]), whole[step]["content"])


def test_config_reads_records_and_names_styles(folders, prefix):
    config = ml_collections.ConfigDict({
        "content_dir": "", "style_dir": "", "tfrecords": prefix, "image_size": 32,
        "content_resize": 0, "style_resize": 0, "cache_styles": False})
    assert pipeline.style_names_from_config(config) == ["collection", "single", "zebra"]
    contents, styles = pipeline.first_images_from_config(config, 2, 2)
    assert len(contents) == 2 and len(styles) == 2
    assert images.decode_image(styles[1]).shape == (32, 48, 3)
    (batch,) = batches(pipeline.make_dataset_from_config(config, 2, seed=0)[0], 1)
    assert batch["content"].shape == (2, 32, 32, 3)
    config.tfrecords = prefix + "_missing"
    with pytest.raises(ValueError, match="does not exist; write it with"):
        pipeline.style_names_from_config(config)


@pytest.mark.slow
def test_command_line_writes_the_records(folders, tmp_path):
    content_dir, style_dir = folders
    result = subprocess.run(
        [sys.executable, "-m", "data.tfrecords", f"--content_dir={content_dir}",
         f"--style_dir={style_dir}", f"--output={tmp_path}/out/set", "--shards=2"],
        cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "7 content images in 2 shards, 4 style images of 3 styles" in result.stdout
    with open(tmp_path / "out" / "set.json") as f:
        assert [s["file"] for s in json.load(f)["content"]] == [
            "set-content-00000-of-00002.tfrecord", "set-content-00001-of-00002.tfrecord"]
    with pytest.raises(ValueError, match="--shards=8 is more than the 7 content"):
        tfrecords.write_tfrecords(content_dir, style_dir, str(tmp_path / "x"), shards=8)


@pytest.mark.slow
def test_a_run_trains_from_records(folders, prefix, tmp_path):
    from experiments import quickstart
    from training import loop
    config = quickstart.get_config("test")
    config.data.demo = False
    config.data.tfrecords = prefix
    config.train.num_steps = 2
    loop.train_and_evaluate(config, str(tmp_path))
    assert tf.train.latest_checkpoint(str(tmp_path / "checkpoints")).endswith("-2")
    with open(tmp_path / "styles.json") as f:
        assert json.load(f)["names"] == ["collection", "single", "zebra"]
    assert (tmp_path / "samples" / "0000002.png").exists()
    config.data.demo = True
    with pytest.raises(ValueError, match="expected one source of data"):
        loop.train_and_evaluate(config, str(tmp_path / "other"))
