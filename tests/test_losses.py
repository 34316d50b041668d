"""Golden values of the adversarial and perceptual losses on tiny inputs."""
import math

import numpy as np
import pytest
import tensorflow as tf

from losses import adversarial, perceptual

BATCH_SIZE = 3


def numpy_sigmoid(logits):
    return 1.0 / (1.0 + np.exp(-logits))


@pytest.fixture
def patch_logits():
    """Two moderate logit fields [B, 2, 2, 1], where the probability form is exact."""
    random_state = np.random.RandomState(0)
    real = random_state.normal(0.0, 3.0, (BATCH_SIZE, 2, 2, 1))
    fake = random_state.normal(0.0, 3.0, (BATCH_SIZE, 2, 2, 1))
    return real, fake


def per_example_mean(values):
    return values.reshape(values.shape[0], -1).mean(axis=1)


# The losses as the method and the papers state them, in float64 NumPy.
GENERATOR_REFERENCE = {
    "nonsaturating": lambda fake: -np.log(numpy_sigmoid(fake)),
    "hinge": lambda fake: -fake,
    "lsgan": lambda fake: 0.5 * (fake - 1.0) ** 2,
}
DISCRIMINATOR_REFERENCE = {
    "nonsaturating": lambda real, fake: (-np.log(numpy_sigmoid(real)),
                                         -np.log(1.0 - numpy_sigmoid(fake))),
    "hinge": lambda real, fake: (np.maximum(0.0, 1.0 - real), np.maximum(0.0, 1.0 + fake)),
    "lsgan": lambda real, fake: (0.5 * (real - 1.0) ** 2, 0.5 * fake ** 2),
}


@pytest.mark.parametrize("kind", adversarial.KINDS)
def test_generator_loss_matches_probability_form(kind, patch_logits):
    _, fake = patch_logits
    loss = adversarial.generator_loss(tf.constant(fake, tf.float32), kind)
    expected = per_example_mean(GENERATOR_REFERENCE[kind](fake))
    assert loss.shape == (BATCH_SIZE,)
    np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", adversarial.KINDS)
def test_discriminator_loss_matches_probability_form(kind, patch_logits):
    real, fake = patch_logits
    loss = adversarial.discriminator_loss(tf.constant(real, tf.float32),
                                          tf.constant(fake, tf.float32), kind)
    real_term, fake_term = DISCRIMINATOR_REFERENCE[kind](real, fake)
    expected = per_example_mean(real_term) + per_example_mean(fake_term)
    assert loss.shape == (BATCH_SIZE,)
    np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", adversarial.KINDS)
def test_adversarial_losses_finite_at_extreme_logits(kind):
    logits = tf.constant([100.0, -100.0, 100.0, -100.0], shape=(2, 1, 2, 1))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(logits)
        generator = adversarial.generator_loss(logits, kind)
        discriminator = adversarial.discriminator_loss(logits, -logits, kind)
    for loss in (generator, discriminator):
        assert loss.shape == (2,)
        assert np.all(np.isfinite(loss.numpy()))
        assert np.all(np.isfinite(tape.gradient(loss, logits).numpy()))


def test_nonsaturating_limits():
    confident = tf.constant([[100.0], [-100.0]])
    # -log sigmoid(100) ~ 0 and -log sigmoid(-100) ~ 100: no log(0) anywhere.
    np.testing.assert_allclose(adversarial.generator_loss(confident).numpy(),
                               [0.0, 100.0], atol=1e-5)
    np.testing.assert_allclose(
        adversarial.discriminator_loss(confident, -confident).numpy(), [0.0, 200.0],
        atol=1e-5)


# Hand-computed: at l = 0, softplus(0) = log 2; at l = 1, softplus(-1) = 0.31326,
# softplus(1) = 1.31326. One example with patch logits real [1, 1], fake [0, 0].
HAND_COMPUTED = {
    # kind: (L_G(fake), L_D(real, fake))
    "nonsaturating": (math.log(2.0), 0.3132617 + math.log(2.0)),
    "hinge": (0.0, 0.0 + 1.0),
    "lsgan": (0.5, 0.0 + 0.0),
}


@pytest.mark.parametrize("kind", adversarial.KINDS)
def test_adversarial_losses_hand_computed(kind):
    real = tf.ones((1, 1, 2, 1))
    fake = tf.zeros((1, 1, 2, 1))
    generator_value, discriminator_value = HAND_COMPUTED[kind]
    assert float(adversarial.generator_loss(fake, kind)[0]) == pytest.approx(
        generator_value, abs=1e-6)
    assert float(adversarial.discriminator_loss(real, fake, kind)[0]) == pytest.approx(
        discriminator_value, abs=1e-6)


@pytest.mark.parametrize("kind,expected", [("nonsaturating", 0.75), ("hinge", 0.75),
                                           ("lsgan", 0.5)])
def test_d_accuracy_uses_the_loss_decision_boundary(kind, expected):
    # Real patches [0.3, 0.4]: both above 0, none above 0.5.
    # Fake patches [-2, 0.2]: one at <= 0, both at <= 0.5.
    real = tf.constant([[[[0.3], [0.4]]]])
    fake = tf.constant([[[[-2.0], [0.2]]]])
    assert float(adversarial.d_accuracy(real, fake, kind)[0]) == pytest.approx(expected)


def test_unknown_kind_lists_valid_kinds():
    logits = tf.zeros((1, 1))
    for loss_fn in (lambda: adversarial.generator_loss(logits, "wgan"),
                    lambda: adversarial.discriminator_loss(logits, logits, "wgan")):
        with pytest.raises(ValueError, match="wgan") as error:
            loss_fn()
        assert all(kind in str(error.value) for kind in adversarial.KINDS)


def test_d_probabilities(patch_logits):
    real, _ = patch_logits
    probabilities = adversarial.d_probabilities(tf.constant(real, tf.float32))
    np.testing.assert_allclose(probabilities.numpy(),
                               per_example_mean(numpy_sigmoid(real)), rtol=1e-5)


class QuadraticDiscriminator:
    """D(x, c) = w * c * 0.5 * sum(x^2) per 2x2 patch: grad_x sum(D) = w * c * x, so
    the gradient of the mean over P patches is w * c * x / P."""

    def __init__(self, scale):
        self.scale = tf.Variable(scale)

    def __call__(self, inputs, training=False):
        images, codes = inputs
        assert training, "R1 must see D in training mode"
        energy = 0.5 * tf.square(images) * codes[:, None, None, :1]
        patches = tf.nn.avg_pool2d(tf.reduce_sum(energy, -1, keepdims=True), 2, 2,
                                   "VALID") * 4.0
        return self.scale * patches


def test_r1_penalty_of_known_gradient():
    gradients = tf.reshape(tf.range(2 * 2 * 2 * 3, dtype=tf.float32), (2, 2, 2, 3))
    expected = 0.5 * np.square(gradients.numpy()).reshape(2, -1).sum(axis=1)
    np.testing.assert_allclose(adversarial.r1_penalty(gradients).numpy(), expected)


def test_real_logits_and_r1_analytic():
    random_state = np.random.RandomState(1)
    images = tf.constant(random_state.rand(2, 4, 4, 3), tf.float32)
    codes = tf.constant([[1.0], [3.0]])
    discriminator = QuadraticDiscriminator(scale=2.0)

    with tf.GradientTape() as outer_tape:
        logits, r1 = adversarial.real_logits_and_r1(discriminator, images, codes)
        total_r1 = tf.reduce_sum(r1)
    # D is the mean of P = 4 patches: grad_x = w c x / 4, so R1 = 0.5 w^2 c^2 sum(x^2)
    # / 16 and dR1/dw = w c^2 sum(x^2) / 16.
    sum_of_squares = np.square(images.numpy()).reshape(2, -1).sum(axis=1)
    code_squared = np.array([1.0, 9.0])
    assert logits.shape == (2, 2, 2, 1)
    np.testing.assert_allclose(r1.numpy(),
                               0.5 * 4.0 * code_squared * sum_of_squares / 16, rtol=1e-5)
    # The penalty must stay differentiable w.r.t. D's weights (double backprop).
    weight_gradient = outer_tape.gradient(total_r1, discriminator.scale)
    np.testing.assert_allclose(weight_gradient.numpy(),
                               2.0 * np.sum(code_squared * sum_of_squares) / 16, rtol=1e-5)


def test_real_logits_and_r1_in_tf_function():
    discriminator = QuadraticDiscriminator(scale=1.0)
    step = tf.function(lambda images, codes: adversarial.real_logits_and_r1(
        discriminator, images, codes)[1])
    r1 = step(tf.ones((2, 4, 4, 3)), tf.ones((2, 1)))
    np.testing.assert_allclose(r1.numpy(), [0.5 * 48.0 / 16] * 2)


@pytest.fixture
def features():
    return np.random.RandomState(2).rand(2, 3, 4, 5).astype(np.float32)


def test_gram_matrix_matches_numpy(features):
    expected = np.einsum("bhwc,bhwd->bcd", features, features) / (3 * 4 * 5)
    gram = perceptual.gram_matrix(tf.constant(features))
    assert gram.shape == (2, 5, 5)
    np.testing.assert_allclose(gram.numpy(), expected, rtol=1e-5)


def test_content_loss(features):
    same = perceptual.content_loss(features, features)
    shifted = perceptual.content_loss(features + 0.5, features)
    assert shifted.shape == (2,)
    np.testing.assert_allclose(same.numpy(), [0.0, 0.0])
    np.testing.assert_allclose(shifted.numpy(), [0.25, 0.25], rtol=1e-5)


def test_style_loss(features):
    grams = perceptual.gram_matrices([features, features[:, :2]])
    # Doubling the features multiplies each Gram by 4: the difference is 3 G.
    doubled_grams = perceptual.gram_matrices([2 * features, 2 * features[:, :2]])
    expected = sum(9.0 * np.square(gram.numpy()).mean(axis=(1, 2)) for gram in grams)
    np.testing.assert_allclose(perceptual.style_loss(grams, grams).numpy(), [0.0, 0.0])
    np.testing.assert_allclose(perceptual.style_loss(doubled_grams, grams).numpy(),
                               expected, rtol=1e-5)


def test_style_loss_broadcasts_one_target_and_checks_layers(features):
    grams = perceptual.gram_matrices([features])
    one_style = [gram[:1] for gram in grams]
    loss = perceptual.style_loss(grams, one_style)
    assert loss.shape == (2,)
    assert loss[0] == 0.0 and loss[1] > 0.0
    with pytest.raises(ValueError, match="1 output Gram matrices but 2 target"):
        perceptual.style_loss(grams, grams * 2)


def test_channel_mean_std_matches_numpy(features):
    mean, std = perceptual.channel_mean_std(tf.constant(features), epsilon=1e-5)
    np.testing.assert_allclose(mean.numpy(), features.mean(axis=(1, 2)), rtol=1e-5)
    np.testing.assert_allclose(std.numpy(), np.sqrt(features.var(axis=(1, 2)) + 1e-5),
                               rtol=1e-5)


def test_mean_std_loss(features):
    statistics = perceptual.channel_statistics([features, 3 * features])
    # A shift by d moves every channel mean by d and leaves the stds: d^2 per layer.
    shifted = perceptual.channel_statistics([features + 0.5, 3 * features + 0.5])
    loss = perceptual.mean_std_loss(shifted, statistics)
    assert loss.shape == (2,)
    np.testing.assert_allclose(loss.numpy(), [0.5, 0.5], rtol=1e-4)
    np.testing.assert_allclose(
        perceptual.mean_std_loss(statistics, statistics).numpy(), [0.0, 0.0])


def test_mean_std_loss_gradient_finite_at_match(features):
    features = tf.constant(features)
    target = perceptual.channel_statistics([features])
    with tf.GradientTape() as tape:
        tape.watch(features)
        loss = perceptual.mean_std_loss(perceptual.channel_statistics([features]), target)
    assert np.all(np.isfinite(tape.gradient(loss, features).numpy()))


def test_total_variation():
    flat = np.full((1, 4, 5, 3), 0.3, np.float32)
    # Ramp along the width: every horizontal neighbour differs by 0.1, vertical by 0.
    ramp = np.broadcast_to(0.1 * np.arange(5, dtype=np.float32)[None, None, :, None],
                           (1, 4, 5, 3))
    tv = perceptual.total_variation(np.concatenate([flat, ramp]))
    assert tv.shape == (2,)
    np.testing.assert_allclose(tv.numpy(), [0.0, 0.1], rtol=1e-5, atol=1e-7)
