"""What a run's workdir and an export folder hold. Every reader and writer names
their files through this module.

    <workdir>/config.json     the resolved config of the run
    <workdir>/styles.json     {"names": [...]}: style names in style-id order
    <workdir>/checkpoints/    tf.train.CheckpointManager checkpoints
    <workdir>/export/         the export, written when the run finishes
    <workdir>/samples/        NNNNNNN.png: the sample grid of each image step
    <workdir>/demo_data/      content/, styles/ and eval_content/ (held-out photos),
                              when data.demo is on
    <workdir>/.lock           locked (flock) by the run using the workdir; holds its PID

    <export>/generator.keras  G, loaded in Keras safe mode
    <export>/encoder.keras    the style encoder, when the run trained one
    <export>/styles.json      {"names", "codes", "code_dim", "encoder_image_size", ...}
    <export>/saved_model/     a TensorFlow SavedModel of the same
    <export>/manifest.json    {"step", "files": {path: sha256}}: every file of the
                              export, checked on load, so a mixed export is refused
    <export>/calibration.json even-step slider curves (painting.calibration), tied to
                              the generator.keras they were measured on by its sha256
    <parent>/.<export>.tmp-*  an export being written (renamed into place when whole)
    <parent>/.<export>.old-*  the export it replaces, deleted after the swap
"""
import contextlib
import fcntl
import hashlib
import json
import os

from storage import atomic

CONFIG_FILE = "config.json"
STYLES_FILE = "styles.json"
CHECKPOINT_DIR = "checkpoints"
EXPORT_DIR = "export"
DEMO_DATA_DIR = "demo_data"
DEMO_CONTENT_DIR = "content"
DEMO_STYLE_DIR = "styles"
DEMO_EVAL_CONTENT_DIR = "eval_content"
SAMPLES_DIR = "samples"
LOCK_FILE = ".lock"

GENERATOR_FILE = "generator.keras"
ENCODER_FILE = "encoder.keras"
SAVED_MODEL_DIR = "saved_model"
MANIFEST_FILE = "manifest.json"
CALIBRATION_FILE = "calibration.json"
# Folders beside an export named "<export>": the next one being written, and the one it
# replaces; any left by a killed export are removed by the next export.
EXPORT_TEMPORARY_PREFIX = ".{name}.tmp-"
EXPORT_OLD_PREFIX = ".{name}.old-"

# An EMA run checkpoints its averaged models under these names' prefix, beside the
# live ones ("ema_generator", "ema_bank", "ema_encoder").
EMA_PREFIX = "ema_"


def config_path(folder):
    return os.path.join(folder, CONFIG_FILE)


def styles_path(folder):
    return os.path.join(folder, STYLES_FILE)


def checkpoint_dir(workdir):
    return os.path.join(workdir, CHECKPOINT_DIR)


def export_dir(workdir):
    return os.path.join(workdir, EXPORT_DIR)


def demo_data_dir(workdir):
    return os.path.join(workdir, DEMO_DATA_DIR)


def demo_folders(workdir):
    """(content folder, style folder) of a demo-data run."""
    root = demo_data_dir(workdir)
    return os.path.join(root, DEMO_CONTENT_DIR), os.path.join(root, DEMO_STYLE_DIR)


def manifest_path(folder):
    return os.path.join(folder, MANIFEST_FILE)


def calibration_path(folder):
    return os.path.join(folder, CALIBRATION_FILE)


def is_export(folder):
    return os.path.isfile(os.path.join(folder, GENERATOR_FILE))


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def folder_checksums(folder):
    """{path relative to `folder`: sha256} of every file under `folder` but its
    manifest: what an export's manifest lists."""
    checksums = {}
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            relative = os.path.relpath(path, folder)
            if relative != MANIFEST_FILE:
                checksums[relative] = file_sha256(path)
    return dict(sorted(checksums.items()))


def read_json(path):
    """The JSON value in `path`, or ValueError naming the file."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as error:
        raise ValueError(f"{path} cannot be read ({error}).") from error


def read_config(folder):
    """The run config (a dict) in `folder`, or None when it has no config.json."""
    path = config_path(folder)
    return read_json(path) if os.path.isfile(path) else None


def read_style_names(folder):
    """Style names in style-id order from the styles.json of a workdir or an export
    (both layouts hold "names"); None when there is no styles.json."""
    path = styles_path(folder)
    return read_json(path)["names"] if os.path.isfile(path) else None


def data_folders(config, workdir):
    """(content folder, style folder) a run trained on, from its config dict."""
    data = config["data"]
    if data["demo"]:
        return demo_folders(workdir)
    return data["content_dir"], data["style_dir"]


def demo_eval_content_dir(workdir):
    """The held-out photos of a demo-data run (none of them in its content folder)."""
    return os.path.join(demo_data_dir(workdir), DEMO_EVAL_CONTENT_DIR)


def sample_grid_path(workdir, step):
    return os.path.join(workdir, SAMPLES_DIR, f"{step:07d}.png")


def write_style_names(workdir, names):
    """Writes a workdir's styles.json, the layout read_style_names reads."""
    atomic.write_json(styles_path(workdir), {"names": list(names)})


def write_config(workdir, config_json):
    """Writes a workdir's config.json from the config's JSON text."""
    atomic.write_atomically(config_path(workdir), (config_json + "\n").encode())


class WorkdirInUse(RuntimeError):
    """Another process holds the workdir's lock."""


@contextlib.contextmanager
def locked(workdir):
    """Holds an exclusive lock on `workdir` while the block runs.

    An OS lock (flock), not a marker file: the kernel releases it when its holder
    exits, however it exits, so a killed run never blocks the next one.

    Raises:
      WorkdirInUse: naming the workdir and the PID of the process holding it.
    """
    os.makedirs(workdir, exist_ok=True)
    descriptor = os.open(os.path.join(workdir, LOCK_FILE), os.O_RDWR | os.O_CREAT,
                         0o666)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(descriptor, 32, 0).decode(errors="replace").strip()
            raise WorkdirInUse(
                f"The workdir {workdir} is in use by another run (PID "
                f"{holder or 'unknown'}); wait for it to end or use another "
                f"--workdir.") from None
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(descriptor)  # closing the last descriptor releases the lock
