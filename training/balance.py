"""Adaptive D/G balance: skip D's update while D wins too clearly.

The method warns that adversarial training is unstable; a common failure is a
discriminator that separates real from fake perfectly, so G's adversarial gradient
vanishes (Arjovsky & Bottou 2017). This keeps a moving average of D's accuracy on
real and fake patches (losses/adversarial.d_accuracy, measured every adversarial
step whether or not D is updated) and skips D's update while the average is above a
threshold, so G can catch up.
"""
import tensorflow as tf


class DiscriminatorBalance:
    """average <- decay * average + (1 - decay) * accuracy, per adversarial step.

    `threshold` <= 0 turns the balance off: D is always updated. The average is a
    tf.Variable so it is checkpointed and a resumed run makes the same decisions.
    """

    def __init__(self, threshold, decay):
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"train.d_accuracy_decay must be in [0, 1), got {decay}.")
        self.threshold, self.decay = threshold, decay
        # A fresh D is at chance.
        self.average = tf.Variable(0.5, trainable=False, dtype=tf.float32,
                                   name="d_accuracy_average")

    @property
    def enabled(self):
        return self.threshold > 0

    def update_discriminator(self):
        """Whether the next step should update D."""
        return not (self.enabled and float(self.average) > self.threshold)

    def observe(self, metrics, updated):
        """Folds the step's D/accuracy into the average; returns `metrics` with the
        balance's scalars added (a new dict; `metrics` is left as it is)."""
        if not self.enabled or "D/accuracy" not in metrics:
            return metrics
        self.average.assign(self.decay * self.average
                            + (1.0 - self.decay) * metrics["D/accuracy"])
        return {**metrics, "D/accuracy_average": float(self.average),
                "D/updated": float(updated)}


def from_config(train_config):
    return DiscriminatorBalance(train_config.d_skip_accuracy,
                                train_config.d_accuracy_decay)
