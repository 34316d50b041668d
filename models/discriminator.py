"""Conditional PatchGAN discriminator D(y, c) -> logits per patch.

A stack of stride-2 4x4 convolutions (Isola et al. 2017, "pix2pix") judges
overlapping patches, so it looks at strokes and texture rather than global layout.
Conditioning is by *projection* on the style code (Miyato & Koyama 2018, "cGANs with
projection discriminator"): logit = w . h + <P c, h> per patch, with h the patch
features. We chose projection over one output head per style id because D then takes
a code, not an id: it works unchanged for any number of styles, for codes from the
style encoder and for fused codes, and the styles share all of D's features.
"""
import keras
from keras import layers, ops

# name -> width of the first conv, number of stride-2 convs.
VARIANTS = {
    "test": dict(width=8, downsamplings=2),
    "small": dict(width=32, downsamplings=3),
    "base": dict(width=64, downsamplings=3),
}


def variant(name):
    if name not in VARIANTS:
        raise ValueError(f"Unknown discriminator variant {name!r}; expected one of "
                         f"{sorted(VARIANTS)}.")
    return VARIANTS[name]


@keras.saving.register_keras_serializable(package="stylefusion")
class ProjectionLogits(layers.Layer):
    """Patch features [B, h, w, C] and codes [B, D] -> logits [B, h, w, 1]."""

    def build(self, input_shapes):
        features_shape, _ = input_shapes
        channels = features_shape[-1]
        # Sub-layers follow this layer's policy (float32 logits under mixed
        # precision), not the global one.
        self.unconditional = layers.Dense(1, name="unconditional",
                                          dtype=self.dtype_policy)
        self.projection = layers.Dense(channels, use_bias=False, name="projection",
                                       dtype=self.dtype_policy)
        self.unconditional.build(features_shape)
        self.projection.build(input_shapes[1])

    def call(self, inputs):
        features, codes = inputs
        projected = self.projection(codes)[:, None, None, :]
        conditional = ops.sum(features * projected, axis=-1, keepdims=True)
        return self.unconditional(features) + conditional


def build_discriminator(variant_name="base", code_dim=64, name="discriminator"):
    """Builds D as a functional Keras model: [image, code] -> patch logits.

    Images are [B, H, W, 3] in [0, 1]; codes [B, code_dim]; the output is float32
    logits [B, H / 2^n, W / 2^n, 1] (no sigmoid: losses are computed from logits).
    """
    hp = variant(variant_name)
    image = keras.Input((None, None, 3), name="image")
    code = keras.Input((code_dim,), name="code")
    # Centre the input: [0, 1] -> [-1, 1].
    x = layers.Rescaling(2.0, offset=-1.0, name="center")(image)
    for i in range(hp["downsamplings"]):
        filters = hp["width"] * 2 ** i
        x = layers.Conv2D(filters, 4, strides=2, padding="same", name=f"conv{i}")(x)
        x = layers.LeakyReLU(0.2, name=f"conv{i}_lrelu")(x)
    x = layers.Conv2D(hp["width"] * 2 ** hp["downsamplings"], 3, padding="same",
                      name="features")(x)
    x = layers.LeakyReLU(0.2, name="features_lrelu")(x)
    logits = ProjectionLogits(dtype="float32", name="logits")([x, code])
    return keras.Model([image, code], logits, name=name)
