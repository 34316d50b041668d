r"""Paints images in one style or a fusion of styles with a trained model.

    python stylize.py --model=runs/quickstart --list_styles
    python stylize.py --model=runs/quickstart --content=photo.jpg --style=swirls \
        --output=out.png
    python stylize.py --model=runs/quickstart --content=photos/ --style=swirls:0.6 \
        --style=mosaic:0.4 --output=stylized/
    python stylize.py --model=runs/quickstart --content=photo.jpg --style=swirls \
        --style=mosaic --mask=left --mask=right --output=halves.png
    python stylize.py --model=runs/quickstart --content=photo.jpg \
        --coarse_style=mosaic --fine_style=swirls --output=layers.png

--model is a run's workdir or its export folder; a workdir whose run has not finished
(no export yet) is painted with its newest checkpoint. A style is a name of the model
(--list_styles) or, for a model trained with a style encoder, the path of any style
image; `:weight` sets its share in the fusion. Images with a side above --tile_size
are painted in overlapping tiles with the result of painting them whole
(models/tiling.py), so memory stays bounded at any size. Outputs are PNG or JPEG by
extension, each written atomically, never over an input. In a folder run an image that
fails is named and skipped, the rest are painted, and the run ends with a list of the
failures and exit status 1.
"""
import glob
import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from absl import app, flags, logging  # noqa: E402

OUTPUT_EXTENSIONS = (".png", ".jpg", ".jpeg")
STRIDE = 4  # models.generator.STRIDE, without importing TensorFlow for --help
# Smaller images (down to 1x1) are padded to this: G's reflection padding needs at
# least 2 pixels at 1/4 scale and 5 at full scale.
MIN_SIDE = 16


# --------------------------------------------------------------------------- painting


def run_generator(generator, image, coarse, fine=None, painter=None):
    """Paints one image [H, W, 3] (H, W multiples of STRIDE) with code fields (coarse
    and optionally fine, models.fusion.CodeField): whole, or with `painter`
    (models.tiling.TiledPainter) in tiles when a side exceeds its tile size."""
    import tensorflow as tf
    height, width = image.shape[:2]
    if painter is not None and max(height, width) > painter.tile_size:
        return painter.paint(image, coarse, fine)
    inputs = [tf.constant(image[None]), coarse.code_map(0, 0, height, width)]
    if fine is not None:
        inputs.append(fine.code_map(0, 0, height, width))
    return np.asarray(generator(inputs, training=False))[0]


# --------------------------------------------------------------------------- files


def list_contents(content):
    """Content image files from a file, a folder (recursive) or a glob."""
    from data import pipeline
    if os.path.isdir(content):
        files = pipeline.list_images(content)
    elif os.path.isfile(content):
        files = [content]
    else:
        files = sorted(path for path in glob.glob(content, recursive=True)
                       if os.path.isfile(path))
    if not files:
        raise ValueError(f"--content {content!r} matches no image file; expected an "
                         f"image, a folder of images or a glob.")
    return files


def check_readable(path):
    """Raises ValueError naming `path` if it is not an image stylize can read."""
    from data import pipeline
    problem = pipeline.image_problem(path)
    if problem:
        raise ValueError(f"Content file {path!r} is not a readable image: {problem}.")


def output_paths(content, files, output):
    """Output path of each content file; a folder output keeps names, as PNG."""
    is_file = os.path.splitext(output)[1].lower() in OUTPUT_EXTENSIONS
    if is_file:
        if len(files) != 1:
            raise ValueError(f"--output {output!r} is one file but --content {content!r} "
                             f"has {len(files)} images; give an output folder.")
        return [output]
    if os.path.splitext(output)[1] and not os.path.isdir(output):
        raise ValueError(f"--output {output!r} has an unsupported extension; expected "
                         f"{', '.join(OUTPUT_EXTENSIONS)} or a folder.")
    base = content if os.path.isdir(content) else None
    paths = []
    for path in files:
        relative = os.path.relpath(path, base) if base else os.path.basename(path)
        paths.append(os.path.join(output, os.path.splitext(relative)[0] + ".png"))
    if len(set(paths)) != len(paths):
        raise ValueError(f"Two contents of {content!r} would write the same output in "
                         f"{output!r} (same name, different extension).")
    return paths


def check_outputs(outputs, inputs):
    """Refuses to overwrite an input and checks the output folders can be written,
    before anything is computed or written."""
    protected = {os.path.realpath(path) for path in inputs}
    for path in outputs:
        if os.path.realpath(path) in protected:
            raise ValueError(f"Output {path!r} is one of the inputs; choose another "
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


def write_image(path, image):
    """float [0, 1] RGB -> PNG or JPEG (by extension), atomically."""
    import cv2
    from storage import atomic
    pixels = np.empty(np.shape(image), np.uint8)
    # In blocks of rows: one float copy of a 4096x4096 image is 200 MB.
    for start in range(0, len(pixels), 256):
        block = np.multiply(image[start:start + 256], 255.0, dtype=np.float32) + 0.5
        pixels[start:start + 256] = np.clip(block, 0, 255)
    extension = os.path.splitext(path)[1].lower()
    parameters = [cv2.IMWRITE_JPEG_QUALITY, 95] if extension != ".png" else []
    ok, encoded = cv2.imencode(extension, cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR),
                               parameters)
    if not ok:
        raise ValueError(f"Could not encode an image of shape {pixels.shape} as "
                         f"{extension}.")
    atomic.write_atomically(path, encoded.tobytes())


# --------------------------------------------------------------------------- API


def load_source(model):
    """(generator, StyleSource) of an export folder or a run's workdir: its export, or
    while the run has not finished (no export yet) its newest checkpoint."""
    from models import fusion
    from training import export, restore
    if not os.path.isfile(os.path.join(model, export.GENERATOR_FILE)) and not \
            os.path.isfile(os.path.join(model, "export", export.GENERATOR_FILE)) and \
            restore.latest_checkpoint(model):
        generator, names, codes, encoder, image_size, step = restore.load_checkpoint(
            model)
        logging.info("%s has no export yet: using its checkpoint at step %d.", model,
                     step)
        return generator, fusion.StyleSource(names, codes, encoder, image_size, model)
    generator, names, codes = export.load_export(model)
    styles = export.load_styles(model)
    return generator, fusion.StyleSource(
        names, codes, export.load_encoder(model),
        styles.get("encoder_image_size") or 256, model)


def prepare_content(path, max_size):
    """The content as float32 [H, W, 3], downscaled to max_size and padded (reflect) to
    multiples of STRIDE; returns (image, (height, width) to crop back to)."""
    import tensorflow as tf
    from models import fusion
    image = fusion.load_image(path, "Content file")
    if max_size and max(image.shape[:2]) > max_size:
        scale = max_size / max(image.shape[:2])
        size = [max(1, round(side * scale)) for side in image.shape[:2]]
        image = np.clip(tf.image.resize(image, size, antialias=True).numpy(), 0, 1)
    height, width = image.shape[:2]
    if (height % STRIDE == 0 and width % STRIDE == 0
            and min(height, width) >= MIN_SIDE):
        return image, (height, width)  # no copy: large images are large
    pad = [(0, max(-height % STRIDE, MIN_SIDE - height)),
           (0, max(-width % STRIDE, MIN_SIDE - width)), (0, 0)]
    mode = "reflect" if min(height, width) > STRIDE else "edge"
    return np.pad(image, pad, mode=mode), (height, width)


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


def stylize(model, content, output, styles=(), masks=(), strength=1.0,
            coarse_style=None, fine_style=None, preserve_color=False, max_size=0,
            tile_size=512, tile_overlap=128, progress=True):
    """Paints every content image and writes the results; returns the output paths.

    Args mirror the command-line flags (see the module docstring); `model` may also be
    a (generator, StyleSource) pair from load_source, to paint many times with one
    loaded model. Every input and option is validated before anything is written.
    Each output is written atomically (complete or absent). In a run over several
    images, an image that fails later (e.g. a truncated file) is skipped with an error
    naming it, the others are still painted, and BatchError lists the failures at the
    end; with one image, its error is raised as is. Unreadable files (empty, truncated,
    not an image, too large) are such failures, found before decoding.
    """
    import keras
    from models import fusion, tiling
    generator, source = load_source(model) if isinstance(model, str) else model
    plan = fusion.make_plan(source, styles, masks, strength, coarse_style, fine_style)
    painter = tiling.TiledPainter(generator, tile_size, tile_overlap)
    files = list_contents(content)
    outputs = output_paths(content, files, output)
    inputs = files + [p for p, _ in map(fusion.parse_style_spec, styles)
                      if os.path.exists(p)] + [m.lstrip("~") for m in masks]
    check_outputs(outputs, inputs)
    bar = keras.utils.Progbar(len(files)) if progress and len(files) > 1 else None
    written, failures = [], []
    for index, (path, output_path) in enumerate(zip(files, outputs)):
        try:
            check_readable(path)
            image, (height, width) = prepare_content(path, max_size)
            coarse, fine = plan.fields(image[:height, :width], source)
            painted = run_generator(generator, image, coarse, fine,
                                    painter)[:height, :width]
            if preserve_color:
                painted = fusion.preserve_color(image[:height, :width], painted)
            del image  # one image-sized array less while the output is encoded
            write_image(output_path, painted)
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


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    if not _MODEL.value:
        raise app.UsageError("--model is required (a run's workdir or export folder).")
    if _LIST.value:
        print("\n".join(load_source(_MODEL.value)[1].names))
        return
    if not _CONTENT.value or not _OUTPUT.value:
        raise app.UsageError("--content and --output are required.")
    try:
        stylize(_MODEL.value, _CONTENT.value, _OUTPUT.value, _STYLE.value, _MASK.value,
                _STRENGTH.value, _COARSE.value, _FINE.value, _PRESERVE.value,
                _MAX_SIZE.value, _TILE_SIZE.value, _TILE_OVERLAP.value)
    except BatchError as error:
        logging.error("%s", error)
        sys.exit(1)
    except ValueError as error:
        raise app.UsageError(str(error)) from error


if __name__ == "__main__":
    # Flags are defined only when this file is the program: other entry points
    # (experiments/figures.py) import it as a library and define their own --output.
    _MODEL = flags.DEFINE_string("model", None, "A run's workdir or its export folder.")
    _CONTENT = flags.DEFINE_string("content", None,
                                   "A content image, a folder of images, or a glob.")
    _STYLE = flags.DEFINE_multi_string(
        "style", [], "Style name or style image path, optionally :weight (repeat to fuse).")
    _MASK = flags.DEFINE_multi_string(
        "mask", [], "One per --style: a grayscale image or left/right/top/bottom/radial/"
        "all; prefix ~ inverts. Masks are normalised per pixel.")
    _STRENGTH = flags.DEFINE_float(
        "strength", 1.0, "In [0, 1]: 0 keeps the content (its own code), 1 the full style.")
    _COARSE = flags.DEFINE_string("coarse_style", None,
                                  "Style of the coarse layers (structure).")
    _FINE = flags.DEFINE_string("fine_style", None,
                                "Style of the fine decoder layers (colour, texture).")
    _PRESERVE = flags.DEFINE_bool("preserve_color", False,
                                  "Keep the content's colours (chroma); style only the "
                                  "luminance.")
    _MAX_SIZE = flags.DEFINE_integer("max_size", 0,
                                     "Downscale contents whose long side exceeds this; 0 = "
                                     "full size.")
    _TILE_SIZE = flags.DEFINE_integer("tile_size", 512,
                                      "Images with a side above this are painted in tiles.")
    _TILE_OVERLAP = flags.DEFINE_integer(
        "tile_overlap", 128, "Overlap of neighbouring tiles, in pixels: more than twice "
        "the generator's receptive radius (88 for the small variant, 120 for base).")
    _OUTPUT = flags.DEFINE_string("output", None,
                                  "Output image file (.png/.jpg) or folder.")
    _LIST = flags.DEFINE_bool("list_styles", False, "Print the model's styles and exit.")
    app.run(main)
