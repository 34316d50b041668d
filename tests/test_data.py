"""Tests of data/images.py, data/pipeline.py and data/samples.py on small generated
images (seconds, CPU)."""
import itertools
import logging
import os
import socket
import threading
import time
from pathlib import Path

import cv2
import ml_collections
import numpy as np
import pytest
import tensorflow as tf

from data import images, pipeline, samples
from tests.helpers import random_image, write_image


@pytest.fixture
def folders(tmp_path):
    """A content folder and a style folder covering the awkward cases."""
    content = tmp_path / "content"
    write_image(content / "photo.jpg", random_image(40, 60, 3, seed=0))
    write_image(content / "gray.png", random_image(50, 50, 1, seed=1))
    write_image(content / "rgba.png", random_image(48, 64, 4, seed=2))
    write_image(content / "tiny.png", random_image(8, 8, 3, seed=3))
    write_image(content / "nested" / "deeper.JPEG", random_image(30, 20, 3, seed=4))
    (content / "notes.jpg").write_text("not an image")
    write_image(content / ".hidden.jpg", random_image(16, 16, 3, seed=5))
    (content / "readme.txt").write_text("ignored: not an image extension")

    styles = tmp_path / "styles"
    write_image(styles / "collection" / "part" / "a.jpg", random_image(40, 40, 3, seed=6))
    write_image(styles / "collection" / "b.webp", random_image(36, 50, 4, seed=7))
    write_image(styles / "single.png", random_image(24, 32, 3, seed=8))
    write_image(styles / "another.bmp", random_image(20, 20, 3, seed=9))
    (styles / "empty_folder").mkdir()
    return content, styles


# --------------------------------------------------------------------------- listing


def test_list_images_is_recursive_sorted_and_skips_hidden(folders):
    content, _ = folders
    names = [str(Path(path).relative_to(content)) for path in images.list_images(content)]
    assert names == ["gray.png", os.path.join("nested", "deeper.JPEG"), "notes.jpg",
                     "photo.jpg", "rgba.png", "tiny.png"]


def test_list_styles_names_folders_and_loose_files(folders):
    _, styles = folders
    names, files_per_style = images.list_styles(styles)
    assert names == ["another", "collection", "single"]
    assert [len(files) for files in files_per_style] == [1, 2, 1]
    assert files_per_style[1][0].endswith(os.path.join("collection", "b.webp"))
    assert images.list_styles(styles) == (names, files_per_style)


def test_list_styles_rejects_a_folder_and_a_file_with_the_same_name(folders):
    _, styles = folders
    write_image(styles / "collection.jpg", random_image(20, 20, 3, seed=10))
    with pytest.raises(ValueError, match="'collection'"):
        images.list_styles(styles)


def test_list_styles_pools_comma_separated_folders(folders, tmp_path):
    _, styles = folders
    more = tmp_path / "more"
    write_image(more / "extra.png", random_image(20, 20, 3, seed=11))
    names, files_per_style = images.list_styles(f"{styles}, {more}")
    assert names == ["another", "collection", "extra", "single"]
    assert files_per_style[2][0].endswith("extra.png")
    write_image(more / "single.jpg", random_image(20, 20, 3, seed=12))
    with pytest.raises(ValueError, match="'single'"):
        images.list_styles(f"{styles},{more}")
    with pytest.raises(ValueError, match="missing_folder does not exist"):
        images.list_styles(f"{styles},{tmp_path / 'missing_folder'}")


def test_unreadable_file_is_skipped_with_a_warning(folders, caplog):
    content, _ = folders
    with caplog.at_level(logging.WARNING):
        readable = images.keep_readable_images(images.list_images(content), content)
    assert len(readable) == 5
    assert "notes.jpg" in caplog.text
    assert "Skipped 1 of 6" in caplog.text


@pytest.mark.parametrize("case", ["missing", "empty", "only_bad_files"])
@pytest.mark.parametrize("role", ["content", "style"])
def test_bad_folders_raise_value_error_naming_them(tmp_path, folders, case, role):
    content, styles = folders
    bad = tmp_path / "bad"
    if case != "missing":
        bad.mkdir()
    if case == "only_bad_files":
        # In a style folder, a sub-folder is a style whose files must be images.
        target = bad if role == "content" else bad / "style_a"
        target.mkdir(exist_ok=True)
        (target / "fake.jpg").write_text("not an image")
        bad = target if role == "style" else bad
    arguments = (bad, styles) if role == "content" else (content, tmp_path / "bad")
    with pytest.raises(ValueError, match=str(bad)):
        pipeline.make_dataset(*arguments, image_size=16, global_batch_size=2, seed=0)


def test_a_fifo_or_socket_is_named_as_what_it_is_not_as_empty(tmp_path):
    """A FIFO reports size 0 (it was called "empty") and opening it would block."""
    content = tmp_path / "content"
    content.mkdir()
    os.mkfifo(content / "pipe.jpg")
    assert images.image_problem(content / "pipe.jpg") == (
        "it is a FIFO (named pipe), not a regular file")
    with pytest.raises(ValueError, match=r"none of its 1 image files .*\(pipe.jpg: it "
                                         r"is a FIFO \(named pipe\), not a regular"):
        images.keep_readable_images(images.list_images(content), content)
    os.remove(content / "pipe.jpg")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(content / "server.sock"))
    (content / "notes.txt").write_text("a text file")
    try:
        with pytest.raises(ValueError, match=r"has no image files \(skipped: "
                                             r"notes.txt \(not an image file name\), "
                                             r"server.sock \(a socket\)\)"):
            images.keep_readable_images(images.list_images(content), content)
    finally:
        listener.close()
    (content / "notes.txt").unlink()
    (content / "server.sock").unlink()
    with pytest.raises(ValueError, match=r"has no image files \(it is empty\)"):
        images.keep_readable_images(images.list_images(content), content)


def data_config(content, styles):
    return ml_collections.ConfigDict({"content_dir": str(content),
                                      "style_dir": str(styles), "tfrecords": ""})


def test_check_data_drops_unreadable_files_and_samples_come_from_the_rest(folders):
    """The first file in sorted order being unreadable once stopped training: the
    samples were taken from the unchecked listing."""
    content, styles = folders
    (content / "aaa_first.jpg").write_bytes(b"\xff\xd8\xff broken")
    config = data_config(content, styles)
    names, skipped = pipeline.check_data(config)
    assert names == ["another", "collection", "single"]
    assert sorted(Path(path).name for path, _ in skipped) == ["aaa_first.jpg",
                                                             "notes.jpg"]
    contents, _ = pipeline.first_images_from_config(config, 2, 2)
    assert [Path(path).name for path in contents] == ["gray.png", "deeper.JPEG"]


@pytest.mark.parametrize("role", ["content", "style"])
def test_check_data_refuses_a_folder_with_nothing_usable(folders, tmp_path, role):
    content, styles = folders
    empty = tmp_path / "empty"
    empty.mkdir()
    config = data_config(empty, styles) if role == "content" else data_config(
        content, empty)
    with pytest.raises(ValueError, match=str(empty)):
        pipeline.check_data(config)


def test_resize_smaller_than_the_crop_is_rejected(folders):
    with pytest.raises(ValueError, match="content_resize"):
        pipeline.make_dataset(*folders, image_size=32, global_batch_size=2, seed=0,
                              content_resize=16)


# --------------------------------------------------------------------------- image ops


def test_decode_image_is_rgb_in_unit_range_and_same_eagerly_and_in_tf_data(folders):
    content, styles = folders
    paths = [content / "photo.jpg", content / "gray.png", content / "rgba.png",
             styles / "collection" / "b.webp", styles / "another.bmp"]
    eager = [images.decode_image(path).numpy() for path in paths]
    from_bytes = [images.decode_image(path.read_bytes()).numpy() for path in paths]
    in_tf_data = list(tf.data.Dataset.from_tensor_slices([str(path) for path in paths])
                      .map(images.decode_image).as_numpy_iterator())
    for image, image_from_bytes, image_in_tf_data in zip(eager, from_bytes, in_tf_data):
        assert image.dtype == np.float32 and image.shape[-1] == 3
        assert 0.0 <= image.min() and image.max() <= 1.0
        np.testing.assert_array_equal(image, image_from_bytes)
        np.testing.assert_array_equal(image, image_in_tf_data)
    gray, rgba = eager[1], eager[2]
    np.testing.assert_array_equal(gray[..., 0], gray[..., 2])
    expected_rgb = cv2.imread(str(paths[2]), cv2.IMREAD_UNCHANGED)[..., 2::-1] / 255.0
    np.testing.assert_allclose(rgba, expected_rgb, atol=1e-6)


def test_resize_short_side_keeps_aspect_and_upscales_small_images():
    wide = images.resize_short_side(tf.random.uniform([30, 90, 3]), 20)
    tiny = images.resize_short_side(tf.random.uniform([8, 8, 3]), 32)
    assert wide.shape == (20, 60, 3) and tiny.shape == (32, 32, 3)


# --------------------------------------------------------------------------- datasets


def first_batches(dataset, count=2):
    return [{key: value.numpy() for key, value in batch.items()}
            for batch in dataset.take(count)]


@pytest.mark.parametrize("cache_styles", [True, False])
def test_make_dataset_batches_have_the_expected_shapes_types_and_ranges(folders,
                                                                        cache_styles):
    dataset, names = pipeline.make_dataset(*folders, image_size=16, global_batch_size=4,
                                           seed=0, style_resize=24,
                                           cache_styles=cache_styles)
    assert names == ["another", "collection", "single"]
    for batch in first_batches(dataset, 3):
        for key in ("content", "style"):
            assert batch[key].shape == (4, 16, 16, 3) and batch[key].dtype == np.float32
            assert 0.0 <= batch[key].min() and batch[key].max() <= 1.0
        assert batch["style_id"].dtype == np.int32
        assert set(batch["style_id"]) <= {0, 1, 2}


def test_recolour_prob_makes_style_crops_arbitrary_styles_of_other_colours(folders):
    def first_styles(recolour_prob):
        dataset, _ = pipeline.make_dataset(*folders, image_size=16, global_batch_size=4,
                                           seed=0, recolour_prob=recolour_prob)
        return first_batches(dataset, 2)

    for plain, recoloured in zip(first_styles(0.0), first_styles(1.0)):
        assert set(plain["style_id"]) <= {0, 1, 2}
        assert set(recoloured["style_id"]) == {-1}
        np.testing.assert_array_equal(plain["content"], recoloured["content"])
        assert not np.allclose(plain["style"], recoloured["style"])


def test_same_seed_gives_the_same_stream_and_another_seed_a_different_one(folders):
    def batches(seed):
        dataset, _ = pipeline.make_dataset(*folders, image_size=16, global_batch_size=4,
                                           seed=seed)
        return first_batches(dataset)

    first, again, other = batches(7), batches(7), batches(8)
    for batch, batch_again, batch_other in zip(first, again, other):
        for key in batch:
            np.testing.assert_array_equal(batch[key], batch_again[key])
        assert not np.array_equal(batch["content"], batch_other["content"])
        assert not np.array_equal(batch["style"], batch_other["style"])


def test_a_stream_started_at_an_index_continues_the_full_stream(folders):
    """Resuming at step k (start_index = k * batch) gives exactly the batches an
    uninterrupted run would have seen, across an epoch boundary of the contents."""
    def batches(start_index, count):
        dataset, _ = pipeline.make_dataset(*folders, image_size=16, global_batch_size=3,
                                           seed=5, start_index=start_index)
        return first_batches(dataset, count)

    full = batches(0, 6)
    resumed = batches(9, 3)
    for batch, batch_resumed in zip(full[3:], resumed):
        for key in batch:
            np.testing.assert_array_equal(batch[key], batch_resumed[key])


def test_content_files_are_reshuffled_every_epoch():
    files = [f"file_{index}.jpg".encode() for index in range(20)]
    stream = list(pipeline.shuffled_epochs(files, seed=0).take(60).as_numpy_iterator())
    epochs = [stream[start:start + 20] for start in (0, 20, 40)]
    assert all(sorted(epoch) == sorted(files) for epoch in epochs)
    assert epochs[0] != files and epochs[0] != epochs[1] != epochs[2]
    assert list(pipeline.shuffled_epochs(files, seed=0).take(60).as_numpy_iterator()) == stream


def test_styles_are_drawn_equally_often_whatever_their_size(tmp_path, folders):
    content, _ = folders
    styles = tmp_path / "balanced_styles"
    write_image(styles / "one" / "only.png", random_image(8, 8, 3, seed=20))
    for index in range(10):
        write_image(styles / "ten" / f"{index}.png", random_image(8, 8, 3, seed=30 + index))
    dataset, names = pipeline.make_dataset(content, styles, image_size=8,
                                           global_batch_size=100, seed=0)
    ids = np.concatenate([batch["style_id"] for batch in first_batches(dataset, 4)])
    counts = np.bincount(ids, minlength=2)
    assert names == ["one", "ten"]
    # 400 fair draws: the standard deviation of a count is 10, so this band is +-5 sigma.
    assert 150 <= counts[0] <= 250 and 150 <= counts[1] <= 250, counts


def test_make_dataset_from_config(folders):
    content, styles = folders
    data_config = ml_collections.ConfigDict(dict(
        content_dir=str(content), style_dir=str(styles), image_size=16, content_resize=0,
        style_resize=32, cache_styles=True, tfrecords=""))
    dataset, names = pipeline.make_dataset_from_config(data_config, global_batch_size=2,
                                                       seed=0)
    batch = first_batches(dataset, 1)[0]
    assert batch["content"].shape == (2, 16, 16, 3) and len(names) == 3


# --------------------------------------------------------------------------- demo data


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    samples.write_demo_data(root, image_size=64, images_per_style=3)
    return root


def test_demo_data_has_content_photos_and_four_styles(demo_root):
    content_dir, style_dir = samples.write_demo_data(demo_root, image_size=64,
                                                     images_per_style=3)
    assert (content_dir, style_dir) == (str(demo_root / "content"), str(demo_root / "styles"))
    assert len(images.keep_readable_images(images.list_images(content_dir))) >= 8
    names, files_per_style = images.list_styles(style_dir)
    assert len(names) >= 4 and {"swirls", "pointillism", "mosaic", "hatching"} <= set(names)
    assert all(len(files) == 3 for files in files_per_style)
    image = cv2.imread(files_per_style[0][0])
    assert image.shape == (64, 64, 3)


def test_demo_data_is_written_once(demo_root):
    files = sorted(path for path in demo_root.rglob("*") if path.is_file())
    modified = [path.stat().st_mtime_ns for path in files]
    samples.write_demo_data(demo_root, image_size=64, images_per_style=3)
    assert [path.stat().st_mtime_ns for path in files] == modified
    assert sorted(path for path in demo_root.rglob("*") if path.is_file()) == files


def test_demo_styles_differ_in_colour_and_their_images_vary(demo_root):
    names, files_per_style = images.list_styles(demo_root / "styles")
    mean_colours = []
    for files in files_per_style:
        decoded = [images.decode_image(path).numpy() for path in files]
        assert not np.allclose(decoded[0], decoded[1], atol=0.05)
        mean_colours.append(np.mean([image.mean(axis=(0, 1)) for image in decoded], axis=0))
    for (name_a, colour_a), (name_b, colour_b) in itertools.combinations(
            zip(names, mean_colours), 2):
        assert np.abs(colour_a - colour_b).max() > 0.1, (name_a, name_b)


def test_demo_data_repairs_an_interrupted_write_and_refuses_foreign_folders(tmp_path):
    # An interrupted swap leaves the claim marker and a partial folder behind.
    interrupted = tmp_path / "interrupted"
    (interrupted / "content").mkdir(parents=True)
    (interrupted / samples.CLAIM_MARKER).touch()
    samples.write_demo_data(interrupted, image_size=32, images_per_style=1)
    assert len(list((interrupted / "content").iterdir())) >= 8
    assert not (interrupted / samples.CLAIM_MARKER).exists()

    foreign = tmp_path / "foreign"
    (foreign / "styles").mkdir(parents=True)
    with pytest.raises(ValueError, match=str(foreign)):
        samples.write_demo_data(foreign, image_size=32, images_per_style=1)


def test_two_writers_of_one_demo_root_take_turns(tmp_path, monkeypatch):
    """Two runs started at once on a fresh demo workdir: one call's clean-up of
    staging folders removed the other's, which then failed with an OSError."""
    real_write_styles, writing = samples.write_styles, []

    def slow_write_styles(*args):
        writing.append(threading.get_ident())
        time.sleep(0.5)  # long enough for the other writer to start staging too
        real_write_styles(*args)

    monkeypatch.setattr(samples, "write_styles", slow_write_styles)
    monkeypatch.setattr(samples, "CONTENT_IMAGE_NAMES", ("astronaut",))
    monkeypatch.setattr(samples, "EVAL_IMAGE_NAMES", ("coffee",))
    results, errors = [], []

    def write():
        try:
            results.append(samples.write_demo_data(tmp_path, image_size=16,
                                                   images_per_style=1))
        except Exception as error:  # reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=write) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(results) == 2 and results[0] == results[1]
    assert len(writing) == 1  # the second found the first one's data complete
    assert not list(tmp_path.glob(samples.STAGING_PREFIX + "*"))


def test_demo_data_command_line_prints_the_folders(demo_root, capsys):
    samples.main(["--output", str(demo_root), "--image_size", "64",
                  "--images_per_style", "3"])
    output = capsys.readouterr().out
    assert str(demo_root / "content") in output and str(demo_root / "styles") in output


def test_pipeline_runs_on_demo_data(demo_root):
    dataset, names = pipeline.make_dataset(demo_root / "content", demo_root / "styles",
                                           image_size=32, global_batch_size=2, seed=0)
    batch = first_batches(dataset, 1)[0]
    assert batch["style"].shape == (2, 32, 32, 3) and len(names) == 4


# --------------------------------------------------------------------------- real data


def test_list_styles_on_the_shared_paintings(shared_data):
    names, files_per_style = images.list_styles(shared_data / "collections")
    assert names == ["cezanne", "monet", "ukiyoe", "vangogh"]
    assert [len(files) for files in files_per_style] == [30, 30, 30, 30]
    names, files_per_style = images.list_styles(shared_data / "styles")
    assert len(names) == 11 and all(len(files) == 1 for files in files_per_style)
    assert "vangogh-the-starry-night" in names
    names, _ = images.list_styles(f"{shared_data / 'collections'},{shared_data / 'styles'}")
    assert len(names) == 15


def test_a_trailing_comma_names_no_style_folder_and_an_empty_setting_none(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    setting = f"{tmp_path / 'a'}, {tmp_path / 'b'},"
    assert images.style_folders(setting) == [tmp_path / "a", tmp_path / "b"]
    assert images.has_style_folders(setting)
    assert not images.has_style_folders(" , ")
    assert not images.has_style_folders(f"{tmp_path / 'a'},{tmp_path / 'missing'}")
