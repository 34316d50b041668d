"""experiments/even_steps_bound.py: the best single slider mapping of a set of
curves."""
import numpy as np

from experiments import even_steps_bound as bound_lib

SETTINGS = bound_lib.SETTINGS


def test_one_shared_curve_is_evened_out_completely():
    curves = [SETTINGS ** 3, SETTINGS ** 3]
    result = bound_lib.bound(curves)
    assert result["none"] > 2.0
    assert result["best"] < 1.05
    assert result["mean_curve"] < 1.1
    mapping = np.asarray(result["mapping"])
    assert mapping[0] == 0.0 and mapping[-1] == 1.0 and np.all(np.diff(mapping) > 0)


def test_curves_of_opposite_shapes_cannot_both_be_evened_out():
    curves = [SETTINGS ** 3, SETTINGS ** (1 / 3)]
    result = bound_lib.bound(curves)
    assert 1.3 < result["best"] <= result["none"] + 1e-9
    assert result["best"] <= result["mean_curve"] + 1e-9
