"""Shared test helpers."""
import tensorflow as tf


def make_codes_matter(generator, seed, stddev=0.1, keep=0.3):
    """Random weights for G's zero-initialised code heads, so different codes paint
    differently, and a keep gate near `keep` (between 0 and 1, varying a little by
    code) so the photo blend is exercised without hiding the painting; keep=None
    leaves the gate at its initial 0."""
    for layer in generator.layers:
        if layer.name.startswith("code_to_norm"):
            layer.kernel.assign(tf.random.normal(layer.kernel.shape, stddev=stddev,
                                                 seed=seed))
    if keep is None:
        return
    gate = generator.get_layer("code_to_keep")
    gate.kernel.assign(tf.random.normal(gate.kernel.shape, stddev=0.01, seed=seed))
    gate.bias.assign([keep])
