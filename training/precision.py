"""Mixed precision: `train.precision` = "float32", "mixed_float16" (GPUs) or
"mixed_bfloat16" (TPUs, recent CPUs).

Under a mixed policy the layers compute in 16 bits and keep float32 weights. G's
last activation and D's logits are float32 layers (models/generator.py,
models/discriminator.py) and the perceptual losses cast VGG features to float32,
so every loss is computed in float32. float16 also needs loss scaling: its
optimizers are wrapped in keras.optimizers.LossScaleOptimizer, the loss is scaled
before the gradient and the step is skipped (and the scale halved) when a gradient
overflows.
"""
import contextlib

import keras
import tensorflow as tf

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")


def check_precision(name):
    if name not in PRECISIONS:
        raise ValueError(f"Unknown train.precision {name!r}; expected one of "
                         f"{PRECISIONS}.")
    return name


@contextlib.contextmanager
def policy(name):
    """Layers created inside use the dtype policy `name`; the global policy is
    restored on exit (a layer keeps the policy it was created with)."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(check_precision(name))
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


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
