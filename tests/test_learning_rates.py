"""The learning-rate schedule (training/learning_rates.py): its factors, and moving
real optimizers' rates along it from a lowered rate."""
import keras
import pytest

from training.learning_rates import TailDecay


def test_constant_without_decay_steps():
    rates = TailDecay(num_steps=100)
    assert [rates.factor(s) for s in (0, 50, 100, 200)] == [1.0] * 4


def test_linear_over_the_last_decay_steps_then_flat():
    rates = TailDecay(num_steps=3000, decay_steps=1000, decay_to=0.1)
    assert rates.factor(0) == rates.factor(2000) == 1.0
    assert rates.factor(2500) == pytest.approx(0.55)
    assert rates.factor(3000) == pytest.approx(0.1)
    assert rates.factor(4500) == pytest.approx(0.1)


def test_decay_longer_than_the_run_starts_at_step_zero():
    rates = TailDecay(num_steps=10, decay_steps=50, decay_to=0.5)
    assert rates.factor(0) == 1.0
    assert rates.factor(5) == pytest.approx(0.75)
    assert rates.factor(10) == pytest.approx(0.5)


def test_moving_keeps_a_lowering_of_the_rates():
    optimizers = (keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-4))
    rates = TailDecay(num_steps=8, decay_steps=4, decay_to=0.5)
    for step in range(5):
        rates.move(optimizers, step, step + 1)
    assert float(optimizers[0].learning_rate) == pytest.approx(1e-3 * 0.875)
    # As a divergence restore does: back to step 4's rates, halved.
    for optimizer in optimizers:
        optimizer.learning_rate.assign(float(optimizer.learning_rate) / 0.875 * 0.5)
    for step in range(4, 8):
        rates.move(optimizers, step, step + 1)
    assert float(optimizers[0].learning_rate) == pytest.approx(2.5e-4)
    assert float(optimizers[1].learning_rate) == pytest.approx(2.5e-5)
