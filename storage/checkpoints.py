"""The newest readable checkpoint of a folder: the one mechanism by which training
resumes and painting loads a run that has not finished.

A listed checkpoint whose files cannot be read (a damaged disk, a file cut short by a
copy) is skipped with a warning, and the one before it is used.
"""
import glob
import os

import tensorflow as tf
from absl import logging

from storage import workdir as workdir_lib

# File-level damage: a truncated data file (IndexError "Read less bytes than
# requested"), a bad index (DataLossError), a missing file (NotFoundError).
_UNREADABLE_CHECKPOINT = (tf.errors.OpError, IndexError)


def latest_checkpoint(workdir):
    """Path prefix of the newest checkpoint of a run's workdir, or None."""
    return tf.train.latest_checkpoint(workdir_lib.checkpoint_dir(workdir))


def restore_newest_readable(checkpoint, manager, finite_variables=(),
                            expect_partial=False):
    """Restores the newest checkpoint of `manager` that reads back (and in which
    `finite_variables` hold no NaN or inf); returns its path, or None when there is
    none yet.

    expect_partial: the checkpoint holds more than `checkpoint` tracks (a painter
      restores G and the bank, not D and the optimizers).

    Raises:
      ValueError: if a checkpoint does not match the models (written with another
        config), or if checkpoints exist but none can be read.
    """
    for path in reversed(_candidates(manager)):
        try:
            status = checkpoint.restore(path)
            if expect_partial:
                status.expect_partial()
            status.assert_existing_objects_matched()
            if all_finite(finite_variables):
                return path
            # NaN gradients at a checkpoint step give finite losses but NaN weights.
            logging.warning("Skipping checkpoint %s: its weights are not finite; "
                            "trying the one before it.", path)
        except _UNREADABLE_CHECKPOINT as error:
            logging.warning("Skipping checkpoint %s: it cannot be read (%s: %s); "
                            "trying the one before it.", path, type(error).__name__,
                            first_line(error))
        except (ValueError, AssertionError) as error:
            raise ValueError(
                f"Checkpoint {path} does not match the models of this config "
                f"({first_line(error)}); it was written with a different config (see "
                f"config.json in the workdir): use that config or a new workdir."
            ) from error
    if _candidates(manager):
        raise ValueError(
            f"None of the checkpoints in {manager.directory} is usable (see the "
            f"warnings above); move that folder away to start the run from scratch.")
    return None


def _candidates(manager):
    """The checkpoints of the manager's index file, oldest first; if it lists none
    (a missing or damaged index, which TF ignores with a warning), the checkpoints
    found in the folder, rather than silently starting again over them."""
    if manager.checkpoints:
        return list(manager.checkpoints)
    numbered = []
    for index_file in glob.glob(os.path.join(glob.escape(manager.directory),
                                             "*-*.index")):
        prefix = index_file[:-len(".index")]
        number = prefix.rsplit("-", 1)[1]
        if number.isdigit():
            numbered.append((int(number), prefix))
    if numbered:
        logging.warning("The index file of %s lists no checkpoint but %d are in the "
                        "folder: trying them, newest first.", manager.directory,
                        len(numbered))
    return [prefix for _, prefix in sorted(numbered)]


def all_finite(variables):
    return all(bool(tf.reduce_all(tf.math.is_finite(v))) for v in variables)


def first_line(error):
    return str(error).strip().split("\n")[0][:300]
