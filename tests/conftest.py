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


@pytest.fixture
def mirrored_cpus():
    """Returns replicas -> MirroredStrategy over the first `replicas` logical CPUs.

    Strategies over different device counts get their own collective group keys
    (the test-only `_collective_key_base`): otherwise a 4-device strategy after a
    2-device one in the same process reuses group key 1 and fails with "joining a
    group with size 4, but that group has size 2".
    """
    def make(replicas):
        tf.distribute.MirroredStrategy._collective_key_base = 100 * replicas
        devices = [d.name for d in tf.config.list_logical_devices("CPU")[:replicas]]
        strategy = tf.distribute.MirroredStrategy(devices)
        assert strategy.num_replicas_in_sync == replicas
        return strategy
    return make
