"""Fusion in code space (painting.plan, painting.masks) and tiled painting
(painting.tiling), on a built test model."""
import numpy as np
import pytest
import tensorflow as tf

from models import generator as generator_lib
from models import style as style_lib
from models import vgg as vgg_lib
from painting import images, loading, masks as masks_lib, painter as painter_lib
from painting import plan as plan_lib, tiling
from tests.helpers import make_codes_matter
from storage import atomic

CODE_DIM = 8
NAMES = ["alpha", "beta", "gamma"]
# Tiled painting reproduces untiled painting up to float rounding (painting/tiling.py):
# measured max 5e-6 on this fixture's random model with strong norm heads.
TILE_TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def model():
    """A test generator whose norm heads are non-zero (so codes matter), a random
    bank, and an untrained encoder."""
    tf.keras.utils.set_random_seed(0)
    generator = generator_lib.build_generator("test", CODE_DIM)
    make_codes_matter(generator, seed=1, stddev=0.2)
    features = vgg_lib.build_feature_extractor(["block1_conv1"], weights="random")
    encoder = style_lib.build_style_encoder(features, CODE_DIM, 16).model
    codes = np.random.RandomState(0).normal(size=(3, CODE_DIM)).astype(np.float32)
    return generator, loading.StyleSource(NAMES, codes, encoder, 32, "test-model")


@pytest.fixture(scope="module")
def content():
    return np.random.RandomState(1).uniform(size=(32, 40, 3)).astype(np.float32)


def paint(model, content, **options):
    generator, source = model
    plan = plan_lib.make_plan(source, **options)
    coarse, fine = plan.fields(content, source)
    return painter_lib.Painter(generator, source).paint_fields(content, coarse, fine)


def plain(model, content, index):
    """Style `index` alone, painted the way the painter paints (traced, so equal to
    the bit to any plan the painter reduces to this one code)."""
    generator, source = model
    field = plan_lib.CodeField(source.codes[index:index + 1], np.ones(1, np.float32))
    return painter_lib.Painter(generator, source).paint_fields(content, field)


def test_one_hot_weights_give_exactly_the_single_style(model, content):
    np.testing.assert_array_equal(
        paint(model, content, styles=["alpha:0", "beta:1", "gamma:0"]),
        plain(model, content, 1))


def test_half_half_weights_equal_the_explicit_mixed_code(model, content):
    generator, source = model
    mixed = 0.5 * source.codes[0] + 0.5 * source.codes[2]
    expected = generator([tf.constant(content[None]),
                          tf.constant(mixed.reshape(1, 1, 1, -1))])[0]
    np.testing.assert_allclose(paint(model, content, styles=["alpha", "gamma"]),
                               expected, atol=1e-6)
    # Weights are normalised: (2, 2) is (0.5, 0.5).
    np.testing.assert_allclose(paint(model, content, styles=["alpha:2", "gamma:2"]),
                               expected, atol=1e-6)


def test_mask_of_ones_for_a_gives_style_a(model, content):
    np.testing.assert_array_equal(
        paint(model, content, styles=["alpha", "beta"], masks=["all", "~all"]),
        plain(model, content, 0))


def test_left_right_masks_paint_each_half_in_its_style(model, content):
    halves = paint(model, content, styles=["alpha", "beta"], masks=["left", "right"])
    assert not np.allclose(halves, plain(model, content, 0), atol=1e-3)
    # Mostly style A at the far left, B at the far right (receptive fields overlap).
    left_error = [np.abs(halves[:, :4] - plain(model, content, i)[:, :4]).mean()
                  for i in (0, 1)]
    right_error = [np.abs(halves[:, -4:] - plain(model, content, i)[:, -4:]).mean()
                   for i in (0, 1)]
    assert left_error[0] < left_error[1] and right_error[1] < right_error[0]


def test_checkerboard_mask_alternates_squares_and_its_inverse_fills_the_rest():
    board = masks_lib.mask_from_spec("checkerboard", 8, 8)
    expected = np.kron([[1, 0, 1, 0], [0, 1, 0, 1]] * 2, np.ones((2, 2)))
    np.testing.assert_array_equal(board, expected)
    np.testing.assert_array_equal(masks_lib.mask_from_spec("~checkerboard", 8, 8),
                                  1 - expected)
    # Each style owns its squares of the code map: weights are exactly 0 or 1.
    weights = masks_lib.mask_weights(["checkerboard", "~checkerboard"], 32, 32)
    np.testing.assert_array_equal(weights[..., 0], expected)
    np.testing.assert_array_equal(weights.sum(axis=-1), 1.0)


def test_strength_one_equals_plain_style_and_zero_uses_the_content_code(model, content):
    generator, source = model
    np.testing.assert_array_equal(paint(model, content, styles=["gamma"], strength=1.0),
                                  plain(model, content, 2))
    content_code = plan_lib.encode_image(content, source)
    expected = generator([tf.constant(content[None]),
                          tf.constant(content_code.reshape(1, 1, 1, -1))])[0]
    np.testing.assert_allclose(paint(model, content, styles=["gamma"], strength=0.0),
                               expected, atol=1e-6)


def test_layer_fusion_same_style_is_plain_and_different_styles_differ(model, content):
    np.testing.assert_allclose(
        paint(model, content, coarse_style="beta", fine_style="beta"),
        plain(model, content, 1), atol=1e-6)
    layered = paint(model, content, coarse_style="alpha", fine_style="beta")
    for index in (0, 1):
        assert np.abs(layered - plain(model, content, index)).max() > 1e-3


def test_encoder_codes_an_unseen_style_image(model, content, tmp_path):
    generator, source = model
    path = str(tmp_path / "unseen.png")
    atomic.write_image(path, np.random.RandomState(2).uniform(size=(40, 48, 3)))
    code = plan_lib.style_code(path, source)
    assert code.shape == (CODE_DIM,) and np.all(np.isfinite(code))
    output = paint(model, content, styles=[path + ":0.5", "alpha:0.5"])
    assert output.shape == content.shape


@pytest.mark.parametrize("height,width,fused", [(160, 136, "masks"), (64, 200, "layers")])
def test_tiled_matches_untiled_within_tolerance(model, height, width, fused):
    generator, source = model
    image = tf.image.resize(
        np.random.RandomState(3).uniform(size=(12, 12, 3)).astype(np.float32),
        (height, width)).numpy()
    options = (dict(styles=["alpha", "beta"], masks=["left", "right"])
               if fused == "masks" else dict(coarse_style="alpha", fine_style="gamma"))
    coarse, fine = plan_lib.make_plan(source, **options).fields(image, source)
    untiled = painter_lib.Painter(generator, source).paint_fields(image, coarse, fine)
    painter = painter_lib.Painter(generator, source, tile_size=128, tile_overlap=64)
    assert len(tiling.tile_starts(max(height, width), 128, 64)) >= 2
    tiled = painter.paint_fields(image, coarse, fine)
    assert np.abs(tiled - untiled).max() < TILE_TOLERANCE


def test_tile_weights_sum_to_one_and_skip_the_inner_margins():
    margin = 12
    for scale in (1, 2, 4):
        weights = tiling.axis_weights(400, 128, 64, margin, scale)
        total = np.zeros(400 // scale)
        for start, values in weights.items():
            total[start // scale:start // scale + len(values)] += values
            if start > 0:  # an inner start edge: features there are not exact
                assert np.all(values[:margin // scale] == 0)
            if start + 128 < 400:
                assert np.all(values[-(margin // scale):] == 0)
        np.testing.assert_allclose(total, 1.0, atol=1e-6)


def test_statistics_models_with_own_statistics_equal_the_generator(model, content):
    generator, source = model
    models = generator_lib.build_statistics_models(generator)
    assert len(models.norm_names) == 7  # test variant: 3 + 2 * 1 residual + 2
    image = tf.constant(content[None])
    code = generator_lib.as_code_map(tf.constant(source.codes[:1]))
    statistics = []
    for features_model in models.features:
        features = features_model([image, code, code, *statistics])
        statistics.extend(tf.nn.moments(features, axes=[1, 2], keepdims=True))
    np.testing.assert_array_equal(models.output([image, code, code, *statistics]),
                                  generator([image, code]))
    # Other statistics change the output: they are really used.
    shifted = [value + 1.0 for value in statistics]
    assert not np.allclose(models.output([image, code, code, *shifted]),
                           generator([image, code]), atol=1e-3)


def test_tile_overlap_below_the_receptive_margin_is_a_clear_error(model):
    with pytest.raises(ValueError, match="tile_overlap"):
        tiling.TiledPainter(model[0], tile_size=128, overlap=40)


def test_preserve_color_keeps_the_content_chroma():
    content = np.random.RandomState(4).uniform(0.3, 0.7, size=(8, 8, 3)).astype(
        np.float32)
    output = np.random.RandomState(5).uniform(0.3, 0.7, size=(8, 8, 3)).astype(
        np.float32)
    kept = images.preserve_color(content, output)
    luma = np.array([0.299, 0.587, 0.114], np.float32)
    np.testing.assert_allclose(kept @ luma, output @ luma, atol=1e-5)
    np.testing.assert_allclose(kept - (kept @ luma)[..., None],
                               content - (content @ luma)[..., None], atol=1e-5)


@pytest.mark.parametrize("options,message", [
    (dict(styles=["nope"]), "alpha, beta, gamma"),
    (dict(styles=["alpha:-1", "beta:2"]), "non-negative"),
    (dict(styles=["alpha:0", "beta:0"]), "all zero"),
    (dict(styles=["alpha", "beta"], masks=["left"]), "one mask per style"),
    (dict(styles=["alpha"], strength=1.5), "strength"),
    (dict(styles=[]), "No style"),
])
def test_bad_fusion_options_are_clear_errors(model, options, message):
    with pytest.raises(ValueError, match=message):
        plan_lib.make_plan(model[1], **options)


def test_bad_masks_are_clear_errors(model, content, tmp_path):
    _, source = model
    wrong_size = str(tmp_path / "wide.png")
    atomic.write_image(wrong_size, np.ones((10, 40, 3)))
    unreadable = tmp_path / "mask.png"
    unreadable.write_text("not an image")
    for mask, message in [(wrong_size, "aspect ratio"), (str(unreadable), "not a "
                          "readable image"), ("diagonal", "shorthands")]:
        plan = plan_lib.make_plan(source, ["alpha", "beta"], masks=[mask, "right"])
        with pytest.raises(ValueError, match=message):
            plan.fields(content, source)


def test_image_style_needs_an_encoder(model, tmp_path):
    _, source = model
    path = str(tmp_path / "s.png")
    atomic.write_image(path, np.ones((8, 8, 3)))
    no_encoder = loading.StyleSource(NAMES, source.codes, None, 32, "m")
    with pytest.raises(ValueError, match="no style encoder"):
        plan_lib.make_plan(no_encoder, [path])
    with pytest.raises(ValueError, match="no style encoder"):
        plan_lib.make_plan(no_encoder, ["alpha"], strength=0.5)


def encoder_run_config(**loss):
    """The quickstart test variant with the style encoder and these loss settings."""
    from experiments import quickstart
    config = quickstart.get_config("test")
    config.model.encoder = True
    for key, value in loss.items():
        config.loss[key] = value
    return config


def run_one_step(config, adversarial=True, prepare=None, reuse_features=True):
    """Builds the models of `config`, calls prepare(models), runs one replica step on a
    fixed batch of 2; returns (models, metrics, encoder weights before the step). With
    reuse_features the step's VGG pass also gives the encoder its features."""
    from training import step as step_lib
    models = step_lib.build_models(config.model, config.optim, 3, vgg_config=config.vgg)
    if prepare:
        prepare(models)
    features = step_lib.build_feature_extractor(
        config.vgg, config.model if reuse_features else None)
    replica_step = step_lib.make_replica_step(
        models, features, config.vgg, config.loss, global_batch_size=2,
        encoder_reads_step_features=reuse_features)
    batch = {"content": tf.random.uniform((2, 32, 32, 3), seed=1),
             "style": tf.random.uniform((2, 32, 32, 3), seed=2),
             "style_id": tf.constant([0, 2], tf.int32)}
    before = [np.asarray(v) for v in models.encoder.trainable_variables]
    metrics = tf.function(replica_step)(batch, adversarial)
    return models, {k: np.asarray(v) for k, v in metrics.items()}, before


def test_train_step_with_encoder_identity_and_mix_reports_its_terms():
    # Every example is its own style.
    models, metrics, before = run_one_step(encoder_run_config(identity_prob=1.0,
                                                              mix_prob=1.0))
    assert metrics["loss/G/identity"] > 0 and metrics["loss/G/encoder"] == 0.0
    assert all(np.isfinite(v) for v in metrics.values())
    # Only the pull toward the bank trains the encoder, and identity examples have
    # no bank code to be pulled to: G's losses leave it as it was.
    after = models.encoder.trainable_variables
    assert all(np.array_equal(a, b) for a, b in zip(before, after))


@pytest.mark.parametrize("encoder_weight", [0.0, 1.0])
def test_only_the_pull_toward_the_bank_trains_the_encoder(encoder_weight):
    models, _, before = run_one_step(encoder_run_config(
        identity_prob=0.0, encoder_prob=1.0, encoder_weight=encoder_weight))
    changed = [not np.array_equal(a, b)
               for a, b in zip(before, models.encoder.trainable_variables)]
    assert any(changed) == (encoder_weight > 0)


@pytest.mark.parametrize("identity_prob,gate,expected",
                         [(0.0, 0.3, 0.3), (1.0, 0.3, 0.7), (1.0, -0.5, 1.5)])
def test_train_step_asks_the_keep_gate_for_one_on_identity_examples_only(
        identity_prob, gate, expected):
    """loss/G/keep: a hinge asking gate >= 1 on identity examples and <= 0 on the
    others, linear beyond the bounds, so a gate below 0 still learns to open."""
    models, metrics, _ = run_one_step(
        encoder_run_config(identity_prob=identity_prob), adversarial=False,
        prepare=lambda models: models.generator.get_layer("code_to_keep").bias.assign(
            [gate]))
    np.testing.assert_allclose(metrics["loss/G/keep"], expected, rtol=1e-5)
    # The update moves the gate toward its target.
    moved = float(models.generator.get_layer("code_to_keep").bias[0]) - gate
    assert moved > 0 if identity_prob == 1.0 else moved < 0


def test_encoder_trained_as_in_training_keeps_telling_images_apart():
    """Pulled toward its styles' codes by Adam at 1e-3 (G's rate in the paintings
    run), the encoder learns to give each style's images that style's code. On the
    raw statistics with ReLU, every hidden unit died within steps and all images got
    one code (the paintings run's encoder did)."""
    from data import samples
    tf.keras.utils.set_random_seed(0)
    features = vgg_lib.build_feature_extractor(
        ["block1_conv1", "block2_conv1", "block3_conv1"], weights="random")
    encoder = style_lib.build_style_encoder(features, CODE_DIM, 32)
    names = sorted(samples.STYLE_PAINTERS)
    images = np.stack([samples.paint_style(name, 64, seed) for name in names
                       for seed in range(3)]).astype(np.float32) / 255.0
    targets = np.repeat(np.arange(len(names)), 3)
    codes = np.random.RandomState(0).normal(size=(len(names), CODE_DIM))
    image_features = features(images)
    wanted = tf.constant(codes[targets], tf.float32)
    optimizer = tf.keras.optimizers.Adam(1e-3)

    @tf.function
    def step(batch):
        with tf.GradientTape() as tape:
            predicted = encoder.head(
                {k: tf.gather(v, batch) for k, v in image_features.items()})
            loss = tf.reduce_mean(tf.square(predicted - tf.gather(wanted, batch)))
        variables = encoder.model.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))

    batches = np.random.RandomState(1).randint(0, len(images), (400, 4))
    for batch in batches:
        step(tf.constant(batch))
    predicted = np.asarray(encoder.model(images))
    nearest = np.argmin(((predicted[:, None] - codes[None]) ** 2).sum(-1), axis=1)
    np.testing.assert_array_equal(nearest, targets)


def test_encoder_codes_from_precomputed_features_equal_codes_from_images(content):
    encoder = style_lib.build_style_encoder(
        vgg_lib.build_feature_extractor(["block1_conv1"], weights="random"), CODE_DIM, 16)
    images = np.stack([content, content[::-1]])
    features = vgg_lib.build_feature_extractor(["block1_conv1", "block2_conv1"],
                                               weights="random")(images)
    assert list(encoder.vgg_layers) == ["block1_conv1"]
    np.testing.assert_allclose(
        encoder.head({layer: features[layer] for layer in encoder.vgg_layers}),
        encoder.model(images), rtol=1e-5, atol=1e-6)


def test_train_step_reads_encoder_features_from_the_loss_pass_with_the_same_result():
    """The step reuses the perceptual VGG pass for the encoder when it has the
    encoder's layers; the losses and the encoder's update equal a separate pass."""
    from training import step as step_lib
    config = encoder_run_config(identity_prob=0.0, encoder_prob=1.0)  # no randomness
    config.model.encoder_layers = ("block1_conv1", "block1_conv2")  # not a loss layer
    for model_config, has_layer in ((None, False), (config.model, True)):
        features = step_lib.build_feature_extractor(config.vgg, model_config)
        assert ("block1_conv2" in features.output) == has_layer
    results = []
    for reuse in (False, True):
        tf.keras.utils.set_random_seed(0)
        models, metrics, _ = run_one_step(config, reuse_features=reuse)
        results.append((metrics, [np.asarray(v) for v in
                                  models.encoder.trainable_variables]))
    (separate, separate_weights), (reused, reused_weights) = results
    for tag in ("loss/G/encoder", "loss/G/style", "loss/G/content", "loss/D/adv"):
        np.testing.assert_allclose(reused[tag], separate[tag], rtol=1e-4)
    for a, b in zip(reused_weights, separate_weights):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def two_channel_features(correlated):
    """[1, 8, 8, 2] features whose two channels have the same values (so the same
    mean and std), at the same pixels (correlated) or shuffled over space."""
    values = np.random.RandomState(0).gamma(2.0, 3.0, size=64).astype(np.float32)
    second = values if correlated else np.random.RandomState(1).permutation(values)
    return np.stack([values, second], -1).reshape(1, 8, 8, 2)


def test_projected_covariance_reads_co_occurrence_channel_statistics_cannot_see():
    correlated, shuffled = two_channel_features(True), two_channel_features(False)
    statistics = style_lib.ChannelStatistics()
    np.testing.assert_allclose(statistics(correlated), statistics(shuffled), rtol=1e-6)
    covariance = style_lib.ProjectedCovariance(2)
    covariance.build(correlated.shape)
    covariance.projection.assign(np.eye(2, dtype=np.float32))
    for features in (correlated, shuffled):
        flat = features.reshape(-1, 2).astype(np.float64)
        expected = np.cov(flat.T, bias=True)[[0, 0, 1], [0, 1, 1]]
        np.testing.assert_allclose(covariance(features)[0],
                                   np.sign(expected) * np.log1p(np.abs(expected)),
                                   rtol=1e-4)
    # Same diagonal, off-diagonal apart: the correlated pair's covariance is its
    # variance, the shuffled pair's near 0.
    correlated_upper, shuffled_upper = (np.asarray(covariance(f))[0]
                                        for f in (correlated, shuffled))
    np.testing.assert_allclose(correlated_upper[[0, 2]], shuffled_upper[[0, 2]], rtol=1e-5)
    assert correlated_upper[1] > shuffled_upper[1] + 1.0
    # Like the channel statistics, it does not depend on the image size.
    tiled = np.tile(correlated, (1, 3, 2, 1))
    np.testing.assert_allclose(covariance(tiled), covariance(correlated), rtol=1e-5)


def test_projected_covariance_refuses_a_rank_below_one():
    with pytest.raises(ValueError, match="rank >= 1, got 0"):
        style_lib.ProjectedCovariance(0)


def assert_saved_encoder_gives_the_same_codes(encoder, folder):
    images = np.random.RandomState(2).uniform(size=(2, 32, 32, 3)).astype(np.float32)
    path = str(folder / "encoder.keras")
    encoder.save(path)
    loaded = tf.keras.models.load_model(path)
    np.testing.assert_allclose(loaded(images), encoder(images), rtol=1e-5, atol=1e-6)


def test_encoder_with_covariances_saves_loads_and_trains_its_projection(tmp_path):
    config = encoder_run_config(identity_prob=0.0, encoder_prob=1.0)
    config.model.encoder_covariance_rank = 3
    tf.keras.utils.set_random_seed(0)
    models, metrics, before = run_one_step(config)
    encoder = models.encoder
    projections = [layer.projection for layer in encoder.layers
                   if isinstance(layer, style_lib.ProjectedCovariance)]
    assert len(projections) == len(config.model.encoder_layers)
    names = [v.path for v in encoder.trainable_variables]
    for projection in projections:
        start = before[names.index(projection.path)]
        assert np.abs(np.asarray(projection) - start).max() > 0
    assert_saved_encoder_gives_the_same_codes(encoder, tmp_path)
    assert metrics["loss/G/encoder"] > 0


def test_standardising_with_moments_keeps_what_layer_normalisation_removes():
    rng = np.random.RandomState(0)
    vector = rng.uniform(0, 6, size=(1, 40)).astype(np.float32)
    stronger = 1.5 * vector + 0.5  # the same pattern, higher level and spread
    layer_norm = tf.keras.layers.LayerNormalization()
    np.testing.assert_allclose(layer_norm(vector), layer_norm(stronger), atol=1e-3)
    standardise = style_lib.StandardiseKeepingMoments()
    for v in (vector, stronger):
        out = np.asarray(standardise(v))[0]
        assert out.shape == (42,)
        np.testing.assert_allclose(out[:40], (v[0] - v.mean()) / v.std(), atol=1e-3)
        np.testing.assert_allclose(out[40:], [v.mean(), v.std()], rtol=1e-4)
    np.testing.assert_allclose(np.asarray(standardise(stronger))[0, 40:],
                               [1.5 * vector.mean() + 0.5, 1.5 * vector.std()],
                               rtol=1e-4)


@pytest.mark.parametrize("normalisation", ["layer_and_moments", "none"])
def test_encoder_normalisations_train_save_and_load(normalisation, tmp_path):
    config = encoder_run_config(identity_prob=0.0, encoder_prob=1.0)
    config.model.encoder_normalisation = normalisation
    tf.keras.utils.set_random_seed(0)
    models, metrics, before = run_one_step(config)
    encoder = models.encoder
    normalise = encoder.get_layer("normalise_statistics")
    expected = {"layer_and_moments": style_lib.StandardiseKeepingMoments,
                "none": tf.keras.layers.Identity}[normalisation]
    assert isinstance(normalise, expected)
    moved = [np.abs(np.asarray(v) - start).max() > 0
             for v, start in zip(encoder.trainable_variables, before)]
    assert all(moved)
    assert_saved_encoder_gives_the_same_codes(encoder, tmp_path)
    assert metrics["loss/G/encoder"] > 0


def test_unknown_encoder_normalisation_is_refused():
    from models import vgg as vgg_lib
    features = vgg_lib.build_feature_extractor(("block1_conv1",), weights="random")
    with pytest.raises(ValueError, match="Unknown encoder normalisation 'batch'"):
        style_lib.build_style_encoder(features, 8, normalisation="batch")


def test_mix_with_neighbour_blends_codes_and_targets_alike():
    from training import step as step_lib
    values = tf.constant([[1.0, 0.0], [0.0, 1.0], [2.0, 2.0]])
    mixed = step_lib.mix_with_neighbour(values, tf.constant([1.0, 0.25, 0.5]))
    np.testing.assert_allclose(mixed, [[1.0, 0.0], [0.75, 0.25], [1.0, 1.5]])


def test_identity_examples_are_never_mixed():
    from training import step as step_lib
    keep = tf.constant([True, False, True, False] * 8)
    weights = step_lib.random_mix_weights(32, 1.0, keep=keep).numpy()
    np.testing.assert_array_equal(weights[keep.numpy()], 1.0)
    assert np.all(weights[~keep.numpy()] < 1.0)


def test_train_step_with_every_example_identity_ignores_mix_prob():
    """Identity examples keep their content's code, so mix_prob changes nothing."""
    losses = []
    for mix_prob in (0.0, 1.0):
        tf.keras.utils.set_random_seed(0)
        losses.append(run_one_step(encoder_run_config(identity_prob=1.0,
                                                      mix_prob=mix_prob),
                                   adversarial=False)[1])
    for tag in ("loss/G/identity", "loss/G/style", "loss/G/content"):
        np.testing.assert_allclose(losses[1][tag], losses[0][tag], rtol=1e-5)


def test_painter_paints_any_size_and_crops_back_to_it(model):
    generator, source = model
    painter = painter_lib.Painter(generator, source)
    odd = np.random.RandomState(6).uniform(size=(30, 42, 3)).astype(np.float32)
    plan = painter.plan(styles=["alpha", "beta"], masks=["left", "right"])
    painted = painter.paint(odd, plan, preserve_color=True)
    assert painted.shape == odd.shape
    padded, (height, width) = images.pad_to_stride(odd)
    assert padded.shape[:2] == (32, 44) and (height, width) == (30, 42)
    whole = painter.paint_fields(padded, *painter.fields(odd, plan))[:30, :42]
    np.testing.assert_array_equal(painted, images.preserve_color(odd, whole))
