r"""Speed benchmark: prints a table and writes JSON. Not a test: timings are noisy, so
every figure that matters is also given as a ratio to a reference measured in the
same process.

    python -m experiments.benchmark --output=benchmark.json          # full, ~20 min
    python -m experiments.benchmark --quick --output=/tmp/bench.json  # ~1 min
    python -m experiments.benchmark --distribution --quick --output=/tmp/dist.json
    python -m experiments.benchmark --video --output=/tmp/video_bench.json  # ~3 min

Sections:
  machine     measured 3x3 conv (64, 128, 256 channels; the best is the machine's conv
              limit) and matmul GFLOP/s.
  generator   our G (each size variant) forward and forward+backward: images/s and
              achieved GFLOP/s at 256 and 512, and the same for a plain instance-norm
              Johnson et al. (2016) net of equal widths built here (the reference a
              user would otherwise pick), as the ratio ours / reference.
  train_step  the full GAN step (G + D + R1 + VGG losses) images/s, achieved GFLOP/s,
              and its split: input wait, G, D, VGG.
  inference   ms per image at 256 ... 2048 as stylize.py paints (exact tiles above 512),
              and 1024, 2048 painted whole (the memory the tiles save),
              and the process's peak RSS after each.
  precision   float32 vs mixed_bfloat16 (and mixed_float16 where a GPU is): the train
              step, G forward+backward at the training size, and G forward at
              256, 512 and 1024 (what painting does), each as a ratio to float32
              in the same process, with the CPU's relevant flags (avx512f,
              avx512_bf16, amx_bf16, ...). (XLA was measured 1.1-1.7x slower on
              CPU: train.jit_compile.)

--sections=precision --sections=train_step runs only those sections.
  distribution  (only this section, with --distribution) the train step's images/s
              with no strategy and with MirroredStrategy over 1, 2 and 4 logical CPU
              devices at the same global batch, and each as a ratio to no strategy:
              the cost of the distribution machinery (on a CPU the replicas share
              the same cores, so more replicas cannot be faster).
  video       (only this section, with --video) frames/s of painting consecutive
              frames at 640x272 and 1280x720 with the small and base generators: per
              frame, with smoothed norm statistics, with flow-guided blending (DIS
              flow on every frame pair) and with both (video/consistency.py), each
              also as a ratio to per frame.

FLOPs are counted by the TF profiler (`float_operation`) on the traced graph of each
function (forward, or forward + gradients), so no hand count can drift from the
model.
"""
import os
import resource
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402
from keras import layers  # noqa: E402
from tensorflow.python.profiler import model_analyzer  # noqa: E402
from tensorflow.python.profiler import option_builder  # noqa: E402

from data import pipeline, samples  # noqa: E402
from experiments import quickstart  # noqa: E402
from losses import adversarial  # noqa: E402
from models import generator as generator_lib  # noqa: E402
from models import precision as precision_lib  # noqa: E402
import painting  # noqa: E402
from storage import atomic  # noqa: E402
from training import step as step_lib  # noqa: E402
from training import strategy as strategy_lib  # noqa: E402
from video import consistency as video_consistency  # noqa: E402

_OUTPUT = flags.DEFINE_string("output", "benchmark.json", "Where to write the JSON.")
_QUICK = flags.DEFINE_bool("quick", False, "Fewer sizes and variants (smoke run).")
_MIN_SECONDS = flags.DEFINE_float("min_seconds", 2.0, "Time each figure at least this long.")
_DISTRIBUTION = flags.DEFINE_bool("distribution", False,
                                  "Run only the distribution section.")
SECTIONS = ("machine", "inference", "generator", "train_step", "precision")
_SECTIONS = flags.DEFINE_multi_enum("sections", list(SECTIONS), SECTIONS,
                                    "Sections to run (repeat the flag); default all.")
_VIDEO = flags.DEFINE_bool("video", False, "Run only the video section.")
DISTRIBUTION_REPLICAS = (1, 2, 4)
VIDEO_SIZES = ((640, 272), (1280, 720))
PASSES = ("forward", "forward_backward")


def seconds_per_call(function, *args, min_seconds=None, min_calls=3):
    """Median seconds of one call, after one warm-up call (which traces)."""
    function(*args)
    min_seconds = _MIN_SECONDS.value if min_seconds is None else min_seconds
    times, started = [], time.perf_counter()
    while len(times) < min_calls or time.perf_counter() - started < min_seconds:
        begin = time.perf_counter()
        outputs = function(*args)
        tf.nest.map_structure(lambda t: t.numpy() if hasattr(t, "numpy") else t, outputs)
        times.append(time.perf_counter() - begin)
    return float(np.median(times))


def counted_flops(tf_function, *args):
    """FLOPs of one call of a tf.function, from the profiler on its traced graph."""
    graph = tf_function.get_concrete_function(*args).graph
    options = option_builder.ProfileOptionBuilder(
        option_builder.ProfileOptionBuilder.float_operation()).with_empty_output().build()
    return model_analyzer.profile(graph, options=options).total_float_ops


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def rates(seconds, flops):
    return {"seconds": seconds, "gflops": flops / 1e9, "gflop_per_s": flops / seconds / 1e9}


def measure(tf_function, *args):
    return rates(seconds_per_call(tf_function, *args), counted_flops(tf_function, *args))


# --------------------------------------------------------------------------- machine

def machine_peak():
    """Measured GFLOP/s of 3x3 convs at the channel widths our nets use, and a matmul.

    Wider convs run closer to the FMA limit, so the machine's conv limit is the best
    of the shapes ("conv3x3_best"), not one shape's figure.
    """
    results = {}
    for channels, size in ((64, 96), (128, 64), (256, 32)):
        x = tf.random.normal((8, size, size, channels))
        kernel = tf.Variable(tf.random.normal((3, 3, channels, channels)) * 0.05)
        forward = tf.function(lambda x, k=kernel: tf.nn.conv2d(x, k, 1, "SAME"))

        @tf.function
        def forward_backward(x, kernel=kernel):
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = tf.reduce_sum(tf.nn.conv2d(x, kernel, 1, "SAME"))
            return tape.gradient(y, [x, kernel])

        results[f"conv3x3_{channels}_forward"] = measure(forward, x)
        results[f"conv3x3_{channels}_forward_backward"] = measure(forward_backward, x)
    for name in PASSES:
        results[f"conv3x3_best_{name}"] = max(
            (v for k, v in results.items() if k.endswith(f"_{name}") and "best" not in k),
            key=lambda figures: figures["gflop_per_s"])
    a = tf.random.normal((2048, 2048))
    results["matmul_2048"] = measure(tf.function(lambda a: tf.matmul(a, a)), a)
    return results


# --------------------------------------------------------------------------- generators

class InstanceNorm(layers.Layer):
    """Plain affine instance norm: the reference net's normalisation."""

    def build(self, shape):
        self.gamma = self.add_weight(shape=(shape[-1],), initializer="ones")
        self.beta = self.add_weight(shape=(shape[-1],), initializer="zeros")

    def call(self, x):
        mean, variance = tf.nn.moments(x, axes=[1, 2], keepdims=True)
        return (x - mean) * tf.math.rsqrt(variance + 1e-5) * self.gamma + self.beta


def reference_net(variant_name):
    """Johnson et al. (2016) transformer net with G's widths and plain instance norm."""
    hp = generator_lib.variant(variant_name)
    width = hp["width"]

    def conv_norm(x, filters, kernel, stride=1, relu=True):
        x = generator_lib.ReflectionPad(kernel // 2)(x)
        x = InstanceNorm()(layers.Conv2D(filters, kernel, stride, use_bias=False)(x))
        return layers.ReLU()(x) if relu else x

    image = keras.Input((None, None, 3))
    x = conv_norm(image, width, 9)
    x = conv_norm(x, 2 * width, 3, 2)
    x = conv_norm(x, 4 * width, 3, 2)
    for _ in range(hp["residual_blocks"]):
        x = layers.Add()([x, conv_norm(conv_norm(x, 4 * width, 3), 4 * width, 3,
                                       relu=False)])
    for filters in (2 * width, width):
        x = conv_norm(layers.UpSampling2D(2)(x), filters, 3)
    x = layers.Conv2D(3, 9, padding="same", activation="sigmoid")(x)
    return keras.Model(image, x, name="reference")


def forward_and_backward(model, jit_compile=False):
    forward = tf.function(lambda *inputs: model(list(inputs) if len(inputs) > 1
                                                else inputs[0]), jit_compile=jit_compile)

    @tf.function(jit_compile=jit_compile)
    def backward(*inputs):
        with tf.GradientTape() as tape:
            output = model(list(inputs) if len(inputs) > 1 else inputs[0])
            loss = tf.reduce_mean(tf.cast(output, tf.float32))
        return tape.gradient(loss, model.trainable_variables)

    return forward, backward


def generator_inputs(batch, size, code_dim, ours):
    image = tf.random.uniform((batch, size, size, 3))
    return (image, tf.random.normal((batch, 1, 1, code_dim))) if ours else (image,)


def time_network(model, batch, size, code_dim, ours, jit_compile=False):
    forward, backward = forward_and_backward(model, jit_compile)
    inputs = generator_inputs(batch, size, code_dim, ours)
    result = {}
    for name, function in zip(PASSES, (forward, backward)):
        figures = measure(function, *inputs)
        figures["images_per_s"] = batch / figures["seconds"]
        result[name] = figures
    return result


def compare_with_reference(ours, reference, batch, size, code_dim, rounds=3):
    """Both nets' forward and forward+backward, timed in alternating rounds; times and
    the ours / reference ratio are medians over the rounds, because timing one net
    after the other measures the order (the machine drifts) as much as the nets."""
    nets = {"ours": (ours, True), "reference": (reference, False)}
    functions = {name: dict(zip(PASSES, forward_and_backward(net)))
                 for name, (net, _) in nets.items()}
    inputs = {name: generator_inputs(batch, size, code_dim, is_ours)
              for name, (_, is_ours) in nets.items()}
    seconds = {name: {p: [] for p in PASSES} for name in nets}
    for _ in range(rounds):
        for name in nets:
            for pass_name, function in functions[name].items():
                seconds[name][pass_name].append(
                    seconds_per_call(function, *inputs[name]))
    result = {"batch": batch, "ratio_images_per_s": {
        p: float(np.median(np.divide(seconds["reference"][p], seconds["ours"][p])))
        for p in PASSES}}
    for name in nets:
        result[name] = {}
        for pass_name, function in functions[name].items():
            median = float(np.median(seconds[name][pass_name]))
            figures = rates(median, counted_flops(function, *inputs[name]))
            figures["images_per_s"] = batch / median
            result[name][pass_name] = figures
    return result


def generators(variants, sizes, code_dim=64):
    results = {}
    for variant_name in variants:
        ours = generator_lib.build_generator(variant_name, code_dim)
        reference = reference_net(variant_name)
        for size in sizes:
            batch = max(1, (256 // size) ** 2 * 4)
            results[f"{variant_name}@{size}"] = compare_with_reference(
                ours, reference, batch, size, code_dim)
    return results


# --------------------------------------------------------------------------- train step

def train_step_figures(config, jit_compile=False, input_wait=True):
    """Full step on a fixed in-memory batch, its parts, and the real pipeline's wait
    (reading as training does: contents cached in memory below
    data.cache_contents_mb)."""
    batch_size, size = config.train.batch_size, config.data.image_size
    models = step_lib.build_models(config.model, config.optim, num_styles=4)
    features = step_lib.build_feature_extractor(config.vgg, config.model)
    replica_step = step_lib.make_replica_step(models, features, config.vgg, config.loss,
                                              batch_size)
    strategy = tf.distribute.get_strategy()
    step = step_lib.make_distributed_step(strategy, replica_step, jit_compile)
    batch = {"content": tf.random.uniform((batch_size, size, size, 3)),
             "style": tf.random.uniform((batch_size, size, size, 3)),
             "style_id": tf.zeros((batch_size,), tf.int32)}
    in_memory = iter(tf.data.Dataset.from_tensors(batch).repeat())
    figures = {"batch": batch_size, "image_size": size}
    figures["step"] = measure(step, in_memory, True)
    figures["step"]["images_per_s"] = batch_size / figures["step"]["seconds"]
    if jit_compile or not input_wait:
        return figures
    content_dir, style_dir = samples.write_demo_data("/tmp/stylefusion_benchmark_data")
    dataset, _ = pipeline.make_dataset(
        content_dir, style_dir, size, batch_size, seed=0,
        content_cache_mb=config.data.cache_contents_mb)
    figures["input_wait_fraction"] = input_wait_fraction(step, in_memory, iter(dataset))
    figures["parts_seconds"] = step_parts(models, features, batch)
    return figures


def input_wait_fraction(step, in_memory, real, rounds=5):
    """Share of the step spent waiting for the real pipeline: step time on the real
    iterator minus step time on an in-memory batch, over the former. Timed in
    alternating rounds and the median taken: one pair of timings is too noisy on a
    shared machine."""
    fractions = []
    for _ in range(rounds):
        fed = seconds_per_call(step, in_memory, True, min_seconds=1.0)
        piped = seconds_per_call(step, real, True, min_seconds=1.0)
        fractions.append(max(0.0, piped - fed) / piped)
    return float(np.median(fractions))


def step_parts(models, features, batch):
    """Seconds of each part of the step, timed as separate functions."""
    content, style, ids = batch["content"], batch["style"], batch["style_id"]
    code_map = generator_lib.as_code_map(models.bank(ids))
    codes = models.bank(ids)

    @tf.function
    def g_part():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(models.generator([content, code_map], training=True))
        return tape.gradient(loss, models.generator.trainable_variables)

    @tf.function
    def d_part():
        with tf.GradientTape() as tape:
            fake = models.discriminator([content, codes], training=True)
            real, r1 = adversarial.real_logits_and_r1(models.discriminator, style, codes)
            loss = tf.reduce_mean(fake) + tf.reduce_mean(real) + tf.reduce_mean(r1)
        return tape.gradient(loss, models.discriminator.trainable_variables)

    @tf.function
    def vgg_part():
        with tf.GradientTape() as tape:
            tape.watch(content)
            targets = features(tf.concat([content, style], 0))
            outputs = features(content)
            loss = tf.add_n([tf.reduce_mean(v) for v in outputs.values()])
        return tape.gradient(loss, content), targets

    return {name: seconds_per_call(function) for name, function in
            (("G", g_part), ("D", d_part), ("VGG", vgg_part))}


# --------------------------------------------------------------------------- inference

def inference(sizes, untiled_sizes=(), variant_name="small", code_dim=64,
              tile_size=512, tile_overlap=128):
    """ms per image as stylize.py paints it: whole up to `tile_size`, in exact tiles
    (painting/tiling.py) above it; then `untiled_sizes` painted whole, for the trade
    (time vs memory) the tile size sets. Run before the other sections and in this
    order, so each peak RSS is this section's so far; reported with the RSS at its
    start (the extra memory is the difference)."""
    generator = generator_lib.build_generator(variant_name, code_dim)
    codes = np.random.RandomState(0).normal(size=(1, code_dim)).astype(np.float32)
    source = painting.StyleSource(["random"], codes)
    tiled_painter = painting.Painter(generator, source, tile_size=tile_size,
                                     tile_overlap=tile_overlap)
    # Tiles larger than every image: painted whole.
    largest = -(-max(list(sizes) + list(untiled_sizes)) // 4) * 4
    whole_painter = painting.Painter(generator, source,
                                     tile_size=max(largest, tile_size),
                                     tile_overlap=tile_overlap)
    field = painting.CodeField(codes, np.ones(1, np.float32))
    results = {"rss_mb_at_start": peak_rss_mb(), "tile_size": tile_size}
    runs = [(size, size > tile_size) for size in sizes]
    runs += [(size, False) for size in untiled_sizes]
    for size, tiled in runs:
        image = np.random.RandomState(size).uniform(size=(size, size, 3)).astype(np.float32)
        painter = tiled_painter if tiled else whole_painter
        seconds = seconds_per_call(painter.paint_fields, image, field, None,
                                   min_calls=1 if size > tile_size else 2,
                                   min_seconds=min(_MIN_SECONDS.value, 1.0))
        key = str(size) if tiled or size <= tile_size else f"{size}_untiled"
        results[key] = {"ms_per_image": 1000 * seconds, "tiled": tiled,
                        "peak_rss_mb_so_far": peak_rss_mb()}
    return results


# --------------------------------------------------------------------------- precision

def precision_modes():
    """float32 and mixed_bfloat16 everywhere; mixed_float16 where a GPU is."""
    return (("float32", "mixed_bfloat16")
            + (("mixed_float16",) if precision_lib.has_gpu() else ()))


def inference_forward(generator, size, code_dim):
    """Seconds of one G forward of one image at size x size."""
    forward, _ = forward_and_backward(generator)
    return seconds_per_call(forward, *generator_inputs(1, size, code_dim, True),
                            min_calls=3, min_seconds=min(_MIN_SECONDS.value, 1.0))


def precision(variant_name, config, inference_sizes, rounds=3, code_dim=64):
    """Per precision mode: the train step (images/s), G forward+backward at the
    training size and G forward at each inference size (ms per image); and each as
    a ratio to float32, measured in this process. The G timings alternate between
    the modes over `rounds` rounds and take the medians (the machine drifts)."""
    modes, size = precision_modes(), config.data.image_size
    generators = {}
    for mode in modes:
        with precision_lib.policy(mode):
            generators[mode] = generator_lib.build_generator(variant_name, code_dim)
    seconds = {mode: {key: [] for key in ["g_forward_backward"] + [
        f"forward_{s}" for s in inference_sizes]} for mode in modes}
    for _ in range(rounds):
        for mode, generator in generators.items():
            backward = forward_and_backward(generator)[1]
            seconds[mode]["g_forward_backward"].append(seconds_per_call(
                backward, *generator_inputs(4, size, code_dim, True), min_seconds=1.0))
            for inference_size in inference_sizes:
                seconds[mode][f"forward_{inference_size}"].append(
                    inference_forward(generator, inference_size, code_dim))
    results = {mode: {key: float(np.median(values)) for key, values in timed.items()}
               for mode, timed in seconds.items()}
    for mode in modes:
        with precision_lib.policy(mode):
            step = train_step_figures(config, input_wait=False)["step"]
        results[mode]["train_step_images_per_s"] = step["images_per_s"]
    for mode in modes:
        results[mode]["ratio_to_float32"] = {
            key: (results["float32"][key] / value if key != "train_step_images_per_s"
                  else value / results["float32"][key])
            for key, value in results[mode].items() if key != "ratio_to_float32"}
    return {"variant": variant_name, "train_size": size,
            "train_batch": config.train.batch_size, "modes": results}


def cpu_report():
    model, flags = precision_lib.cpu_description()
    return {"model": model, "flags": list(flags) if flags is not None else None,
            "relevant_flags": list(precision_lib.CPU_FLAGS)}


def precision_markdown(report):
    section, cpu = report["precision"], report["cpu"]
    flags = ", ".join(cpu["flags"]) if cpu["flags"] is not None else "unknown"
    sizes = sorted(int(key.split("_")[1]) for key in section["modes"]["float32"]
                   if key.startswith("forward_"))
    lines = [f"CPU {cpu['model']}; of {', '.join(cpu['relevant_flags'])}: {flags}.", "",
             f"| precision | train step img/s ({section['train_size']} px, batch "
             f"{section['train_batch']}) | G fwd+bwd ms | "
             + " | ".join(f"G forward {s} ms" for s in sizes) + " |",
             "| --- | --- | --- | " + " --- |" * len(sizes)]
    for mode, entry in section["modes"].items():
        ratio = entry["ratio_to_float32"]
        cells = [f"{entry['train_step_images_per_s']:.2f} "
                 f"({ratio['train_step_images_per_s']:.2f}x)",
                 f"{1000 * entry['g_forward_backward']:.0f} "
                 f"({ratio['g_forward_backward']:.2f}x)"]
        cells += [f"{1000 * entry[f'forward_{s}']:.0f} ({ratio[f'forward_{s}']:.2f}x)"
                  for s in sizes]
        lines.append(f"| {mode} | " + " | ".join(cells) + " |")
    lines.append("(x: speed relative to float32 in the same process; > 1 is faster.)")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- distribution

def distribution(config):
    """Train-step images/s: no strategy, then MirroredStrategy over 1, 2, 4 CPUs."""
    batch_size, size = config.train.batch_size, config.data.image_size
    batch = {"content": tf.random.uniform((batch_size, size, size, 3), seed=1),
             "style": tf.random.uniform((batch_size, size, size, 3), seed=2),
             "style_id": tf.zeros((batch_size,), tf.int32)}
    results = {"batch": batch_size, "image_size": size}
    cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
    for replicas in (None,) + DISTRIBUTION_REPLICAS:
        if replicas is None:
            name, strategy = "plain", tf.distribute.get_strategy()
        else:
            # Strategies over different device sets in one process need their own
            # collective group keys (a test-only attribute of MirroredStrategy).
            tf.distribute.MirroredStrategy._collective_key_base = 100 * replicas
            name = f"mirrored_{replicas}"
            strategy = tf.distribute.MirroredStrategy(cpus[:replicas])
        with strategy.scope():
            models = step_lib.build_models(config.model, config.optim, num_styles=4)
            features = step_lib.build_feature_extractor(config.vgg, config.model)
        step = step_lib.make_distributed_step(strategy, step_lib.make_replica_step(
            models, features, config.vgg, config.loss, batch_size))
        iterator = iter(strategy.experimental_distribute_dataset(
            tf.data.Dataset.from_tensors(batch).repeat()))
        seconds = seconds_per_call(step, iterator, True)
        results[name] = {"seconds": seconds, "images_per_s": batch_size / seconds}
    for name in [k for k in results if k.startswith("mirrored")]:
        results[name]["ratio_to_plain"] = (results[name]["images_per_s"]
                                           / results["plain"]["images_per_s"])
    return results


def print_distribution(results):
    print(f"train step, global batch {results['batch']}, "
          f"{results['image_size']}x{results['image_size']}:")
    for name, entry in results.items():
        if isinstance(entry, dict):
            print(f"  {name:12} {entry['images_per_s']:7.2f} img/s"
                  + (f"  ratio to plain {entry['ratio_to_plain']:.2f}"
                     if "ratio_to_plain" in entry else ""))


# --------------------------------------------------------------------------- video

def moving_frames(width, height, count):
    """`count` frames of a smooth random scene panning 2 pixels right per frame."""
    scene = np.random.RandomState(0).uniform(size=(height // 8 + 2, width // 8 + 2 + count,
                                                   3)).astype(np.float32)
    scene = tf.image.resize(scene, (height + 16, width + 16 + 8 * count)).numpy()
    return [np.clip(scene[:height, 2 * t:2 * t + width], 0, 1) for t in range(count)]


def video_speed(variant_names, sizes=VIDEO_SIZES, frames=8, code_dim=64):
    """{variant@WxH: {method: frames/s, ratio_to_per_frame}} of consecutive frames."""
    options = {"per_frame": video_consistency.ConsistencyOptions(),
               "statistics": video_consistency.ConsistencyOptions(statistics_decay=0.9),
               "flow": video_consistency.ConsistencyOptions(flow_blend=0.5),
               "statistics+flow": video_consistency.ConsistencyOptions(
                   statistics_decay=0.9, flow_blend=0.5)}
    results = {}
    for variant_name in variant_names:
        generator = generator_lib.build_generator(variant_name, code_dim)
        codes = np.random.RandomState(0).normal(size=(1, code_dim)).astype(np.float32)
        painter = painting.Painter(generator, painting.StyleSource(["random"], codes),
                                   tile_size=1 << 14)
        plan = painter.plan(styles=["random"])
        for width, height in sizes:
            clip = moving_frames(width, height, frames + 1)
            entry = {}
            for name, option in options.items():
                consistent = video_consistency.ConsistentPainter(painter, option)
                consistent.paint(clip[0], plan)  # traces, and starts the state
                started = time.perf_counter()
                for frame in clip[1:]:
                    consistent.paint(frame, plan)
                entry[name] = {"frames_per_s": frames / (time.perf_counter() - started)}
            for value in entry.values():
                value["ratio_to_per_frame"] = (value["frames_per_s"]
                                               / entry["per_frame"]["frames_per_s"])
            results[f"{variant_name}@{width}x{height}"] = entry
            print(f"{variant_name} {width}x{height}: " + ", ".join(
                f"{name} {value['frames_per_s']:.2f} fps" for name, value in entry.items()))
    return results


def video_markdown(results):
    methods = list(next(iter(results.values())))
    lines = ["| generator @ size | " + " | ".join(f"{m} fps" for m in methods) + " |",
             "| --- " * (len(methods) + 1) + "|"]
    for key, entry in results.items():
        lines.append(f"| {key} | " + " | ".join(
            f"{entry[m]['frames_per_s']:.2f} ({entry[m]['ratio_to_per_frame']:.2f}x)"
            for m in methods) + " |")
    return "\n".join(lines) + "\n"


def summary_markdown(report):
    """The report as markdown tables (printed, written beside the JSON, and pasted
    into the README's Performance section)."""
    machine = report["machine"]
    peak = machine["conv3x3_best_forward_backward"]["gflop_per_s"]
    lines = [f"Machine: best 3x3 conv {machine['conv3x3_best_forward']['gflop_per_s']:.0f}"
             f" GFLOP/s forward, {peak:.0f} forward+backward; matmul 2048 "
             f"{machine['matmul_2048']['gflop_per_s']:.0f} GFLOP/s "
             f"(TensorFlow {report['tensorflow']}, {report['cpu_count']} cores).", "",
             "| generator @ size | pass | ours img/s | ours GFLOP/s | reference img/s "
             "| ours / reference |", "| --- | --- | --- | --- | --- | --- |"]
    for key, entry in report["generator"].items():
        for name in PASSES:
            lines.append(f"| {key} | {name} | {entry['ours'][name]['images_per_s']:.2f} "
                         f"| {entry['ours'][name]['gflop_per_s']:.0f} "
                         f"| {entry['reference'][name]['images_per_s']:.2f} "
                         f"| {entry['ratio_images_per_s'][name]:.2f} |")
    step = report["train_step"]
    parts = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in
                      step["parts_seconds"].items())
    lines += ["", f"Train step ({step['image_size']}x{step['image_size']}, batch "
              f"{step['batch']}): {step['step']['images_per_s']:.2f} img/s, "
              f"{step['step']['seconds']:.2f} s, {step['step']['gflop_per_s']:.0f} "
              f"GFLOP/s = {100 * step['step']['gflop_per_s'] / peak:.0f}% of the conv "
              f"forward+backward peak; input wait "
              f"{100 * step['input_wait_fraction']:.1f}% of the step; parts timed "
              f"alone: {parts}.", "",
              "| inference | ms/image | peak RSS so far (MB) |", "| --- | --- | --- |"]
    inference_report = report["inference"]
    measured = sorted((key for key, entry in inference_report.items()
                       if isinstance(entry, dict)),
                      key=lambda key: (int(key.split("_")[0]), key))
    for size in measured:
        entry, side = inference_report[size], size.split("_")[0]
        lines.append(f"| {side}x{side} {'tiled' if entry['tiled'] else 'whole'} "
                     f"| {entry['ms_per_image']:.0f} | {entry['peak_rss_mb_so_far']:.0f} |")
    lines += [f"(RSS at the start of this section: "
              f"{inference_report['rss_mb_at_start']:.0f} MB.)", ""]
    return "\n".join(lines) + "\n"


def report_markdown(report):
    """The markdown of the sections the report has."""
    parts = []
    if all(key in report for key in SECTIONS[:4]):
        parts.append(summary_markdown(report))
    elif "train_step" in report:
        step = report["train_step"]
        parts.append(f"Train step ({step['image_size']}x{step['image_size']}, batch "
                     f"{step['batch']}): {step['step']['images_per_s']:.2f} img/s; "
                     f"input wait {100 * step['input_wait_fraction']:.1f}% of the "
                     f"step.\n")
    if "precision" in report:
        parts.append(precision_markdown(report))
    return "\n".join(parts)


def main(argv):
    del argv
    quick = _QUICK.value
    config = quickstart.get_config()
    config.data.image_size = 128 if quick else 256
    report = {"tensorflow": tf.__version__, "keras": keras.__version__,
              "cpu_count": os.cpu_count(), "quick": quick}
    if _DISTRIBUTION.value:
        # Before any other op: the logical devices are fixed at TF's start.
        strategy_lib.split_cpu(max(DISTRIBUTION_REPLICAS))
        config.data.image_size = 64 if quick else 128
        config.train.batch_size = 8
        report["distribution"] = distribution(config)
        print_distribution(report["distribution"])
        atomic.write_json(_OUTPUT.value, report)
        print(f"wrote {_OUTPUT.value}")
        return
    if _VIDEO.value:
        report["video"] = video_speed(["small"] if quick else ["small", "base"],
                                      frames=4 if quick else 8)
        report["load_average"] = os.getloadavg()
        print(video_markdown(report["video"]))
        atomic.write_json(_OUTPUT.value, report)
        print(f"wrote {_OUTPUT.value}")
        return
    sections = _SECTIONS.value
    report["cpu"] = cpu_report()
    if "machine" in sections:
        report["machine"] = machine_peak()
    if "inference" in sections:
        report["inference"] = (
            inference([256, 512]) if quick else
            inference([256, 512, 1024, 2048], untiled_sizes=(1024, 2048)))
    if "generator" in sections:
        report["generator"] = generators(["small"] if quick else ["small", "base"],
                                         [128] if quick else [256, 512])
    if "train_step" in sections:
        report["train_step"] = train_step_figures(config)
    if "precision" in sections:
        report["precision"] = precision("small", config,
                                        [256] if quick else [256, 512, 1024])
    markdown = report_markdown(report)
    print(markdown)
    atomic.write_json(_OUTPUT.value, report)
    markdown_path = os.path.splitext(_OUTPUT.value)[0] + ".md"
    atomic.write_atomically(markdown_path, markdown.encode())
    print(f"wrote {_OUTPUT.value} and {markdown_path}")


if __name__ == "__main__":
    app.run(main)
