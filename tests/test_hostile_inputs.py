"""Fuzz-style: odd, broken and hostile image files through the data pipeline, a
training run, stylize.py and evaluate. Each file either works (converted to RGB in
[0, 1]) or is skipped / refused with a sentence naming it."""
import logging
import os
import struct
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image

import painting
import stylize
from data import images, pipeline
from evaluation import evaluator
from experiments import quickstart
from tests.helpers import read_scalars
from training import defaults, export, loop, step as step_lib


def _png_chunk(kind, data):
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data)))


def huge_png(path, side=20000):
    """A valid side x side grayscale PNG (all black) written without holding the
    pixels: 400 Mpixels would take 4.8 GB as decoded float32 RGB."""
    compressor = zlib.compressobj(1)
    row = b"\x00" * (side + 1)  # filter byte + pixels
    data = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n"
                + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0))
                + _png_chunk(b"IDAT", data) + _png_chunk(b"IEND", b""))


def write_hostile_files(folder):
    """Writes the files; returns {file name: None if it must work, else a phrase the
    skip message must contain}."""
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(0)
    rgb = (rng.random((40, 52, 3)) * 255).astype(np.uint8)
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)

    def path(name):
        return os.path.join(folder, name)

    expected = {}
    cv2.imwrite(path("plain.jpg"), bgr)
    expected["plain.jpg"] = None
    with open(path("plain.jpg"), "rb") as f:
        jpeg = f.read()
    with open(path("truncated.jpg"), "wb") as f:
        f.write(jpeg[:len(jpeg) // 2])
    expected["truncated.jpg"] = "not a whole JPEG image"
    # Whole files with damaged data in the middle (a bad disk sector, a bad copy).
    texture = (rng.random((120, 120, 3)) * 255).astype(np.uint8)
    for extension in (".jpg", ".png"):
        encoded = bytearray(cv2.imencode(extension, texture)[1].tobytes())
        middle = len(encoded) // 2
        encoded[middle:middle + 400] = rng.bytes(400)
        with open(path("damaged" + extension), "wb") as f:
            f.write(encoded)
    expected["damaged.jpg"] = "not a whole JPEG image"
    expected["damaged.png"] = "not a whole PNG image"
    # Phones append data (e.g. a video) after the JPEG's end marker: still an image.
    with open(path("appended.jpg"), "wb") as f:
        f.write(jpeg + rng.bytes(3000))
    expected["appended.jpg"] = None
    open(path("empty.jpg"), "wb").close()
    expected["empty.jpg"] = "empty (0 bytes)"
    with open(path("notes.jpg"), "w") as f:
        f.write("not an image at all\n")
    expected["notes.jpg"] = "first bytes are not those"
    Image.fromarray(rgb).convert("CMYK").save(path("cmyk.jpg"))
    expected["cmyk.jpg"] = None
    cv2.imwrite(path("deep16.png"), bgr.astype(np.uint16) * 257)
    expected["deep16.png"] = None
    cv2.imwrite(path("gray.png"), rgb[..., 0])
    cv2.imwrite(path("gray.jpg"), rgb[..., 0])
    expected["gray.png"] = expected["gray.jpg"] = None
    Image.fromarray(rgb).convert("RGBA").save(path("rgba.png"))
    Image.fromarray(rgb).convert("P").save(path("palette.png"))
    expected["rgba.png"] = expected["palette.png"] = None
    frames = [Image.fromarray(np.full((30, 30, 3), value, np.uint8))
              for value in (10, 128, 250)]
    frames[0].save(path("animated.gif"), save_all=True, append_images=frames[1:])
    expected["animated.gif"] = None
    cv2.imwrite(path("one_pixel.png"), bgr[:1, :1])
    cv2.imwrite(path("smaller_than_crop.png"), bgr[:10, :14])
    expected["one_pixel.png"] = expected["smaller_than_crop.png"] = None
    cv2.imwrite(path("bitmap.bmp"), bgr)
    cv2.imwrite(path("lossless.webp"), bgr, [cv2.IMWRITE_WEBP_QUALITY, 101])
    expected["bitmap.bmp"] = expected["lossless.webp"] = None
    huge_png(path("huge.png"))
    expected["huge.png"] = "20000x20000 pixels"
    cv2.imwrite(path("caf\u00e9_\u65e5\u672c.png"), bgr)
    expected["caf\u00e9_\u65e5\u672c.png"] = None
    os.symlink("missing_target.jpg", path("dangling.jpg"))
    expected["dangling.jpg"] = "cannot be read"
    cv2.imwrite(path("locked.jpg"), bgr)
    os.chmod(path("locked.jpg"), 0)
    try:  # root reads it anyway: then it is an ordinary image
        open(path("locked.jpg"), "rb").close()
        expected["locked.jpg"] = None
    except PermissionError:
        expected["locked.jpg"] = "cannot be read (Permission denied)"
    os.makedirs(path("nested"))
    os.symlink("..", path("nested/loop"))  # a folder containing itself
    return expected


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
    """The test variant's untrained G and two bank styles, exported (no SavedModel)."""
    config = quickstart.get_config("test")
    models = step_lib.build_models(config.model, config.optim, 2)
    path = str(tmp_path_factory.mktemp("model") / "export")
    export.export_generator(path, models.generator, models.bank, ["alpha", "beta"],
                            saved_model=False)
    return path


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    content = str(root / "content")
    expected = write_hostile_files(content)
    styles = root / "styles"
    good = styles / "good"
    good.mkdir(parents=True)
    for index, name in enumerate(["plain.jpg", "cmyk.jpg", "palette.png", "notes.jpg"]):
        os.link(os.path.join(content, name), good / f"{index}_{name}")
    os.link(os.path.join(content, "one_pixel.png"), styles / "tiny.png")
    os.link(os.path.join(content, "truncated.jpg"), styles / "broken.jpg")
    return content, str(styles), expected


def test_each_hostile_file_is_read_or_skipped_with_its_reason(hostile, caplog):
    content, _, expected = hostile
    with caplog.at_level(logging.WARNING):
        files = images.list_images(content)
        readable = images.keep_readable_images(files, content)
    names = [os.path.relpath(path, content) for path in files]
    # The symbolic link loop is listed once, not followed forever.
    assert sorted(names) == sorted(expected), names
    assert "symbolic link loop" in caplog.text
    assert sorted(os.path.basename(p) for p in readable) == sorted(
        name for name, reason in expected.items() if reason is None)
    for name, reason in expected.items():
        if reason is not None:
            assert f"Skipping {os.path.join(content, name)}: " in caplog.text, name
            line = [l for l in caplog.text.splitlines() if f"/{name}:" in l][0]
            assert reason in line, line
    skipped = sum(reason is not None for reason in expected.values())
    assert f"Skipped {skipped} of {len(expected)} files" in caplog.text
    for path in readable:  # each works: RGB in [0, 1]
        image = images.decode_image(path).numpy()
        assert image.ndim == 3 and image.shape[2] == 3, path
        assert np.isfinite(image).all() and 0 <= image.min() <= image.max() <= 1, path


def test_the_dataset_streams_a_whole_epoch_of_the_survivors(hostile):
    content, styles, expected = hostile
    good = sum(reason is None for reason in expected.values())
    dataset, names = pipeline.make_dataset(content, styles, image_size=16,
                                           global_batch_size=good, seed=0)
    assert names == ["good", "tiny"]  # broken.jpg, a style of its own, is skipped
    for batch in dataset.take(2):  # two epochs of the contents
        for key in ("content", "style"):
            assert batch[key].shape == (good, 16, 16, 3)
            values = batch[key].numpy()
            assert np.isfinite(values).all() and 0 <= values.min() <= values.max() <= 1


@pytest.mark.slow
def test_training_on_hostile_folders_runs_and_logs_the_skipped_count(hostile,
                                                                      tmp_path):
    content, styles, expected = hostile
    config = quickstart.get_config("test")
    config.data.demo = False
    config.data.content_dir, config.data.style_dir = content, styles
    config.train.num_steps = 12  # more than an epoch of the contents (batch 2)
    loop.train_and_evaluate(config, str(tmp_path))
    skipped = sum(reason is not None for reason in expected.values()) + 2  # + styles
    assert read_scalars(str(tmp_path))["data/skipped_files"] == {0: skipped}
    assert os.path.isfile(tmp_path / "checkpoints" / "ckpt-12.index")


def test_stylize_paints_each_good_file_and_refuses_each_bad_one(export_dir, hostile,
                                                                 tmp_path):
    content, _, expected = hostile
    model = painting.load(export_dir)
    for name, reason in sorted(expected.items()):
        path = os.path.join(content, name)
        output = str(tmp_path / (os.path.splitext(name)[0] + ".png"))
        if reason is None:
            (written,) = stylize.stylize(model, path, output, styles=["alpha"],
                                         progress=False)
            source_shape = images.decode_image(path).shape[:2]
            assert cv2.imread(written).shape[:2] == tuple(source_shape), name
        else:
            with pytest.raises(ValueError, match=name.split(".")[0]):
                stylize.stylize(model, path, output, styles=["alpha"])
            assert not os.path.exists(output)
    # A folder run paints every good file and lists every bad one at the end. (Links
    # with the extension in the stem: gray.jpg and gray.png would write one output.)
    folder = tmp_path / "unique_stems"
    folder.mkdir()
    original = {}  # link name -> hostile file name
    for name in expected:
        if os.sep not in name:
            stem, extension = os.path.splitext(name)
            original[f"{stem}_{extension[1:]}{extension}"] = name
            os.symlink(os.path.join(content, name), folder / f"{stem}_{extension[1:]}"
                       f"{extension}")
    with pytest.raises(painting.BatchError, match="is not a readable image: ") as error:
        stylize.stylize(model, str(folder), str(tmp_path / "folder"), styles=["alpha"],
                        progress=False)
    failed = {os.path.basename(path) for path, _ in error.value.failures}
    listed = {os.path.basename(path) for path in painting.list_contents(str(folder))}
    bad = {name for name in listed if expected[original[name]]}
    assert failed == bad and bad
    assert len(error.value.written) == len(listed) - len(failed) > 0


def test_evaluate_skips_bad_contents_and_styles(export_dir, hostile, tmp_path):
    content, styles, expected = hostile
    style_dir = tmp_path / "styles"
    (style_dir / "alpha").mkdir(parents=True)
    os.link(os.path.join(content, "cmyk.jpg"), style_dir / "alpha" / "0.jpg")
    os.link(os.path.join(content, "notes.jpg"), style_dir / "alpha" / "1.jpg")
    os.link(os.path.join(content, "deep16.png"), style_dir / "beta.png")
    options = evaluator.Options(
        output=str(tmp_path / "eval"), model=export_dir, content_dir=content,
        style_dir=str(style_dir), methods=("ours",), image_size=16,
        vgg_weights="random", batch_size=4, crops_per_style=4, fusion_contents=1,
        default_config=defaults.base_config().to_dict())  # the export has no config
    results, rows = evaluator.evaluate(options)
    good = sum(reason is None for reason in expected.values())
    assert len(rows) == good * 2  # every readable content x both styles
    assert all(np.isfinite(row["content_distance"]) for row in rows)
