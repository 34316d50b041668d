"""What TensorBoard shows of a run: weighted loss terms beside the unweighted ones,
each loss tag described, HParams rows named by the run with readable lists, and
sample grids with style names."""
import glob
import os

import cv2
import numpy as np
import pytest
from tensorboard.backend.event_processing import event_accumulator
from tensorboard.plugins.hparams import metadata as hparams_metadata

import painting
from tests.helpers import read_scalars
from training import summaries


def _accumulator(workdir):
    path, = glob.glob(os.path.join(workdir, "events.out.tfevents.*"))
    accumulator = event_accumulator.EventAccumulator(path, size_guidance={"tensors": 0})
    accumulator.Reload()
    return accumulator


def test_weighted_terms_add_up_to_the_totals(trained_run):
    config, workdir = trained_run
    scalars = read_scalars(workdir)
    for player, steps in (("G", [1, 2, 3]), ("D", [2, 3])):
        weighted = {tag.rsplit("/", 1)[1]: values for tag, values in scalars.items()
                    if tag.startswith(f"loss/{player}/weighted/")}
        assert weighted, player
        for step in steps:
            total = scalars[f"loss/{player}/total"][step]
            parts = [values[step] for values in weighted.values() if step in values]
            np.testing.assert_allclose(sum(parts), total, rtol=1e-5)
    for term in ("content", "style", "tv", "keep", "adv"):
        weight = config.loss[f"{term}_weight"]
        for step, value in scalars[f"loss/G/weighted/{term}"].items():
            np.testing.assert_allclose(value, weight * scalars[f"loss/G/{term}"][step],
                                       rtol=1e-6)
    assert sorted(scalars["loss/G/weighted/adv"]) == [2, 3]  # stage 2 only


def test_every_loss_tag_says_whether_it_is_weighted(trained_run):
    accumulator = _accumulator(trained_run.workdir)
    loss_tags = [tag for tag in accumulator.Tags()["tensors"] if tag.startswith("loss/")]
    assert "loss/G/content" in loss_tags and "loss/G/weighted/content" in loss_tags
    for tag in loss_tags:
        text = accumulator.SummaryMetadata(tag).summary_description
        expected = ("sum of the" if tag.endswith("/total")
                    else "Weighted:" if "/weighted/" in tag else "Unweighted:")
        assert expected in text, (tag, text)
    assert "config.loss.content_weight" in accumulator.SummaryMetadata(
        "loss/G/content").summary_description


def test_hparams_row_is_named_by_the_run_and_lists_read_as_text(trained_run):
    accumulator = _accumulator(trained_run.workdir)
    content = accumulator.SummaryMetadata(
        hparams_metadata.SESSION_START_INFO_TAG).plugin_data.content
    start = hparams_metadata.parse_session_start_info_plugin_data(content)
    assert start.group_name == os.path.basename(trained_run.workdir)
    assert start.hparams["vgg.style_layers"].string_value == "block1_conv1,block2_conv1"
    assert start.hparams["vgg.content_layers"].string_value == "block2_conv2"


def test_hparam_values_of_every_type():
    assert summaries.hparam_value(("a", "b")) == "a,b"
    assert summaries.hparam_value(["x"]) == "x"
    assert summaries.hparam_value(()) == ""
    assert summaries.hparam_value(0.5) == 0.5 and summaries.hparam_value(True) is True
    assert summaries.hparam_value(None) == "None"


def _dark_pixels(region):
    return int((np.asarray(region).min(axis=-1) < 0.5).sum())


def test_sample_grid_names_each_style_column():
    size, gap = 32, 2
    contents = np.full((2, size, size, 3), 0.8, np.float32)
    styles = np.full((3, size, size, 3), 0.6, np.float32)
    outputs = np.full((2, 3, size, size, 3), 0.7, np.float32)
    plain = painting.sample_grid(contents, styles, outputs, gap)
    named = painting.sample_grid(contents, styles, outputs, gap,
                                 names=["swirls", "a_very_long_style_name", "x"])
    strip = painting.images.NAME_STRIP_HEIGHT + gap
    assert named.shape == (plain.shape[0] + strip,) + plain.shape[1:]
    np.testing.assert_array_equal(named[strip:], plain)
    # Text above each style column, none above the contents' column nor across the
    # gaps (a long name is shortened to its column).
    assert _dark_pixels(named[:strip, :size]) == 0
    for column in range(1, 4):
        left = column * (size + gap)
        assert _dark_pixels(named[:strip, left:left + size]) > 0, column
        assert _dark_pixels(named[:strip, left - gap:left]) == 0, column
    with pytest.raises(ValueError, match="2 names for 3 styles"):
        painting.sample_grid(contents, styles, outputs, gap, names=["a", "b"])


def test_the_runs_sample_grids_carry_the_style_names(trained_run):
    config, workdir = trained_run
    image = cv2.imread(os.path.join(workdir, "samples", "0000003.png"))
    size, gap = config.data.image_size, 2
    rows = config.train.sample_contents + 1
    strip = painting.images.NAME_STRIP_HEIGHT + gap
    assert image.shape[0] == rows * (size + gap) - gap + strip
    for column in range(1, config.train.sample_styles + 1):
        left = column * (size + gap)
        assert _dark_pixels(image[:strip, left:left + size] / 255.0) > 0, column
