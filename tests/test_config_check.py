"""Every key of the default config has a value check (training/config_check.py
CHECKS), and an absurd value of its type is refused with a sentence naming it."""
import math

import pytest

from experiments import quickstart
from tests.helpers import assert_refused_in_one_sentence, set_config_key
from training import config_check, defaults

NO_SUCH = "no\x00such"  # no choice, layer, path or folder is spelt like this


def flat_keys(config, prefix=""):
    keys = []
    for key, value in config.items():
        if hasattr(value, "items"):
            keys += flat_keys(value, f"{prefix}{key}.")
        else:
            keys.append(prefix + key)
    return keys


def _get(config, key):
    for part in key.split("."):
        config = config[part]
    return config




def absurd_values(default):
    """Values of the default's type no setting can take (none for a bool: its type
    check is all it needs)."""
    if isinstance(default, bool):
        return []
    if isinstance(default, int):
        return [-1]
    if isinstance(default, float):
        return [-1.0, math.nan, math.inf]
    if isinstance(default, str):
        return [NO_SUCH]
    return [(NO_SUCH,)]


def test_every_default_key_has_a_check_and_nothing_else_does():
    keys = flat_keys(defaults.base_config())
    unchecked = [key for key in keys if key not in config_check.CHECKS]
    assert not unchecked, f"keys of base_config without a check: {unchecked}"
    assert sorted(config_check.CHECKS) == sorted(keys)


def test_an_absurd_value_of_every_key_is_refused_naming_the_key():
    accepted = []
    for key in flat_keys(defaults.base_config()):
        for value in absurd_values(_get(defaults.base_config(), key)):
            config = quickstart.get_config("test")
            config.eval.every = 2  # the evaluation's keys are checked too
            set_config_key(config, key, value)
            try:
                config_check.validate(config)
                accepted.append(f"{key}={value!r}")
            except ValueError as error:
                problems = str(error).splitlines()[1:]
                if not any(p.startswith(f"- {key} = ") for p in problems):
                    accepted.append(f"{key}={value!r} (problems: {problems})")
    assert not accepted, f"absurd values accepted: {accepted}"


@pytest.mark.parametrize("key, value, message", [
    ("train.d_skip_accuracy", math.nan, "train.d_skip_accuracy = nan is invalid; "
                                        "expected a finite number like 0.0."),
    ("train.ema_decay", 5.0, "train.ema_decay = 5.0 is invalid; expected 0 (off) or a "
                             "decay in (0, 1) such as 0.999."),
    ("train.d_accuracy_decay", 1.0, "train.d_accuracy_decay = 1.0 is invalid"),
    ("train.d_skip_accuracy", 1.5, "train.d_skip_accuracy = 1.5 is invalid"),
    ("model.discriminator_vgg_layer", "block3", "model.discriminator_vgg_layer = "
                                                "'block3' is invalid; expected a VGG19 "
                                                "layer name"),
    ("optim.g_lr", math.inf, "optim.g_lr = inf is invalid; expected a finite number"),
    ("data.content_dir", "photos\n", "data.content_dir = 'photos\\n' is invalid"),
])
def test_values_the_old_check_let_through_are_refused_in_one_sentence(key, value,
                                                                      message):
    assert_refused_in_one_sentence(key, value, message)


def test_ema_and_the_balance_accept_their_working_values():
    config = quickstart.get_config("test")
    config.train.ema_decay, config.train.d_skip_accuracy = 0.999, 0.9
    config.train.d_accuracy_decay = 0.0
    config_check.validate(config)
