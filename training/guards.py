"""Guards of a training run: losses that stop being finite, a GAN that has
collapsed, and bit-reproducible runs. (Which checkpoint to trust is in
training/checkpointing.py.)
"""
import math

import keras
import tensorflow as tf
from absl import logging

# D separates real from fake "completely" when its mean probability on real images is
# above this and on fakes below 1 - this: G then gets almost no gradient from D.
SEPARATION_PROBABILITY = 0.99
# Outputs are "constant" when the mean per-image standard deviation of G's outputs
# (images in [0, 1]) is below this: a flat image, e.g. all black.
CONSTANT_OUTPUT_STD = 1e-3


def check_finite(metrics, step):
    """Stops the run at the first non-finite loss, naming the step and the term."""
    for tag, value in metrics.items():
        if not math.isfinite(value):
            raise FloatingPointError(
                f"Training diverged at step {step}: {tag} = {value}. Lower the "
                f"learning rates or the loss weights; the last good checkpoint is "
                f"kept in checkpoints/ (--config.train.on_nonfinite=restore goes "
                f"back to it by itself).")


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
