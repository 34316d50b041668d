r"""How even any per-model calibration can make the sliders, photo by photo.

A calibration maps slider positions u_k = 0, 0.1, ..., 1 to settings v_k through one
increasing curve per model (painting/calibration.py). This fits the single mapping
that minimises the mean per-photo step ratio of the relative Gram position on the
evaluation photos themselves: no calibration measured on other photos can do better,
so it bounds what the photos' differing curves allow.

    python -m experiments.even_steps_bound --model=runs/paintings_arbitrary \
        --content_dir=runs/heldout/content \
        --pair=hokusai-the-great-wave-off-kanagawa,vangogh-the-starry-night \
        --output=runs/paintings_arbitrary/even_steps_bound.json

Each path reports the mean per-photo step ratio with no calibration ("none"), with
the inverse of these photos' own mean curve ("mean_curve"), and with the best single
mapping ("best"), as evaluate.py --even_steps measures it (path_smoothness at the 11
slider positions, curves sampled at 41 settings and interpolated).
"""
import environment  # noqa: F401  (first: TensorFlow's logging set-up)

import numpy as np
from absl import app, flags
from scipy import optimize

import painting
from data import images as image_files
from evaluation import metrics
from painting import calibration
from storage import atomic

SETTINGS = np.linspace(0.0, 1.0, 41)  # where each photo's curve is painted


def mean_step_ratio(curves, mapping):
    """The mean over photos of the step ratio of t at the settings `mapping`, each
    photo's curve given at SETTINGS."""
    return float(np.mean([
        metrics.path_smoothness(np.interp(mapping, SETTINGS, curve))["step_ratio"]
        for curve in curves]))


def _mapping(log_increments):
    increments = np.exp(log_increments - np.max(log_increments))
    return np.concatenate([[0.0], np.cumsum(increments) / increments.sum()])


def mean_curve_mapping(curves):
    """What a calibration on these photos maps the sliders to: the inverse of their
    mean curve."""
    return calibration.inverse_curve(np.interp(calibration.VALUES, SETTINGS,
                                               np.mean(curves, axis=0)))


def best_mapping(curves):
    """(mean per-photo step ratio, mapping [11]) of the increasing mapping from 0 to
    1 that minimises it, searched over its log increments from the identity and from
    the photos' mean-curve mapping."""
    starts = [np.zeros(len(calibration.VALUES) - 1),
              np.log(np.maximum(np.diff(mean_curve_mapping(curves)), 1e-4))]
    results = [optimize.minimize(lambda x: mean_step_ratio(curves, _mapping(x)), start,
                                 method="Powell", options={"xtol": 1e-4, "ftol": 1e-6})
               for start in starts]
    best = min(results, key=lambda result: result.fun)
    return float(best.fun), _mapping(best.x)


def bound(curves):
    """{"none", "mean_curve", "best": mean per-photo step ratio, "mapping": best}."""
    best, mapping = best_mapping(curves)
    return {"none": mean_step_ratio(curves, calibration.VALUES),
            "mean_curve": mean_step_ratio(curves, mean_curve_mapping(curves)),
            "best": best,
            "mapping": mapping.tolist()}


def path_curves(calibrator, contents, pair):
    """{path name: per-photo curves at SETTINGS} for the weighted and strength paths,
    measured as the model's calibration measures them."""
    name_a, name_b = pair
    paths = {f"weights {name_a} -> {name_b}": calibrator.weight_positions(
        name_a, name_b, contents, SETTINGS)}
    if calibrator.painter.source.encoder is not None:
        paths[f"strength photo -> {name_a}"] = calibrator.strength_positions(
            name_a, contents, SETTINGS)
    if any(curves is None for curves in paths.values()):
        raise app.UsageError(f"--pair={name_a},{name_b}: the run's style folders hold "
                             f"no image of one of them to measure against.")
    return paths


def main(argv):
    del argv
    painter = painting.load(FLAGS.model, precision="float32")
    missing = [name for name in FLAGS.pair if name not in painter.names]
    if len(FLAGS.pair) != 2 or missing:
        raise app.UsageError(f"--pair must name two of the model's styles "
                             f"{painter.names}, got {FLAGS.pair}.")
    calibrator = calibration.Calibrator(painter)
    size = calibrator.contents.shape[1]
    files = image_files.list_images(FLAGS.content_dir)
    contents = image_files.center_squares(files, size, size)
    results = {"photos": files, "paths": {}}
    for name, curves in path_curves(calibrator, contents, FLAGS.pair).items():
        result = results["paths"][name] = bound(curves)
        print(f"{name}: per-photo step ratio, none {result['none']:.2f}, these photos' "
              f"mean curve {result['mean_curve']:.2f}, best single mapping "
              f"{result['best']:.2f}")
    if FLAGS.output:
        atomic.write_json(FLAGS.output, results)


FLAGS = flags.FLAGS
if __name__ == "__main__":
    # Defined here, not on import: the tests import this module beside others that
    # define --output.
    flags.DEFINE_string("model", None, "The run or export to measure.")
    flags.DEFINE_string("content_dir", None, "Photos to measure on.")
    flags.DEFINE_list("pair", None, "Two bank styles: the weighted path a -> b, and "
                      "the strength path photo -> a when the model has an encoder.")
    flags.DEFINE_string("output", None, "A JSON file for the results.")
    flags.mark_flags_as_required(["model", "content_dir", "pair"])
    app.run(main)
