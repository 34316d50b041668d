"""Generator, discriminator and style-code tests (test variants, CPU, seconds)."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from models import discriminator as discriminator_lib
from models import generator as generator_lib
from models import style as style_lib
from tests.helpers import make_codes_matter

CODE_DIM = 8

# Pinned so an accidental architecture change shows up as a failing test.
GENERATOR_PARAMS = {"test": 39_796, "small": 349_988, "medium": 831_988,
                    "base": 2_095_684}
DISCRIMINATOR_PARAMS = {"test": 9_177, "small": 477_409, "base": 1_872_321}


@pytest.mark.parametrize("name", sorted(generator_lib.VARIANTS))
def test_generator_parameter_counts_are_pinned(name):
    assert generator_lib.build_generator(name, 64).count_params() == GENERATOR_PARAMS[name]


@pytest.mark.parametrize("name", sorted(discriminator_lib.VARIANTS))
def test_discriminator_parameter_counts_are_pinned(name):
    assert (discriminator_lib.build_discriminator(name, 64).count_params()
            == DISCRIMINATOR_PARAMS[name])


@pytest.mark.parametrize("height,width", [(32, 32), (24, 40)])
def test_generator_output_shape_dtype_and_range(height, width):
    generator = generator_lib.build_generator("test", CODE_DIM)
    images = tf.random.uniform((2, height, width, 3), seed=1)
    codes = generator_lib.as_code_map(tf.random.normal((2, CODE_DIM), seed=2))
    outputs = generator([images, codes])
    assert outputs.shape == (2, height, width, 3)
    assert outputs.dtype == tf.float32
    assert float(tf.reduce_min(outputs)) >= 0.0 and float(tf.reduce_max(outputs)) <= 1.0


def test_generator_starts_code_independent_then_codes_matter():
    """Heads are zero-initialised (plain instance norm at step 0); once they are
    non-zero, different codes give different images."""
    generator = generator_lib.build_generator("test", CODE_DIM)
    images = tf.random.uniform((1, 16, 16, 3), seed=3)
    code_a = generator_lib.as_code_map(tf.ones((1, CODE_DIM)))
    code_b = generator_lib.as_code_map(-tf.ones((1, CODE_DIM)))
    np.testing.assert_allclose(generator([images, code_a]), generator([images, code_b]),
                               atol=1e-6)
    make_codes_matter(generator, seed=4, keep=None)
    difference = tf.reduce_max(tf.abs(generator([images, code_a])
                                      - generator([images, code_b])))
    assert float(difference) > 1e-3


def test_keep_gate_blends_the_photo_back_in_by_code():
    """out = (1 - g) painted + g photo: g = 1 gives the photo exactly, g = 0.5 the
    midpoint, a negative gate is clipped to 0. The image gives the gate no gradient;
    keep_gate(), the unclipped gate, does."""
    generator = generator_lib.build_generator("test", CODE_DIM)
    make_codes_matter(generator, seed=10, keep=None)
    images = tf.random.uniform((2, 16, 16, 3), seed=11)
    codes = tf.random.normal((2, CODE_DIM), seed=12)
    code_maps = generator_lib.as_code_map(codes)
    keep = generator.get_layer("code_to_keep")
    painted = generator([images, code_maps])
    assert float(tf.reduce_max(tf.abs(painted - images))) > 1e-2
    with tf.GradientTape(persistent=True) as tape:
        image_loss = tf.reduce_mean(tf.abs(generator([images, code_maps]) - images))
        gate_loss = tf.reduce_mean(generator_lib.keep_gate(generator, codes))
    assert tape.gradient(image_loss, keep.bias) is None
    assert float(tape.gradient(gate_loss, keep.bias)[0]) == 1.0
    for bias, expected in [(1.0, images), (0.5, (images + painted) / 2),
                           (-1.0, painted)]:
        keep.bias.assign([bias])
        np.testing.assert_allclose(generator_lib.keep_gate(generator, codes), [bias] * 2)
        np.testing.assert_allclose(generator([images, code_maps]), expected, atol=1e-6)


def test_keep_gate_of_a_generator_loaded_in_safe_mode_matches_the_live_one(tmp_path):
    """keep_gate() cuts G's graph at its KeepPhoto layer, so a loaded export has it."""
    generator = generator_lib.build_generator("test", CODE_DIM)
    make_codes_matter(generator, seed=13, keep=0.3)
    path = str(tmp_path / "generator.keras")
    generator.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    codes = tf.random.normal((3, CODE_DIM), seed=14)
    gate = np.asarray(generator_lib.keep_gate(generator, codes))
    assert gate.shape == (3,) and np.all(np.abs(gate - 0.3) < 0.1) and np.ptp(gate) > 0
    np.testing.assert_array_equal(generator_lib.keep_gate(loaded, codes), gate)


def test_uniform_code_map_equals_one_by_one_code():
    """A spatial code map holding the same code everywhere paints like a 1x1 map."""
    generator = generator_lib.build_generator("test", CODE_DIM)
    make_codes_matter(generator, seed=5)
    images = tf.random.uniform((1, 16, 16, 3), seed=6)
    code = tf.random.normal((1, CODE_DIM), seed=7)
    uniform_map = tf.tile(generator_lib.as_code_map(code), [1, 16, 16, 1])
    np.testing.assert_allclose(generator([images, uniform_map]),
                               generator([images, generator_lib.as_code_map(code)]),
                               atol=1e-5)


def test_conditional_instance_norm_matches_naive_form():
    features = tf.random.normal((2, 5, 7, 4), mean=3.0, stddev=2.0, seed=8)
    modulation = tf.random.normal((2, 1, 1, 8), seed=9)
    fused = generator_lib.ConditionalInstanceNorm()([features, modulation])
    gamma, beta = np.split(modulation.numpy(), 2, axis=-1)
    x = features.numpy()
    mean = x.mean(axis=(1, 2), keepdims=True)
    std = np.sqrt(x.var(axis=(1, 2), keepdims=True) + 1e-5)
    np.testing.assert_allclose(fused, (x - mean) / std * (1 + gamma) + beta,
                               rtol=1e-4, atol=1e-4)


def test_unknown_variant_names_the_choices():
    with pytest.raises(ValueError, match="base"):
        generator_lib.build_generator("huge")
    with pytest.raises(ValueError, match="small"):
        discriminator_lib.build_discriminator("huge")


def test_discriminator_patch_logits_depend_on_code():
    discriminator = discriminator_lib.build_discriminator("test", CODE_DIM)
    images = tf.random.uniform((2, 32, 32, 3), seed=10)
    code_a = tf.random.normal((2, CODE_DIM), seed=11)
    logits_a = discriminator([images, code_a])
    logits_b = discriminator([images, -code_a])
    assert logits_a.shape == (2, 8, 8, 1) and logits_a.dtype == tf.float32
    assert float(tf.reduce_max(tf.abs(logits_a - logits_b))) > 1e-4


def test_style_bank_gathers_codes():
    bank = style_lib.StyleBank(3, CODE_DIM)
    codes = bank(tf.constant([2, 0, 2]))
    np.testing.assert_array_equal(codes[0], bank.codes[2])
    np.testing.assert_array_equal(codes[1], bank.codes[0])


def test_mix_is_the_weighted_sum_of_validated_weights():
    codes = np.array([[1.0, 0.0], [0.0, 2.0], [4.0, 4.0]], np.float32)

    def mixed(weights):
        return style_lib.mix(codes, style_lib.validate_weights(weights, 3))

    np.testing.assert_allclose(mixed([1, 0, 0]), [1.0, 0.0])
    np.testing.assert_allclose(mixed([3, 1, 0]), [0.75, 0.5])
    np.testing.assert_allclose(mixed([0.5, 0.5, 0]), [0.5, 1.0])


def test_mix_broadcasts_to_code_maps_and_per_example_pairs():
    codes = np.array([[1.0, 0.0], [0.0, 2.0]], np.float32)
    weights = np.zeros((3, 4, 2), np.float32)
    weights[..., 0], weights[..., 1] = 0.25, 0.75
    code_map = style_lib.mix(codes, weights)
    assert code_map.shape == (3, 4, 2)
    np.testing.assert_allclose(code_map, np.broadcast_to([0.25, 1.5], (3, 4, 2)))
    # One pair of codes per example, each with its own weights.
    pairs = np.stack([codes, codes[::-1]])
    np.testing.assert_allclose(style_lib.mix(pairs, [[1.0, 0.0], [0.5, 0.5]]),
                               [[1.0, 0.0], [0.5, 1.0]])


@pytest.mark.parametrize("weights,message", [
    ([1, -1, 0], "non-negative"),
    ([0, 0, 0], "all zero"),
    ([1, 1], "Expected 3"),
    ([1, float("nan"), 0], "finite"),
])
def test_validate_weights_rejects_bad_weights(weights, message):
    with pytest.raises(ValueError, match=message):
        style_lib.validate_weights(weights, 3)
