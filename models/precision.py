"""Compute precision: the dtype policies, and "auto", which picks the faster of
float32 and mixed_bfloat16 on this machine from a short measurement.

Under a mixed policy the layers compute in 16 bits and keep float32 weights; G's
last activation and its keep blend are float32 layers (FLOAT32_LAYERS), so its
output is exact in [0, 1] under any policy. Training adds loss scaling for float16
(training/precision.py).

Whether bfloat16 is faster depends on the machine: on a 2-core AMD EPYC with
avx512_bf16 G forward+backward ran 1.42x faster in bfloat16, on another machine
of this project 0.43x (README, Performance). So "auto" measures:

- an explicit "float32", "mixed_bfloat16" or "mixed_float16" is used as given;
- the environment variable STYLEFUSION_PRECISION, when set, is what "auto" means
  on this machine (no probe: CI, tests, or a fleet that measured once);
- on a GPU, mixed_float16 (tensor cores);
- on a CPU whose flags show no bfloat16 instructions, float32 (emulated bfloat16
  only converts);
- else the probe: a few timed calls of the work itself (G forward+backward at the
  run's batch and size for training, G forward for painting), float32 and
  mixed_bfloat16 interleaved. bfloat16 is chosen when it is at least MIN_SPEEDUP
  faster (float32 is the exact one). The result is cached per machine and work
  (storage/user_cache.py), keyed by the CPU model and flags, the TensorFlow
  version, the model, the size and the mode, so a machine pays each probe once.

The probe's cost is bounded: it stops timing after PROBE_BUDGET_SECONDS (6 s), or
after PROBE_SHARE_OF_RUN (10%) of the run's G forward+backward time in float32
(a lower bound of the run's time: the train step adds D and VGG), estimated from
its first timed call, when that is less; it then decides on the calls timed so far.
Tracing the two functions is part of the probe's time; it does not start the
bfloat16 half when float32's trace and first call have already taken half the
limit: float32 (a run too short to pay for a probe: not cached; over the 6 s
budget: counted, and after MAX_OVER_BUDGET (3) such probes the machine keeps float32
for that key without probing). The probe's
measured cost is logged and cached with its result, and a machine pays it once per
key. A run longer than its probe whose two precisions differ by more than the
probe's share is never slower with "auto" than with the worse precision.
"""
import contextlib
import dataclasses
import os
import time

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from storage import user_cache

AUTO = "auto"
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
CHOICES = (AUTO,) + PRECISIONS
# The flags the choice depends on (x86: AVX-512, its bfloat16 dot products, AMX;
# ARM: bf16), printed by the benchmark and part of the probe's cache key.
CPU_FLAGS = ("avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "bf16")
BF16_FLAGS = ("avx512_bf16", "amx_bf16", "bf16")
# Layers of models/generator.py built in float32 under any policy.
FLOAT32_LAYERS = ("painted", "output")
ENVIRONMENT_VARIABLE = "STYLEFUSION_PRECISION"
CACHE_NAME = "precision"
# Traces included: float32's alone took 3.4-3.8 s on a 2-core machine at load ~15.
PROBE_BUDGET_SECONDS = 6.0
PROBE_SHARE_OF_RUN = 0.1
MIN_SPEEDUP = 1.05
MAX_TIMED_CALLS = 5
MAX_OVER_BUDGET = 3
PROBED = ("float32", "mixed_bfloat16")


def check_precision(name, allow_auto=True, key="train.precision"):
    allowed = CHOICES if allow_auto else PRECISIONS
    if name not in allowed:
        raise ValueError(f"Unknown {key} {name!r}; expected one of {allowed}.")
    return name


@contextlib.contextmanager
def policy(name):
    """Layers created inside use the dtype policy `name`; the global policy is
    restored on exit (a layer keeps the policy it was created with)."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(check_precision(name, allow_auto=False))
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def with_policy(model, name):
    """A copy of a functional model whose layers compute under the policy `name`
    (FLOAT32_LAYERS stay float32), with the same weights: a float32-trained model
    painting in bfloat16."""
    config = model.get_config()
    for layer in config["layers"]:
        if (layer["class_name"] != "InputLayer" and layer["name"] not in FLOAT32_LAYERS
                and "dtype" in layer["config"]):
            layer["config"]["dtype"] = name
    with policy(name):
        clone = type(model).from_config(config)
    clone.set_weights(model.get_weights())
    return clone


def cpu_description(cpuinfo_path="/proc/cpuinfo"):
    """(CPU model name, the CPU_FLAGS it has); flags None where /proc/cpuinfo cannot
    be read (not Linux)."""
    try:
        with open(cpuinfo_path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return os.uname().machine, None
    fields = {}
    for line in lines:
        name, _, value = line.partition(":")
        fields.setdefault(name.strip(), value.strip())
    flags = set((fields.get("flags") or fields.get("Features") or "").split())
    model = fields.get("model name") or fields.get("CPU part") or os.uname().machine
    return model, tuple(flag for flag in CPU_FLAGS if flag in flags)


def has_gpu():
    return bool(tf.config.list_physical_devices("GPU"))


def probe_key(work, size, mode, cpu=None):
    """The cache key of a probe: CPU model and flags, TensorFlow, the work (model),
    the size and the mode ("train" or "paint")."""
    model, flags = cpu or cpu_description()
    return (f"{model} | {','.join(flags or ('?',))} | tensorflow {tf.__version__} | "
            f"{work} | {size} | {mode}")


@dataclasses.dataclass
class Choice:
    """The precision a run uses and why; ratio = mixed_bfloat16 speed / float32
    speed where it was measured."""
    precision: str
    reason: str
    ratio: float = None
    probe_seconds: float = 0.0

    def sentence(self):
        measured = ("" if self.ratio is None else
                    f"; mixed_bfloat16 ran {self.ratio:.2f}x float32's speed")
        cost = (f", probe {self.probe_seconds:.1f} s" if self.probe_seconds else "")
        return f"precision {self.precision} ({self.reason}{measured}{cost})"


def choose(requested, make_unit, key, work_units=None, timer=time.perf_counter,
           cpu=None, gpu=None):
    """The precision to use (a Choice) for `requested` (CHOICES).

    Args:
      make_unit: precision name -> a callable doing one unit of the work under that
        policy (e.g. generator_units); only called when the probe runs.
      key: the probe's cache key (probe_key).
      work_units: how many units the run will do (train steps), or None (unknown:
        only the 6 s budget bounds the probe).
      timer, cpu, gpu: for tests (a fake clock, a CPU description, a GPU or not).
    """
    check_precision(requested)
    if requested != AUTO:
        return Choice(requested, "as configured")
    pinned = os.environ.get(ENVIRONMENT_VARIABLE)
    if pinned:
        return Choice(check_precision(pinned, False, ENVIRONMENT_VARIABLE),
                      f"auto, from {ENVIRONMENT_VARIABLE}")
    if has_gpu() if gpu is None else gpu:
        return Choice("mixed_float16", "auto, a GPU")
    _, flags = cpu or cpu_description()
    if flags is not None and not set(flags) & set(BF16_FLAGS):
        return Choice("float32", "auto, the CPU has no bfloat16 instructions")
    cached = cached_choice(key)
    if cached is not None:
        return cached
    choice = probe(make_unit, work_units, timer)
    if choice.ratio is not None:
        user_cache.write_entry(CACHE_NAME, key, dataclasses.asdict(choice))
    elif "budget" in choice.reason:  # not "too short": that depends on the run
        tries = _over_budget_count(user_cache.read_entry(CACHE_NAME, key)) + 1
        user_cache.write_entry(CACHE_NAME, key,
                               {**dataclasses.asdict(choice), "over_budget": tries})
    return choice


def _over_budget_count(entry):
    try:
        return int(entry["over_budget"])
    except (TypeError, KeyError, ValueError):
        return 0


def cached_choice(key):
    """The cached Choice of `key`, or None (missing, not a valid entry, or a probe
    that did not fit its budget fewer than MAX_OVER_BUDGET times: a loaded machine
    may trace faster next time; after that, float32 without probing)."""
    entry = user_cache.read_entry(CACHE_NAME, key)
    if _over_budget_count(entry) >= MAX_OVER_BUDGET:
        return Choice("float32", f"auto, the probe did not fit its budget in "
                      f"{MAX_OVER_BUDGET} tries on this machine (cache "
                      f"{user_cache.cache_path(CACHE_NAME)})")
    try:
        precision_name = check_precision(entry["precision"], allow_auto=False)
        ratio, seconds = float(entry["ratio"]), float(entry["probe_seconds"])
    except (TypeError, KeyError, ValueError):
        return None
    return Choice(precision_name, f"auto, measured on this machine earlier "
                  f"(cache {user_cache.cache_path(CACHE_NAME)})", ratio, seconds)


def probe(make_unit, work_units=None, timer=time.perf_counter):
    """Times units of float32 and mixed_bfloat16, interleaved, within the limit the
    module docstring states; returns the Choice."""
    started = timer()
    units, seconds = {}, {name: [] for name in PROBED}
    limit = PROBE_BUDGET_SECONDS
    for name in PROBED:
        units[name] = make_unit(name)
        units[name]()  # traces
        seconds[name].append(_time_call(units[name], timer))
        if name == "float32":
            if work_units:
                limit = min(limit, PROBE_SHARE_OF_RUN * work_units * seconds[name][0])
            if 2 * (timer() - started) > limit:
                return Choice("float32", _stopped_reason(limit), None,
                              timer() - started)
    while (timer() - started < limit
           and min(map(len, seconds.values())) < MAX_TIMED_CALLS):
        for name in PROBED:
            seconds[name].append(_time_call(units[name], timer))
    ratio = float(np.median(seconds["float32"]) / np.median(seconds["mixed_bfloat16"]))
    chosen = "mixed_bfloat16" if ratio >= MIN_SPEEDUP else "float32"
    return Choice(chosen, "auto, measured", ratio, timer() - started)


def _stopped_reason(limit):
    if limit < PROBE_BUDGET_SECONDS:
        return "auto, the run is too short to pay for a probe"
    return (f"auto, float32's trace and first call took over half the probe's "
            f"{PROBE_BUDGET_SECONDS:g} s budget, so bfloat16 was not timed")


def _time_call(unit, timer):
    begin = timer()
    unit()
    return timer() - begin


def generator_units(build_generator, batch, size, backward):
    """make_unit for choose(): precision -> one G forward (and backward, for
    training) of a random batch at `size`, on build_generator() made under that
    policy."""
    def make_unit(name):
        with policy(name):
            generator = build_generator(name)
        code_dim = generator.inputs[1].shape[-1]
        image = tf.random.stateless_uniform((batch, size, size, 3), (0, 1))
        code_map = tf.random.stateless_normal((batch, 1, 1, code_dim), (0, 2))

        @tf.function
        def unit():
            with tf.GradientTape() as tape:
                output = generator([image, code_map], training=backward)
                loss = tf.reduce_mean(tf.cast(output, tf.float32))
            if not backward:
                return loss
            grads = tape.gradient(loss, generator.trainable_variables)
            return tf.add_n([tf.reduce_sum(tf.cast(g, tf.float32))
                             for g in grads if g is not None])

        return lambda: unit().numpy()
    return make_unit


def log_choice(choice, what):
    logging.info("%s: %s.", what, choice.sentence())
