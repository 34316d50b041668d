"""Picks the tf.distribute strategy a run asks for in its config, and the few
multi-worker rules the loop follows (who is the chief, where workers write, how
all workers agree to stop)."""
import hashlib
import json
import os
import shutil
import tempfile

import numpy as np
import tensorflow as tf
from absl import logging

STRATEGIES = ("auto", "mirrored", "multi_worker", "tpu", "one_device")


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
    multi_worker: MultiWorkerMirroredStrategy over the machines of the TF_CONFIG
      environment variable, all GPUs of each (or its CPU). It must be created
      before any other TensorFlow op of the process.
    tpu: TPUStrategy over the TPU at `config.tpu_address` ("local" on a TPU VM,
      a name or grpc:// address of a TPU node).
    one_device: OneDeviceStrategy on the first GPU, else the CPU.
    """
    if config.name not in STRATEGIES:
        raise ValueError(f"Unknown strategy.name {config.name!r}; expected one of "
                         f"{STRATEGIES}.")
    if config.name == "multi_worker":
        strategy = _multi_worker_strategy()
    elif config.name == "tpu":
        strategy = _tpu_strategy(config.tpu_address)
    else:
        if config.cpu_devices > 0:
            split_cpu(config.cpu_devices)
        gpus = tf.config.list_logical_devices("GPU")
        if config.name == "one_device":
            strategy = tf.distribute.OneDeviceStrategy(
                gpus[0].name if gpus else "/cpu:0")
        elif config.name == "mirrored" or len(gpus) > 1 or config.cpu_devices > 1:
            devices = [d.name for d in gpus] or [
                d.name for d in tf.config.list_logical_devices("CPU")][
                    :max(config.cpu_devices, 1)]
            strategy = tf.distribute.MirroredStrategy(devices)
        else:
            strategy = tf.distribute.get_strategy()
    logging.info("Strategy %s with %d replica(s); this is worker %d of %d%s.",
                 type(strategy).__name__, strategy.num_replicas_in_sync,
                 worker_index(strategy), num_workers(strategy),
                 " (chief)" if is_chief(strategy) else "")
    return strategy


def _multi_worker_strategy():
    text = os.environ.get("TF_CONFIG", "")
    try:
        tf_config = json.loads(text)
        cluster, task = tf_config["cluster"], tf_config["task"]
        task["type"], task["index"]  # noqa: B018  (both are required)
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(
            f"strategy.name='multi_worker' needs the TF_CONFIG environment variable "
            f"as JSON {{\"cluster\": {{\"worker\": [\"host:port\", ...]}}, \"task\": "
            f"{{\"type\": \"worker\", \"index\": i}}}}; got {text!r} ({error!r}).") \
            from error
    if task["type"] not in cluster or task["index"] >= len(cluster[task["type"]]):
        raise ValueError(f"TF_CONFIG task {task} is not in its cluster {cluster}.")
    return tf.distribute.MultiWorkerMirroredStrategy()


def _tpu_strategy(address):
    if not address:
        raise ValueError("strategy.name='tpu' needs strategy.tpu_address: 'local' on "
                         "a TPU VM, else the TPU's name or grpc://host:port.")
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(
            tpu=address)
        if address != "local":
            tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, RuntimeError, tf.errors.OpError) as error:
        raise ValueError(f"Could not connect to the TPU at strategy.tpu_address="
                         f"{address!r}: {error}") from error
    return tf.distribute.TPUStrategy(resolver)


# --------------------------------------------------------------------------- workers


def _task(strategy):
    """(task type, task index, cluster spec dict), or (None, 0, {}) on one machine."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not isinstance(
            strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return None, 0, {}
    return (resolver.task_type, resolver.task_id or 0,
            resolver.cluster_spec().as_dict())


def is_chief(strategy):
    """The worker that writes the run's files: the "chief" task if the cluster has
    one, else worker 0 (and always the only process on one machine)."""
    task_type, task_id, cluster = _task(strategy)
    return (task_type in (None, "chief")
            or (task_type == "worker" and task_id == 0 and "chief" not in cluster))


def worker_index(strategy):
    """This process's position among the workers (the chief first)."""
    task_type, task_id, cluster = _task(strategy)
    if task_type in (None, "chief"):
        return 0
    return task_id + (1 if "chief" in cluster else 0)


def num_workers(strategy):
    _, _, cluster = _task(strategy)
    return max(1, len(cluster.get("chief", [])) + len(cluster.get("worker", [])))


class WorkerCheckpointManager(tf.train.CheckpointManager):
    """The checkpoint manager of a non-chief worker.

    Every worker must call save (saving mirrored variables may run collectives),
    but only the chief's checkpoint is kept: other workers save into a private
    temporary folder and delete it at once, as TensorFlow's multi-worker guide does.
    """

    def __init__(self, checkpoint, **kwargs):
        super().__init__(checkpoint, tempfile.mkdtemp(prefix="worker_checkpoint_"),
                         **kwargs)

    def save(self, *args, **kwargs):
        path = super().save(*args, **kwargs)
        shutil.rmtree(self.directory, ignore_errors=True)
        return path


def make_checkpoint_manager(checkpoint, directory, strategy, max_to_keep):
    if is_chief(strategy):
        return tf.train.CheckpointManager(checkpoint, directory, max_to_keep=max_to_keep)
    return WorkerCheckpointManager(checkpoint, max_to_keep=1)


def _sum_over_replicas(strategy):
    @tf.function
    def total(value):
        per_replica = strategy.run(lambda: tf.identity(value))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)
    return total


def any_worker_function(strategy):
    """Returns `any_worker(flag)`: whether `flag` is true on any worker.

    It is an all-reduce, so every worker must call it at the same point of the loop.
    On one machine it is just bool(flag), without any op.
    """
    if num_workers(strategy) == 1:
        return bool
    total = _sum_over_replicas(strategy)
    return lambda flag: bool(total(tf.constant(float(bool(flag)))) > 0)


def check_same_step(strategy, step):
    """Raises on every worker if the workers resumed at different steps (each reads
    the checkpoint under its own --workdir: they must all see the chief's)."""
    if num_workers(strategy) == 1:
        return
    replicas = strategy.num_replicas_in_sync
    total = int(_sum_over_replicas(strategy)(tf.constant(int(step), tf.int64)))
    if total != replicas * int(step):
        raise ValueError(
            f"The workers resumed at different steps (this one at {int(step)}, mean "
            f"{total / replicas:g}): all workers must be given the same --workdir, on a "
            f"filesystem they share, so they all restore the chief's checkpoint.")


def weights_fingerprint(model):
    """A short hash of a model's weights, bit for bit: logged by every worker at the
    end of a run, so identical replicas show identical fingerprints."""
    digest = hashlib.sha256()
    for weights in model.get_weights():
        digest.update(np.ascontiguousarray(weights).tobytes())
    return digest.hexdigest()[:16]
