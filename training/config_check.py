"""Refuses a bad config before anything is built: one sentence per problem.

ml_collections already refuses an override of an unknown key and a value that does not
parse as the field's type (`--config.train.num_steps=abc`); this module covers what it
lets through: keys misspelt inside an experiment file (a ConfigDict accepts new keys
there), values of the wrong type set from Python, and values of the right type that
cannot work (negative weights, an image size G's stride does not divide, ...).
"""
import math
import os

from absl import logging

from experiments import common


def validate(config, num_replicas=None):
    """Raises ValueError listing every problem of `config`, one sentence each.

    Args:
      config: a full experiment ConfigDict (experiments/common.py base_config and
        changes).
      num_replicas: replicas of the strategy, when known: train.batch_size must divide
        by it.
    """
    problems = structure_problems(config, common.base_config())
    if not problems:  # value checks assume the structure and types are right
        problems = value_problems(config, num_replicas)
    if problems:
        raise ValueError("Invalid config:\n" + "\n".join(f"- {p}" for p in problems))
    if config.train.pretrain_steps >= config.train.num_steps:
        # Not an error: a run may be trained in chunks, raising num_steps each time.
        logging.warning(
            "train.pretrain_steps (%d) >= train.num_steps (%d): this run trains G with "
            "the perceptual losses only and never trains D.",
            config.train.pretrain_steps, config.train.num_steps)


def _type_name(value):
    return "a list of strings" if isinstance(value, (list, tuple)) else type(value).__name__


def _same_type(value, default):
    if default is None:  # a field whose default is "unset" takes any type
        return True
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float))
    if isinstance(default, (list, tuple)):
        return (isinstance(value, (list, tuple))
                and all(isinstance(item, str) for item in value))
    return isinstance(value, type(default))


def structure_problems(config, reference, prefix=""):
    """Unknown keys and values whose type differs from the defaults in `reference`."""
    problems = []
    for key, value in config.items():
        name = prefix + key
        if key not in reference:
            known = ", ".join(sorted(reference.keys()))
            problems.append(f"Unknown config key {name!r}; expected one of: {known}.")
        elif hasattr(reference[key], "items"):
            if hasattr(value, "items"):
                problems += structure_problems(value, reference[key], name + ".")
            else:
                problems.append(f"{name} = {value!r} should be a group of settings.")
        elif not _same_type(value, reference[key]):
            problems.append(f"{name} = {value!r} has the wrong type; expected "
                            f"{_type_name(reference[key])} like {reference[key]!r}.")
    return problems


def value_problems(config, num_replicas=None):
    """Values of the right type that cannot work."""
    # Imported here: they load TensorFlow, which the structure check does not need.
    from losses import adversarial
    from models import discriminator, generator, vgg
    from training import precision, strategy

    problems = []

    def require(ok, key, value, expected):
        if not ok:
            problems.append(f"{key} = {value!r} is invalid; expected {expected}.")

    def choice(key, value, options):
        require(value in options, key, value, "one of " + ", ".join(map(repr, options)))

    def at_least(key, value, minimum):
        require(value >= minimum, key, value, f"an integer >= {minimum}")

    def weight(key, value):
        require(math.isfinite(value) and value >= 0, key, value,
                "a finite number >= 0")

    def probability(key, value):
        require(0.0 <= value <= 1.0, key, value, "a probability in [0, 1]")

    def layers(key, value):
        unknown = [name for name in value if name not in vgg.LAYER_NAMES]
        require(value and not unknown, key, value,
                "a non-empty list of VGG19 layer names such as 'block1_conv1'")

    data, model, loss = config.data, config.model, config.loss
    optim, train = config.optim, config.train
    at_least("seed", config.seed, 0)
    require(data.image_size > 0 and data.image_size % generator.STRIDE == 0,
            "data.image_size", data.image_size,
            f"a positive multiple of {generator.STRIDE} (the generator's stride)")
    for key in ("content_resize", "style_resize"):
        value = data[key]
        require(value == 0 or value >= data.image_size, f"data.{key}", value,
                f"0 (= image_size) or at least data.image_size ({data.image_size})")
    if not data.demo and not data.get("tfrecords"):
        for key in ("content_dir", "style_dir"):
            require(bool(data[key]), f"data.{key}", data[key],
                    "a folder (or data.tfrecords, or data.demo=True for the built-in "
                    "demo data)")

    choice("model.generator", model.generator, tuple(generator.VARIANTS))
    choice("model.discriminator", model.discriminator, tuple(discriminator.VARIANTS))
    choice("model.discriminator_kind", model.discriminator_kind, discriminator.KINDS)
    if (model.discriminator_kind == "multiscale"
            and model.discriminator in discriminator.VARIANTS):
        at_least("model.discriminator_scales", model.discriminator_scales, 1)
        # Coarser scales' patch logits are repeated onto the finest scale's grid.
        divisor = 2 ** (discriminator.variant(model.discriminator)["downsamplings"]
                        + max(model.discriminator_scales, 1) - 1)
        require(data.image_size % divisor == 0, "data.image_size", data.image_size,
                f"a multiple of {divisor} for a {model.discriminator_scales}-scale "
                f"'{model.discriminator}' multiscale discriminator")
    at_least("model.code_dim", model.code_dim, 1)
    at_least("model.encoder_mlp_width", model.encoder_mlp_width, 1)
    layers("model.encoder_layers", model.encoder_layers)

    require(config.vgg.weights in ("imagenet", "random")
            or os.path.isfile(config.vgg.weights), "vgg.weights", config.vgg.weights,
            "'imagenet', 'random' or the path of an existing VGG19 weights file")
    layers("vgg.content_layers", config.vgg.content_layers)
    layers("vgg.style_layers", config.vgg.style_layers)

    choice("loss.adversarial", loss.adversarial, adversarial.KINDS)
    for key in ("adv_weight", "content_weight", "style_weight", "tv_weight",
                "r1_weight", "encoder_weight", "identity_weight",
                "keep_weight"):
        weight(f"loss.{key}", loss[key])
    for key in ("encoder_prob", "identity_prob", "mix_prob"):
        probability(f"loss.{key}", loss[key])

    for key in ("g_lr", "d_lr"):
        require(math.isfinite(optim[key]) and optim[key] > 0, f"optim.{key}",
                optim[key], "a finite learning rate > 0")
    for key in ("beta_1", "beta_2"):
        require(0.0 <= optim[key] < 1.0, f"optim.{key}", optim[key],
                "a number in [0, 1)")

    at_least("train.batch_size", train.batch_size, 1)
    if num_replicas and train.batch_size % num_replicas:
        problems.append(f"train.batch_size = {train.batch_size} is invalid; expected a "
                        f"multiple of the number of replicas ({num_replicas}).")
    at_least("train.num_steps", train.num_steps, 1)
    at_least("train.pretrain_steps", train.pretrain_steps, 0)
    for key in ("log_every", "image_every", "checkpoint_every", "keep_checkpoints",
                "sample_contents", "sample_styles", "max_restores",
                "collapse_patience"):
        at_least(f"train.{key}", train[key], 1)
    choice("train.on_nonfinite", train.on_nonfinite, ("stop", "restore"))
    require(0.0 < train.restore_lr_factor < 1.0, "train.restore_lr_factor",
            train.restore_lr_factor, "a factor in (0, 1) that lowers the learning rates")

    choice("train.precision", train.precision, precision.PRECISIONS)
    choice("strategy.name", config.strategy.name, strategy.STRATEGIES)
    at_least("strategy.cpu_devices", config.strategy.cpu_devices, 0)
    return problems
