"""Arbitrary style: the model painting styles it never saw, through its encoder.

    python evaluate.py --model=runs/paintings --style_dir=ANY_FOLDER \
        --content_dir=HELD_OUT_PHOTOS --method=encoder,nearest_code,mean_code,identity,gatys

The styles of --style_dir need no bank names. Methods:
  encoder       each style's code is the encoder's code of its images (the mean over
                its first max_style_images images, each seen at the training scale);
  nearest_code  the bank code nearest (L2) to that encoder code: what the model would
                do if the encoder only picked a trained style;
  mean_code     the mean of the bank codes, the same for every style;
  optimised_code  the encoder's code of each style, optimised (code_steps Adam
                steps) against the gatys objective of every evaluated photo painted
                with it: the best one code can do with this generator, so the gap
                between it and `encoder` is the encoder's reading, and the gap
                between it and gatys is the generator's. It sees the evaluated
                photos, as gatys does: an oracle bound, not a method to compare.
With identity and gatys also evaluated, gram_gap_closed() gives each method's share of
the Gram-distance gap from identity (the photo itself, 0) to Gatys (1). keep_gates()
gives the keep gate of every style image's code (it must stay near 0 at strength 1).
"""
import keras
import numpy as np
import tensorflow as tf

from data import images
from evaluation import baselines
from models import generator as generator_lib
from models import style as style_lib
from painting import painter

METHODS = ("encoder", "nearest_code", "mean_code", "optimised_code")
# Adam on codes of norm ~5: the first steps move a code by ~1% of its norm each.
CODE_LEARNING_RATE = 0.05


def image_codes(model, files):
    """The encoder's codes [N, D] of image files, each resized on its short side to
    the scale the encoder was trained at (as stylize.py does)."""
    return image_codes_of_arrays(model, [images.decode_image(path) for path in files])


def style_codes(model, style_dir, style_names, max_style_images):
    """{"encoder", "nearest_code", "mean_code"} -> codes [num_styles, D] of the
    evaluated styles, and the per-image codes {style: [N, D]}."""
    if model.source.encoder is None:
        raise ValueError(f"The model at {model.source.model_path!r} has no style "
                         f"encoder; the encoder methods need one (train with "
                         f"--config.model.encoder=True).")
    names, files_per_style = images.list_styles(style_dir)
    files = dict(zip(names, files_per_style))
    per_image = {name: image_codes(model, files[name][:max_style_images])
                 for name in style_names}
    encoder = np.stack([codes.mean(axis=0) for codes in per_image.values()])
    bank = np.asarray(model.source.codes, np.float32)
    distances = np.linalg.norm(encoder[:, None] - bank[None], axis=-1)
    codes = {"encoder": encoder, "nearest_code": bank[np.argmin(distances, axis=1)],
             "mean_code": np.repeat(bank.mean(axis=0, keepdims=True), len(encoder),
                                    axis=0)}
    return codes, per_image


def optimised_codes(model, feature_extractor, gatys_settings, contents, style_grams,
                    start_codes, steps):
    """Codes [S, D]: start_codes [S, D] each optimised for `steps` Adam steps against
    the summed gatys objective (baselines.gatys_terms) of every content [N, H, W, 3]
    painted with it, toward its style's Gram targets (one [S, C, C] per style layer).
    A keep flag (model.keep_flag) stays as it is: the code paints a style image."""
    num_styles, num_contents = len(start_codes), len(contents)
    start_codes = np.asarray(start_codes, np.float32)
    encoder = model.source.encoder
    keep_flag = encoder is not None and style_lib.has_keep_flag(encoder)
    free_width = start_codes.shape[1] - int(keep_flag)
    free = tf.Variable(start_codes[:, :free_width])
    fixed = tf.constant(start_codes[:, free_width:])
    # Pair k paints content k % N with style k // N.
    style_of_pair = np.repeat(np.arange(num_styles), num_contents)
    contents = tf.tile(tf.convert_to_tensor(contents, tf.float32), [num_styles, 1, 1, 1])
    grams = [tf.gather(tf.convert_to_tensor(gram, tf.float32), style_of_pair)
             for gram in style_grams]
    content_features = feature_extractor(contents)
    content_targets = [content_features[name] for name in gatys_settings.content_layers]
    optimizer = keras.optimizers.Adam(CODE_LEARNING_RATE)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            codes = tf.gather(tf.concat([free, fixed], axis=-1), style_of_pair)
            outputs = painter.paint_batch(model.generator, contents, codes)
            objective = tf.reduce_sum(baselines.gatys_terms(
                feature_extractor, gatys_settings, outputs, content_targets,
                grams)["total"])
        optimizer.apply_gradients([(tape.gradient(objective, free), free)])

    for _ in range(steps):
        step()
    return np.concatenate([free.numpy(), fixed.numpy()], axis=-1)


def keep_gates(model, per_image):
    """{style: [gate of each style image's code, clipped to [0, 1] as G uses it]}."""
    return {name: np.clip(np.asarray(generator_lib.keep_gate(model.generator, codes)),
                          0.0, 1.0).tolist()
            for name, codes in per_image.items()}


def gram_gap_closed(method_summaries):
    """Per method, (d_identity - d_method) / (d_identity - d_gatys) of the mean Gram
    distances: 0 = the photo itself, 1 = as close as Gatys. Empty without both
    anchors."""
    if "identity" not in method_summaries or "gatys" not in method_summaries:
        return {}
    identity = method_summaries["identity"]["gram_distance"]
    gatys = method_summaries["gatys"]["gram_distance"]
    return {name: (identity - summary["gram_distance"]) / (identity - gatys)
            for name, summary in method_summaries.items()
            if name not in ("identity", "gatys")}


def image_codes_of_arrays(model, arrays):
    """The encoder's codes [N, D] of images [H, W, 3] in [0, 1] (any sizes)."""
    source = model.source
    return np.stack([np.asarray(source.encoder(images.resize_short_side(
        image, source.encoder_image_size)[None], training=False))[0]
        for image in arrays]).astype(np.float32)
