"""What the commands train.py, stylize.py and evaluate.py share: an error ends the
process with one sentence on stderr and an exit status a scheduler can trust."""
import sys
import traceback

from absl import flags

USAGE_ERROR = 2  # the command line is wrong: fix it and run again
RUN_ERROR = 1    # the work failed: its data, model, workdir or disk


def fail(error, status, verbose=False):
    """Ends the process with the error's sentence alone on stderr (after its
    traceback when `verbose`) and `status`."""
    if verbose:
        traceback.print_exc()
    message = str(error)
    if isinstance(error, OSError) and error.filename and error.strerror:
        message = f"{error.filename}: {error.strerror}."
    sys.stderr.write(f"{message}\n")
    sys.exit(status)


def parse_flags(argv, program):
    """absl's flag parsing, but a bad flag is one sentence and USAGE_ERROR instead of
    absl's usage text."""
    try:
        return flags.FLAGS(argv)
    except flags.Error as error:
        fail(f"{str(error).rstrip('.')} (see python {program} --helpshort).",
             USAGE_ERROR)
