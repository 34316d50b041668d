r"""Fusion studio: a local web page to fuse styles by looking.

    python studio.py --model=runs/quickstart            # http://127.0.0.1:7860
    python studio.py --model=runs/quickstart --port=8000 --host=0.0.0.0

Upload a photo (or pick one of the run's), choose up to four styles (bank names, or
style images for a model with a style encoder), set their weights, the strength, a
mask (left/right, top/bottom, radial, or painted with a brush per style), coarse/fine
layer fusion and colour preservation; a 256-pixel preview follows every change and
shows how long it took. "Render full size" paints the photo at its own size (in tiles
when large) and offers the PNG; "Fusion strip" draws 7 steps from the first style to
the second. With "even steps" (on by default) the sliders go through the model's
calibration (painting.calibration), so equal slider steps give equal steps of style.

Every painting goes through the painting library, the code of stylize.py. The page
serves 127.0.0.1 only unless --host says otherwise, never makes a public share link,
and sends no analytics. Paintings are queued one at a time: two sessions painting at
once each get their own result, the second after the first.
"""
import os

# Before gradio is imported: it reads the variable at import time.
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

import environment  # noqa: E402,F401  (first: TensorFlow's logging set-up)

import dataclasses  # noqa: E402
import itertools  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402
from absl import app, flags, logging  # noqa: E402

import command_line  # noqa: E402
import painting  # noqa: E402
from data import images as image_files  # noqa: E402
from storage import atomic, workdir as workdir_lib  # noqa: E402

PREVIEW_SIDE = 256
MAX_STYLES = 4
STRIP_STEPS = 7
MASK_MODES = ("none", "left/right", "top/bottom", "radial", "painted")
# Masks of the two-region modes: the first style gets the first region.
TWO_REGION_MASKS = {"left/right": ("left", "right"), "top/bottom": ("top", "bottom"),
                    "radial": ("radial", "~radial")}
MAX_MESSAGE = 300  # characters of an error shown on the page


@dataclasses.dataclass
class Settings:
    """Everything on the page but the photo. Per style slot (MAX_STYLES): a bank name
    or None, an uploaded style image path or None, a weight slider (0-100)."""
    names: list
    uploads: list
    weights: list
    strength: float = 1.0
    mask_mode: str = "none"
    strokes: list = dataclasses.field(default_factory=list)  # alpha [h, w] or None
    layer_fusion: bool = False
    coarse_style: str = None
    fine_style: str = None
    preserve_color: bool = False
    even_steps: bool = True

    def chosen(self):
        """[(style, weight slider, slot)] of the filled slots; an upload wins over the
        slot's bank name."""
        chosen = []
        for slot, (name, upload, weight) in enumerate(zip(self.names, self.uploads,
                                                         self.weights)):
            style = upload or name
            if style:
                chosen.append((style, float(weight), slot))
        return chosen


def style_label(style):
    return os.path.basename(style) if os.path.exists(style) else style


def weights_label(settings):
    """'hatching 38% · swirls 62%': the normalised weight sliders."""
    chosen = settings.chosen()
    total = sum(weight for _, weight, _ in chosen)
    if not chosen or total <= 0:
        return "No weight above 0."
    return " · ".join(f"{style_label(style)} {100 * weight / total:.0f}%"
                      for style, weight, _ in chosen)


def mode_masks(settings):
    """The masks of the chosen styles for the mask mode (painting.masks specs)."""
    count = len(settings.chosen())
    if settings.mask_mode == "none":
        return ()
    if settings.mask_mode == "painted":
        strokes = list(settings.strokes) + [None] * MAX_STYLES
        return painting.painted_masks([strokes[slot] for _, _, slot in
                                       settings.chosen()])
    if settings.mask_mode not in TWO_REGION_MASKS:
        raise painting.UsageError(f"Unknown mask mode {settings.mask_mode!r}; expected "
                                  f"one of {', '.join(MASK_MODES)}.")
    if count != 2:
        raise painting.UsageError(
            f"Mask mode {settings.mask_mode} splits the photo between two styles, but "
            f"{count} are chosen; choose exactly two, or paint the masks.")
    return TWO_REGION_MASKS[settings.mask_mode]


class Studio:
    """The page's work, apart from the page: every callback is a method here, so
    tests call them without a browser."""

    def __init__(self, painter, model_path):
        self.painter, self.model_path = painter, model_path
        self.has_encoder = painter.source.encoder is not None
        self.photos, self.style_previews = run_files(model_path, painter.names)
        # Gradio serves a copy of each render from its own cache; this folder holds
        # the originals and goes when the studio does (close(), or at exit).
        self._renders = tempfile.TemporaryDirectory(prefix="studio_renders_")
        self._render_numbers = itertools.count(1)
        self.calibration_problem = None
        try:
            painter.calibration()  # measured now (or read), not at the first preview
        except ValueError as error:
            self.calibration_problem = str(error)
            logging.warning("Even steps are off: %s", error)

    def plan(self, settings):
        """The FusionPlan of the settings: weights -> code, through the library."""
        if not settings.chosen():
            raise painting.UsageError("No style chosen: choose at least one style.")
        coarse = fine = None
        if settings.layer_fusion:
            coarse, fine = settings.coarse_style, settings.fine_style
            if not coarse or not fine:
                raise painting.UsageError("Layer fusion needs a style for structure "
                                          "(coarse) and one for colour and texture "
                                          "(fine).")
        even = settings.even_steps and self.calibration_problem is None
        return self.painter.plan(
            styles=[(style, weight) for style, weight, _ in settings.chosen()],
            masks=mode_masks(settings), strength=settings.strength,
            coarse_style=coarse, fine_style=fine, even_steps=even)

    def load_photo(self, path):
        """The photo of an upload or a pick, float32 [H, W, 3]; ValueError naming it
        when it is not an image, truncated or too large."""
        if not path:
            raise painting.UsageError("No photo: upload one or pick one of the run's.")
        return painting.load_content(path)

    def preview(self, photo, settings):
        """(uint8 painting with short side PREVIEW_SIDE, seconds taken)."""
        started = time.perf_counter()
        image = painting.downscale_short_side(photo, PREVIEW_SIDE)
        painted = self.painter.paint(image, self.plan(settings),
                                     preserve_color=settings.preserve_color)
        return atomic.to_pixels(painted), time.perf_counter() - started

    @property
    def render_folder(self):
        return self._renders.name

    def close(self):
        """Removes the renders' folder."""
        self._renders.cleanup()

    def render(self, photo, settings, progress=None):
        """Paints the photo at full size into a new PNG in render_folder; returns its
        path."""
        painted = self.painter.paint(photo, self.plan(settings),
                                     preserve_color=settings.preserve_color,
                                     progress=progress)
        path = os.path.join(self.render_folder,
                            f"studio_painting_{next(self._render_numbers):04d}.png")
        painting.write_image(path, painted)
        return path

    def strip(self, photo, settings):
        """STRIP_STEPS previews from the first chosen style to the second, side by
        side (uint8), with the page's other settings."""
        chosen = settings.chosen()
        if len(chosen) < 2:
            raise painting.UsageError("The fusion strip goes from the first style to "
                                      "the second: choose two styles.")
        image = painting.downscale_short_side(photo, PREVIEW_SIDE)
        steps = []
        for share in np.linspace(0.0, 1.0, STRIP_STEPS):
            endpoints = dataclasses.replace(
                settings, names=[chosen[0][0], chosen[1][0], None, None],
                uploads=[None] * MAX_STYLES, weights=[100 * (1 - share), 100 * share, 0, 0],
                mask_mode="none")
            steps.append(self.painter.paint(image, self.plan(endpoints),
                                            preserve_color=settings.preserve_color))
        gap = np.ones((image.shape[0], 4, 3), np.float32)
        return atomic.to_pixels(np.concatenate(sum(([step, gap] for step in steps), [])[:-1],
                                       axis=1))


def run_files(model_path, names):
    """(the run's photos, {style name: its first style image}) when the run's data
    folders are there; empty otherwise."""
    config, workdir = painting.find_run_config(model_path)
    if config is None:
        return [], {}
    content_dir, style_dir = workdir_lib.data_folders(config, workdir)
    photos = []
    for folder in (content_dir, workdir_lib.demo_eval_content_dir(workdir)):
        if os.path.isdir(folder):
            photos += image_files.list_images(folder)
    previews = {}
    if image_files.has_style_folders(style_dir):
        style_names, files = image_files.list_styles(style_dir)
        previews = {name: style_files[0] for name, style_files in zip(style_names, files)
                    if name in names and style_files}
    return photos, previews


def message_of(error):
    """One line for the page: the error's sentence, cut at MAX_MESSAGE characters."""
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE - 1] + "…"


def strokes_of(editor_value):
    """Per style slot the alpha [h, w] in [0, 1] of its brush layer, or None."""
    layers = (editor_value or {}).get("layers") or []
    strokes = []
    for layer in layers[:MAX_STYLES]:
        layer = np.asarray(layer)
        alpha = layer[..., 3].astype(np.float32) / 255.0 if layer.ndim == 3 and \
            layer.shape[-1] == 4 else None
        strokes.append(alpha if alpha is not None and alpha.any() else None)
    return strokes + [None] * (MAX_STYLES - len(strokes))


def settings_of(values):
    """Settings from the page's input values, in page.SETTINGS_INPUTS order."""
    names = list(values[0:MAX_STYLES])
    uploads = list(values[MAX_STYLES:2 * MAX_STYLES])
    weights = list(values[2 * MAX_STYLES:3 * MAX_STYLES])
    (strength, mask_mode, editor, layer_fusion, coarse, fine, preserve,
     even) = values[3 * MAX_STYLES:]
    return Settings(names=names, uploads=uploads, weights=weights,
                    strength=float(strength), mask_mode=mask_mode,
                    strokes=strokes_of(editor), layer_fusion=bool(layer_fusion),
                    coarse_style=coarse, fine_style=fine, preserve_color=bool(preserve),
                    even_steps=bool(even))


# --------------------------------------------------------------------------- the page


def _guarded(work):
    """Runs work(); (its result, "") or (None, the error as one line for the page):
    a bad upload or an impossible setting is a message, never a crash."""
    try:
        return work(), ""
    except Exception as error:  # noqa: BLE001 -- shown on the page, logged in full
        logging.exception("Studio callback failed")
        return None, f"⚠️ {message_of(error)}"


def _editor_value(photo):
    """The brush canvas: the photo at preview size, one empty layer per style."""
    if photo is None:
        return None
    return {"background": atomic.to_pixels(painting.downscale_short_side(photo, 512)),
            "layers": [], "composite": None}


def _style_slot(studio, slot):
    names = [None] + list(studio.painter.names)
    default = studio.painter.names[slot] if slot < min(2, len(names) - 1) else None
    with gr.Column(min_width=160):
        name = gr.Dropdown(names, value=default, label=f"Style {slot + 1}",
                           elem_id=f"style_{slot + 1}")
        upload = gr.File(label="or a style image", file_types=["image"],
                         visible=studio.has_encoder, elem_id=f"style_image_{slot + 1}")
        weight = gr.Slider(0, 100, value=50, step=1, label="Weight",
                           elem_id=f"weight_{slot + 1}")
    return name, upload, weight


def build_page(studio):
    """The gr.Blocks page of a Studio (not launched)."""
    # Gradio's copies of the renders (full-size PNGs) are deleted after a day, and
    # all of them when the studio stops.
    with gr.Blocks(title="StyleFusion studio", delete_cache=(3600, 86400)) as page:
        photo = gr.State(None)
        gr.Markdown("# StyleFusion studio\nModel: `" + studio.model_path + "`")
        with gr.Row():
            with gr.Column():
                upload = gr.File(label="Content photo", file_types=["image"],
                                 elem_id="content_upload")
                pick = gr.Dropdown([None] + studio.photos, value=None,
                                   label="or one of the run's photos",
                                   elem_id="content_pick")
                editor = gr.ImageEditor(
                    label="Photo (brush a region per style for painted masks)",
                    type="numpy", sources=(), image_mode="RGBA", format="png",
                    layers=gr.LayerOptions(allow_additional_layers=False, layers=[
                        f"style {slot + 1}" for slot in range(MAX_STYLES)]),
                    brush=gr.Brush(colors=["#e6194b", "#3cb44b", "#4363d8", "#f58231"],
                                   color_mode="fixed"),
                    transforms=(), elem_id="editor")
            with gr.Column():
                preview = gr.Image(label="Preview (short side 256)", format="png",
                                   interactive=False, elem_id="preview")
                status = gr.Markdown("Upload or pick a photo.", elem_id="status")
                weights_text = gr.Markdown("", elem_id="weights_text")
        if studio.style_previews:
            gr.Gallery([(path, name) for name, path in studio.style_previews.items()],
                       label="Styles of the model", columns=8, height=140)
        with gr.Row():
            slots = [_style_slot(studio, slot) for slot in range(MAX_STYLES)]
        with gr.Row():
            strength = gr.Slider(0, 1, value=1, step=0.05, label="Strength",
                                 interactive=studio.has_encoder, elem_id="strength",
                                 info=None if studio.has_encoder else
                                 "needs a model with a style encoder")
            mask_mode = gr.Radio(list(MASK_MODES), value="none", label="Mask",
                                 elem_id="mask_mode")
        with gr.Row():
            layer_fusion = gr.Checkbox(False, label="Coarse/fine layer fusion")
            coarse = gr.Dropdown(list(studio.painter.names), value=None,
                                 label="Structure (coarse layers)")
            fine = gr.Dropdown(list(studio.painter.names), value=None,
                               label="Colour and texture (fine layers)")
            preserve = gr.Checkbox(False, label="Preserve colour")
            even = gr.Checkbox(studio.calibration_problem is None, label="Even steps",
                               interactive=studio.calibration_problem is None)
        with gr.Row():
            render_button = gr.Button("Render full size", variant="primary",
                                      elem_id="render")
            strip_button = gr.Button("Fusion strip (style 1 → style 2)", elem_id="strip")
        rendered = gr.File(label="Full-size PNG", elem_id="rendered")
        strip = gr.Image(label="Fusion strip", format="png", interactive=False,
                         elem_id="strip_image")
        inputs = ([slot[0] for slot in slots] + [slot[1] for slot in slots]
                  + [slot[2] for slot in slots]
                  + [strength, mask_mode, editor, layer_fusion, coarse, fine, preserve,
                     even])
        _wire(studio, photo, upload, pick, editor, inputs,
              (preview, status, weights_text, render_button, rendered, strip_button,
               strip))
    return page


def _wire(studio, photo, upload, pick, editor, inputs, outputs):
    preview, status, weights_text, render_button, rendered, strip_button, strip = outputs

    def load(path):
        image, message = _guarded(lambda: studio.load_photo(path))
        if image is None:
            return None, None, None, message
        return image, _editor_value(image), None, (
            f"Photo {image.shape[1]}x{image.shape[0]}.")

    def show_preview(image, *values):
        settings = settings_of(values)
        label = weights_label(settings)
        if image is None:
            return None, "Upload or pick a photo.", label
        result, message = _guarded(lambda: studio.preview(image, settings))
        if result is None:
            return None, message, label
        painted, seconds = result
        return painted, (f"Preview {painted.shape[1]}x{painted.shape[0]} in "
                         f"{1000 * seconds:.0f} ms."), label

    def render(image, *values, progress=gr.Progress()):
        if image is None:
            return None, "Upload or pick a photo first."
        started = time.perf_counter()
        path, message = _guarded(lambda: studio.render(
            image, settings_of(values),
            lambda done, total: progress(done / total, desc="Painting tiles")))
        return path, message or (f"Rendered {image.shape[1]}x{image.shape[0]} in "
                                 f"{time.perf_counter() - started:.1f} s.")

    def fusion_strip(image, *values):
        if image is None:
            return None, "Upload or pick a photo first."
        result, message = _guarded(lambda: studio.strip(image, settings_of(values)))
        return result, message or "Fusion strip: 7 steps from style 1 to style 2."

    paint = {"concurrency_limit": 1, "concurrency_id": "paint"}
    upload.upload(load, upload, [photo, editor, preview, status], **paint)
    pick.input(load, pick, [photo, editor, preview, status], **paint)
    gr.on([photo.change] + [component.change for component in inputs], show_preview,
          [photo] + inputs, [preview, status, weights_text], trigger_mode="always_last",
          **paint)
    render_button.click(render, [photo] + inputs, [rendered, status], **paint)
    strip_button.click(fusion_strip, [photo] + inputs, [strip, status], **paint)


def main(argv):
    if len(argv) > 1:
        command_line.fail(f"Unexpected arguments {argv[1:]}; every option is a --flag "
                          f"(see --help).", command_line.USAGE_ERROR)
    if not _MODEL.value:
        command_line.fail("--model is required (a run's workdir or export folder).",
                          command_line.USAGE_ERROR)
    try:
        studio = Studio(painting.load(_MODEL.value), _MODEL.value)
    except painting.UsageError as error:
        command_line.fail(error, command_line.USAGE_ERROR)
    except (ValueError, OSError) as error:
        command_line.fail(error, command_line.RUN_ERROR)
    build_page(studio).queue(default_concurrency_limit=1).launch(
        server_name=_HOST.value, server_port=_PORT.value, share=False)


if __name__ == "__main__":
    _MODEL = flags.DEFINE_string("model", None, "A run's workdir or its export folder.")
    _HOST = flags.DEFINE_string("host", "127.0.0.1", "Address to serve on; other hosts "
                                "reach the page only if this says so (e.g. 0.0.0.0).")
    _PORT = flags.DEFINE_integer("port", 7860, "Port to serve on.")
    app.run(main, flags_parser=lambda argv: command_line.parse_flags(argv,
                                                                  "studio.py"))

