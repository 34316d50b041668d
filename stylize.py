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
(painting/tiling.py), so memory stays bounded at any size. Outputs are PNG or JPEG by
extension, each written atomically, never over an input. In a folder run an image that
fails is named and skipped, the rest are painted, and the run ends with a list of the
failures and exit status 1.

Errors are one sentence on stderr (the traceback too with --verbose); the exit status
is 2 for a command line that cannot work (a missing or bad flag, an unknown style) and
1 for a failure while working (a damaged model, an unreadable image, a full disk).
"""

import environment  # noqa: E402,F401  (first: TensorFlow's logging set-up)

from absl import app, flags  # noqa: E402

import command_line  # noqa: E402
from command_line import RUN_ERROR, USAGE_ERROR, fail  # noqa: E402


def stylize(model, content, output, styles=(), masks=(), strength=1.0,
            coarse_style=None, fine_style=None, preserve_color=False, max_size=0,
            tile_size=512, tile_overlap=128, progress=True):
    """Paints every content image and writes the results; returns the output paths.

    Args mirror the command-line flags (see the module docstring); `model` may also be
    a painting.Painter (painting.load), to paint many times with one loaded model.
    The work is painting.paint_files: see it for validation and folder runs.
    """
    # Imported here so --help answers without loading TensorFlow.
    import painting
    return painting.paint_files(
        model, content, output, styles=styles, masks=masks, strength=strength,
        coarse_style=coarse_style, fine_style=fine_style, preserve_color=preserve_color,
        max_size=max_size, tile_size=tile_size, tile_overlap=tile_overlap,
        progress=progress)


def run(argv, painting):
    if len(argv) > 1:
        raise painting.UsageError(f"Unexpected arguments {argv[1:]}; every option is a "
                                  f"--flag (see --help).")
    if not _MODEL.value:
        raise painting.UsageError("--model is required (a run's workdir or export "
                                  "folder).")
    if _LIST.value:
        print("\n".join(painting.load(_MODEL.value, precision="float32").names))
        return
    if not _CONTENT.value or not _OUTPUT.value:
        raise painting.UsageError("--content and --output are required.")
    painting.paint_files(
        _MODEL.value, _CONTENT.value, _OUTPUT.value, styles=_STYLE.value,
        masks=_MASK.value, strength=_STRENGTH.value, coarse_style=_COARSE.value,
        fine_style=_FINE.value, preserve_color=_PRESERVE.value,
        max_size=_MAX_SIZE.value, tile_size=_TILE_SIZE.value,
        tile_overlap=_TILE_OVERLAP.value, precision=_PRECISION.value)


def main(argv):
    import painting
    try:
        run(argv, painting)
    except painting.UsageError as error:
        fail(error, USAGE_ERROR, _VERBOSE.value)
    except (ValueError, OSError) as error:  # BatchError too: it lists the failures
        fail(error, RUN_ERROR, _VERBOSE.value)




if __name__ == "__main__":
    # Flags are defined only when this file is the program, so a program importing
    # stylize.stylize keeps its own flags (e.g. its own --output).
    _MODEL = flags.DEFINE_string("model", None, "A run's workdir or its export folder.")
    _CONTENT = flags.DEFINE_string("content", None,
                                   "A content image, a folder of images, or a glob.")
    _STYLE = flags.DEFINE_multi_string(
        "style", [], "Style name or style image path, optionally :weight (repeat to fuse).")
    _MASK = flags.DEFINE_multi_string(
        "mask", [], "One per --style: a grayscale image or left/right/top/bottom/radial/"
        "checkerboard/all; prefix ~ inverts. Masks are normalised per pixel.")
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
    _PRECISION = flags.DEFINE_string(
        "precision", "auto", "G's compute precision: auto (the faster of float32 and "
        "mixed_bfloat16 here, measured once per machine and cached), float32, "
        "mixed_bfloat16 or mixed_float16.")
    _LIST = flags.DEFINE_bool("list_styles", False, "Print the model's styles and exit.")
    _VERBOSE = flags.DEFINE_bool("verbose", False, "Print the traceback of an error too.")
    app.run(main, flags_parser=lambda argv: command_line.parse_flags(argv,
                                                                  "stylize.py"))
