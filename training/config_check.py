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

from losses import adversarial
from models import discriminator, generator, vgg
from training import defaults, precision, strategy


def validate(config, num_replicas=None):
    """Raises ValueError listing every problem of `config`, one sentence each.

    Args:
      config: a full experiment ConfigDict (training/defaults.py base_config and
        changes).
      num_replicas: replicas of the strategy, when known: train.batch_size must divide
        by it.
    """
    problems = structure_problems(config, defaults.base_config())
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
    """Unknown and missing keys, and values whose type differs from the defaults in
    `reference`."""
    problems = [f"Missing config key {prefix + key!r}; expected every key of "
                f"training/defaults.py base_config (start experiments from it)."
                for key in reference.keys() if key not in config]
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


class _Problems(list):
    """The problems found so far, and the checks that add one sentence each."""

    def require(self, ok, key, value, expected):
        if not ok:
            self.append(f"{key} = {value!r} is invalid; expected {expected}.")

    def choice(self, key, value, options):
        self.require(value in options, key, value,
                     "one of " + ", ".join(map(repr, options)))

    def at_least(self, key, value, minimum):
        self.require(value >= minimum, key, value, f"an integer >= {minimum}")

    def weight(self, key, value):
        self.require(math.isfinite(value) and value >= 0, key, value,
                     "a finite number >= 0")

    def probability(self, key, value):
        self.require(0.0 <= value <= 1.0, key, value, "a probability in [0, 1]")

    def layers(self, key, value):
        unknown = [name for name in value if name not in vgg.LAYER_NAMES]
        self.require(value and not unknown, key, value,
                     "a non-empty list of VGG19 layer names such as 'block1_conv1'")


def value_problems(config, num_replicas=None):
    """Values of the right type that cannot work."""
    problems = _Problems()
    problems.at_least("seed", config.seed, 0)
    _data_problems(problems, config.data)
    _model_problems(problems, config.model, config.data.image_size)
    _vgg_problems(problems, config.vgg)
    _loss_problems(problems, config.loss)
    _optim_problems(problems, config.optim)
    _train_problems(problems, config.train, num_replicas)
    _eval_problems(problems, config.eval, config.data)
    problems.choice("strategy.name", config.strategy.name, strategy.STRATEGIES)
    problems.at_least("strategy.cpu_devices", config.strategy.cpu_devices, 0)
    return list(problems)


def _data_problems(problems, data):
    problems.require(data.image_size > 0 and data.image_size % generator.STRIDE == 0,
                     "data.image_size", data.image_size,
                     f"a positive multiple of {generator.STRIDE} (the generator's "
                     f"stride)")
    for key in ("content_resize", "style_resize"):
        value = data[key]
        problems.require(value == 0 or value >= data.image_size, f"data.{key}", value,
                         f"0 (= image_size) or at least data.image_size "
                         f"({data.image_size})")
    if not data.demo and not data.tfrecords:
        for key in ("content_dir", "style_dir"):
            problems.require(bool(data[key]), f"data.{key}", data[key],
                             "a folder (or data.tfrecords, or data.demo=True for the "
                             "built-in demo data)")


def _model_problems(problems, model, image_size):
    problems.choice("model.generator", model.generator, tuple(generator.VARIANTS))
    problems.choice("model.discriminator", model.discriminator,
                    tuple(discriminator.VARIANTS))
    problems.choice("model.discriminator_kind", model.discriminator_kind,
                    discriminator.KINDS)
    if (model.discriminator_kind == "multiscale"
            and model.discriminator in discriminator.VARIANTS):
        problems.at_least("model.discriminator_scales", model.discriminator_scales, 1)
        # Coarser scales' patch logits are repeated onto the finest scale's grid.
        divisor = 2 ** (discriminator.variant(model.discriminator)["downsamplings"]
                        + max(model.discriminator_scales, 1) - 1)
        problems.require(image_size % divisor == 0, "data.image_size", image_size,
                         f"a multiple of {divisor} for a {model.discriminator_scales}-"
                         f"scale '{model.discriminator}' multiscale discriminator")
    problems.at_least("model.code_dim", model.code_dim, 1)
    problems.at_least("model.encoder_mlp_width", model.encoder_mlp_width, 1)
    problems.layers("model.encoder_layers", model.encoder_layers)


def _vgg_problems(problems, vgg_config):
    problems.require(vgg_config.weights in ("imagenet", "random")
                     or os.path.isfile(vgg_config.weights), "vgg.weights",
                     vgg_config.weights,
                     "'imagenet', 'random' or the path of an existing VGG19 weights "
                     "file")
    problems.layers("vgg.content_layers", vgg_config.content_layers)
    problems.layers("vgg.style_layers", vgg_config.style_layers)


def _loss_problems(problems, loss):
    problems.choice("loss.adversarial", loss.adversarial, adversarial.KINDS)
    for key in ("adv_weight", "content_weight", "style_weight", "tv_weight",
                "r1_weight", "encoder_weight", "identity_weight", "keep_weight"):
        problems.weight(f"loss.{key}", loss[key])
    for key in ("encoder_prob", "identity_prob", "mix_prob"):
        problems.probability(f"loss.{key}", loss[key])


def _optim_problems(problems, optim):
    for key in ("g_lr", "d_lr"):
        problems.require(math.isfinite(optim[key]) and optim[key] > 0, f"optim.{key}",
                         optim[key], "a finite learning rate > 0")
    for key in ("beta_1", "beta_2"):
        problems.require(0.0 <= optim[key] < 1.0, f"optim.{key}", optim[key],
                         "a number in [0, 1)")


def _train_problems(problems, train, num_replicas):
    problems.at_least("train.batch_size", train.batch_size, 1)
    if num_replicas and train.batch_size % num_replicas:
        problems.append(f"train.batch_size = {train.batch_size} is invalid; expected a "
                        f"multiple of the number of replicas ({num_replicas}).")
    problems.at_least("train.num_steps", train.num_steps, 1)
    problems.at_least("train.pretrain_steps", train.pretrain_steps, 0)
    for key in ("log_every", "image_every", "checkpoint_every", "keep_checkpoints",
                "sample_contents", "sample_styles", "max_restores",
                "collapse_patience"):
        problems.at_least(f"train.{key}", train[key], 1)
    problems.choice("train.on_nonfinite", train.on_nonfinite, ("stop", "restore"))
    problems.require(0.0 < train.restore_lr_factor < 1.0, "train.restore_lr_factor",
                     train.restore_lr_factor,
                     "a factor in (0, 1) that lowers the learning rates")
    problems.choice("train.precision", train.precision, precision.PRECISIONS)


def _eval_problems(problems, eval_config, data):
    problems.at_least("eval.every", eval_config.every, 0)
    if eval_config.every <= 0:
        return
    problems.at_least("eval.num_contents", eval_config.num_contents, 1)
    problems.at_least("eval.crops_per_style", eval_config.crops_per_style, 1)
    problems.at_least("eval.fusion_contents", eval_config.fusion_contents, 1)
    # SSIM's 11x11 windows must fit in the images.
    problems.require(data.image_size >= 16, "data.image_size", data.image_size,
                     "at least 16 when eval.every > 0 (SSIM's 11-pixel windows)")
    if eval_config.content_dir:
        problems.require(os.path.isdir(eval_config.content_dir), "eval.content_dir",
                         eval_config.content_dir, "an existing folder of held-out "
                         "photos")
    elif not data.demo:
        problems.require(False, "eval.content_dir", eval_config.content_dir,
                         "a folder of held-out photos (none of them in "
                         "data.content_dir) when eval.every > 0 without data.demo")
