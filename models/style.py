"""Style codes: the bank of learned codes, the style encoder, and fusion in code space.

Every style lives in one shared code space. Fusing styles is done on codes only
(one mechanism, many controls): the generator never knows whether the code
it gets is one painting's, the encoder's reading of an unseen painting, or a blend.

The keep flag (model.keep_flag): the code's last coordinate says "this is the
content's own code". Every style code has it at 0 -- bank codes (a constraint after
each update) and the encoder's codes of style images (its last layer) alike -- and
only content_code() sets it (to KEEP_FLAG_ON). Strength a mixes a style code with the
content's own code, so the flag is (1 - a) KEEP_FLAG_ON: the keep gate G reads from
it is driven by the strength, not inferred from what the image looks like. Without the flag the gate can
only guess from the encoder's reading of an image, and an unseen painting that reads
like a photo (or a photo given as a style) opens it and comes back unpainted.
Bank and encoder codes of styles share the other coordinates, so fusing a bank style
with an uploaded painting is still a convex mix of two style codes (flag 0).
"""
import dataclasses

import keras
import numpy as np
from keras import layers, ops

from models import vgg as vgg_lib

# The keep flag of the content's own code. Larger than one code unit: G's code MLP
# reads it beside the code_dim - 1 style coordinates (each about N(0, 1)), and at 1
# the keep gate had not told the content's code from a style's after 300 steps.
KEEP_FLAG_ON = 4.0


@keras.saving.register_keras_serializable(package="stylefusion")
class StyleBank(layers.Layer):
    """One learned code per trained style: style ids [B] -> codes [B, code_dim].

    Codes start as N(0, 1) draws so distinct styles are distinct from step 0; they are
    trained with the generator.
    """

    def __init__(self, num_styles, code_dim, keep_flag=False, **kwargs):
        # float32 codes under any precision policy, as the encoder's: codes are mixed
        # and compared across the two, and a lookup costs nothing to keep exact.
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.num_styles = num_styles
        self.code_dim = code_dim
        self.keep_flag = keep_flag
        self.codes = self.add_weight(
            shape=(num_styles, code_dim), name="codes",
            initializer=keras.initializers.RandomNormal(stddev=1.0),
            constraint=ZeroKeepFlagConstraint() if keep_flag else None)
        if keep_flag:
            self.codes.assign(with_keep_flag(self.codes, 0.0))

    def call(self, style_ids):
        return ops.take(self.codes, ops.cast(style_ids, "int32"), axis=0)

    def get_config(self):
        return {**super().get_config(), "num_styles": self.num_styles,
                "code_dim": self.code_dim, "keep_flag": self.keep_flag}


def with_keep_flag(codes, value):
    """Codes [..., D] with the last coordinate (the keep flag) set to `value`."""
    codes = ops.convert_to_tensor(codes, "float32")
    return ops.concatenate(
        [codes[..., :-1], ops.full(ops.shape(codes[..., -1:]), value, "float32")], axis=-1)


@keras.saving.register_keras_serializable(package="stylefusion")
class ZeroKeepFlagConstraint(keras.constraints.Constraint):
    """Keeps a bank's keep flags at 0 after every optimizer update: a bank code is a
    style's code, never the content's own."""

    def __call__(self, codes):
        return with_keep_flag(codes, 0.0)


@keras.saving.register_keras_serializable(package="stylefusion")
class ZeroKeepFlag(layers.Layer):
    """The encoder's last layer with model.keep_flag: the code of any image given as a
    style has keep flag 0 (content_code() makes the content's own code)."""

    def call(self, codes):
        return with_keep_flag(codes, 0.0)


def has_keep_flag(encoder):
    """Whether a (loaded) encoder model writes the keep flag (model.keep_flag)."""
    return any(isinstance(layer, ZeroKeepFlag) for layer in encoder.layers)


def content_code(encoder, codes):
    """The content's own code from the encoder's codes of the content image: the keep
    flag set to 1 when the encoder has one (models trained without it infer the gate
    from the code, and get the codes unchanged)."""
    return with_keep_flag(codes, KEEP_FLAG_ON) if has_keep_flag(encoder) else codes


def validate_weights(weights, num_codes):
    """Checks fusion weights and returns them normalised to sum to 1 (float32).

    Weights must be finite, non-negative, not all zero, one per code. They are divided
    by their sum, so (3, 1) means (0.75, 0.25): first by their largest, so any finite
    weights normalise, (1e308, 1e308) to (0.5, 0.5) rather than overflowing the sum.
    """
    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape != (num_codes,):
        raise ValueError(
            f"Expected {num_codes} fusion weights (one per style), got shape "
            f"{weights.shape}.")
    if not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise ValueError(
            f"Fusion weights must be finite and non-negative, got {weights.tolist()}.")
    if not np.any(weights > 0):
        raise ValueError("Fusion weights are all zero; give at least one style a "
                         "positive weight.")
    weights = weights / weights.max()  # in [0, 1]: the sum is at most num_codes
    return (weights / weights.sum()).astype(np.float32)


def mix(codes, weights):
    """Convex combination of codes: sum_k w_k c_k. Every fusion of codes is this.

    Args:
      codes: [..., K, D] codes of K styles (numpy or tensor).
      weights: [..., K] weights, one per code; leading axes broadcast against the
        codes' (weights [h, w, K] with codes [K, D] give a code map [h, w, D]).
        Validate user weights with validate_weights first.
    Returns:
      [..., D] float32 tensor.
    """
    return ops.einsum("...k,...kd->...d", ops.cast(weights, "float32"),
                      ops.cast(codes, "float32"))


@keras.saving.register_keras_serializable(package="stylefusion")
class ChannelStatistics(layers.Layer):
    """Features [B, H, W, C] -> [B, 2C]: log(1 + mean) and log(1 + std) per channel.

    Means and stds over space are the AdaIN view of style (Huang & Belongie 2017) and do
    not depend on the image size. VGG features are ReLU outputs (>= 0) whose scale spans
    orders of magnitude (random weights: up to ~1e3), so log1p keeps the MLP's inputs
    near unit scale whatever the weights.
    """

    def call(self, features):
        mean, variance = ops.moments(features, axes=[1, 2])
        std = ops.sqrt(variance + 1e-5)
        return ops.concatenate([ops.log1p(ops.relu(mean)), ops.log1p(std)], axis=-1)

    def compute_output_shape(self, features_shape):
        return (features_shape[0], 2 * features_shape[-1])


@keras.saving.register_keras_serializable(package="stylefusion")
class ProjectedCovariance(layers.Layer):
    """Features [B, H, W, C] -> [B, r(r+1)/2]: the covariance over space of a learned
    projection of the C channels to r, its upper triangle in signed log1p.

    Channel means and stds cannot tell two styles apart whose channels have the same
    statistics but fire together differently (the same colours in separate flat planes
    or mixed in every stroke); the Gram distance styles are judged by measures
    exactly that co-occurrence. The full C x C covariance is too large an input (32k
    numbers at block3), so a learned projection picks r directions whose covariance
    the encoder reads (compact bilinear pooling). Centred, because the means are
    already read by ChannelStatistics. Computed in float32: bfloat16 loses the
    difference of two large moments.
    """

    def __init__(self, rank, **kwargs):
        if rank < 1:
            raise ValueError(f"ProjectedCovariance needs a rank >= 1, got {rank}.")
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.rank = rank
        rows, columns = np.triu_indices(rank)
        self._upper = (rows * rank + columns).astype("int32")

    def build(self, features_shape):
        self.projection = self.add_weight(
            shape=(features_shape[-1], self.rank), name="projection",
            initializer="glorot_normal")

    def call(self, features):
        projected = ops.einsum("bhwc,cr->bhwr", features, self.projection)
        projected = projected - ops.mean(projected, axis=[1, 2], keepdims=True)
        pixels = ops.cast(ops.shape(features)[1] * ops.shape(features)[2], "float32")
        covariance = ops.einsum("bhwi,bhwj->bij", projected, projected) / pixels
        upper = ops.take(ops.reshape(covariance, (-1, self.rank * self.rank)),
                         self._upper, axis=1)
        return ops.sign(upper) * ops.log1p(ops.abs(upper))

    def compute_output_shape(self, features_shape):
        return (features_shape[0], len(self._upper))

    def get_config(self):
        return {**super().get_config(), "rank": self.rank}


@keras.saving.register_keras_serializable(package="stylefusion")
class StandardiseKeepingMoments(layers.Layer):
    """Vectors [B, N] -> [B, N + 2]: each standardised over its N entries, followed by
    the mean and std it was standardised by.

    Standardising an image's statistics vector (layer normalisation) keeps the MLP's
    inputs at unit scale, but it also removes the vector's overall level and spread:
    two images whose log-statistics differ by a common shift and scale (a uniformly
    stronger or higher-contrast response across channels) become the same input.
    Passing the two moments on keeps that difference readable. Computed in float32.
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)

    def call(self, vectors):
        mean, variance = ops.moments(vectors, axes=[-1], keepdims=True)
        std = ops.sqrt(variance + 1e-5)
        return ops.concatenate([(vectors - mean) / std, mean, std], axis=-1)

    def compute_output_shape(self, vectors_shape):
        return (vectors_shape[0], vectors_shape[-1] + 2)


# How the encoder's statistics vector is normalised before its MLP.
_NORMALISERS = {"layer": layers.LayerNormalization,
                "layer_and_moments": StandardiseKeepingMoments,
                "none": layers.Identity}
NORMALISATIONS = tuple(_NORMALISERS)


class _EncoderHead:
    """The style encoder's layers after VGG: per-layer statistics -> MLP -> code.

    Created once and applied twice, to the encoder's own VGG features and to
    features given as inputs, so the two models share every weight.
    """

    def __init__(self, vgg_layers, code_dim, mlp_width, keep_flag=False,
                 covariance_rank=0, normalisation="layer"):
        self.statistics = {layer: ChannelStatistics(name=f"statistics_{layer}")
                           for layer in vgg_layers}
        self.covariances = {
            layer: ProjectedCovariance(covariance_rank, name=f"covariance_{layer}")
            for layer in vgg_layers} if covariance_rank else {}
        self.concatenate = layers.Concatenate(name="statistics")
        if normalisation not in NORMALISATIONS:
            raise ValueError(f"Unknown encoder normalisation {normalisation!r}; "
                             f"expected one of {NORMALISATIONS}.")
        self.normalise = _NORMALISERS[normalisation](name="normalise_statistics")
        self.hidden = layers.Dense(mlp_width, activation="leaky_relu",
                                   name="encoder_hidden")
        # Codes are float32 under any precision policy, as the bank's are: they are
        # mixed with bank codes and compared with them (the pull to the bank).
        self.code = layers.Dense(code_dim, name="encoder_code", dtype="float32")
        self.keep_flag = (ZeroKeepFlag(name="zero_keep_flag", dtype="float32")
                          if keep_flag else None)

    def __call__(self, features):
        x = self.concatenate(
            [statistics(features[layer]) for layer, statistics in self.statistics.items()]
            + [covariance(features[layer])
               for layer, covariance in self.covariances.items()])
        code = self.code(self.hidden(self.normalise(x)))
        return code if self.keep_flag is None else self.keep_flag(code)


@dataclasses.dataclass
class StyleEncoder:
    """A style encoder as two models sharing their weights.

    model: images [B, H, W, 3] in [0, 1] -> codes [B, code_dim]; the one saved,
      exported and checkpointed.
    head: {VGG layer: features} -> the same codes, for features computed elsewhere
      (the training step's VGG pass), so style images go through VGG once.
    vgg_layers: the VGG layers the head reads, sorted.
    """
    model: keras.Model
    head: keras.Model
    vgg_layers: tuple


def build_style_encoder(feature_extractor, code_dim, mlp_width=128,
                        name="style_encoder", keep_flag=False, covariance_rank=0,
                        normalisation="layer"):
    """Style encoder E: images -> codes, as a StyleEncoder (model and head).

    Statistics of frozen VGG features -> a two-layer MLP, so any image (a painting
    never trained on, or the content photo itself, for `strength`) gets a code in the
    bank's space. Training pulls E(style image) toward the bank code of its style.

    The hidden layer is leaky: every image's log-statistics share a large positive
    part (about 3 of 0-6 per feature), so with ReLU on the raw vector one Adam step at
    1e-3 moves every hidden unit's input the same way for every image, the units die
    within a few steps and every image gets the same code. By default the statistics
    are also layer-normalised, which removes that shared part but also each image's
    overall level and spread (`normalisation`).

    Args:
      feature_extractor: a frozen models.vgg feature model (dict of layer outputs);
        every one of its outputs is read.
      code_dim: length of a style code (the bank's).
      mlp_width: hidden width of the MLP.
      keep_flag: the codes' last coordinate is the keep flag, 0 for every image
        (module docstring).
      covariance_rank: > 0 also reads each layer's ProjectedCovariance of this rank
        (cross-channel statistics); 0 reads channel statistics only.
      normalisation: "layer" standardises the statistics vector of each image;
        "layer_and_moments" also passes on the mean and std it removes
        (StandardiseKeepingMoments); "none" gives the MLP the raw log-statistics.
    """
    vgg_layers = tuple(sorted(feature_extractor.output))
    head_layers = _EncoderHead(vgg_layers, code_dim, mlp_width, keep_flag,
                               covariance_rank, normalisation)
    images = keras.Input((None, None, 3), name="style_image")
    model = keras.Model(images, head_layers(feature_extractor(images)), name=name)
    features = {layer: keras.Input((None, None, output.shape[-1]), name=layer)
                for layer, output in sorted(feature_extractor.output.items())}
    head = keras.Model(features, head_layers(features), name=f"{name}_head")
    return StyleEncoder(model, head, vgg_layers)


def encoder_from_config(model_config, vgg_config):
    """The StyleEncoder of `model_config`, reading VGG features of `vgg_config`."""
    if vgg_config is None:
        raise ValueError("config.model.encoder is on but no config.vgg was given; "
                         "pass vgg_config=config.vgg.")
    features = vgg_lib.build_feature_extractor(
        model_config.encoder_layers, weights=vgg_config.weights,
        fallback_to_random=vgg_config.fallback_to_random, seed=vgg_config.seed)
    return build_style_encoder(features, model_config.code_dim,
                               model_config.encoder_mlp_width,
                               keep_flag=model_config.get("keep_flag", False),
                               covariance_rank=model_config.get(
                                   "encoder_covariance_rank", 0),
                               normalisation=model_config.get(
                                   "encoder_normalisation", "layer"))
