"""Test-session setup: quiet TensorFlow and split the CPU into logical devices.

The logical devices must exist before TensorFlow runs its first op, so this is done
here, once, before any test imports a model. Tests that need N replicas build a
MirroredStrategy over the first N of them; everything else runs on /cpu:0 as usual.
"""
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

NUM_LOGICAL_CPUS = 4
tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices("CPU")[0],
    [tf.config.LogicalDeviceConfiguration()] * NUM_LOGICAL_CPUS)

# Real paintings and photos shipped beside the repository (not in it). Tests that use
# them skip cleanly on a fresh clone where ../shared is absent.
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def shared_data():
    if not (SHARED_DATA / "MANIFEST.csv").exists():
        pytest.skip(f"real data not found at {SHARED_DATA}")
    return SHARED_DATA


_strategies_made = []


@pytest.fixture
def mirrored_cpus():
    """Returns replicas -> MirroredStrategy over the first `replicas` logical CPUs.

    Every strategy gets its own collective keys (the test-only
    `_collective_key_base`): strategies created one after another in a process
    otherwise reuse group key 1 and the same instance keys, and fail with "joining
    a group with size 4, but that group has size 2" or "Shape mismatch in the
    collective instance 100".
    """
    def make(replicas):
        _strategies_made.append(replicas)
        tf.distribute.MirroredStrategy._collective_key_base = 1000 * len(_strategies_made)
        devices = [d.name for d in tf.config.list_logical_devices("CPU")[:replicas]]
        strategy = tf.distribute.MirroredStrategy(devices)
        assert strategy.num_replicas_in_sync == replicas
        return strategy
    return make
