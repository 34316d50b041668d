"""Test-session setup: quiet TensorFlow, split the CPU into logical devices, and the
one trained run that the end-to-end tests share.

The logical devices must exist before TensorFlow runs its first op, so this is done
here, once, before any test imports a model. Tests that need N replicas build a
MirroredStrategy over the first N of them; everything else runs on /cpu:0 as usual.
"""
import atexit
import os
import shutil
import tempfile
from typing import NamedTuple

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# precision="auto" means float32 in tests, without a probe (models/precision.py):
# outputs compared to float32 references stay exact, and no test pays a probe.
# Tests of the probe unset it. The user cache is a fresh folder of this session.
os.environ["STYLEFUSION_PRECISION"] = "float32"
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="stylefusion_test_cache_")
atexit.register(shutil.rmtree, os.environ["XDG_CACHE_HOME"], ignore_errors=True)

import ml_collections  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

NUM_LOGICAL_CPUS = 4
tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices("CPU")[0],
    [tf.config.LogicalDeviceConfiguration()] * NUM_LOGICAL_CPUS)

from experiments import quickstart  # noqa: E402
from tests.helpers import SHARED_DATA  # noqa: E402
from training import loop  # noqa: E402


@pytest.fixture
def shared_data():
    if not (SHARED_DATA / "MANIFEST.csv").exists():
        pytest.skip(f"real data not found at {SHARED_DATA}")
    return SHARED_DATA


class TrainedRun(NamedTuple):
    config: ml_collections.ConfigDict
    workdir: str


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
    """The quickstart :test run, trained once per session: 3 steps with
    pretrain_steps=1, so step 1 is perceptual only and steps 2-3 log every
    adversarial term; checkpoints 2 and 3, samples, events and the export.

    Shared by every test that reads a finished run: read it, never write to it
    (take `trained_run_copy` to resume, damage or retrain a workdir), and copy the
    config (`copy_and_resolve_references`) before changing it."""
    workdir = str(tmp_path_factory.mktemp("trained_run"))
    config = quickstart.get_config("test")
    config.train.pretrain_steps = 1
    loop.train_and_evaluate(config, workdir)
    return TrainedRun(config, workdir)


@pytest.fixture
def trained_run_copy(trained_run, tmp_path):
    """A private copy of the shared run's workdir and config, free to change."""
    workdir = str(tmp_path / "trained_run")
    shutil.copytree(trained_run.workdir, workdir)
    return TrainedRun(trained_run.config.copy_and_resolve_references(), workdir)


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
