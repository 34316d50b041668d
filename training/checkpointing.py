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
import tensorflow as tf
from absl import logging

from storage import workdir as workdir_lib
from storage.checkpoints import restore_newest_readable
from training import strategy as strategy_lib


def has_checkpoint(workdir):
    return tf.train.latest_checkpoint(workdir_lib.checkpoint_dir(workdir)) is not None


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
        self.manager.save(checkpoint_number=step)

    def restore_after_divergence(self, models, step, factor, error):
        return restore_after_divergence(self.checkpoint, self.source, models, step,
                                        factor, error)


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
