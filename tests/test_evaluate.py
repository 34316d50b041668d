"""Evaluation: metrics against hand-computed values, the style classifier, the
baselines, and evaluate.py end to end on a test-variant run and two tiny folders."""
import csv
import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
import tensorflow as tf

from evaluation import baselines, classifier as classifier_lib, evaluator, metrics
from losses import perceptual
from models import vgg as vgg_lib
from tests.helpers import REPO, read_only_folder


# --------------------------------------------------------------------------- metrics


def constant_images(values, size=16):
    """[B, size, size, 3] images, image i grey at values[i]."""
    return np.ones((len(values), size, size, 3), np.float32) * np.reshape(
        values, (-1, 1, 1, 1)).astype(np.float32)


def test_luminance_uses_bt601_weights():
    red, green, blue = np.eye(3, dtype=np.float32).reshape(3, 1, 1, 3)
    values = [float(metrics.luminance(color[None])[0, 0, 0, 0])
              for color in (red, green, blue)]
    assert values == pytest.approx([0.299, 0.587, 0.114], abs=1e-6)


def test_ssim_is_one_for_identical_images_and_known_for_constants():
    images = np.random.RandomState(0).rand(2, 16, 16, 3).astype(np.float32)
    np.testing.assert_allclose(metrics.ssim_luminance(images, images), 1.0, atol=1e-6)
    # Constant images have no variance, so SSIM is the luminance term alone:
    # (2 a b + C1) / (a^2 + b^2 + C1), C1 = 0.01^2.
    c1 = 0.01 ** 2
    expected = (2 * 0.2 * 0.4 + c1) / (0.2 ** 2 + 0.4 ** 2 + c1)
    value = metrics.ssim_luminance(constant_images([0.2]), constant_images([0.4]))
    assert value[0] == pytest.approx(expected, rel=1e-4)


def test_content_distance_of_shifted_features_is_the_squared_shift_per_layer():
    features = [np.random.RandomState(0).rand(2, 4, 4, 8).astype(np.float32),
                np.random.RandomState(1).rand(2, 2, 2, 16).astype(np.float32)]
    np.testing.assert_allclose(metrics.content_distance(features, features), 0.0)
    shifted = [layer + 0.5 for layer in features]
    # Two layers, each mean((0.5)^2) = 0.25.
    np.testing.assert_allclose(metrics.content_distance(shifted, features), 0.5,
                               rtol=1e-6)


def test_gram_and_mean_std_distances_of_constant_features():
    ones = tf.ones((1, 2, 2, 2))
    twos = 2.0 * ones
    # G = sum_{hw} f f / (H W C) = 4 v^2 / 8: 0.5 for v=1, 2 for v=2; mean (1.5)^2.
    gram = metrics.gram_distance(perceptual.gram_matrices([ones]),
                                 perceptual.gram_matrices([twos]))
    assert gram[0] == pytest.approx(2.25, rel=1e-6)
    assert metrics.gram_distance(perceptual.gram_matrices([ones]),
                                 perceptual.gram_matrices([ones]))[0] == 0.0
    # Means differ by 1, stds are both sqrt(epsilon): (1)^2 + 0.
    stats = metrics.mean_std_distance(perceptual.channel_statistics([ones]),
                                      perceptual.channel_statistics([twos]))
    assert stats[0] == pytest.approx(1.0, rel=1e-5)


def test_statistics_vectors_concatenate_means_and_stds():
    features = tf.constant(np.array([1.0, 3.0, 1.0, 3.0]).reshape(1, 2, 2, 1),
                           tf.float32)
    vector = metrics.statistics_vectors([features, 2.0 * features])
    np.testing.assert_allclose(vector, [[2.0, 1.0, 4.0, 2.0]], rtol=1e-4)


@pytest.mark.parametrize("dimension", [3, 40])  # sample-space and covariance forms
def test_frechet_distance_zero_for_identical_sets_and_shift_squared(dimension):
    vectors = np.random.RandomState(0).randn(30, dimension)
    assert metrics.frechet_distance(vectors, vectors) == pytest.approx(0.0, abs=1e-8)
    shift = np.linspace(-1.0, 2.0, dimension)
    assert metrics.frechet_distance(vectors, vectors + shift) == pytest.approx(
        np.sum(shift ** 2), rel=1e-6)


def test_frechet_distance_of_one_dimensional_gaussians():
    # Samples m + s * (-1, 0, 1) have mean m and unbiased variance s^2, so
    # FD = (m_a - m_b)^2 + (s_a - s_b)^2.
    base = np.array([[-1.0], [0.0], [1.0]])
    value = metrics.frechet_distance(1.0 + 2.0 * base, 4.0 + 0.5 * base)
    assert value == pytest.approx(3.0 ** 2 + 1.5 ** 2, rel=1e-9)


def test_frechet_distance_rejects_bad_shapes():
    with pytest.raises(ValueError, match="at least 2 vectors"):
        metrics.frechet_distance(np.zeros((1, 3)), np.zeros((4, 3)))
    with pytest.raises(ValueError, match="one dimension"):
        metrics.frechet_distance(np.zeros((4, 3)), np.zeros((4, 2)))


def test_spearman():
    weights = np.linspace(0, 1, 11)
    assert metrics.spearman(weights, weights ** 3) == pytest.approx(1.0)
    assert metrics.spearman(weights, -np.exp(weights)) == pytest.approx(-1.0)
    assert np.isnan(metrics.spearman(weights, np.ones(11)))
    # Hand-computed with average ranks: x ranks 1..4, y = (1, 2.5, 2.5, 4) -> 0.9487.
    assert metrics.spearman([1, 2, 3, 4], [0, 5, 5, 9]) == pytest.approx(
        4.5 / np.sqrt(5 * 4.5), rel=1e-9)


def test_path_smoothness_of_even_and_single_jump_paths():
    even = metrics.path_smoothness(np.linspace(0, 1, 11))
    assert even["max_step"] == pytest.approx(0.1)
    assert even["step_ratio"] == pytest.approx(1.0)
    assert even["max_second_diff"] == pytest.approx(0.0, abs=1e-12)
    jump = metrics.path_smoothness([0.0] * 5 + [1.0] * 6)
    assert jump["max_step"] == 1.0 and jump["step_ratio"] == pytest.approx(10.0)
    assert jump["max_second_diff"] == 1.0


def test_speed():
    assert metrics.speed(2.0, 4) == {"ms_per_image": 500.0, "images_per_second": 2.0}


# --------------------------------------------------------------------------- classifier


def test_position_summary_averages_per_photo_and_measures_the_mean_curve():
    values = np.linspace(0.0, 1.0, 5)
    # One photo moves evenly, the other jumps once; their mean moves in two steps.
    even, jump = values, np.array([0.0, 0.0, 1.0, 1.0, 1.0])
    summary = evaluator.position_summary(values, [even, jump])
    assert summary["step_ratio"] == pytest.approx((1.0 + 4.0) / 2)
    assert summary["mean_curve_step_ratio"] == pytest.approx(0.625 / 0.25)
    assert summary["spearman"] == pytest.approx((1.0 + metrics.spearman(values, jump)) / 2)


@pytest.fixture(scope="module")
def small_vgg():
    return vgg_lib.build_feature_extractor(["block1_conv1", "block2_conv1"],
                                           weights="random")


def synthetic_style(kind, count, random_state, size=16):
    """Crops of two clearly different textures: red horizontal stripes, or green
    pixel noise."""
    images = []
    for _ in range(count):
        if kind == "stripes":
            rows = (np.arange(size) + random_state.randint(4)) % 4 < 2
            image = np.zeros((size, size, 3), np.float32)
            image[rows, :, 0] = 0.9
        else:
            image = np.zeros((size, size, 3), np.float32)
            image[..., 1] = random_state.rand(size, size)
        images.append(image)
    return np.stack(images)


def test_classifier_separates_two_synthetic_styles(small_vgg):
    random_state = np.random.RandomState(0)

    def vectors(count):
        images = np.concatenate([synthetic_style("stripes", count, random_state),
                                 synthetic_style("noise", count, random_state)])
        features = small_vgg(images)
        return metrics.statistics_vectors([features["block1_conv1"],
                                           features["block2_conv1"]]), \
            np.repeat([0, 1], count)

    train_vectors, train_labels = vectors(8)
    test_vectors, test_labels = vectors(6)
    classifier = classifier_lib.fit(train_vectors, train_labels, num_classes=2)
    assert classifier_lib.accuracy(classifier, test_vectors, test_labels) == 1.0
    probabilities = classifier.probabilities(test_vectors)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    assert probabilities[np.arange(12), test_labels].min() > 0.5
    with pytest.raises(ValueError, match="at least 2 styles"):
        classifier_lib.fit(train_vectors[:8], train_labels[:8], num_classes=2)


# --------------------------------------------------------------------------- baselines


def test_identity_returns_the_content():
    contents = np.random.RandomState(0).rand(2, 8, 8, 3).astype(np.float32)
    np.testing.assert_array_equal(baselines.identity(contents), contents)


def test_gatys_reduces_the_style_loss(small_vgg):
    random_state = np.random.RandomState(0)
    contents = synthetic_style("noise", 2, random_state)
    style = synthetic_style("stripes", 2, random_state)
    grams = perceptual.gram_matrices([small_vgg(style)["block1_conv1"]])
    settings = baselines.GatysSettings(
        content_layers=("block2_conv1",), style_layers=("block1_conv1",),
        content_weight=1e-4, style_weight=1e-2, tv_weight=0.0, steps=8,
        learning_rate=0.05)
    images, losses = baselines.make_gatys(small_vgg, settings)(contents, grams)
    assert images.shape == contents.shape
    assert 0.0 <= float(tf.reduce_min(images)) and float(tf.reduce_max(images)) <= 1.0
    assert losses["style"].shape == (9, 2)
    assert np.all(losses["style"][-1] < 0.5 * losses["style"][0])
    assert np.all(losses["total"][-1] < losses["total"][0])


# --------------------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def trained_run(trained_run):
    """The workdir of the session's shared run (tests/conftest.py), read only."""
    return trained_run.workdir


def write_image(path, image):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    pixels = (np.clip(image, 0, 1) * 255).astype(np.uint8)
    cv2.imwrite(str(path), cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR))


@pytest.fixture(scope="module")
def tiny_folders(tmp_path_factory):
    """Two content photos; two styles named like bank styles, two images each."""
    root = tmp_path_factory.mktemp("tiny")
    random_state = np.random.RandomState(0)
    for index in range(2):
        write_image(root / "content" / f"photo{index}.png",
                    cv2.GaussianBlur(random_state.rand(48, 40, 3), (7, 7), 2))
        write_image(root / "styles" / "hatching" / f"{index}.png",
                    synthetic_style("stripes", 1, random_state, size=48)[0])
        write_image(root / "styles" / "swirls" / f"{index}.png",
                    synthetic_style("noise", 1, random_state, size=48)[0])
    return str(root / "content"), str(root / "styles")


@pytest.fixture(scope="module")
def evaluation(trained_run, tiny_folders, tmp_path_factory):
    content_dir, style_dir = tiny_folders
    output = str(tmp_path_factory.mktemp("evaluation"))
    options = evaluator.Options(
        output=output, model=trained_run, content_dir=content_dir, style_dir=style_dir,
        methods=("ours", "identity", "gatys"), gatys_steps=3, batch_size=3,
        crops_per_style=8, fusion_contents=1)
    results, rows = evaluator.evaluate(options)
    evaluator.write_results(output, results, rows)
    return output, results


def test_optimised_codes_lower_the_gatys_objective_they_start_from(trained_run,
                                                                   small_vgg):
    import painting
    from evaluation import arbitrary
    model = painting.load(trained_run, precision="float32")
    random_state = np.random.RandomState(0)
    contents = synthetic_style("noise", 2, random_state, size=32)
    styles = np.concatenate([synthetic_style(kind, 1, random_state, size=32)
                             for kind in ("stripes", "noise")])
    grams = perceptual.gram_matrices([small_vgg(styles)["block1_conv1"]])
    settings = baselines.GatysSettings(
        content_layers=("block2_conv1",), style_layers=("block1_conv1",),
        content_weight=1e-4, style_weight=1e-2, tv_weight=0.0)
    start = np.asarray(model.source.codes[:2], np.float32)

    def objective(codes):
        content_targets = [small_vgg(contents)["block2_conv1"]]
        return sum(float(tf.reduce_sum(baselines.gatys_terms(
            small_vgg, settings, painting.paint_batch(model.generator, contents,
                                                      np.repeat(code[None], 2, 0)),
            content_targets, [gram[j:j + 1] for gram in grams])["total"]))
                   for j, code in enumerate(codes))

    def optimise(steps):
        return arbitrary.optimised_codes(model, small_vgg, settings, contents, grams,
                                         start, steps)

    np.testing.assert_array_equal(optimise(0), start)
    optimised = optimise(10)
    assert optimised.shape == start.shape and not np.allclose(optimised, start)
    # The 3-step run's style heads are near their zero start, so codes move the
    # objective little; it still falls with every few steps.
    assert objective(optimised) < objective(optimise(3)) < objective(start)


def test_evaluation_writes_valid_json_csv_and_grids(evaluation, trained_run):
    output, results = evaluation
    with open(os.path.join(output, "metrics.json")) as f:
        saved = json.load(f)
    assert saved["styles"] == ["hatching", "swirls"]
    assert saved["settings"]["vgg"]["weights_description"] == "random(seed=0)"
    assert saved["settings"]["fd_name"] == "FD-VGG19(random(seed=0))"
    assert saved["settings"]["image_size"] == 32  # the run's data.image_size
    assert saved["settings"]["loss_weights"]["style_weight"] == 1e-3
    assert saved["classifier"]["held_back_from_separate_images"]
    for method in ("ours", "identity", "gatys"):
        summary = saved["methods"][method]["summary"]
        assert summary["num_pairs"] == 4
        for key in ("content_distance", "ssim_y", "gram_distance", "mean_std_distance",
                    "objective", "fd", "deception_rate", "target_posterior", "ms_per_image",
                    "images_per_second"):
            assert np.isfinite(summary[key]), (method, key)
        assert os.path.getsize(os.path.join(output, f"grid_{method}.png")) > 0
    with open(os.path.join(output, "metrics.csv")) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 12
    assert {row["style"] for row in rows} == {"hatching", "swirls"}
    fusion = saved["methods"]["ours"]["fusion"]
    assert fusion["pair"] == ["hatching", "swirls"]
    assert len(fusion["mean_curves"]["posterior_b"]) == 11
    assert "relative_position_step_ratio" in fusion["summary"]
    assert "| identity |" in evaluator.markdown_table(results)


def test_identity_baseline_has_ssim_one_and_no_content_distance(evaluation):
    summary = evaluation[1]["methods"]["identity"]["summary"]
    assert summary["ssim_y"] == pytest.approx(1.0, abs=1e-5)
    assert summary["content_distance"] == 0.0
    assert summary["total_variation"] > 0.0


def test_evaluation_rejects_styles_outside_the_bank_and_output_inside_inputs(
        trained_run, tiny_folders, tmp_path):
    with pytest.raises(ValueError, match="not in the model's style bank"):
        evaluator.bank_indices(["hatching", "vangogh"], ["hatching", "swirls"], "dir")
    content_dir, style_dir = tiny_folders
    with pytest.raises(ValueError, match="inside the content_dir"):
        evaluator.resolve_settings(evaluator.Options(
            output=os.path.join(content_dir, "eval"), model=trained_run,
            content_dir=content_dir, style_dir=style_dir))
    with pytest.raises(ValueError, match="unknown or no methods"):
        evaluator.resolve_settings(evaluator.Options(
            output=str(tmp_path), model=trained_run, methods=("ours", "magic")))


@pytest.mark.slow
def test_evaluate_command_on_a_workdir_uses_its_bank_styles(trained_run, tmp_path):
    output = str(tmp_path / "eval")
    result = subprocess.run(
        [sys.executable, "evaluate.py", f"--model={trained_run}", f"--output={output}",
         "--method=ours,identity", "--max_contents=1", "--crops_per_style=4",
         "--fusion_contents=1"],
        cwd=REPO, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "| ours |" in result.stdout and "| identity |" in result.stdout
    with open(os.path.join(output, "metrics.json")) as f:
        saved = json.load(f)
    with open(os.path.join(trained_run, "styles.json")) as f:
        assert saved["styles"] == json.load(f)["names"]
    assert saved["settings"]["style_dir"] == os.path.join(trained_run, "demo_data",
                                                          "styles")


def test_an_unwritable_output_is_refused_before_any_work(trained_run, tiny_folders,
                                                         tmp_path):
    """The check happens in resolve_settings, before the model, VGG or any image is
    loaded; it used to come after minutes of work, when the results were written."""
    content_dir, style_dir = tiny_folders
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(ValueError, match="cannot be created: .* is a file"):
        evaluator.resolve_settings(evaluator.Options(
            output=str(blocker / "eval"), model=trained_run, content_dir=content_dir,
            style_dir=style_dir))


def test_a_read_only_output_is_refused_before_any_work(trained_run, tiny_folders,
                                                       tmp_path):
    content_dir, style_dir = tiny_folders
    with read_only_folder(tmp_path / "read_only") as read_only:
        with pytest.raises(ValueError, match="is not writable"):
            evaluator.resolve_settings(evaluator.Options(
                output=str(read_only / "eval"), model=trained_run,
                content_dir=content_dir, style_dir=style_dir))


@pytest.mark.slow
def test_evaluate_command_errors_are_one_sentence(tiny_folders, tmp_path):
    content_dir, style_dir = tiny_folders
    empty = tmp_path / "empty"
    empty.mkdir()
    result = subprocess.run(
        [sys.executable, "evaluate.py", "--method=identity", f"--content_dir={empty}",
         f"--style_dir={style_dir}", f"--output={tmp_path / 'eval'}",
         "--vgg_weights=random"],
        cwd=REPO, capture_output=True, text=True, timeout=180)
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()
             and not line.startswith(("E0000", "W0000", "I0000", "WARNING: All log"))]
    assert len(lines) == 1 and str(empty) in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    missing = subprocess.run([sys.executable, "evaluate.py", "--method=identity"],
                             cwd=REPO, capture_output=True, text=True, timeout=180)
    assert missing.returncode == 2
    assert "Flag --output must have a value" in missing.stderr.strip().splitlines()[-1]
