r"""Regenerates every figure of the README from a trained run, as PNGs, in one command.

    python -m experiments.figures --run=runs/paintings --output=figures
    python -m experiments.figures --run=runs/quickstart --output=figures_quickstart \
        --only=grid,curves
    python -m experiments.figures --run=runs/paintings --train=experiments/paintings.py \
        --output=figures      # trains the run first if it has no export yet

Every image is a real output of the run's exported generator; every fusion goes
through the painting library (style codes), as stylize.py's would.

  1 headline         a landscape photo in "The Starry Night", beside content and style
  2 grid             contents x styles (first row: the style images)
  3 weighted_fusion  c = (1 - w) c_A + w c_B for w = 0 ... 1
  4 bilinear_fusion  four styles on the corners of a square, bilinear weights inside
  5 spatial_fusion   two styles split by masks (left/right, centre disc/outside)
  6 strength         c = a c_style + (1 - a) c_content for a = 0 ... 1 (needs the encoder)
  7 layer_fusion     coarse-layer style (rows) x fine-layer style (columns)
  8 training_curves  L_G, L_D and the perceptual terms from the run's TensorBoard events
  9 metrics          ours vs identity vs gatys (evaluation/evaluator.py), as .md and .png
 10 video            a strip of consecutive video frames, per frame against temporally
                    consistent (video/consistency.py), and the mean absolute frame-to-
                    frame difference over time of both and of the input (needs --video)

Defaults fit the paintings run (The Starry Night, The Great Wave, Monet, ...) and fall
back to the run's own styles and photos (e.g. the quickstart's demo data), logging what
they picked. A figure the run cannot make (strength without a style encoder, events
missing) is skipped with a logged reason; asked for by --only, it is an error.
"""
import dataclasses
import glob
import io
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap

import environment  # noqa: E402,F401  (first: TensorFlow's logging set-up)

import numpy as np  # noqa: E402
from absl import app, flags, logging  # noqa: E402

FIGURES = ("headline", "grid", "weighted_fusion", "bilinear_fusion", "spatial_fusion",
           "strength", "layer_fusion", "training_curves", "metrics", "video")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Preferred defaults, used when the run has them (the paintings run has all).
HEADLINE_STYLE = "vangogh-the-starry-night"
PREFERRED_STYLES = ("vangogh-the-starry-night", "hokusai-the-great-wave-off-kanagawa",
                    "monet", "munch-the-scream", "ukiyoe", "kandinsky-composition-vii")
PREFERRED_CONTENTS = ("wikimedia-cecret-lake.jpg", "kodak-lighthouse-on-rocks.jpg",
                      "wikimedia-moscow-st-basils.jpg")
# Curves of figure 8: panel title -> TensorBoard tags (those the run logged are drawn).
CURVE_PANELS = (
    ("adversarial: L_G, L_D", ("loss/G/adv", "loss/D/adv")),
    ("perceptual terms of G (unweighted)", ("loss/G/content", "loss/G/style", "loss/G/tv",
                               "loss/G/identity", "loss/G/encoder")),
    ("R1 penalty of D", ("loss/D/r1",)),
    ("discriminator: mean D(y, s)", ("D/real_prob", "D/fake_prob")))
CURVE_NAMES = {"loss/G/adv": "L_G (loss/G/adv)", "loss/D/adv": "L_D (loss/D/adv)"}
# Pixel layout of the image figures: every tile is shown at its own resolution.
DPI = 100
GAP = 4
TITLE_HEIGHT = 30
LABEL_HEIGHT = 34
LABEL_WIDTH = 150
CAPTION_HEIGHT = 24
FONT_SIZE = 9


@dataclasses.dataclass
class Options:
    """What to draw. Empty values mean "the defaults described in the flags"."""
    run: str
    output: str
    only: tuple = ()              # figure numbers or names; () = all
    contents: tuple = ()          # content files, or names inside the run's content dir
    styles: tuple = ()            # bank style names
    headline_style: str = HEADLINE_STYLE
    content_dir: str = ""         # default: the run's content folder
    style_dir: str = ""           # default: the run's style folder
    size: int = 256               # side of the square tiles
    headline_size: int = 512      # long side of the headline images
    steps: int = 11               # tiles of the weight and strength strips
    square_steps: int = 5         # tiles per side of the bilinear square
    metrics_contents: int = 4
    metrics_styles: int = 4       # the first N figure styles are evaluated
    gatys_steps: int = 30
    crops_per_style: int = 32
    train: str = ""               # config to train the run with if it has no export
    video: str = ""               # a clip for figure 10
    video_frames: int = 50        # frames painted for figure 10's curves
    video_strip: int = 5          # consecutive frames shown
    statistics_decay: float = 0.9  # figure 10's consistent method
    flow_blend: float = 0.5


@dataclasses.dataclass
class Run:
    """A loaded run: its generator and codes, and where its data and events are."""
    painter: object               # painting.Painter
    model_path: str               # the export folder read
    note: str                     # "" or "checkpoint step N" for an unfinished run
    workdir: str                  # None for an export without its run
    config: dict                  # None likewise
    content_dir: str              # "" when unknown
    style_dir: str                # "" when unknown; may list folders, comma-separated
    style_files: dict             # style name -> image files (empty without a style dir)


class FigureSkipped(Exception):
    """The run cannot make this figure (the message says why)."""


# --------------------------------------------------------------------------- the run


def ensure_trained(options):
    """Trains the run with train.py when --train is given and the run has no export."""
    from painting import loading
    if not options.train:
        return
    try:
        loading.resolve_export_dir(options.run)
        logging.info("%s already has an export: not training it again.", options.run)
        return
    except ValueError:
        pass
    command = [sys.executable, "train.py", f"--config={options.train}",
               f"--workdir={os.path.abspath(options.run)}"]
    logging.info("Training the run first: %s", " ".join(command))
    subprocess.run(command, cwd=REPO, check=True)


def resolve_folder(path):
    """A config's data folder: as given, else relative to the repository (configs
    name folders like ../shared/data relative to the repository root)."""
    from data import images
    parts = [str(part) for part in images.style_folders(path)]
    return ",".join(part if os.path.isabs(part) or os.path.exists(part)
                    else os.path.join(REPO, part) for part in parts)


def locate_model(options):
    """(model folder, note): the run's export; for a run without one (still
    training), an export of its newest checkpoint written to <output>/checkpoint_export
    (the run's own folder is never written), noted with its step."""
    from painting import loading
    from storage import workdir as workdir_lib
    from training import export
    try:
        loading.resolve_export_dir(options.run)
        return options.run, ""
    except ValueError:
        if not os.path.isdir(workdir_lib.checkpoint_dir(options.run)):
            raise
    path = os.path.join(options.output, "checkpoint_export")
    step = export.export_checkpoint(options.run, path)
    logging.warning("%s has no export yet (still training?): drawing from its newest "
                    "checkpoint, step %d, exported to %s.", options.run, step, path)
    return path, f"checkpoint step {step}"


def load_run(options):
    import painting
    from data import images
    from storage import workdir as workdir_lib
    model_path, note = locate_model(options)
    painter = painting.load(model_path)
    if note:  # the checkpoint's export is not inside the run
        workdir = options.run
        config = workdir_lib.read_config(workdir)
    else:
        config, workdir = painting.find_run_config(model_path)
    content_dir, style_dir = options.content_dir, options.style_dir
    if config:
        content_folder, style_folder = workdir_lib.data_folders(config, workdir)
        if not config["data"]["demo"]:
            content_folder = resolve_folder(content_folder)
            style_folder = resolve_folder(style_folder)
        content_dir = content_dir or content_folder
        style_dir = style_dir or style_folder
    style_files = dict(zip(*images.list_styles(style_dir))) if style_dir else {}
    return Run(painter, model_path, note, workdir, config, content_dir, style_dir,
               style_files)


def pick_styles(options, run):
    """The figure styles: --styles, else the preferred ones the bank has, filled up
    with the bank's other styles to at least four."""
    bank = run.painter.names
    if options.styles:
        unknown = [name for name in options.styles if name not in bank]
        if unknown:
            raise ValueError(f"--styles {unknown} are not styles of the model at "
                             f"{options.run}; expected some of: {', '.join(bank)}.")
        return list(options.styles)
    styles = [name for name in PREFERRED_STYLES if name in bank]
    styles += [name for name in bank if name not in styles][:max(0, 4 - len(styles))]
    logging.info("Figure styles: %s.", ", ".join(styles))
    return styles


def pick_contents(options, run):
    """Content files: --contents (paths or names in the content folder), else the
    preferred landscapes the folder has, else its first three images."""
    from data import images
    if options.contents:
        paths = [name if os.path.isfile(name) else os.path.join(run.content_dir, name)
                 for name in options.contents]
        missing = [path for path in paths if not os.path.isfile(path)]
        if missing:
            raise ValueError(f"--contents {missing} are not image files (names are "
                             f"looked up in {run.content_dir!r}).")
        return paths
    if not run.content_dir:
        raise ValueError(f"{options.run} has no config.json naming its photos; pass "
                         f"--content_dir or --contents.")
    files = images.list_images(run.content_dir)
    by_name = {os.path.basename(path): path for path in files}
    paths = [by_name[name] for name in PREFERRED_CONTENTS if name in by_name]
    paths = paths or files[:3]
    logging.info("Figure contents: %s.", ", ".join(map(os.path.basename, paths)))
    return paths


# --------------------------------------------------------------------------- painting


def code_fields(run, image, styles=(), **plan_options):
    """The (coarse, fine) code fields for one image [H, W, 3] with the fusion options
    of a painting plan (styles, masks, strength, coarse/fine); fine is None without
    layer fusion."""
    return run.painter.fields(image, run.painter.plan(styles=styles, **plan_options))


def paint_fields(run, image, coarse, fine=None):
    """The generator's output for one image (H, W multiples of the stride)."""
    return np.clip(run.painter.paint_fields(image, coarse, fine), 0.0, 1.0)


def paint(run, image, styles=(), **plan_options):
    """The generator's output for one image with the fusion options of a plan."""
    return paint_fields(run, image, *code_fields(run, image, styles, **plan_options))


def keep_gate_of(run, field):
    """G's keep gate (the share of the photo blended into the output) for a uniform
    code field without layer fusion."""
    from models import generator as generator_lib
    gate = generator_lib.keep_gate(run.painter.generator,
                                   field.code_map()[:, 0, 0])[0]
    return float(np.clip(gate, 0.0, 1.0))


def square(path, size):
    """The image resized on its short side to `size` and centre-cropped square."""
    from data import images
    return images.center_square(path, size, size)


def style_image(run, name, size):
    """A square preview of a bank style: its first image, or grey if the run's style
    folder is unknown."""
    files = run.style_files.get(name)
    return square(files[0], size) if files else np.full((size, size, 3), 0.5, np.float32)


def style_at_height(run, name, height, max_width):
    """The whole first image of a style scaled to `height`, centre-cropped to at most
    `max_width` (grey square if the style folder is unknown)."""
    import tensorflow as tf
    from data import images
    files = run.style_files.get(name)
    if not files:
        return np.full((height, height, 3), 0.5, np.float32)
    image = images.decode_image(files[0])
    width = max(1, round(int(image.shape[1]) * height / int(image.shape[0])))
    image = np.clip(tf.image.resize(image, (height, width), antialias=True).numpy(), 0, 1)
    left = max(0, (width - max_width) // 2)
    return image[:, left:left + max_width]


def titled(run, title):
    """A figure title, marked with the checkpoint step when the run is unfinished."""
    return f"{title}  [{run.note}]" if run.note else title


def short(name, width=18):
    return "\n".join(textwrap.wrap(os.path.splitext(os.path.basename(name))[0], width))


# --------------------------------------------------------------------------- drawing


def tile_figure(rows, column_labels=(), row_labels=(), title="", caption=""):
    """A matplotlib figure of image tiles at their own pixel size.

    rows: a list of rows, each a list of [h, w, 3] images or None (blank). Column j is
    as wide as its widest tile, row i as high as its highest; tiles are GAP apart.
    The figure is exactly
      width  = (LABEL_WIDTH if row_labels) + sum(column widths) + GAP * (columns + 1)
      height = (TITLE_HEIGHT if title) + (LABEL_HEIGHT if column_labels)
               + sum(row heights) + GAP * (rows + 1) + (CAPTION_HEIGHT if caption)
    pixels, so tests can check it.
    """
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    columns = max(len(row) for row in rows)
    widths = [max((row[j].shape[1] for row in rows
                   if j < len(row) and row[j] is not None), default=0)
              for j in range(columns)]
    heights = [max((tile.shape[0] for tile in row if tile is not None), default=0)
               for row in rows]
    left = LABEL_WIDTH if row_labels else 0
    top = (TITLE_HEIGHT if title else 0) + (LABEL_HEIGHT if column_labels else 0)
    width = left + sum(widths) + GAP * (columns + 1)
    height = top + sum(heights) + GAP * (len(rows) + 1) + (CAPTION_HEIGHT if caption
                                                           else 0)
    figure = plt.figure(figsize=(width / DPI, height / DPI), dpi=DPI)
    figure.patch.set_facecolor("white")

    def place(x, y, w, h):
        """Axes at pixel box (x, y from the top-left)."""
        axes = figure.add_axes((x / width, 1 - (y + h) / height, w / width, h / height))
        axes.set_axis_off()
        return axes

    if title:
        figure.text(0.5, 1 - TITLE_HEIGHT / 2 / height, title, ha="center", va="center",
                    fontsize=FONT_SIZE + 2, weight="bold")
    y = top + GAP
    for i, row in enumerate(rows):
        x = left + GAP
        for j in range(columns):
            tile = row[j] if j < len(row) else None
            if tile is not None:
                axes = place(x, y, tile.shape[1], tile.shape[0])
                axes.imshow(np.clip(tile, 0, 1), interpolation="nearest",
                            vmin=0, vmax=1, cmap="gray" if tile.ndim == 2 else None)
            if i == 0 and j < len(column_labels) and column_labels[j]:
                figure.text((x + widths[j] / 2) / width,
                            1 - (y - LABEL_HEIGHT / 2) / height, column_labels[j],
                            ha="center", va="center", fontsize=FONT_SIZE)
            x += widths[j] + GAP
        if i < len(row_labels) and row_labels[i]:
            figure.text((left - GAP) / width, 1 - (y + heights[i] / 2) / height,
                        row_labels[i], ha="right", va="center", fontsize=FONT_SIZE)
        y += heights[i] + GAP
    if caption:
        figure.text(0.5, CAPTION_HEIGHT / 2 / height, caption, ha="center", va="center",
                    fontsize=FONT_SIZE, style="italic")
    return figure


def save_figure(figure, path):
    """PNG of the figure, written atomically, at its own pixel size."""
    from matplotlib import pyplot as plt
    from storage import atomic
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, facecolor="white")
    plt.close(figure)
    atomic.write_atomically(path, buffer.getvalue())


# --------------------------------------------------------------------------- figures


def needs_styles(styles, count, figure):
    if len(styles) < count:
        raise FigureSkipped(f"{figure} needs {count} styles; the model has "
                            f"{len(styles)}.")


def headline_figure(run, options, contents, styles):
    import painting
    name = options.headline_style
    caption = ""
    if name not in run.painter.names:
        caption = (f"The model has no style {name!r}: shown with {styles[0]!r} "
                   f"instead.")
        logging.warning(caption)
        name = styles[0]
    image, (height, width) = painting.prepare_content(contents[0],
                                                      options.headline_size)
    output = paint(run, image, [name])[:height, :width]
    style = style_at_height(run, name, height, width)
    return tile_figure([[image[:height, :width], style, output]],
                       [f"content: {short(contents[0], 60)}", f"style: {short(name, 60)}",
                        "ours: G(content, c_style)"],
                       title=titled(run, f"{short(contents[0], 60)} in the style of "
                             f"{short(name, 60)}"), caption=caption)


def grid_figure(run, options, contents, styles):
    rows = [[None] + [style_image(run, name, options.size) for name in styles]]
    for path in contents:
        image = square(path, options.size)
        rows.append([image] + [paint(run, image, [name]) for name in styles])
    return tile_figure(rows, [""] + [short(name) for name in styles],
                       ["styles"] + [short(path) for path in contents],
                       title=titled(run, "Content x style"))


def weights_strip(count):
    return np.round(np.linspace(0.0, 1.0, count), 3)


def weighted_fusion_figure(run, options, contents, styles):
    needs_styles(styles, 2, "Weighted fusion")
    style_a, style_b = styles[:2]
    rows = []
    for path in contents[:2]:
        image = square(path, options.size)
        rows.append([style_image(run, style_a, options.size)]
                    + [paint(run, image, [(style_a, 1.0 - w), (style_b, w)])
                       for w in weights_strip(options.steps)]
                    + [style_image(run, style_b, options.size)])
    labels = ([f"A: {short(style_a)}"]
              + [f"w = {w:g}" for w in weights_strip(options.steps)]
              + [f"B: {short(style_b)}"])
    return tile_figure(rows, labels, [short(path) for path in contents[:2]],
                       title=titled(run, "Weighted fusion  c = (1 - w) c_A + w c_B"))


def bilinear_fusion_figure(run, options, contents, styles):
    needs_styles(styles, 4, "Bilinear fusion")
    n = options.square_steps
    image = square(contents[0], options.size)
    corners = styles[:4]  # top-left, top-right, bottom-left, bottom-right
    rows = [[None] * (n + 2) for _ in range(n + 2)]
    corner_cells = [(0, 0), (0, n + 1), (n + 1, 0), (n + 1, n + 1)]
    for (row, col), name in zip(corner_cells, corners):
        rows[row][col] = style_image(run, name, options.size)
    for i, v in enumerate(weights_strip(n)):
        for j, u in enumerate(weights_strip(n)):
            weights = [(1 - u) * (1 - v), u * (1 - v), (1 - u) * v, u * v]
            rows[i + 1][j + 1] = paint(run, image, list(zip(corners, weights)))
    return tile_figure(
        rows, title=titled(run, "Four-style fusion: bilinear weights, corners = pure "
                                "styles"),
        caption=f"{short(contents[0], 60)}; corners: "
                + ", ".join(short(name, 60) for name in corners)
                + " (top-left, top-right, bottom-left, bottom-right)")


def spatial_fusion_figure(run, options, contents, styles):
    from painting import masks as masks_lib
    needs_styles(styles, 2, "Spatial fusion")
    style_a, style_b = styles[:2]
    size = options.size
    image = square(contents[0], size)
    layouts = [("left", "right"), ("radial", "~radial")]
    top = [image, paint(run, image, [style_a]), paint(run, image, [style_b])]
    bottom = [None, style_image(run, style_a, size), style_image(run, style_b, size)]
    for masks in layouts:
        top.append(paint(run, image, [style_a, style_b], masks=masks))
        bottom.append(masks_lib.mask_from_spec(masks[0], size, size))
    labels = ["content", f"A: {short(style_a)}", f"B: {short(style_b)}",
              "A left, B right", "A centre, B outside"]
    return tile_figure([top, bottom], labels, ["output", "style / mask of A"],
                       title=titled(run, "Spatial fusion: a code per pixel from masks"))


def strength_figure(run, options, contents, styles):
    if run.painter.source.encoder is None:
        raise FigureSkipped("Strength needs the style encoder (the content's own "
                            "code); this run has none (model.encoder=False).")
    from storage import atomic
    name, strengths = styles[0], weights_strip(options.steps)
    rows, distances, gates = [], [], []
    for path in contents[:2]:
        image = square(path, options.size)
        fields = [code_fields(run, image, [name], strength=a) for a in strengths]
        painted = [paint_fields(run, image, *pair) for pair in fields]
        distances.append([float(np.mean(np.abs(tile - image))) for tile in painted])
        gates.append([keep_gate_of(run, coarse) for coarse, _ in fields])
        rows.append([image] + painted + [style_image(run, name, options.size)])
    # Per strength, averaged over the rows: mean |output - content| (RGB in [0, 1])
    # and G's keep gate, so a = 0 shows how close it comes to the content and why.
    mean_distances = np.mean(distances, axis=0)
    atomic.write_json(os.path.join(options.output, "fig6_strength.json"), {
        "style": name, "contents": [os.path.basename(path) for path in contents[:2]],
        "mean_abs_difference_to_content": dict(zip(map(str, strengths),
                                                   mean_distances.tolist())),
        "keep_gate": dict(zip(map(str, strengths), np.mean(gates, axis=0).tolist()))})
    labels = (["content"] + [f"a = {a:g} (|d| {d:.3f})"
                             for a, d in zip(strengths, mean_distances)]
              + [short(name)])
    return tile_figure(rows, labels, [short(path) for path in contents[:2]],
                       title=titled(run, "Strength  c = a c_style + (1 - a) c_content"))


def layer_fusion_figure(run, options, contents, styles):
    needs_styles(styles, 2, "Layer fusion")
    chosen = styles[:3]
    image = square(contents[0], options.size)
    rows = [[image] + [style_image(run, name, options.size) for name in chosen]]
    for coarse in chosen:
        rows.append([style_image(run, coarse, options.size)]
                    + [paint(run, image, coarse_style=coarse, fine_style=fine)
                       for fine in chosen])
    return tile_figure(
        rows, ["content"] + [f"fine: {short(name)}" for name in chosen],
        [""] + [f"coarse:\n{short(name)}" for name in chosen],
        title=titled(run, "Layer fusion: coarse layers (rows) x fine layers (columns)"),
        caption="coarse = stem, downsampling and residual blocks (structure); "
                "fine = decoder (colour, texture); diagonal = one style")


# --------------------------------------------------------------------------- curves


def read_scalars(workdir):
    """{tag: (steps [N], values [N])} of every scalar in the run's event files (at a
    step logged twice, by a resumed run, the later file wins)."""
    from training import summaries
    return {tag: (np.array(sorted(values)), np.array([values[s] for s in sorted(values)]))
            for tag, values in summaries.read_scalars(workdir).items()}


def smoothed(values, weight=0.8):
    """TensorBoard's exponential moving average (debiased), to read noisy curves."""
    average, result = 0.0, []
    for k, value in enumerate(values):
        average = weight * average + (1 - weight) * value
        result.append(average / (1 - weight ** (k + 1)))
    return np.array(result)


def training_curves_figure(run, options, contents, styles):
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    if run.workdir is None or not glob.glob(os.path.join(run.workdir,
                                                         "events.out.tfevents.*")):
        raise FigureSkipped(f"No TensorBoard event files found for {options.run} "
                            f"(expected them in its workdir).")
    scalars = read_scalars(run.workdir)
    panels = [(title, [tag for tag in tags if tag in scalars])
              for title, tags in CURVE_PANELS]
    panels = [(title, tags) for title, tags in panels if tags]
    if not panels:
        raise FigureSkipped(f"The event files in {run.workdir} hold no loss scalars.")
    # At least 10 inches wide, so the title fits above a single panel.
    figure, axes = plt.subplots(1, len(panels), figsize=(max(10, 5 * len(panels)), 4),
                                dpi=DPI, squeeze=False)
    pretrain = (run.config or {}).get("train", {}).get("pretrain_steps", 0)
    # One step axis for every panel, from 0: D's curves start at the end of the
    # perceptual-only stage, and an axis of their own would put the stage line on
    # its left edge.
    last_step = max(int(scalars[tag][0].max()) for _, tags in panels for tag in tags)
    for ax, (title, tags) in zip(axes[0], panels):
        for tag in tags:
            steps, values = scalars[tag]
            line, = ax.plot(steps, values, alpha=0.3, linewidth=1)
            ax.plot(steps, smoothed(values), color=line.get_color(), linewidth=1.5,
                    label=CURVE_NAMES.get(tag, tag))
        if 0 < pretrain < last_step:
            ax.axvline(pretrain, color="grey", linestyle=":", linewidth=1,
                       label="end of perceptual-only stage")
        ax.set_xlim(0, last_step)
        if title.startswith("perceptual"):
            ax.set_yscale("log")
        ax.set_title(title, fontsize=FONT_SIZE + 1)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=FONT_SIZE - 1)
    figure.suptitle(titled(run, f"Training curves of "
                           f"{os.path.basename(os.path.normpath(run.workdir))} (thin: "
                           f"logged values; thick: moving average)"),
                    fontsize=FONT_SIZE + 2)
    figure.tight_layout()
    return figure


# --------------------------------------------------------------------------- metrics


def style_subset_folder(run, styles, folder):
    """Fills `folder` with symbolic links to the style-folder entries of `styles` only
    (a sub-folder for a collection, the file for a single painting), so they keep
    their bank names."""
    from data import images
    entries = {}
    for style_folder in images.style_folders(run.style_dir):
        for entry in sorted(style_folder.iterdir()):
            entries.setdefault(images.style_of(entry)[0], entry)
    for name in styles:
        if name not in entries:
            raise FigureSkipped(f"Style {name!r} has no images in the run's style "
                                f"folder {run.style_dir!r}; the metrics need them.")
        os.symlink(entries[name].resolve(), os.path.join(folder, entries[name].name))
    return folder


def metrics_figure(run, options, contents, styles):
    from data import images
    from evaluation import evaluator
    from storage import atomic
    chosen = styles[:options.metrics_styles]
    needs_styles(chosen, 2, "The metrics (a fusion pair)")
    # The figure contents first, then the folder's others.
    others = images.list_images(run.content_dir) if run.content_dir else []
    evaluated = list(dict.fromkeys(contents + others))[:options.metrics_contents]
    output = os.path.join(options.output, "fig9_metrics")
    content_folder = tempfile.mkdtemp(prefix="figures_contents_")
    style_folder = tempfile.mkdtemp(prefix="figures_styles_")
    try:
        for path in evaluated:
            os.symlink(os.path.abspath(path),
                       os.path.join(content_folder, os.path.basename(path)))
        evaluation = evaluator.Options(
            output=output, model=run.model_path, content_dir=content_folder,
            style_dir=style_subset_folder(run, chosen, style_folder),
            methods=("ours", "identity", "gatys"), gatys_steps=options.gatys_steps,
            crops_per_style=options.crops_per_style,
            fusion_pair=tuple(chosen[:2]), fusion_contents=min(2, len(evaluated)))
        results, rows = evaluator.evaluate(evaluation)
    finally:
        shutil.rmtree(content_folder)
        shutil.rmtree(style_folder)
    evaluator.write_results(output, results, rows)
    settings = results["settings"]
    note = (f"{len(results['contents'])} contents x {len(results['styles'])} styles "
            f"({', '.join(results['styles'])}) at {settings['image_size']} px; gatys: "
            f"{settings['gatys']['steps']} Adam steps per pair; features: "
            f"{settings['vgg']['weights_description']}; run: {options.run}"
            + (f" ({run.note})." if run.note else "."))
    atomic.write_atomically(
        os.path.join(options.output, "fig9_metrics.md"),
        f"{evaluator.markdown_table(results)}\n\n{note}\n".encode())
    return table_figure(results, note)


def table_figure(results, note):
    """The summary rows of evaluator.markdown_table as a rendered table."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from evaluation import evaluator
    header = ["method"] + [label for _, label, _ in evaluator.SUMMARY_COLUMNS]
    header[header.index("FD")] = "FD-VGG19"
    cells = [[name] + [fmt.format(method["summary"][key])
                       for key, _, fmt in evaluator.SUMMARY_COLUMNS]
             for name, method in results["methods"].items()]
    classifier = results["classifier"]
    notes = textwrap.wrap(
        f"{results['settings']['fd_name']}: Frechet distance of feature statistics. "
        f"Deception ceiling (classifier accuracy on held-back real style crops): "
        f"{classifier['held_back_accuracy']:.3f}, chance {classifier['chance']:.3f}. "
        + note, 180)
    row_height, width = 28, 1500
    table_height = row_height * (len(cells) + 1)
    height = TITLE_HEIGHT + table_height + GAP * 3 + 16 * len(notes)
    figure = plt.figure(figsize=(width / DPI, height / DPI), dpi=DPI)
    axes = figure.add_axes((0.01, 1 - (TITLE_HEIGHT + table_height) / height, 0.98,
                            table_height / height))
    axes.set_axis_off()
    table = axes.table(cellText=cells, colLabels=header, cellLoc="center",
                       bbox=(0, 0, 1, 1))
    table.auto_set_font_size(False)
    table.set_fontsize(FONT_SIZE)
    figure.text(0.5, 1 - TITLE_HEIGHT / 2 / height, "Ours vs identity vs gatys (lower "
                "is better except SSIM-Y, deception, p(target), images/s)", ha="center",
                va="center", fontsize=FONT_SIZE + 2, weight="bold")
    figure.text(0.01, GAP / height, "\n".join(notes), ha="left", va="bottom",
                fontsize=FONT_SIZE - 1, linespacing=1.3)
    return figure


# --------------------------------------------------------------------------- main


# --------------------------------------------------------------------------- video


def paint_video_frames(run, options, style):
    """(input frames, per-frame paintings, consistent paintings) of the clip's first
    video_frames frames."""
    import video
    from video import consistency
    plan = run.painter.plan(styles=[style])
    consistent = consistency.ConsistentPainter(run.painter, consistency.ConsistencyOptions(
        statistics_decay=options.statistics_decay, flow_blend=options.flow_blend))
    frames, per_frame, smoothed = [], [], []
    with video.open_video(options.video, max_frames=options.video_frames) as reader:
        for frame in reader:
            frames.append(frame.image)
            per_frame.append(np.clip(run.painter.paint(frame.image, plan), 0, 1))
            smoothed.append(consistent.paint(frame.image, plan))
    return frames, per_frame, smoothed


def video_figure(run, options, contents, styles):
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from video import metrics as video_metrics
    if not options.video:
        raise FigureSkipped("no clip given (--video).")
    frames, per_frame, smoothed = paint_video_frames(run, options, styles[0])
    if len(frames) < options.video_strip + 1:
        raise ValueError(f"--video {options.video} has {len(frames)} frames; figure 10 "
                         f"needs more than --video_strip={options.video_strip}.")
    first = (len(frames) - options.video_strip) // 2
    rows = [("input", frames), ("per frame", per_frame), ("consistent", smoothed)]
    columns = options.video_strip
    height, width = frames[0].shape[:2]
    strip_inches = 2.0 * width / height
    figure = plt.figure(figsize=(strip_inches * columns / 1.6, 1.3 * 3 + 2.6), dpi=DPI)
    grid = figure.add_gridspec(4, columns, height_ratios=[1, 1, 1, 1.8])
    for i, (label, images_) in enumerate(rows):
        for j in range(columns):
            axes = figure.add_subplot(grid[i, j])
            axes.imshow(images_[first + j])
            axes.set_xticks([])
            axes.set_yticks([])
            if j == 0:
                axes.set_ylabel(label, fontsize=FONT_SIZE)
            if i == 0:
                axes.set_title(f"frame {first + j}", fontsize=FONT_SIZE)
    plot = figure.add_subplot(grid[3, :])
    for label, images_ in rows:
        plot.plot(range(1, len(images_)), video_metrics.mean_absolute_change(images_),
                  label=label)
    plot.axvspan(first, first + columns - 1, color="grey", alpha=0.15,
                 label="frames shown")
    plot.set_xlabel("frame t")
    plot.set_ylabel("mean |O_t - O_{t-1}|")
    # Log: a shot cut's jump would flatten the small differences that are flicker.
    plot.set_yscale("log")
    plot.grid(alpha=0.3)
    plot.legend(fontsize=FONT_SIZE - 1)
    figure.suptitle(titled(run, f"{os.path.basename(options.video)} in {styles[0]}: "
                           f"per frame vs consistent (smoothed statistics, decay "
                           f"{options.statistics_decay}; flow blend "
                           f"{options.flow_blend})"), fontsize=FONT_SIZE + 2)
    return figure


FIGURE_FUNCTIONS = (headline_figure, grid_figure, weighted_fusion_figure,
                    bilinear_fusion_figure, spatial_fusion_figure, strength_figure,
                    layer_fusion_figure, training_curves_figure, metrics_figure,
                    video_figure)


def figure_path(output, number):
    return os.path.join(output, f"fig{number}_{FIGURES[number - 1]}.png")


def selected(only):
    """Figure numbers from --only (numbers or names); all by default."""
    if not only:
        return list(range(1, len(FIGURES) + 1))
    numbers = []
    for item in only:
        item = str(item).strip()
        if item.isdigit() and 1 <= int(item) <= len(FIGURES):
            numbers.append(int(item))
        elif item in FIGURES:
            numbers.append(FIGURES.index(item) + 1)
        else:
            raise ValueError(f"--only {item!r} is not a figure; expected 1-{len(FIGURES)}"
                             f" or one of {', '.join(FIGURES)}.")
    return sorted(set(numbers))


def make_figures(options):
    """Draws the selected figures; returns {number: PNG path} of those written."""
    numbers = selected(options.only)
    if options.size % 4 or options.size < 16:
        raise ValueError(f"--size={options.size} must be a multiple of 4 and at least "
                         f"16.")
    ensure_trained(options)
    run = load_run(options)
    styles, contents = pick_styles(options, run), pick_contents(options, run)
    os.makedirs(options.output, exist_ok=True)
    written = {}
    for number in numbers:
        try:
            figure = FIGURE_FUNCTIONS[number - 1](run, options, contents, styles)
        except FigureSkipped as reason:
            if options.only:
                raise ValueError(f"Figure {number} ({FIGURES[number - 1]}) was asked "
                                 f"for but cannot be made: {reason}") from None
            logging.warning("Skipped figure %d (%s): %s", number, FIGURES[number - 1],
                            reason)
            continue
        written[number] = figure_path(options.output, number)
        save_figure(figure, written[number])
        logging.info("Wrote %s", written[number])
    return written


_RUN = flags.DEFINE_string("run", None, "A trained run's workdir (or its export folder).")
_OUTPUT = flags.DEFINE_string("output", None, "Folder for the figure PNGs.")
_ONLY = flags.DEFINE_list("only", [], "Figures to draw, by number or name "
                          f"({', '.join(FIGURES)}); default: all.")
_CONTENTS = flags.DEFINE_list("contents", [], "Content images (paths, or names in the "
                              "run's content folder); the first is the headline's. "
                              "Default: " + ", ".join(PREFERRED_CONTENTS) + " when "
                              "present, else the folder's first three.")
_STYLES = flags.DEFINE_list("styles", [], "Bank style names for the figures (fusion "
                            "uses the first 2-4). Default: " + ", ".join(PREFERRED_STYLES)
                            + " when present, filled up with the bank's styles.")
_HEADLINE_STYLE = flags.DEFINE_string("headline_style", HEADLINE_STYLE, "Style of figure "
                                      "1; the first figure style if the model lacks it.")
_CONTENT_DIR = flags.DEFINE_string("content_dir", "", "Content folder; default: the "
                                   "run's (config.json, or its demo_data).")
_STYLE_DIR = flags.DEFINE_string("style_dir", "", "Style folder (previews and metrics); "
                                 "default: the run's.")
_SIZE = flags.DEFINE_integer("size", 256, "Side of the square tiles, in pixels.")
_HEADLINE_SIZE = flags.DEFINE_integer("headline_size", 512, "Long side of figure 1.")
_STEPS = flags.DEFINE_integer("steps", 11, "Tiles of the weight and strength strips.")
_SQUARE_STEPS = flags.DEFINE_integer("square_steps", 5, "Tiles per side of figure 4.")
_METRICS_CONTENTS = flags.DEFINE_integer("metrics_contents", 4, "Contents evaluated "
                                         "for figure 9.")
_METRICS_STYLES = flags.DEFINE_integer("metrics_styles", 4, "The first N figure styles "
                                       "are evaluated for figure 9.")
_GATYS_STEPS = flags.DEFINE_integer("gatys_steps", 30, "Adam steps of the gatys "
                                    "baseline per pair (figure 9).")
_VIDEO = flags.DEFINE_string("video", "", "A clip for figure 10 (video); without it "
                             "figure 10 is skipped.")
_VIDEO_FRAMES = flags.DEFINE_integer("video_frames", 50, "Frames painted for figure 10.")
_TRAIN = flags.DEFINE_string("train", "", "If the run has no export yet, first train it "
                             "with this config (e.g. experiments/paintings.py).")
flags.mark_flags_as_required(["run", "output"])


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    options = Options(
        run=_RUN.value, output=_OUTPUT.value, only=tuple(_ONLY.value),
        contents=tuple(_CONTENTS.value), styles=tuple(_STYLES.value),
        headline_style=_HEADLINE_STYLE.value, content_dir=_CONTENT_DIR.value,
        style_dir=_STYLE_DIR.value, size=_SIZE.value, headline_size=_HEADLINE_SIZE.value,
        steps=_STEPS.value, square_steps=_SQUARE_STEPS.value,
        metrics_contents=_METRICS_CONTENTS.value, metrics_styles=_METRICS_STYLES.value,
        gatys_steps=_GATYS_STEPS.value, train=_TRAIN.value, video=_VIDEO.value,
        video_frames=_VIDEO_FRAMES.value)
    try:
        written = make_figures(options)
    except ValueError as error:
        raise app.UsageError(str(error)) from error
    print("\n".join(written[number] for number in sorted(written)))


if __name__ == "__main__":
    app.run(main)
