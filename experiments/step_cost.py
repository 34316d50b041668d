r"""The training step's cost of arbitrary-style training against today's paintings step
(issue 18 target: at most +15%), measured in one process in alternating rounds.

    python -m experiments.step_cost --output=runs/step_cost.json

Each config's full adversarial step -- its real input pipeline included (procedural
styles are drawn there), G, D, R1, VGG, the encoder -- is timed for a few steps, the
two configs taking turns, and the median per-round ratio reported: the machine's load
changes between rounds, the ratio within a round much less. Default configs:
experiments/paintings.py:heldout (today) and :arbitrary (new).
"""
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402

from data import pipeline  # noqa: E402
from experiments import paintings  # noqa: E402
from storage import atomic  # noqa: E402
from training import ema as ema_lib, step as step_lib  # noqa: E402


def make_step(config):
    """(step function, iterator, EMA or None) of `config`'s adversarial train step on
    its data; the EMA is the one the training loop updates after each step."""
    dataset, style_names = pipeline.make_dataset_from_config(
        config.data, config.train.batch_size, config.seed)
    models = step_lib.build_models(config.model, config.optim, len(style_names),
                                   vgg_config=config.vgg)
    features = step_lib.build_feature_extractor(config.vgg, config.model)
    replica_step = step_lib.make_replica_step(models, features, config.vgg, config.loss,
                                              config.train.batch_size)
    step = step_lib.make_distributed_step(tf.distribute.get_strategy(), replica_step)
    ema = ema_lib.maybe_ema(models, config.train, config.model, config.vgg)
    return step, iter(dataset), ema


def seconds_per_step(step, iterator, ema, steps):
    started = time.perf_counter()
    for _ in range(steps):
        metrics = step(iterator, True)
        if ema:
            ema.update()
    float(metrics["loss/G/total"])  # waits for the last step
    return (time.perf_counter() - started) / steps


def main(argv):
    del argv
    steps = {name: make_step(paintings.get_config(name)) for name in FLAGS.variants}
    for step, iterator, ema in steps.values():
        seconds_per_step(step, iterator, ema, 2)  # traces
    reference, new = FLAGS.variants
    rounds = []
    for _ in range(FLAGS.rounds):
        times = {name: seconds_per_step(*steps[name], FLAGS.steps) for name in steps}
        rounds.append(times)
        print(f"round: {reference} {times[reference]:.3f} s, {new} {times[new]:.3f} s, "
              f"ratio {times[new] / times[reference]:.3f}", flush=True)
    ratios = [times[new] / times[reference] for times in rounds]
    report = {"variants": [reference, new], "rounds": rounds,
              "median_ratio": float(np.median(ratios)),
              "load_average": os.getloadavg()}
    print(f"{new} / {reference} step time: median ratio {report['median_ratio']:.3f} "
          f"over {len(ratios)} rounds (load average {report['load_average'][0]:.1f}).")
    if FLAGS.output:
        atomic.write_json(FLAGS.output, report)


FLAGS = flags.FLAGS
if __name__ == "__main__":
    # Defined here, not on import: the tests import this module beside others that
    # define --output.
    flags.DEFINE_string("output", None, "Where to write the JSON.")
    flags.DEFINE_integer("rounds", 5, "Alternating rounds.")
    flags.DEFINE_integer("steps", 5, "Steps per config and round.")
    flags.DEFINE_list("variants", ["heldout", "arbitrary"],
                      "Two paintings.py variants: reference, new.")
    app.run(main)
