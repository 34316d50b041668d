"""Conditional generator G(x, c): a feed-forward style-transfer network whose
normalisation layers are conditioned on a style code.

Architecture after Johnson et al. (2016), "Perceptual losses for real-time style
transfer": a 9x9 stem, two stride-2 convolutions, residual blocks, and a decoder that
upsamples by nearest-neighbour resize + convolution (no transposed convolutions, so no
checkerboard artefacts, Odena et al. 2016). Every instance norm is a *conditional*
instance norm (Dumoulin et al. 2017) whose per-channel scale and shift come from the
style code through a small MLP, so one network paints every style and styles can be
fused by fusing codes.

Images are float32 RGB in [0, 1], inputs and outputs alike. The code input is a *code
map* of shape [B, h, w, code_dim]: a uniform style is a 1x1 map (broadcast over the
image), a spatially fused style is a map at any resolution (resized to each layer).
An optional third input, a *fine* code map, conditions the decoder (the upsampling
layers: colour and fine texture) while the code conditions the stem, the stride-2
layers and the residual blocks (structure): layer fusion. Without it, one code
conditions every layer, so `generator([image, code])` keeps working.

The last step blends the painting with the photo itself, per pixel, by a *keep* gate
the (fine) code sets: out = (1 - g) painted + g photo, g = clip(head(code), 0, 1).
Instance norm throws away each photo's own colour statistics, and a code (one vector
per style) cannot give them back, so without the gate no code makes G return its
input, not even the content's own code (strength 0). The gate's head starts
at zero (g = 0: the plain network at step 0). The image losses do not train it (they
would open it for every style: the photo itself lowers the content loss); the
training step does, through keep_gate(): 1 for the content's own code, 0 for a style's.
"""
import dataclasses

import keras
import tensorflow as tf
from keras import layers, ops

# name -> width of the first layer, residual blocks, hidden width of the code MLP.
VARIANTS = {
    "test": dict(width=8, residual_blocks=1, mlp_width=16),
    "small": dict(width=16, residual_blocks=3, mlp_width=64),
    "medium": dict(width=24, residual_blocks=3, mlp_width=128),
    "base": dict(width=32, residual_blocks=5, mlp_width=128),
}

# Two stride-2 convolutions: H and W must be divisible by this.
STRIDE = 4


def variant(name):
    """Returns the hyper-parameters of a named size variant."""
    if name not in VARIANTS:
        raise ValueError(
            f"Unknown generator variant {name!r}; expected one of {sorted(VARIANTS)}.")
    return VARIANTS[name]


@keras.saving.register_keras_serializable(package="stylefusion")
class ReflectionPad(layers.Layer):
    """Reflection padding: avoids the dark borders zero padding paints in."""

    def __init__(self, pad, **kwargs):
        super().__init__(**kwargs)
        self.pad = pad

    def call(self, x):
        p = self.pad
        return ops.pad(x, [[0, 0], [p, p], [p, p], [0, 0]], mode="reflect")

    def get_config(self):
        return {**super().get_config(), "pad": self.pad}


@keras.saving.register_keras_serializable(package="stylefusion")
class ConditionalInstanceNorm(layers.Layer):
    """Instance norm with a scale and shift given per example (or per pixel).

    Inputs: features [B, H, W, C] and modulation [B, h, w, 2C] holding (gamma, beta),
    with h = w = 1 (one style per image) or h, w = H, W (a style per pixel). Output:
    (x - mean) / std * (1 + gamma) + beta, folded into a single multiply-add over the
    feature map: the naive form (normalise, then scale, then shift) makes three passes
    over the largest tensor and is up to 2.8x slower on CPU.
    """

    def __init__(self, epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def call(self, inputs, statistics=None):
        """`statistics`: optional (mean, variance) [B, 1, 1, C] to normalise by instead
        of the input's own, e.g. a whole image's when painting it tile by tile."""
        x, modulation = inputs
        gamma, beta = ops.split(modulation, 2, axis=-1)
        if statistics is None:
            mean, variance = ops.moments(x, axes=[1, 2], keepdims=True)
        else:
            mean, variance = statistics
        scale = (1.0 + gamma) * ops.rsqrt(variance + self.epsilon)
        return x * scale + (beta - mean * scale)

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="stylefusion")
class ResizeCodeMap(layers.Layer):
    """Brings a code map to the spatial size of a feature map.

    A 1x1 map (one code per image) is returned as is and broadcasts for free; a
    spatial map is resized bilinearly, which keeps per-pixel codes convex mixes.
    """

    def call(self, inputs):
        code_map, features = inputs
        if code_map.shape[1] == 1 and code_map.shape[2] == 1:
            return code_map
        return tf.image.resize(code_map, tf.shape(features)[1:3], method="bilinear")

    def compute_output_shape(self, input_shapes):
        code_shape, features_shape = input_shapes
        return (code_shape[0], None, None, code_shape[-1])


@keras.saving.register_keras_serializable(package="stylefusion")
class SelectFineCode(layers.Layer):
    """The fine code map when one is given, else the (coarse) code map."""

    def call(self, code_map, fine_code_map=None):
        return code_map if fine_code_map is None else fine_code_map

    def compute_output_shape(self, code_map_shape, fine_code_map_shape=None):
        return code_map_shape


@keras.saving.register_keras_serializable(package="stylefusion")
class KeepPhoto(layers.Layer):
    """[painted, photo, gate] -> (1 - g) painted + g photo with g = clip(gate, 0, 1).

    The gate is [B, H, W, 1] or [B, 1, 1, 1]; the blend of two [0, 1] images stays in
    [0, 1]. No gradient reaches the gate from here: keep_gate() trains it.
    """

    def call(self, inputs):
        painted, photo, gate = inputs
        keep = ops.stop_gradient(ops.clip(ops.cast(gate, painted.dtype), 0.0, 1.0))
        return painted + keep * (ops.cast(photo, painted.dtype) - painted)


@keras.saving.register_keras_serializable(package="stylefusion")
class Generator(keras.Model):
    """The functional generator, callable as [image, code] or [image, code, fine_code].

    Keras checks a functional model's input count before its optional inputs are
    filled in, so a two-element call is completed with fine_code=None here.
    """

    def __call__(self, inputs, *args, **kwargs):
        if isinstance(inputs, (list, tuple)) and len(inputs) == 2:
            inputs = [inputs[0], inputs[1], None]
        return super().__call__(inputs, *args, **kwargs)


class _Modulation:
    """Code -> (gamma, beta) for each conditional norm: a shared hidden layer and a
    zero-initialised linear head per norm, so training starts from plain instance
    norm (gamma = beta = 0) for every code."""

    def __init__(self, mlp_width):
        self.hidden = layers.Dense(mlp_width, activation="relu", name="code_mlp")
        self.count = 0

    def __call__(self, features, code_map):
        self.count += 1
        channels = features.shape[-1]
        codes = ResizeCodeMap(name=f"code_resize_{self.count}")([code_map, features])
        head = layers.Dense(2 * channels, kernel_initializer="zeros",
                            name=f"code_to_norm_{self.count}")
        return head(self.hidden(codes))

    def keep_gate(self, image, code_map):
        """The code's keep gate [B, h, w, 1] (h, w = 1 or the image's), zero at init."""
        codes = ResizeCodeMap(name="code_resize_keep")([code_map, image])
        head = layers.Dense(1, kernel_initializer="zeros", name="code_to_keep")
        return head(self.hidden(codes))


def _conv(x, filters, kernel, stride=1, use_bias=True, name=None):
    x = ReflectionPad(kernel // 2, name=f"{name}_pad")(x)
    return layers.Conv2D(filters, kernel, strides=stride, padding="valid",
                         use_bias=use_bias, name=name)(x)


def _conv_norm(x, code_map, modulation, filters, kernel, stride=1, relu=True,
               name=None):
    # No bias: the instance norm subtracts it right away.
    x = _conv(x, filters, kernel, stride, use_bias=False, name=name)
    x = ConditionalInstanceNorm(name=f"{name}_norm")([x, modulation(x, code_map)])
    return layers.ReLU(name=f"{name}_relu")(x) if relu else x


def build_generator(variant_name="base", code_dim=64, name="generator"):
    """Builds G as a functional Keras model: [image, code_map(, fine_code_map)] -> image.

    Args:
      variant_name: a key of VARIANTS.
      code_dim: length of a style code.
    Returns:
      Generator taking images [B, H, W, 3] in [0, 1] (H, W divisible by STRIDE), code
      maps [B, h, w, code_dim] and optionally fine code maps of the same layout for the
      decoder layers, returning images [B, H, W, 3] in [0, 1].
    """
    hp = variant(variant_name)
    width = hp["width"]
    image = keras.Input((None, None, 3), name="image")
    code_map = keras.Input((None, None, code_dim), name="code")
    fine_code_input = keras.Input((None, None, code_dim), name="fine_code",
                                  optional=True)
    modulation = _Modulation(hp["mlp_width"])

    x = _conv_norm(image, code_map, modulation, width, 9, name="stem")
    x = _conv_norm(x, code_map, modulation, 2 * width, 3, stride=2, name="down1")
    x = _conv_norm(x, code_map, modulation, 4 * width, 3, stride=2, name="down2")
    for i in range(hp["residual_blocks"]):
        y = _conv_norm(x, code_map, modulation, 4 * width, 3, name=f"res{i}_a")
        y = _conv_norm(y, code_map, modulation, 4 * width, 3, relu=False,
                       name=f"res{i}_b")
        x = layers.Add(name=f"res{i}_add")([x, y])
    fine_code_map = SelectFineCode(name="fine_code_select")(code_map, fine_code_input)
    for i, filters in enumerate([2 * width, width], start=1):
        x = layers.UpSampling2D(2, interpolation="nearest", name=f"up{i}_resize")(x)
        x = _conv_norm(x, fine_code_map, modulation, filters, 3, name=f"up{i}")
    x = _conv(x, 3, 9, name="to_rgb")
    # Sigmoid and blend in float32 keep the [0, 1] output exact under mixed precision.
    painted = layers.Activation("sigmoid", dtype="float32", name="painted")(x)
    keep = modulation.keep_gate(image, fine_code_map)
    output = KeepPhoto(dtype="float32", name="output")([painted, image, keep])
    return Generator([image, code_map, fine_code_input], output, name=name)


@dataclasses.dataclass
class StatisticsModels:
    """G with the statistics of its conditional norms as explicit inputs.

    The same layers (and weights) as the generator, wired so that norm k normalises by
    given statistics (mean_k, variance_k) [B, 1, 1, C_k] instead of its input's own:
      features[k]: [image, code, fine_code, mean_0, variance_0, ..., mean_{k-1},
                    variance_{k-1}] -> the input features of norm k;
      output:      [image, code, fine_code, every norm's mean and variance] -> image.
    fine_code is required here: pass the code map again for no layer fusion.
    """
    norm_names: list
    features: list
    output: keras.Model


def build_statistics_models(generator):
    """StatisticsModels of a generator built by build_generator (or loaded)."""
    code_dim = generator.inputs[1].shape[-1]
    inputs = [keras.Input((None, None, 3), name="image"),
              keras.Input((None, None, code_dim), name="code"),
              keras.Input((None, None, code_dim), name="fine_code")]
    names, statistics, features = [], [], []

    def call(layer, *args, **kwargs):
        if not isinstance(layer, ConditionalInstanceNorm):
            return layer(*args, **kwargs)
        x = args[0][0]
        mean = keras.Input((1, 1, x.shape[-1]), name=f"{layer.name}_mean")
        variance = keras.Input((1, 1, x.shape[-1]), name=f"{layer.name}_variance")
        names.append(layer.name)
        features.append(x)
        statistics.append((mean, variance))
        return layer(*args, statistics=(mean, variance), **kwargs)

    # Private Keras API: the public walk, keras.models.clone_model, wraps its result
    # in a model with G's inputs only and refuses the new statistics inputs.
    output = generator._run_through_graph(inputs, operation_fn=lambda layer: layer,
                                          call_fn=call)

    def given(count):
        return inputs + [t for pair in statistics[:count] for t in pair]

    return StatisticsModels(
        names,
        [keras.Model(given(k), x, name=f"{names[k]}_input")
         for k, x in enumerate(features)],
        keras.Model(given(len(names)), output, name=f"{generator.name}_statistics"))


def receptive_radius(generator):
    """How far (in image pixels) an output pixel sees: the sum over convolutions of
    their half-width times their input's stride, along the longest (residual) path."""
    radius, stride = 0, 1.0
    for layer in generator.layers:
        if isinstance(layer, layers.Conv2D):
            radius += (layer.kernel_size[0] // 2) * stride
            stride *= layer.strides[0]
        elif isinstance(layer, layers.UpSampling2D):
            stride /= layer.size[0]
    return int(radius)


def keep_gate_model(generator):
    """G's keep-gate path as a model sharing G's layers: [image, code, fine_code] ->
    the gate before G clips it, [B, h, w, 1].

    Cut from G's graph at its KeepPhoto layer, so it also works on a loaded G.
    """
    keep_photo = next(layer for layer in generator.layers
                      if isinstance(layer, KeepPhoto))
    return keras.Model(generator.inputs, keep_photo.input[2],
                       name=f"{generator.name}_keep_gate")


def keep_gate(generator, codes):
    """The keep gate of codes [B, D] before G clips it to [0, 1]: [B] float32.

    The same layers as inside G, with a gradient. Training asks it to be >= 1 or
    <= 0 (a hinge on this raw value): a loss on the clipped gate would lose its
    gradient for good once a gate fell below 0.
    """
    code_map = as_code_map(codes)
    # The image only sizes a spatial code map; a 1x1 map is not resized.
    image = ops.zeros((ops.shape(codes)[0], 1, 1, 3))
    gate = keep_gate_model(generator)([image, code_map, code_map])
    return ops.cast(gate[:, 0, 0, 0], "float32")


def as_code_map(codes):
    """[B, D] codes -> [B, 1, 1, D] code maps (one uniform style per image)."""
    return ops.reshape(codes, (-1, 1, 1, codes.shape[-1]))
