"""Conditional PatchGAN discriminator D(y, c) -> logits per patch.

A stack of stride-2 4x4 convolutions (Isola et al. 2017, "pix2pix") judges
overlapping patches, so it looks at strokes and texture rather than global layout.
Conditioning is by *projection* on the style code (Miyato & Koyama 2018, "cGANs with
projection discriminator"): logit = w . h + <P c, h> per patch, with h the patch
features. Projection rather than one output head per style id, because D then takes
a code, not an id: it works unchanged for any number of styles, for codes from the
style encoder and for fused codes, and the styles share all of D's features.

Variants by `model.discriminator_kind` (build_from_config):
  patch       the PatchGAN above;
  multiscale  one PatchGAN per image scale (the image average-pooled by 1, 2, 4, ...;
              Wang et al. 2018, "pix2pixHD"), judging strokes at several sizes; each
              scale's logits are repeated up to the finest grid and stacked as
              channels, so a loss averaged over the output weighs every scale alike;
  vgg         "a pretrained classifier as the discriminator": a frozen VGG19 trunk
              (the perceptual losses' weights setting) up to one layer, then a
              trainable conditional head.
`model.spectral_norm` replaces every trainable convolution by SpectralConv2D.
"""
import keras
from keras import layers, ops

from models import vgg as vgg_lib

KINDS = ("patch", "multiscale", "vgg")

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
class LeakyReLU(layers.Layer):
    """max(slope x, x): the values and gradients of keras.layers.LeakyReLU (slope at
    0 too: tf.maximum's gradient at a tie goes to its first argument, slope x), built
    from Maximum rather than the LeakyRelu op.

    With LeakyRelu, Grappler's remapper (TF 2.21) fuses Conv2D + BiasAdd + LeakyRelu
    even though the LeakyReluGrad of the step's backward pass reads the BiasAdd, then
    fails ("remapper failed: ... fanout ... LeakyReluGrad exist for missing node
    .../BiasAdd") and leaves the whole train step unoptimised.
    """

    def __init__(self, negative_slope=0.2, **kwargs):
        super().__init__(**kwargs)
        self.negative_slope = negative_slope

    def call(self, inputs):
        return ops.maximum(inputs * ops.cast(self.negative_slope, inputs.dtype), inputs)

    def get_config(self):
        return {**super().get_config(), "negative_slope": self.negative_slope}


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


@keras.saving.register_keras_serializable(package="stylefusion")
class SpectralConv2D(layers.Layer):
    """Conv2D with kernel W / sigma(W), sigma the largest singular value of W reshaped
    to [k*k*C_in, C_out] (Miyato et al. 2018, "Spectral normalization for GANs").

    sigma is estimated by one power iteration per training call from a persistent
    vector u. Gradients flow through sigma, as in the paper. u is a non-trainable
    variable with aggregation "only_first_replica": it is assigned inside the replica
    step, and under MirroredStrategy every replica computes the same u from the same
    weights, so replica 0's value is kept on all (Keras' SpectralNormalization instead
    overwrites the trainable kernel itself in replica context).
    """

    def __init__(self, filters, kernel_size, strides=1, padding="same", **kwargs):
        super().__init__(**kwargs)
        self.filters, self.kernel_size = filters, kernel_size
        self.strides, self.padding = strides, padding

    def build(self, input_shape):
        shape = (self.kernel_size, self.kernel_size, input_shape[-1], self.filters)
        self.kernel = self.add_weight(shape=shape, initializer="glorot_uniform",
                                      name="kernel")
        self.bias = self.add_weight(shape=(self.filters,), initializer="zeros",
                                    name="bias")
        self.u = self.add_weight(shape=(1, self.filters),
                                 initializer=keras.initializers.RandomNormal(seed=0),
                                 trainable=False, aggregation="only_first_replica",
                                 name="power_iteration_u")

    def normalized_kernel(self, training=False):
        matrix = ops.reshape(self.kernel, (-1, self.filters))
        v = ops.stop_gradient(_l2_normalize(ops.matmul(self.u, ops.transpose(matrix))))
        u = ops.stop_gradient(_l2_normalize(ops.matmul(v, matrix)))
        sigma = ops.sum(ops.matmul(v, matrix) * u)
        if training:
            self.u.assign(u)
        return self.kernel / sigma

    def call(self, inputs, training=False):
        kernel = self.normalized_kernel(training)
        return ops.conv(inputs, kernel, strides=self.strides,
                        padding=self.padding) + self.bias

    def get_config(self):
        return {**super().get_config(), "filters": self.filters,
                "kernel_size": self.kernel_size, "strides": self.strides,
                "padding": self.padding}


def _l2_normalize(x):
    return x / ops.sqrt(ops.sum(ops.square(x)) + 1e-12)


def _conv(filters, kernel_size, strides, spectral_norm, name):
    if spectral_norm:
        return SpectralConv2D(filters, kernel_size, strides, name=name)
    return layers.Conv2D(filters, kernel_size, strides=strides, padding="same",
                         name=name)


def _patch_logits(image, code, hp, spectral_norm, prefix=""):
    """The PatchGAN on `image` [0, 1] -> logits [B, H / 2^n, W / 2^n, 1]."""
    # [0, 1] -> [-1, 1]: the first convolution sees zero-centred pixels.
    x = layers.Rescaling(2.0, offset=-1.0, name=f"{prefix}center")(image)
    for i in range(hp["downsamplings"]):
        x = _conv(hp["width"] * 2 ** i, 4, 2, spectral_norm, f"{prefix}conv{i}")(x)
        x = LeakyReLU(0.2, name=f"{prefix}conv{i}_lrelu")(x)
    x = _conv(hp["width"] * 2 ** hp["downsamplings"], 3, 1, spectral_norm,
              f"{prefix}features")(x)
    x = LeakyReLU(0.2, name=f"{prefix}features_lrelu")(x)
    return ProjectionLogits(dtype="float32", name=f"{prefix}logits")([x, code])


def _inputs(code_dim):
    return keras.Input((None, None, 3), name="image"), keras.Input((code_dim,),
                                                                   name="code")


def build_discriminator(variant_name="base", code_dim=64, name="discriminator",
                        spectral_norm=False):
    """Builds D as a functional Keras model: [image, code] -> patch logits.

    Images are [B, H, W, 3] in [0, 1]; codes [B, code_dim]; the output is float32
    logits [B, H / 2^n, W / 2^n, 1] (no sigmoid: losses are computed from logits).
    """
    image, code = _inputs(code_dim)
    logits = _patch_logits(image, code, variant(variant_name), spectral_norm)
    return keras.Model([image, code], logits, name=name)


def build_multiscale_discriminator(variant_name="base", code_dim=64, scales=3,
                                   spectral_norm=False, name="discriminator"):
    """One PatchGAN per scale s = 0..scales-1 on the image average-pooled by 2^s.

    Output: logits [B, H / 2^n, W / 2^n, scales], scale s's patch logits repeated
    2^s x 2^s times (nearest upsampling), so H and W must divide by 2^(n + scales - 1).
    """
    if scales < 1:
        raise ValueError(f"model.discriminator_scales must be >= 1, got {scales}.")
    hp = variant(variant_name)
    image, code = _inputs(code_dim)
    per_scale = []
    for scale in range(scales):
        factor = 2 ** scale
        scaled = (layers.AveragePooling2D(factor, name=f"scale{scale}_pool")(image)
                  if scale else image)
        logits = _patch_logits(scaled, code, hp, spectral_norm, f"scale{scale}_")
        if scale:
            logits = layers.UpSampling2D(factor, name=f"scale{scale}_repeat")(logits)
        per_scale.append(logits)
    logits = (layers.Concatenate(name="scales", dtype="float32")(per_scale)
              if scales > 1 else per_scale[0])
    return keras.Model([image, code], logits, name=name)


def build_vgg_discriminator(feature_extractor, layer, variant_name="base",
                            code_dim=64, spectral_norm=False, name="discriminator"):
    """Frozen VGG19 trunk (`feature_extractor`, ending at `layer`) + trainable head.

    The head normalises each position's VGG features over channels (VGG feature
    scales differ by weights and depth by orders of magnitude), then one stride-2
    and one stride-1 convolution and the projection logits. Gradients still flow
    through the frozen trunk to the image (G's adversarial gradient, R1).
    """
    hp = variant(variant_name)
    image, code = _inputs(code_dim)
    feature_extractor.trainable = False
    x = feature_extractor(image)[layer]
    x = layers.LayerNormalization(name="head_norm")(x)
    width = hp["width"] * 2 ** hp["downsamplings"]
    x = _conv(width, 4, 2, spectral_norm, "head_conv")(x)
    x = LeakyReLU(0.2, name="head_conv_lrelu")(x)
    x = _conv(width, 3, 1, spectral_norm, "features")(x)
    x = LeakyReLU(0.2, name="features_lrelu")(x)
    logits = ProjectionLogits(dtype="float32", name="logits")([x, code])
    return keras.Model([image, code], logits, name=name)


def build_from_config(model_config, vgg_config=None):
    """D of `model_config.discriminator_kind` (default "patch"); the vgg kind reads
    the VGG19 weights setting of `vgg_config` (config.vgg, as the perceptual losses)."""
    kind = model_config.discriminator_kind
    spectral_norm = model_config.spectral_norm
    size, code_dim = model_config.discriminator, model_config.code_dim
    if kind == "patch":
        return build_discriminator(size, code_dim, spectral_norm=spectral_norm)
    if kind == "multiscale":
        return build_multiscale_discriminator(
            size, code_dim, model_config.discriminator_scales, spectral_norm)
    if kind == "vgg":
        if vgg_config is None:
            raise ValueError("model.discriminator_kind='vgg' needs the VGG weights "
                             "setting: pass vgg_config=config.vgg.")
        layer = model_config.discriminator_vgg_layer
        trunk = vgg_lib.build_feature_extractor(
            (layer,), weights=vgg_config.weights,
            fallback_to_random=vgg_config.fallback_to_random, seed=vgg_config.seed)
        return build_vgg_discriminator(trunk, layer, size, code_dim, spectral_norm)
    raise ValueError(f"Unknown model.discriminator_kind {kind!r}; expected one of "
                     f"{KINDS}.")
