"""experiments/figures.py: every figure from a tiny trained run, at the expected pixel
size; the TensorBoard reader; the command line with --train."""
import dataclasses
import json
import os
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest
import tensorflow as tf

import painting
from experiments import figures, quickstart
from models import generator as generator_lib
from tests.helpers import REPO
from training import loop

SIZE = 32


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """The quickstart test variant with the style encoder (for the strength figure),
    both training stages in 3 steps (so L_G and L_D are logged). Not the session's
    shared run: the encoder adds a checkpoint root that test_train pins, and only
    this module needs a trained encoder."""
    workdir = str(tmp_path_factory.mktemp("run"))
    config = quickstart.get_config("test")
    config.model.encoder = True
    config.train.pretrain_steps = 1
    loop.train_and_evaluate(config, workdir)
    return workdir


def tiles_size(widths, heights, title=True, column_labels=True, row_labels=False,
               caption=False):
    """(width, height) in pixels of figures.tile_figure's documented layout."""
    width = (figures.LABEL_WIDTH if row_labels else 0) + sum(widths) + figures.GAP * (
        len(widths) + 1)
    height = ((figures.TITLE_HEIGHT if title else 0)
              + (figures.LABEL_HEIGHT if column_labels else 0) + sum(heights)
              + figures.GAP * (len(heights) + 1)
              + (figures.CAPTION_HEIGHT if caption else 0))
    return width, height


@pytest.fixture(scope="module")
def drawn(trained_run, tmp_path_factory):
    output = str(tmp_path_factory.mktemp("figures"))
    options = figures.Options(
        run=trained_run, output=output, size=SIZE, headline_size=48, steps=3,
        square_steps=2, metrics_contents=1, metrics_styles=2, gatys_steps=2,
        crops_per_style=4)
    return options, figures.make_figures(options)


@pytest.mark.slow
def test_every_figure_is_written_at_its_size_with_real_content(drawn):
    options, written = drawn
    assert sorted(written) == list(range(1, 10))
    s = SIZE
    expected = {
        # content, style, output at the headline size; caption: Starry Night missing.
        1: tiles_size([48] * 3, [48], caption=True),
        # 3 contents (+ style row) x 4 styles (+ content column).
        2: tiles_size([s] * 5, [s] * 4, row_labels=True),
        # style A, w = 0, 0.5, 1, style B; two contents.
        3: tiles_size([s] * 5, [s] * 2, row_labels=True),
        # 2 x 2 fused tiles inside a ring holding the four style images.
        4: tiles_size([s] * 4, [s] * 4, column_labels=False, caption=True),
        5: tiles_size([s] * 5, [s] * 2, row_labels=True),
        6: tiles_size([s] * 5, [s] * 2, row_labels=True),
        7: tiles_size([s] * 4, [s] * 4, row_labels=True, caption=True),
        # Four panels (adversarial, perceptual, R1, D probabilities), 5 x 4 inches.
        8: (4 * 5 * figures.DPI, 4 * figures.DPI),
    }
    for number, path in written.items():
        assert os.path.basename(path) == f"fig{number}_{figures.FIGURES[number - 1]}.png"
        image = cv2.imread(path)
        assert image is not None, path
        height, width = image.shape[:2]
        if number in expected:
            assert (width, height) == expected[number], number
        # Non-constant: the tiles and curves are not all background.
        assert image.std() > 10 and len(np.unique(image.reshape(-1, 3), axis=0)) > 50, \
            number
    table = cv2.imread(written[9])
    assert table.shape[1] == 1500 and table.shape[0] > figures.TITLE_HEIGHT + 4 * 28
    with open(os.path.join(options.output, "fig9_metrics.md")) as f:
        markdown = f.read()
    for method in ("ours", "identity", "gatys"):
        assert f"| {method} |" in markdown
    assert "gatys: 2 Adam steps" in markdown
    assert os.path.isfile(os.path.join(options.output, "fig9_metrics", "metrics.json"))
    with open(os.path.join(options.output, "fig6_strength.json")) as f:
        strength = json.load(f)
    distances = strength["mean_abs_difference_to_content"]
    assert list(distances) == ["0.0", "0.5", "1.0"]
    assert all(0.0 < d < 1.0 for d in distances.values())
    assert list(strength["keep_gate"]) == list(distances)
    assert all(0.0 <= g <= 1.0 for g in strength["keep_gate"].values())
    # No temporary files left beside the figures.
    assert not [name for name in os.listdir(options.output) if name.startswith(".tmp")]


@pytest.mark.slow
def test_defaults_fall_back_to_the_runs_own_styles_and_photos(trained_run, drawn):
    options, _ = drawn
    run = figures.load_run(options)
    assert figures.pick_styles(options, run) == ["hatching", "mosaic", "pointillism",
                                                 "swirls"]
    assert [os.path.basename(p) for p in figures.pick_contents(options, run)] == [
        "astronaut.jpg", "camera.jpg", "chelsea.jpg"]
    with pytest.raises(ValueError, match="not styles of the model"):
        figures.pick_styles(dataclasses.replace(options, styles=("monet",)), run)
    without_encoder = dataclasses.replace(run, painter=painting.Painter(
        run.painter.generator, dataclasses.replace(run.painter.source, encoder=None)))
    with pytest.raises(figures.FigureSkipped, match="needs the style encoder"):
        figures.strength_figure(without_encoder, options, [], ["hatching"])


@pytest.mark.slow
def test_unfinished_run_is_drawn_from_its_newest_checkpoint(trained_run, tmp_path):
    """A run still training has checkpoints but no export: its newest checkpoint is
    exported under --output (not into the run) and paints like the final export."""
    unfinished = str(tmp_path / "unfinished")
    shutil.copytree(trained_run, unfinished, ignore=shutil.ignore_patterns("export"))
    options = figures.Options(run=unfinished, output=str(tmp_path / "figures"))
    path, note = figures.locate_model(options)
    assert path == os.path.join(options.output, "checkpoint_export")
    assert note == "checkpoint step 3"
    assert not os.path.exists(os.path.join(unfinished, "export"))
    assert os.path.isfile(os.path.join(path, "config.json"))
    image = tf.random.stateless_uniform([1, 16, 16, 3], seed=[1, 2])
    outputs = []
    for folder in (path, trained_run):
        generator, names, codes = painting.load_export(folder)
        outputs.append(generator([image, generator_lib.as_code_map(codes[1:2])]))
    np.testing.assert_allclose(outputs[0], outputs[1], atol=1e-6)
    written = figures.make_figures(dataclasses.replace(options, only=("grid",),
                                                       size=SIZE))
    assert list(written) == [2] and os.path.isfile(written[2])
    with pytest.raises(ValueError, match="No exported model"):
        figures.locate_model(figures.Options(run=str(tmp_path), output=str(tmp_path)))


def test_only_selects_figures_by_number_or_name():
    assert figures.selected(()) == list(range(1, 11))
    assert figures.selected(["8", "grid", "2"]) == [2, 8]
    with pytest.raises(ValueError, match="is not a figure"):
        figures.selected(["11"])


def test_read_scalars_returns_logged_values_and_later_files_win(tmp_path):
    first = tf.summary.create_file_writer(str(tmp_path))
    with first.as_default():
        tf.summary.scalar("loss/G/adv", 0.5, step=1)
        tf.summary.scalar("loss/G/adv", 0.25, step=2)
        tf.summary.text("config", "not a scalar", step=0)
    first.close()
    # A resumed run writes a second file that logs step 2 again.
    second = tf.summary.create_file_writer(str(tmp_path))
    with second.as_default():
        tf.summary.scalar("loss/G/adv", 0.75, step=2)
        tf.summary.scalar("loss/D/adv", 1.5, step=3)
    second.close()
    scalars = figures.read_scalars(str(tmp_path))
    assert sorted(scalars) == ["loss/D/adv", "loss/G/adv"]
    steps, values = scalars["loss/G/adv"]
    assert steps.tolist() == [1, 2]
    np.testing.assert_allclose(values, [0.5, 0.75])
    np.testing.assert_allclose(scalars["loss/D/adv"][1], [1.5])


@pytest.mark.slow
def test_command_trains_a_missing_run_then_draws(tmp_path):
    workdir, output = str(tmp_path / "run"), str(tmp_path / "figures")
    result = subprocess.run(
        [sys.executable, "-m", "experiments.figures", f"--run={workdir}",
         f"--output={output}", "--train=experiments/quickstart.py:test", "--only=grid",
         "--size=32"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert os.path.isfile(os.path.join(workdir, "export", "generator.keras"))
    assert os.listdir(output) == ["fig2_grid.png"]
    assert result.stdout.strip() == os.path.join(output, "fig2_grid.png")


def test_stage_line_is_inside_every_curve_panel(tmp_path):
    """D's curves start where the perceptual-only stage ends: every panel still
    spans the whole run, so the stage line is drawn well inside each of them."""
    writer = tf.summary.create_file_writer(str(tmp_path))
    with writer.as_default():
        for step in range(1, 11):
            tf.summary.scalar("loss/G/content", 10.0 / step, step=step)
            if step >= 5:  # the adversarial stage
                for tag in ("loss/G/adv", "loss/D/adv", "loss/D/r1", "D/real_prob"):
                    tf.summary.scalar(tag, 0.5, step=step)
    writer.close()
    run = figures.Run(painter=None, model_path="", note="", workdir=str(tmp_path),
                      config={"train": {"pretrain_steps": 5}}, content_dir="",
                      style_dir="", style_files={})
    options = figures.Options(run=str(tmp_path), output=str(tmp_path / "figures"))
    figure = figures.training_curves_figure(run, options, [], [])
    assert len(figure.axes) == 4
    for ax in figure.axes:
        stage_lines = [line for line in ax.get_lines() if line.get_linestyle() == ":"]
        assert len(stage_lines) == 1, ax.get_title()
        x = stage_lines[0].get_xdata()[0]
        left, right = ax.get_xlim()
        assert 0.1 < (x - left) / (right - left) < 0.9, (ax.get_title(), x, left, right)
