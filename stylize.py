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

--model is a run's workdir or its export folder. A style is a name of the model
(--list_styles) or, for a model trained with a style encoder, the path of any style
image; `:weight` sets its share in the fusion. Images larger than --tile_size are
painted in overlapping tiles blended with a raised-cosine window, so memory stays
bounded at any size. Outputs are PNG or JPEG by extension, written atomically, never
over an input.
"""
import glob
import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from absl import app, flags, logging  # noqa: E402

OUTPUT_EXTENSIONS = (".png", ".jpg", ".jpeg")
STRIDE = 4  # models.generator.STRIDE, without importing TensorFlow for --help
# Smaller images (down to 1x1) are padded to this: G's reflection padding needs at
# least 2 pixels at 1/4 scale and 5 at full scale.
MIN_SIDE = 16


# --------------------------------------------------------------------------- tiling


def _window(length, overlap, ramp_start, ramp_end):
    """1-D weights: raised-cosine ramps over the overlaps, 1 in between.

    Tile borders see reflection padding instead of the real neighbours, so they get
    (almost) no weight where another tile covers the same pixels.
    """
    weights = np.ones(length, np.float32)
    ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(overlap) + 0.5) / overlap)
    if ramp_start:
        weights[:overlap] = ramp
    if ramp_end:
        weights[length - overlap:] = np.minimum(weights[length - overlap:], ramp[::-1])
    return weights


def _tile_starts(length, tile, overlap):
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, tile - overlap)) + [length - tile]
    return sorted(set(starts))


def run_generator(generator, image, coarse, fine=None, tile_size=512, overlap=128,
                  statistics_size=None):
    """Paints one image [H, W, 3] (H, W multiples of STRIDE) with code fields.

    Images larger than tile_size are painted tile by tile: each tile's code map is the
    matching crop of the fields, and overlapping outputs are blended with _window.
    Instance norm would normalise each tile by its own statistics, which differ from
    tile to tile (visible seams, up to 0.7 of the range measured); so a first pass over
    the whole image, downscaled to statistics_size (default: tile_size, so memory is
    that of one tile) on its long side, records every norm's statistics and all tiles
    use them.
    """
    import tensorflow as tf
    from models import generator as generator_lib

    def paint(top, left, height, width):
        tile = tf.constant(image[None, top:top + height, left:left + width])
        inputs = [tile, coarse.code_map(top, left, height, width)]
        if fine is not None:
            inputs.append(fine.code_map(top, left, height, width))
        return np.asarray(generator(inputs, training=False))[0]

    height, width = image.shape[:2]
    if height <= tile_size and width <= tile_size:
        return paint(0, 0, height, width)
    if tile_size % STRIDE or overlap % STRIDE or not 0 < overlap < tile_size // 2:
        raise ValueError(f"tile_size ({tile_size}) and tile_overlap ({overlap}) must be "
                         f"multiples of {STRIDE} with 0 < overlap < tile_size / 2.")
    statistics = _whole_image_statistics(generator, image, coarse, fine,
                                         statistics_size or tile_size)
    total = np.zeros((height, width, 3), np.float32)
    weight_sum = np.zeros((height, width, 1), np.float32)
    rows, cols = _tile_starts(height, tile_size, overlap), _tile_starts(
        width, tile_size, overlap)
    for top in rows:
        tile_height = min(tile_size, height)
        row_weights = _window(tile_height, overlap, top > 0, top + tile_height < height)
        for left in cols:
            tile_width = min(tile_size, width)
            col_weights = _window(tile_width, overlap, left > 0,
                                  left + tile_width < width)
            weights = (row_weights[:, None] * col_weights[None, :])[..., None]
            with generator_lib.fixed_norm_statistics(generator, statistics):
                output = paint(top, left, tile_height, tile_width)
            total[top:top + tile_height, left:left + tile_width] += weights * output
            weight_sum[top:top + tile_height, left:left + tile_width] += weights
    return total / weight_sum


def _whole_image_statistics(generator, image, coarse, fine, statistics_size):
    import tensorflow as tf
    from models import generator as generator_lib
    height, width = image.shape[:2]
    scale = min(1.0, statistics_size / max(height, width))
    size = [max(STRIDE, int(round(side * scale / STRIDE)) * STRIDE)
            for side in (height, width)]
    small = tf.image.resize(image[None], size, antialias=True) if scale < 1 else \
        tf.constant(image[None])
    inputs = [small, coarse.code_map(0, 0, height, width)]
    if fine is not None:
        inputs.append(fine.code_map(0, 0, height, width))
    with generator_lib.recorded_norm_statistics(generator) as statistics:
        generator(inputs, training=False)
    return statistics


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
    for path in files:
        problem = pipeline.image_problem(path)
        if problem:  # all contents are checked before the first is painted
            raise ValueError(
                f"Content file {path!r} is not a readable image: {problem}.")
    return files


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
    from training import summaries
    pixels = np.clip(np.asarray(image) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    extension = os.path.splitext(path)[1].lower()
    parameters = [cv2.IMWRITE_JPEG_QUALITY, 95] if extension != ".png" else []
    ok, encoded = cv2.imencode(extension, cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR),
                               parameters)
    if not ok:
        raise ValueError(f"Could not encode an image of shape {pixels.shape} as "
                         f"{extension}.")
    summaries.write_atomically(path, encoded.tobytes())


# --------------------------------------------------------------------------- API


def load_source(model):
    """(generator, StyleSource) of a workdir or export folder."""
    from models import fusion
    from training import export
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


def stylize(model, content, output, styles=(), masks=(), strength=1.0,
            coarse_style=None, fine_style=None, preserve_color=False, max_size=0,
            tile_size=512, tile_overlap=128, statistics_size=0, progress=True):
    """Paints every content image and writes the results; returns the output paths.

    Args mirror the command-line flags (see the module docstring); `model` may also be
    a (generator, StyleSource) pair from load_source, to paint many times with one
    loaded model. Every input and option is validated before anything is written.
    """
    import keras
    from models import fusion
    generator, source = load_source(model) if isinstance(model, str) else model
    plan = fusion.make_plan(source, styles, masks, strength, coarse_style, fine_style)
    files = list_contents(content)
    outputs = output_paths(content, files, output)
    inputs = files + [p for p, _ in map(fusion.parse_style_spec, styles)
                      if os.path.exists(p)] + [m.lstrip("~") for m in masks]
    check_outputs(outputs, inputs)
    bar = keras.utils.Progbar(len(files)) if progress and len(files) > 1 else None
    for index, (path, output_path) in enumerate(zip(files, outputs)):
        image, (height, width) = prepare_content(path, max_size)
        coarse, fine = plan.fields(image[:height, :width], source)
        painted = run_generator(generator, image, coarse, fine, tile_size,
                                tile_overlap, statistics_size)[:height, :width]
        if preserve_color:
            painted = fusion.preserve_color(image[:height, :width], painted)
        write_image(output_path, painted)
        if bar is not None:
            bar.update(index + 1)
    logging.info("Wrote %d image(s): %s", len(outputs),
                 outputs[0] if len(outputs) == 1 else os.path.dirname(outputs[0]))
    return outputs


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    if not _MODEL.value:
        raise app.UsageError("--model is required (a run's workdir or export folder).")
    if _LIST.value:
        from training import export
        print("\n".join(export.load_styles(_MODEL.value)["names"]))
        return
    if not _CONTENT.value or not _OUTPUT.value:
        raise app.UsageError("--content and --output are required.")
    try:
        stylize(_MODEL.value, _CONTENT.value, _OUTPUT.value, _STYLE.value, _MASK.value,
                _STRENGTH.value, _COARSE.value, _FINE.value, _PRESERVE.value,
                _MAX_SIZE.value, _TILE_SIZE.value, _TILE_OVERLAP.value,
                _STATISTICS_SIZE.value)
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
    _TILE_OVERLAP = flags.DEFINE_integer("tile_overlap", 128,
                                         "Overlap of neighbouring tiles, in pixels.")
    _STATISTICS_SIZE = flags.DEFINE_integer(
        "statistics_size", 0, "Tiled images: long side of the downscaled pass whose "
        "instance-norm statistics all tiles share; 0 = tile_size. Larger is closer to an "
        "untiled run and costs more memory.")
    _OUTPUT = flags.DEFINE_string("output", None,
                                  "Output image file (.png/.jpg) or folder.")
    _LIST = flags.DEFINE_bool("list_styles", False, "Print the model's styles and exit.")
    app.run(main)
