"""Refuses a bad config before anything is built: one sentence per problem.

ml_collections already refuses an override of an unknown key and a value that does not
parse as the field's type (`--config.train.num_steps=abc`); this module covers what it
lets through: keys misspelt inside an experiment file (a ConfigDict accepts new keys
there), values of the wrong type set from Python, non-finite numbers (`=nan` parses
as a float), and values of the right type that cannot work (negative weights, an
image size G's stride does not divide, ...).

CHECKS names the check of every key of training/defaults.py base_config;
tests/test_config_check.py fails when a key has none, so a new setting cannot go
unchecked.
"""
import math
import os
import typing

from absl import logging

from data import split
from losses import adversarial
from models import discriminator, generator, precision, style, vgg
from training import defaults, strategy


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
    """Unknown and missing keys, values whose type differs from the defaults in
    `reference`, and non-finite numbers (no setting of a run takes nan or inf)."""
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
        elif isinstance(value, float) and not math.isfinite(value):
            problems.append(f"{name} = {value!r} is invalid; expected a finite number "
                            f"like {reference[key]!r}.")
    return problems


class Check(typing.NamedTuple):
    """A key's check: `ok(value, config)`, and what the key expects, for the sentence
    (a string, or `expected(value, config)` when it names other settings)."""
    ok: typing.Callable
    expected: typing.Union[str, typing.Callable]

    def sentence(self, key, value, config):
        if self.ok(value, config):
            return None
        expected = (self.expected(value, config) if callable(self.expected)
                    else self.expected)
        return f"{key} = {value!r} is invalid; expected {expected}."


def at_least(minimum):
    return Check(lambda value, config: value >= minimum, f"an integer >= {minimum}")


def choice(options):
    return Check(lambda value, config: value in options,
                 "one of " + ", ".join(map(repr, options)))


def share_without_bank_codes(kind):
    """A probability of style examples that have no bank code (`kind` styles), which
    only the end-to-end objective can train on."""
    return Check(
        lambda value, config: 0 <= value <= 1 and (value == 0 or config.loss.end_to_end),
        f"a probability in [0, 1], and 0 unless loss.end_to_end is on (a {kind} "
        "style has no bank code)")


def in_range(low, high, high_included, what):
    """low <= value < high (or <= high)."""
    return Check(lambda value, config: low <= value and (
        value <= high if high_included else value < high), what)


# The type check (structure_problems) is all a bool or a free name needs.
ANY_BOOL = Check(lambda value, config: True, "true or false")
WEIGHT = Check(lambda value, config: math.isfinite(value) and value >= 0,
               "a finite number >= 0")
PROBABILITY = in_range(0.0, 1.0, True, "a probability in [0, 1]")
LEARNING_RATE = Check(lambda value, config: math.isfinite(value) and value > 0,
                      "a finite learning rate > 0")
ADAM_BETA = in_range(0.0, 1.0, False, "a number in [0, 1)")
LAYERS = Check(lambda value, config: bool(value) and all(
    name in vgg.LAYER_NAMES for name in value),
    "a non-empty list of VGG19 layer names such as 'block1_conv1'")
LAYER = Check(lambda value, config: value in vgg.LAYER_NAMES,
              "a VGG19 layer name such as 'block3_conv1'")


def _path_text(value):
    """"" or text a path can hold: no control characters (a NUL or a newline is a
    quoting slip, and os functions refuse a NUL with a traceback)."""
    return not any(ord(character) < 32 for character in value)


PATH = Check(lambda value, config: _path_text(value),
             "'' or a path without control characters")


def _training_folder(value, config):
    return _path_text(value) and bool(value or config.data.demo or config.data.tfrecords)


TRAINING_FOLDER = Check(_training_folder, "a folder (or data.tfrecords, or "
                                          "data.demo=True for the built-in demo data)")
RESIZE = Check(lambda value, config: value == 0 or value >= config.data.image_size,
               lambda value, config: f"0 (= image_size) or at least data.image_size "
                                     f"({config.data.image_size})")


def _eval_folder_ok(value, config):
    if not _path_text(value):
        return False
    if config.eval.every <= 0:
        return True
    return os.path.isdir(value) if value else config.data.demo


def _eval_folder_expected(value, config):
    if not _path_text(value) or value:
        return "an existing folder of held-out photos"
    return ("a folder of held-out photos (none of them in data.content_dir) when "
            "eval.every > 0 without data.demo")


CHECKS = {
    "seed": at_least(0),
    "data.demo": ANY_BOOL,
    "data.content_dir": TRAINING_FOLDER,
    "data.style_dir": TRAINING_FOLDER,
    "data.tfrecords": PATH,
    "data.image_size": Check(
        lambda value, config: value > 0 and value % generator.STRIDE == 0,
        f"a positive multiple of {generator.STRIDE} (the generator's stride)"),
    "data.content_resize": RESIZE,
    "data.style_resize": RESIZE,
    "data.cache_styles": ANY_BOOL,
    "data.cache_contents_mb": at_least(0),
    "data.procedural_prob": share_without_bank_codes("procedural"),
    "data.recolour_prob": share_without_bank_codes("recoloured"),
    "data.style_zoom_min": Check(lambda value, config: 0 < value <= 4,
                                 "a zoom in (0, 4] such as 0.6"),
    "data.style_zoom_max": Check(
        lambda value, config: config.data.style_zoom_min <= value <= 4,
        lambda value, config: f"a zoom in [data.style_zoom_min "
                              f"({config.data.style_zoom_min}), 4]"),
    "data.zoom_single_paintings": ANY_BOOL,
    "data.exclude": Check(
        lambda value, config: split.exclude_problem(config.data) is None,
        lambda value, config: split.exclude_problem(config.data)),
    "model.generator": choice(tuple(generator.VARIANTS)),
    "model.discriminator": choice(tuple(discriminator.VARIANTS)),
    "model.discriminator_kind": choice(discriminator.KINDS),
    "model.discriminator_scales": at_least(1),
    "model.discriminator_vgg_layer": LAYER,
    "model.spectral_norm": ANY_BOOL,
    "model.code_dim": at_least(1),
    "model.encoder": ANY_BOOL,
    "model.encoder_layers": LAYERS,
    "model.encoder_mlp_width": at_least(1),
    "model.encoder_covariance_rank": at_least(0),
    "model.encoder_normalisation": choice(style.NORMALISATIONS),
    "model.keep_flag": Check(
        lambda value, config: not value or (config.model.encoder
                                            and config.model.code_dim >= 2),
        "false unless model.encoder is on and model.code_dim >= 2 (the flag is the "
        "code's last coordinate, for the content's own code)"),
    "vgg.weights": Check(
        lambda value, config: value in ("imagenet", "random") or os.path.isfile(value),
        "'imagenet', 'random' or the path of an existing VGG19 weights file"),
    "vgg.fallback_to_random": ANY_BOOL,
    "vgg.seed": at_least(0),
    "vgg.content_layers": LAYERS,
    "vgg.style_layers": LAYERS,
    "loss.adversarial": choice(adversarial.KINDS),
    **{f"loss.{key}": WEIGHT for key in (
        "adv_weight", "content_weight", "style_weight", "tv_weight", "r1_weight",
        "encoder_weight", "identity_weight", "keep_weight", "arbitrary_weight")},
    "loss.end_to_end": Check(
        lambda value, config: not value or config.model.encoder,
        "false unless model.encoder is on (it trains the encoder)"),
    **{f"loss.{key}": PROBABILITY for key in ("encoder_prob", "identity_prob",
                                              "mix_prob")},
    "loss.photo_style_prob": Check(
        lambda value, config: 0 <= value <= 1 and (value == 0 or config.loss.end_to_end),
        "a probability in [0, 1], and 0 unless loss.end_to_end is on (a photo given "
        "as a style has no bank code)"),
    **{f"loss.{key}": WEIGHT for key in ("temporal_weight", "temporal_shift",
                                         "temporal_rotation", "temporal_noise")},
    "loss.temporal_zoom": in_range(0.0, 1.0, False, "a zoom range in [0, 1)"),
    "optim.g_lr": LEARNING_RATE,
    "optim.d_lr": LEARNING_RATE,
    "optim.decay_steps": at_least(0),
    "optim.decay_to": Check(lambda value, config: 0.0 < value <= 1.0,
                            "a factor in (0, 1] such as 0.1"),
    "optim.beta_1": ADAM_BETA,
    "optim.beta_2": ADAM_BETA,
    "train.batch_size": at_least(1),
    "train.num_steps": at_least(1),
    "train.pretrain_steps": at_least(0),
    "train.init_generator": PATH,
    "train.ema_decay": in_range(0.0, 1.0, False,
                                "0 (off) or a decay in (0, 1) such as 0.999"),
    "train.d_skip_accuracy": in_range(0.0, 1.0, True,
                                      "0 (off) or an accuracy in (0, 1] such as 0.9"),
    "train.d_accuracy_decay": in_range(0.0, 1.0, False,
                                       "a decay in [0, 1) such as 0.9"),
    "train.jit_compile": ANY_BOOL,
    "train.precision": choice(precision.CHOICES),
    **{f"train.{key}": at_least(1) for key in (
        "log_every", "image_every", "checkpoint_every", "keep_checkpoints",
        "max_restores", "collapse_patience", "sample_contents", "sample_styles")},
    "train.on_nonfinite": choice(("stop", "restore")),
    "train.restore_lr_factor": Check(
        lambda value, config: 0.0 < value < 1.0,
        "a factor in (0, 1) that lowers the learning rates"),
    "train.deterministic": ANY_BOOL,
    "train.export_saved_model": ANY_BOOL,
    "eval.every": at_least(0),
    "eval.content_dir": Check(_eval_folder_ok, _eval_folder_expected),
    "eval.num_contents": at_least(1),
    "eval.crops_per_style": at_least(1),
    "eval.fusion_contents": at_least(1),
    "strategy.name": choice(strategy.STRATEGIES),
    "strategy.cpu_devices": at_least(0),
    # "local", a TPU's name or grpc://host:port: the TPU resolver judges the rest.
    "strategy.tpu_address": PATH,
}


def get(config, key):
    """The value of dotted `key` ("train.ema_decay") in `config`."""
    for part in key.split("."):
        config = config[part]
    return config


def value_problems(config, num_replicas=None):
    """Values of the right type that cannot work: every key's check in CHECKS, then
    the relations between keys."""
    problems = [sentence for key, check in CHECKS.items()
                if (sentence := check.sentence(key, get(config, key), config))]
    return problems + relation_problems(config, num_replicas)


def relation_problems(config, num_replicas=None):
    """What no single key's check sees: sizes that must divide by others."""
    problems = []
    image_size, model = config.data.image_size, config.model
    if (model.discriminator_kind == "multiscale"
            and model.discriminator in discriminator.VARIANTS
            and model.discriminator_scales >= 1 and image_size > 0):
        # Coarser scales' patch logits are repeated onto the finest scale's grid.
        divisor = 2 ** (discriminator.variant(model.discriminator)["downsamplings"]
                        + model.discriminator_scales - 1)
        if image_size % divisor:
            problems.append(
                f"data.image_size = {image_size} is invalid; expected a multiple of "
                f"{divisor} for a {model.discriminator_scales}-scale "
                f"'{model.discriminator}' multiscale discriminator.")
    batch_size = config.train.batch_size
    if num_replicas and batch_size % num_replicas:
        problems.append(f"train.batch_size = {batch_size} is invalid; expected a "
                        f"multiple of the number of replicas ({num_replicas}).")
    # SSIM's 11x11 windows must fit in the images.
    if config.eval.every > 0 and 0 < image_size < 16:
        problems.append(f"data.image_size = {image_size} is invalid; expected at least "
                        f"16 when eval.every > 0 (SSIM's 11-pixel windows).")
    return problems
