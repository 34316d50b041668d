"""Adversarial losses and the R1 penalty, computed from discriminator logits.

The method states the losses with D as a probability:

    L_G = -log D(G(x, s), s)
    L_D = -log D(y_s, s) - log(1 - D(G(x, s), s))

With D = sigmoid(l) these are softplus terms of the logit l, which stay finite with
finite gradients for any logit (log(sigmoid(l)) would underflow to log(0) at l << 0).

D is a PatchGAN: it returns logits [B, h, w, 1]. Every loss is computed per patch and
then averaged over the patches, so each function returns per-example values [B]; the
trainer reduces them over the global batch with tf.nn.compute_average_loss.
"""
import tensorflow as tf

from losses.reduce import mean_per_example

KINDS = ("nonsaturating", "hinge", "lsgan")


def _check_kind(kind):
    if kind not in KINDS:
        raise ValueError(f"Unknown adversarial loss kind {kind!r}; expected one of "
                         f"{KINDS}.")


def generator_loss(fake_logits, kind="nonsaturating"):
    """Per-example generator loss [B] from D's logits on generated images.

    With l = D's logit for G(x, s) (per patch, then averaged over patches):
      nonsaturating: -log sigmoid(l) = softplus(-l)   (Goodfellow et al. 2014, the
                     "-log D" trick; the loss of the method)
      hinge:         -l                               (Lim & Ye 2017, "Geometric GAN")
      lsgan:         0.5 * (l - 1)^2 on the raw output (Mao et al. 2017, "Least
                     squares generative adversarial networks", a=0, b=c=1)
    """
    _check_kind(kind)
    logits = tf.cast(fake_logits, tf.float32)
    if kind == "nonsaturating":
        per_patch = tf.nn.softplus(-logits)
    elif kind == "hinge":
        per_patch = -logits
    else:
        per_patch = 0.5 * tf.square(logits - 1.0)
    return mean_per_example(per_patch)


def discriminator_loss(real_logits, fake_logits, kind="nonsaturating"):
    """Per-example discriminator loss [B] from logits on real and generated images.

    With l_r, l_f = D's logits for a real image of style s and for G(x, s):
      nonsaturating: -log sigmoid(l_r) - log(1 - sigmoid(l_f))
                     = softplus(-l_r) + softplus(l_f)   (Goodfellow et al. 2014)
      hinge:         relu(1 - l_r) + relu(1 + l_f)       (Lim & Ye 2017)
      lsgan:         0.5 * (l_r - 1)^2 + 0.5 * l_f^2     (Mao et al. 2017)
    The real and fake terms are averaged over their own patches, then added.
    """
    _check_kind(kind)
    real = tf.cast(real_logits, tf.float32)
    fake = tf.cast(fake_logits, tf.float32)
    if kind == "nonsaturating":
        real_term, fake_term = tf.nn.softplus(-real), tf.nn.softplus(fake)
    elif kind == "hinge":
        real_term, fake_term = tf.nn.relu(1.0 - real), tf.nn.relu(1.0 + fake)
    else:
        real_term, fake_term = 0.5 * tf.square(real - 1.0), 0.5 * tf.square(fake)
    return mean_per_example(real_term) + mean_per_example(fake_term)


def r1_penalty(gradients):
    """Per-example R1 penalty [B] from the gradient of D's real logits w.r.t. the images.

        R1(x) = 0.5 * ||grad_x D(x, s)||^2

    (Mescheder et al. 2018, "Which training methods for GANs actually converge?"; the
    weight gamma is applied by the caller.) `gradients` is d(sum over the batch of each
    example's mean logit) / d(real images), [B, H, W, 3]: summing over the batch is
    exact because examples do not interact in D. D(x, s) is the mean over D's patches,
    the quantity the adversarial losses score, so gamma means the same for every
    discriminator variant and image size. (Summing the patches, as StyleGAN2 sums its
    single logit, would scale the penalty by the number of patches squared: ~1e4 at
    128 px, enough to hold D at chance.)
    """
    gradients = tf.cast(gradients, tf.float32)
    batch_size = tf.shape(gradients)[0]
    return 0.5 * tf.reduce_sum(tf.reshape(tf.square(gradients), [batch_size, -1]), axis=1)


def real_logits_and_r1(discriminator, images, codes):
    """Runs D on real images and returns (real_logits, per-example R1 penalty [B]).

    D is called as discriminator([images, codes], training=True) under an inner
    GradientTape that watches the images. Call this inside the tape that computes D's
    update: the penalty is then differentiated again w.r.t. D's weights (R1 needs this
    double backprop), and the logits are reused for the adversarial loss so D runs on
    the real images once.
    """
    images = tf.convert_to_tensor(images)
    with tf.GradientTape() as tape:
        tape.watch(images)
        real_logits = discriminator([images, codes], training=True)
        summed_logits = tf.reduce_sum(mean_per_example(tf.cast(real_logits, tf.float32)))
    gradients = tape.gradient(summed_logits, images)
    return real_logits, r1_penalty(gradients)


def d_probabilities(logits):
    """Per-example mean of sigmoid(logits) over patches [B]: D(y) for logging."""
    return mean_per_example(tf.sigmoid(tf.cast(logits, tf.float32)))


def d_accuracy(real_logits, fake_logits, kind="nonsaturating"):
    """Per-example share of patches D classifies right [B], real and fake averaged.

    A patch is judged real when its logit is above the decision boundary of the loss:
    0 for nonsaturating (sigmoid 0.5) and hinge, 0.5 for lsgan (targets 0 and 1).
    """
    _check_kind(kind)
    boundary = 0.5 if kind == "lsgan" else 0.0
    real_right = tf.cast(tf.cast(real_logits, tf.float32) > boundary, tf.float32)
    fake_right = tf.cast(tf.cast(fake_logits, tf.float32) <= boundary, tf.float32)
    return 0.5 * (mean_per_example(real_right) + mean_per_example(fake_right))
