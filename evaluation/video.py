"""Temporal consistency of a painted video, method by method (evaluate.py --video).

Every method paints the same frames of one clip, streamed once through
video.io; for each it measures
  warping_error  E_warp (video.metrics, Lai et al. 2018): flicker plus the flow's
                 own error; `input` (the clip itself) gives that floor;
  gram_distance  the mean Gram distance of its frames to the style's images
                 (evaluation.metrics.gram_distance; every gram_every-th frame),
                 which shows whether consistency was bought by washing the style out;
  ssim_y         the mean SSIM of the luma of each output frame and its input frame;
  fps            frames painted per second (painting, flow and blending; not the
                 decoding or the metrics; from the second frame, after tracing),
                 measured in the same process as the others.
Methods: input, per_frame, statistics (smoothed norm statistics), flow (flow-guided
blending), statistics+flow; with a temporal-loss model also temporal_loss (that model
per frame) and temporal_loss+statistics+flow.
"""
import dataclasses
import os
import time

import numpy as np

import painting
from data import images
from evaluation import evaluator, metrics, style_reference
from storage import atomic
from storage import workdir as workdir_lib
from video import consistency, io as video_io, metrics as video_metrics

OUTPUT_FILE = "video_metrics.json"


@dataclasses.dataclass
class VideoOptions:
    model: str
    video: str
    output: str
    style: str = ""               # a style of the model's bank; default its first
    temporal_model: str = ""      # a run fine-tuned with loss.temporal_weight
    max_frames: int = 75
    start: float = 0.0
    statistics_decay: float = 0.9
    flow_blend: float = 0.5
    gram_every: int = 5
    style_dir: str = ""           # default: the run's style folder
    vgg_weights: str = ""         # default: the run's vgg.weights
    default_config: dict = None   # vgg settings when the model has no config.json


def method_options(options):
    """{name: (model key, ConsistencyOptions)} of the methods besides the input."""
    decay, blend = options.statistics_decay, options.flow_blend
    methods = {
        "per_frame": ("model", consistency.ConsistencyOptions()),
        "statistics": ("model", consistency.ConsistencyOptions(statistics_decay=decay)),
        "flow": ("model", consistency.ConsistencyOptions(flow_blend=blend)),
        "statistics+flow": ("model", consistency.ConsistencyOptions(
            statistics_decay=decay, flow_blend=blend)),
    }
    if options.temporal_model:
        methods["temporal_loss"] = ("temporal_model", consistency.ConsistencyOptions())
        methods["temporal_loss+statistics+flow"] = (
            "temporal_model", consistency.ConsistencyOptions(statistics_decay=decay,
                                                             flow_blend=blend))
    return methods


def check_options(options):
    """UsageError naming the first option that cannot work, before any work."""
    if not options.model:
        raise painting.UsageError("--video needs --model: a run's workdir or export "
                                  "folder.")
    if options.max_frames < 2:
        raise painting.UsageError(f"--max_frames={options.max_frames} must be at least "
                                  f"2 (the warping error compares consecutive frames).")
    if options.gram_every < 1:
        raise painting.UsageError(f"--gram_every={options.gram_every} must be >= 1.")
    for _, method in method_options(options).values():
        try:
            method.check()
        except ValueError as error:
            raise painting.UsageError(f"--{error}") from error
    painting.check_outputs([os.path.join(options.output, OUTPUT_FILE)],
                           [options.video])


class StyleTarget:
    """The style's Gram matrices and a feature network to measure frames with."""

    def __init__(self, options, style_name):
        config, workdir = painting.find_run_config(options.model)
        config = config or options.default_config
        vgg = dict(config["vgg"])
        self.network = evaluator.FeatureNetwork({
            "weights": options.vgg_weights or vgg["weights"],
            "fallback_to_random": bool(vgg.get("fallback_to_random", False)),
            "seed": vgg["seed"], "content_layers": list(vgg["content_layers"]),
            "style_layers": list(vgg["style_layers"])})
        style_dir = options.style_dir or (
            workdir and workdir_lib.data_folders(config, workdir)[1])
        if not style_dir:
            raise painting.UsageError("--style_dir is required when --model is not a "
                                      "run with a config.json.")
        names, files = images.list_styles(style_dir)
        if style_name not in names:
            raise painting.UsageError(f"Style {style_name!r} has no images in "
                                      f"{style_dir}; expected one of {names}.")
        size = config["data"]["image_size"]
        resize = config["data"].get("style_resize") or size
        self.grams = style_reference.mean_grams(
            self.network, [files[names.index(style_name)]], resize, size)

    def distance(self, frame):
        grams = self.network.grams(frame[None])
        return float(metrics.gram_distance(grams, [g[:1] for g in self.grams])[0])


@dataclasses.dataclass
class MethodRun:
    painter: consistency.ConsistentPainter
    plan: object
    seconds: float = 0.0
    frames: int = 0
    grams: list = dataclasses.field(default_factory=list)
    ssims: list = dataclasses.field(default_factory=list)
    changes: list = dataclasses.field(default_factory=list)
    previous: np.ndarray = None
    timed_frames: int = None

    def paint(self, image):
        """The next frame's painting; its time counts from the second frame on (the
        first traces G's functions)."""
        started = time.perf_counter()
        painted = self.painter.paint(image, self.plan)
        if self.timed_frames is not None:
            self.seconds += time.perf_counter() - started
            self.frames += 1
        self.timed_frames = self.frames
        return painted


def load_methods(options):
    """{name: MethodRun} (the input excepted) and the style's name."""
    # Whole frames: the tile size is the longest side a frame can have here.
    painters = {"model": painting.load(options.model, tile_size=1 << 14)}
    if options.temporal_model:
        painters["temporal_model"] = painting.load(options.temporal_model,
                                                   tile_size=1 << 14)
    style = options.style or painters["model"].names[0]
    runs = {}
    for name, (key, consistency_options) in method_options(options).items():
        painter = painters[key]
        runs[name] = MethodRun(consistency.ConsistentPainter(painter, consistency_options),
                               painter.plan(styles=[style]))
    return runs, style


def record(run, frame, output, index, target, gram_every):
    """Adds one output frame's Gram distance, SSIM and change to its method's lists."""
    if index % gram_every == 0:
        run.grams.append(target.distance(output))
    run.ssims.append(float(metrics.ssim_luminance(output[None], frame[None])[0]))
    if run.previous is not None:
        run.changes.append(float(np.mean(np.abs(output - run.previous))))
    run.previous = output


def evaluate_video(options):
    """Runs every method over the clip; returns the results dict (OUTPUT_FILE)."""
    check_options(options)
    runs, style = load_methods(options)
    target = StyleTarget(options, style)
    input_run = MethodRun(None, None)
    warping = video_metrics.WarpingError(["input", *runs])
    with video_io.open_video(options.video, options.start,
                             max_frames=options.max_frames) as reader:
        for frame in reader:
            outputs = {name: run.paint(frame.image) for name, run in runs.items()}
            outputs["input"] = frame.image
            warping.add(frame.image, outputs)
            for name, run in [("input", input_run), *runs.items()]:
                record(run, frame.image, outputs[name], frame.index, target,
                       options.gram_every)
        truncation, size = reader.truncation, reader.size
    if len(input_run.ssims) < 2:
        raise ValueError(f"{options.video} gave {len(input_run.ssims)} frame(s); the "
                         f"warping error needs at least 2.")
    return summarise(options, style, size, truncation, warping.values(),
                     {"input": input_run, **runs})


def summarise(options, style, size, truncation, warping_errors, runs):
    methods = {}
    for name, run in runs.items():
        methods[name] = {
            "warping_error": warping_errors[name],
            "gram_distance": float(np.mean(run.grams)),
            "ssim_y": float(np.mean(run.ssims)),
            "fps": run.frames / run.seconds if run.seconds > 0 else None,
            "mean_frame_change": float(np.mean(run.changes)),
        }
    floor = methods["input"]["warping_error"]
    excess = methods["per_frame"]["warping_error"] - floor
    for values in methods.values():
        values["excess_cut_vs_per_frame"] = (
            1.0 - (values["warping_error"] - floor) / excess if excess > 0 else None)
    settings = {key: value for key, value in dataclasses.asdict(options).items()
                if key != "default_config"}
    return {"settings": {**settings, "style": style, "frames": len(runs["input"].ssims),
                         "size": list(size), "flow_preset_metric": "medium",
                         "truncation": truncation},
            "methods": methods}


def write_results(output, results):
    os.makedirs(output, exist_ok=True)
    atomic.write_json(os.path.join(output, OUTPUT_FILE), results)


def markdown_table(results):
    rows = ["| method | E_warp | excess cut | Gram distance | SSIM-Y | fps |",
            "|---|---|---|---|---|---|"]
    for name, values in results["methods"].items():
        cut = values["excess_cut_vs_per_frame"]
        fps = values["fps"]
        rows.append(f"| {name} | {values['warping_error']:.5f} | "
                    f"{'-' if cut is None or name == 'input' else f'{100 * cut:.0f}%'} | "
                    f"{values['gram_distance']:.4g} | {values['ssim_y']:.3f} | "
                    f"{'-' if fps is None else f'{fps:.2f}'} |")
    return "\n".join(rows)

