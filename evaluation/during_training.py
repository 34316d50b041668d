"""The numbers a run measures on itself while it trains: held-out photos x the run's
styles, painted with the style bank's codes.

    ssim_y           mean SSIM of the luma of output and photo (1: structure kept)
    gram_distance    mean Gram distance of each output to its style's target
    deception_rate   share of outputs the style classifier assigns to their style
    fusion_spearman  mean over photos of Spearman(w, t(w)) along the fusion path
                     c(w) = (1 - w) c_0 + w c_1 of the first two styles, where
                     t = d_0 / (d_0 + d_1) is the relative Gram position (1: monotone;
                     NaN while every code paints the same image)

The formulas are evaluate.py's (evaluation/metrics.py); the classifier is trained once,
on crops of the run's style images, when the reference is prepared.
"""
import dataclasses

import numpy as np
import tensorflow as tf

from data import images
from evaluation import metrics, style_reference
from models import style as style_lib

FUSION_WEIGHTS = np.round(np.linspace(0.0, 1.0, 11), 2)
# Images per generator and VGG call: bounds memory for runs with many styles.
BATCH_SIZE = 16
# Images per style averaged into its Gram target, as evaluate.py does.
MAX_STYLE_IMAGES = 8


@dataclasses.dataclass
class Reference:
    contents: np.ndarray     # [N, S, S, 3] held-out photos
    grams: list              # per style layer: [num_styles, C, C] targets
    classifier: object       # evaluation.classifier.StyleClassifier
    crop_size: int           # side of the tiles the classifier judges
    fusion_contents: int     # the first this many photos are painted along the path


def prepare(features, content_files, files_per_style, image_size, style_resize,
            crops_per_style, fusion_contents, seed):
    """The fixed part of every evaluation: photos, style targets and classifier.

    Args:
      features: a style_reference.Features.
      content_files: the held-out photos (paths).
      files_per_style: per style (in style-id order) its images, paths or bytes.
      image_size: side of the photos and of the style targets.
      style_resize: short side the style images are resized to before cropping.
      crops_per_style: random crops per style the classifier is trained on.
      fusion_contents: how many of the photos are painted along the fusion path.
      seed: seed of the crops.
    """
    if len(files_per_style) < 2:
        raise ValueError(f"The evaluation during training (eval.every > 0) needs at "
                         f"least 2 styles, got {len(files_per_style)}; set "
                         f"eval.every=0 for a one-style run.")
    contents = images.center_squares(content_files, image_size, image_size)
    grams = style_reference.mean_grams(
        features, [files[:MAX_STYLE_IMAGES] for files in files_per_style],
        style_resize, image_size)
    crop_size = image_size // 2
    classifier = style_reference.fit_style_classifier(
        features, files_per_style, crops_per_style, style_resize, crop_size,
        np.random.RandomState(seed))
    return Reference(contents, grams, classifier, crop_size, fusion_contents)


def evaluate(paint, codes, reference, features):
    """{ssim_y, gram_distance, deception_rate, fusion_spearman} of `paint`.

    Args:
      paint: (images [B, S, S, 3], codes [B, D]) -> outputs [B, S, S, 3].
      codes: [num_styles, D] the style codes, in style-id order.
      reference: from prepare().
      features: the style_reference.Features prepare() used.
    """
    num_styles = len(codes)
    content_ids = np.repeat(np.arange(len(reference.contents)), num_styles)
    style_ids = np.tile(np.arange(num_styles), len(reference.contents))
    ssim, gram, deceived = [], [], []
    for start in range(0, len(style_ids), BATCH_SIZE):
        styles = style_ids[start:start + BATCH_SIZE]
        contents = reference.contents[content_ids[start:start + BATCH_SIZE]]
        outputs = np.asarray(paint(contents, codes[styles]), np.float32)
        ssim.append(metrics.ssim_luminance(outputs, contents))
        targets = [tf.gather(layer, styles) for layer in reference.grams]
        gram.append(metrics.gram_distance(features.grams(outputs), targets))
        posteriors = style_reference.tile_posteriors(reference.classifier, features,
                                                     outputs, reference.crop_size)
        deceived.append(np.argmax(posteriors, axis=1) == styles)
    return {"ssim_y": float(np.mean(np.concatenate(ssim))),
            "gram_distance": float(np.mean(np.concatenate(gram))),
            "deception_rate": float(np.mean(np.concatenate(deceived))),
            "fusion_spearman": fusion_spearman(paint, codes, reference, features)}


def fusion_spearman(paint, codes, reference, features):
    """Mean over the first fusion_contents photos of Spearman(w, t(w)) from style 0
    to style 1 (module docstring)."""
    weights = np.stack([1.0 - FUSION_WEIGHTS, FUSION_WEIGHTS], axis=1)
    fused = np.asarray(style_lib.mix(codes[:2], weights))
    targets = [[layer[k:k + 1] for layer in reference.grams] for k in (0, 1)]
    correlations = []
    for content in reference.contents[:reference.fusion_contents]:
        images = np.repeat(content[None], len(FUSION_WEIGHTS), axis=0)
        output_grams = features.grams(np.asarray(paint(images, fused), np.float32))
        distance_0, distance_1 = (metrics.gram_distance(output_grams, target)
                                  for target in targets)
        correlations.append(metrics.spearman(
            FUSION_WEIGHTS, distance_0 / (distance_0 + distance_1)))
    return style_reference.mean_ignoring_nan(correlations)
