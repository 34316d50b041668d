"""stylize.py end to end: an exported test model with an encoder, files in and out."""
import errno
import logging
import os
import re
import shutil
import stat
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import painting
import stylize
from experiments import quickstart
from tests.helpers import REPO, make_codes_matter, read_only_folder
from storage import atomic
from storage import workdir as workdir_lib
from training import export, step as step_lib

NAMES = ["alpha", "beta"]


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
    """The test variant's G (with non-zero norm heads), bank and encoder, exported with
    its SavedModel as a run would."""
    config = quickstart.get_config("test")
    config.model.encoder = True
    tf.keras.utils.set_random_seed(0)
    models = step_lib.build_models(config.model, config.optim, len(NAMES),
                                   vgg_config=config.vgg)
    make_codes_matter(models.generator, seed=1, stddev=0.1)
    path = str(tmp_path_factory.mktemp("model") / "export")
    umask = os.umask(0o022)  # test_export_honours_the_umask reads the modes
    try:
        export.export_generator(path, models.generator, models.bank, NAMES,
                                encoder=models.encoder, encoder_image_size=32)
    finally:
        os.umask(umask)
    return path


@pytest.fixture
def photo(tmp_path):
    path = str(tmp_path / "photo.jpg")
    image = np.random.RandomState(0).uniform(size=(30, 42, 3))
    import cv2
    cv2.imwrite(path, (image * 255).astype(np.uint8))
    return path


def test_stylize_writes_png_and_jpeg_and_folders(export_dir, photo, tmp_path):
    (written,) = stylize.stylize(export_dir, photo, str(tmp_path / "out.png"),
                                 styles=["alpha:0.6", "beta:0.4"], strength=0.8,
                                 preserve_color=True)
    with open(written, "rb") as f:
        assert f.read(4) == b"\x89PNG"
    (jpeg,) = stylize.stylize(export_dir, photo, str(tmp_path / "out.jpg"),
                              coarse_style="alpha", fine_style=photo, max_size=20)
    with open(jpeg, "rb") as f:
        assert f.read(3) == b"\xff\xd8\xff"
    outputs = stylize.stylize(export_dir, str(tmp_path / "*.jpg"),
                              str(tmp_path / "folder"), styles=["alpha", "beta"],
                              masks=["left", "right"], progress=False)
    assert [os.path.basename(p) for p in outputs] == ["out.png", "photo.png"]
    assert all(os.path.isfile(p) for p in outputs)


def folder_contents(path):
    return sorted(os.listdir(path))


@pytest.mark.parametrize("case", ["not_image", "output_is_input", "unwritable",
                                  "unknown_style"])
def test_bad_inputs_are_clear_errors_and_write_nothing(export_dir, photo, tmp_path,
                                                       case):
    content, output, styles, message = photo, str(tmp_path / "o.png"), ["alpha"], ""
    if case == "not_image":
        content = str(tmp_path / "notes.jpg")
        with open(content, "w") as f:
            f.write("hello")
        message = "not a readable image"
    elif case == "output_is_input":
        output, message = photo, "is one of the inputs"
    elif case == "unwritable":
        blocker = tmp_path / "file"
        blocker.write_text("x")
        output, message = str(blocker / "sub" / "o.png"), "is a file"
    else:
        styles, message = ["gamma"], "alpha, beta"
    before = folder_contents(tmp_path)
    with pytest.raises(ValueError, match=message):
        stylize.stylize(export_dir, content, output, styles=styles)
    assert folder_contents(tmp_path) == before


def test_read_only_output_folder_is_an_error(export_dir, photo, tmp_path):
    with read_only_folder(tmp_path / "locked") as folder:
        with pytest.raises(ValueError, match="not writable"):
            stylize.stylize(export_dir, photo, str(folder / "o.png"), styles=["alpha"])


@pytest.mark.slow
def test_saved_model_reloads_in_a_fresh_process_and_matches(export_dir, tmp_path):
    generator, _, codes = painting.load_export(export_dir)
    image = np.random.RandomState(1).uniform(size=(1, 24, 32, 3)).astype(np.float32)
    code = codes[1].reshape(1, 1, 1, -1)
    np.save(tmp_path / "image.npy", image)
    np.save(tmp_path / "code.npy", code)
    script = (
        "import sys, numpy as np, tensorflow as tf\n"
        "model = tf.saved_model.load(sys.argv[1])\n"
        "image, code = np.load(sys.argv[2]), np.load(sys.argv[3])\n"
        "out = model.signatures['serving_default'](image=tf.constant(image), "
        "code=tf.constant(code))\n"
        "np.save(sys.argv[4], list(out.values())[0].numpy())\n"
        "fused = model.signatures['fuse'](image=tf.constant(image), "
        "weights=tf.constant([0.0, 2.0]))\n"
        "np.save(sys.argv[5], list(fused.values())[0].numpy())\n")
    result = subprocess.run(
        [sys.executable, "-c", script, os.path.join(export_dir, "saved_model"),
         str(tmp_path / "image.npy"), str(tmp_path / "code.npy"),
         str(tmp_path / "out.npy"), str(tmp_path / "fused.npy")],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert result.returncode == 0, result.stderr[-2000:]
    expected = np.asarray(generator([tf.constant(image), tf.constant(code)]))
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), expected, atol=1e-5)
    np.testing.assert_allclose(np.load(tmp_path / "fused.npy"), expected, atol=1e-5)


@pytest.mark.slow
def test_cli_lists_styles_and_paints(export_dir, photo, tmp_path):
    output = str(tmp_path / "cli.png")
    result = subprocess.run(
        [sys.executable, "stylize.py", f"--model={export_dir}", f"--content={photo}",
         "--style=alpha:3", "--style=beta:1", f"--output={output}"],
        cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "normalised to sum 1: [0.75, 0.25]" in result.stderr
    assert os.path.isfile(output)
    listed = subprocess.run(
        [sys.executable, "stylize.py", f"--model={export_dir}", "--list_styles"],
        cwd=REPO, capture_output=True, text=True, timeout=120)
    assert listed.stdout.split() == NAMES


def test_tflite_export_runs_and_matches_the_keras_generator(export_dir, tmp_path):
    generator, _, codes = painting.load_export(export_dir)
    path = str(tmp_path / "generator.tflite")
    export.export_tflite(path, generator, 32, 24, codes.shape[1])
    interpreter = tf.lite.Interpreter(model_path=path)
    interpreter.allocate_tensors()
    inputs = {detail["name"]: detail for detail in interpreter.get_input_details()}
    assert sorted(inputs) == ["code", "image"]
    image = np.random.RandomState(2).uniform(size=(1, 32, 24, 3)).astype(np.float32)
    code = codes[0].reshape(1, 1, 1, -1)
    for name, value in [("image", image), ("code", code)]:
        assert tuple(inputs[name]["shape"]) == value.shape
        interpreter.set_tensor(inputs[name]["index"], value)
    interpreter.invoke()
    (output,) = interpreter.get_output_details()
    result = interpreter.get_tensor(output["index"])
    expected = np.asarray(generator([tf.constant(image), tf.constant(code)]))
    assert result.shape == expected.shape
    np.testing.assert_allclose(result, expected, atol=1e-4)


def test_folder_run_skips_a_broken_image_names_it_and_writes_the_rest(export_dir,
                                                                      tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("a.png", "c.png"):
        atomic.write_image(str(photos / name),
                            np.random.RandomState(3).uniform(size=(20, 24, 3)))
    with open(photos / "a.png", "rb") as f:
        truncated = f.read()[:60]  # a PNG signature, then the file ends
    (photos / "b.png").write_bytes(truncated)
    output = tmp_path / "out"
    with pytest.raises(painting.BatchError, match="b.png") as error:
        stylize.stylize(export_dir, str(photos), str(output), styles=["alpha"],
                        progress=False)
    assert "1 of 3 images failed" in str(error.value)
    assert [path for path, _ in error.value.failures] == [str(photos / "b.png")]
    # Every other image was painted; nothing half-written is left behind.
    assert folder_contents(output) == ["a.png", "c.png"]
    assert error.value.written == [str(output / "a.png"), str(output / "c.png")]


def test_folder_output_onto_its_own_inputs_is_refused(export_dir, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    atomic.write_image(str(photos / "a.png"), np.zeros((8, 8, 3)))
    before = (photos / "a.png").read_bytes()
    with pytest.raises(ValueError, match="is one of the inputs"):
        stylize.stylize(export_dir, str(photos), str(photos), styles=["alpha"])
    assert folder_contents(photos) == ["a.png"]
    assert (photos / "a.png").read_bytes() == before


def test_a_workdir_without_export_is_painted_with_its_newest_checkpoint(tmp_path):
    """A run still training has checkpoints (as training/loop.py saves them) but no
    export yet: stylize restores G, the bank and the encoder from the checkpoint."""
    config = quickstart.get_config("test")
    config.model.encoder = True
    models = step_lib.build_models(config.model, config.optim, len(NAMES),
                                   vgg_config=config.vgg)
    make_codes_matter(models.generator, seed=2, stddev=0.1)
    workdir = tmp_path / "run"
    workdir.mkdir()
    (workdir / "config.json").write_text(config.to_json_best_effort())
    atomic.write_json(str(workdir / "styles.json"), {"names": NAMES})
    step = tf.Variable(7, dtype=tf.int64)
    checkpoint = tf.train.Checkpoint(
        generator=models.generator, discriminator=models.discriminator,
        bank=models.bank, g_optimizer=models.g_optimizer,
        d_optimizer=models.d_optimizer, step=step, encoder=models.encoder)
    tf.train.CheckpointManager(checkpoint, str(workdir / "checkpoints"), 3).save(7)
    painter = painting.load(str(workdir))
    generator, source = painter.generator, painter.source
    assert source.names == NAMES
    np.testing.assert_array_equal(source.codes, models.bank.codes)
    image = tf.random.uniform((1, 16, 20, 3), seed=3)
    code = tf.constant(source.codes[1].reshape(1, 1, 1, -1))
    np.testing.assert_array_equal(generator([image, code]),
                                  models.generator([image, code]))
    np.testing.assert_array_equal(source.encoder(image), models.encoder(image))


# --------------------------------------------------------------------------- exports


def small_models(seed):
    config = quickstart.get_config("test")
    tf.keras.utils.set_random_seed(seed)
    models = step_lib.build_models(config.model, config.optim, len(NAMES))
    make_codes_matter(models.generator, seed=seed, stddev=0.1)
    return models


def paint_with(generator, codes):
    image = np.random.RandomState(4).uniform(size=(1, 16, 20, 3)).astype(np.float32)
    return np.asarray(generator([tf.constant(image),
                                 tf.constant(codes[0].reshape(1, 1, 1, -1))]))


def test_an_export_failing_midway_leaves_the_previous_export_whole(tmp_path,
                                                                  monkeypatch):
    """A full disk (or a kill) after generator.keras is written used to leave the new
    G beside the old codes; now the previous export is untouched."""
    path = str(tmp_path / "export")
    old, new = small_models(1), small_models(2)
    export.export_generator(path, old.generator, old.bank, NAMES, saved_model=False,
                            step=200)
    expected = paint_with(old.generator, np.asarray(old.bank.codes))

    def disk_full(path, value):
        raise OSError(errno.ENOSPC, "No space left on device", path)

    monkeypatch.setattr(atomic, "write_json", disk_full)
    with pytest.raises(OSError, match="No space left"):
        export.export_generator(path, new.generator, new.bank, NAMES,
                                saved_model=False, step=210)
    monkeypatch.undo()
    generator, names, codes = painting.load_export(path)
    np.testing.assert_array_equal(codes, old.bank.codes)
    np.testing.assert_array_equal(paint_with(generator, codes), expected)
    assert workdir_lib.read_json(workdir_lib.manifest_path(path))["step"] == 200
    assert folder_contents(tmp_path) == ["export"]  # its temporary folder is gone


def test_a_hand_mixed_export_is_refused_with_a_sentence(tmp_path):
    first, second = str(tmp_path / "first"), str(tmp_path / "second")
    for path, seed in ((first, 1), (second, 2)):
        models = small_models(seed)
        export.export_generator(path, models.generator, models.bank, NAMES,
                                saved_model=False)
    shutil.copy(os.path.join(second, "generator.keras"), first)
    with pytest.raises(ValueError, match=r"generator.keras is not the file this export "
                                         r"was written with .* files of two exports"):
        painting.load_export(first)
    shutil.copy(os.path.join(second, "styles.json"), os.path.join(second, "x"))
    os.remove(os.path.join(second, "styles.json"))
    with pytest.raises(ValueError, match="not a whole export: styles.json is missing"):
        painting.load_export(second)


def test_leftovers_of_killed_exports_are_removed_by_the_next(tmp_path):
    path = tmp_path / "export"
    models = small_models(1)
    export.export_generator(str(path), models.generator, models.bank, NAMES,
                            saved_model=False)
    # What a kill leaves: a half-written set, a replaced one not yet deleted, and
    # the temporaries of the exports before sets.
    (tmp_path / ".export.tmp-k1l2" / "saved_model").mkdir(parents=True)
    (tmp_path / ".export.old-x9" / "export").mkdir(parents=True)
    (path / ".tmp_saved_model_abc").mkdir()
    (path / ".tmp_q1.keras").write_bytes(b"PK")
    (tmp_path / "unrelated.tmp-1").mkdir()
    export.export_generator(str(path), models.generator, models.bank, NAMES,
                            saved_model=False)
    assert folder_contents(tmp_path) == ["export", "unrelated.tmp-1"]
    assert folder_contents(path) == ["generator.keras", "manifest.json", "styles.json"]


def test_export_honours_the_umask(export_dir):
    """Made with umask 022: readable by a serving account, as every other output."""
    assert stat.S_IMODE(os.stat(export_dir).st_mode) == 0o755
    modes = {}
    for root, folders, files in os.walk(export_dir):
        for name in folders + files:
            path = os.path.join(root, name)
            modes[os.path.relpath(path, export_dir)] = stat.S_IMODE(os.stat(path).st_mode)
    assert {"generator.keras", "encoder.keras", "saved_model"} <= set(modes)
    wrong = {path: oct(mode) for path, mode in modes.items()
             if mode != (0o755 if os.path.isdir(os.path.join(export_dir, path))
                         else 0o644)}
    assert not wrong


def test_a_workdir_with_a_damaged_newest_checkpoint_paints_with_the_one_before(
        tmp_path, caplog):
    config = quickstart.get_config("test")
    models = step_lib.build_models(config.model, config.optim, len(NAMES))
    workdir = tmp_path / "run"
    workdir.mkdir()
    (workdir / "config.json").write_text(config.to_json_best_effort())
    atomic.write_json(str(workdir / "styles.json"), {"names": NAMES})
    step = tf.Variable(0, dtype=tf.int64)
    checkpoint = tf.train.Checkpoint(generator=models.generator, bank=models.bank,
                                     step=step)
    manager = tf.train.CheckpointManager(checkpoint, str(workdir / "checkpoints"), 3)
    step.assign(7)
    manager.save(7)
    codes_at_7 = np.asarray(models.bank.codes).copy()
    models.bank.codes.assign(codes_at_7 + 1.0)
    step.assign(8)
    manager.save(8)
    data = workdir / "checkpoints" / "ckpt-8.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[:100])  # "Read less bytes than requested"
    with caplog.at_level(logging.WARNING):
        painter = painting.load(str(workdir))
    assert painter.step == 7
    np.testing.assert_array_equal(painter.source.codes, codes_at_7)
    assert "ckpt-8: it cannot be read" in caplog.text


# --------------------------------------------------------------------------- options


def test_huge_weights_normalise_instead_of_overflowing(export_dir):
    painter = painting.load(export_dir)
    plan = painter.plan(styles=["alpha:1e308", "beta:1e308"])
    np.testing.assert_array_equal(plan.weights, [0.5, 0.5])
    plan = painter.plan(styles=["alpha:1e308", "beta:1e-300"])
    np.testing.assert_allclose(plan.weights, [1.0, 0.0])


@pytest.mark.parametrize("max_size", [-5, 3])
def test_a_max_size_below_the_smallest_paintable_side_is_refused(export_dir, photo,
                                                                 tmp_path, max_size):
    with pytest.raises(painting.UsageError,
                       match=f"--max_size={max_size} must be 0 .* or at least 16"):
        stylize.stylize(export_dir, photo, str(tmp_path / "o.png"), styles=["alpha"],
                        max_size=max_size)
    assert not os.path.exists(tmp_path / "o.png")


def run_script(*arguments):
    return subprocess.run([sys.executable, *arguments], cwd=REPO, capture_output=True,
                          text=True, timeout=180)


def last_lines(stderr):
    """stderr without TensorFlow's C++ start-up lines and absl's INFO log lines (such
    as the precision chosen), which report, not fail."""
    return [line for line in stderr.splitlines()
            if line.strip() and not line.startswith(("E0000", "W0000", "I0000"))
            and "absl::InitializeLog" not in line and not re.match(r"I\d{4} ", line)]


@pytest.mark.slow
def test_cli_errors_are_one_sentence_with_the_exit_status(export_dir, photo, tmp_path):
    unknown = run_script("stylize.py", f"--model={export_dir}", f"--content={photo}",
                         "--style=gamma", f"--output={tmp_path / 'o.png'}")
    assert unknown.returncode == 2
    assert last_lines(unknown.stderr) == [
        "Unknown style 'gamma': it is neither a style of the model (alpha, beta) nor an "
        "image file."]
    bad_flag = run_script("stylize.py", "--max_size=big")
    assert bad_flag.returncode == 2
    assert len(last_lines(bad_flag.stderr)) == 1
    damaged = tmp_path / "damaged"
    shutil.copytree(export_dir, damaged)
    (damaged / "generator.keras").write_bytes(b"not a model")
    listed = run_script("stylize.py", f"--model={damaged}", "--list_styles")
    assert listed.returncode == 1
    assert len(last_lines(listed.stderr)) == 1, listed.stderr
    assert "generator.keras" in listed.stderr and "Traceback" not in listed.stderr
