"""Style codes: the bank of learned codes, and fusion in code space.

Every style lives in one shared code space. Fusing styles is done on codes only
(DESIGN.md: one mechanism, many controls): the generator never knows whether the code
it gets is one painting's or a blend.
"""
import keras
import numpy as np
from keras import layers, ops


@keras.saving.register_keras_serializable(package="stylefusion")
class StyleBank(layers.Layer):
    """One learned code per trained style: style ids [B] -> codes [B, code_dim].

    Codes start as N(0, 1) draws so distinct styles are distinct from step 0; they are
    trained with the generator.
    """

    def __init__(self, num_styles, code_dim, **kwargs):
        super().__init__(**kwargs)
        self.num_styles = num_styles
        self.code_dim = code_dim
        self.codes = self.add_weight(
            shape=(num_styles, code_dim), name="codes",
            initializer=keras.initializers.RandomNormal(stddev=1.0))

    def call(self, style_ids):
        return ops.take(self.codes, ops.cast(style_ids, "int32"), axis=0)

    def get_config(self):
        return {**super().get_config(), "num_styles": self.num_styles,
                "code_dim": self.code_dim}


def validate_weights(weights, num_codes):
    """Checks fusion weights and returns them normalised to sum to 1 (float32).

    Weights must be finite, non-negative, not all zero, one per code. They are divided
    by their sum, so (3, 1) means (0.75, 0.25).
    """
    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape != (num_codes,):
        raise ValueError(
            f"Expected {num_codes} fusion weights (one per style), got shape "
            f"{weights.shape}.")
    if not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise ValueError(
            f"Fusion weights must be finite and non-negative, got {weights.tolist()}.")
    if weights.sum() == 0:
        raise ValueError("Fusion weights are all zero; give at least one style a "
                         "positive weight.")
    return (weights / weights.sum()).astype(np.float32)


def mix(codes, weights):
    """Weighted fusion c = sum_i w_i c_i.

    Args:
      codes: [K, code_dim] codes of the K styles to fuse.
      weights: K non-negative weights, not all zero; normalised to sum to 1.
    Returns:
      The fused code, [code_dim].
    """
    codes = ops.convert_to_tensor(codes, "float32")
    weights = validate_weights(weights, codes.shape[0])
    return ops.tensordot(ops.convert_to_tensor(weights), codes, axes=1)
