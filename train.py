r"""Trains a StyleFusion-GAN run.

    python train.py --config=experiments/quickstart.py --workdir=runs/quickstart
    python train.py --config=experiments/quickstart.py --workdir=runs/q \
        --config.optim.g_lr=2e-4 --config.train.num_steps=500
    python train.py --config=experiments/quickstart.py --dry_run

Running again with the same --workdir resumes from its newest checkpoint.

Exit codes: 0 the run finished (and exported); 1 it failed (bad data, a workdir in
use or of another run, a full disk, divergence), one sentence on stderr (--verbose
adds the traceback); 2 the command line is wrong (a flag, a config key or value);
143 stopped by SIGTERM and 130 by Ctrl-C (SIGINT), after saving a checkpoint.
"""
import re

import environment  # noqa: E402,F401  (first: TensorFlow's logging set-up)

from absl import app, flags  # noqa: E402
from ml_collections import config_flags  # noqa: E402

import command_line  # noqa: E402
from command_line import RUN_ERROR, USAGE_ERROR, fail  # noqa: E402

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Experiment config file, e.g. experiments/quickstart.py "
    "(append :test for its few-step variant).", lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory: checkpoints, "
                               "TensorBoard events, samples, export.")
_DRY_RUN = flags.DEFINE_bool("dry_run", False,
                             "Print the resolved config and exit.")
_VERBOSE = flags.DEFINE_bool("verbose", False,
                             "On an error, print its traceback after the sentence.")
flags.mark_flag_as_required("config")

def parse_flags(argv):
    """absl's parser, with one sentence on stderr (and exit code 2) for a flag error
    instead of absl's usage text, and for an override of a config key that does not
    exist instead of ml_collections' chained AttributeErrors (keeping its "Did you
    mean" suggestion)."""
    try:
        return command_line.parse_flags(argv, "train.py")
    except (AttributeError, KeyError) as error:
        fail(unknown_key_sentence(str(error), argv[1:]) or str(error), USAGE_ERROR)


def unknown_key_sentence(error_text, arguments):
    """The sentence for ml_collections' error on an unknown config key, e.g.
    '\\'num_step\\'\\nDid you mean "num_steps" instead of "num_step"?', or None
    when the error names no --config.<key> override in `arguments`."""
    text = error_text.encode().decode("unicode_escape")
    missing = re.search(r"'([^'\s]+)'", text)
    if missing is None:
        return None
    override = next((arg for arg in arguments if arg.startswith("--config.")
                     and missing.group(1) in arg.split("=", 1)[0].split(".")), None)
    if override is None:
        return None
    path = override.split("=", 1)[0][len("--config."):]
    parent = path.rsplit(".", 1)[0] if "." in path else ""
    suggestion = re.search(r'Did you mean "([^"]+)"', text)
    hint = (f"did you mean {(parent + '.' if parent else '') + suggestion.group(1)!r}? "
            if suggestion else "")
    return (f"unknown config key {path!r} in {override}; {hint}see the keys of "
            f"{parent or 'the config'} with --dry_run.")


def main(argv):
    if len(argv) > 1:
        fail(f"unexpected arguments {argv[1:]}; every setting is a --flag.",
             USAGE_ERROR)
    config = _CONFIG.value
    # Imported here so --help answers without loading TensorFlow.
    from storage import workdir as workdir_lib
    from training import config_check, loop
    if _DRY_RUN.value:
        try:
            config_check.validate(config)
        except ValueError as error:
            fail(str(error), USAGE_ERROR)
        print(config)
        return 0
    if not _WORKDIR.value:
        fail("--workdir is required (except with --dry_run).", USAGE_ERROR)
    try:
        loop.train_and_evaluate(config, _WORKDIR.value)
    except loop.StoppedBySignal as stop:
        return stop.exit_code  # logged by the loop
    except ValueError as error:
        # Config errors are raised before the strategy exists and anything is built.
        fail(error, USAGE_ERROR if str(error).startswith("Invalid config:")
             else RUN_ERROR, _VERBOSE.value)
    except (OSError, FloatingPointError, workdir_lib.WorkdirInUse) as error:
        fail(error, RUN_ERROR, _VERBOSE.value)
    return 0


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
