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
    python stylize.py --model=runs/quickstart --content=clip.mp4 --style=swirls \
        --output=clip_swirls.mp4 --start=2 --duration=3
    python stylize.py --model=runs/quickstart --content=clip.mp4 \
        --keyframes="0s:swirls;4s:swirls:0.5,mosaic:0.5;8s:mosaic" --output=fused.mp4

--model is a run's workdir or its export folder; a workdir whose run has not finished
(no export yet) is painted with its newest checkpoint. A style is a name of the model
(--list_styles) or, for a model trained with a style encoder, the path of any style
image; `:weight` sets its share in the fusion (with --even_steps, weights and
--strength are even slider positions, see README "Studio"). Images are painted whole
when that fits in the available memory (painting/memory.py), else (or with a side
above --tile_size when it is set) in overlapping tiles with the result of painting them whole
(painting/tiling.py), so memory stays bounded at any size. Outputs are PNG or JPEG by
extension, each written atomically, never over an input. In a folder run an image that
fails is named and skipped, the rest are painted, and the run ends with a list of the
failures and exit status 1.

A video content (mp4, mov, mkv, webm, avi, ... anything FFmpeg decodes) or a video
output (.mp4/.mov/.mkv) paints a video frame by frame through the same painting code
(video/): frame rate, size, timestamps and audio are kept; the output is H.264 where
FFmpeg has it, or a folder of PNG frames when --output has no extension. --keyframes
changes the fusion over time (syntax in video/keyframes.py). A damaged video is
painted up to where it decodes, then the run says where it stopped (exit status 1).

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
            tile_size=0, tile_overlap=128, progress=True, even_steps=False):
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
        progress=progress, even_steps=even_steps)


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
    import video
    from video import consistency
    if video.is_video_job(_CONTENT.value, _OUTPUT.value):
        return run_video(video, consistency, painting)
    video_flags = [name for name, flag in (("keyframes", _KEYFRAMES), ("duration",
                   _DURATION), ("max_frames", _MAX_FRAMES)) if flag.value is not None]
    if video_flags or _START.value:
        raise painting.UsageError(f"--{(video_flags or ['start'])[0]} applies to videos, "
                                  f"but --content {_CONTENT.value!r} is not a video.")
    painting.paint_files(
        _MODEL.value, _CONTENT.value, _OUTPUT.value, styles=_STYLE.value,
        masks=_MASK.value, strength=_STRENGTH.value, coarse_style=_COARSE.value,
        fine_style=_FINE.value, preserve_color=_PRESERVE.value,
        max_size=_MAX_SIZE.value, tile_size=_TILE_SIZE.value,
        tile_overlap=_TILE_OVERLAP.value, even_steps=_EVEN_STEPS.value,
        precision=_PRECISION.value)


def run_video(video, consistency, painting):
    """Paints a video; a damaged input that was painted up to where it decodes ends
    the run with status 1 and where it stopped."""
    if _EVEN_STEPS.value:
        raise painting.UsageError(
            "--even_steps applies to images; a video's weights and strength are read "
            "as given (--keyframes interpolates them).")
    try:
        frame_painter, filters = consistency.make_hooks(consistency.ConsistencyOptions(
            statistics_decay=_STATISTICS_DECAY.value, flow_blend=_FLOW_BLEND.value))
    except ValueError as error:
        raise painting.UsageError(f"--{error}") from error
    result = video.paint_video(
        _MODEL.value, _CONTENT.value, _OUTPUT.value, styles=_STYLE.value,
        masks=_MASK.value, strength=_STRENGTH.value, coarse_style=_COARSE.value,
        fine_style=_FINE.value, preserve_color=_PRESERVE.value,
        max_size=_MAX_SIZE.value, keyframes=_KEYFRAMES.value, start=_START.value,
        duration=_DURATION.value, max_frames=_MAX_FRAMES.value,
        tile_size=_TILE_SIZE.value, tile_overlap=_TILE_OVERLAP.value,
        precision=_PRECISION.value, frame_painter=frame_painter, filters=filters)
    print(f"Wrote {result.path}: {result.frames} frames, {result.codec}, "
          f"{result.fps:.2f} fps.")
    if result.truncation:
        raise ValueError(f"{result.truncation} The {result.frames} frames before it "
                         f"were painted into {result.path}.")


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
    _TILE_SIZE = flags.DEFINE_integer(
        "tile_size", 0, "Images with a side above this are painted in tiles; 0 (default): "
        "whole when it fits in the available memory, else tiles of 512.")
    _TILE_OVERLAP = flags.DEFINE_integer(
        "tile_overlap", 128, "Overlap of neighbouring tiles, in pixels: more than twice "
        "the generator's receptive radius (88 for the small variant, 120 for base).")
    _OUTPUT = flags.DEFINE_string("output", None,
                                  "Output image file (.png/.jpg) or folder.")
    _KEYFRAMES = flags.DEFINE_string(
        "keyframes", None, "Video fusion over time, e.g. '0s:swirls;4s:swirls:0.5,"
        "mosaic:0.5;8s:mosaic@0.7' (TIME in s or f(rames):STYLE[:WEIGHT],...[@STRENGTH]"
        "; interpolated per frame).")
    _START = flags.DEFINE_float("start", 0.0, "Video: start at this time, in seconds.")
    _DURATION = flags.DEFINE_float("duration", None,
                                   "Video: paint this many seconds (a quick preview).")
    _MAX_FRAMES = flags.DEFINE_integer("max_frames", None,
                                       "Video: paint at most this many frames.")
    _FLOW_BLEND = flags.DEFINE_float(
        "flow_blend", 0.5, "Video: weight in [0, 1) of the previous output, warped by "
        "optical flow, blended in where the flow holds (less flicker; 0 = per frame).")
    _STATISTICS_DECAY = flags.DEFINE_float(
        "statistics_decay", 0.0, "Video: weight in [0, 1) of the past frames' norm "
        "statistics (smoothed over time, restarted at cuts; 0 = per frame).")
    _EVEN_STEPS = flags.DEFINE_bool(
        "even_steps", False, "Read --strength and the :weights as even slider "
        "positions: mapped through the model's calibration (measured on first use on "
        "the run's photos, stored with its export), equal steps give equal steps of "
        "style.")
    _PRECISION = flags.DEFINE_string(
        "precision", "auto", "G's compute precision: auto (the faster of float32 and "
        "mixed_bfloat16 here, measured once per machine and cached), float32, "
        "mixed_bfloat16 or mixed_float16.")
    _LIST = flags.DEFINE_bool("list_styles", False, "Print the model's styles and exit.")
    _VERBOSE = flags.DEFINE_bool("verbose", False, "Print the traceback of an error too.")
    app.run(main, flags_parser=lambda argv: command_line.parse_flags(argv,
                                                                  "stylize.py"))
