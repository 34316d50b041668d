r"""Evaluates a trained model (and baselines) on every content x style pair.

    python evaluate.py --model=runs/quickstart --output=runs/quickstart/eval \
        --method=ours,identity,gatys
    python evaluate.py --model=runs/my_styles --content_dir=/path/to/photos \
        --output=/tmp/eval --vgg_weights=imagenet --fusion_pair=monet,vangogh
    python evaluate.py --model=runs/paintings --style_dir=ANY_FOLDER \
        --content_dir=/path/to/photos --output=/tmp/eval_unseen \
        --method=encoder,nearest_code,mean_code,identity,gatys
    python evaluate.py --model=runs/paintings --style_dir=ANY_FOLDER \
        --content_dir=/path/to/photos --output=/tmp/eval_bound \
        --method=encoder,optimised_code,identity,gatys --code_steps=100
    python evaluate.py --model=runs/quickstart --video=clip.mp4 --output=/tmp/video

The third one paints styles the model never saw through its style encoder (with the
bank-code baselines of evaluation/arbitrary.py), and reports the share of the
identity -> gatys Gram gap each method closes and the keep gate of every style image.
The fourth adds the optimised_code bound: the best one code per style can do with this
generator, which tells the encoder's share of a gap from the generator's.

Writes metrics.json (settings, the classifier's ceiling, per-method summaries, the
fusion path), metrics.csv (one row per method, content and style), grid_<method>.png
and fusion_ours.png into --output, and prints a markdown table. With a workdir as
--model, the content/style folders, image size, VGG weights and layers and the loss
weights default to the run's config.json. See README "Evaluate" for the metrics.

The output folder is checked before any work. Errors are one sentence on stderr (the
traceback too with --verbose); the exit status is 2 for a command line that cannot work
and 1 for a failure while working (a damaged model, no usable image, a full disk).
"""

import environment  # noqa: E402,F401  (first: TensorFlow's logging set-up)

from absl import app, flags  # noqa: E402

import command_line  # noqa: E402
from command_line import RUN_ERROR, USAGE_ERROR, fail  # noqa: E402

_MODEL = flags.DEFINE_string("model", "", "A run's workdir or export folder (required "
                             "for --method=ours).")
_CONTENT_DIR = flags.DEFINE_string("content_dir", "", "Content photos (recursive); "
                                   "default: the run's content folder.")
_STYLE_DIR = flags.DEFINE_string("style_dir", "", "Style folder (one style per "
                                 "sub-folder or loose image, named as in the model's "
                                 "bank); default: the run's style folder.")
_OUTPUT = flags.DEFINE_string("output", None, "Folder for metrics.json, metrics.csv "
                              "and the PNG grids.")
_METHOD = flags.DEFINE_list("method", ["ours"], "Methods to evaluate: ours, identity, "
                            "gatys, and for styles the model never saw (any "
                            "--style_dir) encoder, nearest_code, mean_code, "
                            "optimised_code (comma-separated).")
_IMAGE_SIZE = flags.DEFINE_integer("image_size", 0, "Side of the square content crops; "
                                   "0: the run's data.image_size (256 without a run).")
_VGG_WEIGHTS = flags.DEFINE_string("vgg_weights", "", "imagenet, random, or a VGG19 "
                                   "weights file; default: the run's vgg.weights.")
_GATYS_STEPS = flags.DEFINE_integer("gatys_steps", 100, "Adam steps of the gatys "
                                    "baseline per pair.")
_GATYS_LEARNING_RATE = flags.DEFINE_float("gatys_learning_rate", 0.02,
                                          "Adam learning rate of the gatys baseline.")
_CODE_STEPS = flags.DEFINE_integer("code_steps", 100, "Adam steps of the "
                                   "optimised_code bound per style.")
_FUSION_PAIR = flags.DEFINE_list("fusion_pair", [], "Two style names for the fusion "
                                 "path; default: the first two styles.")
_FUSION_CONTENTS = flags.DEFINE_integer("fusion_contents", 4, "Contents on the fusion "
                                        "path.")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 4, "Pairs per batch.")
_CROPS_PER_STYLE = flags.DEFINE_integer("crops_per_style", 32, "Style crops training "
                                        "the classifier (half as many held back).")
_MAX_CONTENTS = flags.DEFINE_integer("max_contents", 0, "Use only the first N content "
                                     "images (0: all).")
_EVEN_STEPS = flags.DEFINE_bool("even_steps", False, "Also measure the fusion and "
                                 "strength paths at the model's even-step settings "
                                 "(calibrated on first use on the run's first photos).")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the style crops.")
_PRECISION = flags.DEFINE_string(
    "precision", "float32", "G's compute precision: float32 (the same metrics on every "
    "machine), mixed_bfloat16, or auto (the faster here, measured once per machine).")
_VERBOSE = flags.DEFINE_bool("verbose", False, "Print the traceback of an error too.")
# Video: temporal consistency (evaluation/video.py), instead of the image evaluation.
_VIDEO = flags.DEFINE_string("video", "", "A video: writes video_metrics.json (warping "
                             "error, Gram distance, SSIM-Y, fps per consistency method) "
                             "into --output instead of the image evaluation.")
_STYLE = flags.DEFINE_string("style", "", "--video: the style painted (a bank name); "
                             "default: the model's first.")
_TEMPORAL_MODEL = flags.DEFINE_string("temporal_model", "", "--video: a run fine-tuned "
                                      "with loss.temporal_weight, measured as well.")
_MAX_FRAMES = flags.DEFINE_integer("max_frames", 75, "--video: frames measured.")
_START = flags.DEFINE_float("start", 0.0, "--video: first second measured.")
_STATISTICS_DECAY = flags.DEFINE_float("statistics_decay", 0.9, "--video: decay of the "
                                       "smoothed norm statistics.")
_FLOW_BLEND = flags.DEFINE_float("flow_blend", 0.5, "--video: weight of the warped "
                                 "previous output in flow-guided blending.")
_GRAM_EVERY = flags.DEFINE_integer("gram_every", 5, "--video: Gram distance of every "
                                   "this many frames.")
flags.mark_flag_as_required("output")


def main(argv):
    # Imported here so --help answers without loading TensorFlow.
    import painting
    try:
        run(argv, painting)
    except painting.UsageError as error:
        fail(error, USAGE_ERROR, _VERBOSE.value)
    except (ValueError, OSError) as error:
        fail(error, RUN_ERROR, _VERBOSE.value)




def run(argv, painting):
    if len(argv) > 1:
        raise painting.UsageError(f"Unexpected arguments {argv[1:]}; every option is a "
                                  f"--flag (see --help).")
    from evaluation import evaluator
    from training import defaults
    if _VIDEO.value:
        return run_video(defaults)
    options = evaluator.Options(
        output=_OUTPUT.value, model=_MODEL.value, content_dir=_CONTENT_DIR.value,
        style_dir=_STYLE_DIR.value, methods=tuple(_METHOD.value),
        image_size=_IMAGE_SIZE.value, vgg_weights=_VGG_WEIGHTS.value,
        gatys_steps=_GATYS_STEPS.value, gatys_learning_rate=_GATYS_LEARNING_RATE.value,
        code_steps=_CODE_STEPS.value, fusion_pair=tuple(_FUSION_PAIR.value),
        fusion_contents=_FUSION_CONTENTS.value,
        batch_size=_BATCH_SIZE.value, crops_per_style=_CROPS_PER_STYLE.value,
        max_contents=_MAX_CONTENTS.value, seed=_SEED.value,
        even_steps=_EVEN_STEPS.value, precision=_PRECISION.value,
        default_config=defaults.base_config().to_dict())
    results, rows = evaluator.evaluate(options)
    evaluator.write_results(options.output, results, rows)
    print(evaluator.markdown_table(results))
    print(f"Wrote metrics.json and metrics.csv to {options.output}.")


def run_video(defaults):
    from evaluation import video
    options = video.VideoOptions(
        model=_MODEL.value, video=_VIDEO.value, output=_OUTPUT.value,
        style=_STYLE.value, temporal_model=_TEMPORAL_MODEL.value,
        max_frames=_MAX_FRAMES.value, start=_START.value,
        statistics_decay=_STATISTICS_DECAY.value, flow_blend=_FLOW_BLEND.value,
        gram_every=_GRAM_EVERY.value, style_dir=_STYLE_DIR.value,
        vgg_weights=_VGG_WEIGHTS.value, default_config=defaults.base_config().to_dict())
    results = video.evaluate_video(options)
    video.write_results(options.output, results)
    print(video.markdown_table(results))
    print(f"Wrote {video.OUTPUT_FILE} to {options.output}.")


if __name__ == "__main__":
    app.run(main, flags_parser=lambda argv: command_line.parse_flags(argv,
                                                                  "evaluate.py"))
