"""The models of a run and the per-replica GAN train step.

One step, per replica (replica_step):
  paint()                    codes (bank, encoder, mixed with a neighbour's) -> fakes;
  judge()                    D on the fakes and the real style images (stage 2 only);
  generator_objective()      perceptual [+ arbitrary] + keep [+ encoder + identity]
                             [+ adversarial] [+ temporal];
  discriminator_objective()  adversarial + R1;
then both players are updated from the same fake batch.
"""
import dataclasses
import functools

import keras
import ml_collections
import tensorflow as tf

from losses import adversarial, perceptual, temporal
from models import discriminator as discriminator_lib
from models import generator as generator_lib
from models import style as style_lib
from models import vgg as vgg_lib
from training import precision


@dataclasses.dataclass
class Models:
    generator: keras.Model
    discriminator: keras.Model
    bank: style_lib.StyleBank
    g_optimizer: keras.optimizers.Optimizer
    d_optimizer: keras.optimizers.Optimizer
    style_encoder: style_lib.StyleEncoder | None = None  # when config.model.encoder

    @property
    def encoder(self):
        """The style encoder's image -> code model, or None."""
        return None if self.style_encoder is None else self.style_encoder.model

    @property
    def optimizers(self):
        return (self.g_optimizer, self.d_optimizer)

    @property
    def g_variables(self):
        """G is trained together with the style codes it is conditioned on (and the
        encoder that makes them from images)."""
        variables = self.generator.trainable_variables + self.bank.trainable_variables
        if self.encoder is not None:
            variables += self.encoder.trainable_variables
        return variables


def _adam(optim_config, learning_rate, name):
    return precision.wrap_optimizer(keras.optimizers.Adam(
        learning_rate, beta_1=optim_config.beta_1, beta_2=optim_config.beta_2,
        name=name))


def build_models(model_config, optim_config, num_styles, vgg_config=None):
    """Creates G, D, the style bank, the style encoder (if model.encoder) and both
    optimizers.

    Call under `strategy.scope()` (and `precision.policy(...)` for mixed
    precision, which also wraps the optimizers for loss scaling under float16).
    The optimizers are built here, in the scope, so
    their slots are mirrored like the weights (a Keras 3 optimizer built lazily inside
    the replica step fails under MirroredStrategy). The encoder's frozen VGG uses the
    weights of `vgg_config`, required when model.encoder is on (and for the vgg D).
    """
    generator = generator_lib.build_generator(model_config.generator,
                                              model_config.code_dim)
    discriminator = discriminator_lib.build_from_config(model_config, vgg_config)
    bank = style_lib.StyleBank(num_styles, model_config.code_dim, name="style_bank",
                               keep_flag=model_config.get("keep_flag", False))
    style_encoder = (style_lib.encoder_from_config(model_config, vgg_config)
                     if model_config.encoder else None)
    models = Models(generator, discriminator, bank,
                    _adam(optim_config, optim_config.g_lr, "g_adam"),
                    _adam(optim_config, optim_config.d_lr, "d_adam"), style_encoder)
    models.g_optimizer.build(models.g_variables)
    models.d_optimizer.build(discriminator.trainable_variables)
    return models


def build_feature_extractor(vgg_config, model_config=None):
    """The perceptual losses' VGG features; also the style encoder's layers when
    `model_config.encoder` is on, so the step gives the encoder its input from the
    same pass (make_replica_step)."""
    layers = vgg_config.content_layers + vgg_config.style_layers
    if model_config is not None and model_config.encoder:
        layers += tuple(model_config.encoder_layers)
    layers = tuple(dict.fromkeys(layers))
    return vgg_lib.build_feature_extractor(
        layers, weights=vgg_config.weights,
        fallback_to_random=vgg_config.fallback_to_random, seed=vgg_config.seed)


@dataclasses.dataclass
class StepContext:
    """What the replica step reads besides the batch."""
    models: Models
    feature_extractor: keras.Model
    vgg_config: ml_collections.ConfigDict
    loss_config: ml_collections.ConfigDict
    global_batch_size: int
    # The encoder reads the style images' features from the step's VGG pass
    # instead of running its own VGG.
    encoder_reads_step_features: bool

    def average(self, per_example):
        """Sum / GLOBAL batch: the replicas' gradients add up to the whole batch's."""
        return tf.nn.compute_average_loss(per_example,
                                          global_batch_size=self.global_batch_size)


@dataclasses.dataclass
class Painting:
    """One forward pass of G and what it was painted from."""
    content: tf.Tensor
    style: tf.Tensor  # the style images; the content itself for identity examples
    targets: dict  # VGG features of content and style, stacked on the batch axis
    real_codes: tf.Tensor  # each example's own style code
    codes: tf.Tensor  # the codes G painted with (real_codes mixed with a neighbour's)
    fake: tf.Tensor
    identity: tf.Tensor | None  # bool [B], examples painted in their own style
    mix_weights: tf.Tensor | None  # [B], each example's weight of its own code
    encoder_terms: dict  # {"encoder": pull toward the bank} when the encoder is on
    # bool [B]: examples of an arbitrary style (procedural, a photo given as a style)
    # painted from the encoder's code, with no bank code; None when there are none.
    arbitrary: tf.Tensor | None = None


@dataclasses.dataclass
class Judgement:
    """D's logits on the fakes and on the real style images, and R1 [B] on the real."""
    fake_logits: tf.Tensor
    real_logits: tf.Tensor
    r1: tf.Tensor
    # float [B]: 1 for examples the GAN judges, 0 for arbitrary styles (no bank code,
    # so no code D could condition on); None = all examples.
    weights: tf.Tensor | None = None


def make_replica_step(models, feature_extractor, vgg_config, loss_config,
                      global_batch_size, encoder_reads_step_features=True):
    """Returns `replica_step(batch, adversarial_stage, update_discriminator=True)
    -> {tag: scalar}`, run per replica.

    With `encoder_reads_step_features` the style encoder reads the style images'
    features from the step's VGG pass: build `feature_extractor` with
    build_feature_extractor(vgg_config, model_config). Otherwise it runs its own VGG.
    """
    context = StepContext(models, feature_extractor, vgg_config, loss_config,
                          global_batch_size, encoder_reads_step_features)
    if models.style_encoder is not None and encoder_reads_step_features:
        missing = set(models.style_encoder.vgg_layers) - set(feature_extractor.output)
        if missing:
            raise ValueError(
                f"The step's feature extractor lacks the style encoder's VGG layers "
                f"{sorted(missing)}; build it with build_feature_extractor(vgg_config, "
                f"model_config) or pass encoder_reads_step_features=False.")
    return functools.partial(replica_step, context)


def replica_step(context, batch, adversarial_stage, update_discriminator=True):
    """One update of G and (in the adversarial stage) D from the same fake batch.

    One forward pass of G serves both players, as in the TF DCGAN tutorial. With
    `adversarial_stage=False` (stage 1 of the method: G pre-trained with perceptual
    losses only) D is neither run nor updated; `update_discriminator=False` runs D
    for G's loss but skips D's update (training/balance.py).
    """
    models = context.models
    with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
        painting = paint(context, batch)
        judgement = judge(context, painting) if adversarial_stage else None
        g_total, g_terms = generator_objective(context, painting, judgement)
        if adversarial_stage:
            d_total, d_terms = discriminator_objective(context, judgement)
    _update(g_tape, g_total, models.g_variables, models.g_optimizer)
    if adversarial_stage and update_discriminator:
        _update(d_tape, d_total, models.discriminator.trainable_variables,
                models.d_optimizer)
    # G's terms first: a divergence is reported by its first non-finite term, and D
    # judges G's output, so a broken G makes D's terms non-finite too.
    metrics = generator_metrics(context, painting, g_total, g_terms)
    if adversarial_stage:
        metrics.update(discriminator_metrics(context, judgement, d_total, d_terms))
    return metrics


def _update(tape, loss, variables, optimizer):
    optimizer.apply_gradients(zip(precision.gradients(tape, loss, variables, optimizer),
                                  variables))


def paint(context, batch):
    """Codes for the batch's styles (bank, encoder, mixed) and G's fakes of them."""
    models = context.models
    content, style = batch["content"], batch["style"]
    batch_size = tf.shape(content)[0]
    # A negative style id is an arbitrary style (data/procedural.py): no bank code.
    codes = models.bank(tf.maximum(batch["style_id"], 0))
    identity, encoder_terms, arbitrary = None, {}, None
    if models.style_encoder is not None:
        arbitrary, style = draw_arbitrary(context, batch, content, style)
        identity, style = draw_identity(context, content, style)
        arbitrary = arbitrary & ~identity
    # Targets need no gradient: one VGG pass over content and style together.
    targets = context.feature_extractor(tf.concat([content, style], axis=0))
    if models.style_encoder is not None:
        style_features = {name: value[batch_size:] for name, value in targets.items()}
        codes, encoder_terms = encoder_codes(context, identity, style, style_features,
                                             codes, arbitrary)
    mixed_codes, mix_weights = mix_codes(context, codes, identity)
    fake = models.generator([content, generator_lib.as_code_map(mixed_codes)],
                            training=True)
    return Painting(content, style, targets, codes, mixed_codes, fake, identity,
                    mix_weights, encoder_terms,
                    arbitrary if end_to_end(context) else None)


def end_to_end(context):
    """loss.end_to_end (False for configs written before it existed)."""
    return context.loss_config.get("end_to_end", False)


def draw_arbitrary(context, batch, content, style):
    """Examples of an arbitrary style: the stream's procedural ones (style id < 0)
    and, with probability photo_style_prob, another photo of the batch given as the
    style (so a photo as a style is painted, not passed through). Returns (arbitrary
    [B] bool, the style images with those photos swapped in)."""
    arbitrary = batch["style_id"] < 0
    if context.loss_config.get("photo_style_prob", 0.0) <= 0:
        return arbitrary, style
    photo = (tf.random.uniform([tf.shape(content)[0]])
             < context.loss_config.get("photo_style_prob", 0.0))
    style = tf.where(photo[:, None, None, None], tf.roll(content, shift=1, axis=0), style)
    return arbitrary | photo, style


def draw_identity(context, content, style):
    """Identity examples: with probability identity_prob an example's style is its
    content. Returns (identity [B] bool, the style images with those swapped in)."""
    identity = (tf.random.uniform([tf.shape(content)[0]])
                < context.loss_config.identity_prob)
    return identity, tf.where(identity[:, None, None, None], content, style)


def encoder_codes(context, identity, style, style_features, bank_codes, arbitrary):
    """Swaps in encoder codes, with probability encoder_prob and always for identity
    examples (`style` holds the content there) and arbitrary styles; returns (codes,
    {"encoder": pull}).

    With loss.end_to_end the codes of style images keep their gradient: G's losses
    on those examples, the style loss against that image's own Gram first, train
    the encoder (Ghiasi et al. 2017). The content's own code (identity examples)
    stays stopped, and is marked by the keep flag with model.keep_flag.
    """
    style_encoder = context.models.style_encoder
    use_encoder = (tf.random.uniform([tf.shape(style)[0]])
                   < context.loss_config.encoder_prob) | arbitrary
    if context.encoder_reads_step_features:
        codes_from_images = style_encoder.head(
            {layer: style_features[layer] for layer in style_encoder.vgg_layers},
            training=True)
    else:
        codes_from_images = style_encoder.model(style, training=True)
    # Without end_to_end G paints from the encoder's codes but does not move them:
    # the encoder learns only to hit the bank, or its pull toward the bank stalls.
    stopped = tf.stop_gradient(codes_from_images)
    style_codes = codes_from_images if end_to_end(context) else stopped
    own_codes = (style_lib.with_keep_flag(stopped, style_lib.KEEP_FLAG_ON)
                 if style_lib.has_keep_flag(style_encoder.head) else stopped)
    codes = tf.where(identity[:, None], own_codes,
                     tf.where(use_encoder[:, None], style_codes, bank_codes))
    # The bank is the reference the encoder learns to hit, not the other way round;
    # an arbitrary style has no bank code to hit.
    pull = tf.reduce_mean(tf.square(codes_from_images
                                    - tf.stop_gradient(bank_codes)), axis=1)
    return codes, {"encoder": context.average(
        tf.where(identity | arbitrary, 0.0, pull))}


def mix_codes(context, codes, identity):
    """With probability mix_prob, an example's code mixed with its neighbour's.
    Returns (codes, mix weights [B] or None when mix_prob is 0)."""
    if context.loss_config.mix_prob <= 0:
        return codes, None
    # An identity example must give its content back, so its code is never mixed
    # (a neighbour may still mix with its content's code).
    weights = random_mix_weights(tf.shape(codes)[0], context.loss_config.mix_prob,
                                 keep=identity)
    return mix_with_neighbour(codes, weights), weights


def judge(context, painting):
    """D on the fakes (with the codes they were painted with) and on the real style
    images (with their own, unmixed codes), with R1 on the real ones."""
    discriminator = context.models.discriminator
    fake_logits = discriminator([painting.fake, painting.codes], training=True)
    real_logits, r1 = adversarial.real_logits_and_r1(discriminator, painting.style,
                                                     painting.real_codes)
    weights = (None if painting.arbitrary is None
               else 1.0 - tf.cast(painting.arbitrary, tf.float32))
    return Judgement(fake_logits, real_logits, r1, weights)


def generator_objective(context, painting, judgement=None):
    """G's loss: (total, {term: value}), every term averaged over the global batch.

        total = w_content content + w_style style + w_tv tv + w_keep keep
                [+ w_encoder encoder + w_identity identity]   (style encoder on)
                [+ w_adv adv]                                  (adversarial stage)
                [+ w_temporal temporal]                        (temporal_weight > 0)
    """
    total, terms = perceptual_objective(context, painting)
    additions = [keep_objective(context, painting)]
    if context.models.style_encoder is not None:
        additions.append(encoder_objective(context, painting))
    if judgement is not None:
        additions.append(adversarial_objective(context, judgement))
    if context.loss_config.get("temporal_weight", 0.0) > 0:
        additions.append(temporal_objective(context, painting))
    for weighted, added_terms in additions:
        total += weighted
        terms.update(added_terms)
    return total, terms


def perceptual_objective(context, painting):
    """Content, Gram style and TV losses of the fakes: (weighted sum, terms).

    A mixed example's Gram targets are mixed with its code's weights, so a blended
    code is trained toward the blended style statistics.
    """
    batch_size = tf.shape(painting.content)[0]
    targets = painting.targets
    fake_features = context.feature_extractor(painting.fake)
    content = sum(
        perceptual.content_loss(fake_features[name], targets[name][:batch_size])
        for name in context.vgg_config.content_layers)
    style_layers = context.vgg_config.style_layers
    target_grams = perceptual.gram_matrices(
        [tf.stop_gradient(targets[name][batch_size:]) for name in style_layers])
    if painting.mix_weights is not None:
        target_grams = [mix_with_neighbour(gram, painting.mix_weights)
                        for gram in target_grams]
    style = perceptual.style_loss(
        perceptual.gram_matrices([fake_features[name] for name in style_layers]),
        target_grams)
    arbitrary_total, arbitrary_terms = 0.0, {}
    if painting.arbitrary is not None:
        (arbitrary_total, arbitrary_terms), style = arbitrary_objective(
            context, painting.arbitrary, style)
    terms = {"content": context.average(content), "style": context.average(style),
             "tv": context.average(perceptual.total_variation(painting.fake)),
             **arbitrary_terms}
    loss = context.loss_config
    return (loss.content_weight * terms["content"] + loss.style_weight * terms["style"]
            + loss.tv_weight * terms["tv"] + arbitrary_total), terms


def arbitrary_objective(context, arbitrary, style):
    """End-to-end arbitrary style (loss.end_to_end): the Gram style loss of the
    examples of an arbitrary style, against that style image's own Gram, weighted
    by arbitrary_weight; its gradient reaches the encoder through their codes.

        arbitrary = sum over arbitrary examples of style_i / global batch

    Returns ((weighted, {"arbitrary": value}), the per-example style loss [B] of the
    other examples, which stay in the "style" term.
    """
    term = context.average(tf.where(arbitrary, style, 0.0))
    weighted = context.loss_config.arbitrary_weight * term
    return (weighted, {"arbitrary": term}), tf.where(arbitrary, 0.0, style)


def keep_objective(context, painting):
    """Keep-gate hinge: gate >= 1 for the content's own code (identity examples),
    <= 0 for every other, i.e. |clip(gate, 0, 1) - target| continued beyond the
    bounds. The codes are not moved by it. Returns (weighted, {"keep": value})."""
    gate = generator_lib.keep_gate(context.models.generator,
                                   tf.stop_gradient(painting.codes))
    keep = tf.nn.relu(gate)
    if painting.identity is not None:
        keep = tf.where(painting.identity, tf.nn.relu(1.0 - gate), keep)
    term = context.average(keep)
    return context.loss_config.keep_weight * term, {"keep": term}


def encoder_objective(context, painting):
    """The encoder's pull toward the bank and, on identity examples, L1 between the
    fake and the content it must give back: (weighted, {"encoder", "identity"})."""
    identity = context.average(tf.where(
        painting.identity,
        tf.reduce_mean(tf.abs(painting.fake - painting.content), axis=[1, 2, 3]), 0.0))
    terms = {**painting.encoder_terms, "identity": identity}
    loss = context.loss_config
    return (loss.encoder_weight * terms["encoder"]
            + loss.identity_weight * terms["identity"]), terms


def adversarial_objective(context, judgement):
    """G's adversarial loss on D's fake logits: (weighted, {"adv": value})."""
    loss = context.loss_config
    term = context.average(judged(judgement, adversarial.generator_loss(
        judgement.fake_logits, loss.adversarial)))
    return loss.adv_weight * term, {"adv": term}


def judged(judgement, per_example):
    """Per-example GAN values of the examples the GAN judges (Judgement.weights)."""
    return per_example if judgement.weights is None else per_example * judgement.weights
def temporal_objective(context, painting):
    """Compound regularisation (losses/temporal.py): G(T(x) + n) against T(G(x)) for a
    random small warp T per example, with the codes G painted x with:
    (weighted, {"temporal": value})."""
    loss = context.loss_config
    shape = tf.shape(painting.content)
    transforms = temporal.random_warps(shape[0], shape[1], shape[2], loss.temporal_shift,
                                       loss.temporal_rotation, loss.temporal_zoom)
    code_maps = generator_lib.as_code_map(painting.codes)

    def paint(images):
        return context.models.generator([images, code_maps], training=True)

    term = context.average(temporal.compound_regularisation(
        paint, painting.content, painting.fake, transforms, loss.temporal_noise))
    return loss.temporal_weight * term, {"temporal": term}


def discriminator_objective(context, judgement):
    """D's loss: (adv + w_r1 r1, {"adv", "r1"}), averaged over the global batch."""
    loss = context.loss_config
    terms = {"adv": context.average(judged(judgement, adversarial.discriminator_loss(
                 judgement.real_logits, judgement.fake_logits, loss.adversarial))),
             "r1": context.average(judged(judgement, judgement.r1))}
    return terms["adv"] + loss.r1_weight * terms["r1"], terms


def discriminator_metrics(context, judgement, d_total, d_terms):
    """D's loss terms and how it judges: {tag: scalar}."""
    metrics = {f"loss/D/{k}": v for k, v in d_terms.items()}
    # What each term adds to the total (discriminator_objective's formula).
    metrics["loss/D/weighted/adv"] = d_terms["adv"]
    metrics["loss/D/weighted/r1"] = context.loss_config.r1_weight * d_terms["r1"]
    metrics["loss/D/total"] = d_total
    metrics["D/real_prob"] = context.average(
        adversarial.d_probabilities(judgement.real_logits))
    metrics["D/fake_prob"] = context.average(
        adversarial.d_probabilities(judgement.fake_logits))
    metrics["D/accuracy"] = context.average(adversarial.d_accuracy(
        judgement.real_logits, judgement.fake_logits, context.loss_config.adversarial))
    return metrics


def generator_metrics(context, painting, g_total, g_terms):
    """G's loss terms and the spread of its fakes: {tag: scalar}."""
    metrics = {f"loss/G/{k}": v for k, v in g_terms.items()}
    # What each term adds to the total: every term `name` of generator_objective is
    # weighted by config.loss.<name>_weight (a term without one fails here).
    metrics.update({f"loss/G/weighted/{k}": context.loss_config[f"{k}_weight"] * v
                    for k, v in g_terms.items()})
    metrics["loss/G/total"] = g_total
    # Near 0 when G paints flat images (a collapse, training/guards.py).
    metrics["G/output_std"] = context.average(
        tf.math.reduce_std(painting.fake, axis=[1, 2, 3]))
    return metrics


def random_mix_weights(batch_size, mix_prob, keep=None):
    """Per-example weight t of an example's own style: 1 (no mix) or, with probability
    mix_prob, uniform in [0, 1]. Examples where the bool vector `keep` is True get 1."""
    mixed = tf.random.uniform([batch_size]) < mix_prob
    if keep is not None:
        mixed &= ~keep
    return tf.where(mixed, tf.random.uniform([batch_size]), 1.0)


def mix_with_neighbour(values, weights):
    """t * values + (1 - t) * (the batch neighbour's values), per example, through
    models.style.mix: each example's value and its neighbour's are a pair of codes
    [B, 2, D] (trailing axes flattened) with weights [B, 2] = [t, 1 - t]."""
    shape = tf.shape(values)
    flat = tf.reshape(values, [shape[0], -1])
    pairs = tf.stack([flat, tf.roll(flat, shift=1, axis=0)], axis=1)
    pair_weights = tf.stack([weights, 1.0 - weights], axis=1)
    return tf.reshape(style_lib.mix(pairs, pair_weights), shape)


def make_distributed_step(strategy, replica_step, jit_compile=False):
    """Wraps the replica step in one tf.function run through `strategy.run`.

    `adversarial_stage` and `update_discriminator` (False: D's update is skipped,
    training/balance.py) are Python bools, so the function is traced once per
    combination used. Per-replica values are already divided by the global
    batch, so their SUM over replicas is the global mean. With `jit_compile` the
    replica step is compiled by XLA; the iterator stays outside it, as XLA cannot
    compile IteratorGetNext.
    """
    if jit_compile:
        replica_step = tf.function(replica_step, jit_compile=True)

    @tf.function
    def distributed_step(iterator, adversarial_stage, update_discriminator=True):
        batch = next(iterator)
        per_replica = strategy.run(replica_step, args=(batch, adversarial_stage,
                                                       update_discriminator))
        return {k: strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None)
                for k, v in per_replica.items()}

    return distributed_step
