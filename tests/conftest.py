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
