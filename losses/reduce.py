"""The per-example reduction every loss ends with."""
import tensorflow as tf


def mean_per_example(values):
    """[B, ...] -> [B]: mean over every axis but the batch axis."""
    batch_size = tf.shape(values)[0]
    return tf.reduce_mean(tf.reshape(values, [batch_size, -1]), axis=1)
