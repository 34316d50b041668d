"""evaluate(options): stylize every content x style pair with each method and measure.

The steps, in order:
  1. settings: the run's config.json (when --model is a workdir or its export) gives
     the VGG weights and layers, loss weights, image size and style folder, so
     nothing is declared twice; explicit options override it;
  2. real style data: per style, a target (Gram matrices and channel statistics of
     its images, averaged) and random crops, on which the style classifier is trained
     (held-back crops give its ceiling accuracy) and which are the reference set of
     the Frechet distance;
  3. per method (ours, identity, gatys): outputs for every pair in batches, timed;
     per-pair content/style metrics; classifier posteriors and statistics vectors of
     output tiles;
  4. for "ours", a two-style fusion path (weights 0, 0.1, ..., 1);
  5. metrics.json (settings + summaries), metrics.csv (one row per method and pair),
     grid_<method>.png, and a printed markdown table.

Classifier and Frechet-distance features are computed on crop_size tiles (half the
image side by default) of outputs and style images alike, so both sides of every
comparison have the same size; the style targets of the per-pair distances are
full image_size centre crops, as in training.
"""
import dataclasses
import json
import os
import time

import keras
import numpy as np
import tensorflow as tf

import painting
from painting import calibration, plan as painting_plan
from data import images
from evaluation import arbitrary, baselines, classifier as classifier_lib, metrics
from evaluation import style_reference
from evaluation.during_training import FUSION_WEIGHTS
from losses import perceptual
from models import generator as generator_lib
from models import style as style_lib
from models import vgg as vgg_lib
from storage import atomic
from storage import workdir as workdir_lib

METHODS = ("ours", "identity", "gatys") + arbitrary.METHODS
# Columns of metrics.csv after method, content and style; also the summary keys.
PAIR_METRICS = ("content_distance", "ssim_y", "gram_distance", "mean_std_distance",
                "total_variation", "objective", "target_posterior", "mean_abs_change")
GRID_CONTENTS = 4
# Files of the output folder besides the grid PNGs.
OUTPUT_FILES = ("metrics.json", "metrics.csv")


@dataclasses.dataclass
class Options:
    """What to evaluate. Empty/zero values mean "from the run's config.json"."""
    output: str
    model: str = ""             # workdir or export folder; optional for baselines
    content_dir: str = ""       # default: the run's content folder
    style_dir: str = ""         # default: the run's style folder (the bank styles)
    methods: tuple = ("ours",)
    image_size: int = 0         # default: the run's data.image_size, else 256
    vgg_weights: str = ""       # default: the run's vgg.weights, else "imagenet"
    gatys_steps: int = 100
    gatys_learning_rate: float = 0.02
    code_steps: int = 100       # Adam steps of the optimised_code bound
    fusion_pair: tuple = ()     # two style names; default: the first two styles
    fusion_contents: int = 4
    batch_size: int = 4
    crops_per_style: int = 32   # classifier training crops; half as many held back
    crop_size: int = 0          # default: image_size // 2
    max_contents: int = 0       # 0 = every content image
    max_style_images: int = 8   # images per style averaged into its target
    seed: int = 0
    # Also measure the paths at the model's even-step settings (painting.calibration,
    # measured on first use on the run's first photos).
    even_steps: bool = False
    # G's compute precision (models/precision.py): float32 by default, so the
    # metrics are the same on every machine; "auto" or "mixed_bfloat16" for speed.
    precision: str = "float32"
    # The vgg and loss sections used when the model has no config.json (evaluate.py
    # passes the library's defaults).
    default_config: dict = None


# --------------------------------------------------------------------------- settings


def resolve_settings(options):
    """All settings of the evaluation as a plain dict (recorded in metrics.json)."""
    unknown = sorted(set(options.methods) - set(METHODS))
    if unknown or not options.methods:
        raise painting.UsageError(
            f"--method {list(options.methods)} has unknown or no methods {unknown}; "
            f"expected a list of {', '.join(METHODS)}.")
    for name in ("batch_size", "gatys_steps", "code_steps", "fusion_contents",
                 "max_style_images"):
        if getattr(options, name) < 1:
            raise painting.UsageError(f"--{name}={getattr(options, name)} must be at "
                                      f"least 1.")
    if options.crops_per_style < 2:
        raise painting.UsageError(
            f"--crops_per_style={options.crops_per_style} must be at least 2 (half as "
            f"many crops are held back).")
    needs_model = sorted(set(options.methods) & {"ours", *arbitrary.METHODS})
    if needs_model and not options.model:
        raise painting.UsageError(f"--model is required to evaluate method "
                                  f"{needs_model[0]!r}; expected a run's workdir or "
                                  f"export folder.")
    config, workdir = painting.find_run_config(options.model)
    vgg, loss = _vgg_and_loss(config or options.default_config)
    train_size = config["data"]["image_size"] if config else 256
    image_size = options.image_size or train_size
    if image_size % generator_lib.STRIDE or image_size < 16:
        raise painting.UsageError(
            f"--image_size={image_size} must be at least 16 and divisible by "
            f"{generator_lib.STRIDE} (the generator's stride).")
    crop_size = options.crop_size or image_size // 2
    if not 8 <= crop_size <= image_size:
        raise painting.UsageError(f"--crop_size={crop_size} must be between 8 and the "
                                  f"image size {image_size}.")
    style_resize = (config["data"]["style_resize"] or train_size) if config else \
        image_size
    settings = {
        "model": os.path.abspath(options.model) if options.model else None,
        "workdir": os.path.abspath(workdir) if workdir else None,
        "methods": list(options.methods),
        "content_dir": _data_dir(options.content_dir, config, workdir, "content"),
        "style_dir": _data_dir(options.style_dir, config, workdir, "styles"),
        "image_size": image_size,
        # Style images are shown at the training scale, rescaled with the image size.
        "style_resize": max(image_size, round(style_resize * image_size / train_size)),
        "crop_size": crop_size,
        "vgg": {"weights": options.vgg_weights or vgg["weights"],
                "fallback_to_random": bool(vgg.get("fallback_to_random", False)),
                "seed": vgg["seed"], "content_layers": list(vgg["content_layers"]),
                "style_layers": list(vgg["style_layers"])},
        "loss_weights": {key: loss[key] for key in
                         ("content_weight", "style_weight", "tv_weight")},
        "gatys": {"steps": options.gatys_steps,
                  "learning_rate": options.gatys_learning_rate},
        "code_steps": options.code_steps,
        "batch_size": options.batch_size, "crops_per_style": options.crops_per_style,
        "max_contents": options.max_contents,
        "max_style_images": options.max_style_images,
        "fusion_pair": list(options.fusion_pair),
        "fusion_contents": options.fusion_contents, "seed": options.seed,
        "even_steps": options.even_steps,
    }
    _check_output(options.output, settings)
    return settings


def _vgg_and_loss(config):
    if config is None:
        raise ValueError("Without a run's config.json the evaluation needs the VGG and "
                         "loss settings: pass --model=<a run's workdir>, or "
                         "Options(default_config=...) as evaluate.py does.")
    return dict(config["vgg"]), dict(config["loss"])


def _data_dir(flag_value, config, workdir, kind):
    """--content_dir / --style_dir, else the run's own folder from its config.json.

    kind: "content" or "styles" (the bank styles: data.style_dir).
    """
    if flag_value:
        return os.path.abspath(flag_value)
    flag = "--content_dir" if kind == "content" else "--style_dir"
    if config is None:
        raise painting.UsageError(f"{flag} is required when --model is not a run "
                                  f"with a {workdir_lib.CONFIG_FILE}.")
    content_dir, style_dir = workdir_lib.data_folders(config, workdir)
    folder = content_dir if kind == "content" else style_dir
    if config["data"]["demo"] and not os.path.isdir(folder):
        raise ValueError(f"The run in {workdir} trained on demo data but {folder} is "
                         f"missing; pass --content_dir and --style_dir, or regenerate "
                         f"it with: python -m data.samples --output "
                         f"{workdir_lib.demo_data_dir(workdir)}")
    return folder


def describe_features(settings, description):
    """The settings with the VGG weights actually loaded (known once the network is
    built): vgg.weights_description and the name of the Frechet distance."""
    return {**settings, "vgg": {**settings["vgg"], "weights_description": description},
            "fd_name": f"FD-VGG19({description})"}


def _check_output(output, settings):
    """Before any work: the output folder can be written (painting.check_outputs, as
    stylize checks its outputs), and it is not inside a folder this evaluation reads
    images from, where its grid PNGs would become inputs of the next evaluation."""
    output = os.path.abspath(output)
    for key in ("content_dir", "style_dir"):
        folder = os.path.abspath(settings[key])
        if output == folder or output.startswith(folder + os.sep):
            raise painting.UsageError(f"--output={output} is inside the {key} {folder}; "
                                      f"expected a folder outside the input images.")
    painting.check_outputs([os.path.join(output, name) for name in OUTPUT_FILES], [])


# --------------------------------------------------------------------------- images


def split_held_back(files):
    """(training files, held-back files) of one style. Every 4th image is held back
    (at least one) when the style has several; a single image serves both, with
    different random crops."""
    if len(files) < 2:
        return files, files
    held_back = files[3::4] or files[-1:]
    return [path for path in files if path not in held_back], held_back


# --------------------------------------------------------------------------- style data


class FeatureNetwork(style_reference.Features):
    """The VGG19 feature extractor with the evaluation's layer lists, traced once."""

    def __init__(self, vgg_settings):
        model = vgg_lib.build_feature_extractor(
            list(dict.fromkeys(vgg_settings["content_layers"]
                               + vgg_settings["style_layers"])),
            weights=vgg_settings["weights"],
            fallback_to_random=vgg_settings["fallback_to_random"],
            seed=vgg_settings["seed"])
        super().__init__(model, vgg_settings["content_layers"],
                         vgg_settings["style_layers"])
        self.description = model.weights_description
        self._call = tf.function(lambda images: model(images))

    def __call__(self, images):
        return self._call(tf.convert_to_tensor(images, tf.float32))


@dataclasses.dataclass
class StyleData:
    names: list
    grams: list              # per style layer: [num_styles, C, C]
    statistics: list         # per style layer: ([num_styles, C], [num_styles, C])
    preview: np.ndarray      # [num_styles, S, S, 3]: first image of each style
    classifier: classifier_lib.StyleClassifier
    reference_vectors: np.ndarray   # every real crop, for the Frechet distance
    classifier_report: dict


def prepare_styles(settings, network):
    """Targets, classifier and Frechet reference set of every style in style_dir."""
    names, files_per_style = images.list_styles(settings["style_dir"])
    random_state = np.random.RandomState(settings["seed"])
    size, resize = settings["image_size"], settings["style_resize"]
    grams, statistics, preview = [], [], []
    train_crops, train_labels, held_crops, held_labels = [], [], [], []
    separate = True
    for style_id, files in enumerate(files_per_style):
        style_images = images.center_squares(files[:settings["max_style_images"]],
                                             resize, size)
        preview.append(style_images[0])
        features = network.style_features(network(style_images))
        grams.append([tf.reduce_mean(g, axis=0) for g in perceptual.gram_matrices(features)])
        statistics.append([(tf.reduce_mean(m, axis=0), tf.reduce_mean(s, axis=0))
                           for m, s in perceptual.channel_statistics(features)])
        train_files, held_files = split_held_back(files)
        separate = separate and train_files != held_files
        for file_list, count, crops, labels in (
                (train_files, settings["crops_per_style"], train_crops, train_labels),
                (held_files, settings["crops_per_style"] // 2, held_crops, held_labels)):
            new = style_reference.crops_of_files(file_list, count, resize,
                                                 settings["crop_size"], random_state)
            crops.extend(new)
            labels.extend([style_id] * len(new))
    train_vectors = network.statistics_vectors(np.stack(train_crops))
    held_vectors = network.statistics_vectors(np.stack(held_crops))
    classifier = classifier_lib.fit(train_vectors, train_labels, len(names))
    report = {
        "model": "multinomial logistic regression (l2=1e-2) on standardised channel "
                 "mean/std vectors of the VGG19 style layers",
        "training_crops": len(train_labels), "held_back_crops": len(held_labels),
        "held_back_from_separate_images": separate,
        "training_accuracy": classifier_lib.accuracy(classifier, train_vectors,
                                                     train_labels),
        "held_back_accuracy": classifier_lib.accuracy(classifier, held_vectors,
                                                      held_labels),
        "chance": 1.0 / len(names)}
    return StyleData(
        names, [tf.stack(layer) for layer in zip(*grams)],
        [(tf.stack(means), tf.stack(stds)) for means, stds in
         (zip(*layer) for layer in zip(*statistics))],
        np.stack(preview), classifier, np.concatenate([train_vectors, held_vectors]),
        report)


def gather_targets(style_data, style_ids):
    """Per-pair Gram and statistics targets of styles `style_ids`."""
    ids = tf.constant(style_ids, tf.int32)
    grams = [tf.gather(gram, ids) for gram in style_data.grams]
    statistics = [(tf.gather(mean, ids), tf.gather(std, ids))
                  for mean, std in style_data.statistics]
    return grams, statistics


# --------------------------------------------------------------------------- methods


@dataclasses.dataclass
class Method:
    run: object       # (contents [B, S, S, 3], style_ids [B]) -> outputs
    warm_up: object   # the same, untimed: traces run's functions for the batch shape


def make_method(name, settings, network, style_data, model):
    """The Method of one name: identity, gatys or ours (the model's bank codes)."""
    if name == "identity":
        def run_identity(contents, style_ids):
            return baselines.identity(contents)

        return Method(run_identity, run_identity)
    if name == "gatys":
        gatys = baselines.make_gatys(network.model, gatys_settings(settings))

        def run_gatys(contents, style_ids, steps=None):
            return gatys(contents, gather_targets(style_data, style_ids)[0], steps)[0]

        # One step traces the optimisation step as well as the full run would.
        return Method(run_gatys, lambda contents, style_ids: run_gatys(
            contents, style_ids, steps=1))
    bank_ids = bank_indices(style_data.names, model.names, settings["style_dir"])

    def run_ours(contents, style_ids):
        return model.paint_codes(contents,
                                 model.source.codes[bank_ids[np.asarray(style_ids)]])

    return Method(run_ours, run_ours)


def gatys_settings(settings):
    """The gatys objective and optimiser: the run's layers and loss weights."""
    return baselines.GatysSettings(
        tuple(settings["vgg"]["content_layers"]), tuple(settings["vgg"]["style_layers"]),
        steps=settings["gatys"]["steps"], learning_rate=settings["gatys"]["learning_rate"],
        **settings["loss_weights"])


def codes_method(model, codes):
    """The Method painting style j with codes[j] (the arbitrary-style methods)."""
    def run_codes(contents, style_ids):
        return model.paint_codes(contents, codes[np.asarray(style_ids)])

    return Method(run_codes, run_codes)


def bank_indices(style_names, bank_names, style_dir):
    """Index in the model's style bank of each evaluated style, matched by name."""
    missing = [name for name in style_names if name not in bank_names]
    if missing:
        raise ValueError(f"Styles {missing} in {style_dir} are not in the model's style "
                         f"bank {bank_names}; expected a style folder whose styles the "
                         f"model was trained on (by name).")
    return np.array([bank_names.index(name) for name in style_names])


# --------------------------------------------------------------------------- evaluation


def evaluate(options):
    """Runs the whole evaluation; returns (results dict, csv rows)."""
    settings = resolve_settings(options)
    # First: a damaged model fails in a second, not after the features are computed.
    uses_model = set(settings["methods"]) & {"ours", *arbitrary.METHODS}
    model = (painting.load(settings["model"], precision=options.precision)
             if uses_model else None)
    network = FeatureNetwork(settings["vgg"])
    settings = describe_features(settings, network.description)
    content_files = images.keep_readable_images(
        images.list_images(settings["content_dir"]), settings["content_dir"])
    if settings["max_contents"]:
        content_files = content_files[:settings["max_contents"]]
    size = settings["image_size"]
    contents = images.center_squares(content_files, size, size)
    content_names = [os.path.relpath(path, settings["content_dir"])
                     for path in content_files]
    style_data = prepare_styles(settings, network)
    results = {"settings": settings, "classifier": style_data.classifier_report,
               "styles": style_data.names, "contents": content_names, "methods": {}}
    rows = []
    encoder_codes = encoder_methods(settings, style_data, model, results, network,
                                    contents)
    for name in settings["methods"]:
        method = (codes_method(model, encoder_codes[name]) if name in encoder_codes
                  else make_method(name, settings, network, style_data, model))
        method_results, pair_rows = evaluate_method(
            name, method, contents, content_names, style_data, network, settings)
        if name == "ours":
            method_results["fusion"] = fusion_path(model, contents, style_data, network,
                                                   settings)
            method_results.update(even_step_paths(model, contents, content_names,
                                                  style_data, network, settings))
        results["methods"][name] = method_results
        rows.extend(pair_rows)
    results["gram_gap_closed"] = arbitrary.gram_gap_closed(
        {name: method["summary"] for name, method in results["methods"].items()})
    return results, rows


def encoder_methods(settings, style_data, model, results, network, contents):
    """The codes of the arbitrary-style methods (evaluation/arbitrary.py), and the
    keep gate of every style image's encoder code into results["keep_gates"]."""
    if not set(settings["methods"]) & set(arbitrary.METHODS):
        return {}
    codes, per_image = arbitrary.style_codes(model, settings["style_dir"],
                                             style_data.names,
                                             settings["max_style_images"])
    results["keep_gates"] = arbitrary.keep_gates(model, per_image)
    if "optimised_code" in settings["methods"]:
        codes["optimised_code"] = arbitrary.optimised_codes(
            model, network.model, gatys_settings(settings), contents, style_data.grams,
            codes["encoder"], settings["code_steps"])
    return codes


def evaluate_method(name, method, contents, content_names, style_data, network,
                    settings):
    """Stylizes every pair with `method`; returns ({summary, per_style, grid}, rows)."""
    num_styles = len(style_data.names)
    pairs = [(i, j) for i in range(len(contents)) for j in range(num_styles)]
    batch_size = settings["batch_size"]
    # One warm-up batch, untimed: tracing is not part of the speed.
    method.warm_up(contents[[0] * batch_size], [0] * batch_size)
    per_pair = {key: [] for key in PAIR_METRICS}
    predictions, output_vectors = [], []
    grid = np.zeros((min(GRID_CONTENTS, len(contents)), num_styles) + contents.shape[1:],
                    np.float32)
    seconds = 0.0
    progress = keras.utils.Progbar(len(pairs), unit_name="pair")
    print(f"Method {name}: {len(pairs)} pairs.")
    for start in range(0, len(pairs), batch_size):
        batch = pairs[start:start + batch_size]
        # Padded to a full batch so every call has the traced shape.
        padded = batch + [batch[-1]] * (batch_size - len(batch))
        content_ids, style_ids = (list(ids) for ids in zip(*padded))
        started = time.perf_counter()
        outputs = np.asarray(method.run(contents[content_ids], style_ids))
        seconds += time.perf_counter() - started
        outputs, content_ids, style_ids = (outputs[:len(batch)], content_ids[:len(batch)],
                                           style_ids[:len(batch)])
        values, posteriors, vectors = pair_metrics(outputs, contents[content_ids],
                                                   style_ids, style_data, network,
                                                   settings)
        for key in PAIR_METRICS:
            per_pair[key].extend(values[key])
        predictions.extend(np.argmax(posteriors, axis=1))
        output_vectors.append(vectors)
        for (i, j), output in zip(batch, outputs):
            if i < len(grid):
                grid[i, j] = output
        progress.add(len(batch))
    per_pair = {key: np.asarray(value) for key, value in per_pair.items()}
    targets = np.array([j for _, j in pairs])
    deceived = np.asarray(predictions) == targets
    summary = {key: float(per_pair[key].mean()) for key in PAIR_METRICS}
    summary["deception_rate"] = float(deceived.mean())
    summary["fd"] = metrics.frechet_distance(np.concatenate(output_vectors),
                                             style_data.reference_vectors)
    summary.update(metrics.speed(seconds, len(pairs)))
    summary["num_pairs"] = len(pairs)
    per_style = {style: {**{key: float(per_pair[key][targets == j].mean())
                            for key in PAIR_METRICS},
                         "deception_rate": float(deceived[targets == j].mean())}
                 for j, style in enumerate(style_data.names)}
    rows = [{"method": name, "content": content_names[i], "style": style_data.names[j],
             **{key: float(per_pair[key][k]) for key in PAIR_METRICS},
             "predicted_style": style_data.names[predictions[k]],
             "deceived": bool(deceived[k])} for k, (i, j) in enumerate(pairs)]
    method_results = {"summary": summary, "per_style": per_style,
                      "grid": painting.sample_grid(contents[:len(grid)],
                                                    style_data.preview, grid)}
    return method_results, rows


def pair_metrics(outputs, contents, style_ids, style_data, network, settings):
    """Per-pair metrics of one batch, the classifier posteriors [B, K] (mean over the
    output's tiles) and the statistics vectors of every tile (for the FD).

    `objective` is the perceptual training loss with the run's weights,
        w_content d_content + w_style d_gram + w_tv TV(y),
    the quantity the gatys baseline minimises per pair.
    """
    output_features = network(outputs)
    content_features = network(contents)
    grams, statistics = gather_targets(style_data, style_ids)
    style_features = network.style_features(output_features)
    tile_images, tiles_per_image = style_reference.tiles(outputs, settings["crop_size"])
    vectors = network.statistics_vectors(tile_images)
    posteriors = style_data.classifier.probabilities(vectors).reshape(
        len(outputs), tiles_per_image, -1).mean(axis=1)
    values = {
        "content_distance": metrics.content_distance(
            network.content_features(output_features),
            network.content_features(content_features)),
        "ssim_y": metrics.ssim_luminance(outputs, contents),
        "gram_distance": metrics.gram_distance(perceptual.gram_matrices(style_features),
                                               grams),
        "mean_std_distance": metrics.mean_std_distance(
            perceptual.channel_statistics(style_features), statistics),
        "total_variation": np.asarray(perceptual.total_variation(outputs), np.float64),
        "target_posterior": posteriors[np.arange(len(outputs)), style_ids],
        # mean |output - photo|: near 0 when the photo is passed through unpainted.
        "mean_abs_change": np.abs(np.asarray(outputs, np.float64)
                                  - np.asarray(contents, np.float64)).mean(axis=(1, 2, 3)),
    }
    weights = settings["loss_weights"]
    values["objective"] = (weights["content_weight"] * values["content_distance"]
                           + weights["style_weight"] * values["gram_distance"]
                           + weights["tv_weight"] * values["total_variation"])
    return values, posteriors, vectors


def fusion_summary(curves):
    """Spearman(w, .) of p_b and t, and the path smoothness of t and of the two-way
    posterior, each averaged over the contents."""
    mean = style_reference.mean_ignoring_nan
    summary = {f"spearman_{key}": mean(metrics.spearman(FUSION_WEIGHTS, curve)
                                       for curve in curves[key])
               for key in ("posterior_b", "relative_position")}
    for key in ("relative_position", "two_way_posterior_b"):
        smoothness = [metrics.path_smoothness(curve) for curve in curves[key]]
        summary.update({f"{key}_{name}": mean(s[name] for s in smoothness)
                        for name in smoothness[0]})
    return summary


def fusion_path(model, contents, style_data, network, settings):
    """Two-style weighted fusion c(w) = (1 - w) c_a + w c_b for w = 0, 0.1, ..., 1.

    For each of the first fusion_contents contents, along the path: the classifier
    posterior p(b | y(w)) (all styles competing) and the two-way share
    p_b / (p_a + p_b); the Gram distances d_a(w), d_b(w) to both styles and the
    relative position t(w) = d_a / (d_a + d_b) (0 at style a, 1 at style b). Reported:
    Spearman(w, .) of p_b and t (monotone path: +1) and metrics.path_smoothness of t
    and of the two-way posterior, averaged over contents, plus the mean curves.
    """
    pair = list(settings["fusion_pair"]) or style_data.names[:2]
    if len(pair) != 2 or any(name not in style_data.names for name in pair):
        raise ValueError(f"--fusion_pair={','.join(pair)} must name two of the evaluated "
                         f"styles {style_data.names}.")
    style_a, style_b = (style_data.names.index(name) for name in pair)
    bank_pair = bank_indices(pair, model.names, settings["style_dir"])
    weights = np.stack([1.0 - FUSION_WEIGHTS, FUSION_WEIGHTS], axis=1)
    fused = style_lib.mix(model.source.codes[bank_pair], weights)
    curves = {key: [] for key in ("posterior_b", "two_way_posterior_b",
                                  "gram_distance_a", "gram_distance_b",
                                  "relative_position")}
    strips = []
    for content in contents[:settings["fusion_contents"]]:
        repeated = np.repeat(content[None], len(FUSION_WEIGHTS), axis=0)
        outputs = np.asarray(model.paint_codes(repeated, fused))
        strips.append(outputs)
        output_grams = perceptual.gram_matrices(network.style_features(network(outputs)))
        distance_a, distance_b = (
            metrics.gram_distance(output_grams, [gram[k:k + 1] for gram in
                                                 style_data.grams])
            for k in (style_a, style_b))
        posteriors = style_reference.tile_posteriors(style_data.classifier, network,
                                                     outputs, settings["crop_size"])
        curves["posterior_b"].append(posteriors[:, style_b])
        curves["two_way_posterior_b"].append(
            posteriors[:, style_b] / (posteriors[:, style_a] + posteriors[:, style_b]))
        curves["gram_distance_a"].append(distance_a)
        curves["gram_distance_b"].append(distance_b)
        curves["relative_position"].append(distance_a / (distance_a + distance_b))
    return {"pair": pair, "weights": FUSION_WEIGHTS.tolist(),
            "summary": fusion_summary(curves),
            "mean_curves": {key: np.mean(values, axis=0).tolist()
                            for key, values in curves.items()},
            "strip": painting.tile_grid(np.stack(strips))}


def position_summary(values, curves):
    """Spearman(v, t) and the path smoothness of t, averaged over the contents, and
    the step ratio of the contents' mean curve (the slider's average response, which
    is what a calibration can even out)."""
    mean = style_reference.mean_ignoring_nan
    smoothness = [metrics.path_smoothness(curve) for curve in curves]
    return {"spearman": mean(metrics.spearman(values, curve) for curve in curves),
            **{name: mean(s[name] for s in smoothness) for name in smoothness[0]},
            "mean_curve_step_ratio": metrics.path_smoothness(
                np.mean(curves, axis=0))["step_ratio"]}


def measured_path(model, contents, start_codes, end_code, start_grams, end_grams,
                  network, values):
    """Relative Gram positions t = d_start / (d_start + d_end) [contents, V] of the
    paintings along c(v) = (1 - v) c_start + v c_end, per content (its own start
    code and start target: a style's, or for the strength path the photo's own),
    measured as the model's calibration measures them."""
    def grams(images):
        return perceptual.gram_matrices(network.style_features(network(
            np.asarray(images))))

    return [calibration.path_positions(model, grams, content, start_code, end_code,
                                       (start_gram, end_grams), np.asarray(values))
            for content, start_code, start_gram in zip(contents, start_codes,
                                                       start_grams)]


def even_step_paths(model, contents, content_names, style_data, network, settings):
    """The weighted path a -> b and the strength path photo -> a, at evenly spaced
    slider positions, measured with the style targets: "fusion_steps" and
    "strength_steps", each {"before": ..., "after": ...} (after: through the model's
    calibration, with --even_steps)."""
    pair = list(settings["fusion_pair"]) or style_data.names[:2]
    style_a, style_b = (style_data.names.index(name) for name in pair)
    code_a, code_b = model.source.codes[bank_indices(pair, model.names,
                                                     settings["style_dir"])]
    contents = contents[:settings["fusion_contents"]]
    grams_of = [[gram[k:k + 1] for gram in style_data.grams] for k in (style_a, style_b)]
    calibration = model.calibration(pair) if settings["even_steps"] else None
    sliders = FUSION_WEIGHTS
    settings_at = {"before": sliders}
    if calibration is not None:
        settings_at["after"] = np.array([calibration.even_share(u, *pair)
                                         for u in sliders])
    results = {"fusion_steps": {"pair": pair, "contents": list(
        content_names[:len(contents)])}}
    for name, values in settings_at.items():
        curves = measured_path(model, contents, [code_a] * len(contents), code_b,
                               [grams_of[0]] * len(contents), grams_of[1], network,
                               values)
        results["fusion_steps"][name] = {"values": values.tolist(),
                                         "summary": position_summary(sliders, curves)}
    if model.source.encoder is None:
        return results
    results["strength_steps"] = {"style": pair[0]}
    own_codes = [painting_plan.encode_image(content, model.source) for content in contents]
    own_grams = [perceptual.gram_matrices(network.style_features(network(content[None])))
                 for content in contents]
    if calibration is not None:
        settings_at["after"] = np.array([calibration.even_strength(u, pair[:1])
                                         for u in sliders])
    for name, values in settings_at.items():
        curves = measured_path(model, contents, own_codes, code_a, own_grams,
                               grams_of[0], network, values)
        results["strength_steps"][name] = {"values": values.tolist(),
                                           "summary": position_summary(sliders, curves)}
    if calibration is not None:
        results["calibration_photos"] = calibration.photos
    return results


# --------------------------------------------------------------------------- outputs


SUMMARY_COLUMNS = (("content_distance", "content dist", "{:.4g}"),
                   ("ssim_y", "SSIM-Y", "{:.3f}"),
                   ("gram_distance", "Gram dist", "{:.4g}"),
                   ("mean_std_distance", "mean/std dist", "{:.4g}"),
                   ("objective", "objective", "{:.4g}"),
                   ("fd", "FD", "{:.4g}"),
                   ("deception_rate", "deception", "{:.3f}"),
                   ("target_posterior", "p(target)", "{:.3f}"),
                   ("ms_per_image", "ms/image", "{:.1f}"),
                   ("images_per_second", "images/s", "{:.2f}"))


def markdown_table(results):
    """One row per method with the summary metrics (FD named by its features)."""
    header = ["method"] + [label for _, label, _ in SUMMARY_COLUMNS]
    header[header.index("FD")] = results["settings"]["fd_name"]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for name, method in results["methods"].items():
        cells = [name] + [fmt.format(method["summary"][key])
                          for key, _, fmt in SUMMARY_COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    for name, share in results.get("gram_gap_closed", {}).items():
        lines.append(f"{name}: {100 * share:.1f}% of the identity -> gatys Gram gap "
                     f"closed.")
    if results.get("keep_gates"):
        gates = {name: max(values) for name, values in results["keep_gates"].items()}
        lines.append("Keep gate at strength 1, largest per style: " + ", ".join(
            f"{name} {gate:.3f}" for name, gate in gates.items()) + ".")
    ceiling = results["classifier"]["held_back_accuracy"]
    lines.append(f"\nClassifier accuracy on held-back real style crops (the deception "
                 f"ceiling): {ceiling:.3f} (chance {results['classifier']['chance']:.3f}).")
    for name, method in results["methods"].items():
        if "fusion" in method:
            fusion = method["fusion"]["summary"]
            lines.append(
                f"Fusion {name} {' -> '.join(method['fusion']['pair'])}: Spearman "
                f"p(b) {fusion['spearman_posterior_b']:.3f}, relative position "
                f"{fusion['spearman_relative_position']:.3f}; relative position max "
                f"step {fusion['relative_position_max_step']:.3f}, step ratio "
                f"{fusion['relative_position_step_ratio']:.2f}.")
        for path in ("fusion_steps", "strength_steps"):
            for when in ("before", "after"):
                if when in method.get(path, {}):
                    summary = method[path][when]["summary"]
                    lines.append(f"{path} {when} calibration: step ratio "
                                 f"{summary['step_ratio']:.2f} (of the mean curve "
                                 f"{summary['mean_curve_step_ratio']:.2f}), Spearman "
                                 f"{summary['spearman']:.3f}.")
    return "\n".join(lines)


def write_results(output, results, rows):
    """metrics.json, metrics.csv and the PNG grids, each written atomically."""
    os.makedirs(output, exist_ok=True)
    serializable = json.loads(json.dumps(_without_images(results), default=_to_builtin))
    for name, method in results["methods"].items():
        atomic.write_image(os.path.join(output, f"grid_{name}.png"), method["grid"])
        if "fusion" in method:
            atomic.write_image(os.path.join(output, f"fusion_{name}.png"),
                             method["fusion"]["strip"])
    atomic.write_json(os.path.join(output, "metrics.json"), serializable)
    atomic.write_csv(os.path.join(output, "metrics.csv"), rows)


def _without_images(value):
    """A copy without the image arrays: they are written as PNG, not into JSON."""
    if isinstance(value, dict):
        return {key: _without_images(item) for key, item in value.items()
                if not isinstance(item, np.ndarray)}
    return value


def _to_builtin(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"Cannot serialise {type(value).__name__} to JSON.")
