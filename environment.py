"""What the command-line programs set up before TensorFlow is imported: its logging.

train.py, stylize.py, evaluate.py and experiments/figures.py import this module first.

TensorFlow 2.21's native libraries log through absl before absl is initialised, so
TF_CPP_MIN_LOG_LEVEL does not reach them: every command starts with "I0000 ..." lines
and, on a machine without an NVIDIA driver, "E0000 ... failed call to cuInit", which
reads as a failure. A small filter process between the program and its stderr drops
native lines below TF_CPP_MIN_LOG_LEVEL (1 here: native warnings and errors stay
visible) and the cuInit error when there is no NVIDIA device; everything else,
Python's warnings and tracebacks included, passes unchanged. A separate process
rather than a thread: when the program dies (a crash, kill -9) the filter still
copies the last lines, then sees the end of the pipe and exits.
TF_CPP_MIN_LOG_LEVEL=0 turns the filter off.

TensorFlow's Python code logs routine INFO records ("Sharding callback duration" at
every checkpoint, "unsupported characters" at every export) through absl, the logger
of the project's own progress lines, and through its "tensorflow" logger; a filter on
both drops TensorFlow's INFO records and keeps its warnings and every record of ours.
"""
import atexit
import importlib.util
import logging
import os
import re
import signal
import sys
import time

from absl import logging as absl_logging

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")

# Native absl lines before absl::InitializeLog: "<level>0000 00:00:<time> <thread>
# <file>:<line>] <message>".
NATIVE_LINE = re.compile(r"^([IWEF])0000 00:00:")
NATIVE_LEVELS = {"I": 0, "W": 1, "E": 2, "F": 3}
NATIVE_PREAMBLE = "WARNING: All log messages before absl::InitializeLog() is called"
# Only the CUDA plugin's probe: the program runs on the CPU as it would anyway.
NO_DRIVER_LINE = re.compile(r"cuda_platform\.cc:\d+\] failed call to cuInit")


def has_nvidia_device():
    return os.path.exists("/proc/driver/nvidia") or os.path.exists("/dev/nvidia0")


# The second line of cpu_feature_guard's INFO message, which has no prefix of its own.
CPU_FEATURES_LINE = re.compile(r"^To enable the following instructions: .*, in other "
                               r"operations, rebuild TensorFlow with the appropriate "
                               r"compiler flags\.$")


def is_harmless(line, min_level, nvidia_device):
    """Whether a complete stderr line is TensorFlow's native noise."""
    if line.startswith(NATIVE_PREAMBLE):
        return True
    if min_level > 0 and CPU_FEATURES_LINE.match(line):
        return True
    match = NATIVE_LINE.match(line)
    if not match:
        return False
    if NATIVE_LEVELS[match.group(1)] < min_level:
        return True
    return not nvidia_device and bool(NO_DRIVER_LINE.search(line))


def _may_become_native(tail):
    """Whether an unfinished line could still turn out to be a native log line (it
    is held until its newline; any other output, a progress bar, passes at once)."""
    return any(prefix.startswith(tail) or tail.startswith(prefix) for prefix in (
        "I0000 00:00:", "W0000 00:00:", "E0000 00:00:", "F0000 00:00:",
        NATIVE_PREAMBLE))


def filter_stream(read_fd, write_fd, min_level, nvidia_device):
    """Copies read_fd to write_fd until the end, dropping harmless native lines."""
    pending = ""
    while chunk := os.read(read_fd, 65536):
        pending += chunk.decode("utf-8", errors="surrogateescape")
        *lines, pending = pending.split("\n")
        kept = "".join(line + "\n" for line in lines
                       if not is_harmless(line, min_level, nvidia_device))
        if pending and not _may_become_native(pending):
            kept, pending = kept + pending, ""
        if kept:
            os.write(write_fd, kept.encode("utf-8", errors="surrogateescape"))
    if pending and not is_harmless(pending, min_level, nvidia_device):
        os.write(write_fd, pending.encode("utf-8", errors="surrogateescape"))


def _start_filter_process(min_level):
    read_fd, write_fd = os.pipe()
    original_stderr = os.dup(2)
    nvidia_device = has_nvidia_device()
    pid = os.fork()
    if pid == 0:
        # Signals meant for the program (Ctrl-C, a scheduler's SIGTERM to the group)
        # must not take its last lines with them: the filter ends at the pipe's end.
        for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(number, signal.SIG_IGN)
        os.close(write_fd)
        try:
            filter_stream(read_fd, original_stderr, min_level, nvidia_device)
        finally:
            os._exit(0)  # none of the program's exit handlers run here
    os.close(read_fd)
    os.dup2(write_fd, 2)
    os.close(write_fd)
    atexit.register(_stop_filter_process, pid, original_stderr, os.getpid())


def _stop_filter_process(pid, original_stderr, program_pid, timeout=5.0):
    """At exit: stderr goes straight out again, and the program ends only after the
    filter has written everything, so no line appears after the shell's prompt."""
    if os.getpid() != program_pid:  # a forked copy of the program: not its filter
        return
    try:
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    os.dup2(original_stderr, 2)  # closes the pipe: the filter sees its end
    os.close(original_stderr)
    deadline = time.monotonic() + timeout  # a child process may still hold the pipe
    try:
        while os.waitpid(pid, os.WNOHANG) == (0, 0) and time.monotonic() < deadline:
            time.sleep(0.01)
    except ChildProcessError:  # already reaped
        pass


def _run_as_a_program():
    """Whether a program of this repository is running (python train.py, python -m
    experiments.figures), not a test runner importing one: its capture of stderr
    stays untouched."""
    main_file = getattr(sys.modules.get("__main__"), "__file__", None) or ""
    root = os.path.dirname(os.path.abspath(__file__))
    return os.path.abspath(main_file).startswith(root + os.sep)


class _QuietTensorFlowInfo(logging.Filter):
    """Drops INFO records logged from TensorFlow's own Python files."""

    def __init__(self):
        super().__init__()
        spec = importlib.util.find_spec("tensorflow")  # finds without importing
        self.folder = (os.path.dirname(spec.origin) + os.sep
                       if spec and spec.origin else None)

    def filter(self, record):
        return not (self.folder and record.levelno < logging.WARNING
                    and record.pathname.startswith(self.folder))


def _setup():
    quiet = _QuietTensorFlowInfo()
    absl_logging.get_absl_logger().addFilter(quiet)
    logging.getLogger("tensorflow").addFilter(quiet)  # "Assets written to: ..." 
    level = os.environ["TF_CPP_MIN_LOG_LEVEL"].strip()
    min_level = int(level) if level.isdigit() else 0
    if min_level > 0 and hasattr(os, "fork") and _run_as_a_program():
        sys.stderr.flush()
        _start_filter_process(min_level)


_setup()
