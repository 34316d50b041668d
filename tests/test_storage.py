"""The workdir lock and atomic writes (no TensorFlow needed)."""
import os
import signal
import subprocess
import sys
import time

import pytest

from storage import atomic, workdir

HOLD_LOCK = """
import sys, time
from storage import workdir
with workdir.locked(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(60)
"""


def test_a_second_lock_on_the_same_workdir_names_the_holder(tmp_path):
    with workdir.locked(str(tmp_path)):
        with pytest.raises(workdir.WorkdirInUse,
                           match=rf"{tmp_path} is in use by another run \(PID "
                                 rf"{os.getpid()}\)"):
            with workdir.locked(str(tmp_path)):
                pass
    with workdir.locked(str(tmp_path)):  # released at the end of the block
        pass


def test_other_workdirs_are_not_blocked(tmp_path):
    with workdir.locked(str(tmp_path / "a")), workdir.locked(str(tmp_path / "b")):
        assert (tmp_path / "a" / workdir.LOCK_FILE).exists()


def test_a_killed_holder_does_not_block_the_next_run(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(tmp_path)], stdout=subprocess.PIPE,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))), text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(workdir.WorkdirInUse, match=f"PID {holder.pid}"):
            with workdir.locked(str(tmp_path)):
                pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    deadline = time.monotonic() + 10
    while True:  # the kernel releases the lock as the process exits
        try:
            with workdir.locked(str(tmp_path)):
                break
        except workdir.WorkdirInUse:
            assert time.monotonic() < deadline, "the lock outlived its holder"
            time.sleep(0.1)


def test_atomic_write_replaces_whole_and_honours_the_umask(tmp_path):
    path = tmp_path / "out" / "file.bin"
    atomic.write_atomically(str(path), b"old")
    atomic.write_atomically(str(path), b"new contents")
    assert path.read_bytes() == b"new contents"
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask
    assert os.listdir(path.parent) == ["file.bin"]  # no temporary left behind
