"""TensorBoard summaries and sample grids of a run (written by the chief only), and
the reader of its scalars."""
import glob
import os

import tensorflow as tf
from tensorboard.plugins.hparams import api as hparams_api


def read_scalars(workdir):
    """{tag: {step: value}} of every scalar in the run's TensorBoard event files.

    tf.summary writes scalars as tensors (the 'tensors' tag type of EventAccumulator).
    A resumed run adds event files; at a step logged twice the later file wins.
    """
    from tensorboard.backend.event_processing import event_accumulator
    paths = glob.glob(os.path.join(workdir, "events.out.tfevents.*"))
    # Names are events.out.tfevents.<unix time>.<host>.<pid>.<counter>...: order by
    # the time, then the name (two writers of one process in the same second).
    paths.sort(key=lambda path: (int(os.path.basename(path).split(".")[3]), path))
    scalars = {}
    for path in paths:
        accumulator = event_accumulator.EventAccumulator(path,
                                                         size_guidance={"tensors": 0})
        accumulator.Reload()
        for tag in accumulator.Tags()["tensors"]:
            for event in accumulator.Tensors(tag):
                value = tf.make_ndarray(event.tensor_proto)
                if value.ndim == 0 and value.dtype.kind == "f":
                    scalars.setdefault(tag, {})[event.step] = float(value)
    return scalars


def write_scalars(metrics, step):
    for tag, value in metrics.items():
        tf.summary.scalar(tag, value, step=step)


def flatten_config(config, prefix=""):
    """ConfigDict -> {"a.b": value} with values TensorBoard's HParams accepts."""
    flat = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if hasattr(value, "items"):
            flat.update(flatten_config(value, name + "."))
        elif isinstance(value, (bool, int, float, str)):
            flat[name] = value
        else:
            flat[name] = str(value)
    return flat


def write_config(config, step):
    """Logs the config as text (readable) and as HParams (comparable across runs)."""
    tf.summary.text("config", "```\n" + config.to_json_best_effort(indent=2) + "\n```",
                    step=step)
    hparams_api.hparams(flatten_config(config))
