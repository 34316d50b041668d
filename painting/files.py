"""Painting files and folders: content lists, output paths, checks made before
anything is written, and a batch run that reports the images it could not paint."""
import glob
import os
import tempfile

import keras
from absl import logging

from data import images as image_files
from painting import images, painter as painter_lib, plan as plan_lib
from painting.errors import UsageError
from storage import atomic


def list_contents(content):
    """Content image files from a file, a folder (recursive) or a glob."""
    if os.path.isdir(content):
        files = image_files.list_images(content)
    elif os.path.isfile(content):
        files = [content]
    else:
        files = sorted(path for path in glob.glob(content, recursive=True)
                       if os.path.isfile(path))
    if not files:
        raise UsageError(f"--content {content!r} matches no image file; expected an "
                         f"image, a folder of images or a glob.")
    return files


def check_readable(path):
    """Raises ValueError naming `path` if it is not an image painting can read."""
    problem = image_files.image_problem(path)
    if problem:
        raise ValueError(f"Content file {path!r} is not a readable image: {problem}.")


def output_paths(content, files, output):
    """Output path of each content file; a folder output keeps names, as PNG."""
    extensions = images.OUTPUT_EXTENSIONS
    if os.path.splitext(output)[1].lower() in extensions:
        if len(files) != 1:
            raise UsageError(f"--output {output!r} is one file but --content {content!r} "
                             f"has {len(files)} images; give an output folder.")
        return [output]
    if os.path.splitext(output)[1] and not os.path.isdir(output):
        raise UsageError(f"--output {output!r} has an unsupported extension; expected "
                         f"{', '.join(extensions)} or a folder.")
    base = content if os.path.isdir(content) else None
    paths = []
    for path in files:
        relative = os.path.relpath(path, base) if base else os.path.basename(path)
        paths.append(os.path.join(output, os.path.splitext(relative)[0] + ".png"))
    if len(set(paths)) != len(paths):
        raise UsageError(f"Two contents of {content!r} would write the same output in "
                         f"{output!r} (same name, different extension).")
    return paths


def check_outputs(outputs, inputs):
    """Refuses to overwrite an input and checks the output folders can be written,
    before anything is computed or written."""
    protected = {os.path.realpath(path) for path in inputs}
    for path in outputs:
        if os.path.realpath(path) in protected:
            raise UsageError(f"Output {path!r} is one of the inputs; choose another "
                             f"output path (inputs are never overwritten).")
    for folder in sorted({os.path.dirname(os.path.abspath(p)) for p in outputs}):
        existing = folder
        while not os.path.exists(existing):
            existing = os.path.dirname(existing)
        if not os.path.isdir(existing):
            raise ValueError(f"Output folder {folder!r} cannot be created: {existing!r} "
                             f"is a file.")
        try:
            with tempfile.TemporaryFile(dir=existing):
                pass
        except OSError as error:
            raise ValueError(f"Output folder {folder!r} is not writable "
                             f"({error.strerror}).") from error


def check_max_size(max_size):
    """--max_size is 0 (full size) or a long side painting can work at."""
    if max_size != 0 and not images.MIN_SIDE <= max_size:
        raise UsageError(f"--max_size={max_size} must be 0 (full size) or at least "
                         f"{images.MIN_SIDE} pixels (the long side contents are "
                         f"downscaled to).")


def input_files(files, styles, masks):
    """Every file a run reads: contents, style images and mask images."""
    style_paths = [path for path, _ in map(plan_lib.parse_style_spec, styles)
                   if os.path.exists(path)]
    return files + style_paths + [mask.lstrip("~") for mask in masks]


class BatchError(ValueError):
    """Some images of a folder run failed; the others were written.

    Attributes: written (output paths), failures ([(content path, error message)]).
    """

    def __init__(self, written, failures):
        self.written, self.failures = written, failures
        lines = "\n".join(f"  {path}: {message}" for path, message in failures)
        super().__init__(f"{len(failures)} of {len(failures) + len(written)} images "
                         f"failed and were not written (the other {len(written)} "
                         f"were):\n{lines}")


def paint_files(model, content, output, *, styles=(), masks=(), strength=1.0,
                coarse_style=None, fine_style=None, preserve_color=False, max_size=0,
                tile_size=painter_lib.AUTO, tile_overlap=128, progress=True):
    """Paints every content image and writes the results; returns the output paths.

    `model` is a run's workdir, an export folder or a loaded painting.Painter (to
    paint many times with one model; its own tile options then apply). Every input
    and option is validated before anything is written, and each output is written
    atomically (complete or absent). In a run over several images, an image that
    fails later (e.g. a truncated file) is skipped with an error naming it, the
    others are still painted, and BatchError lists the failures at the end; with one
    image, its error is raised as is. Unreadable files (empty, truncated, not an
    image, too large) are such failures, found before decoding.
    """
    check_max_size(max_size)
    painter = (model if isinstance(model, painter_lib.Painter) else painter_lib.load(
        model, tile_size=tile_size, tile_overlap=tile_overlap))
    plan = painter.plan(styles=styles, masks=masks, strength=strength,
                        coarse_style=coarse_style, fine_style=fine_style)
    files = list_contents(content)
    outputs = output_paths(content, files, output)
    check_outputs(outputs, input_files(files, styles, masks))
    bar = keras.utils.Progbar(len(files)) if progress and len(files) > 1 else None
    written, failures = [], []
    for index, (path, output_path) in enumerate(zip(files, outputs)):
        try:
            check_readable(path)
            painted = painter.paint(images.load_content(path, max_size), plan,
                                    preserve_color=preserve_color)
            atomic.write_image(output_path, painted)
            written.append(output_path)
        except Exception as error:  # noqa: BLE001 -- reported per file, below
            if len(files) == 1:
                raise
            logging.error("Content %s failed, skipped: %s", path, error)
            failures.append((path, f"{type(error).__name__}: {error}"))
        if bar is not None:
            bar.update(index + 1)
    if failures:
        raise BatchError(written, failures)
    logging.info("Wrote %d image(s): %s", len(outputs),
                 outputs[0] if len(outputs) == 1 else os.path.dirname(outputs[0]))
    return outputs
