"""Multi-worker training: two train.py processes on 127.0.0.1 under
MultiWorkerMirroredStrategy (TF_CONFIG), one of them preempted by SIGTERM.

MultiWorkerMirroredStrategy must be created before any other TensorFlow op of its
process, so the workers are subprocesses, not this test process.
"""
import glob
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import ml_collections
import pytest
import tensorflow as tf

from painting import loading
from tests.helpers import REPO
from training import strategy as strategy_lib

# A launch took about 75 s on the 2-core machine and up to 3.5 min when it was shared
# with other jobs (import, model build and tracing dominate); the limit only guards
# against a hang.
LAUNCH_TIMEOUT_SECONDS = 600


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def start_workers(workdirs, log_dir, launch, extra_flags):
    """Starts one train.py per workdir (worker i on workdirs[i]); logs to files."""
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(len(workdirs))]}
    processes = []
    for index, workdir in enumerate(workdirs):
        environment = dict(os.environ, TF_CONFIG=json.dumps(
            {"cluster": cluster, "task": {"type": "worker", "index": index}}))
        log = open(os.path.join(log_dir, f"launch{launch}_worker{index}.log"), "w+")
        processes.append((subprocess.Popen(
            [sys.executable, "train.py", "--config=experiments/quickstart.py:test",
             f"--workdir={workdir}", "--config.strategy.name=multi_worker",
             "--config.train.pretrain_steps=0", *extra_flags],
            cwd=REPO, env=environment, stdout=log, stderr=subprocess.STDOUT), log))
    return processes


def read_log(log):
    log.flush()
    log.seek(0)
    return log.read()


def wait_all(processes, deadline):
    for process, _ in processes:
        process.wait(timeout=max(1.0, deadline - time.monotonic()))
    return [read_log(log) for _, log in processes]


def stop_all(processes):
    for process, log in processes:
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()


def fingerprint(log_text):
    (value,) = re.findall(r"Generator weights fingerprint at step \d+: (\w+)", log_text)
    return value


@pytest.mark.slow
def test_two_workers_stop_together_on_sigterm_resume_and_end_identical(tmp_path):
    chief_workdir, worker_workdir = str(tmp_path / "chief"), str(tmp_path / "worker")

    # Launch 1: separate workdirs, to see that the non-chief writes nothing into its
    # own. SIGTERM to the non-chief alone must stop both at the same step.
    processes = start_workers([chief_workdir, worker_workdir], str(tmp_path), 1,
                              ["--config.train.num_steps=100000",
                               "--config.train.checkpoint_every=100000"])
    try:
        deadline = time.monotonic() + LAUNCH_TIMEOUT_SECONDS
        while "step 2/" not in read_log(processes[0][1]):
            assert time.monotonic() < deadline, read_log(processes[0][1])
            assert processes[0][0].poll() is None, read_log(processes[0][1])
            time.sleep(0.5)
        processes[1][0].send_signal(signal.SIGTERM)
        chief_log, worker_log = wait_all(processes, deadline)
    finally:
        stop_all(processes)
    # 143 on both: the job was preempted, not finished (the chief exits as its
    # preempted worker does).
    assert [p.returncode for p, _ in processes] == [143, 143], chief_log + worker_log
    assert "Stopped by SIGTERM" in worker_log
    assert "Stopped by a signal to another worker" in chief_log
    saved = re.search(r"Stopped by .* at step (\d+)", chief_log).group(1)
    assert f"at step {saved} after saving" in worker_log
    assert os.path.basename(tf.train.latest_checkpoint(
        os.path.join(chief_workdir, "checkpoints"))) == f"ckpt-{saved}"
    assert fingerprint(chief_log) == fingerprint(worker_log)
    # The non-chief wrote no checkpoint, summary, sample or config of its own.
    assert os.listdir(worker_workdir) == []
    first_chief_pid = processes[0][0].pid

    # Launch 2: the restarted job, both workers on the chief's workdir (a shared
    # filesystem, as in a real cluster), continues from the saved step.
    final_step = int(saved) + 2
    processes = start_workers([chief_workdir, chief_workdir], str(tmp_path), 2,
                              [f"--config.train.num_steps={final_step}"])
    try:
        chief_log, worker_log = wait_all(
            processes, time.monotonic() + LAUNCH_TIMEOUT_SECONDS)
    finally:
        stop_all(processes)
    assert [p.returncode for p, _ in processes] == [0, 0], chief_log + worker_log
    for log_text in (chief_log, worker_log):
        assert f"ckpt-{saved} at step {saved}." in log_text
        assert f"step {final_step}/{final_step}" in log_text
    # Identical weights on both workers, and in the chief's export.
    assert fingerprint(chief_log) == fingerprint(worker_log)
    generator, _, _ = loading.load_export(chief_workdir)
    assert strategy_lib.weights_fingerprint(generator) == fingerprint(chief_log)
    # Everything in the workdir was written by the chief: its event files carry the
    # chief's process ids (one per launch), and the last sample grid is there.
    event_pids = {re.search(r"\.(\d+)\.\d+\.v2$", path).group(1)
                  for path in glob.glob(os.path.join(chief_workdir, "events.out.*"))}
    assert event_pids == {str(first_chief_pid), str(processes[0][0].pid)}
    assert sorted(os.listdir(os.path.join(chief_workdir, "samples")))[-1] == \
        f"{final_step:07d}.png"


@pytest.mark.parametrize("tf_config, message", [
    (None, "needs the TF_CONFIG environment variable"),
    ('{"cluster": {"worker": ["a:1"]}}', "needs the TF_CONFIG environment variable"),
    ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 3}}',
     "is not in its cluster"),
])
def test_multi_worker_with_a_bad_tf_config_is_a_clear_error(monkeypatch, tf_config,
                                                            message):
    if tf_config is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", tf_config)
    with pytest.raises(ValueError, match=message):
        strategy_lib.make_strategy(ml_collections.ConfigDict(
            {"name": "multi_worker", "cpu_devices": 0, "tpu_address": ""}))


def test_tpu_without_an_address_is_a_clear_error():
    with pytest.raises(ValueError, match="needs strategy.tpu_address"):
        strategy_lib.make_strategy(ml_collections.ConfigDict(
            {"name": "tpu", "cpu_devices": 0, "tpu_address": ""}))
