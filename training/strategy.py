"""Picks the tf.distribute strategy a run asks for in its config."""
import tensorflow as tf
from absl import logging

STRATEGIES = ("auto", "mirrored", "one_device")


def split_cpu(num_devices):
    """Splits the physical CPU into `num_devices` logical devices.

    Lets MirroredStrategy run real replicas on a CPU-only machine (for tests and
    for checking a multi-GPU setup before paying for GPUs). Must run before
    TensorFlow executes its first op; later calls are ignored if the split already
    matches, and refused otherwise.
    """
    cpu = tf.config.list_physical_devices("CPU")[0]
    current = tf.config.get_logical_device_configuration(cpu)
    if current is not None and len(current) >= num_devices:
        return
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * num_devices)
    except RuntimeError as error:
        raise ValueError(
            f"strategy.cpu_devices={num_devices} must be set before TensorFlow "
            f"starts; it was already initialised ({error}).") from error


def make_strategy(config):
    """Returns the strategy named by `config.name` (a key of STRATEGIES).

    auto: MirroredStrategy over all GPUs when there is more than one, else the
      default strategy on the one device there is.
    mirrored: MirroredStrategy over all GPUs, or over `config.cpu_devices` logical
      CPUs when that is > 0 (CPU testing of the multi-replica path).
    one_device: OneDeviceStrategy on the first GPU, else the CPU.
    """
    if config.name not in STRATEGIES:
        raise ValueError(f"Unknown strategy.name {config.name!r}; expected one of "
                         f"{STRATEGIES}.")
    if config.cpu_devices > 0:
        split_cpu(config.cpu_devices)
    gpus = tf.config.list_logical_devices("GPU")
    if config.name == "one_device":
        strategy = tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    elif config.name == "mirrored" or len(gpus) > 1 or config.cpu_devices > 1:
        devices = [d.name for d in gpus] or [
            d.name for d in tf.config.list_logical_devices("CPU")][
                :max(config.cpu_devices, 1)]
        strategy = tf.distribute.MirroredStrategy(devices)
    else:
        strategy = tf.distribute.get_strategy()
    logging.info("Strategy %s with %d replica(s).", type(strategy).__name__,
                 strategy.num_replicas_in_sync)
    return strategy


def per_replica_batch_size(global_batch_size, strategy):
    replicas = strategy.num_replicas_in_sync
    if global_batch_size % replicas:
        raise ValueError(
            f"train.batch_size={global_batch_size} must be divisible by the number "
            f"of replicas ({replicas}).")
    return global_batch_size // replicas
