"""A run's checkpoints: what they hold, which one a run resumes from, saving, and
going back to the last good one after a divergence.

Checkpoints survive `kill -9` by construction of tf.train.CheckpointManager: TF
writes a checkpoint's files under `ckpt-N_temp/` and renames them into place, and
only then rewrites the `checkpoint` index file, atomically (write + rename). A kill at
any moment leaves the index listing complete checkpoints only; the restore
(storage.checkpoints, which painting uses too) also skips a listed checkpoint whose
files cannot be read (a damaged disk, a file cut short by a copy), falling back to the
one before it.
"""
import errno
import glob
import os
import shutil

import tensorflow as tf
from absl import logging

from storage import workdir as workdir_lib
from storage.checkpoints import restore_newest_readable
from training import strategy as strategy_lib


def checkpoint_items(models, step, balance, ema):
    """The objects a checkpoint holds, by name. Optional parts only when on, so runs
    from before they existed still resume."""
    items = {"generator": models.generator, "discriminator": models.discriminator,
             "bank": models.bank, "g_optimizer": models.g_optimizer,
             "d_optimizer": models.d_optimizer, "step": step}
    if balance.enabled:
        items["d_balance"] = balance.average
    if models.encoder is not None:
        items["encoder"] = models.encoder
    if ema:
        items.update(ema.checkpoint_items())
    return items


class RunCheckpoints:
    """The checkpoint of a run and its managers: `manager` saves (into the workdir on
    the chief, into a scratch folder elsewhere) and `source` is the chief's folder that
    every worker resumes from."""

    def __init__(self, items, workdir, strategy, keep):
        self.checkpoint = tf.train.Checkpoint(**items)
        directory = workdir_lib.checkpoint_dir(workdir)
        self.manager = strategy_lib.make_checkpoint_manager(self.checkpoint, directory,
                                                            strategy, keep)
        self.source = (self.manager if strategy_lib.is_chief(strategy) else
                       tf.train.CheckpointManager(self.checkpoint, directory,
                                                  max_to_keep=keep))

    def resume(self):
        """Restores the newest readable checkpoint; returns its path, or None."""
        return restore_newest_readable(self.checkpoint, self.source)

    def save(self, step):
        """Saves checkpoint `step`; on a full disk, removes what it wrote of it and
        raises DiskFull (the checkpoints before it are untouched: the index file
        lists a checkpoint only once all its files are in place)."""
        try:
            self.manager.save(checkpoint_number=step)
        except (OSError, tf.errors.OpError) as error:
            if not is_disk_full(error):
                raise
            _remove_partial_checkpoint(self.manager.directory, step)
            latest = self.manager.latest_checkpoint
            raise DiskFull(self.manager.directory, latest) from error

    def restore_after_divergence(self, models, step, factor, error):
        return restore_after_divergence(self.checkpoint, self.source, models, step,
                                        factor, error)


class DiskFull(OSError):
    """No space left to save a checkpoint; says which checkpoint is the last whole
    one."""

    def __init__(self, checkpoint_dir, latest):
        workdir = os.path.dirname(os.path.normpath(checkpoint_dir))
        last = (f"the last complete checkpoint is step {latest.rsplit('-', 1)[1]}"
                if latest else "there is no complete checkpoint yet")
        super().__init__(errno.ENOSPC, f"No space left on the device holding "
                                       f"{workdir}; {last}. Free some space and run "
                                       f"the same command to resume.")

    def __str__(self):
        return self.strerror


def is_disk_full(error):
    """Whether an OSError or a TensorFlow file error means a full disk or quota."""
    if isinstance(error, OSError):
        return error.errno in (errno.ENOSPC, errno.EDQUOT)
    return ("No space left on device" in str(error)
            or "Disk quota exceeded" in str(error))


def _remove_partial_checkpoint(directory, step):
    """Frees what a failed save of checkpoint `step` wrote (its files are not in the
    index, so nothing reads them)."""
    pattern = os.path.join(glob.escape(directory), f"ckpt-{step}")
    for path in glob.glob(pattern + ".*") + glob.glob(pattern + "_temp*"):
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.remove(path)


def restore_after_divergence(checkpoint, manager, models, step, factor, error):
    """Restores the last good checkpoint and multiplies both learning rates by
    `factor`; returns the step it restored. The lowered rates are optimizer state, so
    they are saved with the next checkpoints and kept by a resumed run."""
    variables = (models.generator.weights + models.discriminator.weights
                 + models.bank.weights)
    path = restore_newest_readable(checkpoint, manager, variables)
    if path is None:
        raise error
    rates = []
    for optimizer in (models.g_optimizer, models.d_optimizer):
        old = float(optimizer.learning_rate)
        optimizer.learning_rate.assign(old * factor)
        rates.append(f"{old:.3g} -> {old * factor:.3g}")
    logging.warning("%s Restored %s (step %d) and lowered the learning rates: G %s, "
                    "D %s.", error, path, int(step), *rates)
    return int(step)
