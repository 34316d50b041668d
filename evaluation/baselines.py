"""Reference methods evaluated on the same pairs as the model.

identity: the output is the content image. It bounds content preservation from
  above (SSIM 1, content distance 0) and shows what the style metrics give for an
  unstylized photo.
gatys: Gatys et al. 2016, "Image style transfer using convolutional neural networks":
  the image itself is optimised against the same content, Gram-style and TV losses
  (same VGG features, layers and weights) that train the generator, starting from the
  content image. It is the per-pair quality ceiling of those losses and the slow end
  of the speed axis.
"""
import dataclasses

import tensorflow as tf

from losses import perceptual


def identity(contents):
    """Output = content."""
    return tf.identity(contents)


@dataclasses.dataclass(frozen=True)
class GatysSettings:
    content_layers: tuple
    style_layers: tuple
    content_weight: float
    style_weight: float
    tv_weight: float
    steps: int = 100
    learning_rate: float = 0.02   # Adam, in [0, 1] pixel units (~5/255 per step)
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-8


def make_gatys(feature_extractor, settings):
    """Returns `stylize(contents, style_grams, steps=None) -> (images, losses)`.

    contents: [B, H, W, 3] in [0, 1]; style_grams: one [B, C, C] Gram target per style
    layer (pair i's style). The B problems are optimised together but independently:
    the objective is a sum of per-example losses and Adam is element-wise. The image is
    projected back to [0, 1] after every step. `losses` is
    {"content", "style", "tv", "total"}: each [steps + 1, B], the unweighted terms and
    the weighted total before every step and after the last.

        L(y) = w_c sum_l mean (phi_l(y) - phi_l(x))^2 + w_s d_gram(y, s) + w_tv TV(y)
    """
    def terms(images, content_targets, style_grams):
        return gatys_terms(feature_extractor, settings, images, content_targets,
                           style_grams)

    # Adam written out functionally so one traced step serves every batch of the
    # same shape (a Keras optimizer would hold per-batch variables).
    @tf.function
    def adam_step(images, first_moment, second_moment, step, content_targets,
                  style_grams):
        with tf.GradientTape() as tape:
            tape.watch(images)
            values = terms(images, content_targets, style_grams)
            objective = tf.reduce_sum(values["total"])
        gradient = tape.gradient(objective, images)
        return (*adam_update(settings, images, gradient, first_moment, second_moment,
                             step), values)

    evaluate_terms = tf.function(terms)

    def stylize(contents, style_grams, steps=None):
        """`steps` overrides settings.steps (e.g. 1 to trace without the full cost)."""
        contents = tf.convert_to_tensor(contents, tf.float32)
        style_grams = [tf.convert_to_tensor(gram, tf.float32) for gram in style_grams]
        content_features = feature_extractor(contents)
        content_targets = [content_features[name] for name in settings.content_layers]
        images = contents
        first_moment = tf.zeros_like(contents)
        second_moment = tf.zeros_like(contents)
        history = []
        for step in range(1, (steps or settings.steps) + 1):
            images, first_moment, second_moment, values = adam_step(
                images, first_moment, second_moment, tf.constant(step, tf.float32),
                content_targets, style_grams)
            history.append(values)
        history.append(evaluate_terms(images, content_targets, style_grams))
        losses = {key: tf.stack([values[key] for values in history]).numpy()
                  for key in history[0]}
        return images, losses

    return stylize


def gatys_terms(feature_extractor, settings, images, content_targets, style_grams):
    """The unweighted content, style and TV terms [B] of `images` and their total
    weighted by `settings`, as {"content", "style", "tv", "total"}."""
    features = feature_extractor(images)
    content = tf.add_n([perceptual.content_loss(features[name], target) for name, target
                        in zip(settings.content_layers, content_targets)])
    style = perceptual.style_loss(
        perceptual.gram_matrices([features[name] for name in settings.style_layers]),
        style_grams)
    tv = perceptual.total_variation(images)
    total = (settings.content_weight * content + settings.style_weight * style
             + settings.tv_weight * tv)
    return {"content": content, "style": style, "tv": tv, "total": total}


def adam_update(settings, images, gradient, first_moment, second_moment, step):
    """One Adam step (Kingma & Ba 2015) of the images, projected back to [0, 1]:
    (images, first_moment, second_moment) after the step numbered `step` (from 1)."""
    first_moment = settings.beta_1 * first_moment + (1 - settings.beta_1) * gradient
    second_moment = (settings.beta_2 * second_moment
                     + (1 - settings.beta_2) * tf.square(gradient))
    corrected_first = first_moment / (1 - settings.beta_1 ** step)
    corrected_second = second_moment / (1 - settings.beta_2 ** step)
    update = settings.learning_rate * corrected_first / (
        tf.sqrt(corrected_second) + settings.epsilon)
    images = tf.clip_by_value(images - update, 0.0, 1.0)
    return images, first_moment, second_moment
