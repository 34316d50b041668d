"""Evaluation metrics: pure functions of images, VGG features or feature statistics.

Images are float32 RGB [B, H, W, 3] in [0, 1]; features are [B, H', W', C] tensors
from models.vgg.build_feature_extractor. Per-pair metrics return one value per
example ([B] numpy float64); set-level metrics (Frechet distance, path statistics)
return Python floats. Lower is better for every distance; higher for SSIM.

The style distances reuse losses/perceptual.py, so an evaluated distance is exactly
the training loss term of the same name (same layers, same normalisation).
"""
import numpy as np
import tensorflow as tf

from losses import perceptual

# ITU-R BT.601 luma weights (the Y of YCbCr, as in JPEG and in most SSIM reports).
LUMA_WEIGHTS = (0.299, 0.587, 0.114)
# Wang et al. 2004 constants; tf.image.ssim uses the same by default.
SSIM_FILTER_SIZE = 11
SSIM_FILTER_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03


def _numpy(values):
    return np.asarray(values, np.float64)


def luminance(images):
    """Luma [B, H, W, 1] of RGB images: Y = 0.299 R + 0.587 G + 0.114 B (BT.601)."""
    images = tf.cast(images, tf.float32)
    return tf.reduce_sum(images * tf.constant(LUMA_WEIGHTS, tf.float32), axis=-1,
                         keepdims=True)


def ssim_luminance(images, reference_images):
    """Per-example SSIM [B] of the luminance of two image batches (Wang et al. 2004).

        SSIM(a, b) = mean over windows of
                     (2 mu_a mu_b + C1) (2 sigma_ab + C2)
                     ------------------------------------------------
                     (mu_a^2 + mu_b^2 + C1) (sigma_a^2 + sigma_b^2 + C2)

    on Y = luminance(.), with 11x11 Gaussian windows (sigma 1.5, valid positions only),
    C1 = (0.01 L)^2, C2 = (0.03 L)^2 and L = 1 (images in [0, 1]); computed by
    tf.image.ssim. 1 means identical structure; images must be at least 11 pixels on
    each side.
    """
    return _numpy(tf.image.ssim(
        luminance(images), luminance(reference_images), max_val=1.0,
        filter_size=SSIM_FILTER_SIZE, filter_sigma=SSIM_FILTER_SIGMA, k1=SSIM_K1,
        k2=SSIM_K2))


def content_distance(output_features, content_features):
    """Per-example content distance [B], summed over the content layers:

        d_content(y, x) = sum_l mean_{h,w,c} (phi_l(y) - phi_l(x))^2

    (perceptual.content_loss, Johnson et al. 2016 eq. 2). Arguments are lists of
    features, one per layer.
    """
    return _numpy(tf.add_n([perceptual.content_loss(output, content) for output, content
                            in zip(output_features, content_features)]))


def gram_distance(output_grams, target_grams):
    """Per-example Gram distance [B], summed over the style layers:

        d_gram(y, s) = sum_l mean_{c,c'} (G(phi_l(y)) - G(phi_l(s)))_{c,c'}^2,
        G(F)_{c,c'} = sum_{h,w} F_{h,w,c} F_{h,w,c'} / (H W C)

    (perceptual.style_loss, Johnson et al. 2016 eq. 4). Pass
    perceptual.gram_matrices(...) of both sides; a target with batch 1 broadcasts.
    """
    return _numpy(perceptual.style_loss(output_grams, target_grams))


def mean_std_distance(output_statistics, target_statistics):
    """Per-example feature-statistics distance [B], summed over the style layers:

        d_stats(y, s) = sum_l mean_c (mu_c(phi_l y) - mu_c(phi_l s))^2
                              + mean_c (sigma_c(phi_l y) - sigma_c(phi_l s))^2

    (perceptual.mean_std_loss, Huang & Belongie 2017 eq. 9). Pass
    perceptual.channel_statistics(...) of both sides.
    """
    return _numpy(perceptual.mean_std_loss(output_statistics, target_statistics))


def statistics_vectors(features_list):
    """Per-example feature-statistics vectors [B, 2 * sum_l C_l] (numpy float64):

        v(x) = concat_l [mu_1..mu_C(phi_l x), sigma_1..sigma_C(phi_l x)]

    the channel means and standard deviations over space of every given layer. These
    describe a style (they are what AdaIN transfers) and are the input of the style
    classifier and of the Frechet distance.
    """
    parts = []
    for mean, std in perceptual.channel_statistics(features_list):
        parts.extend([mean, std])
    return _numpy(tf.concat(parts, axis=-1))


def _checked_vectors(vectors):
    vectors = _numpy(vectors)
    if vectors.ndim != 2 or len(vectors) < 2:
        raise ValueError(f"A Gaussian fit needs at least 2 vectors of shape [N, D], got "
                         f"shape {vectors.shape}.")
    return vectors


def _symmetric_sqrt(matrix):
    """Square root of a symmetric positive semi-definite matrix by eigendecomposition;
    eigenvalues below zero (rounding) are clamped to zero."""
    eigenvalues, eigenvectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (eigenvectors * np.sqrt(np.clip(eigenvalues, 0, None))) @ eigenvectors.T


def frechet_distance(vectors_a, vectors_b):
    """Frechet distance between Gaussian fits of two sets of vectors (FID's formula,
    Heusel et al. 2017, on whatever features are passed):

        FD = |mu_a - mu_b|^2 + Tr(S_a) + Tr(S_b) - 2 Tr((S_a S_b)^{1/2})

    with unbiased covariances S = X^T X / (N - 1) of the centred vectors X [N, D].
    S_a S_b is similar to the PSD matrix S_a^{1/2} S_b S_a^{1/2}, so
    Tr((S_a S_b)^{1/2}) is the sum of the square roots of its eigenvalues, and those
    (non-zero) are the squared singular values of X_a X_b^T / sqrt((N_a-1)(N_b-1)):

        Tr((S_a S_b)^{1/2}) = ||X_a X_b^T||_* / sqrt((N_a - 1)(N_b - 1))

    (nuclear norm). With fewer samples than dimensions (hundreds of vectors of
    thousands of VGG statistics) this [N_a, N_b] SVD replaces two D x D
    eigendecompositions; otherwise the covariance form is used. Both stay real for
    the singular covariances of few samples. Identical sets give 0; sets that differ
    by a constant shift t give |t|^2. The estimate is biased upwards for small N:
    compare values computed on the same numbers of samples only.
    """
    vectors_a, vectors_b = _checked_vectors(vectors_a), _checked_vectors(vectors_b)
    if vectors_a.shape[1] != vectors_b.shape[1]:
        raise ValueError(f"Frechet distance needs vectors of one dimension, got "
                         f"{vectors_a.shape[1]} and {vectors_b.shape[1]}.")
    mean_a, mean_b = vectors_a.mean(axis=0), vectors_b.mean(axis=0)
    centred_a, centred_b = vectors_a - mean_a, vectors_b - mean_b
    scale_a, scale_b = len(vectors_a) - 1, len(vectors_b) - 1
    trace_a = np.sum(centred_a ** 2) / scale_a
    trace_b = np.sum(centred_b ** 2) / scale_b
    dimension = vectors_a.shape[1]
    if len(vectors_a) * len(vectors_b) * min(scale_a, scale_b) < dimension ** 3:
        cross = np.linalg.svd(centred_a @ centred_b.T, compute_uv=False).sum() / np.sqrt(
            scale_a * scale_b)
    else:
        root_a = _symmetric_sqrt(centred_a.T @ centred_a / scale_a)
        cross = np.trace(_symmetric_sqrt(root_a @ (centred_b.T @ centred_b / scale_b)
                                         @ root_a))
    value = np.sum((mean_a - mean_b) ** 2) + trace_a + trace_b - 2.0 * cross
    # Rounding can leave -1e-12 for identical sets; a distance is never negative.
    return float(max(value, 0.0))


def _average_ranks(values):
    """Ranks 1..N of values, ties sharing the mean of their ranks."""
    values = _numpy(values)
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(1, len(values) + 1)
    for value in np.unique(values):
        tied = values == value
        ranks[tied] = ranks[tied].mean()
    return ranks


def spearman(values_a, values_b):
    """Spearman rank correlation: the Pearson correlation of the (average) ranks,

        rho = cov(rank a, rank b) / (std(rank a) std(rank b))

    +1 for a strictly increasing relation, -1 for a decreasing one; NaN if either
    input is constant (no order to correlate).
    """
    ranks_a, ranks_b = _average_ranks(values_a), _average_ranks(values_b)
    ranks_a, ranks_b = ranks_a - ranks_a.mean(), ranks_b - ranks_b.mean()
    denominator = np.sqrt(np.sum(ranks_a ** 2) * np.sum(ranks_b ** 2))
    return float(np.sum(ranks_a * ranks_b) / denominator) if denominator > 0 else \
        float("nan")


def path_smoothness(values):
    """Step statistics of a curve v_0..v_K sampled at evenly spaced fusion weights:

        max_step        = max_k |v_{k+1} - v_k|
        mean_step       = mean_k |v_{k+1} - v_k|
        step_ratio      = max_step / mean_step   (1 = evenly spaced; K = one jump)
        max_second_diff = max_k |v_{k+1} - 2 v_k + v_{k-1}|

    A smooth fusion path changes its output a little at every step rather than
    jumping once; step_ratio is scale-free so paths of different metrics compare.
    """
    values = _numpy(values)
    steps = np.abs(np.diff(values))
    second = np.abs(np.diff(values, n=2)) if len(values) > 2 else np.zeros(1)
    mean_step = float(steps.mean())
    return {"max_step": float(steps.max()), "mean_step": mean_step,
            "step_ratio": float(steps.max() / mean_step) if mean_step > 0 else
            float("nan"),
            "max_second_diff": float(second.max())}


def speed(seconds, num_images):
    """ms_per_image = 1000 * seconds / num_images; images_per_second = its inverse."""
    if num_images <= 0 or seconds <= 0:
        return {"ms_per_image": float("nan"), "images_per_second": float("nan")}
    return {"ms_per_image": 1000.0 * seconds / num_images,
            "images_per_second": num_images / seconds}
