"""Perceptual losses on VGG19 features: content, style (Gram, mean/std), total variation.

Features are [B, H, W, C] tensors from models.vgg.build_feature_extractor. Every loss
returns per-example values [B]; the trainer reduces them over the global batch.

Style targets depend only on the style images, so the style terms take precomputed
statistics on both sides: the trainer can compute the targets once per style
(gram_matrices / channel_statistics) instead of on every step. A target with batch
size 1 broadcasts against a batch of outputs.
"""
import tensorflow as tf

from losses.reduce import mean_per_example


def _check_same_length(outputs, targets, what):
    if len(outputs) != len(targets):
        raise ValueError(f"style loss got {len(outputs)} output {what} but "
                         f"{len(targets)} target {what}; expected one per VGG layer.")


def gram_matrix(features):
    """Normalised Gram matrix [B, C, C] of features [B, H, W, C].

        G(F)_{c,c'} = sum_{h,w} F_{h,w,c} F_{h,w,c'} / (H * W * C)

    (Johnson et al. 2016, "Perceptual losses for real-time style transfer and
    super-resolution", eq. 3.) Dividing by H*W*C makes the statistic independent of
    the image size, so loss weights transfer between training and test resolutions.
    """
    features = tf.cast(features, tf.float32)
    shape = tf.shape(features)
    height, width, channels = shape[1], shape[2], shape[3]
    flat = tf.reshape(features, [shape[0], height * width, channels])
    gram = tf.matmul(flat, flat, transpose_a=True)
    return gram / tf.cast(height * width * channels, tf.float32)


def gram_matrices(features_list):
    """gram_matrix of each layer's features, in the same order."""
    return [gram_matrix(features) for features in features_list]


def content_loss(output_features, content_features):
    """Per-example feature reconstruction loss [B] (Johnson et al. 2016, eq. 2).

        L_content = ||phi(y) - phi(x)||_2^2 / (H * W * C)  = mean of squared differences
    """
    difference = tf.cast(output_features, tf.float32) - tf.cast(content_features,
                                                                tf.float32)
    return mean_per_example(tf.square(difference))


def style_loss(output_grams, target_grams):
    """Per-example Gram style loss [B], summed over layers.

        L_style = sum_layers mean_{c,c'} (G(phi(y)) - G(phi(s)))_{c,c'}^2

    Johnson et al. 2016 (eq. 4) use the squared Frobenius norm; the mean over the
    C x C entries divides each layer by C^2, so layers with 64 and 512 channels
    contribute on comparable scales. Pass gram_matrices(...) of the output features
    and of the style features ([B, C, C] or [1, C, C] per layer).
    """
    _check_same_length(output_grams, target_grams, "Gram matrices")
    per_layer = [
        tf.reduce_mean(tf.square(tf.cast(output, tf.float32) -
                                 tf.cast(target, tf.float32)), axis=[-2, -1])
        for output, target in zip(output_grams, target_grams)
    ]
    return tf.add_n(per_layer)


def channel_mean_std(features, epsilon=1e-5):
    """Per-channel mean and standard deviation over space: ([B, C], [B, C]).

        mu_c = mean_{h,w} F_{h,w,c},   sigma_c = sqrt(var_{h,w} F_{h,w,c} + epsilon)

    epsilon keeps the gradient of the square root finite on constant feature maps.
    """
    features = tf.cast(features, tf.float32)
    mean, variance = tf.nn.moments(features, axes=[1, 2])
    return mean, tf.sqrt(variance + epsilon)


def channel_statistics(features_list, epsilon=1e-5):
    """channel_mean_std of each layer's features, in the same order."""
    return [channel_mean_std(features, epsilon) for features in features_list]


def mean_std_loss(output_statistics, target_statistics):
    """Per-example AdaIN style loss [B] on channel means and stds, summed over layers.

        L_style = sum_layers mean_c (mu_c(phi(y)) - mu_c(phi(s)))^2
                             + mean_c (sigma_c(phi(y)) - sigma_c(phi(s)))^2

    (Huang & Belongie 2017, "Arbitrary style transfer in real-time with adaptive
    instance normalization", eq. 9.) The paper writes L2 norms; like the authors' code
    we use squared errors, whose gradient stays defined when the statistics match.
    Pass channel_statistics(...) of the output and of the style features: lists of
    (mean, std) pairs, [B, C] or [1, C] each.
    """
    _check_same_length(output_statistics, target_statistics, "statistics")
    per_layer = []
    for (output_mean, output_std), (target_mean, target_std) in zip(
            output_statistics, target_statistics):
        mean_term = tf.reduce_mean(tf.square(output_mean - target_mean), axis=-1)
        std_term = tf.reduce_mean(tf.square(output_std - target_std), axis=-1)
        per_layer.append(mean_term + std_term)
    return tf.add_n(per_layer)


def total_variation(images):
    """Per-example anisotropic total variation [B] of images [B, H, W, C].

        TV(y) = mean |y_{i+1,j} - y_{i,j}| + mean |y_{i,j+1} - y_{i,j}|

    (Mahendran & Vedaldi 2015, used as the smoothness term by Johnson et al. 2016.)
    Means rather than sums keep the weight independent of the image size.
    """
    images = tf.cast(images, tf.float32)
    vertical = tf.abs(images[:, 1:, :, :] - images[:, :-1, :, :])
    horizontal = tf.abs(images[:, :, 1:, :] - images[:, :, :-1, :])
    return mean_per_example(vertical) + mean_per_example(horizontal)
