"""A held-out split of a run's folders: `data.exclude` names image files of
data.content_dir and data.style_dir that training never sees (data/pipeline.py and
data/images.list_styles leave them out), and this module checks that list and copies
the held-out files into a folder tree the evaluation reads:

    python -m data.split --config=experiments/paintings.py:heldout --output=heldout

writes heldout/<content folder name>/... (photos to evaluate on) and, per style
folder, heldout/<style folder name>/... (e.g. heldout/collections/vangogh/005.jpg,
unseen works of a trained painter, and heldout/styles/munch-the-scream.jpg, a
painting the run never saw). Files are copied, never moved: the source stays whole.
"""
import os
import sys

from absl import app, flags
from ml_collections import config_flags

from data import images
from storage import atomic


def split_roots(data_config):
    """The folders exclude entries may lie in: the content folder and each style
    folder, as given in the config."""
    content = str(data_config.content_dir).strip()
    return ([content] if content else []) + [
        str(folder) for folder in images.style_folders(data_config.style_dir)]


def root_of(path, roots):
    """The folder of `roots` that holds `path` (compared as real paths), or None."""
    real = os.path.realpath(path)
    for root in roots:
        real_root = os.path.realpath(root)
        if os.path.commonpath([real, real_root]) == real_root and real != real_root:
            return root
    return None


def exclude_problem(data_config):
    """Why data.exclude cannot be used, as the end of a sentence, or None.

    Every entry must be an existing image file inside data.content_dir or one of the
    data.style_dir folders; with data.tfrecords or data.demo there are no such folders.
    """
    exclude = tuple(data_config.exclude)
    if not exclude:
        return None
    if data_config.tfrecords or data_config.demo:
        return "an empty list with data.tfrecords or data.demo (it names folder files)"
    roots = split_roots(data_config)
    for entry in exclude:
        if not os.path.isfile(entry):
            return f"existing image files, but {entry!r} is not a file"
        if os.path.splitext(entry)[1].lower() not in images.IMAGE_EXTENSIONS:
            return f"image files, but {entry!r} is not an image file name"
        if root_of(entry, roots) is None:
            return (f"files inside data.content_dir or data.style_dir, but {entry!r} "
                    f"is in neither")
    return None


def held_out_destinations(data_config, output):
    """(source, destination) of every excluded file: its path relative to its folder,
    under output/<that folder's name>."""
    roots = split_roots(data_config)
    pairs = []
    for entry in data_config.exclude:
        root = root_of(entry, roots)
        relative = os.path.relpath(os.path.realpath(entry), os.path.realpath(root))
        pairs.append((entry, os.path.join(output, os.path.basename(
            os.path.normpath(root)), relative)))
    return pairs


def write_held_out(data_config, output):
    """Copies the excluded files into `output` (see the module docstring); returns the
    destinations. Each copy is written atomically."""
    problem = exclude_problem(data_config)
    if problem:
        raise ValueError(f"data.exclude is invalid; expected {problem}.")
    destinations = []
    for source, destination in held_out_destinations(data_config, output):
        os.makedirs(os.path.dirname(destination), exist_ok=True)
        with open(source, "rb") as file:
            atomic.write_atomically(destination, file.read())
        destinations.append(destination)
    return destinations


def main(argv):
    del argv
    config = _CONFIG.value
    if os.path.exists(_OUTPUT.value) and os.listdir(_OUTPUT.value):
        print(f"--output={_OUTPUT.value} is not empty; expected a new or empty folder.",
              file=sys.stderr)
        return 2
    try:
        written = write_held_out(config.data, _OUTPUT.value)
    except (ValueError, OSError) as error:
        print(error, file=sys.stderr)
        return 1
    print(f"Wrote {len(written)} held-out files under {_OUTPUT.value}.")
    return 0


if __name__ == "__main__":
    _CONFIG = config_flags.DEFINE_config_file("config", None, "Experiment config file.")
    _OUTPUT = flags.DEFINE_string("output", None, "Folder to copy the held-out files to.")
    flags.mark_flags_as_required(["config", "output"])
    app.run(main)
