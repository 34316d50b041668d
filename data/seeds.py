"""Stateless seeds of the input streams: (seed, stream, element index) fixes every
random draw, so the same seed gives the same data and a resumed run continues the
stream exactly.
"""
import tensorflow as tf

# Stream ids folded into the seed, so each stream draws independent random numbers;
# they are listed together so that no two streams share one.
CONTENT_STREAM = 0
STYLE_STREAM = 1
CONTENT_ORDER_STREAM = 2
SHARD_ORDER_STREAM = 10
SHARD_SHUFFLE_STREAM = 11


def element_seed(seed, stream, index):
    """The stateless seed of element `index` of a stream: the index folded into
    (seed, stream)."""
    base = tf.constant([seed, stream], tf.int64)
    return tf.random.experimental.stateless_fold_in(base, tf.cast(index, tf.int64))
