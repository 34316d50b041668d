"""Mixed precision in training: the choice of `train.precision` for a run, and loss
scaling.

`train.precision` = "auto" (the default), "float32", "mixed_float16" (GPUs) or
"mixed_bfloat16" (TPUs, CPUs with bfloat16 instructions). The policies and how
"auto" chooses are models/precision.py; here the probe is the run's own work: G
forward+backward at the run's per-replica batch and image size, bounded by its
number of steps.

Under a mixed policy the layers compute in 16 bits and keep float32 weights. G's
last activation and D's logits are float32 layers (models/generator.py,
models/discriminator.py) and the perceptual losses cast VGG features to float32,
so every loss is computed in float32. float16 also needs loss scaling: its
optimizers are wrapped in keras.optimizers.LossScaleOptimizer, the loss is scaled
before the gradient and the step is skipped (and the scale halved) when a gradient
overflows.
"""
import keras
import tensorflow as tf

from models import generator as generator_lib
from models import precision as precision_lib

def choose_for_training(config, num_replicas, timer=None, any_worker=bool):
    """The run's precision (a models.precision.Choice) for config.train.precision.

    Call before the run seeds its random generators: the probe builds generators.
    any_worker: strategy.any_worker_function; with several workers, each probes its
    own machine and all use float32 when any of them did not choose bfloat16 (the
    replicas must compute alike).
    """
    if config.train.precision == precision_lib.AUTO and config.strategy.name == "tpu":
        choice = precision_lib.Choice("mixed_bfloat16", "auto, a TPU (its native "
                                      "mixed precision)")
        precision_lib.log_choice(choice, "Training")
        return choice
    model, size = config.model, config.data.image_size
    batch = max(1, config.train.batch_size // num_replicas)
    key = precision_lib.probe_key(
        f"G {model.generator} code_dim {model.code_dim} batch {batch}", size, "train")
    units = precision_lib.generator_units(
        lambda _: generator_lib.build_generator(model.generator, model.code_dim),
        batch, size, backward=True)
    choice = precision_lib.choose(config.train.precision, units, key,
                                  work_units=config.train.num_steps,
                                  **({"timer": timer} if timer else {}))
    if any_worker(choice.precision != "mixed_bfloat16") and (
            choice.precision == "mixed_bfloat16"):
        choice = precision_lib.Choice("float32", "auto, another worker chose float32",
                                      choice.ratio, choice.probe_seconds)
    precision_lib.log_choice(choice, "Training")
    return choice


def wrap_optimizer(optimizer):
    """LossScaleOptimizer when the current policy computes in float16."""
    if keras.mixed_precision.global_policy().compute_dtype == "float16":
        return keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def gradients(tape, loss, variables, optimizer):
    """Gradients of `loss` (recorded on `tape`), scaled as `optimizer` expects
    (a no-op without loss scaling).

    With loss scaling on several replicas, each replica would decide alone whether
    its gradients overflowed, and the replicas could diverge (one skips the step, the
    others apply it). So an overflow on any replica makes every replica's gradients
    non-finite, and all of them skip the step together.
    """
    # The scale enters as the loss's upstream gradient: the same as differentiating
    # scale * loss, without the multiplication having to be on the (closed) tape.
    grads = tape.gradient(loss, variables,
                          output_gradients=optimizer.scale_loss(tf.ones_like(loss)))
    if not isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return grads
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return grads
    local_overflow = tf.cast(tf.logical_not(tf.reduce_all(
        [tf.reduce_all(tf.math.is_finite(g)) for g in grads if g is not None])),
        tf.float32)
    overflow = context.all_reduce(tf.distribute.ReduceOp.SUM, local_overflow) > 0
    return [None if g is None else tf.where(overflow, tf.cast(float("nan"), g.dtype), g)
            for g in grads]
