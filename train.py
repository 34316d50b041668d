r"""Trains a StyleFusion-GAN run.

    python train.py --config=experiments/quickstart.py --workdir=runs/quickstart
    python train.py --config=experiments/quickstart.py --workdir=runs/q \
        --config.optim.g_lr=2e-4 --config.train.num_steps=500
    python train.py --config=experiments/quickstart.py --dry_run

Running again with the same --workdir resumes from its newest checkpoint.
"""
import sys

import environment  # noqa: E402,F401  (first: TensorFlow's logging set-up)

from absl import app, flags  # noqa: E402
from ml_collections import config_flags  # noqa: E402

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Experiment config file, e.g. experiments/quickstart.py "
    "(append :test for its few-step variant).", lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory: checkpoints, "
                               "TensorBoard events, samples, export.")
_DRY_RUN = flags.DEFINE_bool("dry_run", False,
                             "Print the resolved config and exit.")
flags.mark_flag_as_required("config")


def parse_flags(argv):
    """absl's parser, with one sentence instead of the bare AttributeError that
    ml_collections raises for an override of a config key that does not exist."""
    try:
        return app.parse_flags_with_usage(argv)
    except AttributeError as error:
        missing = str(error).strip("\"'")
        override = next((arg for arg in argv[1:] if arg.startswith("--config.")
                         and missing in arg.split("=", 1)[0].split(".")), None)
        if override is None:
            raise
        path = override.split("=", 1)[0][len("--config."):]
        parent = path.rsplit(".", 1)[0] if "." in path else ""
        sys.stderr.write(f"FATAL Flags parsing error: unknown config key {path!r} in "
                         f"{override}; see the keys of {parent or 'the config'} with "
                         f"--dry_run.\n")
        sys.exit(1)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    config = _CONFIG.value
    # Imported here so --help answers without loading TensorFlow.
    from training import config_check, loop
    try:
        config_check.validate(config)
    except ValueError as error:
        sys.exit(str(error))  # the problems alone, without the flags' usage text
    if _DRY_RUN.value:
        print(config)
        return
    if not _WORKDIR.value:
        raise app.UsageError("--workdir is required (except with --dry_run).")
    loop.train_and_evaluate(config, _WORKDIR.value)


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
