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
        tf.summary.scalar(tag, value, step=step, description=description(tag))


def description(tag):
    """The text TensorBoard shows beside a loss tag: whether it is weighted, and
    what adds up to the totals (unweighted, loss/G/content is ~1e3 beside a total of
    ~1)."""
    parts = tag.split("/")
    if parts[0] != "loss" or len(parts) < 3:
        return None
    player, term = parts[1], parts[-1]
    total = f"loss/{player}/total"
    if term == "total":
        return (f"{player}'s loss: the sum of the loss/{player}/weighted/* terms.")
    weight = ("1" if (player, term) == ("D", "adv")
              else f"config.loss.{term}_weight")
    if parts[2] == "weighted":
        return (f"Weighted: loss/{player}/{term} times {weight}, the share it adds to "
                f"{total}.")
    return (f"Unweighted: the {term} term before its weight ({weight}); "
            f"loss/{player}/weighted/{term} is what it adds to {total}.")


def hparam_value(value):
    """A config value as TensorBoard's HParams shows it: numbers, bools and strings
    as they are, lists and tuples as "a,b,c" (not Python's "('a', 'b')")."""
    if isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return ",".join(str(item) for item in value)
    return str(value)


def flatten_config(config, prefix=""):
    """ConfigDict -> {"a.b": value} with values TensorBoard's HParams accepts."""
    flat = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if hasattr(value, "items"):
            flat.update(flatten_config(value, name + "."))
        else:
            flat[name] = hparam_value(value)
    return flat


def write_config(config, step, workdir):
    """Logs the config as text (readable) and as HParams (comparable across runs),
    the HParams row named by the workdir's name (else TensorBoard shows a hash)."""
    tf.summary.text("config", "```\n" + config.to_json_best_effort(indent=2) + "\n```",
                    step=step)
    hparams_api.hparams(flatten_config(config),
                        trial_id=os.path.basename(os.path.normpath(workdir)))
