"""What a command prints: TensorFlow's harmless native lines and INFO records are
dropped (environment.py), D's leaky ReLU no longer breaks Grappler's remapper, and
real warnings still show."""
import os
import subprocess
import sys
import threading

import keras
import numpy as np
import pytest
import tensorflow as tf

import environment
from models import discriminator
from tests.helpers import REPO

CUINIT = ("E0000 00:00:1796008787.847017   20571 cuda_platform.cc:52] failed call to "
          "cuInit: INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)")
NATIVE_INFO = ("I0000 00:00:1796008784.968964   20571 port.cc:153] oneDNN custom "
               "operations are on.")
NATIVE_WARNING = "W0000 00:00:1796008784.968964   20571 some_op.cc:12] a real warning"
PREAMBLE = ("WARNING: All log messages before absl::InitializeLog() is called are "
            "written to STDERR")
ABSL_INFO = ("I1130 03:22:30.930791 139750764391296 loop.py:225] step 1/3 | G 7.349 | "
             "D - | 0.20 steps/s")


def filtered(chunks, min_level=1, nvidia_device=False):
    """What environment.filter_stream passes of `chunks` written to a pipe, and what
    it had passed before the writer closed (a progress bar must not wait)."""
    source_read, source_write = os.pipe()
    target_read, target_write = os.pipe()
    worker = threading.Thread(target=environment.filter_stream,
                              args=(source_read, target_write, min_level,
                                    nvidia_device))
    worker.start()
    for chunk in chunks:
        os.write(source_write, chunk.encode())
    os.close(source_write)
    worker.join(timeout=10)
    os.close(source_read)
    os.close(target_write)
    with os.fdopen(target_read) as target:
        return target.read()


def test_native_noise_is_dropped_and_everything_else_kept():
    kept = [ABSL_INFO, NATIVE_WARNING, "Traceback (most recent call last):",
            "  ValueError: E0000 is not a prefix here",
            "train.py:3: UserWarning: a real Python warning"]
    cpu_features = ("To enable the following instructions: AVX2 FMA, in other "
                    "operations, rebuild TensorFlow with the appropriate compiler flags.")
    text = "\n".join([PREAMBLE, CUINIT, NATIVE_INFO, cpu_features] + kept) + "\n"
    # Split mid-line, as a pipe may deliver it.
    assert filtered([text[:50], text[50:130], text[130:]]) == "\n".join(kept) + "\n"


def test_cuinit_is_kept_with_an_nvidia_device_and_levels_follow_the_setting():
    assert filtered([CUINIT + "\n"], nvidia_device=True) == CUINIT + "\n"
    assert filtered([NATIVE_WARNING + "\n"], min_level=2) == ""
    assert filtered([NATIVE_INFO + "\n"], min_level=0) == NATIVE_INFO + "\n"


def test_unfinished_lines_pass_at_once_unless_they_may_be_native():
    progress = "\r 40%|####      | 4/10"
    source_read, source_write = os.pipe()
    target_read, target_write = os.pipe()
    worker = threading.Thread(target=environment.filter_stream,
                              args=(source_read, target_write, 1, False), daemon=True)
    worker.start()
    os.write(source_write, progress.encode())
    assert os.read(target_read, 1000).decode() == progress  # before any newline
    os.write(source_write, b"\nE0000 00:00:17960")  # held: it may be the cuInit line
    os.write(source_write, CUINIT[len("E0000 00:00:17960"):].encode() + b"\ndone\n")
    os.close(source_write)
    worker.join(timeout=10)
    os.close(target_write)
    with os.fdopen(target_read) as target:
        assert target.read() == "\ndone\n"
    os.close(source_read)


@pytest.mark.parametrize("slope", [0.2, 0.01])
def test_discriminator_leaky_relu_matches_keras_in_values_and_gradients(slope):
    # Exact zeros too: both give the slope there.
    values = np.concatenate([np.random.default_rng(0).normal(size=64),
                             [0.0, -0.0, 1e-30, -1e-30]]).astype(np.float32)
    x = tf.constant(values)
    ours = discriminator.LeakyReLU(slope)
    reference = keras.layers.LeakyReLU(negative_slope=slope)
    results = []
    for layer in (ours, reference):
        with tf.GradientTape() as outer:
            outer.watch(x)
            with tf.GradientTape() as inner:
                inner.watch(x)
                y = layer(x)
                loss = tf.reduce_sum(y * y * tf.range(1.0, 69.0))
            gradient = inner.gradient(loss, x)
            second = tf.reduce_sum(gradient * gradient)
        results.append((y, gradient, outer.gradient(second, x)))
    for mine, theirs in zip(*results):
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy())


@pytest.mark.slow
def test_train_prints_no_native_errors_and_keeps_real_warnings(tmp_path):
    # A genuine Python warning and absl warning from inside the program, after its
    # set-up, at exit.
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(
        "import atexit\n"
        "def _warn():\n"
        "    import warnings\n"
        "    from absl import logging\n"
        "    warnings.warn('a genuine Python warning')\n"
        "    logging.warning('a genuine absl warning')\n"
        "atexit.register(_warn)\n")
    environment_variables = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    environment_variables.pop("TF_CPP_MIN_LOG_LEVEL", None)
    # pretrain_steps=1: the adversarial stage (D's graph, the remapper) runs; the
    # export includes the SavedModel ("unsupported characters").
    result = subprocess.run(
        [sys.executable, "train.py", "--config=experiments/quickstart.py:test",
         f"--workdir={tmp_path / 'run'}", "--config.train.pretrain_steps=1",
         "--config.train.export_saved_model=true"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
        env=environment_variables)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert not [line for line in lines if line.startswith("E0000")
                or "cuInit" in line or "remapper" in line], result.stderr
    for noise in ("Sharding callback duration", "unsupported characters",
                  "All log messages before absl::InitializeLog"):
        assert noise not in result.stderr
    assert "UserWarning: a genuine Python warning" in result.stderr
    assert any(line.startswith("W") and "a genuine absl warning" in line
               for line in lines), result.stderr
    assert any("step 3/3" in line for line in lines)  # the run's own INFO lines


@pytest.mark.slow
def test_the_program_ends_after_its_last_stderr_line():
    # The filter process writes the last lines before the program's exit is seen: a
    # shell's next output (its prompt) comes after them.
    result = subprocess.run(
        ["sh", "-c", f"{sys.executable} evaluate.py --no_such_flag 2>&1; echo END"],
        cwd=REPO, capture_output=True, text=True, timeout=120)
    lines = result.stdout.splitlines()
    assert lines[-1] == "END" and any("no_such_flag" in line for line in lines[:-1])
