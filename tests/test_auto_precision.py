"""precision="auto" (models/precision.py): the probe picks the faster precision, its
result is cached per machine and survives a broken cache, an explicit choice skips
it; training writes the choice to TensorBoard; painting in bfloat16 matches
float32."""
import glob
import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing import event_accumulator

import painting
from experiments import quickstart
from models import generator as generator_lib
from models import precision
from storage import user_cache
from training import defaults, precision as training_precision

BF16_CPU = ("Test CPU", ("avx512f", "avx512_bf16"))


class FakeClock:
    """A clock that only the fake units move: each call of a unit of precision p
    takes seconds[p] (its first call, the trace, trace_seconds more)."""

    def __init__(self, seconds, trace_seconds=0.5):
        self.now, self.seconds, self.trace_seconds = 0.0, seconds, trace_seconds
        self.calls = {name: 0 for name in seconds}
        self.units_made = []

    def __call__(self):
        return self.now

    def make_unit(self, name):
        self.units_made.append(name)

        def unit():
            self.now += self.seconds[name] + (self.trace_seconds
                                               if not self.calls[name] else 0.0)
            self.calls[name] += 1
        return unit


@pytest.fixture
def auto_here(monkeypatch, tmp_path):
    """"auto" measures (no pinned precision) into a cache of this test."""
    monkeypatch.delenv(precision.ENVIRONMENT_VARIABLE, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / user_cache.APP_FOLDER / f"{precision.CACHE_NAME}.json"


def choose(clock, requested="auto", key="key", work_units=None, gpu=False,
           cpu=BF16_CPU):
    return precision.choose(requested, clock.make_unit, key, work_units=work_units,
                            timer=clock, cpu=cpu, gpu=gpu)


@pytest.mark.parametrize("fp32_seconds, bf16_seconds, expected", [
    (0.10, 0.07, "mixed_bfloat16"), (0.07, 0.10, "float32"),
    # Within MIN_SPEEDUP: float32, the exact one.
    (0.10, 0.098, "float32")])
def test_the_probe_picks_the_faster_precision_within_its_budget(
        auto_here, fp32_seconds, bf16_seconds, expected):
    clock = FakeClock({"float32": fp32_seconds, "mixed_bfloat16": bf16_seconds})
    choice = choose(clock)
    assert choice.precision == expected
    assert choice.ratio == pytest.approx(fp32_seconds / bf16_seconds)
    # It stops at its budget (the last round started before it may finish after).
    assert choice.probe_seconds <= (precision.PROBE_BUDGET_SECONDS
                                    + fp32_seconds + bf16_seconds)
    assert min(clock.calls.values()) >= 2
    assert expected in choice.sentence() and "x float32's speed" in choice.sentence()


def test_the_probe_stops_at_its_budget_when_calls_are_slow(auto_here):
    clock = FakeClock({"float32": 0.8, "mixed_bfloat16": 1.6}, trace_seconds=0.2)
    choice = choose(clock)
    assert choice.precision == "float32" and choice.ratio == pytest.approx(0.5)
    budget = precision.PROBE_BUDGET_SECONDS
    assert budget < choice.probe_seconds <= budget + 0.8 + 1.6
    # A trace that eats half the budget: bfloat16 is not even built.
    trace = budget / 2
    clock = FakeClock({"float32": 0.5, "mixed_bfloat16": 0.1}, trace_seconds=trace)
    choice = choose(clock, key="traced slowly")
    assert choice.precision == "float32" and clock.units_made == ["float32"]
    assert "budget" in choice.reason and choice.probe_seconds == trace + 2 * 0.5
    # Counted: after MAX_OVER_BUDGET such probes, float32 without probing.
    for _ in range(precision.MAX_OVER_BUDGET - 1):
        choose(FakeClock({"float32": 0.5, "mixed_bfloat16": 0.1}, trace_seconds=trace),
               key="traced slowly")
    clock = FakeClock({"float32": 0.5, "mixed_bfloat16": 0.1})
    settled = choose(clock, key="traced slowly")
    assert settled.precision == "float32" and clock.units_made == []
    assert "did not fit its budget in 3 tries" in settled.reason


def test_a_run_too_short_to_pay_for_the_probe_keeps_float32_uncached(auto_here):
    clock = FakeClock({"float32": 0.10, "mixed_bfloat16": 0.05})
    # 20 steps of 0.1 s: the probe may spend 10% of 2 s, less than one trace.
    choice = choose(clock, work_units=20)
    assert choice.precision == "float32" and choice.ratio is None
    assert clock.units_made == ["float32"]  # bfloat16 never built
    assert "too short" in choice.reason and not auto_here.exists()
    # A long run probes.
    assert choose(FakeClock({"float32": 0.10, "mixed_bfloat16": 0.05}),
                  work_units=10000).precision == "mixed_bfloat16"


def test_the_cache_is_reused_and_survives_corruption(auto_here):
    clock = FakeClock({"float32": 0.10, "mixed_bfloat16": 0.05})
    first = choose(clock)
    assert first.precision == "mixed_bfloat16" and auto_here.is_file()
    again = FakeClock({"float32": 0.05, "mixed_bfloat16": 0.10})
    cached = choose(again)
    assert again.units_made == []  # no probe
    assert (cached.precision, cached.ratio) == ("mixed_bfloat16", first.ratio)
    assert "earlier" in cached.reason
    # Another key (size, model, machine) is measured on its own.
    assert choose(again, key="other").precision == "float32"
    assert set(json.loads(auto_here.read_text())) == {"key", "other"}
    for damage in ("{not json", "[1, 2]", '{"key": {"precision": "float8"}}'):
        auto_here.write_text(damage)
        clock = FakeClock({"float32": 0.10, "mixed_bfloat16": 0.05})
        assert choose(clock).precision == "mixed_bfloat16"
        assert clock.units_made  # measured again
        assert json.loads(auto_here.read_text())["key"]["precision"] == "mixed_bfloat16"


def test_an_unwritable_cache_does_not_fail_the_choice(monkeypatch, tmp_path):
    monkeypatch.delenv(precision.ENVIRONMENT_VARIABLE, raising=False)
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    clock = FakeClock({"float32": 0.10, "mixed_bfloat16": 0.05})
    assert choose(clock).precision == "mixed_bfloat16"
    assert not user_cache.write_entry("x", "k", {"a": 1})


def test_explicit_pinned_gpu_and_no_bf16_cpu_skip_the_probe(auto_here, monkeypatch):
    def no_probe(name):
        raise AssertionError("the probe ran")

    for explicit in ("float32", "mixed_bfloat16"):
        assert precision.choose(explicit, no_probe, "k").precision == explicit
    assert precision.choose("auto", no_probe, "k", gpu=True).precision == "mixed_float16"
    assert precision.choose("auto", no_probe, "k", gpu=False,
                            cpu=("Old CPU", ("avx512f",))).precision == "float32"
    monkeypatch.setenv(precision.ENVIRONMENT_VARIABLE, "mixed_bfloat16")
    pinned = precision.choose("auto", no_probe, "k", gpu=False, cpu=BF16_CPU)
    assert pinned.precision == "mixed_bfloat16" and "STYLEFUSION" in pinned.reason
    with pytest.raises(ValueError, match="Unknown train.precision 'float8'"):
        precision.choose("float8", no_probe, "k")
    assert not auto_here.exists()


def test_cpu_description_reads_the_relevant_flags(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: AMD EPYC\n"
                       "flags\t\t: fpu sse avx512f avx512_bf16 avx2\n\n"
                       "processor\t: 1\nmodel name\t: AMD EPYC\nflags\t\t: fpu\n")
    assert precision.cpu_description(str(cpuinfo)) == ("AMD EPYC",
                                                       ("avx512f", "avx512_bf16"))
    assert precision.cpu_description(str(tmp_path / "missing"))[1] is None


@pytest.mark.slow  # a real probe: two traces of G forward+backward
def test_auto_is_the_default_and_a_real_training_probe_is_cached(auto_here,
                                                                 monkeypatch):
    # Tracing alone may take seconds on a loaded test machine.
    monkeypatch.setattr(precision, "PROBE_BUDGET_SECONDS", 60.0)
    # A CPU without bfloat16 instructions is float32 without a probe; this machine's
    # may be one, and the probe runs the same either way.
    monkeypatch.setattr(precision, "cpu_description", lambda: BF16_CPU)
    assert defaults.base_config().train.precision == "auto"
    config = quickstart.get_config("test")
    config.train.precision = "auto"
    config.train.num_steps = 10**9  # long enough to pay for the probe
    choice = training_precision.choose_for_training(config, num_replicas=1)
    assert choice.precision in ("float32", "mixed_bfloat16"), choice
    assert choice.ratio > 0 and choice.reason == "auto, measured"
    assert json.loads(auto_here.read_text())  # cached under its key
    assert training_precision.choose_for_training(config, 1).ratio == choice.ratio


def read_texts(workdir, tag):
    texts = []
    for path in glob.glob(os.path.join(workdir, "events.out.tfevents.*")):
        accumulator = event_accumulator.EventAccumulator(path,
                                                         size_guidance={"tensors": 0})
        accumulator.Reload()
        if tag in accumulator.Tags()["tensors"]:
            texts += [tf.make_ndarray(event.tensor_proto).item().decode()
                      for event in accumulator.Tensors(tag)]
    return texts


def test_the_training_run_writes_its_precision_to_tensorboard(trained_run):
    assert read_texts(trained_run.workdir, "precision") == [
        "precision float32 (as configured)"]


# bfloat16 keeps 8 bits of mantissa: G's ~15 layers in it move a few isolated
# pixels by many levels while the mean moves by less than one (README,
# Performance). Measured on the :test run and the noise below: max 4.8/255,
# mean 0.82/255 (on the quickstart model and its photos: max 16-21/255, mean
# 0.4-0.5/255).
TEST_MODEL_MAX = 8 / 255
TEST_MODEL_MEAN = 1 / 255


def test_painting_in_bfloat16_matches_float32(trained_run):
    fp32 = painting.load(trained_run.workdir, precision="float32")
    bf16 = painting.load(trained_run.workdir, precision="mixed_bfloat16")
    assert bf16.generator.get_layer("stem").compute_dtype == "bfloat16"
    assert bf16.generator.get_layer("painted").compute_dtype == "float32"
    for ours, theirs in zip(fp32.generator.get_weights(), bf16.generator.get_weights()):
        np.testing.assert_array_equal(ours, theirs)
    content = np.random.default_rng(0).uniform(size=(64, 96, 3)).astype(np.float32)
    plan = fp32.plan(styles=[fp32.names[0]])
    painted = {name: painter.paint(content, plan) for name, painter in
               (("fp32", fp32), ("bf16", bf16))}
    assert painted["bf16"].dtype == np.float32
    difference = np.abs(painted["bf16"] - painted["fp32"])
    print(f"bf16 - fp32: max {255 * difference.max():.2f}/255, "
          f"mean {255 * difference.mean():.3f}/255")
    assert 0 < difference.max() <= TEST_MODEL_MAX
    assert difference.mean() <= TEST_MODEL_MEAN


def test_an_unknown_painting_precision_is_a_usage_error(trained_run):
    with pytest.raises(painting.UsageError, match="Unknown precision 'fp8'"):
        painting.load(trained_run.workdir, precision="fp8")


def test_float32_layers_are_the_ones_the_generator_builds_in_float32():
    with precision.policy("mixed_bfloat16"):
        generator = generator_lib.build_generator("test", 8)
    built_float32 = {layer.name for layer in generator.layers
                     if layer.dtype_policy.compute_dtype == "float32"
                     and not isinstance(layer, keras.layers.InputLayer)}
    assert built_float32 == set(precision.FLOAT32_LAYERS)
