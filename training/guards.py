"""Guards of a training run: which checkpoint to trust, what to do when the losses
stop being finite, when a GAN has collapsed, and bit-reproducible runs.

Checkpoints survive `kill -9` by construction of tf.train.CheckpointManager: TF
writes a checkpoint's files under `ckpt-N_temp/` and renames them into place, and
only then rewrites the `checkpoint` index file, atomically (write + rename). A kill at
any moment leaves the index listing complete checkpoints only; the restore below also
skips a listed checkpoint whose files cannot be read (a damaged disk, a file cut short
by a copy), falling back to the one before it.
"""
import glob
import math
import os

import keras
import tensorflow as tf
from absl import logging

# D separates real from fake "completely" when its mean probability on real images is
# above this and on fakes below 1 - this: G then gets almost no gradient from D.
SEPARATION_PROBABILITY = 0.99
# Outputs are "constant" when the mean per-image standard deviation of G's outputs
# (images in [0, 1]) is below this: a flat image, e.g. all black.
CONSTANT_OUTPUT_STD = 1e-3

# File-level damage: a truncated data file (IndexError "Read less bytes than
# requested"), a bad index (DataLossError), a missing file (NotFoundError).
_UNREADABLE_CHECKPOINT = (tf.errors.OpError, IndexError)


def restore_newest_readable(checkpoint, manager, finite_variables=()):
    """Restores the newest checkpoint of `manager` that reads back (and in which
    `finite_variables` hold no NaN or inf); returns its path, or None when there is
    none yet.

    Raises:
      ValueError: if a checkpoint does not match the models (written with another
        config), or if checkpoints exist but none can be read.
    """
    for path in reversed(_candidates(manager)):
        try:
            checkpoint.restore(path).assert_existing_objects_matched()
            if all_finite(finite_variables):
                return path
            # NaN gradients at a checkpoint step give finite losses but NaN weights.
            logging.warning("Skipping checkpoint %s: its weights are not finite; "
                            "trying the one before it.", path)
        except _UNREADABLE_CHECKPOINT as error:
            logging.warning("Skipping checkpoint %s: it cannot be read (%s: %s); "
                            "trying the one before it.", path, type(error).__name__,
                            _first_line(error))
        except (ValueError, AssertionError) as error:
            raise ValueError(
                f"Checkpoint {path} does not match the models of this config "
                f"({_first_line(error)}); it was written with a different config (see "
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


def _first_line(error):
    return str(error).strip().split("\n")[0][:300]


def nonfinite_terms(metrics):
    """The metrics (loss terms) whose value is NaN or infinite."""
    return {tag: value for tag, value in metrics.items() if not math.isfinite(value)}


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


class CollapseDetector:
    """Warns when, for `patience` consecutive logs, D separates real from fake
    completely or G's outputs are constant. Call update() at every log."""

    def __init__(self, patience, separation=SEPARATION_PROBABILITY,
                 constant_std=CONSTANT_OUTPUT_STD):
        self.patience, self.separation, self.constant_std = (
            patience, separation, constant_std)
        self.streaks = {"separated": 0, "constant": 0}

    def symptoms(self, metrics):
        """Which collapse symptoms the logged metrics show now."""
        found = set()
        real, fake = metrics.get("D/real_prob"), metrics.get("D/fake_prob")
        if (real is not None and fake is not None and real > self.separation
                and fake < 1.0 - self.separation):
            found.add("separated")
        std = metrics.get("G/output_std")
        if std is not None and std < self.constant_std:
            found.add("constant")
        return found

    def update(self, metrics, step):
        """Counts the symptoms; returns the warnings (and logs them) when a symptom
        has lasted exactly `patience` logs, then every `patience` logs after."""
        found = self.symptoms(metrics)
        warnings = []
        for name in self.streaks:
            self.streaks[name] = self.streaks[name] + 1 if name in found else 0
            if self.streaks[name] and self.streaks[name] % self.patience == 0:
                warnings.append(self._message(name, metrics, step))
        for message in warnings:
            logging.warning(message)
        return warnings

    def _message(self, name, metrics, step):
        logs = self.streaks[name]
        if name == "separated":
            return (f"Possible collapse at step {step}: D separates real from fake "
                    f"completely (D/real_prob {metrics['D/real_prob']:.4f} > "
                    f"{self.separation}, D/fake_prob {metrics['D/fake_prob']:.4f} < "
                    f"{1 - self.separation:.2g}) for {logs} logs; G gets little "
                    f"gradient from D: lower optim.d_lr or raise loss.r1_weight.")
        return (f"Possible collapse at step {step}: G's outputs are constant "
                f"(G/output_std {metrics['G/output_std']:.2g} < {self.constant_std}) "
                f"for {logs} logs; look at the samples and lower the learning rates.")


def make_deterministic(seed):
    """Seeds Python, NumPy and TF and makes TF ops deterministic: the same config then
    gives bit-identical weights (on the same machine and TF build)."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
