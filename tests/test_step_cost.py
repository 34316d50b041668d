"""experiments/step_cost.py: the timed step is the training loop's step, EMA included."""
import numpy as np

from experiments import quickstart, step_cost
from training import run as run_lib


def test_the_timed_step_of_an_ema_config_moves_its_average(tmp_path):
    config = quickstart.get_config("test")
    config.data = run_lib.resolve_data_config(config.data, str(tmp_path))
    config.train.ema_decay = 0.5
    step, iterator, ema = step_cost.make_step(config)
    before = [np.array(v) for v in ema.generator.trainable_variables]
    assert step_cost.seconds_per_step(step, iterator, ema, 1) > 0
    assert any(not np.array_equal(b, np.array(v))
               for b, v in zip(before, ema.generator.trainable_variables))
    config.train.ema_decay = 0.0
    assert step_cost.make_step(config)[2] is None
